/* threads/collector.c: when to collect, and the thread that does it.
 *
 * Trigger: each thread counts its tracked allocations minus frees locally and
 * publishes them to one shared count in batches of WEFT_GC_YOUNG_BATCH (thread.h), so the hot
 * paths touch no shared cache line; the deaths of a collection's garbage do
 * not count (gc.c untracks it first), since they make no room among the
 * young objects. When the
 * shared count exceeds threshold0, a young collection is requested. Generations follow CPython:
 * every threshold1 young collections a generation-1 one; every threshold2 of
 * those a full one, but only when the long-lived objects have grown by 25%
 * since the last full collection (so the total work of the collector stays
 * linear in the allocation volume). Unlike CPython, which counts the objects
 * that became long-lived (pending), the growth is net: pending minus the
 * tracked objects that died in long-lived pools meanwhile. A program that
 * promotes many objects which then die by reference counting (binary-trees'
 * trees) no longer pays a full collection per quarter of its heap promoted;
 * cyclic garbage never dies that way, so it still counts. Because freed
 * long-lived objects can make room for garbage without any net growth, a
 * full collection also runs once the gross count reaches
 * LONG_LIVED_PROMOTED_MAX times the long-lived total.
 *
 * Backoff: with the default thresholds, a collection that finds no garbage
 * doubles the young count that starts the next one, up to YOUNG_BACKOFF_MAX
 * (8) x threshold0, and one that finds garbage brings it back to threshold0.
 * A program whose young objects live on (a tree being built) no longer
 * examines them every threshold0 allocations to find nothing, and one that
 * makes cyclic garbage keeps threshold0's short pauses. The cap keeps a young
 * pause within 1 ms: 16 000 live young candidates take about 0.5 ms
 * (binary-trees' young pauses, p50). Thresholds the program sets are exact.
 *
 * Back-pressure: a background collector can fall behind threads that
 * allocate faster than it collects, and a young collection's pause grows with
 * what it examines. A thread that publishes a young count past
 * 1.5 x the young trigger therefore waits (in a blocking region, so it
 * never delays a stop of the world) until a collection has taken the young
 * objects as its candidates (the young reset), 20 ms at most. The collector thread itself,
 * and code running inside a deallocation, never wait.
 *
 * The collector thread is an attached weft thread that sleeps on a condition
 * variable; finalizers and weakref callbacks run on it. Without it
 * (weft_config.gc_thread = 0) the allocating thread collects when the
 * trigger fires, unless it is inside a deallocation.
 */
#include "thread.h"
#include "stw.h"
#include "error.h"
#include "gc_internal.h"
#include "internal/futex.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <time.h>
#include <weft/gc.h>
#include <weft/runtime.h>

#define LONG_LIVED_PROMOTED_MAX 4
#define YOUNG_BACKOFF_MAX 8 /* the young trigger grows to 8 x threshold0 at most */
#define BACKLOG_MAX_WAIT_NS 20000000 /* 20 ms */

static WEFT_ATOMIC(long) young_count; /* published tracked allocations - frees */
static WEFT_ATOMIC(int) enabled = 1;
static WEFT_ATOMIC(long) threshold[WEFT_GC_GENERATIONS] = {2000, 10, 10};
/* The young trigger is threshold0 x young_backoff (collector_lock for
 * writes). With thresholds set by the program it stays exact. */
static WEFT_ATOMIC(long) young_backoff = 1;
static WEFT_ATOMIC(bool) thresholds_exact;

/* Collector state: collector_lock. */
static pthread_mutex_t collector_lock = PTHREAD_MUTEX_INITIALIZER;
/* On CLOCK_MONOTONIC (the flush period must not follow steps of the wall
 * clock): initialized once, before the first collector thread starts; only
 * a running collector thread waits on it or is signalled through it. */
