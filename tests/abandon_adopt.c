/* Threads that exit leave their pools abandoned: blocks freed into them later
 * come back (the pool returns to its arena when empty), and other threads
 * adopt them instead of taking fresh pools. */
#define WEFT_BUILDING_LIBRARY 1
#include "check.h"
#include "heap.h"
#include <pthread.h>
#include <weft/weft.h>

#define N 8000
static void *blocks[N];

static void *allocate_and_exit(void *arg)
{
    for (int i = 0; i < N; i++) {
        blocks[i] = weft_malloc(96);
        memset(blocks[i], 7, 96);
    }
    return NULL;
}

static void *adopt_and_free(void *arg)
{
    /* Allocates the class the exited thread used: adopts its abandoned pools. */
    weft_heap_stats st0, st1;
    weft_heap_get_stats(&st0);
    void *mine[N / 2];
    for (int i = 0; i < N / 2; i++)
        mine[i] = weft_malloc(96);
    weft_heap_get_stats(&st1);
    *(size_t *)arg = st1.classes[5].pools - st0.classes[5].pools;
    for (int i = 0; i < N / 2; i++)
        weft_free(mine[i]);
    return NULL;
}

static void *churn(void *arg)
{
    /* Many short-lived threads allocating and exiting while the main thread
     * frees their blocks: exercises abandon racing with remote frees. */
    void **slot = arg;
    for (int i = 0; i < 200; i++)
        slot[i] = weft_malloc((size_t)(i % 32) * 16 + 1);
    return NULL;
}

int main(void)
{
    weft_heap_stats st0, st1;
    weft_heap_get_stats(&st0);
    pthread_t t;
    pthread_create(&t, NULL, allocate_and_exit, NULL);
    pthread_join(t, NULL);
    weft_heap_get_stats(&st1);
    size_t pools = st1.classes[5].pools - st0.classes[5].pools;
    CHECK(pools >= N * 96 / 16384);
    CHECK_EQ_INT(_weft_pool_abandoned_count(6), pools);

    /* Free half of the blocks from this thread: they go into abandoned pools. */
    for (int i = 0; i < N; i += 2)
        weft_free(blocks[i]);
    /* A new thread adopts those pools: it needs no new pool for N/2 blocks. */
    size_t new_pools = 99;
    pthread_create(&t, NULL, adopt_and_free, &new_pools);
    pthread_join(t, NULL);
    CHECK_EQ_INT(new_pools, 0);

    for (int i = 1; i < N; i += 2)
        weft_free(blocks[i]);
    weft_heap_get_stats(&st1);
    CHECK_EQ_INT(st1.classes[5].blocks_in_use, st0.classes[5].blocks_in_use);
    /* Everything of the exited threads came back: no abandoned pool is left,
     * and the class has no more pools than before. */
    CHECK_EQ_INT(_weft_pool_abandoned_count(6), 0);
    CHECK_EQ_INT(st1.classes[5].pools, st0.classes[5].pools);

    enum { T = 40 };
    static void *slots[T][200];
    pthread_t ts[T];
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < T; i++)
            pthread_create(&ts[i], NULL, churn, slots[i]);
        for (int i = 0; i < T; i++) {
            pthread_join(ts[i], NULL);
            for (int k = 0; k < 200; k++)
                weft_free(slots[i][k]);
        }
    }
    weft_heap_get_stats(&st1);
    CHECK_EQ_INT(st1.small_blocks_in_use, st0.small_blocks_in_use);
    size_t abandoned = 0;
    for (unsigned c = 1; c <= WEFT_NCLASSES; c++)
        abandoned += _weft_pool_abandoned_count(c);
    CHECK_EQ_INT(abandoned, 0);
    return check_finish();
}
