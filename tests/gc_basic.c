/* The cycle collector on one thread: the cases CPython's gc tests cover,
 * written for weft's API. The collector thread runs; weft_gc_collect waits. */
#include "check.h"
#include "objtest.h"
#include <stdio.h>
#include <time.h>

static weft_object *clearable_new(long id)
{
    return cnode_new(id);
}

static void link_to(weft_object *from, weft_object *to)
{
    weft_setref(&((node *)from)->child, weft_newref(to));
}

static long deaths(long id)
{
    return atomic_load(&node_deaths[id]);
}

/* Finalizers: count, optionally resurrect into a global, optionally make new
 * garbage. */
static int finalize_calls;
static weft_object *resurrected;
static int finalize_mode; /* 0 plain, 1 resurrect, 2 make new garbage */

static void finalizer(weft_object *self)
{
    finalize_calls++;
    if (finalize_mode == 1 && !resurrected)
        resurrected = weft_newref(self);
    if (finalize_mode == 2) {
        weft_object *a = clearable_new(900), *b = clearable_new(901);
        link_to(a, b);
        link_to(b, a);
        weft_decref(a);
        weft_decref(b);
    }
}

static const weft_type finalizable_type = {
    .name = "test.finalizable",
    .basic_size = sizeof(node),
    .flags = WEFT_TYPE_GC,
    .traverse = node_traverse,
    .clear = node_clear,
    .finalize = finalizer,
    .dealloc = node_dealloc,
};

/* Weakref callbacks. */
static int callback_calls;
static weft_object *callback_saw;

static void on_clear(weft_object *ref, void *arg)
{
    callback_calls++;
    callback_saw = weft_weakref_get(ref); /* must be NULL: cleared first */
    weft_object *other = arg ? weft_weakref_get((weft_object *)arg) : NULL;
    /* A callback touching the cycle through another weakref sees nothing. */
    CHECK(other == NULL);
}

static void test_simple_cycles(void)
{
    /* self-cycle */
    weft_object *a = clearable_new(1);
    link_to(a, a);
    weft_decref(a);
    CHECK_EQ_INT(deaths(1), 0);
    CHECK(weft_gc_collect(2) >= 1);
    CHECK_EQ_INT(deaths(1), 1);

    /* two-node cycle */
    weft_object *b = clearable_new(2), *c = clearable_new(3);
    link_to(b, c);
    link_to(c, b);
    weft_decref(b);
    weft_decref(c);
    CHECK_EQ_INT(weft_gc_collect(0), 2);
    CHECK_EQ_INT(deaths(2) + deaths(3), 2);

    /* a reachable cycle survives */
    weft_object *d = clearable_new(4), *e = clearable_new(5);
    link_to(d, e);
    link_to(e, d);
    weft_decref(e);
    CHECK_EQ_INT(weft_gc_collect(2), 0);
    CHECK_EQ_INT(deaths(4) + deaths(5), 0);
    weft_decref(d);
    CHECK_EQ_INT(weft_gc_collect(2), 2);
    CHECK_EQ_INT(deaths(4) + deaths(5), 2);
}

static void test_container_cycles(void)
{
    /* list containing itself */
    weft_object *l = weft_list_new(0);
    weft_list_append(l, l);
    weft_object *w = weft_weakref_new(l, NULL, NULL);
    weft_decref(l);
    CHECK(weft_gc_collect(2) >= 1);
    CHECK(weft_weakref_get(w) == NULL);
    weft_decref(w);

    /* dict -> list -> tuple -> dict */
    weft_object *d = weft_dict_new(), *lst = weft_list_new(0);
    weft_object *t = weft_tuple_pack(1, d);
    weft_list_append(lst, t);
    weft_object *k = weft_str_from_cstr("k");
    weft_dict_set(d, k, lst);
    weft_object *wd = weft_weakref_new(d, NULL, NULL);
    weft_decref(k);
    weft_decref(t);
    weft_decref(lst);
    weft_decref(d);
    CHECK(weft_gc_collect(2) >= 3);
    CHECK(weft_weakref_get(wd) == NULL);
    weft_decref(wd);

    /* cycles through a user type without clear, broken by a list's clear */
    weft_object *n = node_new(10, NULL), *l2 = weft_list_new(0);
    weft_list_append(l2, n);
    ((node *)n)->child = weft_newref(l2);
    weft_decref(n);
    weft_decref(l2);
    CHECK(weft_gc_collect(2) >= 2);
    CHECK_EQ_INT(deaths(10), 1);
}

