/* stress/report.c: the report at the end of a run, as text or JSON.
 *
 * Figures that need the collector (collections per generation, pauses,
 * time-to-safepoint, the collector-on / collector-off throughput ratio) are
 * "-" in text and null in JSON until weft has one. */
#include "stress.h"

#include <inttypes.h>

static double mib(size_t b)
{
    return (double)b / (1024.0 * 1024.0);
}

static void text(FILE *f, const run_result *r)
{
    const uint64_t *t = r->totals;
    double rate = r->elapsed > 0 ? (double)t[ST_OPS] / r->elapsed : 0;
    fprintf(f, "weft-stress report\n");
    fprintf(f, "  seed                %" PRIu64 "\n", opt.seed);
    fprintf(f, "  replay              %s\n", options_replay_command());
    fprintf(f,
            "  threads             %u (%" PRIu64
            " incarnations: threads attached and detached mid-run)\n",
            opt.threads, r->incarnations);
    fprintf(f, "  duration            %.2f s\n", r->elapsed);
    fprintf(f, "  throughput          %" PRIu64 " operations, %.0f ops/s\n", t[ST_OPS],
            rate);
    fprintf(f,
            "  objects made        stress.obj %" PRIu64 ", int %" PRIu64 ", str %" PRIu64
            " (large %" PRIu64 "), tuple %" PRIu64 ", list %" PRIu64 ", dict %" PRIu64
            ", weakref %" PRIu64 "; interned lookups %" PRIu64 "\n",
            t[ST_NEW_OBJ], t[ST_NEW_INT], t[ST_NEW_STR] + t[ST_NEW_LARGE_STR],
            t[ST_NEW_LARGE_STR], t[ST_NEW_TUPLE], t[ST_NEW_LIST], t[ST_NEW_DICT],
            t[ST_NEW_WEAKREF], t[ST_INTERN]);
    fprintf(f,
            "  structures          trees %" PRIu64 ", chains %" PRIu64 ", rings %" PRIu64
            " (broken by hand %" PRIu64 ")\n",
            t[ST_TREES], t[ST_CHAINS], t[ST_RINGS], t[ST_RINGS_BROKEN]);
    fprintf(f,
            "  oracle              ids %" PRIu64 ", tracked %" PRIu64
            ", deaths seen %" PRIu64 ", walks %" PRIu64 " (%" PRIu64 " objects read)\n",
            r->ids, t[ST_BORN_TRACKED], t[ST_FREED_TRACKED], t[ST_WALKS], t[ST_NODES]);
    fprintf(f,
            "  handoffs            mailbox %" PRIu64 " sent, %" PRIu64
            " received; board %" PRIu64 " swaps, %" PRIu64 " reads (through %s)\n",
            t[ST_SENT], t[ST_RECEIVED], t[ST_BOARD_PUT], t[ST_BOARD_GET],
            handoff == &handoff_ring ? "the harness's ring buffers"
                                     : "shared weft lists and a dict");
    fprintf(f,
            "  shared containers   %" PRIu64 " list and dict operations (%" PRIu64
            " with unhashable keys, refused); %" PRIu64 " lock biases revoked%s\n",
            t[ST_CONTAINER_OPS], t[ST_UNHASHABLE_KEYS], weft_lock_revocations(),
            weft_lock_bias_enabled() ? "" : " (bias off)");
    weft_count_flush_stats flushes;
    weft_count_buffer_flushes(&flushes);
    fprintf(f,
            "  buffered counts     %" PRIu64 " read-shared objects counted in thread tables%s;"
            " %" PRIu64 " stops only to flush them, paused %.1f ms in all (max %.2f ms)\n",
            weft_count_buffered_objects(), weft_count_buffers_enabled() ? "" : " (off)",
            flushes.stops, flushes.pause_sum_ns / 1e6, flushes.pause_max_ns / 1e6);
    fprintf(f,
            "  weakrefs            %" PRIu64 " callbacks; %" PRIu64 " reads (%" PRIu64
            " alive)\n",
            t[ST_WEAK_CALLBACKS], t[ST_WEAK_GET], t[ST_WEAK_GET_HIT]);
    fprintf(f,
            "  finalizers          %" PRIu64 " run, %" PRIu64 " resurrected, %" PRIu64
            " taken back; %" PRIu64 " failed, %" PRIu64 " reported unraisable\n",
            t[ST_FINALIZED], t[ST_RESURRECTED], t[ST_REVIVED], t[ST_FINALIZER_ERRORS],
            t[ST_UNRAISABLE]);
    fprintf(f, "  blocking regions    %" PRIu64 "; safepoints %" PRIu64 "\n",
            t[ST_BLOCKING], t[ST_SAFEPOINTS]);
    fprintf(f,
            "  injected failures   %lu (armed %" PRIu64
            ", ENOMEM seen by the harness %" PRIu64 ")\n",
            r->faults_injected, t[ST_FAULTS_ARMED], t[ST_ENOMEM]);
    const gc_report *g = &r->gc;
    if (g->available) {
        fprintf(f,
                "  collections         gen0 %" PRIu64 ", gen1 %" PRIu64 ", gen2 %" PRIu64
                " (%" PRIu64 " forced by the harness); found unreachable %" PRIu64
                "/%" PRIu64 "/%" PRIu64 "\n",
                g->collections[0], g->collections[1], g->collections[2],
                t[ST_COLLECTIONS], g->collected[0], g->collected[1], g->collected[2]);
        fprintf(f, "  pause p50/p99/max   ");
        for (int i = 0; i < 3; i++)
            fprintf(f, "%sgen%d %.3f/%.3f/%.3f ms", i ? ", " : "", i, g->pause_p50_ms[i],
                    g->pause_p99_ms[i], g->pause_max_ms[i]);
        fprintf(f, "\n  time-to-safepoint   ");
        for (int i = 0; i < 3; i++)
            fprintf(f, "%sgen%d p99 %.3f, max %.3f ms", i ? ", " : "", i,
                    g->tts_p99_ms[i], g->tts_max_ms[i]);
        fprintf(f, "\n");
    } else {
        const char *why = opt.no_gc ? "--no-gc" : "weft has no collector yet";
        fprintf(f, "  collections         - (%s)\n", why);
        fprintf(f, "  pause p50/p99/max   -\n");
        fprintf(f, "  time-to-safepoint   -\n");
    }
    if (r->gc_off_rate > 0)
        fprintf(f,
                "  gc on/off ratio     %.3f (collector on %.0f ops/s, off %.0f ops/s, "
                "same workload)\n",
                rate / r->gc_off_rate, rate, r->gc_off_rate);
    else
        fprintf(f, "  gc on/off ratio     - (%s)\n",
                g->available ? "run with --gc-ratio" : "no collector in use");
    fprintf(f, "  peak RSS            %.1f MiB\n", mib(r->peak_rss));
    fprintf(
        f,
        "  at shutdown         %ld objects alive; against the start (interned strings "
        "excepted): small blocks %+ld (%+ld bytes), large blocks %+ld (%+ld bytes)\n",
        r->live_at_shutdown, r->small_blocks_over, r->small_bytes_over,
        r->large_blocks_over, r->large_bytes_over);
    if (r->leaks)
        fprintf(f,
                "  leaked              %" PRIu64 " ids never died, %" PRIu64
                " watches never fired\n",
                r->leaked_ids, r->leaked_watches);
    fprintf(f, "leaks: %" PRIu64 "\n", r->leaks);
    fprintf(f, "violations: %" PRIu64 "\n", r->violations);
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(f, "\\u%04x", *s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

static void json(FILE *f, const run_result *r)
{
    const uint64_t *t = r->totals;
    double rate = r->elapsed > 0 ? (double)t[ST_OPS] / r->elapsed : 0;
    fprintf(f, "{\n  \"seed\": %" PRIu64 ",\n  \"replay\": ", opt.seed);
    json_string(f, options_replay_command());
    fprintf(f, ",\n  \"threads\": %u,\n  \"incarnations\": %" PRIu64 ",\n", opt.threads,
            r->incarnations);
    fprintf(f,
            "  \"duration_s\": %.3f,\n  \"ops\": %" PRIu64 ",\n  \"ops_per_s\": %.1f,\n",
            r->elapsed, t[ST_OPS], rate);
    fprintf(f,
            "  \"created\": {\"stress_obj\": %" PRIu64 ", \"int\": %" PRIu64
            ", \"str\": %" PRIu64 ", \"large_str\": %" PRIu64 ", \"tuple\": %" PRIu64
            ", \"list\": %" PRIu64 ", \"dict\": %" PRIu64 ", \"weakref\": %" PRIu64
            ", \"interned_lookups\": %" PRIu64 "},\n",
            t[ST_NEW_OBJ], t[ST_NEW_INT], t[ST_NEW_STR] + t[ST_NEW_LARGE_STR],
            t[ST_NEW_LARGE_STR], t[ST_NEW_TUPLE], t[ST_NEW_LIST], t[ST_NEW_DICT],
            t[ST_NEW_WEAKREF], t[ST_INTERN]);
    fprintf(f,
            "  \"structures\": {\"trees\": %" PRIu64 ", \"chains\": %" PRIu64
            ", \"rings\": %" PRIu64 ", \"rings_broken_by_hand\": %" PRIu64 "},\n",
            t[ST_TREES], t[ST_CHAINS], t[ST_RINGS], t[ST_RINGS_BROKEN]);
    fprintf(f,
            "  \"oracle\": {\"ids\": %" PRIu64 ", \"tracked\": %" PRIu64
            ", \"deaths_seen\": %" PRIu64 ", \"walks\": %" PRIu64
            ", \"objects_read\": %" PRIu64 "},\n",
            r->ids, t[ST_BORN_TRACKED], t[ST_FREED_TRACKED], t[ST_WALKS], t[ST_NODES]);
    fprintf(f,
            "  \"handoffs\": {\"backend\": \"%s\", \"sent\": %" PRIu64
            ", \"received\": %" PRIu64 ", \"board_swaps\": %" PRIu64
            ", \"board_reads\": %" PRIu64 "},\n",
            handoff->name, t[ST_SENT], t[ST_RECEIVED], t[ST_BOARD_PUT], t[ST_BOARD_GET]);
    fprintf(f, "  \"container_ops\": %" PRIu64 ",\n", t[ST_CONTAINER_OPS]);
    fprintf(f, "  \"unhashable_key_ops\": %" PRIu64 ",\n", t[ST_UNHASHABLE_KEYS]);
    weft_count_flush_stats flushes;
    weft_count_buffer_flushes(&flushes);
    fprintf(f,
            "  \"count_flush_stops\": {\"stops\": %" PRIu64 ", \"pause_sum_ns\": %" PRIu64
            ", \"pause_max_ns\": %" PRIu64 "},\n",
            flushes.stops, flushes.pause_sum_ns, flushes.pause_max_ns);
    fprintf(f,
            "  \"weakref_callbacks\": %" PRIu64 ",\n  \"weakref_reads\": %" PRIu64
            ",\n  \"weakref_reads_alive\": %" PRIu64 ",\n",
            t[ST_WEAK_CALLBACKS], t[ST_WEAK_GET], t[ST_WEAK_GET_HIT]);
    fprintf(f,
            "  \"finalizers\": %" PRIu64 ",\n  \"resurrections\": %" PRIu64
            ",\n  \"revived_taken\": %" PRIu64 ",\n  \"finalizer_errors\": %" PRIu64
            ",\n  \"unraisable_reported\": %" PRIu64 ",\n",
            t[ST_FINALIZED], t[ST_RESURRECTED], t[ST_REVIVED], t[ST_FINALIZER_ERRORS],
            t[ST_UNRAISABLE]);
    fprintf(f, "  \"blocking_regions\": %" PRIu64 ",\n  \"safepoints\": %" PRIu64 ",\n",
            t[ST_BLOCKING], t[ST_SAFEPOINTS]);
    fprintf(f,
            "  \"injected_failures\": %lu,\n  \"faults_armed\": %" PRIu64
            ",\n  \"enomem_seen\": %" PRIu64 ",\n",
            r->faults_injected, t[ST_FAULTS_ARMED], t[ST_ENOMEM]);
    const gc_report *g = &r->gc;
    if (g->available) {
        fprintf(f,
                "  \"collections\": {\"forced\": %" PRIu64
                ", \"per_generation\": [%" PRIu64 ", %" PRIu64 ", %" PRIu64
                "], \"collected\": [%" PRIu64 ", %" PRIu64 ", %" PRIu64 "]},\n",
                t[ST_COLLECTIONS], g->collections[0], g->collections[1],
                g->collections[2], g->collected[0], g->collected[1], g->collected[2]);
        fprintf(f, "  \"pause_ms\": [");
        for (int i = 0; i < 3; i++)
            fprintf(f, "%s{\"p50\": %.4f, \"p99\": %.4f, \"max\": %.4f}", i ? ", " : "",
                    g->pause_p50_ms[i], g->pause_p99_ms[i], g->pause_max_ms[i]);
        fprintf(f, "],\n  \"time_to_safepoint_ms\": [");
        for (int i = 0; i < 3; i++)
            fprintf(f, "%s{\"p99\": %.4f, \"max\": %.4f}", i ? ", " : "",
                    g->tts_p99_ms[i], g->tts_max_ms[i]);
        fprintf(f, "],\n");
    } else {
        fprintf(f, "  \"collections\": null,\n  \"pause_ms\": null,\n  "
                   "\"time_to_safepoint_ms\": null,\n");
    }
    if (r->gc_off_rate > 0)
        fprintf(f, "  \"gc_off_ops_per_s\": %.1f,\n  \"gc_on_off_ratio\": %.4f,\n",
                r->gc_off_rate, rate / r->gc_off_rate);
    else
        fprintf(f, "  \"gc_off_ops_per_s\": null,\n  \"gc_on_off_ratio\": null,\n");
    fprintf(f, "  \"peak_rss_bytes\": %zu,\n", r->peak_rss);
    fprintf(f,
            "  \"live_at_shutdown\": %ld,\n  \"small_blocks_over_start\": %ld,\n  "
            "\"small_bytes_over_start\": %ld,\n  \"large_blocks_over_start\": %ld,\n  "
            "\"large_bytes_over_start\": %ld,\n",
            r->live_at_shutdown, r->small_blocks_over, r->small_bytes_over,
            r->large_blocks_over, r->large_bytes_over);
    fprintf(f, "  \"leaked_ids\": %" PRIu64 ",\n  \"leaked_watches\": %" PRIu64 ",\n",
            r->leaked_ids, r->leaked_watches);
    fprintf(f, "  \"leaks\": %" PRIu64 ",\n  \"violations\": %" PRIu64 "\n}\n", r->leaks,
            r->violations);
}

void report_print(FILE *f, const run_result *r, bool as_json)
{
    if (as_json)
        json(f, r);
    else
        text(f, r);
    fflush(f);
}