static pthread_cond_t work_cond;
static pthread_once_t work_cond_once = PTHREAD_ONCE_INIT;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static long count1, count2;             /* young / gen-1 collections since the older one */
static long long_lived_total, long_lived_pending;
static WEFT_ATOMIC(long) old_deaths; /* published deaths in generation-2 pools since the last full */
static int requested_gen = -1;          /* highest generation asked for, -1: none */
static uint64_t requests, completed;    /* sequence numbers */
static long last_found;
static bool thread_running, thread_stop;
/* Incremented by every stop of the collector thread: a weft_gc_collect
 * whose request the stopped thread left unserved sees it change. */
static uint64_t collector_runs;
enum { ATTACH_PENDING, ATTACH_DONE, ATTACH_FAILED };
static int collector_attach; /* the starting thread's handshake */
static pthread_t collector_thread;
/* Collections being run (on any thread), plus one while the collector
 * thread holds a request it took (counted under collector_lock as it takes
 * it): while it is above zero, the young count past the trigger is a
 * running collection's to reset. A count, not a flag: with gc_thread off,
 * threads run their collections at once. */
static WEFT_ATOMIC(int) collecting;
/* This thread runs a collection: a weft_gc_collect from its finalizers or
 * callbacks returns 0 at once (CPython's rule), and no trigger starts one. */
static __thread bool in_collection;
/* With no collector thread, collections run on the threads that start them,
 * one at a time (collector_lock): a weft_gc_collect that overlapped another
 * thread's collection found that collection's garbage held by it, and
 * returned with it still alive. An explicit one waits, in a blocking region
 * (as it waits for the collector thread otherwise); a trigger skips. */
static int own_collections;
static WEFT_ATOMIC(bool) collector_on;   /* the collector thread runs */
static WEFT_ATOMIC(uint32_t) reset_epoch; /* young resets; a futex word */
static WEFT_ATOMIC(uint32_t) backlog_waiters;
static WEFT_ATOMIC(uint64_t) backlog_waits; /* tests: _weft_gc_backlog_waits */
static __thread bool is_collector_thread;

void weft_gc_enable(void)
{
    weft_store_relaxed(&enabled, 1);
}

void weft_gc_disable(void)
{
    weft_store_relaxed(&enabled, 0);
}

int weft_gc_is_enabled(void)
{
    return weft_load_relaxed(&enabled);
}

void weft_gc_set_threshold(long t0, long t1, long t2)
{
    pthread_mutex_lock(&collector_lock);
    weft_store_relaxed(&thresholds_exact, true);
    weft_store_relaxed(&young_backoff, 1);
    pthread_mutex_unlock(&collector_lock);
    weft_store_relaxed(&threshold[0], t0);
    weft_store_relaxed(&threshold[1], t1);
    weft_store_relaxed(&threshold[2], t2);
}

/* The young count that triggers a collection (0: never). */
static long young_trigger(void)
{
    long t0 = weft_load_relaxed(&threshold[0]), backoff = weft_load_relaxed(&young_backoff);
    return t0 > LONG_MAX / backoff ? LONG_MAX : t0 * backoff;
}

void weft_gc_get_threshold(long *t0, long *t1, long *t2)
{
    *t0 = weft_load_relaxed(&threshold[0]);
    *t1 = weft_load_relaxed(&threshold[1]);
    *t2 = weft_load_relaxed(&threshold[2]);
}

void weft_gc_get_count(long *c0, long *c1, long *c2)
{
    pthread_mutex_lock(&collector_lock);
    *c0 = weft_load_relaxed(&young_count);
    *c1 = count1;
    *c2 = count2;
    pthread_mutex_unlock(&collector_lock);
}

/* The generation an automatic collection should cover (collector_lock). */
static int choose_generation_locked(void)
{
    long grown = long_lived_pending - weft_load_relaxed(&old_deaths);
    bool long_lived_due = grown > long_lived_total / 4 ||
                          long_lived_pending > LONG_LIVED_PROMOTED_MAX * long_lived_total;
    if (count2 >= weft_load_relaxed(&threshold[2]) - 1 &&
        count1 >= weft_load_relaxed(&threshold[1]) && long_lived_due)
        return 2;
    if (count1 >= weft_load_relaxed(&threshold[1]))
        return 1;
    return 0;
}

