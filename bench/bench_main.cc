// bench/bench_main.cc: the C++ shim of weft-bench.
//
// Implements bench.h's C API over benchmark::State (a bench_state * is a
// benchmark::State *), registers every row of every suite in BENCH_SUITES,
// and runs Google Benchmark. Benchmark bodies live in the C files; nothing
// here should need to change when a benchmark or a suite is added.

#include <benchmark/benchmark.h>

#include "bench.h"

namespace
{

benchmark::State &st(bench_state *s)
{
    return *reinterpret_cast<benchmark::State *>(s);
}

const benchmark::State &st(const bench_state *s)
{
    return *reinterpret_cast<const benchmark::State *>(s);
}

#define BENCH_SUITE_PTR(n) &bench_suite_##n,
const bench_suite *const suites[] = {BENCH_SUITES(BENCH_SUITE_PTR)};
#undef BENCH_SUITE_PTR

const benchmark::TimeUnit units[] = {benchmark::kNanosecond, benchmark::kMicrosecond,
                                     benchmark::kMillisecond, benchmark::kSecond};

void register_def(const bench_def *d)
{
    benchmark::internal::Benchmark *b =
        benchmark::RegisterBenchmark(d->name, [d](benchmark::State &state) {
            d->fn(reinterpret_cast<bench_state *>(&state));
        });
    for (int i = 0; i < d->nargs; i++)
        b->Arg(d->args[i]);
    if (d->threads > 0)
        b->Threads(d->threads);
    if (d->real_time)
        b->UseRealTime();
    if (d->iterations > 0)
        b->Iterations(d->iterations);
    b->Unit(units[d->unit]);
}

} // namespace

extern "C" {

bool bench_keep_running(bench_state *s)
{
    return st(s).KeepRunning();
}

bool bench_keep_running_batch(bench_state *s, int64_t n)
{
    return st(s).KeepRunningBatch(n);
}

int64_t bench_iterations(const bench_state *s)
{
    return st(s).iterations();
}

int64_t bench_max_iterations(const bench_state *s)
{
    return st(s).max_iterations;
}

int64_t bench_arg(const bench_state *s, int i)
{
    return st(s).range(static_cast<std::size_t>(i));
}

int bench_thread_index(const bench_state *s)
{
    return st(s).thread_index();
}

int bench_threads(const bench_state *s)
{
    return st(s).threads();
}

void bench_pause(bench_state *s)
{
    st(s).PauseTiming();
}

void bench_resume(bench_state *s)
{
    st(s).ResumeTiming();
}

void bench_set_items(bench_state *s, int64_t items)
{
    st(s).SetItemsProcessed(items);
}

void bench_counter(bench_state *s, const char *name, double value)
{
    st(s).counters[name] = value;
}

void bench_skip(bench_state *s, const char *message)
{
    st(s).SkipWithError(message);
}

void bench_context(const char *key, const char *value)
{
    benchmark::AddCustomContext(key, value);
}

} // extern "C"

int main(int argc, char **argv)
{
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    for (const bench_suite *suite : suites) {
        if (suite->setup)
            suite->setup();
        for (const bench_def *d = suite->defs; d->name; d++)
            register_def(d);
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    for (const bench_suite *suite : suites)
        if (suite->teardown)
            suite->teardown();
    return 0;
}
