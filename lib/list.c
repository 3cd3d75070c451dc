/* lib/list.c: lists that threads can share (weft/list.h, docs/containers.md).
 *
 * Layout: the 32-byte list object points to a store {capacity, size,
 * items[]}; a list that never held an item has no store, so a million empty
 * lists take a million 32-byte blocks. The size lives in the store so that a
 * reader's one acquire load of the store pointer gives a size and items that
 * belong together.
 *
 * Writers hold the list's lock (objlock.h). They publish with release stores
 * in an order that keeps every optimistic reader safe:
 *   - an item is stored in its slot before the size that makes it visible;
 *   - a new store is filled before it is published; the old one is freed
 *     only after a QSBR grace period (weft_defer_free), unless no other
 *     thread can be reading it (retire_store);
 *   - an item removed from a slot is released only after the slot changed
 *     and the lock is dropped.
 * Readers (get, next, len) that are not the owner note themselves
 * (_weft_object_note_reader) before they load the store pointer. Then they
 * load store, bounds and item, take the item with
 * weft_try_incref, then check that the slot and store still hold it; on any
 * doubt they retry under the lock. That try-incref may touch an object that
 * was just freed, which object pools allow (pool.h, "Pool kinds").
 */
#include "builtins.h"
#include "domain.h"
#include "error.h"
#include "objlock.h"
#include "object_internal.h"
#include "threads/countbuf.h"
#include "threads/stw.h"

#include <string.h>

_Static_assert(sizeof(weft_list) == 32, "a list object fits a 32-byte block");

#define LIST(o) ((weft_list *)(o))

static list_store *store_of(weft_list *l)
{
    return weft_load_relaxed(&l->store);
}

/* Writers (lock held) and the world-stopped collector. */
static size_t size_of(weft_list *l)
{
    list_store *s = store_of(l);
    return s ? weft_load_relaxed(&s->size) : 0;
}

/* Lock held and a store present (reserve_locked made one). */
static void set_size(weft_list *l, size_t n)
{
    weft_store_release(&store_of(l)->size, n);
}

static weft_object *slot_get(list_store *s, size_t i)
{
    return weft_load_relaxed(&s->items[i]);
}

static void slot_set(list_store *s, size_t i, weft_object *o)
{
    weft_store_release(&s->items[i], o);
}

/* Lock-free reads are safe only while objects live in weft's object pools
 * (not when the obj domain is hooked, e.g. WEFT_MALLOC=malloc). */
static inline bool optimistic_reads(void)
{
    /* Any hook at all sends readers to the lock: one load, no call. */
    return !(weft_load_relaxed(&_weft_alloc_flags) & WEFT_AF_HOOKED);
}

/* ---------------------------------------------------------------- storage */

static list_store *store_new(size_t capacity)
{
    list_store *s = weft_mem_malloc(sizeof(list_store) + capacity * sizeof(s->items[0]));
    if (s) {
        s->capacity = capacity;
        weft_store_relaxed(&s->size, 0);
    }
    return s;
}

/* A store the lock holder just unpublished: freed at once if no other
 * thread can be reading it, else after a grace period. */
static void retire_store(list_store *s, bool private)
{
    if (private)
        weft_mem_free(s);
    else
        weft_defer_free(s);
}

/* Make room for `need` items; lock held. */
static int reserve_locked(weft_list *l, size_t need)
{
    list_store *old = store_of(l);
    size_t cap = old ? old->capacity : 0;
    if (need <= cap)
        return 0;
    size_t grown = cap < 4 ? 4 : cap + (cap >> 1) + 4; /* amortised O(1) append */
    if (grown < need)
        grown = need;
    if (grown > (SIZE_MAX - sizeof(list_store)) / sizeof(weft_object *)) {
        _weft_set_error(WEFT_EOVERFLOW, "list of %zu items is too large", need);
        return -1;
    }
    list_store *s = store_new(grown);
    if (!s)
        return -1;
    size_t n = size_of(l);
    /* Plain copies: s is not published yet, and the items of old are only
     * read (the lock keeps writers out). The slots past n stay unwritten:
     * a slot is stored before the size that covers it, so no reader of s
     * reads one before it is written. */
    if (n)
        memcpy((void *)s->items, (const void *)old->items, n * sizeof(s->items[0]));
    weft_store_relaxed(&s->size, n);
    weft_store_release(&l->store, s);
    if (old)
        retire_store(old, _weft_object_storage_private(&l->ob));
    return 0;
}

/* ---------------------------------------------------------------- the type */