/* Called with the world stopped, when the candidates are fixed: what is
 * allocated from now on counts towards the next collection. */
void _weft_gc_young_reset(void)
{
    weft_store_relaxed(&young_count, 0);
    atomic_fetch_add(&reset_epoch, 1); /* seq_cst: against the waiter count */
    if (weft_load_seq_cst(&backlog_waiters))
        _weft_futex_wake_all(&reset_epoch);
}

void _weft_gc_note_collection(int gen, long survivors, long found)
{
    pthread_mutex_lock(&collector_lock);
    if (!weft_load_relaxed(&thresholds_exact)) {
        long backoff = weft_load_relaxed(&young_backoff);
        backoff = found > 0 ? 1 : backoff < YOUNG_BACKOFF_MAX ? backoff * 2 : backoff;
        weft_store_relaxed(&young_backoff, backoff);
    }
    if (gen == 0) {
        count1++;
    } else if (gen == 1) {
        count1 = 0;
        count2++;
        long_lived_pending += survivors;
    } else {
        count1 = count2 = 0;
        long_lived_total = survivors;
        long_lived_pending = 0;
        weft_store_relaxed(&old_deaths, 0);
    }
    pthread_mutex_unlock(&collector_lock);
}

static uint64_t request_locked(int gen);

static bool young_due(void)
{
    long trigger = young_trigger();
    return weft_load_relaxed(&enabled) && trigger > 0 &&
           weft_load_relaxed(&young_count) > trigger;
}

static long run_collection(int gen)
{
    weft_fetch_add_relaxed(&collecting, 1);
    in_collection = true;
    long found = _weft_gc_collect_now(gen);
    in_collection = false;
    weft_fetch_sub_relaxed(&collecting, 1);
    return found;
}

/* Run a collection here, as the only one running on its own thread (the
 * caller counted it in own_collections under collector_lock). */
static long run_own_collection(int gen)
{
    long found = run_collection(gen);
    pthread_mutex_lock(&collector_lock);
    own_collections--;
    pthread_cond_broadcast(&done_cond);
    pthread_mutex_unlock(&collector_lock);
    return found;
}

/* Buffered counts (threads/countbuf.c) of objects whose last reference went
 * while another thread still had a pin on them wait for a stop of the world.
 * With pins outstanding and no stop for a whole period, the collector thread
 * makes one that only flushes them. The period is 100 ms, or
 * FLUSH_PAUSE_RATIO times the last such stop's pause if longer: a flush
 * costs in proportion to the pins (and its time to safepoint to the longest
 * stretch a thread runs without a safepoint), so a fixed period could keep
 * the world stopped most of the time (it did under ThreadSanitizer: 389
 * flushes stopped tests/containers_threads for 69 of its 110 s). */
#define COUNTS_FLUSH_PERIOD_NS 100000000ull /* 100 ms */
#define FLUSH_PAUSE_RATIO 10
static uint64_t flush_period_ns = COUNTS_FLUSH_PERIOD_NS; /* collector thread */
/* The flush stops made so far, their pauses' sum and largest: the pacing
 * above bounds the time the world spends in them (weft_count_buffer_flushes). */
static WEFT_ATOMIC(uint64_t) flush_stops, flush_pause_sum_ns, flush_pause_max_ns;

static void work_cond_init(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (pthread_cond_init(&work_cond, &attr) != 0)
        _weft_fatal("cannot initialize the collector's condition variable");
    pthread_condattr_destroy(&attr);
}

/* Wait (collector_lock held) for a request, or for a period to pass; true if
 * the period passed with pins outstanding and no stop of the world in it. */
