/* threads/stw.h: stopping the world (docs/threads.md).
 *
 * The requester, an attached thread, stops every other thread: records that
 * are not running (BLOCKED, DETACHED or unused) are suspended, so their thread
 * cannot re-enter; running ones are asked to park at their next safepoint and
 * the requester waits, on a condition variable, until all have. While the
 * world is stopped the requester holds the registry lock, so no thread can
 * attach. Each stop records its time-to-safepoint and total pause.
 *
 * The requester must not wait for a grace period (synchronize_rcu) while the
 * world is stopped: parked threads are online QSBR readers. */
#ifndef WEFT_THREADS_STW_H
#define WEFT_THREADS_STW_H

#include "thread.h"

#include <time.h>

typedef struct weft_stw_times {
    uint64_t start_ns;     /* when the stop was requested (monotonic) */
    uint64_t safepoint_ns; /* request -> every other thread parked or suspended */
    uint64_t pause_ns;     /* request -> world resumed */
} weft_stw_times;

/* Stop every other thread; the caller must be attached. */
void _weft_stop_the_world(weft_stw_times *times);
void _weft_start_the_world(weft_stw_times *times);
bool _weft_world_is_stopped(void);
/* How many stops of the world have ended so far. */
uint64_t _weft_stw_epoch(void);
/* A running thread asked to stop parks here until the world resumes. */
void _weft_stw_park(weft_thread *t);

/* Park if a stop of the world is asked for: in long loops, at points that
 * hold no half-made state (between the frees of a deferred-deallocation
 * loop, between the rounds of a detach), so that time-to-safepoint does not
 * grow with them. */
static inline void _weft_poll_stop(weft_thread *t)
{
    if (WEFT_UNLIKELY(weft_load_relaxed(&t->xbreaker) & WEFT_BREAK_STOP))
        _weft_stw_park(t);
}

/* The same, every 256th step i of a loop that releases a container's
 * references (its death, or its clear once its storage is detached): a
 * list of a million ints dies in milliseconds. What is not released yet
 * counts as held from outside, which a collection treats as a root. */
static inline void _weft_poll_stop_every(size_t i)
{
    if (WEFT_UNLIKELY((i & 255) == 255) && _weft_tls_thread)
        _weft_poll_stop(_weft_tls_thread);
}

uint64_t _weft_monotonic_ns(void);
/* CLOCK_REALTIME in ns from now: a deadline for pthread_cond_timedwait on a
 * condition variable with the default clock. */
struct timespec _weft_realtime_deadline(uint64_t ns);
/* The same on another clock (a condition variable set to wait on it). */
struct timespec _weft_clock_deadline(clockid_t clock, uint64_t ns);

/* How long a stop waits for a thread before it names it on stderr (10 s;
 * tests shorten it). */
extern uint64_t _weft_stw_stall_report_ns;
extern WEFT_ATOMIC(uint64_t) _weft_stw_stalls_reported;

#endif
