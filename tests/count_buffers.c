/* Buffered counts of read-shared objects (threads/countbuf.c): an object
 * that a thread other than its owner reads out of a dict twice is merged and
 * counted in per-thread tables; counts stay exact once the tables are
 * flushed, also when the owner is blocked (the reader merges for it); a
 * buffered object dies at once when the thread that drops the
 * last reference is the only one with a pin on it, at the next stop of the
 * world when another thread still has one, and when that thread detaches;
 * references handed between threads keep every count exact.
 * WEFT_COUNT_BUFFERS=0 turns buffering off (the same checks, nothing
 * buffered). */
#define WEFT_BUILDING_LIBRARY 1
#include "check.h"
#include "objtest.h"
#include "lib/gc_internal.h"
#include "threads/countbuf.h"
#include "threads/stw.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <weft/weft.h>

static bool buffering;

/* REQUIRE for threads other than main: check.h's counters are main's. */
#define WORKER_REQUIRE(cond)                                                       \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                               \
        }                                                                          \
    } while (0)

static bool is_buffered(weft_object *o)
{
    return _weft_countbuf_is_buffered(weft_load_relaxed(&o->owner));
}

/* The calling thread's entry for o: -1 without a pin, else its delta. */
static int my_delta(weft_object *o)
{
    if (!is_buffered(o))
        return -1;
    int32_t *e = _weft_countbuf_entry(weft_load_relaxed(&o->owner));
    return e && *e ? *e - 1 : -1;
}

static weft_object *key_of(long i)
{
    char text[32];
    snprintf(text, sizeof text, "key:%ld", i);
    weft_object *k = weft_str_from_cstr(text);
    REQUIRE(k);
    return k;
}

/* ---- a reader thread driven step by step by the main thread */

enum { R_GET_DROP = 1, R_GET_KEEP, R_DROP_KEPT, R_LIST_GET_DROP, R_HAS_TABLE, R_DETACH };

/* Orders go as serial << 4 | order, so that a repeated order is a new one;
 * `done` is the serial of the last order carried out. */
typedef struct reader {
    pthread_t thread;
    weft_object *dict, *key;
    weft_object *list; /* R_LIST_GET_DROP reads its item 0 */
    weft_object *kept;
    atomic_int order, done;
    int serial;
    int kept_delta;     /* my_delta of the kept object, read after R_GET_KEEP */
    int dropped_deaths; /* deaths of watch_id seen right after R_DROP_KEPT */
    bool has_table;     /* R_HAS_TABLE: its thread record has count arrays */
    long watch_id;
} reader;

static void *reader_main(void *arg)
{
    reader *r = arg;
    weft_thread_attach();
    int seen = 0;
    for (;;) {
        int tagged;
        while ((tagged = atomic_load(&r->order)) == seen)
            weft_test_yield();
        seen = tagged;
        int order = tagged & 15;
        if (order == R_GET_DROP) {
            weft_object *v = weft_dict_get(r->dict, r->key);
            WORKER_REQUIRE(v);
            weft_decref(v);
        } else if (order == R_GET_KEEP) {
            r->kept = weft_dict_get(r->dict, r->key);
            WORKER_REQUIRE(r->kept);
            r->kept_delta = my_delta(r->kept);
        } else if (order == R_DROP_KEPT) {
            weft_decref(r->kept);
            r->kept = NULL;
            r->dropped_deaths = atomic_load(&node_deaths[r->watch_id]);
        } else if (order == R_LIST_GET_DROP) {
            weft_object *v = weft_list_get(r->list, 0);
            WORKER_REQUIRE(v);
            weft_decref(v);
        } else if (order == R_HAS_TABLE) {
            r->has_table = _weft_tls_thread->countbuf != NULL;
        } else if (order == R_DETACH) {
            weft_thread_detach();
        }
        atomic_store(&r->done, tagged >> 4);
        if (order == R_DETACH)
            return NULL;
    }
}

/* The main thread waits passing safepoints: merges the reader asked for
 * happen here. */
static void reader_do(reader *r, int order)
{
    int serial = ++r->serial;
    atomic_store(&r->order, serial << 4 | order);
    while (atomic_load(&r->done) != serial)
        weft_test_yield();
}

static void reader_start(reader *r, weft_object *dict, weft_object *key, long watch_id)
{
    memset(r, 0, sizeof *r);
    r->dict = dict;
    r->key = key;
    r->watch_id = watch_id;
    REQUIRE(pthread_create(&r->thread, NULL, reader_main, r) == 0);
}

static void reader_stop(reader *r)
{
    reader_do(r, R_DETACH);
    weft_test_join(r->thread);
}

