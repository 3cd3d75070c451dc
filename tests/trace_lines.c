/* Allocation tracing, where: blocks allocated at known lines show up at
 * exactly those lines, whichever domain and call (malloc, calloc, realloc),
 * from a helper (its own line first, then the caller's), and through weft's
 * object constructors (weft's own frames skipped, the program's line first);
 * statistics by file, line and traceback; filters; text and JSON output. */
#include "check.h"
#include "trace_test.h"

#define THIS_FILE "trace_lines.c"

static int line_helper;

NOINLINE static void *helper_alloc(size_t n)
{
    void *p = AT(line_helper, weft_malloc(n));
    escape(p);
    return p;
}

static const weft_trace_stat *must_find(const weft_trace_stats *st, int line)
{
    const weft_trace_stat *s = find_line(st, THIS_FILE, (unsigned)line);
    if (!s)
        fprintf(stderr, "no group at %s:%d\n", THIS_FILE, line);
    return s;
}

static bool json_is_valid(const char *json)
{
    FILE *py = popen("python3 -c 'import json,sys; json.load(sys.stdin)' 2>/dev/null", "w");
    if (!py)
        return true; /* no python: not checked */
    fputs(json, py);
    int st = pclose(py);
    return st == 0 || (WIFEXITED(st) && WEXITSTATUS(st) == 127);
}

