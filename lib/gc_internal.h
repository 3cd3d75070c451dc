/* lib/gc_internal.h: what the collector's files share (docs/collector.md). */
#ifndef WEFT_LIB_GC_INTERNAL_H
#define WEFT_LIB_GC_INTERNAL_H

#include "arena.h"
#include "object_internal.h"
#include "pool.h"
#include <weft/gc.h>

/* A side-table entry: one per block of a walked pool, one per registered
 * object. */
enum gc_slot_state {
    GC_SLOT_ALLOCATED = 0, /* an object the collection does not consider */
    GC_SLOT_FREE,          /* not an object */
    GC_SLOT_CANDIDATE,     /* tracked, of a collected generation */
    GC_SLOT_REACHABLE,     /* a candidate reachable from outside the candidates */
    GC_SLOT_REACHABLE_AHEAD, /* reachable, not yet traversed: the marking sweep
                              * has still to pass it (gc.c) */
};

typedef struct gc_slot {
    int32_t refs;   /* true count minus references from other candidates */
    uint32_t state; /* enum gc_slot_state */
} gc_slot;

struct pool_scratch;

typedef struct gc_heap_walk {
    weft_pool **pools;
    size_t npools, cap_pools;
    int max_age;
    bool failed;
    size_t promoted; /* walk_end_stopped: survivors whose pool aged to 2 */
    struct pool_scratch **tables; /* tables[i] is pools[i]'s */
    char *region;        /* the side tables, in the order of `pools` */
    size_t region_used;
    size_t region_bytes; /* nonzero: the walk mapped the region itself */
} gc_heap_walk;

/* One pool of a walk: its blocks and their slots. */
typedef struct gc_pool_view {
    char *data;
    size_t block_size;
    unsigned nblocks;
    gc_slot *slots;
} gc_pool_view;

/* World stopped. Side tables for every OBJ pool of age <= max_age and for the
 * registered objects; every allocated block starts ALLOCATED. -1 on ENOMEM. */
int _weft_gc_walk_begin(gc_heap_walk *w, int max_age);
/* The walk's pools, 0..npools-1, and the registered objects whose slot is in
 * `state` (gc.c iterates slots with these rather than keeping lists). */
gc_pool_view _weft_gc_walk_pool(const gc_heap_walk *w, size_t i);
/* Every registered object of the walk (age <= max_age) with its slot. */
void _weft_gc_walk_registry(gc_heap_walk *w, void (*fn)(weft_object *o, gc_slot *slot, void *arg),
                            void *arg);
/* Every allocated object of the walk with its slot. Inline, so that `fn`
 * (a constant at each call) is inlined too: it runs once per object. */
static inline __attribute__((always_inline)) void
_weft_gc_walk_objects(gc_heap_walk *w, void (*fn)(weft_object *o, gc_slot *slot, void *arg),
                      void *arg)
{
    for (size_t i = 0; i < w->npools; i++) {
        gc_pool_view p = _weft_gc_walk_pool(w, i);
        for (unsigned b = 0; b < p.nblocks; b++) {
            weft_object *o = (weft_object *)(p.data + b * p.block_size);
            if (p.slots[b].state != GC_SLOT_FREE &&
                weft_load_relaxed(&o->ref_shared) != WEFT_SHARED_DEAD)
                fn(o, &p.slots[b], arg);
        }
    }
    _weft_gc_walk_registry(w, fn, arg);
}
void _weft_gc_walk_registered(gc_heap_walk *w, uint32_t state,
                              void (*fn)(weft_object *o, gc_slot *slot, void *arg), void *arg);
/* A pool's side table: what the slot lookup needs without reading the pool
 * header. */
typedef struct pool_scratch {
    char *data;     /* the pool's first block */
    uint32_t recip; /* ceil(2^16 / cls): block index by multiplication */
    uint32_t nblocks;
    uint32_t block_size;
    gc_slot slots[];
} pool_scratch;

gc_slot *_weft_gc_slot_of_unpooled(const weft_object *o);

/* The slot of any object (NULL if outside the walk). Inline: it runs once
 * per reference a collection visits. */
WEFT_INLINE gc_slot *_weft_gc_slot_of(const weft_object *o)
{
    if (WEFT_LIKELY(_weft_arena_map_contains(o))) {
        /* Only OBJ pools of the walk have a side table. */
        weft_arena *a = (weft_arena *)_weft_arena_base_of(o);
        pool_scratch *s = a->gc_scratch[_weft_pool_index_of(o)];
        if (!s)
            return NULL;
        size_t offset = (size_t)((const char *)o - s->data);
        return &s->slots[((offset >> 4) * s->recip) >> 16];
    }
    return _weft_gc_slot_of_unpooled(o);
}
/* The generation of an object a walk passed with its slot. */
int _weft_gc_age_of(const weft_object *o, const gc_slot *slot);
/* Free the side tables; with `age`, survivors of the walk grow older. */
void _weft_gc_walk_end(gc_heap_walk *w, bool age);
/* walk_end in two halves (walk_end_stopped with `age` counts `promoted`). The first (world stopped) ages the pools, detaches
 * the tables from them (no object lookup finds a slot any more) and resets
 * the registered objects' slots; the pools' tables stay readable through
 * _weft_gc_walk_pool, with the world running, until the second frees them.
 * In between, the walking thread must not reach a safepoint: it is what
 * keeps another walk, and the release of an arena, from happening. */
void _weft_gc_walk_end_stopped(gc_heap_walk *w, bool age);
void _weft_gc_walk_release(gc_heap_walk *w);

/* Print the objects still alive, counted by type; returns how many. */
#include <stdio.h>
size_t _weft_gc_report_live(FILE *out);
/* Print up to `show` live objects held from outside the heap; returns how
 * many there are (gc.c). */
size_t _weft_gc_report_roots(FILE *out, size_t show);

/* Objects outside the pools (gc_heap.c). */
void _weft_gc_registry_init(void);
int _weft_gc_register(weft_object *o);
void _weft_gc_unregister(weft_object *o);

/* The collector (gc.c), run by the collector thread or the allocating one. */
long _weft_gc_collect_now(int gen);
/* A stop of the world that only applies every thread's buffered counts
 * (freeing what they kept alive), for the collector thread: its pause, ns. */
uint64_t _weft_gc_flush_counts(void);
/* Run fn(arg) (if any) with every other thread stopped (the caller: attached,
 * outside any blocking region); the stop's merges and flushes come first, so
 * every count is exact in fn, and what they found dead is freed once the
 * world runs. The stop's pause, in ns. */
uint64_t _weft_gc_with_world_stopped(void (*fn)(void *), void *arg);
void _weft_gc_init(void);
/* Trigger bookkeeping (collector.c): a tracked object was created or freed
 * by the calling thread. */
void _weft_gc_young_add(long delta);
/* A tracked object died in a long-lived pool (generation 2). */
void _weft_gc_old_death(void);
void _weft_gc_young_reset(void);
/* Threads: start and stop the collector thread (collector.c). */
int _weft_gc_thread_start(void);
/* True if it stopped a running collector thread. */
bool _weft_gc_thread_stop(void);
/* How many times a thread has waited for a collection to take its young
 * objects (back-pressure, threads/collector.c); for the tests. */
uint64_t _weft_gc_backlog_waits(void);
/* Called by the collection to publish which generation it ran, what it
 * promoted, and how much garbage it found (the young trigger backs off while
 * collections find none). */
void _weft_gc_note_collection(int gen, long survivors_promoted_to_old, long found);

#endif
