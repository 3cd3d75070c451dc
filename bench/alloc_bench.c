/* bench/alloc_bench.c: weft's small-block allocator side by side with its peers.
 *
 * Workloads (each run for every allocator, "impl", that supports it):
 *   alloc_pair/<impl>/<size>  malloc then free of one size, over and over;
 *   alloc_batch/<impl>        10 000 blocks of random sizes 16..512, all
 *                             allocated, then all freed in a random order (the
 *                             sizes and the order are drawn once, untimed);
 *                             also on two threads at once (".../threads:2");
 *   alloc_xthread/<impl>      one thread allocates, another frees: blocks go
 *                             through a bounded single-producer single-consumer
 *                             ring; the time is per block handed over;
 *   mem_churn/<impl>          1 GiB of random small blocks allocated (and
 *                             written), then all freed: resident memory before,
 *                             at the peak, after the frees and after the
 *                             allocator's own trim call; for weft, the pool
 *                             bytes wasted at the peak.
 *
 * Impls: weft (weft_malloc/weft_free), glibc (glibc's own __libc_malloc,
 * looked up in libc.so.6 itself: libmimalloc exports a __libc_malloc of its
 * own), jemalloc (the malloc/free of libjemalloc, looked up in it: its
 * fastest path; mallocx/dallocx take a general one, about 60% slower per
 * pair; libjemalloc is also the process's malloc in weft-bench), mimalloc
 * (mi_malloc/mi_free), pymalloc (CPython 3.11's
 * PyObject_Malloc/PyObject_Free; single-threaded workloads only, since it
 * relies on the GIL, which the main thread holds after Py_Initialize).
 *
 * Every body is an always-inline function that takes the impl's functions as
 * constant arguments, so that each per-impl entry point calls its allocator
 * directly, as a program would. */
#define PY_SSIZE_T_CLEAN
#include <Python.h> /* first: it sets feature macros for the system headers */

#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <jemalloc/jemalloc.h>
#include <mimalloc.h>
#include <weft/heap_stats.h>
#include <weft/mem.h>

#include "bench.h"

#define SMALL_MIN 16
#define SMALL_MAX 512    /* == WEFT_SMALL_MAX: every block is a small one */
#define SEED 0x77656674u /* "weft" */

#define PAIR_BATCH 64                 /* alloc_pair pairs per call into the harness */
#define BATCH_BLOCKS 10000            /* alloc_batch blocks per iteration */
#define MAX_THREADS 8                 /* alloc_batch threads at most */
#define XRING_SLOTS 1024              /* alloc_xthread ring capacity (a power of two) */
#define XTHREAD_BATCH 256             /* alloc_xthread blocks per call into the harness */
#define XTHREAD_SIZES 4096            /* alloc_xthread size table (a power of two) */
#define CHURN_BYTES ((size_t)1 << 30) /* mem_churn: bytes requested in all */
#define POOL_BYTES 16384              /* weft's pool size (DESIGN.md, section 6) */
#define MIB (1024.0 * 1024.0)

_Static_assert(SMALL_MAX == WEFT_SMALL_MAX, "the workloads are about small blocks");

/* ---------------------------------------------------------------- random sizes */

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Uniform in SMALL_MIN..SMALL_MAX, both included. */
static size_t random_small_size(uint64_t *state)
{
    return SMALL_MIN + (size_t)(splitmix64(state) % (SMALL_MAX - SMALL_MIN + 1));
}

/* Drawn once by the setup hook, read-only afterwards (shared by threads). */
static uint16_t batch_size[BATCH_BLOCKS];
static uint32_t batch_order[BATCH_BLOCKS]; /* a permutation: the free order */
static uint16_t xthread_size[XTHREAD_SIZES];

static void draw_tables(void)
{
    uint64_t rng = SEED;
    for (size_t i = 0; i < BATCH_BLOCKS; i++) {
        batch_size[i] = (uint16_t)random_small_size(&rng);
        batch_order[i] = (uint32_t)i;
    }
    for (size_t i = BATCH_BLOCKS - 1; i > 0; i--) { /* Fisher-Yates */
        size_t j = (size_t)(splitmix64(&rng) % (i + 1));
        uint32_t t = batch_order[i];
        batch_order[i] = batch_order[j];
        batch_order[j] = t;
    }
    for (size_t i = 0; i < XTHREAD_SIZES; i++)
        xthread_size[i] = (uint16_t)random_small_size(&rng);
}