static int list_traverse(weft_object *self, weft_visit_fn visit, void *arg)
{
    /* Every traverse runs with the world stopped (the collector's, and
     * weft_gc_get_referents's); one load of the store all the same. */
    list_store *s = weft_load_acquire(&LIST(self)->store);
    size_t n = s ? weft_load_acquire(&s->size) : 0;
    for (size_t i = 0; i < n; i++) {
        weft_object *item = weft_load_acquire(&s->items[i]);
        if (item) {
            int rc = visit(item, arg);
            if (rc)
                return rc;
        }
    }
    return 0;
}

static void list_dealloc(weft_object *self)
{
    /* Nobody else holds a reference: no lock, no grace period needed for
     * the store (a reader needs a reference to the list to read it). */
    weft_list *l = LIST(self);
    list_store *s = store_of(l);
    size_t n = size_of(l);
    weft_store_relaxed(&l->store, NULL);
    for (size_t i = 0; i < n; i++) {
        weft_xdecref(slot_get(s, i));
        _weft_poll_stop_every(i);
    }
    weft_mem_free(s);
}

const weft_type weft_list_type = {
    .name = "list",
    .basic_size = sizeof(weft_list),
    .flags = WEFT_TYPE_GC,
    .traverse = list_traverse,
    .clear = weft_list_clear,
    .dealloc = list_dealloc,
};

int weft_is_list(const weft_object *o)
{
    return o && o->type == &weft_list_type;
}

static inline bool check_list(weft_object *o, const char *fn)
{
    if (WEFT_LIKELY(o && o->type == &weft_list_type))
        return true;
    _weft_set_error(WEFT_EINVAL, "%s: not a list (%s)", fn, o ? o->type->name : "NULL");
    return false;
}

weft_object *weft_list_new(size_t capacity_hint)
{
    weft_object *o = weft_new(&weft_list_type);
    if (o)
        _weft_object_lock_init(o);
    if (o && capacity_hint && reserve_locked(LIST(o), capacity_hint) != 0) {
        weft_decref(o);
        return NULL;
    }
    return o;
}

size_t weft_list_len(weft_object *o)
{
    if (!check_list(o, "weft_list_len"))
        return 0;
    _weft_object_note_reader(o);
    list_store *s = weft_load_acquire(&LIST(o)->store);
    return s ? weft_load_acquire(&s->size) : 0;
}

static bool check_item(weft_object *item, const char *fn)
{
    if (item)
        return true;
    _weft_set_error(WEFT_EINVAL, "%s: NULL item", fn);
    return false;
}

int weft_list_insert(weft_object *o, size_t i, weft_object *item)
{
    if (!check_list(o, "weft_list_insert") || !check_item(item, "weft_list_insert"))
        return -1;
    weft_list *l = LIST(o);
    _weft_object_mark_shareable(item);
    _weft_object_lock(o);
    size_t n = size_of(l);
    if (i > n) {
        _weft_object_unlock(o);
        _weft_set_error(WEFT_EINVAL, "weft_list_insert: index %zu out of range (len %zu)", i, n);
        return -1;
    }
    if (reserve_locked(l, n + 1) != 0) {
        _weft_object_unlock(o);
        return -1;
    }
    list_store *s = store_of(l);
    for (size_t k = n; k > i; k--)
        slot_set(s, k, slot_get(s, k - 1));
    slot_set(s, i, weft_newref(item));
    set_size(l, n + 1);
    _weft_object_unlock(o);
    return 0;
}

static __attribute__((noinline)) int append_general(weft_object *o, weft_object *item)
{
    if (!check_list(o, "weft_list_append") || !check_item(item, "weft_list_append"))
        return -1;
    weft_list *l = LIST(o);
    _weft_object_mark_shareable(item);
    _weft_object_lock(o);
    list_store *s = store_of(l);
    size_t n = s ? weft_load_relaxed(&s->size) : 0;
    if (WEFT_UNLIKELY(!s || n == s->capacity)) {
        if (reserve_locked(l, n + 1) != 0) {
            _weft_object_unlock(o);
            return -1;
        }
        s = store_of(l);
    }
    slot_set(s, n, weft_newref(item));
    weft_store_release(&s->size, n + 1);
    _weft_object_unlock(o);
    return 0;
}

/* The owner's append to its own list (biased lock, objlock.h) with room to
 * spare, of an item marked shareable before that is immortal or its own too
 * (_weft_incref_if_ours): no call, so no frame. Anything else (another
 * thread, a full store, another thread's or a first-time item, bad
 * arguments) is the general path, a tail call, which starts again. */
