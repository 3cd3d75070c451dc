/* stress/workers.c: the worker threads and their churn.
 *
 * There are opt.threads worker slots. A slot runs a sequence of incarnations:
 * a new thread that attaches, runs a random number of operations (about
 * opt.churn), leaves what it holds to the others and detaches, then exits;
 * the driver joins it and starts the next one. So threads keep detaching and
 * attaching mid-run (their indices are reused, their objects outlive them)
 * while the number of workers stays N.
 *
 * With --ops, each slot has a quota (its share of the total); a slot whose
 * quota is spent is DONE and the run ends when every slot is.
 *
 * Slot states (who makes each transition):
 *   IDLE -> RUNNING     driver, when it starts an incarnation
 *   RUNNING -> RETIRED  the incarnation, as its last step
 *   RETIRED -> RUNNING  driver: joins it and starts the next one
 *   RETIRED -> DONE     driver: joins it; quota spent or the run stopping */
#include "stress.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

atomic_bool stop_requested;
__thread stats *tls_stats;
static stats shared_stats;

static worker_slot *slots;
static pthread_t *threads;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t retired = PTHREAD_COND_INITIALIZER;

void stats_add_shared(enum stat s, uint64_t n)
{
    atomic_fetch_add_explicit(&shared_stats.v[s], n, memory_order_relaxed);
}

void stats_sum(uint64_t out[ST_COUNT])
{
    for (int s = 0; s < ST_COUNT; s++)
        out[s] = atomic_load_explicit(&shared_stats.v[s], memory_order_relaxed);
    for (unsigned i = 0; slots && i < opt.threads; i++)
        for (int s = 0; s < ST_COUNT; s++)
            out[s] += atomic_load_explicit(&slots[i].st.v[s], memory_order_relaxed);
}

/* How many operations the next incarnation of a slot runs. */
static uint64_t next_budget(worker_slot *s)
{
    uint64_t budget = UINT64_MAX;
    if (opt.churn) {
        rng r;
        rng_seed(&r, opt.seed, 1000003u + s->index, s->incarnation);
        budget = rng_range(&r, opt.churn / 2 + 1, opt.churn + opt.churn / 2);
    }
    return budget < s->quota ? budget : s->quota;
}

static void *incarnation(void *arg)
{
    worker_slot *s = arg;
    tls_stats = &s->st;
    for (unsigned tries = 0; weft_thread_attach() != 0; tries++) {
        /* Under injected failures an attach may fail for memory: retry. */
        if (opt.fail_rate > 0 && weft_error() == WEFT_ENOMEM && tries < 1000) {
            stat_add(ST_ENOMEM, 1);
            weft_error_clear();
            usleep(100);
            continue;
        }
        violation("weft_thread_attach failed: %s (%s)", weft_error_name(weft_error()),
                  weft_error_message());
    }
    atomic_store(&s->attached, true);
    stat_add(ST_INCARNATIONS, 1);
    uint64_t done = workload_run(s, next_budget(s));
    if (s->quota != UINT64_MAX)
        s->quota -= done < s->quota ? done : s->quota;
    atomic_store(&s->attached, false);
    if (weft_thread_detach() != 0)
        violation("weft_thread_detach failed: %s (%s)", weft_error_name(weft_error()),
                  weft_error_message());
    tls_stats = NULL;
    pthread_mutex_lock(&lock);
    atomic_store(&s->state, SLOT_RETIRED);
    pthread_cond_signal(&retired);
    pthread_mutex_unlock(&lock);
    return NULL;
}

static void start(worker_slot *s)
{
    atomic_store(&s->state, SLOT_RUNNING);
    int rc = pthread_create(&threads[s->index], NULL, incarnation, s);
    if (rc != 0) {
        fprintf(stderr, "weft-stress: cannot start a thread: %s\n", strerror(rc));
        abort();
    }
}

void workers_init(void)
{
    slots = aligned_alloc(64, sizeof(worker_slot) * opt.threads);
    threads = calloc(opt.threads, sizeof *threads);
    if (!slots || !threads) {
        fprintf(stderr, "weft-stress: out of memory (workers)\n");
        abort();
    }
    memset(slots, 0, sizeof(worker_slot) * opt.threads);
    for (unsigned i = 0; i < opt.threads; i++) {
        slots[i].index = i;
        slots[i].quota = UINT64_MAX;
        if (opt.ops)
            slots[i].quota = opt.ops / opt.threads + (i < opt.ops % opt.threads);
    }
}

void workers_start(void)
{
    for (unsigned i = 0; i < opt.threads; i++)
        start(&slots[i]);
}

/* Wait (outside the runtime) until some incarnation retires or timeout. */
static void wait_retired(double timeout)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long ns = (long)(timeout * 1e9);
    ts.tv_sec += ns / 1000000000;
    ts.tv_nsec += ns % 1000000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&lock);
    bool any = false;
    for (unsigned i = 0; i < opt.threads && !any; i++)
        any = atomic_load(&slots[i].state) == SLOT_RETIRED;
    if (!any)
        pthread_cond_timedwait(&retired, &lock, &ts);
    pthread_mutex_unlock(&lock);
}

bool workers_tick(bool stopping)
{
    wait_retired(0.05);
    bool busy = false;
    for (unsigned i = 0; i < opt.threads; i++) {
        worker_slot *s = &slots[i];
        if (atomic_load(&s->state) == SLOT_RETIRED) {
            pthread_join(threads[i], NULL);
            if (stopping || s->quota == 0) {
                atomic_store(&s->state, SLOT_DONE);
            } else {
                s->incarnation++;
                start(s);
            }
        }
        int st = atomic_load(&s->state);
        busy |= st == SLOT_RUNNING || st == SLOT_RETIRED;
    }
    return busy;
}

void workers_stop(void)
{
    atomic_store(&stop_requested, true);
    handoff_wake_all();
    while (workers_tick(true))
        handoff_wake_all();
}

unsigned workers_attached(void)
{
    unsigned n = 0;
    for (unsigned i = 0; i < opt.threads; i++)
        n += atomic_load(&slots[i].attached);
    return n;
}

uint64_t workers_incarnations(void)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < opt.threads; i++)
        n += slots[i].incarnation + (atomic_load(&slots[i].state) != SLOT_IDLE);
    return n;
}

void workers_fini(void)
{
    free(threads);
    free(slots);
    threads = NULL;
    slots = NULL;
}