/* ---------------------------------------------------------------- the allocators */

typedef void *(*alloc_fn)(size_t size);
typedef void (*free_fn)(void *ptr);
typedef void (*trim_fn)(void);

/* glibc's and jemalloc's allocators, found in their libraries by the setup
 * hook (calls through these cost what calls through the PLT cost). */
static void *(*glibc_malloc)(size_t);
static void (*glibc_free)(void *);
static int (*glibc_malloc_trim)(size_t);
static void *(*jemalloc_malloc)(size_t);
static void (*jemalloc_free)(void *);

static inline void *impl_weft_alloc(size_t n)
{
    return weft_malloc(n);
}
static inline void impl_weft_free(void *p)
{
    weft_free(p);
}
static void impl_weft_trim(void)
{
    weft_heap_trim();
}

static inline void *impl_glibc_alloc(size_t n)
{
    return glibc_malloc(n);
}
static inline void impl_glibc_free(void *p)
{
    glibc_free(p);
}
static void impl_glibc_trim(void)
{
    glibc_malloc_trim(0);
}

static inline void *impl_jemalloc_alloc(size_t n)
{
    return jemalloc_malloc(n);
}
static inline void impl_jemalloc_free(void *p)
{
    jemalloc_free(p);
}
static void impl_jemalloc_trim(void)
{
    char purge[64];
    snprintf(purge, sizeof purge, "arena.%u.purge", (unsigned)MALLCTL_ARENAS_ALL);
    mallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
    mallctl(purge, NULL, NULL, NULL, 0);
}

static inline void *impl_mimalloc_alloc(size_t n)
{
    return mi_malloc(n);
}
static inline void impl_mimalloc_free(void *p)
{
    mi_free(p);
}
static void impl_mimalloc_trim(void)
{
    mi_collect(true);
}

static inline void *impl_pymalloc_alloc(size_t n)
{
    return PyObject_Malloc(n);
}
static inline void impl_pymalloc_free(void *p)
{
    PyObject_Free(p);
}
static void impl_pymalloc_trim(void)
{
    /* pymalloc has no trim call: it unmaps an arena as soon as it is empty. */
}

#define BODY static inline __attribute__((always_inline)) void

/* ---------------------------------------------------------------- alloc_pair */

BODY alloc_pair(bench_state *s, alloc_fn alloc, free_fn release)
{
    size_t size = (size_t)bench_arg(s, 0);
    while (bench_keep_running_batch(s, PAIR_BATCH)) {
        for (int i = 0; i < PAIR_BATCH; i++) {
            void *p = alloc(size);
            if (__builtin_expect(p == NULL, 0)) {
                bench_skip(s, "allocation failed");
                return;
            }
            bench_escape(p);
            release(p);
        }
    }
    bench_set_items(s, bench_iterations(s));
}

/* ---------------------------------------------------------------- alloc_batch */

/* Each thread's live blocks, on cache lines of its own. */
static struct {
    alignas(64) void *ptr[BATCH_BLOCKS];
} batch_live[MAX_THREADS];

BODY alloc_batch(bench_state *s, alloc_fn alloc, free_fn release)
{
    if (bench_threads(s) > MAX_THREADS) {
        bench_skip(s, "too many threads for alloc_batch");
        return;
    }
    void **live = batch_live[bench_thread_index(s)].ptr;
    while (bench_keep_running(s)) {
        for (size_t i = 0; i < BATCH_BLOCKS; i++) {
            void *p = alloc(batch_size[i]);
            if (__builtin_expect(p == NULL, 0)) {
                while (i > 0)
                    release(live[--i]);
                bench_skip(s, "allocation failed");
                return;
            }
            *(unsigned char *)p = (unsigned char)i; /* a program writes its blocks */
            live[i] = p;
        }
        bench_clobber();
        for (size_t i = 0; i < BATCH_BLOCKS; i++)
            release(live[batch_order[i]]);
    }
    bench_set_items(s, bench_iterations(s) * BATCH_BLOCKS);
}

/* ---------------------------------------------------------------- alloc_xthread */

