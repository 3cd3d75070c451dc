/* lib/freelist.h: per-thread freelists of dead built-in objects.
 *
 * The ints and small tuples a thread frees are kept, up to WEFT_FREELIST_CAP
 * per list, on lists in its own record, and its next creations of the same
 * kind revive them (CPython keeps tuples and floats the same way). A revival
 * writes the header and the body and touches no pool, heap or counter of the
 * allocator; listing one at its death gives nothing back either. Any thread
 * may list an object that dies on it: the block stays handed out in its pool,
 * whoever owns that, until a flush frees it the ordinary way.
 *
 * A listed object is dead to everyone else: its ref_shared is
 * WEFT_SHARED_DEAD and its flags only WEFT_OBJ_POOLED, so the collector's walk
 * skips it and a stray decref is reported as a decref of a freed object; in
 * AddressSanitizer builds its body is poisoned, as a free block's is. Its link
 * is the first word of the body. Listing and revival touch no counter: the
 * live-object count subtracts the lists' lengths (thread.c); heap statistics
 * count a listed block as in use. Lists are flushed when the thread detaches and
 * by weft_heap_trim. Nothing is listed or revived while an allocator hook or
 * tracing is on: every allocation must then reach them.
 */
#ifndef WEFT_LIB_FREELIST_H
#define WEFT_LIB_FREELIST_H

#include "builtins.h"
#include "object_new.h"

#define WEFT_FREELIST_INT 0       /* list 0: ints */
#define WEFT_FREELIST_TUPLE_MAX 8 /* list n, 1 <= n <= 8: tuples of n items */
#define WEFT_FREELIST_CAP 64      /* objects per list */

_Static_assert(WEFT_FREELIST_TUPLE_MAX + 1 == WEFT_FREELISTS, "one list per kind");

WEFT_INLINE size_t _weft_freelist_block_size(const weft_object *o)
{
    return _weft_class_block_size(_weft_pool_of(o)->cls);
}

/* The list of a thread for tuples of n items, or NULL. */
WEFT_INLINE weft_freelist *_weft_freelist_of_tuple(weft_thread *t, size_t n)
{
    return n - 1 < WEFT_FREELIST_TUPLE_MAX ? &t->freelists[n] : NULL;
}

/* The list an object of this kind goes to at its death, or NULL. */
WEFT_INLINE weft_freelist *_weft_freelist_of(weft_thread *t, const weft_object *o)
{
    const weft_type *type = o->type;
    if (type == &weft_int_type)
        return &t->freelists[WEFT_FREELIST_INT];
    if (type == &weft_tuple_type)
        return _weft_freelist_of_tuple(t, ((const weft_tuple *)o)->size);
    return NULL;
}

/* At death, after the type's dealloc: list o, dying with these flags, on
 * fl (NULL: o's kind has no list) if it may be. False: the caller frees it. */
WEFT_INLINE bool _weft_freelist_push_on(weft_freelist *fl, weft_object *o, uint32_t flags)
{
    if (!fl || flags != WEFT_OBJ_POOLED || weft_load_relaxed(&_weft_alloc_flags) != 0)
        return false;
    unsigned n = weft_load_relaxed(&fl->xn);
    if (n >= WEFT_FREELIST_CAP)
        return false;
    weft_store_relaxed(&o->ref_shared, WEFT_SHARED_DEAD);
    _weft_block_poison_free(o, _weft_freelist_block_size(o), WEFT_KIND_OBJ);
    _weft_block_set_next((weft_block *)o, (weft_block *)fl->head, WEFT_LINK_OFFSET(WEFT_KIND_OBJ));
    fl->head = o;
    weft_store_relaxed(&fl->xn, n + 1);
    return true;
}

/* The same for an object of any kind, dying on thread t. */
WEFT_INLINE bool _weft_freelist_push(weft_thread *t, weft_object *o, uint32_t flags)
{
    return _weft_freelist_push_on(_weft_freelist_of(t, o), o, flags);
}

/* o, the first object of list fl, taken off it, its body unpoisoned. */
WEFT_INLINE weft_object *_weft_freelist_take(weft_freelist *fl, weft_object *o)
{
    _weft_block_unpoison(o, _weft_freelist_block_size(o));
    fl->head = (weft_object *)*_weft_block_link((weft_block *)o, WEFT_LINK_OFFSET(WEFT_KIND_OBJ));
    weft_store_relaxed(&fl->xn, weft_load_relaxed(&fl->xn) - 1);
    return o;
}

/* A listed object of list `index` revived as a new object of the list's
 * type (tracked if `track`), with one reference owned by the calling thread, its body
 * zeroed if `zero_body` (else the caller writes all of it, as for
 * _weft_object_new_inline). NULL if the list is empty or a creation's poll
 * is due: the caller's _weft_object_new_inline then takes its slow path. */
WEFT_INLINE weft_object *_weft_freelist_pop(unsigned index, size_t size, bool zero_body,
                                            bool track)
{
    weft_thread *t = _weft_tls_thread;
    if (WEFT_UNLIKELY(!t))
        return NULL;
    weft_freelist *fl = &t->freelists[index];
    weft_object *o = fl->head;
    unsigned polls;
    bool due = _weft_creation_poll_due(t, &polls);
    if (!o || due)
        return NULL;
    t->quiescent_countdown = polls;
    _weft_freelist_take(fl, o);
    /* Its type is the list's, and its flags are POOLED alone. */
    weft_store_relaxed(&o->owner, t->index);
    weft_store_relaxed(&o->ref_local, 1);
    weft_store_relaxed(&o->ref_shared, 0);
    if (track)
        weft_store_relaxed(&o->flags, WEFT_OBJ_POOLED | WEFT_OBJ_GC_TRACKED);
    if (zero_body)
        _weft_object_zero_body(o, size);
    if (track)
        _weft_gc_young_count_on(t, 1);
    return o;
}

#endif
