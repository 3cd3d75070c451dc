/* tests/trace_test.h: helpers of the allocation tracing tests (trace_*.c).
 *
 * Allocation sites are recorded with AT(line, expr), which stores __LINE__
 * and makes the call on the same source line, so that a test can ask for
 * exactly that line. Functions that allocate for a test are NOINLINE and keep
 * the pointer past the call (escape), so that the call is not a tail call and
 * the function keeps a frame of its own. */
#ifndef WEFT_TESTS_TRACE_TEST_H
#define WEFT_TESTS_TRACE_TEST_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <weft/weft.h>

#define NOINLINE __attribute__((noinline))
#define AT(line, expr) ((line) = __LINE__, (expr))

static inline void escape(const void *p)
{
    __asm__ volatile("" : : "r"(p) : "memory");
}

static inline bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The group whose frame 0 is file_suffix:line, or NULL. */
static inline const weft_trace_stat *find_line(const weft_trace_stats *st, const char *file_suffix,
                                               unsigned line)
{
    for (size_t i = 0; st && i < st->nstats; i++) {
        const weft_traceback *tb = st->stats[i].traceback;
        if (tb->nframes && tb->frames[0].lineno == line &&
            ends_with(tb->frames[0].filename, file_suffix))
            return &st->stats[i];
    }
    return NULL;
}

/* Bytes and blocks of a snapshot's traces whose frame 0 is in file_suffix. */
static inline size_t file_size(const weft_snapshot *s, const char *file_suffix, size_t *count)
{
    weft_trace_stats *st = weft_snapshot_statistics(s, WEFT_TRACE_BY_FILE);
    size_t size = 0;
    *count = 0;
    for (size_t i = 0; st && i < st->nstats; i++)
        if (ends_with(st->stats[i].traceback->frames[0].filename, file_suffix)) {
            size += st->stats[i].size;
            *count += st->stats[i].count;
        }
    weft_trace_stats_free(st);
    return size;
}

/* What weft_trace_stats_print (or _write_json) writes, as a string to free. */
static inline char *stats_text(const weft_trace_stats *st, size_t limit, bool json)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        abort();
    int rc = json ? weft_trace_stats_write_json(st, limit, f) : weft_trace_stats_print(st, limit, f);
    fclose(f);
    if (rc != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

#endif