/* A bounded single-producer single-consumer ring of block pointers (the
 * harness, not an allocator). Positions only grow; slot i % XRING_SLOTS holds
 * the ith block. The producer owns tail (and its private fields), the
 * consumer head; each side publishes its position once per XRING_PUBLISH
 * blocks rather than per block, and reads the other side's only when the
 * ring looks full (producer) or when it has freed all it saw (consumer), so
 * that the two threads exchange ring cache lines every few dozen blocks, not
 * every block: the ring costs about 11 ns per block here, against 80 or more
 * for the cheapest allocator's cross-thread free.
 * The release store of tail publishes the slots written before it (acquire
 * load in xring_consume); the release store of head says that the consumer is
 * done with the slots before it (acquire load in xring_push). A NULL block
 * tells the consumer to stop. */
#define XRING_PUBLISH 32

typedef struct xring {
    alignas(64) atomic_size_t head; /* published by the consumer only */
    atomic_int ready;               /* set by the consumer once it runs */
    alignas(64) atomic_size_t tail; /* published by the producer only */
    alignas(64) size_t tail_next;   /* producer only: the next slot to fill */
    size_t head_seen;               /* producer only: its last look at head */
    alignas(64) void *slot[XRING_SLOTS];
} xring;

static xring xthread_ring;

static inline void spin_pause(unsigned *spins)
{
    if (++*spins < 256) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    } else {
        *spins = 0;
        sched_yield(); /* two cores and a third busy thread: let it run */
    }
}

static inline void xring_flush(xring *r)
{
    atomic_store_explicit(&r->tail, r->tail_next, memory_order_release);
}

static inline void xring_push(xring *r, void *p)
{
    size_t t = r->tail_next;
    if (__builtin_expect(t - r->head_seen == XRING_SLOTS, 0)) {
        unsigned spins = 0;
        xring_flush(r);
        for (;;) {
            r->head_seen = atomic_load_explicit(&r->head, memory_order_acquire);
            if (t - r->head_seen < XRING_SLOTS)
                break;
            spin_pause(&spins);
        }
    }
    r->slot[t & (XRING_SLOTS - 1)] = p;
    r->tail_next = ++t;
    if (t % XRING_PUBLISH == 0)
        xring_flush(r);
}

/* Free every block pushed until the NULL one. */
BODY xring_consume(xring *r, free_fn release)
{
    size_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    unsigned spins = 0;
    atomic_store_explicit(&r->ready, 1, memory_order_release);
    for (;;) {
        size_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (t == h) {
            spin_pause(&spins);
            continue;
        }
        spins = 0;
        while (h != t) {
            void *p = r->slot[h & (XRING_SLOTS - 1)];
            h++;
            if (!p) {
                atomic_store_explicit(&r->head, h, memory_order_release);
                return;
            }
            release(p);
            if (h % XRING_PUBLISH == 0)
                atomic_store_explicit(&r->head, h, memory_order_release);
        }
        atomic_store_explicit(&r->head, h, memory_order_release);
    }
}

/* Wait until the consumer has freed every block pushed so far. */
static void xring_drain(xring *r)
{
    unsigned spins = 0;
    xring_flush(r);
    while (atomic_load_explicit(&r->head, memory_order_acquire) != r->tail_next)
        spin_pause(&spins);
    r->head_seen = r->tail_next;
}

/* The first two CPUs the process may run on, into *first and *second. */
static bool two_cpus(cpu_set_t *allowed, cpu_set_t *first, cpu_set_t *second)
{
    if (sched_getaffinity(0, sizeof *allowed, allowed) != 0)
        return false;
    CPU_ZERO(first);
    CPU_ZERO(second);
    int found = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && found < 2; cpu++)
        if (CPU_ISSET(cpu, allowed))
            CPU_SET(cpu, found++ ? second : first);
    return found == 2;
}

/* The benchmark thread is the producer; it starts the consumer before the
 * timed loop and waits, inside the last timed batch, until the consumer has
 * freed every block, so that the time covers the whole handoff. The two are
 * pinned to two different CPUs for the run: left free, the scheduler may put
 * both on one CPU when another process keeps the other one busy, and a
 * handoff within one CPU is another workload (several times faster). */
