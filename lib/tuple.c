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

static uint64_t tuple_hash(weft_object *self)
{
    weft_tuple *t = (weft_tuple *)self;
    uint64_t h = 0x345678ull ^ t->size;
    for (size_t i = 0; i < t->size; i++) {
        weft_object *item = t->items[i];
        uint64_t ih = item && item->type->hash ? item->type->hash(item) : (uint64_t)(uintptr_t)item;
        h = (h ^ ih) * 0x100000001B3ull;
    }
    return h ? h : 1;
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

/* A new tuple's items, from `from` on, stored but not yet referenced, take
 * their references (tracked: whether an item before `from` is tracked): the
 * general case of tuple_reference_items. */
static __attribute__((noinline)) weft_object *tuple_reference_items_from(weft_object *o,
                                                                         size_t from,
                                                                         uint32_t tracked)
{
    weft_tuple *t = (weft_tuple *)o;
    for (size_t i = from; i < t->size; i++) {
        weft_object *item = t->items[i];
        if (!item) {
            for (size_t j = i; j < t->size; j++)
                t->items[j] = NULL;
            weft_decref(o);
            _weft_set_error(WEFT_EINVAL, "weft_tuple_pack: item %zu is NULL", i);
            return NULL;
        }
        tracked |= weft_load_relaxed(&item->flags);
        weft_incref(item);
    }
    if (tracked & WEFT_OBJ_GC_TRACKED) {
        /* No one else has seen the tuple: a plain update. */
        weft_store_relaxed(&o->flags, weft_load_relaxed(&o->flags) | WEFT_OBJ_GC_TRACKED);
        _weft_gc_young_count(1);
    }
    return o;
}

/* The items of new tuple o, stored but not yet referenced, take their
 * references, and o is tracked if one of them is: the untracking rule applied
 * before anyone can see the tuple, without an atomic or a count. Inline, the
 * items that are immortal or ours (weft_incref's plain cases); the others,
 * a NULL item or a tracked one go to the general case. */
WEFT_INLINE weft_object *tuple_reference_items(weft_object *o)
{
    weft_tuple *t = (weft_tuple *)o;
    size_t n = t->size;
    uint32_t me = _weft_tls_index;
    size_t i = 0;
    for (; i < n; i++) {
        weft_object *item = t->items[i];
        if (!item || (weft_load_relaxed(&item->flags) & WEFT_OBJ_GC_TRACKED))
            break;
        uint32_t local = weft_load_relaxed(&item->ref_local);
        if (local == WEFT_IMMORTAL_LOCAL)
            continue;
        if (local + 1 == WEFT_IMMORTAL_LOCAL || weft_load_relaxed(&item->owner) != me)
            break;
        weft_store_relaxed(&item->ref_local, local + 1);
    }
    return i == n ? o : tuple_reference_items_from(o, i, 0);
}

weft_object *weft_tuple_pack(size_t n, ...)
{
    weft_object *o = tuple_alloc(n, false, false);
    if (!o)
        return NULL;
    weft_tuple *t = (weft_tuple *)o;
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        t->items[i] = va_arg(ap, weft_object *);
    va_end(ap);
    return tuple_reference_items(o);
}

int weft_is_tuple(const weft_object *o)
{
    return o->type == &weft_tuple_type;
}

size_t weft_tuple_size(const weft_object *o)
{
    return ((const weft_tuple *)o)->size;
}

weft_object *weft_tuple_get(const weft_object *o, size_t i)
{
    const weft_tuple *t = (const weft_tuple *)o;
    if (i >= t->size) {
        _weft_set_error(WEFT_EINVAL, "tuple index %zu out of range (size %zu)", i, t->size);
        return NULL;
    }
    return t->items[i];
}

int weft_tuple_set_new(weft_object *o, size_t i, weft_object *item)
{
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
    weft_tuple *t = (weft_tuple *)o;
    for (size_t i = 0; i < t->size; i++) {
        weft_object *item = t->items[i];
        if (!item || (weft_load_relaxed(&item->flags) & WEFT_OBJ_GC_TRACKED))
            return;
    }
    if (atomic_fetch_and_explicit(&o->flags, ~WEFT_OBJ_GC_TRACKED, memory_order_relaxed) &
        WEFT_OBJ_GC_TRACKED)
        _weft_gc_young_count(-1);
}
