/* lib/heap.c: per-thread heaps: claiming one, the allocation slow path, the
 * pending stack, and giving everything up when the thread exits.
 *
 * Registry: every heap ever made is on a singly linked list that only grows
 * (heaps are never freed, so statistics may walk it and remote freers may push
 * onto a heap's pending stack after its thread is gone). `in_use` says whether
 * a thread holds the heap. Both are under registry_lock.
 *
 * A thread gets a heap at its first allocation; a pthread key destructor gives
 * it back at thread exit. (Thread attach/detach reuse the same two calls.)
 */
#include "heap.h"
#include "threads/thread.h"
#include "error.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

WEFT_TLS weft_heap *_weft_tls_heap;
weft_pool _weft_empty_pool; /* free == NULL, no owner: never used for a block */

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static weft_heap *registry_head; /* registry lock */
static pthread_key_t heap_key;
static pthread_once_t heap_key_once = PTHREAD_ONCE_INIT;

static void heap_key_destructor(void *arg)
{
    weft_heap *h = arg;
    if (h && h == _weft_tls_heap)
        _weft_heap_release(h);
}

static void heap_key_create(void)
{
    if (pthread_key_create(&heap_key, heap_key_destructor) != 0)
        _weft_fatal("pthread_key_create failed for the thread heap key");
}

static void heap_reset(weft_heap *h)
{
    for (unsigned k = 0; k < WEFT_KINDS; k++)
        for (unsigned c = 0; c <= WEFT_NCLASSES; c++) {
            h->current[k][c] = &_weft_empty_pool;
            h->partial[k][c].head = NULL;
            h->full[k][c].head = NULL;
        }
    for (unsigned c = 0; c <= WEFT_NCLASSES; c++)
        h->obj_spare[c] = NULL;
    for (unsigned k = 0; k < WEFT_KINDS; k++)
        h->empty_kept[k] = 0;
    h->cache = NULL;
    h->ncached = 0;
}

static weft_heap *heap_claim(void)
{
    pthread_once(&heap_key_once, heap_key_create);
    pthread_mutex_lock(&registry_lock);
    weft_heap *h = registry_head;
    while (h && h->in_use)
        h = h->all_next;
    if (!h) {
        /* System calloc: heaps are weft's own metadata, never a user block. */
        h = aligned_alloc(WEFT_CACHE_LINE, (sizeof *h + WEFT_CACHE_LINE - 1) &
                                               ~(size_t)(WEFT_CACHE_LINE - 1));
        if (!h) {
            pthread_mutex_unlock(&registry_lock);
            _weft_set_error(WEFT_ENOMEM, "out of memory: cannot allocate a thread heap");
            return NULL;
        }
        memset(h, 0, sizeof *h);
        h->all_next = registry_head;
        registry_head = h;
    }
    h->in_use = true;
    pthread_mutex_unlock(&registry_lock);
    heap_reset(h);
    _weft_tls_heap = h;
    pthread_setspecific(heap_key, h);
    return h;
}

weft_heap *_weft_heap_get_slow(void)
{
    return _weft_tls_heap ? _weft_tls_heap : heap_claim();
}

void _weft_heap_for_each(void (*fn)(weft_heap *h, void *arg), void *arg)
{
    pthread_mutex_lock(&registry_lock);
    for (weft_heap *h = registry_head; h; h = h->all_next)
        fn(h, arg);
    pthread_mutex_unlock(&registry_lock);
}

/* ---------------------------------------------------------------- pool lists */

static void list_push(weft_pool_list *l, weft_pool *pool, enum weft_pool_where which)
{
    pool->list = (uint8_t)which;
    pool->prev = NULL;
    pool->next = l->head;
    if (l->head)
        l->head->prev = pool;
    l->head = pool;
}

static void list_remove(weft_pool_list *l, weft_pool *pool)
{
    if (pool->prev)
        pool->prev->next = pool->next;
    else
        l->head = pool->next;
    if (pool->next)
        pool->next->prev = pool->prev;
    pool->next = pool->prev = NULL;
    pool->list = WEFT_LIST_NONE;
}

static void unlink_pool(weft_heap *h, weft_pool *pool)
{
    if (pool->kept_empty) {
        pool->kept_empty = 0;
        h->empty_kept[pool->kind]--;
    }
    switch (pool->list) {
    case WEFT_LIST_PARTIAL:
        list_remove(&h->partial[pool->kind][pool->cls], pool);
        break;
    case WEFT_LIST_FULL:
        list_remove(&h->full[pool->kind][pool->cls], pool);
        break;
    case WEFT_LIST_CURRENT:
        h->current[pool->kind][pool->cls] = &_weft_empty_pool;
        pool->list = WEFT_LIST_NONE;
        break;
    default:
        break;
    }
}

