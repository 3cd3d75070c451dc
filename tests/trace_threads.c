/* Allocation tracing under threads: two threads allocate, reallocate and free
 * (each other's blocks too) while a third takes snapshots without pause. At
 * each quiescent point the totals, a snapshot and its per-line statistics
 * equal the workers' own bookkeeping exactly, and after the frees they are
 * back at the baseline. Then tracing is started, cleared and stopped over and
 * over while the workers run: nothing crashes, races (TSan) or leaks (ASan),
 * and the last session ends at zero. */
#include "check.h"
#include "trace_test.h"

#include <pthread.h>
#include <stdatomic.h>

#define THIS_FILE "trace_threads.c"
#define WORKERS 2
#define SLOTS 256
#define BOX 64
#define MAX_LINE 1024

#if defined(WEFT_TSAN) && WEFT_TSAN
#define ROUNDS 6
#define OPS 1500
#else
#define ROUNDS 20
#define OPS 20000
#endif

typedef struct block {
    void *p;
    size_t size;
    int line;
    weft_domain domain;
} block;

/* Blocks handed to a worker for it to free (cross-thread frees). */
typedef struct box {
    pthread_mutex_t lock;
    block items[BOX];
    int n;
} box;

static box boxes[WORKERS];
static atomic_long live_by_line[MAX_LINE]; /* bytes alive per allocation line */
static atomic_bool line_used[MAX_LINE];
static pthread_barrier_t round_done, round_go;
static atomic_bool stop_snapshots, storm;
static atomic_long snapshots_taken;
static atomic_long snapshot_failures; /* check.h's counters are the main thread's */