static void test_finalizers(void)
{
    /* plain: runs once, object freed */
    finalize_mode = 0;
    finalize_calls = 0;
    weft_object *f = weft_new(&finalizable_type);
    ((node *)f)->id = 20;
    link_to(f, f);
    weft_decref(f);
    CHECK_EQ_INT(weft_gc_collect(2), 1);
    CHECK_EQ_INT(finalize_calls, 1);
    CHECK_EQ_INT(deaths(20), 1);

    /* resurrecting: survives, finalizer does not run again */
    finalize_mode = 1;
    finalize_calls = 0;
    weft_object *g = weft_new(&finalizable_type), *h = clearable_new(22);
    ((node *)g)->id = 21;
    link_to(g, h);
    link_to(h, g);
    weft_decref(g);
    weft_decref(h);
    weft_gc_collect(2);
    CHECK_EQ_INT(finalize_calls, 1);
    CHECK(resurrected == g);
    CHECK_EQ_INT(deaths(21) + deaths(22), 0); /* g and what it reaches live */
    weft_clearref(&resurrected);
    CHECK(weft_gc_collect(2) >= 2);
    CHECK_EQ_INT(finalize_calls, 1); /* at most once */
    CHECK_EQ_INT(deaths(21) + deaths(22), 2);

    /* a finalizer that creates new garbage: collected by the next collection */
    finalize_mode = 2;
    weft_object *m = weft_new(&finalizable_type);
    ((node *)m)->id = 23;
    link_to(m, m);
    weft_decref(m);
    weft_gc_collect(2);
    CHECK_EQ_INT(deaths(23), 1);
    CHECK_EQ_INT(deaths(900) + deaths(901), 0);
    finalize_mode = 0;
    weft_gc_collect(2);
    CHECK_EQ_INT(deaths(900) + deaths(901), 2);
}

static void test_weakrefs(void)
{
    /* weakref to garbage, held by a survivor: callback runs, sees cleared */
    callback_calls = 0;
    weft_object *a = clearable_new(30), *b = clearable_new(31);
    link_to(a, b);
    link_to(b, a);
    weft_object *wa = weft_weakref_new(a, on_clear, NULL);
    weft_decref(a);
    weft_decref(b);
    weft_gc_collect(2);
    CHECK_EQ_INT(callback_calls, 1);
    CHECK(callback_saw == NULL);
    CHECK_EQ_INT(deaths(30) + deaths(31), 2);
    weft_decref(wa);

    /* a weakref that is part of the garbage gets no callback */
    callback_calls = 0;
    weft_object *c = clearable_new(32), *l = weft_list_new(0);
    weft_object *wc = weft_weakref_new(c, on_clear, NULL);
    weft_list_append(l, wc); /* the weakref hangs off the cycle */
    weft_list_append(l, c);
    link_to(c, l);
    weft_decref(wc);
    weft_decref(l);
    weft_decref(c);
    weft_gc_collect(2);
    /* wc is garbage itself (held only by the cycle): no callback */
    CHECK_EQ_INT(callback_calls, 0);
    CHECK_EQ_INT(deaths(32), 1);

    /* a callback that tries to reach the cycle through another weakref */
    callback_calls = 0;
    weft_object *x = clearable_new(33), *y = clearable_new(34);
    link_to(x, y);
    link_to(y, x);
    weft_object *wy = weft_weakref_new(y, NULL, NULL);
    weft_object *wx = weft_weakref_new(x, on_clear, wy);
    weft_decref(x);
    weft_decref(y);
    weft_gc_collect(2);
    CHECK_EQ_INT(callback_calls, 1);
    weft_decref(wx);
    weft_decref(wy);
}

static void test_introspection(void)
{
    weft_object *a = clearable_new(40), *b = clearable_new(41);
    link_to(a, b);
    weft_object *referents = weft_gc_get_referents(a);
    CHECK_EQ_INT(weft_list_len(referents), 1);
    weft_object *r0 = weft_list_get(referents, 0);
    CHECK(r0 == b);
    weft_decref(r0);
    weft_decref(referents);
    weft_object *referrers = weft_gc_get_referrers(b);
    CHECK_EQ_INT(weft_list_len(referrers), 1);
    r0 = weft_list_get(referrers, 0);
    CHECK(r0 == a);
    weft_decref(r0);
    weft_decref(referrers);
    weft_object *all = weft_gc_get_objects(-1);
    size_t found = 0, pos = 0;
    weft_object *it;
    while ((it = weft_list_next(all, &pos)) != NULL) {
        found += it == a || it == b;
        weft_decref(it);
    }
    CHECK_EQ_INT(found, 2);
    weft_decref(all);
    CHECK(weft_gc_get_objects(3) == NULL);
    CHECK_EQ_INT(weft_error(), WEFT_EINVAL);
    /* They stop the world, which a thread in a blocking region may not. */
    weft_blocking_begin();
    CHECK(weft_gc_get_referents(a) == NULL);
    CHECK_EQ_INT(weft_error(), WEFT_ESTATE);
    CHECK(weft_gc_get_referrers(b) == NULL);
    CHECK_EQ_INT(weft_error(), WEFT_ESTATE);
    weft_blocking_end();

    /* tracking */
    CHECK(weft_gc_is_tracked(a));
    CHECK(!weft_gc_is_tracked(weft_int_new(5)));
    CHECK_EQ_INT(weft_gc_untrack(a), 0);
    CHECK(!weft_gc_is_tracked(a));
    CHECK_EQ_INT(weft_gc_track(a), 0);
    CHECK_EQ_INT(weft_gc_track(weft_int_new(5)), -1);

    /* freeze: frozen cycles are ignored until unfrozen */
    link_to(b, a);
    weft_decref(a);
    weft_decref(b);
    weft_gc_freeze();
    CHECK(weft_gc_get_freeze_count() >= 2);
    weft_gc_collect(2);
    CHECK_EQ_INT(deaths(40) + deaths(41), 0);
    weft_gc_unfreeze();
    CHECK_EQ_INT(weft_gc_get_freeze_count(), 0);
    weft_gc_collect(2);
    CHECK_EQ_INT(deaths(40) + deaths(41), 2);
}

