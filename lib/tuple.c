/* lib/tuple.c: tuples, and the rule that untracks a tuple of untracked items. */
#include "builtins.h"
#include "error.h"
#include "freelist.h"
#include "gc_internal.h"
#include "threads/thread.h"

#include <stdarg.h>

static int tuple_traverse(weft_object *self, weft_visit_fn visit, void *arg)
{
    weft_tuple *t = (weft_tuple *)self;
    for (size_t i = 0; i < t->size; i++)
        if (t->items[i]) {
            int rc = visit(t->items[i], arg);
            if (rc)
                return rc;
        }
    return 0;
}

static void tuple_clear(weft_object *self)
{
    weft_tuple *t = (weft_tuple *)self;
    for (size_t i = 0; i < t->size; i++)
        weft_clearref(&t->items[i]);
}

/* An item's hash, or WEFT_HASH_ERROR with the item's error, or one naming
 * it if it recorded none (an error from before the call is no reason). */
static uint64_t item_hash(weft_object *item, size_t i)
{
    if (!item->type->hash) {
        _weft_set_error(WEFT_EINVAL, "unhashable type: %s (item %zu of a tuple)",
                        _weft_type_name(item), i);
        return WEFT_HASH_ERROR;
    }
    weft_error_saved before;
    _weft_error_set_aside(&before);
    uint64_t h = item->type->hash(item);
    if (h != WEFT_HASH_ERROR)
        _weft_error_restore(&before);
    else if (weft_error() == WEFT_OK)
        _weft_set_error(WEFT_EINVAL, "hash of item %zu of a tuple failed (%s hash)", i,
                        _weft_type_name(item));
    return h;
}

/* Combined from the items' hashes, so that equal tuples (tuple_eq) hash
 * alike: a tuple holding an unhashable item is unhashable (an identity hash
 * would give equal tuples different hashes). A slot not yet filled counts
 * as 0. */
static uint64_t tuple_hash(weft_object *self)
{
    weft_tuple *t = (weft_tuple *)self;
    uint64_t h = 0x345678ull ^ t->size;
    for (size_t i = 0; i < t->size; i++) {
        uint64_t ih = t->items[i] ? item_hash(t->items[i], i) : 0;
        if (ih == WEFT_HASH_ERROR)
            return WEFT_HASH_ERROR;
        h = (h ^ ih) * 0x100000001B3ull;
    }
    return _weft_hash_settle(h);
}

/* Items equal pairwise: the identical object, else by the first one's
 * type's eq (as a dict compares keys), so that equal tuples, which hash
 * alike, are one dict key. 1, 0, or -1 if an item's eq failed. */
static int tuple_eq(weft_object *self, weft_object *other)
{
    if (other->type != &weft_tuple_type)
        return 0;
    weft_tuple *a = (weft_tuple *)self, *b = (weft_tuple *)other;
    if (a->size != b->size)
        return 0;
    for (size_t i = 0; i < a->size; i++) {
        weft_object *x = a->items[i], *y = b->items[i];
        if (x == y)
            continue;
        if (!x || !y || !x->type->eq)
            return 0;
        int eq = x->type->eq(x, y);
        if (eq <= 0)
            return eq;
    }
    return 1;
}

const weft_type weft_tuple_type = {
    .name = "tuple",
    .basic_size = sizeof(weft_tuple),
    .item_size = sizeof(weft_object *),
    .flags = WEFT_TYPE_GC | WEFT_TYPE_VAR,
    .traverse = tuple_traverse,
    .clear = tuple_clear,
    .dealloc = tuple_clear,
    .hash = tuple_hash,
    .eq = tuple_eq,
};

/* A tuple of n items, its items left for the caller: NULL on overflow or
 * failure, with the error set. */
WEFT_INLINE weft_object *tuple_alloc(size_t n, bool zero_items, bool track)
{
    if (n > (SIZE_MAX - sizeof(weft_tuple)) / sizeof(weft_object *)) {
        _weft_set_error(WEFT_EOVERFLOW, "weft_tuple_new: %zu items overflow", n);
        return NULL;
    }
    size_t size = sizeof(weft_tuple) + n * sizeof(weft_object *);
    weft_object *o = n - 1 < WEFT_FREELIST_TUPLE_MAX
                         ? _weft_freelist_pop((unsigned)n, size, zero_items, track)
                         : NULL;
    if (!o)
        o = _weft_object_new_inline(&weft_tuple_type, size, zero_items, track);
    if (o)
        ((weft_tuple *)o)->size = n;
    return o;
}

weft_object *weft_tuple_new(size_t n)
{
    return tuple_alloc(n, true, true);
}

/* The untracking rule for one item: a tracked mortal item keeps its tuple
 * tracked. An immortal is never garbage, so no garbage cycle runs through
 * it; a tuple whose items are all immortal or untracked can be on none. */
