/* weft/gc.h: the cycle collector, its control and statistics (Python's gc).
 *
 * Reference counting frees an object the moment its count reaches zero; the
 * collector finds what it cannot: groups of objects that reference each other
 * and nothing else. It runs on a background thread started by weft_init (or,
 * configured off, on the allocating thread), generationally, with CPython's
 * defaults: a young collection after 2000 more allocations than frees of
 * tracked objects, a generation-1 collection every 10 young ones, a full one
 * every 10 of those when the objects waiting to become long-lived exceed 25%
 * of the long-lived total.
 *
 * Semantics are CPython's (PEP 442): a finalizer runs at most once; an
 * object a finalizer resurrects survives; weakrefs to garbage are cleared
 * before any finalizer runs, and their callbacks run only for weakrefs that
 * are themselves not garbage; `clear` breaks the remaining cycles.
 * Finalizers and callbacks run on the collector thread after the world has
 * resumed; an error they leave is reported through the unraisable hook
 * (weft/error.h), never left behind for the thread that ran them. */
#ifndef WEFT_GC_H
#define WEFT_GC_H

#include <stddef.h>
#include <stdint.h>
#include <weft/export.h>
#include <weft/object.h>

WEFT_BEGIN_DECLS

#define WEFT_GC_GENERATIONS 3

WEFT_API void weft_gc_enable(void);
WEFT_API void weft_gc_disable(void);
WEFT_API int weft_gc_is_enabled(void);

/* Collect generations 0..gen (0, 1 or 2; -1 for 2) and wait for it. Returns
 * the number of unreachable objects found (less those a finalizer
 * or callback resurrected), or -1 (WEFT_EINVAL for a bad generation,
 * WEFT_ESTATE if the thread is not attached or is inside a blocking region).
 * Works while the collector is disabled (as gc.collect does). Called from a
 * finalizer or callback of the calling thread's own collection, it returns 0
 * at once (as gc.collect does). With the collector thread off, it waits for
 * another thread's collection to end before it runs its own. */
WEFT_API long weft_gc_collect(int gen);

/* The defaults are CPython's (2000, 10, 10), with one difference: while
 * collections find no garbage, the young count that starts the next one
 * doubles, up to 8 x threshold0, and it returns to threshold0 when one finds
 * garbage (docs/collector.md). Thresholds set here are exact. */
WEFT_API void weft_gc_set_threshold(long threshold0, long threshold1, long threshold2);
WEFT_API void weft_gc_get_threshold(long *threshold0, long *threshold1, long *threshold2);
/* The counts that the thresholds are compared with: young objects (tracked
 * allocations minus frees since the last collection), young collections
 * since the last generation-1 one, generation-1 collections since the last
 * full one. */
WEFT_API void weft_gc_get_count(long *count0, long *count1, long *count2);

typedef struct weft_gc_gen_stats {
    uint64_t collections;
    uint64_t collected;     /* unreachable objects found */
    uint64_t uncollectable; /* found, but could not be freed (no clear) */
    /* Stop-the-world pauses and time-to-safepoint of this generation's
     * collections, over the last 1024 of them, in nanoseconds. */
    uint64_t pause_p50_ns, pause_p99_ns, pause_max_ns;
    uint64_t safepoint_p99_ns, safepoint_max_ns;
} weft_gc_gen_stats;

WEFT_API void weft_gc_get_stats(weft_gc_gen_stats out[WEFT_GC_GENERATIONS]);

WEFT_API int weft_gc_is_tracked(const weft_object *o);
/* Start or stop considering an object (of a WEFT_TYPE_GC type) for collection. */
WEFT_API int weft_gc_track(weft_object *o);
WEFT_API int weft_gc_untrack(weft_object *o);

/* The three calls below, and weft_gc_freeze and weft_gc_unfreeze, stop the
 * world, as a collection does: inside a blocking region they do nothing
 * (NULL) and set WEFT_ESTATE; never to be called from a type's
 * traverse, nor while holding a lock that another attached thread waits for
 * outside a blocking region (the stop would wait for that thread forever). */
/* A new list of the tracked objects that refer to target. */
WEFT_API weft_object *weft_gc_get_referrers(weft_object *target);
/* A new list of the objects o refers to (through its type's traverse, run
 * with the world stopped: other threads may be changing o). */
WEFT_API weft_object *weft_gc_get_referents(weft_object *o);
/* A new list of the tracked objects of generation gen alone (-1: all).
 * This and weft_gc_get_referrers leave out the garbage of a collection that
 * is running (as CPython's leave out its unreachable list), even when
 * called from its finalizers or callbacks. An object is tracked from its
 * creation: another thread's call may list one whose maker is still
 * writing its fields. */
WEFT_API weft_object *weft_gc_get_objects(int gen);

/* Move every tracked object to a permanent generation that collections
 * ignore (e.g. after start-up, before forking workers); unfreeze undoes it. */
WEFT_API void weft_gc_freeze(void);
WEFT_API void weft_gc_unfreeze(void);
WEFT_API size_t weft_gc_get_freeze_count(void);

/* Callbacks around each collection. phase is "start" or "stop". */
typedef struct weft_gc_info {
    int generation;
    long collected;
    long uncollectable;
    uint64_t pause_ns;
    uint64_t safepoint_ns;
} weft_gc_info;
typedef void (*weft_gc_callback)(const char *phase, const weft_gc_info *info, void *arg);
WEFT_API int weft_gc_add_callback(weft_gc_callback cb, void *arg);
WEFT_API int weft_gc_remove_callback(weft_gc_callback cb, void *arg);

/* Debug flags, as Python's gc.DEBUG_*: printed on stderr. */
#define WEFT_GC_DEBUG_STATS (1u << 0)
#define WEFT_GC_DEBUG_COLLECTABLE (1u << 1)
#define WEFT_GC_DEBUG_UNCOLLECTABLE (1u << 2)
#define WEFT_GC_DEBUG_SAVEALL (1u << 5) /* keep garbage in weft_gc_garbage() */
WEFT_API void weft_gc_set_debug(unsigned flags);
WEFT_API unsigned weft_gc_get_debug(void);
/* A new reference to the list of garbage kept by SAVEALL and of objects
 * found unreachable but impossible to free. */
WEFT_API weft_object *weft_gc_garbage(void);

WEFT_END_DECLS

#endif