/* A dict {key: node id} made by the main thread, which keeps a reference to
 * the node in *value. */
static weft_object *dict_with_node(long id, weft_object **key, weft_object **value)
{
    weft_object *d = weft_dict_new();
    REQUIRE(d);
    *key = key_of(id);
    *value = node_new(id, NULL);
    REQUIRE(*value);
    REQUIRE(weft_dict_set(d, *key, *value) == 0);
    return d;
}

/* Read twice by the reader (the second read asks the owner, us, for the
 * merge), then again until the object is buffered (our safepoints in
 * reader_do do the merge), and once more: the reader has a pin on it, with
 * a delta of 0. */
static void make_read_shared(reader *r, weft_object *v)
{
    for (int i = 0; i < (buffering ? 2000 : 2) && !(buffering && is_buffered(v)); i++)
        reader_do(r, R_GET_DROP);
    CHECK(is_buffered(v) == buffering);
    reader_do(r, R_GET_DROP);
}

static void test_becomes_buffered_counts_exact(void)
{
    weft_object *key, *v, *d = dict_with_node(1, &key, &v);
    uint64_t before = weft_count_buffered_objects();
    reader r;
    reader_start(&r, d, key, 1);
    make_read_shared(&r, v);
    CHECK_EQ_INT(weft_count_buffered_objects() - before, buffering ? 1 : 0);
    /* The reader's pin stays; our own reads pin it in our table too. */
    weft_object *got = weft_dict_get(d, key);
    CHECK(got == v);
    CHECK_EQ_INT(my_delta(v), buffering ? 1 : -1);
    CHECK_EQ_INT(weft_refcount(v), 3); /* dict, ours, got: the reader's delta is 0 */
    weft_decref(got);
    CHECK_EQ_INT(weft_refcount(v), 2);
    reader_do(&r, R_GET_KEEP);
    CHECK_EQ_INT(r.kept_delta, buffering ? 1 : -1);
    reader_do(&r, R_DROP_KEPT);
    reader_stop(&r);
    CHECK_EQ_INT(weft_refcount(v), 2);
    /* A stop of the world flushes every table: the header alone is exact. */
    weft_gc_collect(0);
    CHECK_EQ_INT(my_delta(v), -1);
    if (buffering)
        CHECK_EQ_INT(weft_load_relaxed(&v->ref_shared) >> WEFT_SHARED_SHIFT, 2);
    weft_decref(d);
    weft_decref(key);
    CHECK_EQ_INT(atomic_load(&node_deaths[1]), 0);
    weft_decref(v);
    CHECK_EQ_INT(atomic_load(&node_deaths[1]), 1);
}

/* As reader_do, with the main thread in a blocking region throughout, as
 * a server's main thread waits in accept or join: it merges nothing. */
static void reader_do_while_blocked(reader *r, int order)
{
    weft_blocking_begin();
    int serial = ++r->serial;
    atomic_store(&r->order, serial << 4 | order);
    while (atomic_load(&r->done) != serial)
        sched_yield();
    weft_blocking_end();
}

/* The owner blocked while a reader reads its value twice: the reader merges
 * the value on the owner's behalf, and it is buffered (the reader's next
 * reference is a pin in its own table) before the owner comes back. */
static void test_blocked_owner_merged_by_reader(void)
{
    weft_object *key, *v, *d = dict_with_node(7, &key, &v);
    uint64_t before = weft_count_buffered_objects();
    reader r;
    reader_start(&r, d, key, 7);
    reader_do_while_blocked(&r, R_GET_DROP);
    reader_do_while_blocked(&r, R_GET_DROP);
    reader_do_while_blocked(&r, R_GET_KEEP);
    CHECK(is_buffered(v) == buffering);
    CHECK_EQ_INT(r.kept_delta, buffering ? 1 : -1);
    CHECK_EQ_INT(weft_count_buffered_objects() - before, buffering ? 1 : 0);
    reader_do(&r, R_DROP_KEPT);
    reader_stop(&r);
    CHECK_EQ_INT(weft_refcount(v), 2); /* the dict's and ours, merged into the header */
    weft_gc_collect(0);
    if (buffering)
        CHECK_EQ_INT(weft_load_relaxed(&v->ref_shared) >> WEFT_SHARED_SHIFT, 2);
    weft_decref(d);
    weft_decref(key);
    CHECK_EQ_INT(atomic_load(&node_deaths[7]), 0);
    weft_decref(v);
    CHECK_EQ_INT(atomic_load(&node_deaths[7]), 1);
}

/* Two gets by the calling thread of the item of c at `at` (a dict key, or a
 * list index), each released at once, then a safepoint (a merge asked for
 * is done there). */
