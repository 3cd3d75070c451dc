/* Automatic collections on the collector thread start only when the young
 * count is past the trigger (threads/collector.c). A thread that only makes
 * objects that stay alive never lowers the young count, so every automatic
 * collection must start with the count at threshold0 or more; one that
 * starts with little more than what was made since the last one's stop was
 * asked for before that stop (the collector had taken the request but not
 * yet begun) and examines the young objects again for nothing: binary_trees
 * ran half again as many young collections, and more than twice the older
 * ones, that way (docs/collector.md). A threshold0 near LONG_MAX starts
 * none, and makes no thread wait (check_huge_thresholds). */
#define WEFT_BUILDING_LIBRARY 1 /* white-box: _weft_gc_backlog_waits */
#include "check.h"
#include "objtest.h"
#include "gc_internal.h"
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THRESHOLD0 2000
#define COLLECTIONS 60
#define MADE_MAX (400L * THRESHOLD0)

static atomic_bool measuring;
static atomic_long starts, stale, lowest = LONG_MAX;

/* On the collector thread: the young count when a collection starts (before
 * its stop resets it). */
static void on_collection(const char *phase, const weft_gc_info *info, void *arg)
{
    (void)info;
    (void)arg;
    if (strcmp(phase, "start") != 0 || !atomic_load(&measuring))
        return;
    long c0, c1, c2;
    weft_gc_get_count(&c0, &c1, &c2);
    atomic_fetch_add(&starts, 1);
    if (c0 < THRESHOLD0 / 2)
        atomic_fetch_add(&stale, 1);
    long low = atomic_load(&lowest);
    while (c0 < low && !atomic_compare_exchange_weak(&lowest, &low, c0)) {
    }
}

/* A threshold0 near LONG_MAX turns automatic collections off. The
 * back-pressure limit, 1.5 x the trigger, once wrapped negative there, and
 * then every 64 tracked allocations waited 20 ms for a collection that
 * never came: none may start, and no thread may wait. */
static void check_huge_thresholds(weft_object *keep)
{
    static const long huge[] = {LONG_MAX, LONG_MAX - 1, LONG_MAX / 3 * 2 + 3};
    for (size_t h = 0; h < sizeof huge / sizeof huge[0]; h++) {
        weft_gc_set_threshold(huge[h], 10, 10);
        REQUIRE(weft_gc_collect(0) >= 0); /* nothing pending from before */
        uint64_t waits = _weft_gc_backlog_waits();
        long started = atomic_load(&starts);
        atomic_store(&measuring, true);
        for (int i = 0; i < 5000; i++) {
            weft_object *l = weft_list_new(0);
            REQUIRE(l != NULL && weft_list_append(keep, l) == 0);
            weft_decref(l);
        }
        atomic_store(&measuring, false);
        CHECK_EQ_INT(_weft_gc_backlog_waits() - waits, 0);
        CHECK_EQ_INT(atomic_load(&starts) - started, 0);
    }
}

int main(void)
{
    REQUIRE(weft_init(NULL) == 0); /* the collector thread on */
    weft_gc_set_threshold(THRESHOLD0, 10, 10); /* exact: no backoff */
    REQUIRE(weft_gc_add_callback(on_collection, NULL) == 0);
    weft_object *keep = weft_list_new(0);
    REQUIRE(keep != NULL);

    atomic_store(&measuring, true);
    long made = 0;
    while (atomic_load(&starts) < COLLECTIONS && made < MADE_MAX) {
        weft_object *l = weft_list_new(0);
        REQUIRE(l != NULL && weft_list_append(keep, l) == 0);
        weft_decref(l);
        made++;
    }
    atomic_store(&measuring, false);
    printf("%ld objects, %ld collections, %ld stale, lowest young count at a start %ld\n", made,
           atomic_load(&starts), atomic_load(&stale), atomic_load(&lowest));
    CHECK(atomic_load(&starts) >= COLLECTIONS);
    CHECK_EQ_INT(atomic_load(&stale), 0);

    check_huge_thresholds(keep);

    weft_decref(keep);
    REQUIRE(weft_gc_remove_callback(on_collection, NULL) == 0);
    CHECK_EQ_INT(weft_shutdown(), 0);
    return check_finish();
}
