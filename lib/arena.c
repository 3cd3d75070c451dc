/* lib/arena.c: mapping arenas, handing out their pools, and returning empty ones.
 *
 * Arena lists (arena lock):
 *   usable   arenas with at least one free and one used pool, most used first
 *            is not kept; new pools come from the list head, so that arenas
 *            filled first stay filled and the others can drain;
 *   empty    arenas whose pools are all free, at most WEFT_ARENAS_KEEP_EMPTY;
 *            an arena that would make one more is unmapped.
 * An arena with no free pool is on no list.
 *
 * Invariant (checked by _weft_arena_validate_locked in debug builds):
 *   nfree == popcount(free_mask), and the list an arena is on matches nfree.
 */
#include "arena.h"
#include "error.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#define ALL_POOLS_FREE (~(uint64_t)0 << WEFT_FIRST_POOL)
#define POOLS_USABLE (WEFT_POOLS_PER_ARENA - WEFT_FIRST_POOL)

static pthread_mutex_t arena_lock = PTHREAD_MUTEX_INITIALIZER;
static weft_arena *usable_head;        /* arena lock */
static weft_arena *empty_head;         /* arena lock */
static size_t empty_count;             /* arena lock */
static size_t arenas_mapped, arenas_peak, pools_taken; /* arena lock */
static size_t bytes_returned;          /* arena lock */
static size_t dirty_pools, bytes_purged; /* arena lock */
static weft_arena *all_head, *all_tail; /* newest and oldest mapped; arena lock */

static void list_push(weft_arena **head, weft_arena *a)
{
    a->prev = NULL;
    a->next = *head;
    if (*head)
        (*head)->prev = a;
    *head = a;
}

static void list_remove(weft_arena **head, weft_arena *a)
{
    if (a->prev)
        a->prev->next = a->next;
    else
        *head = a->next;
    if (a->next)
        a->next->prev = a->prev;
    a->next = a->prev = NULL;
}

/* Map WEFT_ARENA_SIZE bytes aligned to WEFT_ARENA_SIZE: first try exactly that
 * much (often aligned already, as mappings tend to be adjacent), else map twice
 * as much and trim both ends. */