static void owner_reads_twice(weft_object *c, weft_object *key, size_t at)
{
    for (int i = 0; i < 2; i++) {
        weft_object *got = key ? weft_dict_get(c, key) : weft_list_get(c, at);
        REQUIRE(got);
        weft_decref(got);
    }
    weft_safepoint();
}

/* Once another thread reads items of a container of ours, our own reads of
 * its items count as shared reads: an item only we read gets buffered too,
 * so that our count writes stay off the lines its neighbours are read from.
 * Before that, our reads change nothing. Counts and deaths stay exact. */
static void test_owner_reads_of_shared_items_buffered(void)
{
    weft_object *key, *v1, *d = dict_with_node(8, &key, &v1);
    weft_object *key2 = key_of(9), *v2 = node_new(9, NULL), *l = weft_list_new(0);
    weft_object *v3 = node_new(10, NULL), *v4 = node_new(11, NULL);
    REQUIRE(v2 && l && v3 && v4 && weft_dict_set(d, key2, v2) == 0);
    REQUIRE(weft_list_append(l, v3) == 0 && weft_list_append(l, v4) == 0);
    owner_reads_twice(d, key2, 0);
    owner_reads_twice(l, NULL, 1);
    CHECK(!is_buffered(v2));
    CHECK(!is_buffered(v4));
    uint64_t before = weft_count_buffered_objects();
    reader r;
    reader_start(&r, d, key, 8);
    r.list = l;
    make_read_shared(&r, v1);
    for (int i = 0; i < 2; i++)
        reader_do(&r, R_LIST_GET_DROP);
    owner_reads_twice(d, key2, 0);
    owner_reads_twice(l, NULL, 1);
    CHECK(is_buffered(v2) == buffering);
    CHECK(is_buffered(v4) == buffering);
    CHECK(is_buffered(v3) == buffering); /* the reader's two reads, merged at our safepoint */
    CHECK_EQ_INT(weft_count_buffered_objects() - before, buffering ? 4 : 0);
    reader_stop(&r);
    CHECK_EQ_INT(weft_refcount(v2), 2); /* the dict's and ours */
    CHECK_EQ_INT(weft_refcount(v4), 2); /* the list's and ours */
    weft_gc_collect(0);
    if (buffering) {
        CHECK_EQ_INT(weft_load_relaxed(&v2->ref_shared) >> WEFT_SHARED_SHIFT, 2);
        CHECK_EQ_INT(weft_load_relaxed(&v4->ref_shared) >> WEFT_SHARED_SHIFT, 2);
    }
    weft_decref(d);
    weft_decref(l);
    weft_decref(key);
    weft_decref(key2);
    weft_object *nodes[] = {v1, v2, v3, v4};
    for (long i = 0; i < 4; i++) {
        CHECK_EQ_INT(atomic_load(&node_deaths[8 + i]), 0);
        weft_decref(nodes[i]);
        CHECK_EQ_INT(atomic_load(&node_deaths[8 + i]), 1);
    }
}

static void *append_own_node(void *list)
{
    weft_thread_attach();
    weft_object *n = node_new(12, NULL);
    WORKER_REQUIRE(n && weft_list_append(list, n) == 0);
    weft_decref(n);
    weft_thread_detach();
    return NULL;
}

/* The owner's reads of another thread's items in its own container are not
 * another thread's reads: they mark nothing, and its own items stay on its
 * local counts. */
static void test_owner_reads_of_foreign_items_mark_nothing(void)
{
    weft_object *l = weft_list_new(0), *mine = node_new(13, NULL);
    REQUIRE(l && mine && weft_list_append(l, mine) == 0);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, append_own_node, l) == 0);
    weft_test_join(t);
    owner_reads_twice(l, NULL, 1); /* the other thread's node */
    owner_reads_twice(l, NULL, 0);
    CHECK(!(weft_load_relaxed(&l->flags) & WEFT_OBJ_ITEMS_READ_SHARED));
    CHECK(!is_buffered(mine));
    weft_decref(l);
    weft_gc_collect(0); /* our pin on the other node, if it was buffered */
    CHECK_EQ_INT(atomic_load(&node_deaths[12]), 1);
    CHECK_EQ_INT(atomic_load(&node_deaths[13]), 0);
    weft_decref(mine);
    CHECK_EQ_INT(atomic_load(&node_deaths[13]), 1);
}

/* A handoff: reader a takes the value through its table and hands the
 * reference to reader b, whose pin has a delta of 0, so that b's release
 * goes to the header and leaves the count net of pins below 0 (the dict's
 * reference and ours went through the header). b unpins there, so that the
 * value dies when a's delta goes, at a's detach, not at the next stop. */
