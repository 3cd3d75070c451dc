/* Biased reference counting under threads, with exact counts: every object
 * dies exactly once, never early, whatever thread drops it last. */
#define WEFT_BUILDING_LIBRARY 1 /* white-box: the header's count fields */
#include "check.h"
#include "objtest.h"
#include "object_internal.h"
#include "threads/stw.h"
#include <pthread.h>
#include <sched.h>
#include <time.h>

#define N 20000

static weft_object *objs[N];
static atomic_int phase;

static void wait_phase(int p)
{
    while (atomic_load(&phase) < p)
        weft_test_yield();
}

static long deaths_in(long lo, long hi)
{
    long n = 0;
    for (long i = lo; i < hi; i++)
        n += atomic_load(&node_deaths[i]);
    return n;
}

/* 1. Handoff: the owner hands its references to another thread, which drops
 * them; the objects die when the owner merges at its next safepoint. */
static void *drop_all(void *arg)
{
    long base = (long)arg;
    weft_thread_attach();
    wait_phase(1);
    for (int i = 0; i < N; i++)
        weft_decref(objs[i]);
    (void)base;
    weft_thread_detach();
    return NULL;
}

static void test_handoff(void)
{
    /* This thread must not pass a safepoint (which merges) until the check
     * below, so it joins without a blocking region: nothing may stop the
     * world meanwhile. */
    weft_gc_collect(0);
    weft_gc_disable();
    atomic_store(&phase, 0);
    for (int i = 0; i < N; i++)
        objs[i] = node_new(i, NULL);
    pthread_t t;
    pthread_create(&t, NULL, drop_all, (void *)0);
    atomic_store(&phase, 1);
    pthread_join(t, NULL);
    /* The shared counts went negative: queued to us, alive until we merge. */
    CHECK_EQ_INT(deaths_in(0, N), 0);
    weft_safepoint();
    CHECK_EQ_INT(deaths_in(0, N), N);
    weft_gc_enable();
}

/* 2. An owner that detaches while others still hold references: the objects
 * die when the others drop them, merged on the detached owner's behalf. */
static void *create_then_detach(void *arg)
{
    weft_thread_attach();
    for (int i = 0; i < N; i++) {
        objs[i] = node_new(N + i, NULL);
        weft_incref(objs[i]); /* one for the main thread */
        weft_decref(objs[i]); /* drop our own */
    }
    weft_thread_detach();
    return NULL;
}

static void test_owner_detaches(void)
{
    pthread_t t;
    pthread_create(&t, NULL, create_then_detach, NULL);
    weft_test_join(t);
    CHECK_EQ_INT(deaths_in(N, 2 * N), 0);
    for (int i = 0; i < N; i++)
        weft_decref(objs[i]);
    CHECK_EQ_INT(deaths_in(N, 2 * N), N);
}

/* 3. A blocked owner: others drop its objects while it sleeps in a blocking
 * region; the memory comes back without it waking up. */
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sleep_cond = PTHREAD_COND_INITIALIZER;
static int wake;

static void *create_then_block(void *arg)
{
    weft_thread_attach();
    for (int i = 0; i < N; i++)
        objs[i] = node_new(2 * N + i, NULL); /* references handed to main */
    atomic_store(&phase, 2);
    weft_blocking_begin();
    pthread_mutex_lock(&sleep_lock);
    while (!wake)
        pthread_cond_wait(&sleep_cond, &sleep_lock);
    pthread_mutex_unlock(&sleep_lock);
    weft_blocking_end();
    /* Back in the runtime: its objects are all gone already. */
    CHECK_EQ_INT(deaths_in(2 * N, 3 * N), N);
    weft_thread_detach();
    return NULL;
}