/* ---------------------------------------------------------------- empty pools */

/* An empty pool (used == 0, no remote block possible) leaves service. A MEM
 * pool goes into the heap's cache or back to its arena; an OBJ pool becomes
 * its class's spare or is retired for a grace period (pool.h). */
static void retire_empty_pool(weft_heap *h, weft_pool *pool)
{
    unlink_pool(h, pool);
    if (pool->kind == WEFT_KIND_OBJ) {
        if (!h->obj_spare[pool->cls]) {
            h->obj_spare[pool->cls] = pool;
            return;
        }
        _weft_pool_retire(pool);
        return;
    }
    if (h->ncached < WEFT_HEAP_POOL_CACHE) {
        _weft_pool_leave_class(pool);
        weft_store_relaxed(_weft_pool_owner(pool), NULL);
        pool->next = h->cache;
        h->cache = pool;
        h->ncached++;
        return;
    }
    _weft_pool_retire(pool);
}

static weft_pool *fresh_pool(weft_heap *h, unsigned kind, unsigned cls)
{
    weft_pool *pool;
    if (kind == WEFT_KIND_OBJ && (pool = h->obj_spare[cls]) != NULL) {
        /* Same class, same kind: re-initialised in place. Its class count
         * was never given up. */
        h->obj_spare[cls] = NULL;
        _weft_pool_leave_class(pool);
    } else if (kind == WEFT_KIND_MEM && (pool = h->cache) != NULL) {
        h->cache = pool->next;
        h->ncached--;
    } else {
        pool = _weft_arena_take_pool();
        if (!pool)
            return NULL;
    }
    _weft_pool_init(pool, kind, cls, h);
    return pool;
}

/* ---------------------------------------------------------------- pending pools */

void _weft_heap_push_pending(weft_heap *h, weft_pool *pool)
{
    weft_pool *head = weft_load_relaxed(&h->xpending);
    do {
        pool->pending_next = head;
    } while (!weft_cas_weak_release(&h->xpending, &head, pool));
}

/* Pools that remote freers found full come back as partial pools. */
static void process_pending(weft_heap *h)
{
    if (!weft_load_relaxed(&h->xpending))
        return;
    weft_pool *pool = weft_exchange_acquire(&h->xpending, NULL);
    while (pool) {
        weft_pool *next = pool->pending_next;
        _weft_pool_clear_pending(pool);
        WEFT_ASSERT(pool->list == WEFT_LIST_FULL);
        list_remove(&h->full[pool->kind][pool->cls], pool);
        list_push(&h->partial[pool->kind][pool->cls], pool, WEFT_LIST_PARTIAL);
        pool = next;
    }
}

/* ---------------------------------------------------------------- allocation slow path */

/* An OBJ pool that allocates again holds young objects: it joins the list the
 * next young collection walks. */
static void make_young(weft_heap *h, weft_pool *pool)
{
    if (weft_load_relaxed(&pool->gc_age) == 0)
        return;
    if (h->nyoung == h->cap_young) {
        size_t cap = h->cap_young ? h->cap_young * 2 : 64;
        weft_pool **grown = realloc(h->young, cap * sizeof *grown);
        if (!grown)
            return; /* stays old: a later full collection still sees it */
        h->young = grown;
        h->cap_young = cap;
    }
    h->young[h->nyoung++] = pool;
    weft_store_relaxed(&pool->gc_age, 0);
}

void _weft_heap_relist_young(weft_pool *pool)
{
    weft_heap *h = weft_load_relaxed(_weft_pool_owner(pool));
    weft_store_relaxed(&pool->gc_age, 1);
    if (h) /* else abandoned: treated as old until a heap adopts it */
        make_young(h, pool);
}

static void make_current(weft_heap *h, weft_pool *pool)
{
    if (pool->kind == WEFT_KIND_OBJ)
        make_young(h, pool);
    h->current[pool->kind][pool->cls] = pool;
    pool->list = WEFT_LIST_CURRENT;
}

/* The current pool has no local free block: refill it, or park it on the full
 * list. Returns true if it has a free block now. */
static bool refill_or_park_current(weft_heap *h, weft_pool *pool)
{
    for (;;) {
        if (_weft_pool_collect_remote(pool) || _weft_pool_extend(pool))
            return true;
        if (_weft_pool_try_mark_full(pool))
            break;
        /* A remote free arrived between the two: collect it. */
    }
    h->current[pool->kind][pool->cls] = &_weft_empty_pool;
    list_push(&h->full[pool->kind][pool->cls], pool, WEFT_LIST_FULL);
    return false;
}