static void test_handoff_release_then_detach(void)
{
    weft_object *key, *v, *d = dict_with_node(14, &key, &v);
    reader a, b;
    reader_start(&a, d, key, 14);
    make_read_shared(&a, v);
    reader_start(&b, d, key, 14);
    reader_do(&b, R_GET_DROP); /* b's pin, delta 0 */
    uint64_t epoch = _weft_stw_epoch();
    reader_do(&a, R_GET_KEEP);
    CHECK_EQ_INT(a.kept_delta, buffering ? 1 : -1);
    REQUIRE(weft_dict_del(d, key) == 0);
    weft_decref(v); /* only a's reference is left */
    b.kept = a.kept;
    a.kept = NULL;
    reader_do(&b, R_DROP_KEPT);
    /* A flush stop in between (the collector thread's, every 100 ms while
     * pins wait) moves a's delta to the header and drops the pins: b's
     * release is then the last, buffered or not. */
    if (_weft_stw_epoch() == epoch)
        CHECK_EQ_INT(b.dropped_deaths, buffering ? 0 : 1); /* unbuffered, it was the last */
    reader_stop(&a); /* its detach flushes its delta */
    CHECK_EQ_INT(atomic_load(&node_deaths[14]), 1);
    reader_stop(&b);
    weft_gc_collect(0);
    CHECK_EQ_INT(atomic_load(&node_deaths[14]), 1);
    weft_decref(d);
    weft_decref(key);
}

/* A buffered object made immortal while threads pin it: reads through a pin
 * (the delta grows, nothing releases it) and without one (the slow path
 * answers for the immortal) both succeed, a flush drops the pins, and the
 * object never dies. */
static void test_immortal_buffered_item(void)
{
    weft_object *key, *v, *d = dict_with_node(15, &key, &v);
    reader r;
    reader_start(&r, d, key, 15);
    make_read_shared(&r, v);
    weft_object *got = weft_dict_get(d, key); /* our pin, if buffered */
    REQUIRE(got == v);
    weft_set_immortal(v);
    for (int i = 0; i < 10; i++) {
        reader_do(&r, R_GET_DROP);
        weft_object *again = weft_dict_get(d, key);
        CHECK(again == v);
        weft_decref(again);
    }
    /* Past the most a delta holds: the gets beyond it take the slow path,
     * which must answer for the immortal without counting in its header
     * (no release would ever take those counts back). */
    int32_t shared = weft_load_relaxed(&v->ref_shared);
    for (long i = 0; i < WEFT_COUNTBUF_DELTA_MAX + 1000; i++) {
        weft_object *again = weft_dict_get(d, key);
        if (again != v) {
            CHECK(again == v);
            break;
        }
        weft_decref(again);
    }
    CHECK_EQ_INT(weft_load_relaxed(&v->ref_shared), shared);
    weft_decref(got);
    CHECK(weft_is_immortal(v));
    weft_gc_collect(0); /* flushes every table */
    CHECK_EQ_INT(my_delta(v), -1);
    reader_stop(&r);
    CHECK(weft_is_immortal(v));
    REQUIRE(weft_dict_del(d, key) == 0);
    weft_decref(v);
    weft_decref(d);
    weft_decref(key);
    weft_gc_collect(0);
    CHECK_EQ_INT(atomic_load(&node_deaths[15]), 0);
}

/* A thread whose array cannot be reserved (the failure injected) counts
 * its references to buffered objects in their headers: reads go on, the
 * counts stay exact, and the object dies once. */
static void test_table_reservation_fails(void)
{
    weft_object *key, *v, *d = dict_with_node(16, &key, &v);
    weft_object *key2 = key_of(17), *v2 = node_new(17, NULL);
    REQUIRE(v2 && weft_dict_set(d, key2, v2) == 0);
    reader a, b;
    reader_start(&a, d, key, 16);
    make_read_shared(&a, v);
    reader_start(&b, d, key2, 17);
    reader_do(&b, R_GET_DROP); /* attached, no pin: v2 is not buffered */
    reader_do(&b, R_HAS_TABLE);
    /* Arrays stay with a record: this test runs first, on fresh records. */
    CHECK(!b.has_table);
    b.key = key;
    unsigned long injected = weft_fault_alloc_injected();
    weft_fault_alloc_after(1);
    for (int i = 0; i < 3; i++)
        reader_do(&b, R_GET_DROP);
    weft_fault_alloc_after(0);
    if (buffering) /* the reservation was b's first allocation */
        CHECK_EQ_INT(weft_fault_alloc_injected() - injected, 1);
    reader_do(&b, R_GET_KEEP);
    CHECK_EQ_INT(b.kept_delta, -1); /* no pin: counted in the header */
    CHECK_EQ_INT(weft_refcount(v), 3); /* the dict's, ours, b's */
    reader_do(&b, R_DROP_KEPT);
    reader_stop(&b);
    reader_stop(&a);
    weft_gc_collect(0);
    CHECK_EQ_INT(weft_refcount(v), 2);
    weft_decref(d);
    weft_decref(key);
    weft_decref(key2);
    weft_decref(v2);
    CHECK_EQ_INT(atomic_load(&node_deaths[16]), 0);
    weft_decref(v);
    CHECK_EQ_INT(atomic_load(&node_deaths[16]), 1);
    CHECK_EQ_INT(atomic_load(&node_deaths[17]), 1);
}

