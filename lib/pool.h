/* lib/pool.h: a pool, 16 KiB of an arena serving blocks of one size class.
 *
 * docs/allocator.md explains the whole allocator; this header keeps the pool's
 * layout and the inline helpers of the fast paths.
 *
 * A pool's blocks are in exactly one of four places:
 *   handed out   live in the program;
 *   free         on the owner's local free list (`free`), touched only by the
 *                owner (or, while the pool is abandoned, under its class lock);
 *   remote       on the atomic remote-free stack (`xfree`), pushed by other
 *                threads, taken back in bulk by the owner;
 *   uncarved     past `bump`: never handed out since the pool was set up.
 * Invariant:  used == handed out + remote,   used + free + uncarved == capacity.
 *
 * The low two bits of `xfree` are the pool's tag, changed only together with
 * the stack head by one CAS, so that a remote freer learns the pool's state in
 * the same atomic step that publishes its block (after that step the block may
 * be reused and the pool released; the freer must not touch the pool again,
 * except in the FULL case below, where the pool cannot be released):
 *
 *   OWNED      in its owner's current slot or partial list. Remote free: push.
 *   FULL       the owner found no free block and parked it on its full list,
 *              asking to be told of the next remote free. A remote freer
 *              pushes its block and sets PENDING in one CAS, then puts the pool
 *              on the owner's pending stack.
 *   PENDING    on (or on its way to) the owner's pending stack. Push. The owner
 *              cannot release or abandon the pool until it has popped it.
 *   ABANDONED  no owner: its thread exited. It sits on the abandoned list of
 *              its class; a remote freer frees into it under the class lock
 *              and releases the pool when it becomes empty.
 *
 * Transitions: OWNED->FULL and FULL->OWNED by the owner; FULL->PENDING by a
 * remote freer; PENDING->OWNED by the owner when it pops the pool;
 * OWNED|FULL|PENDING->ABANDONED by the owner under the class lock;
 * ABANDONED->OWNED by an adopting heap under the class lock.
 */
#ifndef WEFT_LIB_POOL_H
#define WEFT_LIB_POOL_H

#include "internal/core.h"
#include <weft/heap_stats.h>
#include <weft/mem.h>

#if WEFT_ASAN
#include <sanitizer/asan_interface.h>
#endif

#define WEFT_ARENA_SHIFT 20
#define WEFT_ARENA_SIZE ((size_t)1 << WEFT_ARENA_SHIFT)
#define WEFT_POOL_SHIFT 14
#define WEFT_POOL_SIZE ((size_t)1 << WEFT_POOL_SHIFT)
#define WEFT_POOLS_PER_ARENA (WEFT_ARENA_SIZE / WEFT_POOL_SIZE)
/* Pool slot 0 of every arena holds the arena header and the pool headers. */
#define WEFT_FIRST_POOL 1

#define WEFT_CLASS_SHIFT 4
#define WEFT_NCLASSES WEFT_SIZE_CLASSES /* classes 1..32; index 0 is unused */

typedef struct weft_block weft_block; /* a free block; its link is at the kind's offset */

/* Pool kinds. Objects get pools of their own: lock-free readers may try to
 * incref an object that was just freed, so an object block is reused only as
 * an object block of the same size class, and its header's count fields
 * survive the free (the free-list link sits after them). An OBJ pool changes
 * class or kind only after a QSBR grace period (_weft_pool_retire). */
enum weft_pool_kind {
    WEFT_KIND_MEM = 0, /* raw and mem domains */
    WEFT_KIND_OBJ = 1, /* the obj domain: objects */
    WEFT_KINDS = 2
};

/* Byte offset of the free-list link in a free block of each kind: after the
 * whole 24-byte object header for objects, whose blocks are therefore at
 * least 32 bytes (WEFT_OBJ_MIN_CLASS). */
#define WEFT_LINK_OFFSET(kind) ((kind) == WEFT_KIND_OBJ ? (size_t)24 : (size_t)0)
#define WEFT_OBJ_MIN_CLASS 2

enum weft_pool_tag {
    WEFT_POOL_OWNED = 0,
    WEFT_POOL_FULL = 1,
    WEFT_POOL_PENDING = 2,
    WEFT_POOL_ABANDONED = 3
};
#define WEFT_POOL_TAG_MASK ((uintptr_t)3)

/* Which list holds a pool; meaningful to whoever owns the pool. */
enum weft_pool_where {
    WEFT_LIST_NONE = 0, /* free in its arena, or in a heap's empty-pool cache */
    WEFT_LIST_CURRENT,  /* its heap's current pool of the class */
    WEFT_LIST_PARTIAL,  /* has (or had) free blocks, not current */
    WEFT_LIST_FULL,     /* no free block when last looked at */
    WEFT_LIST_ABANDONED /* on the abandoned list of its class */
};

