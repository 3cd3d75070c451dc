/* bench/bench.h: the C side of weft-bench.
 *
 * Benchmark bodies are C. Each is a `void body(bench_state *s)` that sets up
 * untimed, then loops `while (bench_keep_running(s)) { ... }` over the timed
 * work, as a Google Benchmark function loops over its benchmark::State. The
 * C++ shim (bench_main.cc) implements the functions below over
 * benchmark::State and registers every benchmark that the suites list.
 *
 * A suite is one benchmark file: a table of bench_def rows (one per benchmark
 * family) and optional setup/teardown hooks run once around the whole run.
 * Adding a benchmark is adding a row to its file's table; adding a file is
 * adding its suite to BENCH_SUITES below and its source to CMakeLists.txt.
 *
 * Names are "<workload>/<impl>" (Google Benchmark appends "/<arg>",
 * "/iterations:N", "/real_time", "/threads:N"), so that report.py pairs every
 * "<workload>/weft..." with its peers "<workload>/<peer>..." of the same
 * suffix. */
#ifndef WEFT_BENCH_H
#define WEFT_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A benchmark::State seen from C. Every call takes the state of the calling
 * benchmark thread. */
typedef struct bench_state bench_state;

/* One timed iteration: true while the body should do another. */
bool bench_keep_running(bench_state *s);
/* n timed iterations at once: true while the body should do another n. The
 * total may overshoot the planned count by up to n - 1; bench_iterations()
 * counts what was really run. Cheaper than a call per iteration for bodies of
 * a few nanoseconds. */
bool bench_keep_running_batch(bench_state *s, int64_t n);
/* Iterations started so far (inside the loop: including the current one). */
int64_t bench_iterations(const bench_state *s);
/* Iterations planned for this run. Inside the loop, the current iteration (or
 * batch) is the last one when bench_iterations() >= bench_max_iterations(). */
int64_t bench_max_iterations(const bench_state *s);
/* The ith argument of this instance (0: the one from bench_def.args). */
int64_t bench_arg(const bench_state *s, int i);
/* Which of bench_threads() threads runs this body (0 is the process's main
 * thread for single-threaded benchmarks). */
int bench_thread_index(const bench_state *s);
int bench_threads(const bench_state *s);
/* Stop and restart the clock inside the loop (each costs about a microsecond:
 * keep them out of per-item work). */
void bench_pause(bench_state *s);
void bench_resume(bench_state *s);
/* Items this thread processed in the run (reported as items_per_second).
 * With .threads = N, Google Benchmark 1.7 (the version used here) sums the
 * items and the iterations of all threads; the time per iteration it reports
 * is the wall time divided by the iterations of all threads (the inverse of
 * the total throughput), but items_per_second divides the items by the CPU
 * time summed over the threads: a rate per thread. Rows that set .real_time
 * divide by the wall time instead, which makes it the total rate. */
void bench_set_items(bench_state *s, int64_t items);
/* A user counter, reported as it is (set it after the loop, or inside it
 * while the clock is paused). */
void bench_counter(bench_state *s, const char *name, double value);
/* Abandon the run with an error message (the body must then return without
 * calling bench_keep_running again). */
void bench_skip(bench_state *s, const char *message);
/* A key/value pair for the report's context (call it from a setup hook). */
void bench_context(const char *key, const char *value);

/* Keep the compiler from assuming anything about *p or from eliding the
 * computation of p: the same empty asm as benchmark::DoNotOptimize, inlined
 * so that the escape costs nothing next to a malloc/free pair of a few
 * nanoseconds (an out-of-line call would cost about as much as the pair). */
static inline void bench_escape(const void *p)
{
    __asm__ volatile("" : : "r"(p) : "memory");
}
/* Make every pending store count as observed (benchmark::ClobberMemory). */
static inline void bench_clobber(void)
{
    __asm__ volatile("" : : : "memory");
}

typedef void (*bench_fn)(bench_state *s);

enum bench_unit { BENCH_NS = 0, BENCH_US = 1, BENCH_MS = 2, BENCH_S = 3 };

/* One benchmark family. */
typedef struct bench_def {
    const char *name; /* "<workload>/<impl>" */
    bench_fn fn;
    const int64_t *args;  /* one instance per value, named "<name>/<value>"; */
    int nargs;            /*   NULL/0: a single instance without argument */
    int threads;          /* > 0: run the body on that many threads at once, the */
                          /*   instance named ".../threads:N" (1 included) */
    int64_t iterations;   /* > 0: exactly that many iterations, once */
    enum bench_unit unit; /* time unit of the console and JSON output */
    bool real_time;       /* rates over wall time (UseRealTime; names get */
                          /*   "/real_time"): with threads, items_per_second is then */
                          /*   the total of all threads (see bench_set_items) */
} bench_def;

/* A bench_def row: BENCH("<workload>/<impl>", fn, optional designated fields),
 * e.g. BENCH("alloc_batch/weft", alloc_batch_weft, .threads = 2). */
#define BENCH(name_, fn_, ...)                                                           \
    {                                                                                    \
        .name = (name_), .fn = (fn_), __VA_ARGS__                                        \
    }
/* The argument list of a bench_def row: .args and .nargs together. */
#define BENCH_ARGS(...)                                                                  \
    .args = (const int64_t[]){__VA_ARGS__},                                              \
    .nargs = (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t))

/* One benchmark file. */
typedef struct bench_suite {
    const char *name;
    void (*setup)(void);    /* before any benchmark runs, on the main thread; NULL */
    void (*teardown)(void); /* after they all ran; NULL */
    const bench_def *defs;  /* ends with BENCH_END */
} bench_suite;
#define BENCH_END                                                                        \
    {                                                                                    \
        .name = NULL                                                                     \
    }

/* Every suite of weft-bench, in the order they are registered (and run).
 * X(n) names the suite object `bench_suite_<n>`. */
#define BENCH_SUITES(X) X(alloc) X(object) X(container) X(trace) X(gc)

#define BENCH_DECLARE_SUITE(n) extern const bench_suite bench_suite_##n;
BENCH_SUITES(BENCH_DECLARE_SUITE)
#undef BENCH_DECLARE_SUITE

#ifdef __cplusplus
}
#endif

#endif
