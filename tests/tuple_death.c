/* The death of a tuple (lib/object.c, dealloc_quiet_tuple): items that
 * survive it (immortal, or ours with another reference) are released in
 * place; at the first item that does not (one that dies with the tuple, one
 * owned by another thread) the general path releases that item and the rest,
 * and never the ones already released. Each case checks every item's count
 * afterwards, and which items died. */
#define WEFT_BUILDING_LIBRARY 1
#include "check.h"
#include "objtest.h"
#include "object_internal.h"
#include "threads/thread.h"

static bool is_dead(const weft_object *o)
{
    return atomic_load(&o->ref_shared) == WEFT_SHARED_DEAD;
}

static void survivors_only(void)
{
    weft_object *a = weft_int_new(50001), *s = weft_str_new("kept", 4);
    REQUIRE(a && s);
    weft_object *t = weft_tuple_pack(4, a, weft_int_new(7), s, a);
    REQUIRE(t != NULL);
    CHECK_EQ_INT(weft_refcount(a), 3);
    CHECK_EQ_INT(weft_refcount(s), 2);
    weft_decref(t);
    CHECK(is_dead(t));
    CHECK_EQ_INT(weft_refcount(a), 1);
    CHECK_EQ_INT(weft_refcount(s), 1);
    weft_decref(a);
    weft_decref(s);
}

/* a is released in place, b is the tuple's alone (it dies), c comes after. */
static void an_item_dies(void)
{
    weft_object *a = weft_int_new(50002), *c = weft_str_new("after", 5);
    weft_object *b = weft_int_new(50003);
    REQUIRE(a && b && c);
    weft_object *t = weft_tuple_pack(3, a, b, c);
    REQUIRE(t != NULL);
    weft_decref(b); /* the tuple's reference is its last */
    weft_decref(t);
    CHECK(is_dead(b));
    CHECK(!is_dead(a) && !is_dead(c));
    CHECK_EQ_INT(weft_refcount(a), 1); /* released once, not twice */
    CHECK_EQ_INT(weft_refcount(c), 1);
    weft_decref(a);
    weft_decref(c);
}

/* A chain of single-item tuples: each dies when its holder does. */
static void items_die_in_a_chain(void)
{
    weft_object *leaf = weft_int_new(50004);
    weft_object *inner = weft_tuple_pack(1, leaf);
    weft_decref(leaf);
    weft_object *outer = weft_tuple_pack(2, weft_int_new(1), inner);
    weft_decref(inner);
    REQUIRE(outer != NULL);
    weft_decref(outer);
    CHECK(is_dead(outer) && is_dead(inner) && is_dead(leaf));
}

static void a_slot_left_empty(void)
{
    weft_object *a = weft_int_new(50005);
    weft_object *t = weft_tuple_new(3);
    REQUIRE(t != NULL);
    CHECK_EQ_INT(weft_tuple_set_new(t, 1, weft_newref(a)), 0);
    weft_decref(t); /* slots 0 and 2 are NULL */
    CHECK_EQ_INT(weft_refcount(a), 1);
    weft_decref(a);
}

/* The thread's unpublished young count (births minus deaths of tracked
 * objects; published to the collector in batches). */
static long young_local(void)
{
    return _weft_tls_thread->gc_young_local;
}

/* A tracked tuple is untracked at its death, which counts one death of a
 * tracked object; its survivors are released in place. */
static void tracked_tuple(void)
{
    weft_object *n = node_new(1, NULL), *a = weft_int_new(50006);
    weft_object *t = weft_tuple_pack(2, a, n);
    REQUIRE(t != NULL);
    CHECK(weft_gc_is_tracked(t));
    /* After the birth the count is above -WEFT_GC_YOUNG_BATCH + 1, so the
     * death cannot publish it: exactly one less. */
    long born = young_local();
    weft_decref(t);
    CHECK_EQ_INT(young_local(), born - 1);
    CHECK_EQ_INT(weft_refcount(n), 1);
    CHECK_EQ_INT(weft_refcount(a), 1);
    CHECK_EQ_INT(node_deaths[1], 0);
    weft_decref(n);
    CHECK_EQ_INT(node_deaths[1], 1);
    weft_decref(a);
}

