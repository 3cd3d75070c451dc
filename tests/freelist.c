/* The per-thread freelists of ints and small tuples (lib/freelist.h): a dead
 * object is listed and revived by the next creation of its kind on the same
 * thread; while listed it is dead to everyone (a stray decref is reported as
 * one of a freed object); a revival is a new object in every field; the
 * lists are flushed when their thread detaches and, on the collector
 * thread, after each collection; nothing is revived while tracing is on. */
#define WEFT_BUILDING_LIBRARY 1
#include "check.h"
#include "objtest.h"
#include "builtins.h"
#include "object_internal.h"
#include "threads/thread.h"

#include <weft/trace.h>

#define INT_CLASS 2 /* weft_int: 32 bytes */

static size_t blocks_in_use(unsigned cls)
{
    weft_heap_stats st;
    weft_heap_get_stats(&st);
    return st.classes[cls - 1].blocks_in_use;
}

static unsigned listed_ints(void)
{
    return atomic_load(&_weft_tls_thread->freelists[0].xn);
}

static void revival(void)
{
    weft_object *a = weft_int_new(100000);
    unsigned before = listed_ints();
    weft_decref(a);
    CHECK_EQ_INT(listed_ints(), before + 1);
    CHECK_EQ_INT(atomic_load(&a->ref_shared), WEFT_SHARED_DEAD); /* listed, dead */
    weft_object *b = weft_int_new(-7777);
    CHECK_EQ_INT(listed_ints(), before);
    CHECK(b == a); /* the same block, revived */
    CHECK_EQ_INT(weft_int_value(b), -7777);
    CHECK_EQ_INT(weft_refcount(b), 1);
    CHECK_EQ_INT(atomic_load(&b->owner), weft_thread_index());
    CHECK(weft_type_of(b) == &weft_int_type);
    weft_decref(b);

    /* A tracked tuple comes back untracked when its items ask for it, and
     * the other way round; its size and items are the new ones. */
    weft_object *held = cnode_new(1);
    weft_object *t = weft_tuple_pack(2, held, weft_int_new(1));
    CHECK(weft_gc_is_tracked(t));
    weft_decref(t);
    weft_object *u = weft_tuple_pack(2, weft_int_new(2), weft_int_new(3));
    CHECK(u == t);
    CHECK(!weft_gc_is_tracked(u));
    CHECK_EQ_INT(weft_tuple_size(u), 2);
    CHECK_EQ_INT(weft_int_value(weft_tuple_get(u, 1)), 3);
    weft_decref(u);
    weft_object *v = weft_tuple_pack(2, held, held);
    CHECK(v == t && weft_gc_is_tracked(v));
    CHECK_EQ_INT(weft_refcount(held), 3);
    weft_decref(v);
    CHECK_EQ_INT(weft_refcount(held), 1);
    /* Another size takes another list; tuple_new zeroes what pack writes. */
    weft_object *w = weft_tuple_new(2);
    CHECK(w == t);
    CHECK(weft_tuple_get(w, 0) == NULL && weft_tuple_get(w, 1) == NULL);
    weft_decref(w);
    weft_decref(held);
    CHECK_EQ_INT(atomic_load(&node_deaths[1]), 1);
}

/* Dies (in a child) with "decref of a freed object": the int is listed. */
static void decref_listed(void *arg)
{
    weft_init(NULL);
    weft_object *a = weft_int_new(100000);
    weft_decref(a);
    weft_decref(a);
}

static void *churn_and_exit(void *arg)
{
    weft_thread_attach();
    for (int i = 0; i < 1000; i++)
        weft_decref(weft_int_new(1000 + i));
    weft_thread *t = _weft_tls_thread;
    *(unsigned *)arg = atomic_load(&t->freelists[0].xn);
    weft_thread_detach();
    return NULL;
}

static void exit_flushes(void)
{
    size_t before = blocks_in_use(INT_CLASS);
    unsigned listed = 0;
    pthread_t th;
    pthread_create(&th, NULL, churn_and_exit, &listed);
    weft_test_join(th);
    CHECK(listed > 0);                            /* its list held ints ... */
    CHECK_EQ_INT(blocks_in_use(INT_CLASS), before); /* ... freed at its exit */
}

static void tracing_bypasses(void)
{
    weft_object *a = weft_int_new(100000);
    weft_decref(a); /* listed */
    REQUIRE(weft_trace_start(1) == 0);
    weft_object *b = weft_int_new(100001);
    CHECK(b != a); /* allocated, so traced */
    weft_traceback *tb = weft_object_traceback(b);
    CHECK(tb != NULL);
    if (tb)
        weft_traceback_free(tb);
    weft_decref(b); /* freed, not listed */
    weft_trace_stop();
    weft_object *c = weft_int_new(100002);
    CHECK(c == a); /* the listed one again */
    weft_decref(c);
}

/* The collector thread frees garbage tuples into its own lists; it makes no
 * tuples to revive them, so it flushes them after each collection. */
static void collector_flushes(void)
{
    const unsigned tuple3_class = 4; /* 24 + 8 + 3 x 8 = 56 bytes: 64 (a node is 48) */
    weft_gc_collect(2);
    size_t before = blocks_in_use(tuple3_class);
    int made = 0;
    for (int i = 0; i < 200; i++) {
        weft_object *n = cnode_new(1000 + i);
        weft_object *t = n ? weft_tuple_pack(3, n, weft_int_new(1), weft_int_new(2)) : NULL;
        if (t) {
            ((node *)n)->child = weft_newref(t); /* t <-> n: garbage below */
            made++;
        }
        weft_xdecref(t);
        weft_xdecref(n);
    }
    CHECK_EQ_INT(made, 200);
    CHECK_EQ_INT(blocks_in_use(tuple3_class), before + 200);
    CHECK_EQ_INT(weft_gc_collect(2), 400);
    CHECK_EQ_INT(blocks_in_use(tuple3_class), before);
}

int main(void)
{
    CHECK_DIES_WITH(decref_listed, NULL, "decref of a freed object: object 0x");
    CHECK_DIES_WITH(decref_listed, NULL, "of type int");
    REQUIRE(weft_init(NULL) == 0);
    revival();
    exit_flushes();
    tracing_bypasses();
    collector_flushes();
    CHECK_EQ_INT(weft_shutdown(), 0); /* nothing listed counts as alive */
    return check_finish();
}
