/* weft/runtime.h: starting and stopping weft, and the threads that use it.
 *
 * A thread must attach before it touches objects and detach before it exits.
 * Around a call that may block (I/O, sleeping, waiting on a lock), it leaves
 * the runtime with weft_blocking_begin/end, so that other threads never wait
 * for it: while it is blocked, another thread may merge reference counts on its
 * behalf (and, with the collector, stop the world without it).
 *
 * Thread states (threads/thread.h has the diagram):
 *   DETACHED   not in the runtime; may not touch objects.
 *   ATTACHED   running weft code; polls safepoints.
 *   BLOCKED    attached but inside a blocking region; may not touch objects.
 *   SUSPENDED  held by another thread (a merge on its behalf, or a stop of the
 *              world); the thread cannot re-enter ATTACHED until released.
 */
#ifndef WEFT_RUNTIME_H
#define WEFT_RUNTIME_H

#include <stddef.h>
#include <stdint.h>
#include <weft/export.h>

WEFT_BEGIN_DECLS

typedef struct weft_config {
    /* Start the background collector thread (default 1). WEFT_GC_THREAD=0/1. */
    int gc_thread;
    /* The report of objects still alive at weft_shutdown, by type (and by
     * allocation site when tracing is on): -1 (default) print it when
     * anything is alive, 0 never. WEFT_LEAK_REPORT=0/1. */
    int leak_report;
} weft_config;

/* The defaults, with WEFT_* environment variables applied. */
WEFT_API void weft_config_default(weft_config *out);

/* Start the runtime: NULL for the defaults. The calling thread is attached.
 * Returns -1 (WEFT_ESTATE) if weft is already running. */
WEFT_API int weft_init(const weft_config *config);
/* Stop the runtime: the calling thread must be the only one attached (else
 * -1 with WEFT_ESTATE, and weft keeps running); it is detached. From the
 * moment it is found alone, no thread can attach (a finalizer's thread, say)
 * until the next weft_init. Returns the number of objects still alive
 * (immortals excepted). */
WEFT_API long weft_shutdown(void);
/* fork(): the child of a fork made by the only attached thread (the
 * collector thread aside) has a whole runtime, the forking thread attached
 * and a collector thread of its own; the parent's collector thread is
 * stopped and started again around the fork. After any other fork of a
 * running weft the child may only exec or _exit: its first stop of the
 * world ends the process with a message (docs/threads.md, "Fork"). */
WEFT_API int weft_is_initialized(void);

/* Enter the runtime. -1 with WEFT_ESTATE if weft is not initialized, is
 * shutting down, or the thread is already attached. */
WEFT_API int weft_thread_attach(void);
/* Leave the runtime for good (until the next attach): merges queued
 * reference counts and gives back the thread's pools. */
WEFT_API int weft_thread_detach(void);
WEFT_API int weft_thread_is_attached(void);
/* The calling thread's index (1..): owner of the objects it creates; 0 if the
 * thread is not attached. */
WEFT_API unsigned weft_thread_index(void);

/* A point where the thread may do deferred work: merge reference counts that
 * other threads queued to it, report a quiescent state, park for a stop. */
WEFT_API void weft_safepoint(void);

/* Container locks start biased to the thread that made the container: it
 * locks them with plain stores. The first other thread that locks one
 * revokes the bias, which costs a system call that interrupts the other
 * running threads (docs/containers.md). Whether the bias is on (after
 * weft_init: WEFT_LOCK_BIAS, and a kernel with private expedited
 * membarrier), and how many revocations the process has made. */
WEFT_API int weft_lock_bias_enabled(void);
WEFT_API uint64_t weft_lock_revocations(void);

/* An object that threads other than its owner keep reading out of lists and
 * dicts stops being counted in its header: every thread counts its own
 * references to it in a table of its own, so that reading threads do not
 * write the object's cache line (docs/refcount.md, "Objects that many
 * threads read"). Its death may then wait for the next stop of the world,
 * or for a reading thread to detach. Whether this is on (after weft_init:
 * WEFT_COUNT_BUFFERS), and how many objects have been counted so. */
WEFT_API int weft_count_buffers_enabled(void);
WEFT_API uint64_t weft_count_buffered_objects(void);
/* Those deaths need stops of the world: when no collection stopped it for a
 * while (100 ms, or ten times the last such stop's pause) and some thread
 * still counts an object in its table, the collector thread stops the world
 * only to flush the tables. Such stops since the process started, the sum
 * of their pauses and the longest, in nanoseconds (a collection's own stops
 * are in weft_gc_get_stats). */
typedef struct weft_count_flush_stats {
    uint64_t stops, pause_sum_ns, pause_max_ns;
} weft_count_flush_stats;
WEFT_API void weft_count_buffer_flushes(weft_count_flush_stats *out);

/* Leave the runtime around a blocking call. Pairs must nest properly and not
 * touch objects in between. */
WEFT_API void weft_blocking_begin(void);
WEFT_API void weft_blocking_end(void);

/* Free a mem-domain block once every thread has passed a quiescent state, so
 * that a concurrent reader that loaded a pointer to it can finish reading. */
WEFT_API void weft_defer_free(void *block);
/* Wait until every block deferred so far has been freed. An attached thread
 * waits inside a blocking region (so a stop of the world does not wait for
 * it): entering it is a safepoint. */
WEFT_API void weft_defer_barrier(void);

WEFT_END_DECLS

#endif