static bool wait_for_work_locked(uint64_t *epoch_seen)
{
    if (!weft_count_buffers_enabled()) {
        pthread_cond_wait(&work_cond, &collector_lock);
        return false;
    }
    struct timespec deadline = _weft_clock_deadline(CLOCK_MONOTONIC, flush_period_ns);
    if (pthread_cond_timedwait(&work_cond, &collector_lock, &deadline) != ETIMEDOUT)
        return false;
    uint64_t epoch = _weft_stw_epoch();
    bool due = epoch == *epoch_seen && _weft_countbuf_pins_outstanding();
    *epoch_seen = epoch;
    return due;
}

static void note_flush_stop(uint64_t pause_ns)
{
    weft_fetch_add_relaxed(&flush_stops, 1);
    weft_fetch_add_relaxed(&flush_pause_sum_ns, pause_ns);
    if (pause_ns > weft_load_relaxed(&flush_pause_max_ns)) /* one writer */
        weft_store_relaxed(&flush_pause_max_ns, pause_ns);
}

void weft_count_buffer_flushes(weft_count_flush_stats *out)
{
    if (!out) {
        _weft_set_error(WEFT_EINVAL, "weft_count_buffer_flushes: NULL");
        return;
    }
    out->stops = weft_load_relaxed(&flush_stops);
    out->pause_sum_ns = weft_load_relaxed(&flush_pause_sum_ns);
    out->pause_max_ns = weft_load_relaxed(&flush_pause_max_ns);
}

/* Rule: collector_lock is never held by an attached thread that may park
 * for a stop of the world (a thread waiting for the lock would never reach a
 * safepoint). The collector waits for work inside a blocking region. */
static void *collector_main(void *arg)
{
    (void)arg;
    bool attached = weft_thread_attach() == 0;
    pthread_mutex_lock(&collector_lock);
    collector_attach = attached ? ATTACH_DONE : ATTACH_FAILED;
    pthread_cond_broadcast(&done_cond);
    pthread_mutex_unlock(&collector_lock);
    if (!attached)
        return NULL;
    is_collector_thread = true;
    uint64_t epoch_seen = _weft_stw_epoch();
    for (;;) {
        weft_blocking_begin();
        pthread_mutex_lock(&collector_lock);
        bool flush_due = false;
        while (requested_gen < 0 && !thread_stop && !flush_due)
            flush_due = wait_for_work_locked(&epoch_seen);
        bool stop = thread_stop;
        int gen = requested_gen;
        uint64_t seq = requests;
        requested_gen = -1;
        if (gen >= 0 && !stop)
            weft_fetch_add_relaxed(&collecting, 1); /* before a trigger sees no request */
        pthread_mutex_unlock(&collector_lock);
        weft_blocking_end();
        if (stop)
            break;
        if (gen < 0) { /* flush_due */
            uint64_t pause_ns = _weft_gc_flush_counts();
            flush_period_ns = pause_ns * FLUSH_PAUSE_RATIO > COUNTS_FLUSH_PERIOD_NS
                                  ? pause_ns * FLUSH_PAUSE_RATIO
                                  : COUNTS_FLUSH_PERIOD_NS;
            note_flush_stop(pause_ns);
            _weft_freelists_flush(_weft_tls_thread); /* as after a collection, below */
            epoch_seen = _weft_stw_epoch();
            continue;
        }
        long found = run_collection(gen);
        weft_fetch_sub_relaxed(&collecting, 1); /* the request's */
        /* Garbage that died here filled this thread's freelists; it makes no
         * objects to revive them, so they would pin mutators' pools. */
        _weft_freelists_flush(_weft_tls_thread);
        pthread_mutex_lock(&collector_lock);
        last_found = found;
        completed = seq;
        /* What was allocated during the collection may be past the trigger
         * already, with its threads waiting on the backlog: go on. */
        if (requested_gen < 0 && young_due())
            request_locked(choose_generation_locked());
        pthread_cond_broadcast(&done_cond);
        pthread_mutex_unlock(&collector_lock);
    }
    weft_thread_detach();
    return NULL;
}

