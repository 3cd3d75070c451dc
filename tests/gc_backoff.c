/* The young trigger backs off while collections find no garbage (threads/
 * collector.c): with the default thresholds, each automatic collection that
 * finds none doubles the young count that starts the next, up to 8 x
 * threshold0; one that finds garbage brings it back to threshold0; thresholds
 * the program sets are exact. Collections run on the allocating thread
 * (gc_thread = 0), so the young count is this thread's alone. */
#include "check.h"
#include "objtest.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THRESHOLD0 2000
#define STARTS 8

static long made;          /* tracked objects made so far */
static long starts[STARTS]; /* `made` when each collection started */
static int nstarts;

static void on_collection(const char *phase, const weft_gc_info *info, void *arg)
{
    if (strcmp(phase, "start") == 0 && nstarts < STARTS)
        starts[nstarts++] = made;
}

/* Keep making tracked objects that stay alive (no garbage) until `want`
 * collections have started; returns the gaps between them. */
static void live_growth(weft_object *keep, int want, long *gaps)
{
    nstarts = 0;
    long from = made;
    while (nstarts < want && made - from < 40 * THRESHOLD0) {
        weft_object *l = weft_list_new(0);
        if (!l || weft_list_append(keep, l) != 0) {
            fprintf(stderr, "list creation failed\n");
            exit(1);
        }
        weft_decref(l);
        made++;
    }
    REQUIRE(nstarts == want);
    for (int i = 0; i < want; i++) {
        gaps[i] = starts[i] - (i ? starts[i - 1] : from);
        printf("gap %d: %ld\n", i, gaps[i]);
    }
}

/* A gap of about n young objects (the count also holds the list growth's
 * own tracked objects, none here, and the batching of the young count). */
static int near(long gap, long n)
{
    return gap >= n - 200 && gap <= n + 200;
}

int main(void)
{
    weft_config config;
    weft_config_default(&config);
    config.gc_thread = 0;
    REQUIRE(weft_init(&config) == 0);
    REQUIRE(weft_gc_add_callback(on_collection, NULL) == 0);
    weft_gc_collect(2); /* a collection that finds nothing: starts the backoff */
    weft_object *keep = weft_list_new(0);
    REQUIRE(keep != NULL);

    /* 2x, 4x, 8x threshold0, then 8x again: the cap. */
    long gaps[STARTS];
    live_growth(keep, 4, gaps);
    CHECK(near(gaps[0], 2 * THRESHOLD0));
    CHECK(near(gaps[1], 4 * THRESHOLD0));
    CHECK(near(gaps[2], 8 * THRESHOLD0));
    CHECK(near(gaps[3], 8 * THRESHOLD0));

    /* Garbage found: back to threshold0. */
    weft_object *a = cnode_new(1), *b = cnode_new(2);
    ((node *)a)->child = weft_newref(b);
    ((node *)b)->child = weft_newref(a);
    weft_decref(a);
    weft_decref(b);
    live_growth(keep, 2, gaps); /* the first finds the cycle */
    CHECK_EQ_INT(atomic_load(&node_deaths[1]) + atomic_load(&node_deaths[2]), 2);
    CHECK(near(gaps[1], THRESHOLD0));

    /* Thresholds set by the program are exact: no backoff. */
    weft_gc_set_threshold(THRESHOLD0, 10, 10);
    live_growth(keep, 3, gaps);
    CHECK(near(gaps[1], THRESHOLD0));
    CHECK(near(gaps[2], THRESHOLD0));

    weft_decref(keep);
    REQUIRE(weft_gc_remove_callback(on_collection, NULL) == 0);
    CHECK_EQ_INT(weft_shutdown(), 0);
    return check_finish();
}
