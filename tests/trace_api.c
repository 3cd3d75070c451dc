/* Allocation tracing, the API: starting and stopping, its errors, exact
 * totals (sizes asked for, every domain, small and large, calloc and realloc,
 * a failed realloc), clearing, and many sessions in a row without leaks. */
#include "check.h"
#include "trace_test.h"

/* A raw-domain allocator whose realloc can be told to fail (it chains to
 * weft's own allocator otherwise). */
static weft_allocator inner;
static bool fail_realloc;

static void *h_malloc(void *ctx, size_t n)
{
    return inner.malloc(inner.ctx, n);
}
static void *h_calloc(void *ctx, size_t n, size_t e)
{
    return inner.calloc(inner.ctx, n, e);
}
static void *h_realloc(void *ctx, void *p, size_t n)
{
    return fail_realloc ? NULL : inner.realloc(inner.ctx, p, n);
}
static void h_free(void *ctx, void *p)
{
    inner.free(inner.ctx, p);
}

static size_t current(void)
{
    size_t c, p;
    weft_trace_get_memory(&c, &p);
    return c;
}

static size_t peak(void)
{
    size_t c, p;
    weft_trace_get_memory(&c, &p);
    return p;
}

static unsigned frame0_line(const void *block)
{
    weft_traceback *tb = weft_trace_get_traceback(block);
    unsigned line = tb && tb->nframes ? tb->frames[0].lineno : 0;
    weft_traceback_free(tb);
    return line;
}

static void errors_when_off(void)
{
    CHECK(!weft_trace_is_tracing());
    CHECK_EQ_INT(weft_trace_get_traceback_limit(), 0);
    size_t c = 1, p = 1;
    weft_trace_get_memory(&c, &p);
    CHECK(c == 0 && p == 0);
    weft_trace_get_memory(NULL, NULL);

    weft_error_clear();
    CHECK(weft_trace_snapshot() == NULL);
    CHECK_EQ_INT(weft_error(), WEFT_ESTATE);
    void *b = weft_malloc(8);
    weft_error_clear();
    CHECK(weft_trace_get_traceback(b) == NULL);
    CHECK_EQ_INT(weft_error(), WEFT_ESTATE);
    weft_free(b);
    weft_trace_stop(); /* nothing to stop */
    weft_trace_clear();
    weft_trace_reset_peak();
    CHECK(!weft_trace_is_tracing());

    int bad[] = {0, -1, WEFT_TRACE_MAX_FRAMES + 1, 1 << 30};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        weft_error_clear();
        CHECK_EQ_INT(weft_trace_start(bad[i]), -1);
        CHECK_EQ_INT(weft_error(), WEFT_EINVAL);
        CHECK(!weft_trace_is_tracing());
    }
    CHECK(weft_snapshot_filter(NULL, NULL, 0) == NULL);
    CHECK_EQ_INT(weft_error(), WEFT_EINVAL);
    CHECK(weft_snapshot_statistics(NULL, WEFT_TRACE_BY_LINE) == NULL);
    CHECK_EQ_INT(weft_error(), WEFT_EINVAL);
    CHECK_EQ_INT(weft_trace_stats_print(NULL, 0, stdout), -1);
    weft_snapshot_free(NULL);
    weft_trace_stats_free(NULL);
    weft_traceback_free(NULL);
}

static void start_twice(void)
{
    REQUIRE(weft_trace_start(5) == 0);
    CHECK(weft_trace_is_tracing());
    CHECK_EQ_INT(weft_trace_get_traceback_limit(), 5);
    CHECK_EQ_INT(weft_trace_start(5), 0); /* same limit: nothing to do */
    weft_error_clear();
    CHECK_EQ_INT(weft_trace_start(6), -1);
    CHECK_EQ_INT(weft_error(), WEFT_ESTATE);
    CHECK_EQ_INT(weft_trace_get_traceback_limit(), 5);
    weft_snapshot *s = weft_trace_snapshot();
    REQUIRE(s != NULL);
    CHECK_EQ_INT(weft_snapshot_traceback_limit(s), 5);
    size_t n;
    CHECK_EQ_INT(weft_snapshot_size(s, &n), 0);
    CHECK_EQ_INT(n, 0);
    weft_snapshot_free(s);
    weft_trace_stop();
    CHECK(!weft_trace_is_tracing());
}