/* A node in a dict of the main thread's, made read-shared by a reader. */
typedef struct shared_node {
    reader r;
    weft_object *dict, *key, *value;
    long id;
} shared_node;

static void shared_node_start(shared_node *s, long id)
{
    s->id = id;
    s->dict = dict_with_node(id, &s->key, &s->value);
    reader_start(&s->r, s->dict, s->key, id);
    make_read_shared(&s->r, s->value);
}

/* The reader reads the node once more (a pin with a delta of 0), then the
 * dict's reference and ours go. The reader's pin goes at any stop of the
 * world (the collector thread makes one when pins wait long): true if no
 * stop came in between, so that the pin must still be there. */
static bool shared_node_drop_while_pinned(shared_node *s)
{
    uint64_t epoch = _weft_stw_epoch();
    reader_do(&s->r, R_GET_DROP);
    REQUIRE(weft_dict_del(s->dict, s->key) == 0);
    weft_decref(s->value);
    return _weft_stw_epoch() == epoch;
}

static int deaths_of(const shared_node *s)
{
    return atomic_load(&node_deaths[s->id]);
}

static void shared_node_end(shared_node *s)
{
    weft_decref(s->dict);
    weft_decref(s->key);
}

/* The reader holds the last reference, taken through its table: its
 * release finds the count net of pins at zero and the node dies at once. */
static void test_last_release_by_pinning_reader(void)
{
    shared_node s;
    shared_node_start(&s, 2);
    reader_do(&s.r, R_GET_KEEP);
    REQUIRE(weft_dict_del(s.dict, s.key) == 0);
    weft_decref(s.value);
    CHECK_EQ_INT(deaths_of(&s), 0);
    reader_do(&s.r, R_DROP_KEPT);
    CHECK_EQ_INT(s.r.dropped_deaths, 1); /* dead before the reader went on */
    reader_stop(&s.r);
    CHECK_EQ_INT(deaths_of(&s), 1);
    shared_node_end(&s);
}

/* Another thread still has a pin (a delta of 0) when we drop the last
 * reference: the node waits for that pin to go, at the next stop of the
 * world, and dies there. */
static void test_death_waits_for_stop(void)
{
    shared_node s;
    shared_node_start(&s, 3);
    if (shared_node_drop_while_pinned(&s))
        CHECK_EQ_INT(deaths_of(&s), buffering ? 0 : 1);
    weft_gc_collect(0);
    CHECK_EQ_INT(deaths_of(&s), 1);
    reader_stop(&s.r);
    CHECK_EQ_INT(deaths_of(&s), 1);
    shared_node_end(&s);
}

/* A weakref to a node whose last reference went while the reader still
 * has a pin on it: a single thread would have seen it die, so the weakref
 * is dead, not a way to revive it (its get settles the count with a stop
 * of the world, which runs the death). */
static void test_weakref_to_pending_death(void)
{
    shared_node s;
    shared_node_start(&s, 18);
    weft_object *wr = weft_weakref_new(s.value, NULL, NULL);
    REQUIRE(wr);
    if (shared_node_drop_while_pinned(&s))
        CHECK_EQ_INT(deaths_of(&s), buffering ? 0 : 1);
    weft_object *got = weft_weakref_get(wr);
    CHECK(got == NULL);
    CHECK_EQ_INT(deaths_of(&s), 1);
    if (got)
        weft_decref(got);
    reader_stop(&s.r);
    CHECK_EQ_INT(deaths_of(&s), 1);
    weft_decref(wr);
    shared_node_end(&s);
}

/* The node's only reference is one the reader took through its table: the
 * header cannot prove it alive to us, the flush does, and the weakref
 * hands it out. */