/* Starts the collector thread and waits until it has attached (the caller
 * is attached: it waits in a blocking region, since the attach waits out a
 * stop of the world). A thread that could not attach is joined, and
 * collections go on running on the allocating threads. */
/* Starts and stops of the collector thread, one at a time (weft_shutdown,
 * a fork's handlers and weft_init may race): two stops joined one thread,
 * and two starts left one thread unjoined. Waited for outside the runtime:
 * a stop joins a thread that may need a stop of the world. */
static pthread_mutex_t lifecycle_lock = PTHREAD_MUTEX_INITIALIZER;

static void lifecycle_acquire(void)
{
    bool attached = weft_thread_is_attached();
    if (attached)
        weft_blocking_begin();
    pthread_mutex_lock(&lifecycle_lock);
    if (attached)
        weft_blocking_end();
}

static int thread_start_locked(void);
static bool thread_stop_locked(void);

int _weft_gc_thread_start(void)
{
    lifecycle_acquire();
    pthread_mutex_lock(&collector_lock);
    bool running = thread_running;
    pthread_mutex_unlock(&collector_lock);
    int rc = running ? 0 : thread_start_locked();
    pthread_mutex_unlock(&lifecycle_lock);
    return rc;
}

bool _weft_gc_thread_stop(void)
{
    lifecycle_acquire();
    bool stopped = thread_stop_locked();
    pthread_mutex_unlock(&lifecycle_lock);
    return stopped;
}

static int thread_start_locked(void)
{
    pthread_once(&work_cond_once, work_cond_init);
    pthread_mutex_lock(&collector_lock);
    thread_stop = false;
    requested_gen = -1;
    collector_attach = ATTACH_PENDING;
    int rc = pthread_create(&collector_thread, NULL, collector_main, NULL);
    pthread_mutex_unlock(&collector_lock);
    if (rc != 0) {
        _weft_set_error(WEFT_ENOMEM, "cannot start the collector thread");
        return -1;
    }
    weft_blocking_begin();
    pthread_mutex_lock(&collector_lock);
    while (collector_attach == ATTACH_PENDING)
        pthread_cond_wait(&done_cond, &collector_lock);
    thread_running = collector_attach == ATTACH_DONE;
    weft_store_relaxed(&collector_on, thread_running);
    pthread_mutex_unlock(&collector_lock);
    weft_blocking_end();
    if (!thread_running) {
        pthread_join(collector_thread, NULL);
        _weft_set_error(WEFT_ENOMEM, "the collector thread could not attach");
        return -1;
    }
    return 0;
}

/* True if it stopped a running thread. */
static bool thread_stop_locked(void)
{
    pthread_mutex_lock(&collector_lock);
    if (!thread_running) {
        pthread_mutex_unlock(&collector_lock);
        return false;
    }
    thread_stop = true;
    weft_store_relaxed(&collector_on, false);
    pthread_cond_broadcast(&work_cond);
    pthread_mutex_unlock(&collector_lock);
    /* It may need a stop of the world we take part in: wait unblocked. */
    weft_blocking_begin();
    pthread_join(collector_thread, NULL);
    weft_blocking_end();
    /* Requests it left unserved are their waiters' to run again. */
    pthread_mutex_lock(&collector_lock);
    thread_running = false;
    collector_runs++;
    pthread_cond_broadcast(&done_cond);
    pthread_mutex_unlock(&collector_lock);
    return true;
}

/* Before a fork (threads/fork.c, the forking thread attached): the
 * collector thread stopped, so that the child has none half-way through a
 * collection; true if it was running (the fork's parent and child start
 * their own). The collector thread itself cannot join itself: false, and it
 * runs on (its child is one whose other threads are gone). */
bool _weft_gc_before_fork(bool *stopped)
{
    if (is_collector_thread) {
        *stopped = false;
        return false;
    }
    *stopped = _weft_gc_thread_stop(); /* under the lifecycle lock: no racing shutdown */
    return true;
}

/* Alone in the child: the locks are made anew, for a thread that is not
 * there may have held them at the fork. */
