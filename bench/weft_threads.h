/* bench/weft_threads.h: weft bodies on Google Benchmark's threads (.threads = N).
 *
 * The harness makes its threads wait for one another: at a start barrier
 * inside the first bench_keep_running* call, at a stop barrier inside the
 * call that ends the loop, and in a join of the threads once the bodies have
 * returned. A thread that waits there while attached holds up a stop of the
 * world (a collection), since it reaches no safepoint; and a thread parked for
 * that stop may be the very one it waits for: a deadlock. So a threaded weft
 * body
 *   - calls bench_weft_enter first: the thread attaches, unless it is
 *     attached already (thread 0 is the process's main thread, attached by
 *     weft_init);
 *   - loops with bench_weft_keep_running instead of bench_keep_running_batch:
 *     the calls that may wait at a barrier wait inside a blocking region;
 *   - calls bench_weft_leave last: the threads it attached detach, and thread
 *     0 waits inside a blocking region until they have, before the harness
 *     joins them;
 *   - stops on an error with bench_weft_skip, which still passes the barriers
 *     the other threads wait at.
 * Bodies that never attach (the peers) may use the same calls: they then only
 * skip and loop. */
#ifndef WEFT_BENCH_WEFT_THREADS_H
#define WEFT_BENCH_WEFT_THREADS_H

#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <weft/runtime.h>

#include "bench.h"

/* Threads of the current run that attached in bench_weft_enter, and those of
 * them that have detached in bench_weft_leave (thread 0 resets both once all
 * have: every attach precedes the start barrier, every leave of thread 0
 * follows the stop barrier). */
static atomic_int bench_weft_attached, bench_weft_detached;

/* false (with the run skipped) if the thread cannot attach. */
static inline bool bench_weft_enter(bench_state *s, bool *attached_here)
{
    *attached_here = !weft_thread_is_attached();
    if (*attached_here && weft_thread_attach() != 0) {
        *attached_here = false;
        return false;
    }
    if (*attached_here)
        atomic_fetch_add(&bench_weft_attached, 1);
    return true;
}

/* Around a wait (barrier, join, condition) by a thread that may be
 * attached: inside a blocking region, so that a stop of the world never
 * waits for it. begin returns whether it entered one, for end. */
static inline bool bench_weft_wait_begin(void)
{
    bool attached = weft_thread_is_attached();
    if (attached)
        weft_blocking_begin();
    return attached;
}

static inline void bench_weft_wait_end(bool entered)
{
    if (entered)
        weft_blocking_end();
}

static inline bool bench_weft_keep_running(bench_state *s, int64_t n)
{
    /* Only the first call (nothing run yet) and the one after the planned
     * iterations wait at a barrier. */
    int64_t done = bench_iterations(s);
    if (__builtin_expect(done != 0 && done < bench_max_iterations(s), 1))
        return bench_keep_running_batch(s, n);
    bool waiting = bench_weft_wait_begin();
    bool more = bench_keep_running_batch(s, n);
    bench_weft_wait_end(waiting);
    return more;
}

/* Abandon the run and pass the barriers (the body then goes on to
 * bench_weft_leave, without calling bench_weft_keep_running again). */
static inline void bench_weft_skip(bench_state *s, const char *message)
{
    bench_skip(s, message);
    while (bench_weft_keep_running(s, 1)) {
    }
}

static inline void bench_weft_leave(bench_state *s, bool attached_here)
{
    if (attached_here) {
        weft_thread_detach();
        atomic_fetch_add(&bench_weft_detached, 1);
    }
    if (bench_thread_index(s) != 0)
        return;
    /* Thread 0 (attached by weft_init, and staying so) waits for every
     * thread that attached in this run to have detached. */
    bool waiting = bench_weft_wait_begin();
    while (atomic_load(&bench_weft_detached) < atomic_load(&bench_weft_attached))
        sched_yield();
    bench_weft_wait_end(waiting);
    atomic_store(&bench_weft_attached, 0);
    atomic_store(&bench_weft_detached, 0);
}

#endif