BODY alloc_xthread(bench_state *s, alloc_fn alloc, void *(*consumer)(void *))
{
    xring *r = &xthread_ring;
    atomic_store_explicit(&r->head, 0, memory_order_relaxed);
    atomic_store_explicit(&r->tail, 0, memory_order_relaxed);
    atomic_store_explicit(&r->ready, 0, memory_order_relaxed);
    r->tail_next = r->head_seen = 0;

    cpu_set_t allowed, producer_cpu, consumer_cpu;
    if (!two_cpus(&allowed, &producer_cpu, &consumer_cpu)) {
        bench_skip(s, "alloc_xthread needs two CPUs");
        return;
    }
    pthread_attr_t attr;
    pthread_t thread;
    pthread_attr_init(&attr);
    pthread_attr_setaffinity_np(&attr, sizeof consumer_cpu, &consumer_cpu);
    int rc = pthread_create(&thread, &attr, consumer, r);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        bench_skip(s, "pthread_create failed");
        return;
    }
    sched_setaffinity(0, sizeof producer_cpu, &producer_cpu);
    unsigned spins = 0;
    while (!atomic_load_explicit(&r->ready, memory_order_acquire))
        spin_pause(&spins);

    const char *error = NULL;
    size_t n = 0;
    while (!error && bench_keep_running_batch(s, XTHREAD_BATCH)) {
        for (int i = 0; i < XTHREAD_BATCH; i++, n++) {
            void *p = alloc(xthread_size[n & (XTHREAD_SIZES - 1)]);
            if (__builtin_expect(p == NULL, 0)) {
                error = "allocation failed";
                break;
            }
            *(unsigned char *)p = (unsigned char)n;
            xring_push(r, p);
        }
        if (bench_iterations(s) >= bench_max_iterations(s))
            xring_drain(r);
    }
    xring_push(r, NULL);
    xring_flush(r);
    pthread_join(thread, NULL);
    sched_setaffinity(0, sizeof allowed, &allowed);
    if (error)
        bench_skip(s, error);
    else
        bench_set_items(s, bench_iterations(s));
}

/* ---------------------------------------------------------------- mem_churn */

/* Resident memory of the process, from /proc/self/statm (read without
 * allocating). */
static double rss_mib(void)
{
    char buf[256];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t len = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (len <= 0)
        return -1;
    buf[len] = '\0';
    unsigned long size, resident;
    if (sscanf(buf, "%lu %lu", &size, &resident) != 2)
        return -1;
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / MIB;
}

/* weft's pool figures at the peak: waste_pct is the part of the pool bytes
 * that holds no requested byte (size-class rounding, pool headers and tails,
 * free blocks in partly used pools); round_pct the part lost to rounding
 * alone. */
static void weft_at_peak(bench_state *s, size_t blocks, size_t requested)
{
    weft_heap_stats st;
    weft_heap_get_stats(&st);
    double pool_bytes = (double)st.pools_in_use * POOL_BYTES;
    if (pool_bytes > 0) {
        bench_counter(s, "waste_pct",
                      100.0 * (pool_bytes - (double)requested) / pool_bytes);
        bench_counter(s, "round_pct",
                      100.0 * ((double)st.small_bytes_in_use - (double)requested) /
                          pool_bytes);
    }
    bench_counter(s, "mapped_mib", (double)st.bytes_mapped / MIB);
    if (st.small_blocks_in_use < blocks || st.small_bytes_in_use < requested)
        fprintf(stderr,
                "mem_churn/weft: heap stats say %zu small blocks, %zu bytes in use; "
                "%zu blocks, %zu bytes are live\n",
                st.small_blocks_in_use, st.small_bytes_in_use, blocks, requested);
}

typedef void (*peak_fn)(bench_state *s, size_t blocks, size_t requested);

/* The block table is mapped and touched before the first RSS reading, so it
 * is part of every figure alike; the allocator under test never sees it. */