void _weft_gc_forget_thread(void)
{
    pthread_mutex_init(&collector_lock, NULL);
    pthread_mutex_init(&lifecycle_lock, NULL);
    thread_running = false;
    weft_store_relaxed(&collector_on, false);
    requested_gen = -1;
}

/* Ask the collector thread for generation gen; returns the request number. */
static uint64_t request_locked(int gen)
{
    if (gen > requested_gen)
        requested_gen = gen;
    requests++;
    pthread_cond_signal(&work_cond);
    return requests;
}

long weft_gc_collect(int gen)
{
    if (gen == -1)
        gen = WEFT_GC_GENERATIONS - 1;
    if (gen < 0 || gen >= WEFT_GC_GENERATIONS) {
        _weft_set_error(WEFT_EINVAL, "weft_gc_collect: no generation %d", gen);
        return -1;
    }
    weft_thread *self = _weft_tls_thread;
    if (!self) {
        _weft_set_error(WEFT_ESTATE, "weft_gc_collect: the thread is not attached");
        return -1;
    }
    /* A thread in a blocking region must not touch objects, and a collection
     * (run here, or its finalizers' effects awaited here) would. */
    if (self->blocking_depth) {
        _weft_set_error(WEFT_ESTATE, "weft_gc_collect: inside a blocking region");
        return -1;
    }
    /* From a finalizer, a callback or a gc callback of this thread's own
     * collection: nested collections would recurse without bound (a "start"
     * callback that collects), and the outer one's garbage is not settled. */
    if (in_collection)
        return 0;
    _weft_fork_check_ghosts("weft_gc_collect"); /* others' collections may never end */
    for (;;) {
        pthread_mutex_lock(&collector_lock);
        if (is_collector_thread) {
            pthread_mutex_unlock(&collector_lock);
            return run_collection(gen);
        }
        if (!thread_running && own_collections == 0) {
            own_collections++;
            pthread_mutex_unlock(&collector_lock);
            return run_own_collection(gen);
        }
        if (!thread_running) { /* another thread's collection runs */
            pthread_mutex_unlock(&collector_lock);
            weft_blocking_begin();
            pthread_mutex_lock(&collector_lock);
            while (!thread_running && own_collections > 0)
                pthread_cond_wait(&done_cond, &collector_lock);
            pthread_mutex_unlock(&collector_lock);
            weft_blocking_end();
            continue;
        }
        uint64_t mine = request_locked(gen), run = collector_runs;
        pthread_mutex_unlock(&collector_lock);
        /* Wait outside the runtime: the collection stops the world. */
        weft_blocking_begin();
        pthread_mutex_lock(&collector_lock);
        while (completed < mine && collector_runs == run)
            pthread_cond_wait(&done_cond, &collector_lock);
        bool served = completed >= mine;
        long found = last_found;
        pthread_mutex_unlock(&collector_lock);
        weft_blocking_end();
        if (served)
            return found;
        /* The collector thread stopped first (weft_shutdown): ask again,
         * of a restarted one, or run it here. */
    }
}

static void maybe_trigger(void)
{
    if (weft_load_relaxed(&collecting) > 0 || in_collection || !young_due())
        return;
    pthread_mutex_lock(&collector_lock);
    int gen = choose_generation_locked();
    if (thread_running) {
        /* Not while the collector holds a request it took: that collection
         * resets the count this one would be asked for (a stale request
         * made the next collection examine the young objects again). */
        if (requested_gen < 0 && weft_load_relaxed(&collecting) == 0)
            request_locked(gen);
        pthread_mutex_unlock(&collector_lock);
        return;
    }
    weft_thread *t = _weft_tls_thread;
    bool run_here = t && t->dealloc_depth == 0 && own_collections == 0;
    if (run_here)
        own_collections++;
    pthread_mutex_unlock(&collector_lock);
    if (run_here)
        run_own_collection(gen);
}