static void *map_aligned_arena(void)
{
    const int prot = PROT_READ | PROT_WRITE, flags = MAP_PRIVATE | MAP_ANONYMOUS;
    char *p = mmap(NULL, WEFT_ARENA_SIZE, prot, flags, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (((uintptr_t)p & (WEFT_ARENA_SIZE - 1)) == 0)
        return p;
    munmap(p, WEFT_ARENA_SIZE);
    p = mmap(NULL, 2 * WEFT_ARENA_SIZE, prot, flags, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    char *aligned = (char *)(((uintptr_t)p + WEFT_ARENA_SIZE - 1) & ~(WEFT_ARENA_SIZE - 1));
    if (aligned > p)
        munmap(p, (size_t)(aligned - p));
    char *tail = aligned + WEFT_ARENA_SIZE;
    size_t tail_len = (size_t)(p + 2 * WEFT_ARENA_SIZE - tail);
    if (tail_len)
        munmap(tail, tail_len);
    return aligned;
}

static weft_arena *new_arena_locked(void)
{
    weft_arena *a = map_aligned_arena();
    if (!a)
        return NULL;
    /* Fresh anonymous memory is zero: every pool header starts as free. */
    a->free_mask = ALL_POOLS_FREE;
    a->nfree = POOLS_USABLE;
    a->all_prev = NULL;
    a->all_next = all_head;
    if (all_head)
        all_head->all_prev = a;
    else
        all_tail = a;
    all_head = a;
    _weft_arena_map_set(a, true);
    if (++arenas_mapped > arenas_peak)
        arenas_peak = arenas_mapped;
    return a;
}

static void unmap_arena_locked(weft_arena *a)
{
    dirty_pools -= (size_t)__builtin_popcountll(a->dirty_mask);
    if (a->all_prev)
        a->all_prev->all_next = a->all_next;
    else
        all_head = a->all_next;
    if (a->all_next)
        a->all_next->all_prev = a->all_prev;
    else
        all_tail = a->all_prev;
    _weft_arena_map_set(a, false);
    _weft_block_unpoison(a, WEFT_ARENA_SIZE); /* the next mapping here starts clean */
    munmap(a, WEFT_ARENA_SIZE);
    arenas_mapped--;
    bytes_returned += WEFT_ARENA_SIZE;
}

/* Give the pages of free pools back to the OS, keeping the mapping: runs of
 * adjacent dirty pools go in one madvise. */
static void purge_arena_locked(weft_arena *a)
{
    uint64_t dirty = a->dirty_mask;
    while (dirty) {
        unsigned first = (unsigned)__builtin_ctzll(dirty);
        uint64_t above = ~(dirty >> first); /* zero only if every bit from first on is set */
        unsigned run = above ? (unsigned)__builtin_ctzll(above) : 64 - first;
        madvise((char *)a + (size_t)first * WEFT_POOL_SIZE, (size_t)run * WEFT_POOL_SIZE,
                MADV_DONTNEED);
        bytes_purged += (size_t)run * WEFT_POOL_SIZE;
        uint64_t run_mask = run == 64 ? ~(uint64_t)0 : (((uint64_t)1 << run) - 1) << first;
        dirty &= ~run_mask;
    }
    dirty_pools -= (size_t)__builtin_popcountll(a->dirty_mask);
    a->dirty_mask = 0;
}

static void purge_dirty_locked(void)
{
    for (weft_arena *a = usable_head; a; a = a->next)
        purge_arena_locked(a);
    for (weft_arena *a = empty_head; a; a = a->next)
        purge_arena_locked(a);
}

weft_pool *_weft_arena_take_pool(void)
{
    pthread_mutex_lock(&arena_lock);
    weft_arena *a = usable_head;
    if (!a && empty_head) {
        a = empty_head;
        list_remove(&empty_head, a);
        empty_count--;
        a->on_empty_list = false;
        list_push(&usable_head, a);
    }
    if (!a) {
        a = new_arena_locked();
        if (!a) {
            pthread_mutex_unlock(&arena_lock);
            _weft_set_error(WEFT_ENOMEM, "out of memory: cannot map a %zu-byte arena (%s)",
                            WEFT_ARENA_SIZE, strerror(errno));
            return NULL;
        }
        list_push(&usable_head, a);
    }
    unsigned index = (unsigned)__builtin_ctzll(a->free_mask);
    uint64_t bit = (uint64_t)1 << index;
    a->free_mask &= ~bit;
    if (a->dirty_mask & bit) {
        a->dirty_mask &= ~bit;
        dirty_pools--;
    }
    if (--a->nfree == 0)
        list_remove(&usable_head, a);
    pools_taken++;
    pthread_mutex_unlock(&arena_lock);
    return &a->pools[index];
}

void _weft_arena_release_pool(weft_pool *pool)
{
    weft_arena *a = (weft_arena *)_weft_arena_base_of(pool);
    unsigned index = (unsigned)(pool - a->pools);
    WEFT_ASSERT(index >= WEFT_FIRST_POOL);
    /* Under the lock: the collector reads these while walking the arenas. */
    pthread_mutex_lock(&arena_lock);
    pool->cls = 0;
    pool->list = WEFT_LIST_NONE;
    WEFT_ASSERT(!(a->free_mask & ((uint64_t)1 << index)));
    a->free_mask |= (uint64_t)1 << index;
    a->dirty_mask |= (uint64_t)1 << index;
    dirty_pools++;
    pools_taken--;
    if (a->nfree++ == 0)
        list_push(&usable_head, a);
    if (a->nfree == POOLS_USABLE) {
        list_remove(&usable_head, a);
        if (empty_count < WEFT_ARENAS_KEEP_EMPTY) {
            list_push(&empty_head, a);
            a->on_empty_list = true;
            empty_count++;
        } else {
            unmap_arena_locked(a);
        }
    }
    if (dirty_pools > WEFT_DIRTY_POOLS_MAX)
        purge_dirty_locked();
    pthread_mutex_unlock(&arena_lock);
}

void _weft_arena_lock(void)
{
    pthread_mutex_lock(&arena_lock);
}

void _weft_arena_unlock(void)
{
    pthread_mutex_unlock(&arena_lock);
}

void _weft_arena_for_each_pool(void (*fn)(weft_pool *pool, void *arg), void *arg)
{
    pthread_mutex_lock(&arena_lock);
    for (weft_arena *a = all_tail; a; a = a->all_prev)
        for (unsigned i = WEFT_FIRST_POOL; i < WEFT_POOLS_PER_ARENA; i++)
            if (!(a->free_mask & ((uint64_t)1 << i)))
                fn(&a->pools[i], arg);
    pthread_mutex_unlock(&arena_lock);
}

void _weft_arena_get_stats(weft_arena_stats *out)
{
    pthread_mutex_lock(&arena_lock);
    out->mapped = arenas_mapped;
    out->peak = arenas_peak;
    out->empty_kept = empty_count;
    out->pools_taken = pools_taken;
    out->bytes_returned = bytes_returned;
    out->bytes_purged = bytes_purged;
    pthread_mutex_unlock(&arena_lock);
}