struct weft_heap;

typedef struct weft_pool {
    /* Owner line: written by the owning heap's thread on every allocation and
     * local free; by whoever holds the class lock while the pool is abandoned;
     * by the arena lock holder while the pool is free in its arena. */
    weft_block *free;  /* local free list */
    char *bump;        /* first never-carved block */
    char *end;         /* end of the last whole block */
    uint32_t used;     /* handed out + remote (see the invariant above) */
    uint16_t cls;      /* size class 1..32; 0 while free in its arena */
    uint8_t list;      /* enum weft_pool_where */
    uint8_t kind;      /* enum weft_pool_kind */
    uint8_t kept_empty; /* on its heap's partial list, empty, counted in empty_kept */
    /* Collector (OBJ pools): 0 if the pool allocated since the last collection
     * (its objects are young), else 1 or 2. Set to 0 by the owner when the
     * pool becomes current; aged by the collector with the world stopped.
     * Atomic: a thread freeing one of its objects reads it (collector.c
     * counts the deaths of long-lived objects). */
    WEFT_ATOMIC(uint8_t) gc_age;
    struct weft_pool *next, *prev; /* links of that list */

    /* Link on the owner's pending stack; written by the remote freer that moved
     * the pool FULL->PENDING, before it publishes the pool. */
    struct weft_pool *pending_next;

    /* Shared line: remote freers CAS `xfree`. (The owning heap is kept apart,
     * in the arena's read-mostly owner array: _weft_pool_owner.) */
    WEFT_ATOMIC(uintptr_t) xfree WEFT_CACHE_ALIGNED; /* remote stack head | tag */
} WEFT_CACHE_ALIGNED weft_pool;

_Static_assert(sizeof(weft_pool) == 2 * WEFT_CACHE_LINE, "pool header is two cache lines");

/* ---------------------------------------------------------------- size classes */

/* Class of a request of 0..WEFT_SMALL_MAX bytes: 1..32 (0 bytes is class 1). */
WEFT_INLINE unsigned _weft_size_class(size_t size)
{
    unsigned cls = (unsigned)((size + 15) >> WEFT_CLASS_SHIFT);
    return cls + (cls == 0);
}

WEFT_INLINE size_t _weft_class_block_size(unsigned cls)
{
    return (size_t)cls << WEFT_CLASS_SHIFT;
}

/* ---------------------------------------------------------------- addresses */

WEFT_INLINE char *_weft_arena_base_of(const void *p)
{
    return (char *)((uintptr_t)p & ~(uintptr_t)(WEFT_ARENA_SIZE - 1));
}

WEFT_INLINE unsigned _weft_pool_index_of(const void *p)
{
    return (unsigned)(((uintptr_t)p >> WEFT_POOL_SHIFT) & (WEFT_POOLS_PER_ARENA - 1));
}

/* The arena header's first member is the pool header array (arena.h). */
WEFT_INLINE weft_pool *_weft_pool_of(const void *p)
{
    return (weft_pool *)_weft_arena_base_of(p) + _weft_pool_index_of(p);
}

/* The owner of each pool of an arena sits in an array after the pool headers,
 * eight to a cache line: every free reads it (local or remote?) and it changes
 * only when a pool is set up, abandoned or adopted, so the line stays shared
 * in every core's cache instead of following the owner's hot fields. Written
 * by the owner (set-up, abandon) or an adopter under the class lock. */
#define WEFT_ARENA_OWNERS_OFFSET (WEFT_POOLS_PER_ARENA * sizeof(weft_pool))

/* The owner slot of the pool holding block p (computed from p directly). */
WEFT_INLINE WEFT_ATOMIC(struct weft_heap *) *_weft_block_owner(const void *p)
{
    WEFT_ATOMIC(struct weft_heap *) *owners =
        (WEFT_ATOMIC(struct weft_heap *) *)(_weft_arena_base_of(p) + WEFT_ARENA_OWNERS_OFFSET);
    return &owners[_weft_pool_index_of(p)];
}

WEFT_INLINE WEFT_ATOMIC(struct weft_heap *) *_weft_pool_owner(const weft_pool *pool)
{
    WEFT_ATOMIC(struct weft_heap *) *owners =
        (WEFT_ATOMIC(struct weft_heap *) *)(_weft_arena_base_of(pool) + WEFT_ARENA_OWNERS_OFFSET);
    return &owners[(weft_pool *)pool - (weft_pool *)_weft_arena_base_of(pool)];
}

WEFT_INLINE char *_weft_pool_data(const weft_pool *pool)
{
    uintptr_t index = (uintptr_t)(pool - (weft_pool *)_weft_arena_base_of(pool));
    return _weft_arena_base_of(pool) + index * WEFT_POOL_SIZE;
}

