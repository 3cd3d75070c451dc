/* Lists on one thread: every operation and every error, with exact counts. */
#include "check.h"
#include "objtest.h"

int main(void)
{
    REQUIRE(weft_init(NULL) == 0);
    weft_object *l = weft_list_new(0);
    REQUIRE(l && weft_is_list(l));
    CHECK_EQ_INT(weft_list_len(l), 0);
    weft_object *nodes[100];
    for (int i = 0; i < 100; i++) {
        nodes[i] = node_new(i, NULL);
        CHECK_EQ_INT(weft_list_append(l, nodes[i]), 0);
        CHECK_EQ_INT(weft_refcount(nodes[i]), 2);
    }
    CHECK_EQ_INT(weft_list_len(l), 100);
    for (int i = 0; i < 100; i++) {
        weft_object *got = weft_list_get(l, (size_t)i);
        CHECK(got == nodes[i]);
        weft_decref(got);
    }
    /* errors: out of range, NULL item, not a list */
    CHECK(weft_list_get(l, 100) == NULL);
    CHECK_EQ_INT(weft_error(), WEFT_EINVAL);
    CHECK_EQ_INT(weft_list_set(l, 100, nodes[0]), -1);
    CHECK_EQ_INT(weft_list_insert(l, 101, nodes[0]), -1);
    CHECK(weft_list_pop(l, 100) == NULL);
    CHECK_EQ_INT(weft_list_append(l, NULL), -1);
    CHECK_EQ_INT(weft_list_append(nodes[0], nodes[1]), -1);
    CHECK(strstr(weft_error_message(), "not a list") != NULL);
    CHECK(weft_list_get(nodes[0], 0) == NULL);
    /* set replaces and releases the old item */
    weft_object *x = node_new(1000, NULL);
    CHECK_EQ_INT(weft_list_set(l, 5, x), 0);
    CHECK_EQ_INT(weft_refcount(nodes[5]), 1);
    CHECK_EQ_INT(weft_refcount(x), 2);
    /* insert at the front and at the end */
    CHECK_EQ_INT(weft_list_insert(l, 0, x), 0);
    CHECK_EQ_INT(weft_list_insert(l, weft_list_len(l), x), 0);
    CHECK_EQ_INT(weft_list_len(l), 102);
    weft_object *first = weft_list_get(l, 0), *second = weft_list_get(l, 1);
    CHECK(first == x && second == nodes[0]);
    weft_decref(first);
    weft_decref(second);
    /* pop returns the list's reference */
    weft_object *last = weft_list_pop(l, weft_list_len(l) - 1);
    CHECK(last == x);
    CHECK_EQ_INT(weft_refcount(x), 4); /* ours, slot 0, slot 6, popped */
    weft_decref(last);
    weft_object *popped = weft_list_pop(l, 1); /* nodes[0] */
    CHECK(popped == nodes[0]);
    weft_decref(popped);
    CHECK_EQ_INT(weft_list_len(l), 100);
    /* slice copies references */
    weft_object *s = weft_list_slice(l, 10, 20);
    CHECK_EQ_INT(weft_list_len(s), 10);
    weft_object *s0 = weft_list_get(s, 0), *l10 = weft_list_get(l, 10);
    CHECK(s0 == l10);
    weft_decref(s0);
    weft_decref(l10);
    weft_object *empty = weft_list_slice(l, 50, 10);
    CHECK_EQ_INT(weft_list_len(empty), 0);
    weft_object *tail = weft_list_slice(l, 95, 1000);
    CHECK_EQ_INT(weft_list_len(tail), 5);
    weft_decref(empty);
    weft_decref(tail);
    weft_decref(s);
    /* iteration */
    size_t pos = 0, n = 0;
    weft_object *it;
    while ((it = weft_list_next(l, &pos)) != NULL) {
        n++;
        weft_decref(it);
    }
    CHECK_EQ_INT(n, 100);
    CHECK_EQ_INT(pos, 100);
    /* clear releases everything */
    for (int i = 0; i < 100; i++)
        if (i != 0 && i != 5)
            weft_decref(nodes[i]);
    weft_decref(x);
    long before = atomic_load(&node_dead_total);
    weft_list_clear(l);
    CHECK_EQ_INT(weft_list_len(l), 0);
    CHECK_EQ_INT(atomic_load(&node_dead_total) - before, 98 + 1);
    weft_decref(nodes[5]);
    CHECK_EQ_INT(weft_refcount(nodes[0]), 1); /* popped earlier: ours is the last */
    weft_decref(nodes[0]);
    /* a list dropped with items releases them */
    weft_object *l2 = weft_list_new(10);
    weft_object *y = node_new(2000, NULL);
    weft_list_append(l2, y);
    weft_list_append(l2, y);
    weft_decref(y);
    weft_decref(l2);
    CHECK_EQ_INT(node_deaths[2000], 1);
    /* growth is amortised: 100000 appends */
    weft_object *big = weft_list_new(0);
    for (int i = 0; i < 100000; i++)
        weft_list_append(big, weft_int_new(i % 200));
    CHECK_EQ_INT(weft_list_len(big), 100000);
    weft_decref(big);
    /* out of memory during growth: clean failure, list unchanged */
    weft_object *l3 = weft_list_new(0);
    weft_fault_alloc_after(1);
    CHECK_EQ_INT(weft_list_append(l3, weft_int_new(1)), -1);
    CHECK_EQ_INT(weft_error(), WEFT_ENOMEM);
    CHECK_EQ_INT(weft_list_len(l3), 0);
    CHECK_EQ_INT(weft_list_append(l3, weft_int_new(1)), 0);
    weft_decref(l3);
    weft_decref(l);
    CHECK_EQ_INT(weft_shutdown(), 0);
    return check_finish();
}