/* Exact totals: the sizes asked for, whatever the domain or the allocator
 * underneath. */
static void exact_totals(void)
{
    void *before = weft_malloc(77); /* made before tracing: never counted */
    REQUIRE(weft_trace_start(3) == 0);
    CHECK_EQ_INT(current(), 0);

    size_t sizes[] = {1, 15, 16, 100, 511, 512, 513, 4096, 5000, 100000, 1 << 21};
    enum { N = sizeof sizes / sizeof *sizes };
    void *mem[N], *obj[N], *raw[N];
    size_t total = 0;
    for (int i = 0; i < N; i++) {
        mem[i] = weft_malloc(sizes[i]);
        obj[i] = weft_obj_malloc(sizes[i]);
        raw[i] = weft_raw_calloc(sizes[i], 1);
        REQUIRE(mem[i] && obj[i] && raw[i]);
        total += 3 * sizes[i];
        CHECK_EQ_INT(current(), total);
    }
    void *zero = weft_malloc(0);
    CHECK_EQ_INT(current(), total);
    void *cal = weft_calloc(7, 9);
    total += 63;
    CHECK_EQ_INT(current(), total);
    CHECK_EQ_INT(peak(), total);

    /* realloc: in place within a size class, across classes, to and from
     * large, and from NULL; the trace always holds the new size. */
    size_t steps[] = {20, 30, 300, 40, 6000, 200000, 100, 513};
    size_t cur = 63;
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
        cal = weft_realloc(cal, steps[i]);
        REQUIRE(cal != NULL);
        total += steps[i] - cur;
        cur = steps[i];
        CHECK_EQ_INT(current(), total);
    }
    void *from_null = weft_obj_realloc(NULL, 33);
    total += 33;
    CHECK_EQ_INT(current(), total);

    /* Freeing the untraced block changes nothing. */
    weft_free(before);
    CHECK_EQ_INT(current(), total);
    weft_free(NULL);

    size_t high = peak();
    CHECK(high >= total);
    for (int i = 0; i < N; i++) {
        weft_free(mem[i]);
        weft_obj_free(obj[i]);
        total -= 2 * sizes[i];
        CHECK_EQ_INT(current(), total);
    }
    CHECK_EQ_INT(peak(), high);
    weft_trace_reset_peak();
    CHECK_EQ_INT(peak(), total);
    void *spike = weft_malloc(1000);
    CHECK_EQ_INT(peak(), total + 1000);
    weft_free(spike);
    CHECK_EQ_INT(peak(), total + 1000);

    for (int i = 0; i < N; i++)
        weft_raw_free(raw[i]);
    weft_free(cal);
    weft_obj_free(from_null);
    weft_free(zero);
    CHECK_EQ_INT(current(), 0); /* back to the baseline, exactly */
    CHECK(weft_trace_get_overhead() > 0);
    weft_trace_stop();
    CHECK_EQ_INT(weft_trace_get_overhead(), 0);
}

/* A realloc that fails leaves the block's trace as it was. */
static void failed_realloc(void)
{
    REQUIRE(weft_trace_start(2) == 0);
    int line;
    void *p = AT(line, weft_raw_malloc(200));
    REQUIRE(p != NULL);
    CHECK_EQ_INT(current(), 200);
    fail_realloc = true;
    CHECK(weft_raw_realloc(p, 100000) == NULL);
    CHECK_EQ_INT(weft_error(), WEFT_ENOMEM);
    fail_realloc = false;
    CHECK_EQ_INT(current(), 200);
    CHECK_EQ_INT(frame0_line(p), line);

    /* An injected failure, too. */
    weft_fault_alloc_after(1);
    CHECK(weft_raw_realloc(p, 300) == NULL);
    CHECK_EQ_INT(current(), 200);
    CHECK_EQ_INT(frame0_line(p), line);

    int line2;
    p = AT(line2, weft_raw_realloc(p, 300));
    REQUIRE(p != NULL);
    CHECK_EQ_INT(current(), 300);
    CHECK_EQ_INT(frame0_line(p), line2); /* a realloc is recorded where it was made */
    weft_raw_free(p);
    CHECK_EQ_INT(current(), 0);
    weft_trace_stop();
}

