/* Remote frees: blocks allocated by one thread and freed by others come back to
 * the owner, including into pools the owner had parked as full. */
#define WEFT_BUILDING_LIBRARY 1
#include "check.h"
#include "heap.h"
#include <pthread.h>
#include <stdatomic.h>
#include <weft/weft.h>

#define THREADS 4
#define PER_ROUND 20000
#define ROUNDS 20

typedef struct mailbox {
    void *volatile blocks[PER_ROUND];
    atomic_int ready; /* round number whose blocks are in the box */
    atomic_int done;  /* round number the freer has finished */
} mailbox;

static mailbox boxes[THREADS];

static void *freer(void *arg)
{
    mailbox *box = arg;
    for (int round = 1; round <= ROUNDS; round++) {
        while (atomic_load_explicit(&box->ready, memory_order_acquire) < round)
            sched_yield();
        for (int i = 0; i < PER_ROUND; i++) {
            unsigned char *p = box->blocks[i];
            if (p[0] != (unsigned char)(i + round))
                abort(); /* the block was reused before we freed it */
            weft_free(p);
        }
        atomic_store_explicit(&box->done, round, memory_order_release);
    }
    return NULL;
}

static void *producer(void *arg)
{
    mailbox *box = arg;
    for (int round = 1; round <= ROUNDS; round++) {
        for (int i = 0; i < PER_ROUND; i++) {
            unsigned char *p = weft_malloc(16 + (size_t)(i % 8) * 16);
            if (!p)
                abort();
            p[0] = (unsigned char)(i + round);
            box->blocks[i] = p;
        }
        atomic_store_explicit(&box->ready, round, memory_order_release);
        while (atomic_load_explicit(&box->done, memory_order_acquire) < round)
            sched_yield();
    }
    return NULL;
}

int main(void)
{
    weft_heap_stats st0, st1;
    weft_heap_get_stats(&st0);
    pthread_t prod[THREADS], fr[THREADS];
    for (int t = 0; t < THREADS; t++) {
        pthread_create(&prod[t], NULL, producer, &boxes[t]);
        pthread_create(&fr[t], NULL, freer, &boxes[t]);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(prod[t], NULL);
        pthread_join(fr[t], NULL);
    }
    weft_heap_get_stats(&st1);
    CHECK_EQ_INT(st1.small_blocks_in_use, st0.small_blocks_in_use);
    /* Each producer's working set is PER_ROUND blocks of up to 128 bytes:
     * remote frees must be reused, or the pools would grow every round. */
    size_t per_thread_pools = PER_ROUND * 128 / 16384 + 8 * 2;
    CHECK(st1.arenas_peak * 63 <= THREADS * per_thread_pools * 2 + 63);
    printf("arenas peak %zu, pools in use at end %zu\n", st1.arenas_peak, st1.pools_in_use);

    /* Full pools are told of remote frees: fill pools of one class, have
     * another thread free all of them, and check that the owner reuses them
     * instead of taking fresh pools. */
    enum { M = 5000 };
    static void *held[M];
    for (int i = 0; i < M; i++)
        held[i] = weft_malloc(256);
    weft_heap_get_stats(&st0);
    size_t pools_256 = st0.classes[15].pools;
    boxes[0].ready = 0;
    boxes[0].done = 0;
    pthread_t t;
    struct {
        void **blocks;
        int n;
    } job = {held, M};
    void *free_all(void *arg);
    pthread_create(&t, NULL, free_all, &job);
    pthread_join(t, NULL);
    for (int i = 0; i < M; i++)
        held[i] = weft_malloc(256);
    weft_heap_get_stats(&st1);
    CHECK_EQ_INT(st1.classes[15].pools, pools_256);
    for (int i = 0; i < M; i++)
        weft_free(held[i]);
    return check_finish();
}

void *free_all(void *arg)
{
    struct {
        void **blocks;
        int n;
    } *job = arg;
    for (int i = 0; i < job->n; i++)
        weft_free(job->blocks[i]);
    return NULL;
}
