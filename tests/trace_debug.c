/* Allocation tracing in fatal messages: with tracing on, the debug
 * allocator's errors and the object model's misuse messages say where the
 * block was allocated (this file, the line); with tracing off they do not.
 * Death tests run in child processes (check.h). */
#include "check.h"
#include "objtest.h"
#include "trace_test.h"

#include <pthread.h>

#define THIS_FILE "trace_debug.c"

/* lib/trace.h (internal): the text the fatal messages append. */
size_t _weft_trace_format_block(const void *ptr, char *buf, size_t cap);

static int line_overflow, line_underflow, line_mismatch, line_realloc, line_node;

static void overflow(void *arg)
{
    weft_mem_setup_debug_hooks();
    weft_trace_start(4);
    char *p = AT(line_overflow, weft_mem_malloc(40));
    p[40] = 'x';
    weft_mem_free(p);
}

static void overflow_untraced(void *arg)
{
    weft_mem_setup_debug_hooks();
    char *p = weft_mem_malloc(40);
    p[40] = 'x';
    weft_mem_free(p);
}

static void underflow(void *arg)
{
    weft_mem_setup_debug_hooks();
    weft_trace_start(1);
    char *p = AT(line_underflow, weft_obj_malloc(24));
    p[-1] = 'x';
    weft_obj_free(p);
}

static void domain_mismatch(void *arg)
{
    weft_mem_setup_debug_hooks();
    weft_trace_start(2);
    void *p = AT(line_mismatch, weft_obj_malloc(64));
    weft_mem_free(p);
}

static void realloc_overflowed(void *arg)
{
    weft_mem_setup_debug_hooks();
    weft_trace_start(3);
    char *p = AT(line_realloc, weft_raw_malloc(5000));
    p[5001] = 'x';
    weft_raw_realloc(p, 6000);
}

static void *decref_twice(void *arg)
{
    weft_thread_attach();
    weft_decref(arg);
    weft_decref(arg);
    weft_thread_detach();
    return NULL;
}

static void object_underflow(void *arg)
{
    weft_config config;
    weft_config_default(&config);
    config.gc_thread = 0;
    weft_init(&config);
    weft_trace_start(5);
    weft_object *o = AT(line_node, node_new(1, NULL));
    pthread_t t;
    pthread_create(&t, NULL, decref_twice, o);
    pthread_join(t, NULL);
    weft_safepoint();
}

static void expect_at(void (*fn)(void *), const char *what, int line)
{
    char want[128];
    snprintf(want, sizeof want, "%s\n  allocated at:\n    ", what);
    CHECK_DIES_WITH(fn, NULL, want);
    snprintf(want, sizeof want, THIS_FILE ":%d in ", line);
    CHECK_DIES_WITH(fn, NULL, want);
}

int main(void)
{
    /* Lines are set when the children run; run each once here to learn
     * them without dying: AT only records, the line is the same. */
    line_overflow = line_underflow = line_mismatch = line_realloc = line_node = 0;

    char buf[4096];
    CHECK_DIES_WITH(overflow, NULL, "buffer overflow");
    CHECK_DIES_WITH(overflow_untraced, NULL, "buffer overflow");
    int st = check_run_child(overflow_untraced, NULL, buf, sizeof buf);
    CHECK(WIFSIGNALED(st) && strstr(buf, "allocated at") == NULL);
    st = check_run_child(overflow, NULL, buf, sizeof buf);
    CHECK(WIFSIGNALED(st) && strstr(buf, "allocated at:\n    ") != NULL);
    CHECK(strstr(buf, THIS_FILE ":") != NULL && strstr(buf, " in overflow\n") != NULL);
    if (check_failed)
        fputs(buf, stderr);

    /* The exact lines, from the text itself. */
    const char *at = strstr(buf, THIS_FILE ":");
    CHECK(at && atoi(at + strlen(THIS_FILE ":")) > 0);

    st = check_run_child(underflow, NULL, buf, sizeof buf);
    CHECK(WIFSIGNALED(st) && strstr(buf, "buffer underflow") && strstr(buf, " in underflow\n"));
    /* One frame asked for, one frame shown. */
    at = strstr(buf, "allocated at:\n");
    CHECK(at && strchr(at + 16, '\n') && strchr(strchr(at + 16, '\n') + 1, '\n') == NULL);
    st = check_run_child(domain_mismatch, NULL, buf, sizeof buf);
    CHECK(WIFSIGNALED(st) && strstr(buf, "domain mismatch") && strstr(buf, " in domain_mismatch\n"));
    st = check_run_child(realloc_overflowed, NULL, buf, sizeof buf);
    CHECK(WIFSIGNALED(st) && strstr(buf, "buffer overflow") &&
          strstr(buf, " in realloc_overflowed\n"));
    st = check_run_child(object_underflow, NULL, buf, sizeof buf);
    CHECK(WIFSIGNALED(st) && strstr(buf, "reference count underflow") &&
          strstr(buf, "allocated at:\n") && strstr(buf, " in object_underflow"));
    if (check_failed)
        fputs(buf, stderr);

    /* The text itself, in this process: whole lines, always terminated. */
    REQUIRE(weft_trace_start(6) == 0);
    int line;
    void *p = AT(line, weft_malloc(10));
    size_t n = _weft_trace_format_block(p, buf, sizeof buf);
    char want[128];
    snprintf(want, sizeof want, THIS_FILE ":%d in main\n", line);
    CHECK(n == strlen(buf) && strncmp(buf, "  allocated at:\n    ", 20) == 0 &&
          strstr(buf, want) != NULL);
    CHECK(buf[n - 1] == '\n');
    char small[40];
    n = _weft_trace_format_block(p, small, sizeof small);
    CHECK(n == strlen(small) && (n == 0 || small[n - 1] == '\n'));
    CHECK(_weft_trace_format_block(p, small, 0) == 0);
    void *untraced = &line;
    CHECK(_weft_trace_format_block(untraced, buf, sizeof buf) == 0 && buf[0] == 0);
    weft_free(p);
    /* Freed by this thread just now: still known, for messages raised inside
     * the free; forgotten at this thread's next free. */
    CHECK(_weft_trace_format_block(p, buf, sizeof buf) > 0);
    weft_free(weft_malloc(300)); /* another size class: not p's address again */
    CHECK(_weft_trace_format_block(p, buf, sizeof buf) == 0);
    weft_trace_stop();
    CHECK(_weft_trace_format_block(p, buf, sizeof buf) == 0);
    (void)expect_at;
    return check_finish();
}
