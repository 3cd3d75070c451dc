/* Tracked allocations are counted per thread and published to the young
 * count in batches of 64 (threads/collector.c). A thread's last, partial
 * batch is published when it detaches. Before, it stayed in the thread's
 * record until another thread reused the record: threads alive at once
 * (a thread per request) that each made fewer than 64 tracked objects left
 * them out of the young count, and their cyclic garbage brought no
 * collection on. Both halves fail without the publication at detach: the
 * count grew by 0, and no collection started; the second fails without
 * the publication before the thread detaches when there is no collector
 * thread (a detached thread cannot collect). */
#include "check.h"
#include "objtest.h"
#include <time.h>

#define THREADS 60
#define CYCLES_PER_THREAD 10 /* 20 tracked objects: under one batch */
#define THRESHOLD0 1000      /* below THREADS x 20 */

static pthread_barrier_t all_made;
static atomic_int thread_failures; /* the threads count, main checks (check.h is main's) */

static void *short_lived(void *arg)
{
    long base = (long)(intptr_t)arg;
    bool attached = weft_thread_attach() == 0;
    for (long i = 0; i < CYCLES_PER_THREAD && attached; i++)
        if (!node_cycle_dropped(&cnode_type, base + 2 * i))
            atomic_fetch_add(&thread_failures, 1);
    weft_test_barrier_wait(&all_made); /* every thread a record of its own */
    if (!attached || weft_thread_detach() != 0)
        atomic_fetch_add(&thread_failures, 1);
    return NULL;
}

/* THREADS threads at once, each making its cyclic garbage. */
static void run_short_lived_threads(long first_id)
{
    pthread_t t[THREADS];
    REQUIRE(pthread_barrier_init(&all_made, NULL, THREADS) == 0);
    for (long i = 0; i < THREADS; i++)
        REQUIRE(pthread_create(&t[i], NULL, short_lived,
                               (void *)(intptr_t)(first_id + i * 2 * CYCLES_PER_THREAD)) == 0);
    for (long i = 0; i < THREADS; i++)
        weft_test_join(t[i]);
    pthread_barrier_destroy(&all_made);
    CHECK_EQ_INT(atomic_load(&thread_failures), 0);
}

static uint64_t young_collections(void)
{
    weft_gc_gen_stats stats[WEFT_GC_GENERATIONS];
    weft_gc_get_stats(stats);
    return stats[0].collections;
}

/* With automatic collections off, the young count holds every thread's
 * objects once they are gone. */
static void check_count_published(void)
{
    weft_gc_disable();
    REQUIRE(weft_gc_collect(0) >= 0);
    long c0, c1, c2;
    weft_gc_get_count(&c0, &c1, &c2);
    long before = c0;
    run_short_lived_threads(0);
    weft_gc_get_count(&c0, &c1, &c2);
    long made = 2L * CYCLES_PER_THREAD * THREADS;
    if (c0 - before < made)
        fprintf(stderr, "young count grew by %ld, %ld tracked objects were made\n", c0 - before,
                made);
    CHECK(c0 - before >= made);
    CHECK_EQ_INT(weft_gc_collect(0), made); /* all of it garbage */
    weft_gc_enable();
}

/* With them on, the garbage brings a collection on by itself, though the
 * main thread makes nothing. */
static void check_collection_triggered(void)
{
    REQUIRE(weft_gc_collect(0) >= 0);
    uint64_t before = young_collections();
    long dead_before = atomic_load(&node_dead_total);
    run_short_lived_threads(100000);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    weft_blocking_begin(); /* the collection stops the world: never wait for us */
    do {
        struct timespec pause = {0, 1000000};
        nanosleep(&pause, NULL);
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (young_collections() == before && now.tv_sec - start.tv_sec < 10);
    weft_blocking_end();
    CHECK(young_collections() > before);
    weft_safepoint();
    REQUIRE(weft_gc_collect(0) >= 0); /* the rest, so that everything made is dead */
    CHECK_EQ_INT(atomic_load(&node_dead_total) - dead_before, 2L * CYCLES_PER_THREAD * THREADS);
}

/* With the collector thread, and without: then the thread whose
 * publication crosses the trigger collects, before it detaches. */
int main(void)
{
    for (int gc_thread = 1; gc_thread >= 0; gc_thread--) {
        weft_config config;
        weft_config_default(&config);
        config.gc_thread = gc_thread;
        REQUIRE(weft_init(&config) == 0);
        weft_gc_set_threshold(THRESHOLD0, 10, 10); /* exact: no backoff */
        check_count_published();
        check_collection_triggered();
        CHECK_EQ_INT(weft_shutdown(), 0);
    }
    return check_finish();
}