/* 1.5 x the young trigger, saturated: a threshold near LONG_MAX (a program
 * turning automatic collections off that way) must not wrap it negative,
 * which would make every batch of allocations wait. */
static long backlog_limit(void)
{
    long trigger = young_trigger();
    if (trigger <= 0)
        return 0;
    return trigger > LONG_MAX - trigger / 2 ? LONG_MAX : trigger + trigger / 2;
}

/* Wait until a collection takes the backlog (or the collector cannot), for
 * BACKLOG_MAX_WAIT_NS at most: the caller may hold a lock (its own, or a
 * container's while a key's eq allocates) that a finalizer of the running
 * collection needs, and a bounded wait turns that into a stall, never a
 * deadlock. */
static void wait_for_backlog(void)
{
    uint32_t epoch = weft_load_acquire(&reset_epoch);
    uint64_t deadline = _weft_monotonic_ns() + BACKLOG_MAX_WAIT_NS;
    atomic_fetch_add(&backlog_waiters, 1);
    weft_fetch_add_relaxed(&backlog_waits, 1);
    weft_blocking_begin();
    for (;;) {
        if (weft_load_acquire(&reset_epoch) != epoch || !weft_load_relaxed(&enabled) ||
            !weft_load_relaxed(&collector_on) ||
            weft_load_relaxed(&young_count) <= backlog_limit())
            break;
        uint64_t now = _weft_monotonic_ns();
        if (now >= deadline)
            break;
        _weft_futex_wait(&reset_epoch, epoch, deadline - now);
    }
    weft_blocking_end();
    weft_fetch_sub_relaxed(&backlog_waiters, 1);
}

uint64_t _weft_gc_backlog_waits(void)
{
    return weft_load_relaxed(&backlog_waits);
}

void _weft_gc_old_death(void)
{
    weft_thread *t = _weft_tls_thread;
    if (!t) {
        weft_fetch_add_relaxed(&old_deaths, 1);
        return;
    }
    if (++t->gc_old_deaths_local < WEFT_GC_YOUNG_BATCH)
        return;
    weft_fetch_add_relaxed(&old_deaths, t->gc_old_deaths_local);
    t->gc_old_deaths_local = 0;
}

/* Add a thread's batch to the young count; the count after it. */
static long publish_young(long batch)
{
    long now = weft_fetch_add_relaxed(&young_count, batch) + batch;
    /* Never below zero (as CPython): the garbage a collection frees after the
     * reset must not push the next collection further away. */
    while (now < 0 && !atomic_compare_exchange_weak_explicit(&young_count, &now, 0,
                                                              memory_order_relaxed,
                                                              memory_order_relaxed)) {
    }
    return now;
}

void _weft_gc_young_add(long delta)
{
    weft_thread *t = _weft_tls_thread;
    if (!t) {
        publish_young(delta);
        return;
    }
    t->gc_young_local += delta;
    if (t->gc_young_local < WEFT_GC_YOUNG_BATCH && t->gc_young_local > -WEFT_GC_YOUNG_BATCH)
        return;
    long now = publish_young(t->gc_young_local);
    t->gc_young_local = 0;
    if (delta <= 0)
        return;
    maybe_trigger();
    long limit = backlog_limit();
    if (limit && now > limit && weft_load_relaxed(&collector_on) && !is_collector_thread &&
        t->dealloc_depth == 0 && t->blocking_depth == 0 && weft_load_relaxed(&enabled))
        wait_for_backlog();
}

void _weft_gc_publish_partial(weft_thread *t)
{
    long young = t->gc_young_local, old = t->gc_old_deaths_local;
    t->gc_young_local = t->gc_old_deaths_local = 0;
    if (old)
        weft_fetch_add_relaxed(&old_deaths, old);
    if (!young)
        return;
    publish_young(young);
    /* Attached, with no collector thread: the collection may run here. Not
     * from the collector thread itself, which detaches as it stops. */
    if (young > 0 && !is_collector_thread)
        maybe_trigger();
}
