/* bench/trace_bench.c: what allocation tracing costs (include/weft/trace.h).
 *
 *   alloc_pair/weft_traced1/<size>   weft_malloc then weft_free of one size,
 *                                    over and over, with tracing on and one
 *                                    frame kept: the caller's line, found
 *                                    without unwinding;
 *   alloc_pair/weft_traced16/<size>  the same keeping 16 frames (unwound with
 *                                    libunwind; the counter `frames` says how
 *                                    many the stack had);
 * also on two threads at once (".../threads:2": the trace table's shards and
 * the exact totals shared between them). The same loop with tracing off is
 * alloc_pair/weft/<size> in alloc_bench.c: the ratio of the two is the cost.
 *
 * Tracing is started by every thread of a run before its loop (starting again
 * with the same limit does nothing) and stopped by the last one to finish. */
#include <stdatomic.h>
#include <weft/mem.h>
#include <weft/trace.h>

#include "bench.h"

#define PAIR_BATCH 64 /* pairs per call into the harness, as alloc_pair */

static atomic_int running; /* threads of the current run still in their loop */

static inline __attribute__((always_inline)) void traced_pair(bench_state *s, int nframes)
{
    size_t size = (size_t)bench_arg(s, 0);
    atomic_fetch_add(&running, 1);
    if (weft_trace_start(nframes) != 0) {
        atomic_fetch_sub(&running, 1);
        bench_skip(s, "weft_trace_start failed");
        return;
    }
    void *sample = weft_malloc(size);
    weft_traceback *tb = weft_trace_get_traceback(sample);
    double frames = tb ? (double)tb->nframes : 0;
    weft_traceback_free(tb);
    weft_free(sample);
    while (bench_keep_running_batch(s, PAIR_BATCH)) {
        for (int i = 0; i < PAIR_BATCH; i++) {
            void *p = weft_malloc(size);
            if (__builtin_expect(p == NULL, 0)) {
                if (atomic_fetch_sub(&running, 1) == 1)
                    weft_trace_stop();
                bench_skip(s, "allocation failed");
                return;
            }
            bench_escape(p);
            weft_free(p);
        }
    }
    if (atomic_fetch_sub(&running, 1) == 1)
        weft_trace_stop();
    bench_set_items(s, bench_iterations(s));
    bench_counter(s, "frames", frames / bench_threads(s)); /* summed over threads */
}

static void alloc_pair_traced1(bench_state *s)
{
    traced_pair(s, 1);
}

static void alloc_pair_traced16(bench_state *s)
{
    traced_pair(s, 16);
}

static const bench_def trace_defs[] = {
    BENCH("alloc_pair/weft_traced1", alloc_pair_traced1, BENCH_ARGS(64)),
    BENCH("alloc_pair/weft_traced16", alloc_pair_traced16, BENCH_ARGS(64)),
    BENCH("alloc_pair/weft_traced1", alloc_pair_traced1, BENCH_ARGS(64), .threads = 2),
    BENCH("alloc_pair/weft_traced16", alloc_pair_traced16, BENCH_ARGS(64), .threads = 2),
    BENCH_END,
};

const bench_suite bench_suite_trace = {
    .name = "trace",
    .defs = trace_defs,
};