/* ---------------------------------------------------------------- free-list links
 * In AddressSanitizer builds free blocks are poisoned; the link word is
 * unpoisoned only for the moment it is read or written. */

WEFT_INLINE void _weft_block_poison(void *b, size_t size)
{
#if WEFT_ASAN
    ASAN_POISON_MEMORY_REGION(b, size);
#else
    (void)b, (void)size;
#endif
}

WEFT_INLINE void _weft_block_unpoison(void *b, size_t size)
{
#if WEFT_ASAN
    ASAN_UNPOISON_MEMORY_REGION(b, size);
#else
    (void)b, (void)size;
#endif
}

WEFT_INLINE weft_block **_weft_block_link(weft_block *b, size_t link_offset)
{
    return (weft_block **)((char *)b + link_offset);
}

WEFT_INLINE weft_block *_weft_block_next(weft_block *b, size_t link_offset)
{
    weft_block **link = _weft_block_link(b, link_offset);
    _weft_block_unpoison(link, sizeof *link);
    weft_block *next = *link;
    _weft_block_poison(link, sizeof *link);
    return next;
}

WEFT_INLINE void _weft_block_set_next(weft_block *b, weft_block *next, size_t link_offset)
{
    weft_block **link = _weft_block_link(b, link_offset);
    _weft_block_unpoison(link, sizeof *link);
    *link = next;
    _weft_block_poison(link, sizeof *link);
}

/* Poison a free block. An object block keeps its header addressable:
 * lock-free readers may look at its counts after the free. */
WEFT_INLINE void _weft_block_poison_free(void *b, size_t size, unsigned kind)
{
    size_t keep = WEFT_LINK_OFFSET(kind);
    _weft_block_poison((char *)b + keep, size - keep);
}

/* ---------------------------------------------------------------- pool operations (pool.c) */

/* Set up a pool taken from an arena or a cache to serve class cls of a kind
 * for heap h. */
void _weft_pool_init(weft_pool *pool, unsigned kind, unsigned cls, struct weft_heap *h);
/* Carve more never-used blocks onto the local free list; false if none are left. */
bool _weft_pool_extend(weft_pool *pool);
/* Owner: move the remote-free stack onto the local free list. Returns the
 * number of blocks taken. The tag is kept. */
unsigned _weft_pool_collect_remote(weft_pool *pool);
/* Owner: try OWNED->FULL. False if remote frees arrived (collect them). */
bool _weft_pool_try_mark_full(weft_pool *pool);
/* Owner: FULL->OWNED. False if the pool is PENDING (it will be popped later). */
bool _weft_pool_try_unmark_full(weft_pool *pool);
/* Owner: PENDING->OWNED, after popping the pool from its pending stack. */
void _weft_pool_clear_pending(weft_pool *pool);
/* Free a block of a pool this thread does not own. */
void _weft_pool_free_remote(weft_pool *pool, weft_block *b);
/* The same for a chain of poisoned blocks first..last of one pool, linked
 * at the kind's offset (last's link is set here): one CAS for all. */
void _weft_pool_free_remote_chain(weft_pool *pool, weft_block *first, weft_block *last);
/* Owner, at thread exit: give the pool up. Returns false (and does nothing) if
 * the pool is PENDING and must first be popped from the pending stack. */
bool _weft_pool_abandon(weft_pool *pool);
/* Take an abandoned pool of a kind and class for heap h, or NULL. */
weft_pool *_weft_pool_adopt(unsigned kind, unsigned cls, struct weft_heap *h);
/* The pool no longer serves its class (it is empty and leaves service). */
void _weft_pool_leave_class(weft_pool *pool);
size_t _weft_pool_class_count(unsigned cls);
/* Number of abandoned pools per class, both kinds (statistics). */
size_t _weft_pool_abandoned_count(unsigned cls);

/* An empty pool leaves service: a MEM pool goes back to its arena at once, an
 * OBJ pool waits on the retired list for a grace period. */
void _weft_pool_retire(weft_pool *pool);
/* The retired OBJ pools, taken all at once (linked by `next`), for an online
 * QSBR reader to hand to call_rcu; and their final release. */
extern WEFT_HIDDEN WEFT_ATOMIC(size_t) _weft_pool_retired_count; /* pool.c */
WEFT_INLINE bool _weft_pool_retired_pending(void)
{
    return weft_load_relaxed(&_weft_pool_retired_count) != 0;
}
weft_pool *_weft_pool_take_retired(void);
void _weft_pool_release_retired(weft_pool *list);
/* Check a pool's counts against its free lists (tests, debug). Owner or a
 * quiet heap only. Returns NULL if valid, else what is wrong. */
const char *_weft_pool_validate(weft_pool *pool);

#endif
