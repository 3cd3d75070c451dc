/* weft_shutdown collects what it can and reports what is still alive, by
 * type, with an allocation site when tracing is on. */
#include "check.h"
#include "objtest.h"
#include <weft/trace.h>

static void leak_some(void *traced)
{
    if (traced)
        weft_trace_start(4);
    weft_init(NULL);
    weft_object *kept = weft_list_new(0); /* leaked: never released */
    weft_object *cycle = weft_list_new(0);
    weft_list_append(cycle, cycle); /* garbage: the final collection frees it */
    weft_decref(cycle);
    weft_object *n = node_new(1, NULL);
    weft_list_append(kept, n);
    weft_decref(n);
    fprintf(stderr, "kept at %p\n", (void *)kept);
    long alive = weft_shutdown();
    fprintf(stderr, "returned %ld\n", alive);
}

/* The report names the one object held from outside the heap: the leaked
 * list, not the node it holds. */
static void check_roots(const char *out)
{
    char root[128];
    void *kept = NULL;
    const char *at = strstr(out, "kept at ");
    REQUIRE(at && sscanf(at, "kept at %p", &kept) == 1);
    snprintf(root, sizeof root, "root %p list: 1 unexplained of count 1", kept);
    CHECK(strstr(out, root) != NULL);
    const char *first = strstr(out, "  root ");
    CHECK(first && !strstr(first + 1, "  root "));
    CHECK(!strstr(out, "test.node: "));
    if (!strstr(out, root))
        fprintf(stderr, "%s\n", out);
}

int main(void)
{
    char out[8192];
    int st = check_run_child(leak_some, NULL, out, sizeof out);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK(strstr(out, "weft: 2 object(s) still alive at shutdown:") != NULL);
    CHECK(strstr(out, "1  list") != NULL);
    CHECK(strstr(out, "1  test.node") != NULL);
    CHECK(strstr(out, "returned 2") != NULL);
    check_roots(out);
    st = check_run_child(leak_some, (void *)1, out, sizeof out);
    CHECK(strstr(out, "leak_report.c:") != NULL); /* where it was allocated */
    if (!strstr(out, "leak_report.c:"))
        fprintf(stderr, "%s\n", out);

    /* A clean program reports nothing and returns 0. */
    REQUIRE(weft_init(NULL) == 0);
    weft_object *l = weft_list_new(0);
    weft_list_append(l, l);
    weft_decref(l);
    CHECK_EQ_INT(weft_shutdown(), 0);
    return check_finish();
}
