/* lib/pool.c: the life of a pool: set-up, carving, remote frees, and the state
 * tag that keeps remote freers and the owner in step (pool.h explains it).
 *
 * Abandoned pools of each size class sit on a list protected by that class's
 * lock. The lock is held for every change to an abandoned pool: frees into it,
 * its adoption by a heap, its release when it becomes empty.
 */
#include "arena.h"
#include "heap.h"
#include "object_internal.h"

#include <pthread.h>

/* Carve at most this many bytes of new blocks at a time, so that a pool that
 * serves few blocks does not touch all its pages. */
#define CARVE_BYTES 4096

typedef struct abandoned_class {
    pthread_mutex_t lock;
    weft_pool *head;             /* doubly linked by next/prev */
    WEFT_ATOMIC(size_t) xcount; /* written under the lock, peeked without it */
} WEFT_CACHE_ALIGNED abandoned_class;

static abandoned_class abandoned[WEFT_KINDS][WEFT_NCLASSES + 1];
/* Pools serving each class, owned or abandoned (statistics). */
static WEFT_ATOMIC(size_t) class_pools[WEFT_NCLASSES + 1];
static pthread_once_t abandoned_once = PTHREAD_ONCE_INIT;

static void abandoned_init(void)
{
    for (unsigned k = 0; k < WEFT_KINDS; k++)
        for (unsigned i = 0; i <= WEFT_NCLASSES; i++)
            pthread_mutex_init(&abandoned[k][i].lock, NULL);
}

static abandoned_class *abandoned_of(const weft_pool *pool)
{
    pthread_once(&abandoned_once, abandoned_init);
    return &abandoned[pool->kind][pool->cls];
}

static void abandoned_push_locked(abandoned_class *ac, weft_pool *pool)
{
    pool->list = WEFT_LIST_ABANDONED;
    pool->prev = NULL;
    pool->next = ac->head;
    if (ac->head)
        ac->head->prev = pool;
    ac->head = pool;
    weft_store_relaxed(&ac->xcount, weft_load_relaxed(&ac->xcount) + 1);
}

static void abandoned_remove_locked(abandoned_class *ac, weft_pool *pool)
{
    if (pool->prev)
        pool->prev->next = pool->next;
    else
        ac->head = pool->next;
    if (pool->next)
        pool->next->prev = pool->prev;
    pool->next = pool->prev = NULL;
    pool->list = WEFT_LIST_NONE;
    weft_store_relaxed(&ac->xcount, weft_load_relaxed(&ac->xcount) - 1);
}

size_t _weft_pool_class_count(unsigned cls)
{
    return weft_load_relaxed(&class_pools[cls]);
}

void _weft_pool_leave_class(weft_pool *pool)
{
    weft_fetch_sub_relaxed(&class_pools[pool->cls], 1);
    pool->cls = 0;
}

void _weft_pool_init(weft_pool *pool, unsigned kind, unsigned cls, weft_heap *h)
{
    weft_fetch_add_relaxed(&class_pools[cls], 1);
    size_t bsize = _weft_class_block_size(cls);
    char *data = _weft_pool_data(pool);
    /* Uncarved memory is not addressable either (it may hold an earlier
     * class's blocks), but the count fields of object blocks stay readable. */
    _weft_block_poison(data, WEFT_POOL_SIZE);
    if (WEFT_ASAN && kind == WEFT_KIND_OBJ)
        for (char *b = data; b + bsize <= data + WEFT_POOL_SIZE; b += bsize)
            _weft_block_unpoison(b, WEFT_LINK_OFFSET(kind));
    pool->free = NULL;
    pool->bump = data;
    pool->end = data + (WEFT_POOL_SIZE / bsize) * bsize;
    pool->used = 0;
    pool->cls = (uint16_t)cls;
    pool->kind = (uint8_t)kind;
    pool->kept_empty = 0;
    weft_store_relaxed(&pool->gc_age, 1); /* made young (and listed) when it becomes current */
    pool->list = WEFT_LIST_NONE;
    pool->next = pool->prev = NULL;
    pool->pending_next = NULL;
    weft_store_relaxed(&pool->xfree, (uintptr_t)WEFT_POOL_OWNED);
    /* Release: pairs with the acquire of a remote freer that reads the owner
     * only after it received a block of this pool from h's thread. */
    weft_store_release(_weft_pool_owner(pool), h);
}