static void test_blocked_owner(void)
{
    atomic_store(&phase, 0);
    wake = 0;
    pthread_t t;
    pthread_create(&t, NULL, create_then_block, NULL);
    wait_phase(2);
    /* Wait until it is really blocked (it may be between the two calls). */
    weft_heap_stats before;
    weft_heap_get_stats(&before);
    for (int i = 0; i < N; i++)
        weft_decref(objs[i]);
    long deaths = deaths_in(2 * N, 3 * N);
    /* The owner may not have reached weft_blocking_begin when we started:
     * then the first objects wait for its merge there, which it does before
     * blocking. Either way all are dead before it wakes. */
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do { /* the owner may be preempted before it blocks: 10 s for it */
        weft_test_yield();
        deaths = deaths_in(2 * N, 3 * N);
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (deaths < N && now.tv_sec - start.tv_sec < 10);
    CHECK_EQ_INT(deaths, N);
    pthread_mutex_lock(&sleep_lock);
    wake = 1;
    pthread_cond_signal(&sleep_cond);
    pthread_mutex_unlock(&sleep_lock);
    weft_test_join(t);
}

/* 4. Two threads hammer one object owned by one of them. */
#define HAMMER 200000
static weft_object *shared_obj;

static void *hammer(void *arg)
{
    int attach = arg != NULL;
    if (attach)
        weft_thread_attach();
    wait_phase(3);
    for (int i = 0; i < HAMMER; i++) {
        weft_incref(shared_obj);
        weft_incref(shared_obj);
        weft_decref(shared_obj);
        weft_decref(shared_obj);
        if ((i & 1023) == 0)
            weft_safepoint();
    }
    if (attach)
        weft_thread_detach();
    return NULL;
}

static void test_hammer(void)
{
    atomic_store(&phase, 0);
    shared_obj = node_new(3 * N, NULL);
    pthread_t t;
    pthread_create(&t, NULL, hammer, (void *)1);
    atomic_store(&phase, 3);
    hammer(NULL);
    weft_test_join(t);
    weft_safepoint();
    CHECK_EQ_INT(weft_refcount(shared_obj), 1);
    CHECK_EQ_INT(node_deaths[3 * N], 0);
    weft_decref(shared_obj);
    CHECK_EQ_INT(node_deaths[3 * N], 1);
}

/* 5. Thread churn: indices are reused; a new thread inherits the objects a
 * gone thread still owns and can drop them with local decrefs. */
static void *make_one(void *arg)
{
    weft_thread_attach();
    *(weft_object **)arg = node_new(3 * N + 1, NULL);
    *((unsigned *)arg + 2) = weft_thread_index();
    weft_thread_detach();
    return NULL;
}

static void *drop_inherited(void *arg)
{
    weft_thread_attach();
    *((unsigned *)arg + 3) = weft_thread_index();
    weft_decref(*(weft_object **)arg);
    weft_thread_detach();
    return NULL;
}

static void test_index_reuse(void)
{
    struct {
        weft_object *o;
        unsigned creator, dropper;
    } box = {0};
    pthread_t t;
    pthread_create(&t, NULL, make_one, &box);
    weft_test_join(t);
    pthread_create(&t, NULL, drop_inherited, &box);
    weft_test_join(t);
    CHECK_EQ_INT(box.creator, box.dropper); /* same index reused */
    CHECK_EQ_INT(node_deaths[3 * N + 1], 1);
}

/* Lock-free reads saturate a count at its maximum, as increments do. The
 * shared count is brought near it by hand, and a thread that is not the
 * owner takes the object out of a list past it: the count used to wrap
 * negative there, and the next release aborted with an underflow. */
#define SATURATING_READS 8
static weft_object *saturating_list;

static void *read_past_max(void *arg)
{
    (void)arg;
    if (weft_thread_attach() != 0)
        return NULL;
    weft_object *got[SATURATING_READS];
    for (int i = 0; i < SATURATING_READS; i++)
        got[i] = weft_list_get(saturating_list, 0);
    for (int i = 0; i < SATURATING_READS; i++)
        weft_xdecref(got[i]);
    weft_thread_detach();
    return NULL;
}

static void test_saturating_reads(void)
{
    weft_object *o = weft_int_new(987654321);
    saturating_list = weft_list_new(0);
    REQUIRE(o && saturating_list && weft_list_append(saturating_list, o) == 0);
    atomic_fetch_add(&o->ref_shared, (int32_t)((WEFT_SHARED_COUNT_MAX - 4) << WEFT_SHARED_SHIFT));
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, read_past_max, NULL) == 0);
    weft_test_join(t);
    CHECK(weft_is_immortal(o));
    weft_decref(saturating_list);
    weft_decref(o);
}

/* 7. Deaths that weft_blocking_begin's merge runs happen before the region
 * starts: a dealloc there may call what a blocking region refuses. It ran
 * inside the region's depth before, so weft_gc_get_objects (any stop of
 * the world) failed with WEFT_ESTATE. */
static atomic_int listed_in_dealloc = -1;
static _Atomic(weft_object *) handed;
static atomic_bool dropped;

static void listing_dealloc(weft_object *self)
{
    (void)self;
    weft_object *all = weft_gc_get_objects(-1);
    atomic_store(&listed_in_dealloc, all != NULL);
    weft_xdecref(all);
}

static const weft_type listing_type = {
    .name = "test.listing",
    .basic_size = sizeof(weft_object),
    .dealloc = listing_dealloc,
};

static void *drop_handed(void *arg)
{
    (void)arg;
    weft_thread_attach();
    weft_decref(atomic_exchange(&handed, NULL)); /* queued to main, which runs */
    atomic_store(&dropped, true);
    weft_thread_detach();
    return NULL;
}

static void test_merge_before_blocking(void)
{
    weft_object *o = weft_new(&listing_type);
    REQUIRE(o);
    atomic_store(&handed, o);
    pthread_t t;
    pthread_create(&t, NULL, drop_handed, NULL);
    /* No safepoint here, so that the merge is weft_blocking_begin's; a stop
     * of the world (the drop's attach may wait for one) is parked for. */
    weft_thread *self = _weft_tls_thread;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        if (weft_load_relaxed(&self->xbreaker) & WEFT_BREAK_STOP)
            _weft_stw_park(self);
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (!atomic_load(&dropped) && now.tv_sec - start.tv_sec < 10);
    CHECK(atomic_load(&dropped));
    weft_blocking_begin();
    pthread_join(t, NULL);
    weft_blocking_end();
    CHECK_EQ_INT(atomic_load(&listed_in_dealloc), 1);
}

int main(void)
{
    REQUIRE(weft_init(NULL) == 0);
    test_handoff();
    test_owner_detaches();
    test_blocked_owner();
    test_hammer();
    test_index_reuse();
    test_saturating_reads();
    test_merge_before_blocking();
    /* No object died twice. */
    int twice = 0;
    for (int i = 0; i < 3 * N + 2; i++)
        twice += atomic_load(&node_deaths[i]) > 1;
    CHECK_EQ_INT(twice, 0);
    CHECK_EQ_INT(weft_shutdown(), 0);
    return check_finish();
}
