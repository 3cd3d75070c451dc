/* examples/heap_demo.c: weft's heap under several threads, through the public
 * API only.
 *
 * Each thread churns: it allocates blocks of random sizes from 16 to 4096
 * bytes (so both the small-object pools and the large-block allocator serve
 * it) with weft_malloc, frees them with weft_free, and hands some of them to
 * the next thread, which frees them: a cross-thread free. Every block carries
 * a header and a fill pattern that whoever frees it checks first.
 *
 * The heap statistics are printed twice: when the churn stops with blocks
 * still live, and after every block is freed. The program exits 0 only if no
 * small or large block is left in use.
 *
 * usage: heap_demo [THREADS [OPERATIONS_PER_THREAD]]   (default 4 200000) */
#include <weft/weft.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_SIZE 16
#define MAX_SIZE 4096
#define SLOTS 1024      /* live blocks a thread keeps at most */
#define HANDOFF_ONE_IN 8 /* share of frees handed to the next thread instead */
#define DRAIN_EVERY 64  /* operations between two looks at the inbox */

/* The start of every block; the rest of it is filled with fill_byte(). */
typedef struct block {
    struct block *next; /* link in the receiving thread's inbox */
    uint32_t size;      /* bytes asked for, header included */
    uint32_t tag;       /* allocating thread << 24 | sequence number */
} block;

typedef struct worker {
    pthread_t thread;
    unsigned index;
    uint64_t rng;
    block *slots[SLOTS];
    pthread_mutex_t inbox_lock;
    block *inbox; /* handed over by the previous thread; guarded by inbox_lock */
    unsigned long allocs, frees, handed, received_frees;
    int failed;
} worker;

static worker *workers;
static unsigned nthreads = 4;
static long ops_per_thread = 200000;
/* The churn stops at the first barrier; the main thread prints the figures
 * and releases the workers at the second to free what they still hold. */
static pthread_barrier_t churn_done, stats_printed;

