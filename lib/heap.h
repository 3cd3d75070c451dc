/* lib/heap.h: a thread's allocation cache and the fast paths of alloc and free.
 *
 * A heap belongs to one thread at a time (the thread whose `_weft_tls_heap`
 * points to it). Everything in it but `xpending` and the statistics counters is
 * touched only by that thread; the counters are written by it alone (relaxed
 * load and store) and read by statistics. Heaps are never freed: a thread that
 * exits abandons its pools and leaves its heap idle for the next thread.
 */
#ifndef WEFT_LIB_HEAP_H
#define WEFT_LIB_HEAP_H

#include "arena.h"

#define WEFT_HEAP_POOL_CACHE 16 /* empty MEM pools a heap keeps for any class */
/* Empty pools a heap keeps in their class (per kind): a program that frees a
 * batch and allocates the same sizes again reuses them without touching the
 * shared arenas or the global counters. 64 pools: 1 MiB per kind and thread. */
#define WEFT_HEAP_EMPTY_KEEP 64

typedef struct weft_pool_list {
    weft_pool *head;
} weft_pool_list;

typedef struct weft_heap {
    /* The current pool of each kind and class; never NULL (an empty sentinel
     * pool stands in), so the fast path has a single test. */
    weft_pool *current[WEFT_KINDS][WEFT_NCLASSES + 1];
    weft_pool_list partial[WEFT_KINDS][WEFT_NCLASSES + 1];
    weft_pool_list full[WEFT_KINDS][WEFT_NCLASSES + 1];
    weft_pool *cache; /* empty MEM pools kept for reuse, linked by `next` */
    unsigned ncached;
    /* One empty OBJ pool per class kept for reuse by the same class (safe
     * without a grace period: block boundaries do not move). */
    weft_pool *obj_spare[WEFT_NCLASSES + 1];
    unsigned empty_kept[WEFT_KINDS]; /* pools with kept_empty set */
    /* OBJ pools this heap made young (gc_age 0) since the last collection:
     * pushed by the owner on its allocation slow path, read and reset by the
     * collector with the world stopped. Entries may be stale or repeated (a
     * pool may have moved on); the collector checks each. */
    weft_pool **young;
    size_t nyoung, cap_young;

    /* Pools moved FULL->PENDING by remote freers (pool.h), pushed by them with
     * a release CAS, taken all at once by the owner with an acquire exchange. */
    WEFT_ATOMIC(weft_pool *) xpending WEFT_CACHE_ALIGNED;

    /* Statistics: written by the owner only, read by anyone. */
    WEFT_ATOMIC(uint64_t) xallocs[WEFT_NCLASSES + 1] WEFT_CACHE_ALIGNED;
    WEFT_ATOMIC(uint64_t) xfrees[WEFT_NCLASSES + 1];
    WEFT_ATOMIC(uint64_t) xrequested;

    /* Registry (heap.c): `all_next` is immutable once the heap is published;
     * `in_use` is protected by the registry lock. */
    struct weft_heap *all_next;
    bool in_use;
} weft_heap;

extern WEFT_TLS weft_heap *_weft_tls_heap;
/* The stand-in current pool: no free block, owned by no heap. */
extern WEFT_HIDDEN weft_pool _weft_empty_pool;

/* The calling thread's heap, claiming one if it has none. NULL on ENOMEM. */
weft_heap *_weft_heap_get_slow(void);
void *_weft_heap_alloc_slow(weft_heap *h, unsigned kind, size_t size);
/* Local free into a pool that became empty or sat on the full list. */
void _weft_heap_free_local_slow(weft_heap *h, weft_pool *pool);
/* Free a block of a pool that h (possibly NULL) does not own. */
void _weft_heap_free_remote(weft_heap *h, weft_pool *pool, weft_block *b);
/* Between these, the calling thread's remote frees are gathered per pool
 * and returned a run at a time (at the latest by the outermost end). For a
 * bounded stretch of code that frees many objects of other threads. */
