/* threads/stw.c: stop-the-world (stw.h).
 *
 * Synchronisation: `stw_mutex` guards the park count and the resume epoch;
 * parked threads wait on `resumed` for the epoch to change; the requester
 * waits on `parked`. A record's STOP bit and its suspension are set under the
 * record's own lock, against which the record's thread changes its state, so
 * every thread is either seen running (and will park) or seen not running
 * (and is held suspended). Only one stop at a time: `requester_lock`, taken
 * inside a blocking region so that a second requester can itself be stopped.
 *
 * A parked thread first spins on the resume epoch for up to PARK_SPIN_NS
 * before it sleeps, if the stopped threads and the requester fit the
 * processors: a young collection's pause is tens of microseconds, about what
 * waking a sleeping thread takes, so sleeping nearly doubled what a stop cost
 * a mutator. With more threads than processors they sleep at once: a spinner
 * would take a processor from the collection it waits for.
 */
#include "stw.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <urcu/arch.h>
#include <weft/runtime.h>

#define PARK_SPIN_NS 200000 /* 200 us */
#define STALL_REPORT_NS (10 * 1000000000ull)

static pthread_mutex_t requester_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t stw_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t parked_cond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t resumed_cond = PTHREAD_COND_INITIALIZER;
static unsigned parked;        /* stw_mutex */
static WEFT_ATOMIC(uint64_t) resume_epoch; /* written under stw_mutex */
static WEFT_ATOMIC(bool) park_may_spin;     /* this stop's threads fit the processors */
static WEFT_ATOMIC(bool) stopped;
uint64_t _weft_stw_stall_report_ns = STALL_REPORT_NS;
WEFT_ATOMIC(uint64_t) _weft_stw_stalls_reported;

uint64_t _weft_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct timespec _weft_realtime_deadline(uint64_t ns)
{
    return _weft_clock_deadline(CLOCK_REALTIME, ns);
}

struct timespec _weft_clock_deadline(clockid_t clock, uint64_t ns)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    ns += (uint64_t)ts.tv_nsec;
    ts.tv_sec += (time_t)(ns / 1000000000u);
    ts.tv_nsec = (long)(ns % 1000000000u);
    return ts;
}

bool _weft_world_is_stopped(void)
{
    return weft_load_acquire(&stopped);
}

void _weft_stw_park(weft_thread *t)
{
    pthread_mutex_lock(&stw_mutex);
    if (!(weft_load_acquire(&t->xbreaker) & WEFT_BREAK_STOP)) {
        pthread_mutex_unlock(&stw_mutex);
        return;
    }
    uint64_t epoch = weft_load_relaxed(&resume_epoch);
    parked++;
    t->stw_parked = true;
    pthread_cond_signal(&parked_cond);
    if (weft_load_relaxed(&park_may_spin)) {
        pthread_mutex_unlock(&stw_mutex);
        uint64_t deadline = _weft_monotonic_ns() + PARK_SPIN_NS;
        for (unsigned i = 1;; i++) {
            if (weft_load_acquire(&resume_epoch) != epoch)
                return;
            caa_cpu_relax();
            if (i % 64 == 0 && _weft_monotonic_ns() > deadline)
                break;
        }
        pthread_mutex_lock(&stw_mutex);
    }
    while (weft_load_relaxed(&resume_epoch) == epoch)
        pthread_cond_wait(&resumed_cond, &stw_mutex);
    pthread_mutex_unlock(&stw_mutex);
}

/* Called by the requester only, under requester_lock. */
static long online_processors(void)
{
    static long n;
    if (!n) {
        long got = sysconf(_SC_NPROCESSORS_ONLN);
        n = got > 0 ? got : 1;
    }
    return n;
}

uint64_t _weft_stw_epoch(void)
{
    return weft_load_relaxed(&resume_epoch);
}

