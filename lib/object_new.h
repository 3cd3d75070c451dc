/* lib/object_new.h: the inline fast path of object creation.
 *
 * weft_new and the built-in types' constructors (int, str, tuple) come here.
 * The fast path pops a block from the thread's current object pool and writes
 * the header; everything else (the polls a creation owes the runtime, hooks
 * and tracing, large objects, an empty pool, a thread that is not attached)
 * is the slow path, _weft_object_new_slow, which does it all in order.
 *
 * The polls: creating an object is a safepoint (a stop request is honoured
 * here, so a thread that only allocates reaches the stop in bounded time) and,
 * every WEFT_NEW_QUIESCENT_PERIOD creations, a QSBR quiescent state (which also
 * hands retired pools to RCU). The fast path runs only when neither is due,
 * so the slow path owes nothing when it takes over.
 */
#ifndef WEFT_LIB_OBJECT_NEW_H
#define WEFT_LIB_OBJECT_NEW_H

#include "domain.h"
#include "heap.h"
#include "object_internal.h"
#include "threads/thread.h"

#define WEFT_NEW_QUIESCENT_PERIOD 256

/* Everything a creation can need: polls, any allocator path, registration of
 * an object outside the pools. Zeroes the body. NULL with an error set. */
weft_object *_weft_object_new_slow(const weft_type *type, size_t size, bool track);

/* Is a creation's poll due on t (then the slow path does it)? *polls is the
 * countdown to store if not. */
WEFT_INLINE bool _weft_creation_poll_due(const weft_thread *t, unsigned *polls)
{
    *polls = t->quiescent_countdown + 1;
    /* Branches, not a combined test: each is a compare and a jump, and
     * none is ever taken on the fast path. */
    return weft_load_relaxed(&t->xbreaker) || *polls >= WEFT_NEW_QUIESCENT_PERIOD ||
           weft_load_relaxed(&_weft_alloc_flags) != 0;
}

/* The header of a new object owned by t. The fields are stored one by one
 * (atomically): a lock-free reader may still be looking at the counts of the
 * object that used the block before (pool.h, "Pool kinds"). */
WEFT_INLINE void _weft_object_init_header(weft_object *o, const weft_thread *t,
                                          const weft_type *type, uint32_t flags)
{
    weft_store_relaxed(&o->owner, t->index);
    weft_store_relaxed(&o->ref_local, 1);
    weft_store_relaxed(&o->ref_shared, 0);
    weft_store_relaxed(&o->flags, flags);
    o->type = type;
}

/* A new object of a valid type (weft_new checked it) and `size` bytes, one
 * reference, owned by the calling thread; tracked by the collector if `track`
 * (a GC type only). With zero_body false the caller must write every byte
 * past the header before its next safepoint (the collector may look at a
 * tracked object's body from then on); the slow path zeroes anyway. */
WEFT_INLINE weft_object *_weft_object_new_inline(const weft_type *type, size_t size,
                                                 bool zero_body, bool track)
{
    weft_thread *t = _weft_tls_thread;
    weft_heap *h = _weft_tls_heap;
    if (WEFT_LIKELY(t && h && size <= WEFT_SMALL_MAX)) {
        unsigned polls;
        bool due = _weft_creation_poll_due(t, &polls);
        unsigned cls = _weft_size_class(size);
        if (cls < WEFT_OBJ_MIN_CLASS)
            cls = WEFT_OBJ_MIN_CLASS;
        weft_pool *pool = h->current[WEFT_KIND_OBJ][cls];
        weft_block *b = pool->free;
        if (WEFT_LIKELY(!due && b)) {
            t->quiescent_countdown = polls;
            _weft_block_unpoison(b, _weft_class_block_size(cls));
            pool->free = *_weft_block_link(b, WEFT_LINK_OFFSET(WEFT_KIND_OBJ));
            pool->used++;
            weft_counter_add_owner(&h->xallocs[cls], 1);
            weft_counter_add_owner(&h->xrequested, size);
            weft_object *o = (weft_object *)b;
            _weft_object_init_header(o, t, type,
                                     WEFT_OBJ_POOLED | (track ? WEFT_OBJ_GC_TRACKED : 0));
            if (zero_body)
                _weft_object_zero_body(o, size);
            weft_counter_add_owner(&t->xcreated, 1);
            if (track)
                _weft_gc_young_count_on(t, 1);
            return o;
        }
    }
    return _weft_object_new_slow(type, size, track);
}

#endif