static void on_cleared(weft_object *ref, void *arg)
{
    (void)ref;
    (*(int *)arg)++;
}

/* A NULL item fails the pack with nothing leaked or released twice: the
 * items before it were referenced, the ones after it never were. */
static void a_null_item(void)
{
    weft_object *a = weft_int_new(50009), *b = weft_str_new("b", 1);
    CHECK(weft_tuple_pack(4, a, weft_int_new(3), (weft_object *)NULL, b) == NULL);
    CHECK_EQ_INT(weft_error(), WEFT_EINVAL);
    CHECK_EQ_INT(weft_refcount(a), 1);
    CHECK_EQ_INT(weft_refcount(b), 1);
    weft_decref(a);
    weft_decref(b);
}

/* An immortal item is never garbage, so it does not make its tuple tracked,
 * however the tuple is made; a tracked mortal one does. */
static void immortal_items(void)
{
    weft_object *n = node_new(2, NULL), *m = node_new(3, NULL);
    weft_set_immortal(n);
    weft_object *t = weft_tuple_pack(2, n, weft_int_new(5));
    CHECK(!weft_gc_is_tracked(t));
    weft_object *u = weft_tuple_pack(2, n, m);
    CHECK(weft_gc_is_tracked(u));
    weft_object *v = weft_tuple_new(1);
    CHECK_EQ_INT(weft_tuple_set_new(v, 0, n), 0);
    weft_tuple_maybe_untrack(v);
    CHECK(!weft_gc_is_tracked(v));
    weft_decref(t);
    weft_decref(u);
    weft_decref(v);
    CHECK_EQ_INT(weft_refcount(m), 1);
    weft_decref(m);
}

/* A tuple with weakrefs takes the general path, which clears them. */
static void tuple_with_a_weakref(void)
{
    weft_object *a = weft_int_new(50007);
    weft_object *t = weft_tuple_pack(1, a);
    int cleared = 0;
    weft_object *w = weft_weakref_new(t, on_cleared, &cleared);
    REQUIRE(w != NULL);
    weft_decref(t);
    CHECK(weft_weakref_get(w) == NULL);
    CHECK_EQ_INT(cleared, 1);
    CHECK_EQ_INT(weft_refcount(a), 1);
    weft_decref(w);
    weft_decref(a);
}

/* An item owned by another thread: its release is the shared decrement. */
static weft_object *foreign_item;
static atomic_int foreign_state; /* 1: made, 2: may detach */

static void *foreign_owner(void *arg)
{
    (void)arg;
    weft_thread_attach();
    /* Two references of its owner: a local count above one, so that only
     * the owner test keeps the dying tuple from releasing it in place. */
    foreign_item = weft_str_new("foreign", 7);
    weft_incref(foreign_item);
    atomic_store(&foreign_state, 1);
    while (atomic_load(&foreign_state) != 2)
        weft_test_yield();
    weft_decref(foreign_item);
    weft_decref(foreign_item);
    weft_thread_detach();
    return NULL;
}

static void an_item_of_another_thread(void)
{
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, foreign_owner, NULL) == 0);
    while (atomic_load(&foreign_state) != 1)
        weft_test_yield();
    weft_object *mine = weft_int_new(50008);
    weft_object *t = weft_tuple_pack(3, mine, foreign_item, mine);
    REQUIRE(t != NULL);
    CHECK_EQ_INT(weft_refcount(foreign_item), 3);
    weft_decref(t);
    CHECK_EQ_INT(weft_refcount(foreign_item), 2);
    CHECK_EQ_INT(atomic_load(&foreign_item->ref_local), 2); /* the owner's, untouched */
    CHECK_EQ_INT(weft_refcount(mine), 1);
    atomic_store(&foreign_state, 2);
    weft_test_join(th);
    weft_decref(mine);
}

int main(void)
{
    REQUIRE(weft_init(NULL) == 0); /* attaches this thread */
    survivors_only();
    an_item_dies();
    items_die_in_a_chain();
    a_slot_left_empty();
    tracked_tuple();
    immortal_items();
    a_null_item();
    tuple_with_a_weakref();
    an_item_of_another_thread();
    CHECK_EQ_INT(weft_shutdown(), 0);
    return check_finish();
}
