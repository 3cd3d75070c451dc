/* The collector's marking sweeps the side tables in walk order: a reachable
 * object ahead of the sweep is only marked, one behind it is marked for a
 * further sweep, and past the last allowed sweep pushed on a worklist
 * (lib/gc.c, mark_reachable). Heaps whose references point backwards (made
 * children first, roots last), forwards, and both, each with garbage cycles
 * made among them: every reachable object must survive a full collection and
 * exactly the garbage must be found. A reachable object left marked but not
 * traversed would let its referents be collected and die here. */
#include "check.h"
#include "objtest.h"

#define CHAIN 20000
#define FAN 5000

static long collect_all(void)
{
    return weft_gc_collect(2);
}

/* Two cnodes pointing at each other, dropped: 2 garbage objects. */
static void make_garbage_pair(long id)
{
    weft_object *a = cnode_new(id), *b = cnode_new(id + 1);
    ((node *)a)->child = weft_newref(b);
    ((node *)b)->child = weft_newref(a);
    weft_decref(a);
    weft_decref(b);
}

/* node i holds node i-1: every reference points at an older object, and the
 * one external reference is to the newest. */
static void backward_chain(void)
{
    long dead_before = atomic_load(&node_dead_total);
    weft_object *head = NULL;
    for (long i = 0; i < CHAIN; i++) {
        head = node_new(100000 + i, head);
        if (i % 1000 == 0)
            make_garbage_pair(500000 + i * 2);
    }
    CHECK_EQ_INT(collect_all(), 2 * (CHAIN / 1000));
    CHECK_EQ_INT(atomic_load(&node_dead_total) - dead_before, 2 * (CHAIN / 1000));
    weft_decref(head); /* the whole chain dies by reference counting */
    CHECK_EQ_INT(atomic_load(&node_dead_total) - dead_before, 2 * (CHAIN / 1000) + CHAIN);
}

/* The same the other way: each node is made before the one it holds. */
static void forward_chain(void)
{
    long dead_before = atomic_load(&node_dead_total);
    weft_object *first = node_new(200000, NULL), *last = first;
    for (long i = 1; i < CHAIN; i++) {
        weft_object *next = node_new(200000 + i, NULL);
        ((node *)last)->child = next; /* the reference node_new gave us */
        last = next;
        if (i % 1000 == 0)
            make_garbage_pair(600000 + i * 2);
    }
    CHECK_EQ_INT(collect_all(), 2 * (CHAIN / 1000 - 1));
    CHECK_EQ_INT(atomic_load(&node_dead_total) - dead_before, 2 * (CHAIN / 1000 - 1));
    weft_decref(first);
    CHECK_EQ_INT(atomic_load(&node_dead_total) - dead_before, 2 * (CHAIN / 1000 - 1) + CHAIN);
}

/* Many lists made first, then a root list holding them all, made last; and
 * under each a backward chain three deep, so that some of the heap is found
 * only after the sweeps a collection allows. */
static void late_root(void)
{
    long dead_before = atomic_load(&node_dead_total);
    weft_object *leaves[FAN];
    for (int i = 0; i < FAN; i++) {
        weft_object *c = node_new(300000 + 3 * i, NULL);
        c = node_new(300000 + 3 * i + 1, c);
        leaves[i] = node_new(300000 + 3 * i + 2, c);
        if (i % 500 == 0)
            make_garbage_pair(700000 + i * 2);
    }
    weft_object *root = weft_list_new(0);
    REQUIRE(root != NULL);
    for (int i = 0; i < FAN; i++) {
        REQUIRE(weft_list_append(root, leaves[i]) == 0);
        weft_decref(leaves[i]);
    }
    CHECK_EQ_INT(collect_all(), 2 * (FAN / 500));
    CHECK_EQ_INT(atomic_load(&node_dead_total) - dead_before, 2 * (FAN / 500));
    for (int i = 0; i < 3 * FAN; i++)
        if (atomic_load(&node_deaths[300000 + i]) != 0) {
            CHECK(!"a reachable node was collected");
            break;
        }
    weft_decref(root);
    CHECK_EQ_INT(atomic_load(&node_dead_total) - dead_before, 2 * (FAN / 500) + 3 * FAN);
}

int main(void)
{
    REQUIRE(weft_init(NULL) == 0);
    weft_gc_disable(); /* only the collections asked for here: exact counts */
    collect_all();
    backward_chain();
    forward_chain();
    late_root();
    CHECK_EQ_INT(weft_shutdown(), 0);
    return check_finish();
}