/* Find a pool with a free block for a kind and class and make it current. */
static weft_pool *find_pool(weft_heap *h, unsigned kind, unsigned cls)
{
    weft_pool *pool = h->current[kind][cls];
    if (pool != &_weft_empty_pool && refill_or_park_current(h, pool))
        return pool;
    process_pending(h);
    while ((pool = h->partial[kind][cls].head) != NULL) {
        unlink_pool(h, pool);
        make_current(h, pool);
        if (pool->free || refill_or_park_current(h, pool))
            return pool;
    }
    /* An adopted pool may have every block live: then it is parked as full
     * and the next one is tried. */
    for (;;) {
        pool = _weft_pool_adopt(kind, cls, h);
        if (!pool)
            pool = fresh_pool(h, kind, cls);
        if (!pool)
            return NULL;
        make_current(h, pool);
        if (pool->free || refill_or_park_current(h, pool))
            return pool;
    }
}

void *_weft_heap_alloc_slow(weft_heap *h, unsigned kind, size_t size)
{
    if (size > WEFT_SMALL_MAX)
        return _weft_large_alloc(size, false);
    if (!h && !(h = heap_claim()))
        return NULL;
    unsigned cls = _weft_size_class(size);
    if (kind == WEFT_KIND_OBJ && cls < WEFT_OBJ_MIN_CLASS)
        cls = WEFT_OBJ_MIN_CLASS;
    weft_pool *pool = find_pool(h, kind, cls);
    if (!pool)
        return NULL;
    weft_block *b = pool->free;
    _weft_block_unpoison(b, _weft_class_block_size(cls));
    pool->free = *_weft_block_link(b, WEFT_LINK_OFFSET(kind));
    pool->used++;
    weft_counter_add_owner(&h->xallocs[cls], 1);
    weft_counter_add_owner(&h->xrequested, size);
    return b;
}

/* ---------------------------------------------------------------- free slow paths */

void _weft_heap_free_local_slow(weft_heap *h, weft_pool *pool)
{
    if (pool->used == 0) {
        /* Every block is back on the local list, so no remote free is in
         * flight and the tag is OWNED or FULL, never PENDING. */
        if (pool->list == WEFT_LIST_CURRENT)
            return; /* keep serving from it */
        if (pool->list == WEFT_LIST_FULL)
            _weft_pool_try_unmark_full(pool);
        if (h->empty_kept[pool->kind] >= WEFT_HEAP_EMPTY_KEEP) {
            retire_empty_pool(h, pool);
            return;
        }
        /* Keep it in its class, first in line for the next allocation. */
        unlink_pool(h, pool);
        list_push(&h->partial[pool->kind][pool->cls], pool, WEFT_LIST_PARTIAL);
        pool->kept_empty = 1;
        h->empty_kept[pool->kind]++;
        return;
    }
    /* A FULL pool got a block back: serve from it again, unless a remote freer
     * already made it PENDING (then it comes back through the pending stack). */
    if (_weft_pool_try_unmark_full(pool)) {
        unlink_pool(h, pool);
        list_push(&h->partial[pool->kind][pool->cls], pool, WEFT_LIST_PARTIAL);
    }
}

static WEFT_ATOMIC(uint64_t) orphan_frees[WEFT_NCLASSES + 1];

/* Remote frees gathered while a batch is open (the collector's release of
 * garbage, which mostly lies in a few pools of other threads): a run of
 * blocks of one pool goes back with one CAS instead of one each. The
 * blocks of an open batch count as handed out (pool.h's `used`), so no pool
 * of theirs can be released meanwhile; their headers are already dead. */
typedef struct remote_batch {
    unsigned depth;   /* open batches (they nest) */
    weft_pool *pool;  /* the pool of the chain, or NULL */
    weft_block *first, *last;
} remote_batch;

static WEFT_TLS remote_batch tls_remote_batch;

static void remote_batch_flush(remote_batch *rb)
{
    if (rb->pool)
        _weft_pool_free_remote_chain(rb->pool, rb->first, rb->last);
    rb->pool = NULL;
}

void _weft_heap_remote_batch_begin(void)
{
    tls_remote_batch.depth++;
}

void _weft_heap_remote_batch_end(void)
{
    remote_batch *rb = &tls_remote_batch;
    WEFT_ASSERT(rb->depth > 0);
    if (--rb->depth == 0)
        remote_batch_flush(rb);
}

