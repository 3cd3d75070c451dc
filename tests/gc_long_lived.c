/* The long-lived rule counts net growth (threads/collector.c): objects that
 * become long-lived and then die by reference counting do not bring on full
 * collections, and cyclic garbage that became long-lived still does.
 * Collections run on the allocating thread (gc_thread = 0), so the counts
 * are those of this thread's allocations alone. */
#include "check.h"
#include "objtest.h"
#include <stdio.h>

#define BASE 8000          /* long-lived lists: the long-lived total */
#define BATCH 1000         /* lists promoted, then freed, per round (< BASE / 4) */
#define ROUNDS 60          /* BATCH x ROUNDS: about 7 x BASE promoted in all */
#define CYCLES_PER_ROUND 1500
#define GARBAGE_ROUNDS 6

static uint64_t full_collections(void)
{
    weft_gc_gen_stats st[WEFT_GC_GENERATIONS];
    weft_gc_get_stats(st);
    return st[2].collections;
}

static weft_object *lists(size_t n)
{
    weft_object *holder = weft_list_new(0);
    for (size_t i = 0; holder && i < n; i++) {
        weft_object *l = weft_list_new(0);
        REQUIRE(l && weft_list_append(holder, l) == 0);
        weft_decref(l);
    }
    return holder;
}

/* Promoted objects freed by reference counting: with CPython's rule (pending
 * above a quarter of the total) this phase ran a full collection every
 * BASE / 4 promotions, 20 in all; with the net rule only the gross
 * bound (4 x the total promoted) can ask for one. */
static void test_promoted_then_freed(void)
{
    uint64_t before = full_collections();
    for (int r = 0; r < ROUNDS; r++) {
        weft_object *batch = lists(BATCH);
        REQUIRE(batch);
        /* A little more allocation, so that the batch is promoted before it dies. */
        weft_object *more = lists(BATCH / 2);
        weft_decref(more);
        weft_decref(batch);
    }
    uint64_t fulls = full_collections() - before;
    printf("promoted-then-freed: %llu full collections over %d rounds\n",
           (unsigned long long)fulls, ROUNDS);
    CHECK(fulls <= 4);
}

static void make_cycles(weft_object *holder, long n, long id)
{
    for (long i = 0; i < n; i++) {
        weft_object *a = cnode_new(id + 2 * i), *b = cnode_new(id + 2 * i + 1);
        REQUIRE(a && b);
        weft_setref(&((node *)a)->child, weft_newref(b));
        weft_setref(&((node *)b)->child, weft_newref(a));
        REQUIRE(weft_list_append(holder, a) == 0);
        weft_decref(a);
        weft_decref(b);
    }
}

/* Cyclic garbage promoted before it became garbage: only a full collection
 * frees it, and the net rule still counts it. */
static void test_long_lived_garbage(void)
{
    uint64_t before = full_collections();
    long dead_before = atomic_load(&node_dead_total);
    for (int r = 0; r < GARBAGE_ROUNDS; r++) {
        weft_object *holder = weft_list_new(0);
        REQUIRE(holder);
        make_cycles(holder, CYCLES_PER_ROUND, 2L * CYCLES_PER_ROUND * r);
        weft_object *more = lists(BATCH); /* promotes the cycles */
        weft_decref(more);
        weft_decref(holder);
    }
    uint64_t fulls = full_collections() - before;
    long freed = atomic_load(&node_dead_total) - dead_before;
    printf("long-lived garbage: %llu full collections, %ld of %d nodes freed\n",
           (unsigned long long)fulls, freed, 2 * CYCLES_PER_ROUND * GARBAGE_ROUNDS);
    CHECK(fulls >= 1);
    /* Each full collection frees all promoted garbage so far; what came
     * after the last one waits for the next. */
    CHECK(freed >= 2L * CYCLES_PER_ROUND * 2);
    weft_gc_collect(2);
    CHECK_EQ_INT(atomic_load(&node_dead_total) - dead_before,
                 2L * CYCLES_PER_ROUND * GARBAGE_ROUNDS);
}

int main(void)
{
    weft_config cfg;
    weft_config_default(&cfg);
    cfg.gc_thread = 0;
    REQUIRE(weft_init(&cfg) == 0);
    weft_gc_set_threshold(100, 2, 2);
    weft_object *base = lists(BASE);
    REQUIRE(base);
    weft_gc_collect(2); /* the long-lived total is now BASE + 1 */
    test_promoted_then_freed();
    test_long_lived_garbage();
    weft_decref(base);
    CHECK_EQ_INT(weft_shutdown(), 0);
    return check_finish();
}