int main(void)
{
    weft_config config;
    weft_config_default(&config);
    config.gc_thread = 0;
    config.leak_report = 0;
    REQUIRE(weft_init(&config) == 0);
    REQUIRE(weft_trace_start(8) == 0);

    int line_mem, line_obj, line_realloc, line_call, line_int, line_tuple;
    void *mem[10], *obj[3];
    for (int i = 0; i < 10; i++) mem[i] = AT(line_mem, weft_malloc(100));
    for (int i = 0; i < 3; i++) obj[i] = AT(line_obj, weft_obj_calloc(4, 8));
    void *raw = weft_raw_malloc(10);
    raw = AT(line_realloc, weft_raw_realloc(raw, 700));
    void *helped = AT(line_call, helper_alloc(3000));
    weft_object *big = AT(line_int, weft_int_new((int64_t)1 << 40));
    weft_object *tuple = AT(line_tuple, weft_tuple_new(2));
    REQUIRE(raw && helped && big && tuple);

    weft_snapshot *snap = weft_trace_snapshot();
    REQUIRE(snap != NULL);

    /* By line: each site exactly, with its sizes and counts. */
    weft_trace_stats *st = weft_snapshot_statistics(snap, WEFT_TRACE_BY_LINE);
    REQUIRE(st != NULL);
    CHECK(st->group == WEFT_TRACE_BY_LINE && !st->is_diff);
    const weft_trace_stat *s;
    CHECK((s = must_find(st, line_mem)) && s->size == 1000 && s->count == 10);
    CHECK((s = must_find(st, line_obj)) && s->size == 96 && s->count == 3);
    CHECK((s = must_find(st, line_realloc)) && s->size == 700 && s->count == 1);
    CHECK((s = must_find(st, line_helper)) && s->size == 3000 && s->count == 1);
    CHECK(s && strcmp(s->traceback->frames[0].function, "helper_alloc") == 0);
    CHECK(find_line(st, THIS_FILE, (unsigned)line_call) == NULL); /* frame 1, not 0 */
    const weft_trace_stat *s_int = must_find(st, line_int), *s_tuple = must_find(st, line_tuple);
    CHECK(s_int && s_int->count == 1 && s_int->size > 0);
    CHECK(s_tuple && s_tuple->count == 1 && s_tuple->size > 0);
    size_t int_size = s_int ? s_int->size : 0, tuple_size = s_tuple ? s_tuple->size : 0;
    size_t ours = 1000 + 96 + 700 + 3000 + int_size + tuple_size;
    for (size_t i = 1; i < st->nstats; i++) /* biggest first */
        CHECK(st->stats[i - 1].size >= st->stats[i].size);
    CHECK_EQ_INT(st->total_size, weft_snapshot_size(snap, NULL));

    /* Text and JSON. */
    char *text = stats_text(st, 0, false);
    char want[256];
    REQUIRE(text != NULL);
    snprintf(want, sizeof want, THIS_FILE ":%d in main: size=1000 B, count=10, average=100 B\n",
             line_mem);
    CHECK(strstr(text, want) != NULL);
    CHECK(strstr(text, "#1: ") == text);
    CHECK(strstr(text, "\nTotal: size=") != NULL);
    free(text);
    text = stats_text(st, 2, false);
    CHECK(text && strstr(text, "#3: ") == NULL && strstr(text, " other: size=") != NULL);
    free(text);
    char *json = stats_text(st, 0, true);
    REQUIRE(json != NULL);
    snprintf(want, sizeof want, "\"line\": %d, \"function\": \"main\"", line_mem);
    CHECK(strstr(json, want) != NULL);
    CHECK(strstr(json, "{\"group\": \"line\", \"diff\": false") == json);
    CHECK(json_is_valid(json));
    free(json);
    weft_trace_stats_free(st);

    /* By file: this file's sites together. */
    size_t count;
    CHECK_EQ_INT(file_size(snap, THIS_FILE, &count), ours);
    CHECK_EQ_INT(count, 10 + 3 + 1 + 1 + 1 + 1);

    /* By traceback: the helper's block names the helper, then the call. */
    st = weft_snapshot_statistics(snap, WEFT_TRACE_BY_TRACEBACK);
    REQUIRE(st != NULL);
    s = must_find(st, line_helper);
    CHECK(s && s->traceback->nframes >= 2 && s->traceback->frames[1].lineno == (unsigned)line_call);
    CHECK(s && strcmp(s->traceback->frames[1].function, "main") == 0);
    json = stats_text(st, 0, true);
    CHECK(json && json_is_valid(json));
    free(json);
    weft_trace_stats_free(st);

    /* One block's traceback, and an object's. */
    weft_traceback *tb = weft_trace_get_traceback(helped);
    REQUIRE(tb != NULL);
    CHECK(tb->nframes >= 2 && tb->nframes <= 8);
    CHECK(ends_with(tb->frames[0].filename, THIS_FILE));
    CHECK_EQ_INT(tb->frames[0].lineno, line_helper);
    CHECK_EQ_INT(tb->frames[1].lineno, line_call);
    weft_traceback_free(tb);
    tb = weft_object_traceback(big);
    REQUIRE(tb != NULL);
    CHECK_EQ_INT(tb->frames[0].lineno, line_int);
    CHECK(strcmp(tb->frames[0].function, "main") == 0);
    weft_traceback_free(tb);

    /* Filters. */
    weft_trace_filter only_mem_line = {.inclusive = true, .filename_pattern = "*/" THIS_FILE,
                                       .lineno = (unsigned)line_mem, .domain = -1};
    weft_snapshot *f = weft_snapshot_filter(snap, &only_mem_line, 1);
    REQUIRE(f != NULL);
    CHECK_EQ_INT(weft_snapshot_size(f, &count), 1000);
    CHECK_EQ_INT(count, 10);
    weft_snapshot_free(f);

    weft_trace_filter not_here = {.inclusive = false, .filename_pattern = "*" THIS_FILE,
                                  .domain = -1};
    f = weft_snapshot_filter(snap, &not_here, 1);
    REQUIRE(f != NULL);
    CHECK_EQ_INT(file_size(f, THIS_FILE, &count), 0);
    CHECK_EQ_INT(weft_snapshot_size(f, NULL), weft_snapshot_size(snap, NULL) - ours);
    weft_snapshot_free(f);

    /* Any frame at the helper's call: the helper's block. */
    weft_trace_filter call_anywhere = {.inclusive = true, .filename_pattern = "*" THIS_FILE,
                                       .lineno = (unsigned)line_call, .all_frames = true,
                                       .domain = -1};
    f = weft_snapshot_filter(snap, &call_anywhere, 1);
    CHECK(f && weft_snapshot_size(f, &count) == 3000 && count == 1);
    weft_snapshot_free(f);

    /* Domains: this file's obj-domain blocks are the calloc'd ones and the
     * two objects; the rest are mem and raw. */
    weft_trace_filter here = {.inclusive = true, .filename_pattern = "*" THIS_FILE, .domain = -1};
    weft_trace_filter objs[] = {here, {.inclusive = true, .domain = WEFT_DOMAIN_OBJ}};
    objs[0].domain = WEFT_DOMAIN_OBJ;
    f = weft_snapshot_filter(snap, objs, 1);
    CHECK(f && weft_snapshot_size(f, &count) == 96 + int_size + tuple_size && count == 5);
    weft_snapshot_free(f);
    weft_trace_filter no_obj[] = {here, {.inclusive = false, .domain = WEFT_DOMAIN_OBJ}};
    f = weft_snapshot_filter(snap, no_obj, 2);
    CHECK(f && weft_snapshot_size(f, &count) == 1000 + 700 + 3000 && count == 12);
    weft_snapshot_free(f);
    f = weft_snapshot_filter(snap, NULL, 0); /* no filter: everything */
    CHECK(f && weft_snapshot_size(f, NULL) == weft_snapshot_size(snap, NULL));
    weft_snapshot_free(f);

    weft_snapshot_free(snap);
    for (int i = 0; i < 10; i++)
        weft_free(mem[i]);
    for (int i = 0; i < 3; i++)
        weft_obj_free(obj[i]);
    weft_raw_free(raw);
    weft_free(helped);
    weft_decref(big);
    weft_decref(tuple);
    snap = weft_trace_snapshot();
    CHECK(snap && file_size(snap, THIS_FILE, &count) == 0 && count == 0);
    weft_snapshot_free(snap);
    weft_trace_stop();

    /* One frame: the caller's line, found without unwinding when the caller
     * is the program, and by unwinding through weft's own code otherwise. */
    REQUIRE(weft_trace_start(1) == 0);
    int line_one, line_one_obj;
    void *one = AT(line_one, weft_malloc(24));
    void *two = AT(line_call, helper_alloc(24));
    weft_object *three = AT(line_one_obj, weft_int_new((int64_t)1 << 41));
    tb = weft_trace_get_traceback(one);
    CHECK(tb && tb->nframes == 1 && tb->frames[0].lineno == (unsigned)line_one);
    weft_traceback_free(tb);
    tb = weft_trace_get_traceback(two);
    CHECK(tb && tb->nframes == 1 && tb->frames[0].lineno == (unsigned)line_helper);
    weft_traceback_free(tb);
    tb = weft_object_traceback(three);
    CHECK(tb && tb->nframes == 1 && tb->frames[0].lineno == (unsigned)line_one_obj);
    weft_traceback_print(tb, stdout);
    weft_traceback_free(tb);
    weft_free(one);
    weft_free(two);
    weft_decref(three);
    weft_trace_stop();

    weft_shutdown();
    return check_finish();
}
