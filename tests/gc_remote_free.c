/* A collection frees the garbage of other threads into their pools a run of
 * blocks at a time (lib/heap.c, remote batches). Here it frees, in one
 * collection, cycles made by a thread that exited (its pools are abandoned)
 * and by a thread that waits in a blocking region (its pools are owned and
 * full): every object dies once, every block comes back to its pool, and the
 * emptied abandoned pools go back to their arenas (a block lost on its way
 * back would keep its pool abandoned). */
#define WEFT_BUILDING_LIBRARY 1
#include "check.h"
#include "objtest.h"
#include "pool.h"

#define PAIRS 20000
#define NODE_CLASS 3 /* sizeof(node) = 40: the 48-byte class */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int made, go;

/* PAIRS 2-node cycles with ids first.., dropped at once. */
static void make_cycles(long first)
{
    for (long i = 0; i < PAIRS; i++) {
        node *a = (node *)cnode_new(first + 2 * i), *b = (node *)cnode_new(first + 2 * i + 1);
        if (!a || !b) {
            fprintf(stderr, "cnode_new failed\n");
            abort();
        }
        a->child = weft_newref(&b->ob);
        b->child = weft_newref(&a->ob);
        weft_decref(&a->ob);
        weft_decref(&b->ob);
    }
}

static void *make_and_exit(void *arg)
{
    weft_thread_attach();
    make_cycles((long)(intptr_t)arg);
    weft_thread_detach();
    return NULL;
}

static void *make_and_wait(void *arg)
{
    weft_thread_attach();
    make_cycles((long)(intptr_t)arg);
    weft_blocking_begin(); /* the collection runs meanwhile */
    pthread_mutex_lock(&lock);
    made = 1;
    pthread_cond_broadcast(&cond);
    while (!go)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    weft_blocking_end();
    /* Its pools got their blocks back remotely: it can use them again. */
    make_cycles((long)(intptr_t)arg);
    weft_thread_detach();
    return NULL;
}

static size_t node_blocks_in_use(void)
{
    weft_heap_stats st;
    weft_heap_get_stats(&st);
    return st.classes[NODE_CLASS - 1].blocks_in_use;
}

int main(void)
{
    weft_config config;
    weft_config_default(&config);
    config.gc_thread = 0;
    REQUIRE(weft_init(&config) == 0);
    weft_gc_disable(); /* only the explicit collections below */
    size_t blocks_before = node_blocks_in_use();

    /* The waiting thread first: the exiting one must not adopt its pools. */
    pthread_t exiting, waiting;
    pthread_create(&waiting, NULL, make_and_wait, (void *)(intptr_t)(1 + 2 * PAIRS));
    weft_blocking_begin();
    pthread_mutex_lock(&lock);
    while (!made)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    weft_blocking_end();
    pthread_create(&exiting, NULL, make_and_exit, (void *)(intptr_t)1);
    weft_test_join(exiting);
    CHECK(_weft_pool_abandoned_count(NODE_CLASS) >= 2 * PAIRS * 48 / WEFT_POOL_SIZE);

    CHECK_EQ_INT(node_blocks_in_use(), blocks_before + 4 * PAIRS);
    CHECK_EQ_INT(weft_gc_collect(2), 4 * PAIRS);
    long twice = 0, never = 0;
    for (long id = 1; id <= 4 * PAIRS; id++) {
        int deaths = atomic_load(&node_deaths[id]);
        twice += deaths > 1;
        never += deaths == 0;
    }
    CHECK_EQ_INT(twice, 0);
    CHECK_EQ_INT(never, 0);
    CHECK_EQ_INT(node_blocks_in_use(), blocks_before);
    CHECK_EQ_INT(_weft_pool_abandoned_count(NODE_CLASS), 0);

    /* The waiting thread makes as many again in its own pools, then exits. */
    pthread_mutex_lock(&lock);
    go = 1;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    weft_test_join(waiting);
    CHECK_EQ_INT(weft_gc_collect(2), 2 * PAIRS);
    CHECK_EQ_INT(node_blocks_in_use(), blocks_before);
    CHECK_EQ_INT(atomic_load(&node_dead_total), 6 * PAIRS);
    /* Its pools, abandoned at its exit, were emptied: a block lost on the
     * way back would keep one of them there. */
    CHECK_EQ_INT(_weft_pool_abandoned_count(NODE_CLASS), 0);
    CHECK_EQ_INT(weft_shutdown(), 0);
    return check_finish();
}