static inline bool keeps_tuple_tracked(const weft_object *item)
{
    return !weft_is_immortal(item) && (weft_load_relaxed(&item->flags) & WEFT_OBJ_GC_TRACKED);
}

/* The general case of weft_tuple_pack, from item i on (*ap has the items
 * after it; the ones before it are all immortal or untracked). */
static __attribute__((noinline)) weft_object *tuple_pack_from(weft_object *o, size_t i,
                                                              weft_object *item, va_list *ap)
{
    weft_tuple *t = (weft_tuple *)o;
    bool tracked = false;
    for (;;) {
        if (!item) {
            for (size_t j = i; j < t->size; j++)
                t->items[j] = NULL;
            weft_decref(o);
            _weft_set_error(WEFT_EINVAL, "weft_tuple_pack: item %zu is NULL", i);
            return NULL;
        }
        tracked |= keeps_tuple_tracked(item);
        t->items[i] = weft_newref(item);
        if (++i == t->size)
            break;
        item = va_arg(*ap, weft_object *);
    }
    if (tracked) {
        /* No one else has seen the tuple: a plain update. */
        weft_store_relaxed(&o->flags, weft_load_relaxed(&o->flags) | WEFT_OBJ_GC_TRACKED);
        _weft_gc_young_count(1);
    }
    return o;
}

/* A tuple made whole at once is born tracked or not: the untracking rule is
 * applied before anyone can see it, without an atomic or a count
 * (keeps_tuple_tracked). Inline, the items that are immortal
 * or ours and untracked (weft_incref's plain cases); from the first other
 * item on (a NULL item too), the general case. Not _weft_incref_if_ours:
 * packed items are mostly small ints, so the immortal test comes first here
 * (with that helper, a 2-tuple of small ints made and freed took 212.6
 * instructions instead of 201.6, callgrind). */
weft_object *weft_tuple_pack(size_t n, ...)
{
    weft_object *o = tuple_alloc(n, false, false);
    if (!o)
        return NULL;
    weft_tuple *t = (weft_tuple *)o;
    uint32_t me = _weft_tls_index;
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++) {
        weft_object *item = va_arg(ap, weft_object *);
        uint32_t local;
        if (!item)
            goto general;
        local = weft_load_relaxed(&item->ref_local);
        if (local != WEFT_IMMORTAL_LOCAL) {
            if ((weft_load_relaxed(&item->flags) & WEFT_OBJ_GC_TRACKED) ||
                local + 1 == WEFT_IMMORTAL_LOCAL || weft_load_relaxed(&item->owner) != me)
                goto general;
            weft_store_relaxed(&item->ref_local, local + 1);
        }
        t->items[i] = item;
        continue;
    general:
        o = tuple_pack_from(o, i, item, &ap);
        break;
    }
    va_end(ap);
    return o;
}

int weft_is_tuple(const weft_object *o)
{
    return o && o->type == &weft_tuple_type;
}

static bool check_tuple(const weft_object *o, const char *fn)
{
    if (WEFT_LIKELY(weft_is_tuple(o)))
        return true;
    _weft_set_error(WEFT_EINVAL, "%s: not a tuple (%s)", fn, o ? _weft_type_name(o) : "NULL");
    return false;
}

size_t weft_tuple_size(const weft_object *o)
{
    if (!check_tuple(o, "weft_tuple_size"))
        return 0;
    return ((const weft_tuple *)o)->size;
}

weft_object *weft_tuple_get(const weft_object *o, size_t i)
{
    if (!check_tuple(o, "weft_tuple_get"))
        return NULL;
    const weft_tuple *t = (const weft_tuple *)o;
    if (i >= t->size) {
        _weft_set_error(WEFT_EINVAL, "tuple index %zu out of range (size %zu)", i, t->size);
        return NULL;
    }
    return t->items[i];
}

int weft_tuple_set_new(weft_object *o, size_t i, weft_object *item)
{
    if (!check_tuple(o, "weft_tuple_set_new")) {
        weft_xdecref(item);
        return -1;
    }
    weft_tuple *t = (weft_tuple *)o;
    if (i >= t->size) {
        weft_xdecref(item);
        _weft_set_error(WEFT_EINVAL, "tuple index %zu out of range (size %zu)", i, t->size);
        return -1;
    }
    weft_setref(&t->items[i], item);
    return 0;
}

void weft_tuple_maybe_untrack(weft_object *o)
{
    if (!check_tuple(o, "weft_tuple_maybe_untrack"))
        return;
    weft_tuple *t = (weft_tuple *)o;
    for (size_t i = 0; i < t->size; i++) {
        weft_object *item = t->items[i];
        if (!item || keeps_tuple_tracked(item))
            return;
    }
    weft_gc_untrack(o); /* the one untrack of a live object (it leaves the frozen set too) */
}