bool _weft_pool_extend(weft_pool *pool)
{
    if (pool->bump >= pool->end)
        return false;
    size_t bsize = _weft_class_block_size(pool->cls);
    size_t avail = (size_t)(pool->end - pool->bump) / bsize;
    size_t n = CARVE_BYTES / bsize;
    if (n > avail)
        n = avail;
    if (n == 0)
        n = 1;
    /* Link the new blocks in address order in front of the (empty) list. An
     * object block is marked dead as it is carved, as a freed one is: the
     * collector tells objects from free blocks by that mark, without
     * walking the free lists. */
    char *first = pool->bump;
    size_t off = WEFT_LINK_OFFSET(pool->kind);
    if (pool->kind == WEFT_KIND_OBJ)
        for (size_t i = 0; i < n; i++)
            weft_store_relaxed(&((weft_object *)(first + i * bsize))->ref_shared,
                               WEFT_SHARED_DEAD);
    for (size_t i = 0; i + 1 < n; i++)
        _weft_block_set_next((weft_block *)(first + i * bsize),
                             (weft_block *)(first + (i + 1) * bsize), off);
    _weft_block_set_next((weft_block *)(first + (n - 1) * bsize), pool->free, off);
    pool->free = (weft_block *)first;
    pool->bump = first + n * bsize;
    return true;
}

/* Splice a remote list (taken by the caller) onto the local free list. */
static unsigned splice_remote(weft_pool *pool, weft_block *list)
{
    unsigned n = 0;
    size_t off = WEFT_LINK_OFFSET(pool->kind);
    weft_block *last = NULL;
    for (weft_block *b = list; b; b = _weft_block_next(b, off)) {
        last = b;
        n++;
    }
    if (last) {
        _weft_block_set_next(last, pool->free, off);
        pool->free = list;
        WEFT_ASSERT(pool->used >= n);
        pool->used -= n;
    }
    return n;
}

/* Take the remote stack, keeping the tag. Acquire pairs with the freers'
 * release CAS, so their writes of the links are visible. */
static weft_block *take_remote(weft_pool *pool)
{
    uintptr_t old = weft_load_relaxed(&pool->xfree);
    while ((old & ~WEFT_POOL_TAG_MASK) != 0 &&
           !weft_cas_weak_acq_rel(&pool->xfree, &old, old & WEFT_POOL_TAG_MASK)) {
    }
    return (weft_block *)(old & ~WEFT_POOL_TAG_MASK);
}

unsigned _weft_pool_collect_remote(weft_pool *pool)
{
    if ((weft_load_relaxed(&pool->xfree) & ~WEFT_POOL_TAG_MASK) == 0)
        return 0;
    return splice_remote(pool, take_remote(pool));
}

/* Change the tag from `from` to `to` keeping the head; false if the tag is not
 * `from` (or, with require_empty, if the stack is not empty). */
static bool retag(weft_pool *pool, uintptr_t from, uintptr_t to, bool require_empty)
{
    uintptr_t old = weft_load_relaxed(&pool->xfree);
    for (;;) {
        if ((old & WEFT_POOL_TAG_MASK) != from)
            return false;
        if (require_empty && (old & ~WEFT_POOL_TAG_MASK))
            return false;
        if (weft_cas_weak_acq_rel(&pool->xfree, &old, (old & ~WEFT_POOL_TAG_MASK) | to))
            return true;
    }
}

