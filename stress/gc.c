/* stress/gc.c: the harness's view of weft's cycle collector.
 *
 * Where weft has no collector (no <weft/gc.h>), or with --no-gc, cycles
 * cannot be freed by reference counting: the harness breaks each ring by hand
 * (clears one child slot) before it drops it, and makes no forced
 * collections. Where there is a collector, rings are dropped whole, forced
 * collections of each generation are part of the mix, after a full
 * collection every ring dropped before it must be dead (workload.c), and the
 * report shows the collector's own figures: collections per generation,
 * pause and time-to-safepoint percentiles. */
#include "stress.h"

#if __has_include(<weft/gc.h>)
#include <weft/gc.h>
#define HAVE_COLLECTOR 1
#else
#define HAVE_COLLECTOR 0
#endif

#include <string.h>

bool gc_compiled_in(void)
{
    return HAVE_COLLECTOR;
}

bool gc_active(void)
{
    return HAVE_COLLECTOR && !opt.no_gc;
}

bool gc_cycles_need_breaking(void)
{
    return !gc_active();
}

void gc_setup(void)
{
#if HAVE_COLLECTOR
    if (opt.no_gc)
        weft_gc_disable();
#endif
}

int gc_collect(int gen)
{
#if HAVE_COLLECTOR
    if (!opt.no_gc) {
        if (weft_gc_collect(gen) < 0)
            violation("weft_gc_collect(%d) failed: %s (%s)", gen,
                      weft_error_name(weft_error()), weft_error_message());
        stat_add(ST_COLLECTIONS, 1);
        return 0;
    }
#endif
    (void)gen;
    return -1;
}

void gc_get_report(gc_report *out)
{
    memset(out, 0, sizeof *out);
    out->available = gc_active();
#if HAVE_COLLECTOR
    if (!out->available)
        return;
    weft_gc_gen_stats st[WEFT_GC_GENERATIONS];
    weft_gc_get_stats(st);
    for (int g = 0; g < 3 && g < WEFT_GC_GENERATIONS; g++) {
        out->collections[g] = st[g].collections;
        out->collected[g] = st[g].collected;
        out->pause_p50_ms[g] = (double)st[g].pause_p50_ns / 1e6;
        out->pause_p99_ms[g] = (double)st[g].pause_p99_ns / 1e6;
        out->pause_max_ms[g] = (double)st[g].pause_max_ns / 1e6;
        out->tts_p99_ms[g] = (double)st[g].safepoint_p99_ns / 1e6;
        out->tts_max_ms[g] = (double)st[g].safepoint_max_ns / 1e6;
    }
#endif
}