/* Under stw_mutex, with the registry locked by the requester. */
static void report_stall(unsigned waiting)
{
    fprintf(stderr,
            "weft: a stop of the world has waited %.1f s for %u of %u running threads "
            "to reach a safepoint; still running:",
            (double)_weft_stw_stall_report_ns / 1e9, waiting - parked, waiting);
    uint32_t limit = _weft_thread_index_limit();
    for (uint32_t i = 1; i < limit; i++) {
        weft_thread *t = _weft_thread_record(i);
        if (t->stw_parking && !t->stw_parked)
            fprintf(stderr, " thread %u (tid %d)", t->index, (int)t->os_tid);
    }
    fprintf(stderr, "\nweft: an attached thread must wait (join, lock, sleep, I/O) inside "
                    "weft_blocking_begin/end; if what it waits for is parked, this never ends\n");
}

/* An attached thread blocked outside a blocking region holds up the stop
 * until it returns, and for ever if it waits on a thread that is parked:
 * the requester names it, once per stop, after _weft_stw_stall_report_ns. */
static void wait_for_parkers(unsigned waiting)
{
    struct timespec deadline = _weft_realtime_deadline(_weft_stw_stall_report_ns);
    bool reported = false;
    pthread_mutex_lock(&stw_mutex);
    while (parked < waiting) {
        if (reported) {
            pthread_cond_wait(&parked_cond, &stw_mutex);
        } else if (pthread_cond_timedwait(&parked_cond, &stw_mutex, &deadline) == ETIMEDOUT &&
                   parked < waiting) {
            report_stall(waiting);
            reported = true;
            weft_fetch_add_relaxed(&_weft_stw_stalls_reported, 1);
        }
    }
    pthread_mutex_unlock(&stw_mutex);
}

void _weft_stop_the_world(weft_stw_times *times)
{
    weft_thread *self = _weft_thread_current_or_die("stop-the-world", NULL);
    _weft_fork_check_ghosts("a stop of the world");
    weft_blocking_begin();
    pthread_mutex_lock(&requester_lock);
    weft_blocking_end();
    times->start_ns = _weft_monotonic_ns();
    _weft_registry_lock();
    weft_store_release(&stopped, true);
    /* Before any STOP bit, so that no parker reads the last stop's answer:
     * the records (indices below limit, one of them ours) bound the threads. */
    weft_store_relaxed(&park_may_spin, (long)_weft_thread_index_limit() - 1 <= online_processors());
    unsigned waiting = 0;
    uint32_t limit = _weft_thread_index_limit();
    for (uint32_t i = 1; i < limit; i++) {
        weft_thread *t = _weft_thread_record(i);
        if (t == self)
            continue;
        pthread_mutex_lock(&t->lock);
        if (weft_load_relaxed(&t->xstate) == WEFT_THREAD_ATTACHED) {
            atomic_fetch_or_explicit(&t->xbreaker, WEFT_BREAK_STOP, memory_order_release);
            t->stw_parking = true;
            waiting++;
        } else {
            t->suspend_count++;
            t->stw_suspended = true;
        }
        pthread_mutex_unlock(&t->lock);
    }
    wait_for_parkers(waiting);
    times->safepoint_ns = _weft_monotonic_ns() - times->start_ns;
}

void _weft_start_the_world(weft_stw_times *times)
{
    uint32_t limit = _weft_thread_index_limit();
    for (uint32_t i = 1; i < limit; i++) {
        weft_thread *t = _weft_thread_record(i);
        if (t->stw_parking) {
            t->stw_parking = false;
            t->stw_parked = false;
            atomic_fetch_and_explicit(&t->xbreaker, ~WEFT_BREAK_STOP, memory_order_release);
        }
        if (t->stw_suspended) {
            t->stw_suspended = false;
            pthread_mutex_lock(&t->lock);
            if (--t->suspend_count == 0)
                pthread_cond_broadcast(&t->released);
            pthread_mutex_unlock(&t->lock);
        }
    }
    pthread_mutex_lock(&stw_mutex);
    parked = 0;
    weft_store_release(&resume_epoch, weft_load_relaxed(&resume_epoch) + 1);
    weft_store_release(&stopped, false);
    pthread_cond_broadcast(&resumed_cond);
    pthread_mutex_unlock(&stw_mutex);
    _weft_registry_unlock();
    times->pause_ns = _weft_monotonic_ns() - times->start_ns;
    pthread_mutex_unlock(&requester_lock);
}