static void test_weakref_to_node_held_by_delta(void)
{
    shared_node s;
    shared_node_start(&s, 19);
    weft_object *wr = weft_weakref_new(s.value, NULL, NULL);
    REQUIRE(wr);
    reader_do(&s.r, R_GET_KEEP);
    REQUIRE(weft_dict_del(s.dict, s.key) == 0);
    weft_decref(s.value);
    weft_object *got = weft_weakref_get(wr);
    CHECK(got == s.value);
    CHECK_EQ_INT(deaths_of(&s), 0);
    if (got)
        weft_decref(got);
    CHECK_EQ_INT(deaths_of(&s), 0);
    /* The reader's reference is the last: the node may wait for a stop
     * (our get pinned it too), and the weakref must not revive it. */
    reader_do(&s.r, R_DROP_KEPT);
    CHECK(weft_weakref_get(wr) == NULL);
    CHECK_EQ_INT(deaths_of(&s), 1);
    reader_stop(&s.r);
    weft_decref(wr);
    shared_node_end(&s);
}

/* The common case needs no stop: the dict's reference, counted in the
 * header before the node was buffered, proves it alive. Any stop in the
 * window must be the collector thread's own flush. */
static void test_weakref_get_proven_without_stop(void)
{
    shared_node s;
    shared_node_start(&s, 20);
    weft_object *wr = weft_weakref_new(s.value, NULL, NULL);
    REQUIRE(wr);
    weft_count_flush_stats before, after;
    weft_count_buffer_flushes(&before);
    uint64_t epoch = _weft_stw_epoch();
    weft_object *got = weft_weakref_get(wr);
    uint64_t stops = _weft_stw_epoch() - epoch;
    weft_count_buffer_flushes(&after);
    CHECK(got == s.value);
    CHECK_EQ_INT(stops, after.stops - before.stops);
    if (got)
        weft_decref(got);
    reader_stop(&s.r);
    weft_decref(wr);
    weft_decref(s.value);
    shared_node_end(&s);
    CHECK_EQ_INT(deaths_of(&s), 1);
}

/* The same, where the pin goes with the reader's detach. */
static void test_death_waits_for_detach(void)
{
    shared_node s;
    shared_node_start(&s, 4);
    if (shared_node_drop_while_pinned(&s))
        CHECK_EQ_INT(deaths_of(&s), buffering ? 0 : 1);
    reader_stop(&s.r); /* its detach flushes its table */
    CHECK_EQ_INT(deaths_of(&s), 1);
    shared_node_end(&s);
}

/* The same with no collection: the collector thread makes a stop that
 * flushes pins that waited 100 ms (collector.c). */
static long long elapsed_ns(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - since->tv_sec) * 1000000000ll + (now.tv_nsec - since->tv_nsec);
}

/* How long to wait for a flush stop: 10 s, plus two flush periods at the
 * longest pause so far (the period is ten pauses: collector.c). */
static long long flush_wait_ns(void)
{
    weft_count_flush_stats f;
    weft_count_buffer_flushes(&f);
    return 10000000000ll + 20 * (long long)f.pause_max_ns;
}

static void test_death_within_flush_period(void)
{
    const char *gc_thread = getenv("WEFT_GC_THREAD");
    if (gc_thread && strcmp(gc_thread, "0") == 0)
        return; /* no collector thread: the next collection flushes */
    shared_node s;
    shared_node_start(&s, 5);
    shared_node_drop_while_pinned(&s);
    /* At the next flush stop: within two flush periods, each 100 ms or ten
     * times the last flush's pause (an earlier test's stretch without a
     * safepoint, under a loaded sanitizer run, made one 0.58 s). */
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (deaths_of(&s) == 0 && elapsed_ns(&start) < flush_wait_ns()) {
        weft_blocking_begin();
        usleep(1000);
        weft_blocking_end();
    }
    CHECK_EQ_INT(deaths_of(&s), 1);
    reader_stop(&s.r);
    CHECK_EQ_INT(deaths_of(&s), 1);
    shared_node_end(&s);
}

/* ---- flush stops paced by their pauses: a thread that stays 250 ms at a
 * time without a safepoint makes each flush pause up to 250 ms. With a fixed
 * 100 ms period the collector thread would keep the world stopped about 60%
 * of the time (the stops lock onto the thread's wake-ups: each waits 150 ms
 * of every 250). Paced, a flush stop with pause p is followed by at least
 * 10 p without one (collector.c), so in a window of w the flush pauses sum
 * to at most w / 11, plus the two at its edges. That bound holds whatever
 * the stops' phase against the wake-ups; how many stops fall in the window
 * does not (a stop just before a wake-up is short and comes back soon). */

#define PACING_NS 3000000000ll
#define STALL_US 250000

static atomic_bool pacing_over, staller_attached;