bool _weft_pool_try_mark_full(weft_pool *pool)
{
    return retag(pool, WEFT_POOL_OWNED, WEFT_POOL_FULL, true);
}

bool _weft_pool_try_unmark_full(weft_pool *pool)
{
    return retag(pool, WEFT_POOL_FULL, WEFT_POOL_OWNED, false);
}

void _weft_pool_clear_pending(weft_pool *pool)
{
    bool ok = retag(pool, WEFT_POOL_PENDING, WEFT_POOL_OWNED, false);
    WEFT_ASSERT(ok);
    (void)ok;
}

/* Free the chain first..last (linked, poisoned) into an abandoned pool, under
 * its class lock. False if the pool was adopted in the meantime (the caller
 * retries the lock-free path). */
static bool free_into_abandoned(weft_pool *pool, weft_block *first, weft_block *last)
{
    abandoned_class *ac = abandoned_of(pool);
    size_t off = WEFT_LINK_OFFSET(pool->kind);
    pthread_mutex_lock(&ac->lock);
    if ((weft_load_relaxed(&pool->xfree) & WEFT_POOL_TAG_MASK) != WEFT_POOL_ABANDONED) {
        pthread_mutex_unlock(&ac->lock);
        return false;
    }
    for (weft_block *b = first, *next; b; b = next) {
        next = b == last ? NULL : _weft_block_next(b, off);
        _weft_block_set_next(b, pool->free, off);
        pool->free = b;
        pool->used--;
    }
    bool now_empty = pool->used == 0;
    if (now_empty)
        abandoned_remove_locked(ac, pool);
    pthread_mutex_unlock(&ac->lock);
    if (now_empty)
        _weft_pool_retire(pool);
    return true;
}

void _weft_pool_free_remote_chain(weft_pool *pool, weft_block *first, weft_block *last)
{
    size_t off = WEFT_LINK_OFFSET(pool->kind);
    uintptr_t old = weft_load_relaxed(&pool->xfree);
    for (;;) {
        uintptr_t tag = old & WEFT_POOL_TAG_MASK;
        if (tag == WEFT_POOL_ABANDONED) {
            if (free_into_abandoned(pool, first, last))
                return;
            old = weft_load_relaxed(&pool->xfree);
            continue;
        }
        _weft_block_set_next(last, (weft_block *)(old & ~WEFT_POOL_TAG_MASK), off);
        uintptr_t new_tag = tag == WEFT_POOL_FULL ? WEFT_POOL_PENDING : tag;
        /* Release publishes the links; acquire (on FULL) orders the read of
         * owner below after the owner's FULL store. */
        if (weft_cas_weak_acq_rel(&pool->xfree, &old, (uintptr_t)first | new_tag)) {
            if (tag == WEFT_POOL_FULL) {
                /* We moved the pool to PENDING: until its owner pops it from
                 * the pending stack, nobody can release it or change its owner. */
                _weft_heap_push_pending(weft_load_relaxed(_weft_pool_owner(pool)), pool);
            }
            return;
        }
    }
}

void _weft_pool_free_remote(weft_pool *pool, weft_block *b)
{
    _weft_block_poison_free(b, _weft_class_block_size(pool->cls), pool->kind);
    _weft_pool_free_remote_chain(pool, b, b);
}

bool _weft_pool_abandon(weft_pool *pool)
{
    abandoned_class *ac = abandoned_of(pool);
    pthread_mutex_lock(&ac->lock);
    uintptr_t old = weft_load_relaxed(&pool->xfree);
    for (;;) {
        uintptr_t tag = old & WEFT_POOL_TAG_MASK;
        WEFT_ASSERT(tag != WEFT_POOL_ABANDONED);
        if (tag == WEFT_POOL_PENDING) {
            pthread_mutex_unlock(&ac->lock);
            return false;
        }
        if (weft_cas_weak_acq_rel(&pool->xfree, &old, WEFT_POOL_ABANDONED))
            break;
    }
    /* From here on remote freers take the class lock, which we hold. */
    splice_remote(pool, (weft_block *)(old & ~WEFT_POOL_TAG_MASK));
    weft_store_relaxed(_weft_pool_owner(pool), NULL);
    bool empty = pool->used == 0;
    if (!empty)
        abandoned_push_locked(ac, pool);
    pthread_mutex_unlock(&ac->lock);
    if (empty)
        _weft_pool_retire(pool);
    return true;
}