int weft_list_append(weft_object *o, weft_object *item)
{
    weft_thread *t = _weft_tls_thread;
    if (WEFT_LIKELY(o && item && t && o->type == &weft_list_type &&
                    (weft_load_relaxed(&item->ref_shared) & 3) != WEFT_SHARED_NORMAL &&
                    _weft_object_lock_biased(t, o))) {
        list_store *s = store_of(LIST(o));
        size_t n = s ? weft_load_relaxed(&s->size) : 0;
        if (WEFT_LIKELY(s && n < s->capacity && _weft_incref_if_ours(item))) {
            slot_set(s, n, item);
            weft_store_release(&s->size, n + 1);
            _weft_object_unlock_biased(t);
            return 0;
        }
        _weft_object_unlock_biased(t);
    }
    return append_general(o, item);
}

static weft_object *get_locked_path(weft_list *l, size_t i, bool report)
{
    _weft_object_lock(&l->ob);
    size_t n = size_of(l);
    weft_object *item = i < n ? weft_newref(slot_get(store_of(l), i)) : NULL;
    _weft_object_unlock(&l->ob);
    if (!item && report)
        _weft_set_error(WEFT_EINVAL, "list index %zu out of range (len %zu)", i, n);
    return item;
}

/* The optimistic read of item i < n of store s; NULL if it must be redone
 * under the lock. */
static weft_object *get_optimistic(weft_list *l, list_store *s, size_t i)
{
    weft_object *item = weft_load_acquire(&s->items[i]);
    if (!item || !_weft_try_incref_item(item, &l->ob))
        return NULL;
    if (weft_load_acquire(&s->items[i]) != item || weft_load_acquire(&l->store) != s) {
        weft_decref(item);
        return NULL;
    }
    return item;
}

/* May the calling thread read o's items inline (get_item)? Not with a
 * hooked allocator (optimistic_reads). Else another thread, once noted as a
 * reader (_weft_object_reader_noted, one flags load for both tests); the
 * owner, unless other threads read o's items too: then its reads of them
 * count as shared reads (_weft_try_incref_item), which the inline path, to
 * stay short, does not do. The owner tests both its exclusions at once, the
 * hook bit being one no object flag uses. */
static inline bool inline_reader(weft_object *o)
{
    _Static_assert(!(WEFT_AF_HOOKED &
                     (WEFT_OBJ_FINALIZED | WEFT_OBJ_WEAKREFS | WEFT_OBJ_GC_TRACKED |
                      WEFT_OBJ_FROZEN | WEFT_OBJ_GC_REGISTERED | WEFT_OBJ_POOLED |
                      WEFT_OBJ_READ_SHARED | WEFT_OBJ_COUNTS_BUFFERED |
                      WEFT_OBJ_ITEMS_READ_SHARED | WEFT_OBJ_FOREIGN_READER |
                      WEFT_OBJ_LOCK_BIASED | WEFT_OBJ_LOCK_REVOKING | WEFT_OBJ_LOCKED |
                      WEFT_OBJ_LOCK_WAITERS)),
                   "the hook bit shares a word with object flags in one test");
    uint32_t flags = weft_load_acquire(&o->flags);
    uint32_t alloc_flags = weft_load_relaxed(&_weft_alloc_flags);
    if (WEFT_LIKELY(weft_load_relaxed(&o->owner) == _weft_tls_index))
        return !((flags | alloc_flags) & (WEFT_OBJ_ITEMS_READ_SHARED | WEFT_AF_HOOKED));
    return (flags & WEFT_OBJ_FOREIGN_READER) && !(alloc_flags & WEFT_AF_HOOKED);
}

/* Optimistic reads before the lock: a store replaced under the reader is
 * the usual doubt, and the next look settles it, while another thread's lock
 * costs the owner its biased lock for good. */
#define OPTIMISTIC_TRIES 3

static __attribute__((noinline)) weft_object *get_item_general(weft_list *l, size_t i,
                                                                bool report)
{
    _weft_object_note_reader(&l->ob);
    for (int tries = optimistic_reads() ? OPTIMISTIC_TRIES : 0;; tries--) {
        list_store *s = weft_load_acquire(&l->store);
        size_t n = s ? weft_load_acquire(&s->size) : 0;
        if (i >= n) { /* the end of an iteration, too: no lock */
            if (report)
                _weft_set_error(WEFT_EINVAL, "list index %zu out of range (len %zu)", i, n);
            return NULL;
        }
        weft_object *item = tries > 0 ? get_optimistic(l, s, i) : NULL;
        if (item)
            return item;
        if (tries <= 0)
            return get_locked_path(l, i, report);
    }
}

