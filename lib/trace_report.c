/* lib/trace_report.c: tracing statistics as text and as JSON
 * (include/weft/trace.h). Sizes are written as tracemalloc writes them: three
 * significant digits and a binary unit ("6.2 KiB", "640 B"). */
#include "error.h"
#include "trace_impl.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void _weft_trace_format_frame(const weft_trace_frame *f, char *buf, size_t cap)
{
    int n = f->lineno ? snprintf(buf, cap, "%s:%u", f->filename, f->lineno)
                      : snprintf(buf, cap, "%s", f->filename);
    size_t len = n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
    if (f->function && len < cap)
        len += (size_t)snprintf(buf + len, cap - len, " in %s", f->function);
    if (!f->lineno && f->address && len < cap)
        snprintf(buf + len, cap - len, " (%p)", f->address);
}

static void format_size(char *buf, size_t cap, double size, bool sign)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    for (int u = 0; u < 5; u++) {
        double mag = size < 0 ? -size : size;
        if (u && mag < 100) {
            snprintf(buf, cap, sign ? "%+.1f %s" : "%.1f %s", size, units[u]);
            return;
        }
        if (mag < 10 * 1024 || u == 4) {
            snprintf(buf, cap, sign ? "%+.0f %s" : "%.0f %s", size, units[u]);
            return;
        }
        size /= 1024;
    }
}

/* The group's name: frame 0, or its file alone. */
static void group_label(const weft_trace_stats *st, const weft_trace_stat *s, char *buf,
                        size_t cap)
{
    if (!s->traceback->nframes)
        snprintf(buf, cap, "<no frames>");
    else if (st->group == WEFT_TRACE_BY_FILE)
        snprintf(buf, cap, "%s", s->traceback->frames[0].filename);
    else
        _weft_trace_format_frame(&s->traceback->frames[0], buf, cap);
}

static void print_sizes(FILE *out, size_t size, size_t count, long long size_diff,
                        long long count_diff, bool diff)
{
    char a[32], b[32];
    format_size(a, sizeof a, (double)size, false);
    if (diff) {
        format_size(b, sizeof b, (double)size_diff, true);
        fprintf(out, "size=%s (%s), count=%zu (%+lld)", a, b, count, count_diff);
    } else {
        fprintf(out, "size=%s, count=%zu", a, count);
    }
    if (count) {
        format_size(a, sizeof a, (double)size / (double)count, false);
        fprintf(out, ", average=%s", a);
    }
}

static size_t shown(const weft_trace_stats *st, size_t limit)
{
    return limit && limit < st->nstats ? limit : st->nstats;
}

int weft_trace_stats_print(const weft_trace_stats *st, size_t limit, FILE *out)
{
    if (!st || !out) {
        _weft_set_error(WEFT_EINVAL, "weft_trace_stats_print: NULL statistics or stream");
        return -1;
    }
    size_t n = shown(st, limit);
    size_t rest_size = st->total_size, rest_count = st->total_count;
    long long rest_size_diff = st->total_size_diff, rest_count_diff = st->total_count_diff;
    for (size_t i = 0; i < n; i++) {
        const weft_trace_stat *s = &st->stats[i];
        char label[1024];
        group_label(st, s, label, sizeof label);
        fprintf(out, "#%zu: %s: ", i + 1, label);
        print_sizes(out, s->size, s->count, s->size_diff, s->count_diff, st->is_diff);
        fputc('\n', out);
        if (st->group == WEFT_TRACE_BY_TRACEBACK)
            for (size_t k = 0; k < s->traceback->nframes; k++) {
                _weft_trace_format_frame(&s->traceback->frames[k], label, sizeof label);
                fprintf(out, "    %s\n", label);
            }
        rest_size -= s->size;
        rest_count -= s->count;
        rest_size_diff -= s->size_diff;
        rest_count_diff -= s->count_diff;
    }
    if (n < st->nstats) {
        fprintf(out, "%zu other: ", st->nstats - n);
        print_sizes(out, rest_size, rest_count, rest_size_diff, rest_count_diff, st->is_diff);
        fputc('\n', out);
    }
    fprintf(out, "Total: ");
    print_sizes(out, st->total_size, st->total_count, st->total_size_diff,
                st->total_count_diff, st->is_diff);
    fputc('\n', out);
    return ferror(out) ? -1 : 0;
}

static void json_string(FILE *out, const char *s)
{
    if (!s) {
        fputs("null", out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

int weft_trace_stats_write_json(const weft_trace_stats *st, size_t limit, FILE *out)
{
    if (!st || !out) {
        _weft_set_error(WEFT_EINVAL, "weft_trace_stats_write_json: NULL statistics or stream");
        return -1;
    }
    static const char *const group_names[] = {"file", "line", "traceback"};
    size_t n = shown(st, limit);
    fprintf(out, "{\"group\": \"%s\", \"diff\": %s, \"total_size\": %zu, \"total_count\": %zu",
            group_names[st->group], st->is_diff ? "true" : "false", st->total_size,
            st->total_count);
    if (st->is_diff)
        fprintf(out, ", \"total_size_diff\": %lld, \"total_count_diff\": %lld",
                st->total_size_diff, st->total_count_diff);
    fputs(", \"stats\": [", out);
    size_t rest_size = st->total_size, rest_count = st->total_count;
    for (size_t i = 0; i < n; i++) {
        const weft_trace_stat *s = &st->stats[i];
        fprintf(out, "%s\n  {\"size\": %zu, \"count\": %zu", i ? "," : "", s->size, s->count);
        if (st->is_diff)
            fprintf(out, ", \"size_diff\": %lld, \"count_diff\": %lld", s->size_diff,
                    s->count_diff);
        fputs(", \"traceback\": [", out);
        for (size_t k = 0; k < s->traceback->nframes; k++) {
            const weft_trace_frame *f = &s->traceback->frames[k];
            fputs(k ? ", {\"file\": " : "{\"file\": ", out);
            json_string(out, f->filename);
            fprintf(out, ", \"line\": %u, \"function\": ", f->lineno);
            json_string(out, f->function);
            fprintf(out, ", \"address\": \"0x%" PRIxPTR "\"}", (uintptr_t)f->address);
        }
        fputs("]}", out);
        rest_size -= s->size;
        rest_count -= s->count;
    }
    fprintf(out, "%s], \"other\": {\"groups\": %zu, \"size\": %zu, \"count\": %zu}}\n",
            n ? "\n" : "", st->nstats - n, rest_size, rest_count);
    return ferror(out) ? -1 : 0;
}
