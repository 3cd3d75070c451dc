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
    CHECK_EQ_INT(weft_shutdown(), 0);
    return check_finish();
}