static uint64_t next_random(uint64_t *state)
{
    uint64_t x = *state; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Sizes skewed towards small blocks: pick a power-of-two bound from 32 to
 * 4096 first, then a size up to it; about 3 blocks in 4 are <= 512 bytes. */
static uint32_t random_size(uint64_t *rng)
{
    uint32_t bound = 32u << (next_random(rng) % 8);
    return MIN_SIZE + (uint32_t)(next_random(rng) % (bound - MIN_SIZE + 1));
}

static unsigned char fill_byte(const block *b)
{
    return (unsigned char)((b->tag * 2654435761u) >> 24 ^ b->size);
}

static block *alloc_block(worker *w)
{
    uint32_t size = random_size(&w->rng);
    block *b = weft_malloc(size);
    if (!b) {
        fprintf(stderr, "heap_demo: thread %u: weft_malloc(%u) failed: %s\n", w->index,
                size, weft_error_message());
        w->failed = 1;
        return NULL;
    }
    b->next = NULL;
    b->size = size;
    b->tag = (uint32_t)w->index << 24 | (uint32_t)(w->allocs & 0xffffff);
    memset(b + 1, fill_byte(b), size - sizeof(block));
    w->allocs++;
    return b;
}

static void free_block(worker *w, block *b)
{
    const unsigned char *p = (const unsigned char *)(b + 1);
    size_t n = b->size - sizeof(block);
    if (b->size < MIN_SIZE || b->size > MAX_SIZE ||
        (n > 0 && (p[0] != fill_byte(b) || p[n - 1] != fill_byte(b)))) {
        fprintf(stderr, "heap_demo: thread %u: block %p (size %u, tag %#x) is corrupt\n",
                w->index, (void *)b, b->size, b->tag);
        w->failed = 1;
    }
    weft_free(b);
    w->frees++;
}

static void hand_over(worker *w, block *b)
{
    worker *to = &workers[(w->index + 1) % nthreads];
    pthread_mutex_lock(&to->inbox_lock);
    b->next = to->inbox;
    to->inbox = b;
    pthread_mutex_unlock(&to->inbox_lock);
    w->handed++;
}

/* Free every block other threads handed to w. */
static void drain_inbox(worker *w)
{
    pthread_mutex_lock(&w->inbox_lock);
    block *b = w->inbox;
    w->inbox = NULL;
    pthread_mutex_unlock(&w->inbox_lock);
    while (b) {
        block *next = b->next;
        free_block(w, b);
        w->received_frees++;
        b = next;
    }
}

static void *work(void *arg)
{
    worker *w = arg;
    for (long i = 0; i < ops_per_thread && !w->failed; i++) {
        block **slot = &w->slots[next_random(&w->rng) % SLOTS];
        if (!*slot) {
            *slot = alloc_block(w);
        } else {
            if (nthreads > 1 && next_random(&w->rng) % HANDOFF_ONE_IN == 0)
                hand_over(w, *slot);
            else
                free_block(w, *slot);
            *slot = NULL;
        }
        if (i % DRAIN_EVERY == 0)
            drain_inbox(w);
    }
    pthread_barrier_wait(&churn_done);
    pthread_barrier_wait(&stats_printed);
    drain_inbox(w);
    for (size_t i = 0; i < SLOTS; i++) {
        if (w->slots[i])
            free_block(w, w->slots[i]);
        w->slots[i] = NULL;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        nthreads = (unsigned)strtoul(argv[1], NULL, 10);
    if (argc > 2)
        ops_per_thread = strtol(argv[2], NULL, 10);
    if (argc > 3 || nthreads < 1 || nthreads > 256 || ops_per_thread < 0) {
        fprintf(stderr, "usage: heap_demo [THREADS (1..256) [OPERATIONS_PER_THREAD]]\n");
        return 2;
    }

    /* The demo's own bookkeeping comes from the system allocator: only the
     * blocks it churns go through weft. */
    workers = calloc(nthreads, sizeof *workers);
    if (!workers)
        return 1;
    pthread_barrier_init(&churn_done, NULL, nthreads + 1);
    pthread_barrier_init(&stats_printed, NULL, nthreads + 1);
    for (unsigned i = 0; i < nthreads; i++) {
        workers[i].index = i;
        workers[i].rng = 0x9E3779B97F4A7C15ULL * (i + 1);
        pthread_mutex_init(&workers[i].inbox_lock, NULL);
    }
    for (unsigned i = 0; i < nthreads; i++) {
        if (pthread_create(&workers[i].thread, NULL, work, &workers[i]) != 0) {
            fprintf(stderr, "heap_demo: cannot start thread %u\n", i);
            return 1;
        }
    }

    pthread_barrier_wait(&churn_done);
    printf("== weft heap after the churn (%u threads x %ld operations)\n", nthreads,
           ops_per_thread);
    weft_heap_print_stats(stdout);
    fflush(stdout);
    pthread_barrier_wait(&stats_printed);

    unsigned long allocs = 0, frees = 0, handed = 0;
    int failed = 0;
    for (unsigned i = 0; i < nthreads; i++) {
        pthread_join(workers[i].thread, NULL);
        allocs += workers[i].allocs;
        frees += workers[i].frees;
        handed += workers[i].handed;
        failed |= workers[i].failed;
    }
    printf("\n== weft heap after every block is freed\n");
    weft_heap_print_stats(stdout);

    weft_heap_stats st;
    weft_heap_get_stats(&st);
    int leaked = st.small_blocks_in_use != 0 || st.large_blocks_in_use != 0;
    printf("\nheap_demo: %lu blocks allocated, %lu freed, %lu of them by another thread; "
           "left in use: %zu small, %zu large: %s\n",
           allocs, frees, handed, st.small_blocks_in_use, st.large_blocks_in_use,
           failed || leaked || allocs != frees ? "FAILED" : "ok");

    for (unsigned i = 0; i < nthreads; i++)
        pthread_mutex_destroy(&workers[i].inbox_lock);
    pthread_barrier_destroy(&churn_done);
    pthread_barrier_destroy(&stats_printed);
    free(workers);
    return failed || leaked || allocs != frees ? 1 : 0;
}