/* Item i, new reference. Inline, an immortal item or one the calling
 * thread owns (_weft_incref_if_ours), taken without reading the slot again.
 * Sound because only an object's owner frees it: other threads' releases
 * queue it to the owner, whose merge runs at one of its safepoints, and no
 * collection runs while it is between two. The item was the list's, so
 * alive, when its slot was read (a store another thread replaced since then
 * is not freed before this thread's next quiescent state, the reader being
 * noted, and held references when it was replaced), so it is alive until
 * this thread's next safepoint. Everything else (a reader not yet noted,
 * the owner of a list whose items other threads read, an index out of
 * range, another thread's item, hooks) is the general path, a tail call:
 * the inline path needs no frame. The hook test comes before the item is
 * touched: with a hooked allocator another thread's item may be freed under
 * the reader. */
static inline weft_object *get_item(weft_list *l, size_t i, bool report)
{
    list_store *s;
    if (WEFT_LIKELY(inline_reader(&l->ob) && (s = weft_load_acquire(&l->store)) &&
                    i < weft_load_acquire(&s->size))) {
        weft_object *item = weft_load_acquire(&s->items[i]);
        if (item && _weft_incref_if_ours(item))
            return item;
    }
    return get_item_general(l, i, report);
}

weft_object *weft_list_get(weft_object *o, size_t i)
{
    if (!check_list(o, "weft_list_get"))
        return NULL;
    return get_item(LIST(o), i, true);
}

weft_object *weft_list_next(weft_object *o, size_t *pos)
{
    if (!check_list(o, "weft_list_next"))
        return NULL;
    if (!pos) {
        _weft_set_error(WEFT_EINVAL, "weft_list_next: NULL position");
        return NULL;
    }
    weft_object *item = get_item(LIST(o), *pos, false);
    if (item)
        (*pos)++;
    return item;
}

int weft_list_set(weft_object *o, size_t i, weft_object *item)
{
    if (!check_list(o, "weft_list_set") || !check_item(item, "weft_list_set"))
        return -1;
    weft_list *l = LIST(o);
    _weft_object_mark_shareable(item);
    _weft_object_lock(o);
    size_t n = size_of(l);
    if (i >= n) {
        _weft_object_unlock(o);
        _weft_set_error(WEFT_EINVAL, "weft_list_set: index %zu out of range (len %zu)", i, n);
        return -1;
    }
    list_store *s = store_of(l);
    weft_object *old = slot_get(s, i);
    slot_set(s, i, weft_newref(item));
    _weft_object_unlock(o);
    weft_xdecref(old);
    return 0;
}

weft_object *weft_list_pop(weft_object *o, size_t i)
{
    if (!check_list(o, "weft_list_pop"))
        return NULL;
    weft_list *l = LIST(o);
    _weft_object_lock(o);
    size_t n = size_of(l);
    if (i >= n) {
        _weft_object_unlock(o);
        _weft_set_error(WEFT_EINVAL, "weft_list_pop: index %zu out of range (len %zu)", i, n);
        return NULL;
    }
    list_store *s = store_of(l);
    weft_object *item = slot_get(s, i);
    for (size_t k = i; k + 1 < n; k++)
        slot_set(s, k, slot_get(s, k + 1));
    slot_set(s, n - 1, NULL);
    weft_store_release(&s->size, n - 1);
    _weft_object_unlock(o);
    return item;
}

void weft_list_clear(weft_object *o)
{
    if (!check_list(o, "weft_list_clear"))
        return;
    weft_list *l = LIST(o);
    _weft_object_lock(o);
    list_store *s = store_of(l);
    size_t n = size_of(l);
    weft_store_release(&l->store, NULL);
    bool private = s && _weft_object_storage_private(o);
    _weft_object_unlock(o);
    for (size_t i = 0; i < n; i++) {
        weft_xdecref(slot_get(s, i));
        _weft_poll_stop_every(i);
    }
    if (s)
        retire_store(s, private);
}

weft_object *weft_list_slice(weft_object *o, size_t start, size_t stop)
{
    if (!check_list(o, "weft_list_slice"))
        return NULL;
    weft_list *l = LIST(o);
    weft_object *copy = weft_list_new(0);
    if (!copy)
        return NULL;
    _weft_object_lock(o);
    size_t n = size_of(l);
    if (stop > n)
        stop = n;
    if (start > stop)
        start = stop;
    if (reserve_locked(LIST(copy), stop - start) != 0) {
        _weft_object_unlock(o);
        weft_decref(copy);
        return NULL;
    }
    list_store *from = store_of(l), *to = store_of(LIST(copy));
    for (size_t i = start; i < stop; i++)
        slot_set(to, i - start, weft_newref(slot_get(from, i)));
    if (stop > start)
        set_size(LIST(copy), stop - start);
    _weft_object_unlock(o);
    return copy;
}
