/* stress/progress.c: what a run shows while it goes.
 *
 * On a terminal: one status line rewritten in place twice a second. Else: a
 * plain line every five seconds (logs, CI). Fields: elapsed time, operations
 * per second over the last interval, collections and pause p99/max ("-"
 * where weft has no collector), objects the oracle knows alive, resident
 * memory, worker threads attached / slots. WEFT_STRESS_DEBUG=1 adds a line
 * on stderr with the oracle's memory, the heap's blocks, and what waits in
 * the resurrection list and the handoff layer. */
#include "stress.h"

#include <inttypes.h>
#include <stdlib.h>

static FILE *out;
static bool tty;
static double last_print = -1e9, last_t;
static uint64_t last_ops;

void progress_init(FILE *f, bool is_tty)
{
    out = f;
    tty = is_tty;
}

static void human(char *buf, size_t cap, double v)
{
    if (v >= 1e9)
        snprintf(buf, cap, "%.2fG", v / 1e9);
    else if (v >= 1e6)
        snprintf(buf, cap, "%.2fM", v / 1e6);
    else if (v >= 1e4)
        snprintf(buf, cap, "%.1fk", v / 1e3);
    else
        snprintf(buf, cap, "%.0f", v);
}

void progress_tick(double elapsed, bool final)
{
    if (!out)
        return;
    double every = tty ? 0.5 : 5.0;
    if (!final && elapsed - last_print < every)
        return;
    if (final && !tty)
        return; /* the report follows */
    uint64_t t[ST_COUNT];
    stats_sum(t);
    double dt = elapsed - last_t;
    double rate = dt > 0 ? (double)(t[ST_OPS] - last_ops) / dt : 0;
    last_t = elapsed;
    last_ops = t[ST_OPS];
    last_print = elapsed;
    uint64_t live = t[ST_BORN_TRACKED] > t[ST_FREED_TRACKED]
                        ? t[ST_BORN_TRACKED] - t[ST_FREED_TRACKED]
                        : 0;
    char ops[32], lv[32], gcs[32] = "-", pause[48] = "-/-";
    human(ops, sizeof ops, rate);
    human(lv, sizeof lv, (double)live);
    gc_report g;
    gc_get_report(&g);
    if (g.available) {
        double p99 = 0, max = 0;
        for (int i = 0; i < 3; i++) {
            p99 = g.pause_p99_ms[i] > p99 ? g.pause_p99_ms[i] : p99;
            max = g.pause_max_ms[i] > max ? g.pause_max_ms[i] : max;
        }
        human(gcs, sizeof gcs,
              (double)(g.collections[0] + g.collections[1] + g.collections[2]));
        snprintf(pause, sizeof pause, "%.2f/%.2fms", p99, max);
    }
    double rss = (double)rss_bytes() / (1024.0 * 1024.0);
    if (getenv("WEFT_STRESS_DEBUG")) {
        weft_heap_stats hs;
        weft_heap_get_stats(&hs);
        fprintf(stderr,
                "[debug] oracle %.1f MiB, heap small %zu blocks (%.1f MiB), large %zu, "
                "mapped %.1f MiB, revive %zu, pending %zu\n",
                (double)oracle_bytes() / 1048576.0, hs.small_blocks_in_use,
                (double)hs.small_bytes_in_use / 1048576.0, hs.large_blocks_in_use,
                (double)hs.bytes_mapped / 1048576.0, revive_len(), handoff->pending());
    }
    if (tty) {
        fprintf(out,
                "\r%7.1fs  %8s ops/s  gc %s  pause p99/max %s  live %s  rss %.1f MiB  "
                "threads %u/%u\033[K",
                elapsed, ops, gcs, pause, lv, rss, workers_attached(), opt.threads);
        if (final)
            fputc('\n', out);
    } else {
        fprintf(
            out,
            "weft-stress: %.1fs  ops %" PRIu64
            " (%s/s)  gc %s  pause p99/max %s  live %s  rss %.1f MiB  threads %u/%u\n",
            elapsed, t[ST_OPS], ops, gcs, pause, lv, rss, workers_attached(),
            opt.threads);
    }
    fflush(out);
}