void _weft_heap_free_remote(weft_heap *h, weft_pool *pool, weft_block *b)
{
    if (h)
        weft_counter_add_owner(&h->xfrees[pool->cls], 1);
    else
        weft_fetch_add_relaxed(&orphan_frees[pool->cls], 1);
    remote_batch *rb = &tls_remote_batch;
    if (!rb->depth) {
        _weft_pool_free_remote(pool, b);
        return;
    }
    if (rb->pool != pool) {
        remote_batch_flush(rb);
        rb->pool = pool;
        rb->last = b;
        rb->first = NULL;
    }
    _weft_block_poison_free(b, _weft_class_block_size(pool->cls), pool->kind);
    if (rb->first)
        _weft_block_set_next(b, rb->first, WEFT_LINK_OFFSET(pool->kind));
    rb->first = b;
}

uint64_t _weft_heap_orphan_frees(unsigned cls)
{
    return weft_load_relaxed(&orphan_frees[cls]);
}

/* ---------------------------------------------------------------- trim and release */

static void release_cache(weft_heap *h)
{
    while (h->cache) {
        weft_pool *pool = h->cache;
        h->cache = pool->next;
        _weft_arena_release_pool(pool);
    }
    h->ncached = 0;
    for (unsigned c = 1; c <= WEFT_NCLASSES; c++)
        if (h->obj_spare[c]) {
            _weft_pool_retire(h->obj_spare[c]);
            h->obj_spare[c] = NULL;
        }
}

void _weft_heap_trim(weft_heap *h)
{
    process_pending(h);
    for (unsigned k = 0; k < WEFT_KINDS; k++)
        for (unsigned c = 1; c <= WEFT_NCLASSES; c++) {
            weft_pool *pool = h->current[k][c];
            if (pool != &_weft_empty_pool) {
                _weft_pool_collect_remote(pool);
                if (pool->used == 0)
                    retire_empty_pool(h, pool);
            }
            weft_pool *next;
            for (pool = h->partial[k][c].head; pool; pool = next) {
                next = pool->next;
                _weft_pool_collect_remote(pool);
                if (pool->used == 0)
                    retire_empty_pool(h, pool);
            }
        }
    release_cache(h);
}

/* Abandon every pool on one list; pools still PENDING are left on it. */
static void abandon_list(weft_heap *h, weft_pool_list *l)
{
    weft_pool *pool = l->head, *next;
    for (; pool; pool = next) {
        next = pool->next;
        list_remove(l, pool);
        if (pool->kept_empty) {
            pool->kept_empty = 0;
            h->empty_kept[pool->kind]--;
        }
        if (!_weft_pool_abandon(pool))
            list_push(l, pool, WEFT_LIST_FULL);
    }
}

void _weft_heap_release(weft_heap *h)
{
    WEFT_ASSERT(h == _weft_tls_heap);
    process_pending(h);
    for (unsigned k = 0; k < WEFT_KINDS; k++)
        for (unsigned c = 1; c <= WEFT_NCLASSES; c++) {
            weft_pool *pool = h->current[k][c];
            if (pool != &_weft_empty_pool) {
                unlink_pool(h, pool);
                bool ok = _weft_pool_abandon(pool); /* a current pool is never PENDING */
                WEFT_ASSERT(ok);
                (void)ok;
            }
            abandon_list(h, &h->partial[k][c]);
        }
    /* Full pools that a remote freer just made PENDING are on their way to our
     * pending stack: wait until each has arrived, then abandon it. */
    for (;;) {
        bool waiting = false;
        for (unsigned k = 0; k < WEFT_KINDS; k++)
            for (unsigned c = 1; c <= WEFT_NCLASSES; c++) {
                abandon_list(h, &h->full[k][c]);
                waiting |= h->full[k][c].head != NULL;
            }
        if (!waiting)
            break;
        sched_yield();
        process_pending(h);
        for (unsigned k = 0; k < WEFT_KINDS; k++)
            for (unsigned c = 1; c <= WEFT_NCLASSES; c++)
                abandon_list(h, &h->partial[k][c]);
    }
    release_cache(h);
    _weft_tls_heap = NULL;
    pthread_setspecific(heap_key, NULL);
    pthread_mutex_lock(&registry_lock);
    h->in_use = false;
    pthread_mutex_unlock(&registry_lock);
}

typedef struct young_visit {
    void (*fn)(weft_pool *pool, void *arg);
    void *arg;
} young_visit;

static void take_young_of(weft_heap *h, void *arg)
{
    young_visit *v = arg;
    for (size_t i = 0; i < h->nyoung; i++)
        v->fn(h->young[i], v->arg);
    h->nyoung = 0;
}

void _weft_heap_take_young(void (*fn)(weft_pool *pool, void *arg), void *arg)
{
    young_visit v = {fn, arg};
    _weft_heap_for_each(take_young_of, &v);
}

void weft_heap_trim(void)
{
    if (_weft_tls_thread)
        _weft_freelists_flush(_weft_tls_thread);
    if (_weft_tls_heap)
        _weft_heap_trim(_weft_tls_heap);
}