static void *stall_safepoints(void *arg)
{
    (void)arg;
    weft_thread_attach();
    atomic_store(&staller_attached, true);
    while (!atomic_load(&pacing_over)) {
        usleep(STALL_US); /* attached, outside a blocking region: on purpose */
        weft_safepoint();
    }
    weft_thread_detach();
    return NULL;
}

static void test_flushes_paced_by_pause(void)
{
    const char *gc_thread = getenv("WEFT_GC_THREAD");
    if (gc_thread && strcmp(gc_thread, "0") == 0)
        return; /* no collector thread: no flush stops */
    weft_gc_disable(); /* no collection stops either: every stop is a flush */
    shared_node s;
    shared_node_start(&s, 6);
    pthread_t staller;
    atomic_store(&pacing_over, false);
    atomic_store(&staller_attached, false);
    REQUIRE(pthread_create(&staller, NULL, stall_safepoints, NULL) == 0);
    while (!atomic_load(&staller_attached))
        weft_test_yield();
    weft_count_flush_stats before, after;
    weft_count_buffer_flushes(&before);
    weft_error_clear();
    weft_count_buffer_flushes(NULL);
    CHECK_EQ_INT(weft_error(), WEFT_EINVAL);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (elapsed_ns(&start) < PACING_NS)
        reader_do(&s.r, R_GET_DROP); /* a pin again after every flush */
    weft_count_buffer_flushes(&after);
    long long window_ns = elapsed_ns(&start);
    /* A long pause before the window (a loaded machine) may delay the
     * first flush past it: wait for one. */
    while (buffering && after.stops == before.stops &&
           elapsed_ns(&start) < PACING_NS + flush_wait_ns()) {
        reader_do(&s.r, R_GET_DROP);
        weft_count_buffer_flushes(&after);
    }
    atomic_store(&pacing_over, true);
    weft_test_join(staller);
    uint64_t stops = after.stops - before.stops;
    uint64_t paused_ns = after.pause_sum_ns - before.pause_sum_ns;
    uint64_t bound_ns = (uint64_t)window_ns / 11 + 2 * after.pause_max_ns;
    if (buffering) {
        CHECK(stops > 0);
        CHECK(paused_ns <= bound_ns);
    } else {
        CHECK_EQ_INT(stops, 0);
    }
    if (paused_ns > bound_ns)
        fprintf(stderr, "%llu flush stops paused %.3f s of %.3f s (bound %.3f s)\n",
                (unsigned long long)stops, paused_ns / 1e9, window_ns / 1e9, bound_ns / 1e9);
    weft_gc_enable();
    reader_stop(&s.r);
    weft_decref(s.value);
    shared_node_end(&s);
    weft_gc_collect(0);
    CHECK_EQ_INT(deaths_of(&s), 1);
}

/* ---- handoffs: references taken through one thread's table and released
 * by another's, while values are replaced; every node dies exactly once. */

#define HANDOFF_THREADS 4
#define HANDOFF_KEYS 64
#define HANDOFF_ROUNDS 20000
#define HANDOFF_BASE 100

static weft_object *handoff_dict, *handoff_list, *handoff_keys[HANDOFF_KEYS];
static atomic_long next_node_id;

static pthread_barrier_t handoff_start;
static atomic_int handoff_workers_done;

/* Rounds of reads, handoffs and replacements; `forever`: until every worker
 * is done (the main thread, which owns the first values: it stays attached
 * and passes safepoints, where it merges them for buffering). */
static void handoff_rounds(long who, bool forever)
{
    unsigned seed = (unsigned)who * 2654435761u;
    weft_object *held[8] = {0};
    for (int i = 0; forever ? atomic_load(&handoff_workers_done) < HANDOFF_THREADS
                            : i < HANDOFF_ROUNDS;
         i++) {
        seed = seed * 1103515245u + 12345u;
        unsigned pick = seed >> 16;
        weft_object *key = handoff_keys[pick % HANDOFF_KEYS];
        weft_object *v = weft_dict_get(handoff_dict, key);
        if (v) {
            /* Keep some (deltas above 1), pass some on, drop the rest. */
            int slot = (pick >> 6) % 8;
            weft_xdecref(held[slot]);
            held[slot] = v;
        }
        if ((pick & 15) == 0 && v) {
            weft_list_append(handoff_list, v);
        } else if ((pick & 15) == 1) {
            size_t n = weft_list_len(handoff_list);
            weft_object *other = n ? weft_list_pop(handoff_list, n - 1) : NULL;
            if (other)
                weft_decref(other);
            else
                weft_error_clear();
        } else if ((pick & 63) == 2) {
            weft_object *n = node_new(atomic_fetch_add(&next_node_id, 1), NULL);
            WORKER_REQUIRE(n);
            WORKER_REQUIRE(weft_dict_set(handoff_dict, key, n) == 0);
            weft_decref(n);
        }
        if ((i & 255) == 0)
            weft_safepoint();
        /* Stops of the world that flush the others' tables mid-run. */
        if (who == 1 && (i & 4095) == 4095)
            weft_gc_collect(0);
    }
    for (int k = 0; k < 8; k++)
        weft_xdecref(held[k]);
}