void _weft_heap_remote_batch_begin(void);
void _weft_heap_remote_batch_end(void);
/* Put a pool that a remote freer moved FULL->PENDING on its owner's stack. */
void _weft_heap_push_pending(weft_heap *h, weft_pool *pool);
/* Thread exit: abandon every pool and leave the heap idle. */
void _weft_heap_release(weft_heap *h);
/* Return the calling thread's cached and empty pools to the arenas. */
void _weft_heap_trim(weft_heap *h);
/* The collector, world stopped: every heap's young pools, then reset. */
void _weft_heap_take_young(void (*fn)(weft_pool *pool, void *arg), void *arg);
/* World stopped: keep a walked pool young, on its owner's list. */
void _weft_heap_relist_young(weft_pool *pool);
/* Visit every heap ever created (statistics); the registry lock is held. */
void _weft_heap_for_each(void (*fn)(weft_heap *h, void *arg), void *arg);

void *_weft_large_alloc(size_t size, bool zero);
void _weft_large_free(void *p);
void *_weft_large_realloc(void *p, size_t size);
size_t _weft_large_usable_size(const void *p);

WEFT_INLINE weft_heap *_weft_heap_get(void)
{
    weft_heap *h = _weft_tls_heap;
    return WEFT_LIKELY(h) ? h : _weft_heap_get_slow();
}

/* weft's own allocator, below the domain layer: the fast path of a small block
 * is a pop from the current pool's local free list. */
WEFT_INLINE void *_weft_heap_alloc_kind(unsigned kind, size_t size)
{
    weft_heap *h = _weft_tls_heap;
    if (WEFT_LIKELY(size <= WEFT_SMALL_MAX && h)) {
        unsigned cls = _weft_size_class(size);
        if (kind == WEFT_KIND_OBJ && cls < WEFT_OBJ_MIN_CLASS)
            cls = WEFT_OBJ_MIN_CLASS;
        weft_pool *pool = h->current[kind][cls];
        weft_block *b = pool->free;
        if (WEFT_LIKELY(b)) {
            _weft_block_unpoison(b, _weft_class_block_size(cls));
            pool->free = *_weft_block_link(b, WEFT_LINK_OFFSET(kind));
            pool->used++;
            weft_counter_add_owner(&h->xallocs[cls], 1);
            weft_counter_add_owner(&h->xrequested, size);
            return b;
        }
    }
    return _weft_heap_alloc_slow(h, kind, size);
}

WEFT_INLINE void *_weft_heap_alloc(size_t size)
{
    return _weft_heap_alloc_kind(WEFT_KIND_MEM, size);
}

WEFT_INLINE void *_weft_heap_alloc_obj(size_t size)
{
    return _weft_heap_alloc_kind(WEFT_KIND_OBJ, size);
}

/* Free a block of the pools (the caller knows it is one) of a pool kind,
 * which a caller that knows it passes as a constant. A thread with no heap
 * (it never allocated) frees everything remotely. */
WEFT_INLINE void _weft_heap_free_small_kind(void *ptr, unsigned kind)
{
    weft_pool *pool = _weft_pool_of(ptr);
    weft_block *b = ptr;
    weft_heap *h = _weft_tls_heap;
    if (WEFT_LIKELY(weft_load_relaxed(_weft_block_owner(ptr)) == h && h)) {
        *_weft_block_link(b, WEFT_LINK_OFFSET(kind)) = pool->free;
        _weft_block_poison_free(b, _weft_class_block_size(pool->cls), kind);
        pool->free = b;
        weft_counter_add_owner(&h->xfrees[pool->cls], 1);
        pool->used--;
        /* The current pool needs nothing when it empties; others may leave
         * service (empty) or the full list (a block came back). */
        if (WEFT_UNLIKELY(pool->list != WEFT_LIST_CURRENT) &&
            (pool->used == 0 || pool->list == WEFT_LIST_FULL))
            _weft_heap_free_local_slow(h, pool);
        return;
    }
    _weft_heap_free_remote(h, pool, b);
}

WEFT_INLINE void _weft_heap_free(void *ptr)
{
    if (WEFT_UNLIKELY(!_weft_arena_map_contains(ptr))) {
        if (ptr)
            _weft_large_free(ptr);
        return;
    }
    _weft_heap_free_small_kind(ptr, _weft_pool_of(ptr)->kind);
}

WEFT_INLINE size_t _weft_heap_usable_size(const void *ptr)
{
    if (_weft_arena_map_contains(ptr))
        return _weft_class_block_size(_weft_pool_of(ptr)->cls);
    return ptr ? _weft_large_usable_size(ptr) : 0;
}

#endif