#define SNAP_CHECK(cond)                                                               \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            atomic_fetch_add(&snapshot_failures, 1);                                   \
            fprintf(stderr, "%s:%d: snapshot check failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                              \
    } while (0)

static uint64_t next_random(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* AT, with the line marked as an allocation site before the call (the
 * snapshotter may see the trace before the call returns). */
#define AT_SITE(line, expr) ((line) = __LINE__, atomic_store(&line_used[__LINE__], true), (expr))

static void account(const block *b, long sign)
{
    atomic_fetch_add(&live_by_line[b->line], sign * (long)b->size);
}

static void release(block *b)
{
    account(b, -1);
    if (b->domain == WEFT_DOMAIN_OBJ)
        weft_obj_free(b->p);
    else if (b->domain == WEFT_DOMAIN_RAW)
        weft_raw_free(b->p);
    else
        weft_free(b->p);
    b->p = NULL;
}

static size_t random_size(uint64_t *rng)
{
    uint64_t r = next_random(rng);
    return r % 64 == 0 ? 20000 + r % 100000 : 1 + r % 600;
}

static void allocate(block *b, uint64_t *rng)
{
    int line;
    size_t size = random_size(rng);
    switch (next_random(rng) % 3) {
    case 0:
        b->p = AT_SITE(line, weft_malloc(size));
        b->domain = WEFT_DOMAIN_MEM;
        break;
    case 1:
        b->p = AT_SITE(line, weft_obj_malloc(size));
        b->domain = WEFT_DOMAIN_OBJ;
        break;
    default:
        b->p = AT_SITE(line, weft_raw_calloc(size, 1));
        b->domain = WEFT_DOMAIN_RAW;
        break;
    }
    if (!b->p)
        abort();
    b->size = size;
    b->line = line;
    account(b, 1);
}

static void grow(block *b, uint64_t *rng)
{
    int line;
    size_t size = random_size(rng);
    void *q;
    if (b->domain == WEFT_DOMAIN_OBJ)
        q = AT_SITE(line, weft_obj_realloc(b->p, size));
    else if (b->domain == WEFT_DOMAIN_RAW)
        q = AT_SITE(line, weft_raw_realloc(b->p, size));
    else
        q = AT_SITE(line, weft_realloc(b->p, size));
    if (!q)
        abort();
    account(b, -1);
    b->p = q;
    b->size = size;
    b->line = line;
    account(b, 1);
}

static void empty_box(int w)
{
    pthread_mutex_lock(&boxes[w].lock);
    for (int i = 0; i < boxes[w].n; i++)
        release(&boxes[w].items[i]);
    boxes[w].n = 0;
    pthread_mutex_unlock(&boxes[w].lock);
}

static void give(int to, block *b)
{
    pthread_mutex_lock(&boxes[to].lock);
    if (boxes[to].n < BOX) {
        boxes[to].items[boxes[to].n++] = *b;
        b->p = NULL;
    }
    pthread_mutex_unlock(&boxes[to].lock);
    if (b->p)
        release(b);
}

static void work(int w, block *slots, uint64_t *rng, int ops)
{
    for (int i = 0; i < ops; i++) {
        block *b = &slots[next_random(rng) % SLOTS];
        uint64_t what = next_random(rng) % 16;
        if (!b->p)
            allocate(b, rng);
        else if (what < 6)
            release(b);
        else if (what < 9)
            grow(b, rng);
        else if (what < 11)
            give((w + 1) % WORKERS, b);
        if (i % 64 == 0)
            empty_box(w);
    }
}

static void *worker(void *arg)
{
    int w = (int)(intptr_t)arg;
    uint64_t rng = 0x1234 + (uint64_t)w;
    block *slots = calloc(SLOTS, sizeof *slots);
    for (int round = 0; round < ROUNDS; round++) {
        work(w, slots, &rng, OPS);
        pthread_barrier_wait(&round_done); /* quiescent: the main thread checks */
        pthread_barrier_wait(&round_go);
    }
    while (atomic_load(&storm))
        work(w, slots, &rng, 1000);
    for (int i = 0; i < SLOTS; i++)
        if (slots[i].p)
            release(&slots[i]);
    pthread_barrier_wait(&round_done); /* every worker stopped giving */
    empty_box(w);
    free(slots);
    return NULL;
}

/* Snapshots taken while the workers run: each is internally consistent. */
static void *snapshotter(void *arg)
{
    weft_snapshot *last = NULL;
    /* One snapshot at least: tracing is on when main asks us to stop. */
    while (!atomic_load(&stop_snapshots) || atomic_load(&snapshots_taken) == 0) {
        weft_snapshot *s = weft_trace_snapshot();
        if (!s) {
            if (weft_error() != WEFT_ESTATE)
                fprintf(stderr, "snapshot: %s\n", weft_error_message());
            SNAP_CHECK(weft_error() == WEFT_ESTATE); /* between two sessions of the storm */
            continue;
        }
        size_t count, size = weft_snapshot_size(s, &count);
        weft_trace_stats *st = weft_snapshot_statistics(s, WEFT_TRACE_BY_LINE);
        if (st) {
            SNAP_CHECK(st->total_size == size && st->total_count == count);
            for (size_t i = 0; i < st->nstats; i++) {
                const weft_trace_frame *f = &st->stats[i].traceback->frames[0];
                if (ends_with(f->filename, THIS_FILE))
                    SNAP_CHECK(f->lineno < MAX_LINE && atomic_load(&line_used[f->lineno]));
            }
        }
        weft_trace_stats_free(st);
        if (last) {
            weft_trace_stats *d = weft_snapshot_compare(s, last, WEFT_TRACE_BY_TRACEBACK);
            SNAP_CHECK(d && d->total_size == size);
            weft_trace_stats_free(d);
        }
        size_t current, peak;
        weft_trace_get_memory(&current, &peak);
        SNAP_CHECK(current <= peak);
        weft_snapshot_free(last);
        last = s;
        atomic_fetch_add(&snapshots_taken, 1);
    }
    weft_snapshot_free(last);
    return NULL;
}

static long expected_live(void)
{
    long total = 0;
    for (int i = 0; i < MAX_LINE; i++)
        total += atomic_load(&live_by_line[i]);
    return total;
}

static void check_quiescent(void)
{
    size_t current, peak;
    weft_trace_get_memory(&current, &peak);
    long want = expected_live();
    CHECK_EQ_INT(current, want);
    CHECK(peak >= current);
    weft_snapshot *s = weft_trace_snapshot();
    REQUIRE(s != NULL);
    CHECK_EQ_INT(weft_snapshot_size(s, NULL), want);
    weft_trace_stats *st = weft_snapshot_statistics(s, WEFT_TRACE_BY_LINE);
    REQUIRE(st != NULL);
    for (int line = 0; line < MAX_LINE; line++) {
        if (!atomic_load(&line_used[line]))
            continue;
        long bytes = atomic_load(&live_by_line[line]);
        const weft_trace_stat *stat = find_line(st, THIS_FILE, (unsigned)line);
        CHECK_EQ_INT(stat ? (long)stat->size : 0, bytes);
    }
    weft_trace_stats_free(st);
    weft_snapshot_free(s);
}

int main(void)
{
    for (int w = 0; w < WORKERS; w++)
        pthread_mutex_init(&boxes[w].lock, NULL);
    pthread_barrier_init(&round_done, NULL, WORKERS + 1);
    pthread_barrier_init(&round_go, NULL, WORKERS + 1);
    REQUIRE(weft_trace_start(4) == 0);

    pthread_t workers[WORKERS], snap;
    pthread_create(&snap, NULL, snapshotter, NULL);
    atomic_store(&storm, true);
    for (int w = 0; w < WORKERS; w++)
        pthread_create(&workers[w], NULL, worker, (void *)(intptr_t)w);
    for (int round = 0; round < ROUNDS; round++) {
        pthread_barrier_wait(&round_done);
        check_quiescent();
        pthread_barrier_wait(&round_go);
    }

    /* The storm: sessions come and go under the workers' feet. */
    for (int i = 0; i < 300; i++) {
        weft_trace_stop();
        if (i % 3 == 0)
            sched_yield();
        REQUIRE(weft_trace_start(1 + i % 24) == 0);
        if (i % 5 == 0)
            weft_trace_clear();
        if (i % 7 == 0)
            weft_trace_reset_peak();
    }
    atomic_store(&storm, false);
    pthread_barrier_wait(&round_done);
    for (int w = 0; w < WORKERS; w++)
        pthread_join(workers[w], NULL);
    atomic_store(&stop_snapshots, true);
    pthread_join(snap, NULL);

    /* Everything the workers allocated is freed: this session ends at 0. */
    size_t current, peak;
    weft_trace_get_memory(&current, &peak);
    CHECK_EQ_INT(current, 0);
    CHECK_EQ_INT(expected_live(), 0);
    CHECK(atomic_load(&snapshots_taken) > 0);
    CHECK_EQ_INT(atomic_load(&snapshot_failures), 0);
    weft_trace_stop();
    CHECK_EQ_INT(weft_trace_get_overhead(), 0);
    printf("%ld snapshots taken while allocating\n", atomic_load(&snapshots_taken));
    return check_finish();
}