static void *handoff_worker(void *arg)
{
    weft_thread_attach();
    weft_test_barrier_wait(&handoff_start);
    handoff_rounds((long)arg, false);
    atomic_fetch_add(&handoff_workers_done, 1);
    weft_thread_detach();
    return NULL;
}

static void test_handoffs_exact(void)
{
    atomic_store(&next_node_id, HANDOFF_BASE);
    handoff_dict = weft_dict_new();
    handoff_list = weft_list_new(0);
    REQUIRE(handoff_dict && handoff_list);
    for (long i = 0; i < HANDOFF_KEYS; i++) {
        handoff_keys[i] = key_of(i);
        weft_object *n = node_new(atomic_fetch_add(&next_node_id, 1), NULL);
        REQUIRE(n);
        REQUIRE(weft_dict_set(handoff_dict, handoff_keys[i], n) == 0);
        weft_decref(n);
    }
    uint64_t before = weft_count_buffered_objects();
    pthread_t t[HANDOFF_THREADS];
    atomic_store(&handoff_workers_done, 0);
    REQUIRE(pthread_barrier_init(&handoff_start, NULL, HANDOFF_THREADS + 1) == 0);
    for (long i = 0; i < HANDOFF_THREADS; i++)
        REQUIRE(pthread_create(&t[i], NULL, handoff_worker, (void *)(i + 1)) == 0);
    weft_test_barrier_wait(&handoff_start);
    handoff_rounds(0, true);
    for (int i = 0; i < HANDOFF_THREADS; i++)
        weft_test_join(t[i]);
    pthread_barrier_destroy(&handoff_start);
    /* The main thread's values are read by four others while it runs. */
    printf("handoffs: %llu objects buffered\n",
           (unsigned long long)(weft_count_buffered_objects() - before));
    if (buffering)
        CHECK(weft_count_buffered_objects() > before);
    else
        CHECK_EQ_INT(weft_count_buffered_objects(), before);
    /* Every thread but us has detached, and we hold none: the dict's values
     * have the dict's reference alone (and the list's), exactly. */
    for (long i = 0; i < HANDOFF_KEYS; i++) {
        weft_object *v = weft_dict_get(handoff_dict, handoff_keys[i]);
        REQUIRE(v);
        long in_list = 0;
        size_t pos = 0;
        weft_object *it;
        while ((it = weft_list_next(handoff_list, &pos)) != NULL) {
            in_list += it == v;
            weft_decref(it);
        }
        CHECK_EQ_INT(weft_refcount(v), 2 + in_list);
        weft_decref(v);
    }
    long made = atomic_load(&next_node_id) - HANDOFF_BASE;
    weft_decref(handoff_list);
    weft_decref(handoff_dict);
    for (long i = 0; i < HANDOFF_KEYS; i++)
        weft_decref(handoff_keys[i]);
    weft_gc_collect(2);
    long dead = 0, twice = 0;
    for (long id = HANDOFF_BASE; id < HANDOFF_BASE + made; id++) {
        int deaths = atomic_load(&node_deaths[id]);
        dead += deaths == 1;
        twice += deaths > 1;
    }
    CHECK_EQ_INT(dead, made);
    CHECK_EQ_INT(twice, 0);
}

int main(void)
{
    REQUIRE(weft_init(NULL) == 0); /* attaches the calling thread */
    buffering = weft_count_buffers_enabled();
    const char *env = getenv("WEFT_COUNT_BUFFERS");
    CHECK(buffering == !(env && strcmp(env, "0") == 0));
    test_table_reservation_fails();
    test_becomes_buffered_counts_exact();
    test_blocked_owner_merged_by_reader();
    test_owner_reads_of_shared_items_buffered();
    test_owner_reads_of_foreign_items_mark_nothing();
    test_handoff_release_then_detach();
    test_immortal_buffered_item();
    test_last_release_by_pinning_reader();
    test_death_waits_for_stop();
    test_death_waits_for_detach();
    test_weakref_to_pending_death();
    test_weakref_to_node_held_by_delta();
    test_weakref_get_proven_without_stop();
    test_death_within_flush_period();
    test_handoffs_exact();
    test_flushes_paced_by_pause();
    return check_finish();
}