static void clear_and_untraced(void)
{
    REQUIRE(weft_trace_start(4) == 0);
    void *a = weft_malloc(100);
    CHECK_EQ_INT(current(), 100);
    weft_error_clear();
    CHECK(weft_trace_get_traceback(&errors_when_off) == NULL); /* not a block at all */
    CHECK_EQ_INT(weft_error(), WEFT_EINVAL);
    weft_trace_clear();
    CHECK(weft_trace_is_tracing());
    CHECK_EQ_INT(weft_trace_get_traceback_limit(), 4);
    CHECK_EQ_INT(current(), 0);
    CHECK_EQ_INT(peak(), 0);
    CHECK(weft_trace_get_traceback(a) == NULL);
    weft_free(a); /* forgotten: ignored */
    CHECK_EQ_INT(current(), 0);
    void *b = weft_malloc(10);
    CHECK_EQ_INT(current(), 10);
    weft_traceback *tb = weft_object_traceback(b); /* objects are blocks */
    CHECK(tb != NULL && tb->nframes >= 1 && tb->nframes <= 4);
    weft_traceback_free(tb);
    weft_free(b);
    CHECK_EQ_INT(current(), 0);
    weft_trace_stop();
}

/* Many sessions, each with a different limit and its own stacks: stop frees
 * everything (the sanitizer builds check that no memory is lost). */
NOINLINE static void *depth(int n, size_t size)
{
    void *p = n ? depth(n - 1, size) : weft_malloc(size);
    escape(p);
    return p;
}

static void many_sessions(void)
{
    for (int round = 0; round < 200; round++) {
        int nframes = 1 + round % WEFT_TRACE_MAX_FRAMES;
        REQUIRE(weft_trace_start(nframes) == 0);
        void *keep[64];
        size_t total = 0;
        for (int i = 0; i < 64; i++) {
            keep[i] = depth(i % 9, 16 + (size_t)i);
            total += 16 + (size_t)i;
        }
        CHECK_EQ_INT(current(), total);
        weft_traceback *tb = weft_trace_get_traceback(keep[8]);
        CHECK(tb != NULL && tb->nframes <= (size_t)nframes);
        if (nframes <= 10) /* depth 8, many_sessions and main: 11 frames at least */
            CHECK(tb != NULL && tb->nframes == (size_t)nframes);
        weft_traceback_free(tb);
        weft_snapshot *s = round % 10 == 0 ? weft_trace_snapshot() : NULL;
        /* Half the blocks outlive the session: their frees come after stop,
         * or in the next session, where they are unknown. */
        for (int i = 0; i < 32; i++)
            weft_free(keep[i]);
        weft_trace_stop();
        for (int i = 32; i < 64; i++)
            weft_free(keep[i]);
        if (s) {
            size_t n;
            CHECK_EQ_INT(weft_snapshot_size(s, &n), total);
            CHECK_EQ_INT(n, 64);
            weft_snapshot_free(s);
        }
        CHECK_EQ_INT(weft_trace_get_overhead(), 0);
    }
}

int main(void)
{
    weft_mem_get_allocator(WEFT_DOMAIN_RAW, &inner);
    weft_allocator hooked = {NULL, h_malloc, h_calloc, h_realloc, h_free};
    REQUIRE(weft_mem_set_allocator(WEFT_DOMAIN_RAW, &hooked) == 0);

    errors_when_off();
    start_twice();
    exact_totals();
    failed_realloc();
    clear_and_untraced();
    many_sessions();
    return check_finish();
}
