/* Allocation tracing, what changed: a snapshot comparison puts a deliberate
 * leak first, at its line, with exact differences, among noise that cancels
 * out, a smaller growth elsewhere and a block freed between the snapshots. */
#include "check.h"
#include "trace_test.h"

#define THIS_FILE "trace_diff.c"
#define LEAKS 200
#define LEAK_SIZE 48

static int line_noise;

/* Blocks of every size that come and go: they must not show in the diff. */
NOINLINE static void noise(unsigned seed)
{
    void *p[16];
    for (int i = 0; i < 16; i++)
        p[i] = AT(line_noise, weft_malloc(16 + (seed * 7919 + (unsigned)i * 104729) % 3000));
    for (int i = 0; i < 16; i++)
        weft_free(p[i]);
}

int main(void)
{
    REQUIRE(weft_trace_start(6) == 0);
    int line_gone, line_leak, line_grow;
    void *gone = AT(line_gone, weft_malloc(4000));
    for (unsigned i = 0; i < 50; i++)
        noise(i);
    weft_snapshot *before = weft_trace_snapshot();
    REQUIRE(before != NULL);

    void *leaks[LEAKS], *grown[5];
    for (unsigned i = 0; i < LEAKS; i++) {
        noise(i);
        leaks[i] = AT(line_leak, weft_malloc(LEAK_SIZE));
    }
    for (int i = 0; i < 5; i++)
        grown[i] = AT(line_grow, weft_obj_malloc(100));
    weft_free(gone);
    weft_snapshot *now = weft_trace_snapshot();
    REQUIRE(now != NULL);

    /* By line: the leak first, then the freed block, then the growth. */
    weft_trace_stats *d = weft_snapshot_compare(now, before, WEFT_TRACE_BY_LINE);
    REQUIRE(d != NULL && d->is_diff && d->nstats >= 3);
    const weft_trace_stat *first = &d->stats[0];
    CHECK(ends_with(first->traceback->frames[0].filename, THIS_FILE));
    CHECK_EQ_INT(first->traceback->frames[0].lineno, line_leak);
    CHECK_EQ_INT(first->size_diff, LEAKS * LEAK_SIZE);
    CHECK_EQ_INT(first->count_diff, LEAKS);
    CHECK_EQ_INT(first->size, LEAKS * LEAK_SIZE);
    CHECK_EQ_INT(d->stats[1].traceback->frames[0].lineno, line_gone);
    CHECK_EQ_INT(d->stats[1].size_diff, -4000);
    CHECK_EQ_INT(d->stats[1].count_diff, -1);
    CHECK_EQ_INT(d->stats[1].size, 0);
    CHECK_EQ_INT(d->stats[2].traceback->frames[0].lineno, line_grow);
    CHECK_EQ_INT(d->stats[2].size_diff, 500);
    const weft_trace_stat *n = find_line(d, THIS_FILE, (unsigned)line_noise);
    CHECK(n == NULL || (n->size_diff == 0 && n->count_diff == 0));
    CHECK_EQ_INT(d->total_size_diff, LEAKS * LEAK_SIZE - 4000 + 500);
    CHECK_EQ_INT(d->total_count_diff, LEAKS - 1 + 5);
    CHECK_EQ_INT(d->total_size, weft_snapshot_size(now, NULL));

    char *text = stats_text(d, 3, false);
    char want[256];
    snprintf(want, sizeof want,
             "#1: %s", first->traceback->frames[0].filename);
    CHECK(text && strstr(text, want) == text);
    snprintf(want, sizeof want, ":%d in main: size=9600 B (+9600 B), count=200 (+200), average=48 B\n",
             line_leak);
    CHECK(text && strstr(text, want) != NULL);
    snprintf(want, sizeof want, ":%d in main: size=0 B (-4000 B), count=0 (-1)\n", line_gone);
    CHECK(text && strstr(text, want) != NULL);
    if (text && check_failed)
        fputs(text, stderr);
    free(text);
    char *json = stats_text(d, 1, true);
    CHECK(json && strstr(json, "\"diff\": true") && strstr(json, "\"size_diff\": 9600, \"count_diff\": 200"));
    free(json);
    weft_trace_stats_free(d);

    /* By traceback and by file, the same leak leads. */
    d = weft_snapshot_compare(now, before, WEFT_TRACE_BY_TRACEBACK);
    REQUIRE(d != NULL && d->nstats >= 1);
    CHECK_EQ_INT(d->stats[0].traceback->frames[0].lineno, line_leak);
    CHECK(d->stats[0].traceback->nframes >= 2);
    weft_trace_stats_free(d);
    d = weft_snapshot_compare(now, before, WEFT_TRACE_BY_FILE);
    REQUIRE(d != NULL);
    const weft_trace_stat *f = NULL;
    for (size_t i = 0; i < d->nstats; i++)
        if (ends_with(d->stats[i].traceback->frames[0].filename, THIS_FILE))
            f = &d->stats[i];
    CHECK(f && f->size_diff == LEAKS * LEAK_SIZE - 4000 + 500 && f->traceback->frames[0].lineno == 0);
    weft_trace_stats_free(d);

    /* Once the leak is fixed, it is gone from the comparison. */
    for (unsigned i = 0; i < LEAKS; i++)
        weft_free(leaks[i]);
    for (int i = 0; i < 5; i++)
        weft_obj_free(grown[i]);
    weft_snapshot *after = weft_trace_snapshot();
    d = weft_snapshot_compare(after, before, WEFT_TRACE_BY_LINE);
    REQUIRE(d != NULL);
    CHECK(find_line(d, THIS_FILE, (unsigned)line_leak) == NULL);
    CHECK_EQ_INT(d->stats[0].traceback->frames[0].lineno, line_gone);
    CHECK_EQ_INT(d->total_size, 0);
    weft_trace_stats_free(d);
    /* A snapshot compared with itself: no difference anywhere. */
    d = weft_snapshot_compare(before, before, WEFT_TRACE_BY_TRACEBACK);
    REQUIRE(d != NULL);
    for (size_t i = 0; i < d->nstats; i++)
        CHECK(d->stats[i].size_diff == 0 && d->stats[i].count_diff == 0);
    weft_trace_stats_free(d);

    weft_trace_stop();
    /* Snapshots outlive their session. */
    d = weft_snapshot_compare(now, before, WEFT_TRACE_BY_LINE);
    CHECK(d && d->stats[0].traceback->frames[0].lineno == (unsigned)line_leak);
    weft_trace_stats_free(d);
    weft_snapshot_free(before);
    weft_snapshot_free(now);
    weft_snapshot_free(after);
    return check_finish();
}
