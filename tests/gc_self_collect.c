/* Collections on the threads that ask for them (gc_thread = 0): two threads
 * collect at once. Their collections used to overlap outside their stops,
 * and their weakref callbacks went through one stack shared by all
 * collections, so that a callback that reached a safepoint let another
 * collection push onto it while the first popped, and a weakref was
 * released twice ("decref of a freed object"). Collections now run one at
 * a time, and each keeps its callbacks on its own stack.
 *
 * Each thread makes ROUNDS rounds of CYCLES two-node cycles, each with a
 * surviving weakref whose callback reaches a safepoint and allocates, then
 * runs a full collection; every callback must run exactly once and nothing
 * may leak. */
#include "check.h"
#include "objtest.h"
#include <unistd.h>

#define THREADS 2
#define ROUNDS 150
#define CYCLES 32

static atomic_long callbacks, failures;

static void on_cleared(weft_object *ref, void *arg)
{
    (void)ref, (void)arg;
    atomic_fetch_add(&callbacks, 1);
    weft_safepoint();
    weft_object *l = weft_list_new(0); /* an allocation: another safepoint */
    weft_xdecref(l);
    weft_safepoint();
}

static void link_to(weft_object *from, weft_object *to)
{
    weft_setref(&((node *)from)->child, weft_newref(to));
}

/* No checks on workers (check.h's counts are the main thread's). */
static void *worker(void *arg)
{
    (void)arg;
    if (weft_thread_attach() != 0) {
        atomic_fetch_add(&failures, 1);
        return NULL;
    }
    for (int round = 0; round < ROUNDS; round++) {
        weft_object *refs[CYCLES];
        for (int i = 0; i < CYCLES; i++) {
            weft_object *a = cnode_new(-1), *b = cnode_new(-1);
            refs[i] = NULL;
            if (a && b) {
                link_to(a, b);
                link_to(b, a);
                refs[i] = weft_weakref_new(a, on_cleared, NULL);
            }
            if (!refs[i])
                atomic_fetch_add(&failures, 1);
            weft_xdecref(a);
            weft_xdecref(b);
        }
        if (weft_gc_collect(2) < 0)
            atomic_fetch_add(&failures, 1);
        for (int i = 0; i < CYCLES; i++)
            weft_xdecref(refs[i]);
    }
    weft_thread_detach();
    return NULL;
}

/* A weft_gc_collect beside another thread's collection waits for it to
 * end. Thread B's full collection finds main's cycle and runs its
 * finalizer, which holds B there until main has called weft_gc_collect(2)
 * (and 100 ms more). Main's collection used to run meanwhile, find the
 * cycle held by B's collection, and return with it alive; it now waits for
 * B's, and the cycle is dead when it returns. If main were slower than the
 * 100 ms, it would find the cycle dead either way: the test never fails
 * spuriously, it proves less. */
#define SLOW_ID 100
static atomic_bool finalizer_entered, main_collecting;

static long slow_deaths(void)
{
    return atomic_load(&node_deaths[SLOW_ID]) + atomic_load(&node_deaths[SLOW_ID + 1]);
}

static void hold_collection(weft_object *self)
{
    (void)self;
    if (atomic_exchange(&finalizer_entered, true))
        return; /* the other node */
    while (!atomic_load(&main_collecting))
        sched_yield();
    usleep(100 * 1000);
}

static const weft_type slow_type = FINALIZABLE_NODE_TYPE("gc_self_collect.slow", hold_collection);

static void *collect_once(void *arg)
{
    (void)arg;
    if (weft_thread_attach() != 0) {
        atomic_fetch_add(&failures, 1);
        atomic_store(&finalizer_entered, true);
        return NULL;
    }
    if (weft_gc_collect(2) < 0)
        atomic_fetch_add(&failures, 1);
    weft_thread_detach();
    return NULL;
}

static void test_collect_beside_another(void)
{
    REQUIRE(node_cycle_dropped(&slow_type, SLOW_ID));
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, collect_once, NULL) == 0);
    weft_blocking_begin();
    while (!atomic_load(&finalizer_entered))
        sched_yield();
    weft_blocking_end();
    atomic_store(&main_collecting, true);
    CHECK(weft_gc_collect(2) >= 0);
    CHECK_EQ_INT(slow_deaths(), 2); /* 0 before: held by B's collection */
    weft_test_join(t);
    CHECK_EQ_INT(slow_deaths(), 2);
}

int main(void)
{
    weft_config config;
    weft_config_default(&config);
    config.gc_thread = 0;
    REQUIRE(weft_init(&config) == 0);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        REQUIRE(pthread_create(&t[i], NULL, worker, NULL) == 0);
    for (int i = 0; i < THREADS; i++)
        weft_test_join(t[i]);
    CHECK_EQ_INT(atomic_load(&failures), 0);
    /* Every cycle is garbage at its thread's next full collection at the
     * latest, and each weakref survives that collection. */
    CHECK_EQ_INT(atomic_load(&callbacks), (long)THREADS * ROUNDS * CYCLES);
    CHECK_EQ_INT(atomic_load(&node_dead_total), 2L * THREADS * ROUNDS * CYCLES);
    test_collect_beside_another();
    CHECK_EQ_INT(atomic_load(&failures), 0);
    CHECK_EQ_INT(weft_shutdown(), 0);
    return check_finish();
}