BODY mem_churn(bench_state *s, alloc_fn alloc, free_fn release, trim_fn trim,
               peak_fn at_peak)
{
    /* Sizes average 264 bytes; 240 leaves room for any seed. */
    size_t cap = CHURN_BYTES / 240;
    void **live = mmap(NULL, cap * sizeof *live, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (live == MAP_FAILED) {
        bench_skip(s, "mmap of the block table failed");
        return;
    }
    double start = 0, peak = 0, after_free = 0, after_trim = 0;
    size_t n = 0, requested = 0;
    const char *error = NULL;
    while (!error && bench_keep_running(s)) {
        bench_pause(s);
        start = rss_mib();
        bench_resume(s);
        uint64_t rng = SEED;
        n = requested = 0;
        while (requested < CHURN_BYTES) {
            size_t size = random_small_size(&rng);
            void *p = n < cap ? alloc(size) : NULL;
            if (p == NULL) {
                error = n < cap ? "allocation failed" : "block table full";
                break;
            }
            memset(p, 0xa5, size); /* resident only once written */
            live[n++] = p;
            requested += size;
        }
        bench_pause(s);
        peak = rss_mib();
        if (at_peak && !error)
            at_peak(s, n, requested);
        bench_resume(s);
        for (size_t i = 0; i < n; i++)
            release(live[i]);
        bench_pause(s);
        after_free = rss_mib();
        trim();
        after_trim = rss_mib();
        bench_resume(s);
    }
    munmap(live, cap * sizeof *live);
    if (error) {
        bench_skip(s, error);
        return;
    }
    bench_set_items(s, bench_iterations(s) * (int64_t)n);
    bench_counter(s, "rss_start_mib", start);
    bench_counter(s, "rss_peak_mib", peak);
    bench_counter(s, "rss_after_free_mib", after_free);
    bench_counter(s, "rss_returned_gap_mib", after_free - start);
    bench_counter(s, "rss_after_trim_mib", after_trim);
}

/* ---------------------------------------------------------------- entry points */

#define ALL_IMPLS(X) X(weft) X(glibc) X(jemalloc) X(mimalloc) X(pymalloc)
#define THREAD_SAFE_IMPLS(X) X(weft) X(glibc) X(jemalloc) X(mimalloc)

#define ENTRIES(impl)                                                                    \
    static void alloc_pair_##impl(bench_state *s)                                        \
    {                                                                                    \
        alloc_pair(s, impl_##impl##_alloc, impl_##impl##_free);                          \
    }                                                                                    \
    static void alloc_batch_##impl(bench_state *s)                                       \
    {                                                                                    \
        alloc_batch(s, impl_##impl##_alloc, impl_##impl##_free);                         \
    }
ALL_IMPLS(ENTRIES)
#undef ENTRIES

#define THREAD_ENTRIES(impl)                                                             \
    static void *xthread_consumer_##impl(void *ring)                                     \
    {                                                                                    \
        xring_consume(ring, impl_##impl##_free);                                         \
        return NULL;                                                                     \
    }                                                                                    \
    static void alloc_xthread_##impl(bench_state *s)                                     \
    {                                                                                    \
        alloc_xthread(s, impl_##impl##_alloc, xthread_consumer_##impl);                  \
    }
THREAD_SAFE_IMPLS(THREAD_ENTRIES)
#undef THREAD_ENTRIES

static void mem_churn_weft(bench_state *s)
{
    mem_churn(s, impl_weft_alloc, impl_weft_free, impl_weft_trim, weft_at_peak);
}
#define CHURN_ENTRY(impl)                                                                \
    static void mem_churn_##impl(bench_state *s)                                         \
    {                                                                                    \
        mem_churn(s, impl_##impl##_alloc, impl_##impl##_free, impl_##impl##_trim, NULL); \
    }
CHURN_ENTRY(glibc)
CHURN_ENTRY(jemalloc)
CHURN_ENTRY(mimalloc)
CHURN_ENTRY(pymalloc)
#undef CHURN_ENTRY

/* ---------------------------------------------------------------- setup */

static void *must_open(const char *lib)
{
    void *handle = dlopen(lib, RTLD_NOW | RTLD_NOLOAD);
    if (!handle) {
        fprintf(stderr, "weft-bench: %s is not loaded: %s\n", lib, dlerror());
        exit(1);
    }
    return handle;
}

/* name as defined by lib itself (dlsym on a handle looks there first). */
static void *must_find(void *lib, const char *name)
{
    void *sym = dlsym(lib, name);
    if (!sym) {
        fprintf(stderr, "weft-bench: %s not found: %s\n", name, dlerror());
        exit(1);
    }
    return sym;
}

static const char *library_of(void *sym)
{
    Dl_info info;
    return sym && dladdr(sym, &info) && info.dli_fname ? info.dli_fname : "?";
}

static void alloc_setup(void)
{
    draw_tables();

    /* Looked up in libc.so.6 itself: by plain symbol lookup, __libc_malloc
     * would be libmimalloc's (it exports one that forwards to mi_malloc). */
    void *libc = must_open("libc.so.6");
    void *libjemalloc = must_open("libjemalloc.so.2");
    jemalloc_malloc = (void *(*)(size_t))must_find(libjemalloc, "malloc");
    jemalloc_free = (void (*)(void *))must_find(libjemalloc, "free");
    glibc_malloc = (void *(*)(size_t))must_find(libc, "__libc_malloc");
    glibc_free = (void (*)(void *))must_find(libc, "__libc_free");
    glibc_malloc_trim = (int (*)(size_t))must_find(libc, "malloc_trim");

    Py_InitializeEx(0); /* 0: leave the signal handlers alone */

    bench_context("process_malloc", library_of(dlsym(RTLD_DEFAULT, "malloc")));
    bench_context("glibc_malloc", library_of((void *)glibc_malloc));
    bench_context("jemalloc_malloc", library_of((void *)jemalloc_malloc));
    const char *env[] = {"WEFT_MALLOC", "PYTHONMALLOC", "MALLOC_CONF",
                         "MIMALLOC_VERBOSE"};
    for (size_t i = 0; i < sizeof env / sizeof env[0]; i++)
        if (getenv(env[i]))
            bench_context(env[i], getenv(env[i]));
}

static void alloc_teardown(void)
{
    Py_FinalizeEx();
}

/* ---------------------------------------------------------------- the table */

#define SIZES BENCH_ARGS(16, 32, 64, 128, 256, 512)

static const bench_def alloc_defs[] = {
    BENCH("alloc_pair/weft", alloc_pair_weft, SIZES),
    BENCH("alloc_pair/glibc", alloc_pair_glibc, SIZES),
    BENCH("alloc_pair/jemalloc", alloc_pair_jemalloc, SIZES),
    BENCH("alloc_pair/mimalloc", alloc_pair_mimalloc, SIZES),
    BENCH("alloc_pair/pymalloc", alloc_pair_pymalloc, SIZES),

    BENCH("alloc_batch/weft", alloc_batch_weft, .unit = BENCH_US),
    BENCH("alloc_batch/glibc", alloc_batch_glibc, .unit = BENCH_US),
    BENCH("alloc_batch/jemalloc", alloc_batch_jemalloc, .unit = BENCH_US),
    BENCH("alloc_batch/mimalloc", alloc_batch_mimalloc, .unit = BENCH_US),
    BENCH("alloc_batch/pymalloc", alloc_batch_pymalloc, .unit = BENCH_US),

    BENCH("alloc_batch/weft", alloc_batch_weft, .threads = 2, .unit = BENCH_US),
    BENCH("alloc_batch/glibc", alloc_batch_glibc, .threads = 2, .unit = BENCH_US),
    BENCH("alloc_batch/jemalloc", alloc_batch_jemalloc, .threads = 2, .unit = BENCH_US),
    BENCH("alloc_batch/mimalloc", alloc_batch_mimalloc, .threads = 2, .unit = BENCH_US),

    BENCH("alloc_xthread/weft", alloc_xthread_weft),
    BENCH("alloc_xthread/glibc", alloc_xthread_glibc),
    BENCH("alloc_xthread/jemalloc", alloc_xthread_jemalloc),
    BENCH("alloc_xthread/mimalloc", alloc_xthread_mimalloc),

    BENCH("mem_churn/weft", mem_churn_weft, .iterations = 1, .unit = BENCH_MS),
    BENCH("mem_churn/glibc", mem_churn_glibc, .iterations = 1, .unit = BENCH_MS),
    BENCH("mem_churn/jemalloc", mem_churn_jemalloc, .iterations = 1, .unit = BENCH_MS),
    BENCH("mem_churn/mimalloc", mem_churn_mimalloc, .iterations = 1, .unit = BENCH_MS),
    BENCH("mem_churn/pymalloc", mem_churn_pymalloc, .iterations = 1, .unit = BENCH_MS),

    BENCH_END,
};

const bench_suite bench_suite_alloc = {
    .name = "alloc",
    .setup = alloc_setup,
    .teardown = alloc_teardown,
    .defs = alloc_defs,
};