weft_pool *_weft_pool_adopt(unsigned kind, unsigned cls, weft_heap *h)
{
    pthread_once(&abandoned_once, abandoned_init);
    abandoned_class *ac = &abandoned[kind][cls];
    if (weft_load_relaxed(&ac->xcount) == 0)
        return NULL; /* a peek; the locked check below decides */
    pthread_mutex_lock(&ac->lock);
    weft_pool *pool = ac->head;
    if (pool) {
        abandoned_remove_locked(ac, pool);
        bool ok = retag(pool, WEFT_POOL_ABANDONED, WEFT_POOL_OWNED, false);
        WEFT_ASSERT(ok);
        (void)ok;
        weft_store_release(_weft_pool_owner(pool), h);
    }
    pthread_mutex_unlock(&ac->lock);
    return pool;
}

size_t _weft_pool_abandoned_count(unsigned cls)
{
    pthread_once(&abandoned_once, abandoned_init);
    size_t n = 0;
    for (unsigned k = 0; k < WEFT_KINDS; k++)
        n += weft_load_relaxed(&abandoned[k][cls].xcount);
    return n;
}

/* ---------------------------------------------------------------- retirement */

static pthread_mutex_t retired_lock = PTHREAD_MUTEX_INITIALIZER;
static weft_pool *retired_head;          /* retired lock; linked by next */
WEFT_ATOMIC(size_t) _weft_pool_retired_count; /* written under the lock */

void _weft_pool_retire(weft_pool *pool)
{
    _weft_pool_leave_class(pool);
    weft_store_relaxed(_weft_pool_owner(pool), NULL);
    pool->list = WEFT_LIST_NONE;
    if (pool->kind == WEFT_KIND_MEM) {
        _weft_arena_release_pool(pool);
        return;
    }
    pthread_mutex_lock(&retired_lock);
    pool->next = retired_head;
    retired_head = pool;
    weft_store_relaxed(&_weft_pool_retired_count, weft_load_relaxed(&_weft_pool_retired_count) + 1);
    pthread_mutex_unlock(&retired_lock);
}

weft_pool *_weft_pool_take_retired(void)
{
    pthread_mutex_lock(&retired_lock);
    weft_pool *list = retired_head;
    retired_head = NULL;
    weft_store_relaxed(&_weft_pool_retired_count, 0);
    pthread_mutex_unlock(&retired_lock);
    return list;
}

void _weft_pool_release_retired(weft_pool *list)
{
    while (list) {
        weft_pool *next = list->next;
        _weft_arena_release_pool(list);
        list = next;
    }
}

const char *_weft_pool_validate(weft_pool *pool)
{
    size_t bsize = _weft_class_block_size(pool->cls);
    char *data = _weft_pool_data(pool);
    size_t capacity = WEFT_POOL_SIZE / bsize;
    size_t nfree = 0;
    for (weft_block *b = pool->free; b; b = _weft_block_next(b, WEFT_LINK_OFFSET(pool->kind))) {
        if ((char *)b < data || (char *)b >= pool->bump || ((char *)b - data) % bsize)
            return "free list holds a pointer outside the pool's carved blocks";
        if (++nfree > capacity)
            return "free list is longer than the pool (cycle?)";
    }
    size_t uncarved = (size_t)(pool->end - pool->bump) / bsize;
    if (pool->used + nfree + uncarved != capacity)
        return "used + free + uncarved != capacity";
    return NULL;
}
