/* lib/arena.h: arenas, the 1 MiB units weft maps from the OS and cuts into pools.
 *
 * An arena is aligned to its size, so the arena and pool of any small block
 * are found by masking the block's address (pool.h). Its first pool slot holds
 * this header, whose first member is the array of pool headers.
 *
 * All arena state is protected by one lock, taken once per pool hand-out or
 * return (a pool serves up to 1024 blocks), never on a block's fast path.
 * Arenas whose pools are all free are kept up to WEFT_ARENAS_KEEP_EMPTY for
 * reuse (hysteresis) and unmapped beyond that.
 */
#ifndef WEFT_LIB_ARENA_H
#define WEFT_LIB_ARENA_H

#include "pool.h"

#define WEFT_ARENAS_KEEP_EMPTY 8
/* Free pools whose pages may still be resident, beyond which they are purged
 * (MADV_DONTNEED): a few thread-held pools must not pin whole arenas' RSS. */
#define WEFT_DIRTY_POOLS_MAX 1024

typedef struct weft_arena {
    weft_pool pools[WEFT_POOLS_PER_ARENA]; /* [0] unused: this header lives there */
    WEFT_ATOMIC(struct weft_heap *) owners[WEFT_POOLS_PER_ARENA]; /* pool.h: _weft_pool_owner */
    /* The collector's side table of each pool for the current collection
     * (gc_heap.c); set and cleared with the world stopped. */
    void *gc_scratch[WEFT_POOLS_PER_ARENA];
    /* All below: arena lock. */
    uint64_t free_mask;                    /* bit i set: pool i is free */
    uint64_t dirty_mask;                   /* free pools whose pages may be resident */
    unsigned nfree;                        /* popcount(free_mask) */
    struct weft_arena *next, *prev;        /* on the usable or the empty list */
    struct weft_arena *all_next, *all_prev; /* every mapped arena */
    bool on_empty_list;
} weft_arena;

_Static_assert(sizeof(weft_arena) <= WEFT_POOL_SIZE, "arena header fits in pool slot 0");
_Static_assert(offsetof(weft_arena, pools) == 0, "pool headers first");
_Static_assert(offsetof(weft_arena, owners) == WEFT_ARENA_OWNERS_OFFSET, "owners after the pools");

/* A free pool (its header; data at _weft_pool_data), or NULL with WEFT_ENOMEM. */
weft_pool *_weft_arena_take_pool(void);
/* Give pools back; their blocks must all be free. */
void _weft_arena_release_pool(weft_pool *pool);

/* Call fn for every pool in use of every mapped arena, arena lock held (fn
 * must not allocate from weft or take the arena lock). Oldest arena first:
 * allocation order, roughly, so that the collector's sweep finds most
 * references pointing ahead of it. */
void _weft_arena_for_each_pool(void (*fn)(weft_pool *pool, void *arg), void *arg);

/* The arena lock itself, for a walk that must keep arenas mapped. */
void _weft_arena_lock(void);
void _weft_arena_unlock(void);

typedef struct weft_arena_stats {
    size_t mapped, peak, empty_kept, pools_taken, bytes_returned, bytes_purged;
} weft_arena_stats;
void _weft_arena_get_stats(weft_arena_stats *out);

/* ---------------------------------------------------------------- the arena map (arena_map.c)
 * One bit per possible arena address, so that free() tells weft's blocks from
 * others without reading the block. Bits are set before an arena's first pool
 * is handed out and cleared before it is unmapped. */

#define WEFT_ARENA_MAP_BITS 48
#define WEFT_ARENA_MAP_WORDS ((size_t)1 << (WEFT_ARENA_MAP_BITS - WEFT_ARENA_SHIFT - 6))
/* 32 MiB of zero-filled BSS: only the pages covering mapped arenas are touched. */
extern WEFT_HIDDEN WEFT_ATOMIC(uint64_t) _weft_arena_map[WEFT_ARENA_MAP_WORDS];

void _weft_arena_map_set(const void *arena, bool present);

WEFT_INLINE bool _weft_arena_map_contains(const void *p)
{
    uintptr_t index = (uintptr_t)p >> WEFT_ARENA_SHIFT;
    if (WEFT_UNLIKELY(index >> (WEFT_ARENA_MAP_BITS - WEFT_ARENA_SHIFT)))
        return false;
    /* Relaxed suffices: a block reaches free() only after its allocation,
     * which happens after the bit was set (see arena_map.c). */
    uint64_t word = weft_load_relaxed(&_weft_arena_map[index >> 6]);
    return (word >> (index & 63)) & 1;
}

#endif