static int cb_start, cb_stop;
static long cb_collected;

static void gc_cb(const char *phase, const weft_gc_info *info, void *arg)
{
    if (strcmp(phase, "start") == 0)
        cb_start++;
    else {
        cb_stop++;
        cb_collected += info->collected;
    }
}

static void test_control(void)
{
    long t0, t1, t2;
    weft_gc_get_threshold(&t0, &t1, &t2);
    CHECK(t0 == 2000 && t1 == 10 && t2 == 10);
    weft_gc_set_threshold(100, 5, 5);
    weft_gc_get_threshold(&t0, &t1, &t2);
    CHECK(t0 == 100 && t1 == 5 && t2 == 5);
    weft_gc_set_threshold(2000, 10, 10);

    weft_gc_collect(2);
    weft_gc_disable();
    CHECK(!weft_gc_is_enabled());
    long c0, c1, c2;
    weft_object *keep = weft_list_new(0);
    for (int i = 0; i < 3000; i++) {
        weft_object *l = weft_list_new(0);
        weft_list_append(keep, l);
        weft_decref(l);
    }
    weft_gc_get_count(&c0, &c1, &c2);
    CHECK(c0 >= 2900); /* disabled: nothing collected them */
    weft_gc_enable();
    CHECK(weft_gc_is_enabled());
    weft_decref(keep);

    weft_gc_gen_stats before[3], after[3];
    weft_gc_get_stats(before);
    CHECK_EQ_INT(weft_gc_add_callback(gc_cb, NULL), 0);
    weft_object *a = clearable_new(50);
    link_to(a, a);
    weft_decref(a);
    weft_gc_collect(1);
    weft_gc_get_stats(after);
    CHECK_EQ_INT(after[1].collections, before[1].collections + 1);
    CHECK(after[1].collected >= before[1].collected + 1);
    CHECK(after[1].pause_max_ns > 0);
    CHECK(after[1].pause_p50_ns <= after[1].pause_max_ns);
    CHECK_EQ_INT(cb_start, 1);
    CHECK_EQ_INT(cb_stop, 1);
    CHECK(cb_collected >= 1);
    CHECK_EQ_INT(weft_gc_remove_callback(gc_cb, NULL), 0);
    CHECK_EQ_INT(weft_gc_remove_callback(gc_cb, NULL), -1);
    CHECK_EQ_INT(weft_gc_collect(7), -1);
    CHECK_EQ_INT(weft_error(), WEFT_EINVAL);
    weft_blocking_begin(); /* no object may be touched in here */
    long in_blocking = weft_gc_collect(0);
    int in_blocking_error = weft_error();
    weft_blocking_end();
    CHECK_EQ_INT(in_blocking, -1);
    CHECK_EQ_INT(in_blocking_error, WEFT_ESTATE);

    /* saveall keeps what it finds */
    weft_gc_set_debug(WEFT_GC_DEBUG_SAVEALL);
    weft_object *s = clearable_new(51);
    link_to(s, s);
    weft_decref(s);
    weft_gc_collect(2);
    weft_gc_set_debug(0);
    CHECK_EQ_INT(deaths(51), 0);
    weft_object *g = weft_gc_garbage();
    CHECK(weft_list_len(g) >= 1);
    weft_list_clear(g);
    weft_decref(g);
    weft_gc_collect(2);
    CHECK_EQ_INT(deaths(51), 1);
}

static void test_automatic(void)
{
    /* Without explicit calls, young collections free cyclic garbage. */
    weft_gc_gen_stats before[3], after[3];
    weft_gc_get_stats(before);
    for (int i = 0; i < 20000; i++) {
        weft_object *a = clearable_new(-1);
        link_to(a, a);
        weft_decref(a);
        if ((i & 255) == 0)
            weft_safepoint();
    }
    /* the collector thread works asynchronously: wait for it (10 s) */
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        weft_gc_get_stats(after);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (after[0].collections > before[0].collections + 3 || now.tv_sec - start.tv_sec >= 10)
            break;
        weft_blocking_begin();
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
        weft_blocking_end();
    }
    CHECK(after[0].collections > before[0].collections);
    CHECK(after[0].collected > before[0].collected);
}

int main(void)
{
    REQUIRE(weft_init(NULL) == 0);
    weft_gc_collect(2); /* a clean start */
    test_simple_cycles();
    test_container_cycles();
    test_finalizers();
    test_weakrefs();
    test_introspection();
    test_control();
    test_automatic();
    CHECK_EQ_INT(weft_shutdown(), 0);
    return check_finish();
}
