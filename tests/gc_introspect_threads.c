/* Introspection from another thread while collections run: every object
 * weft_gc_get_objects lists is whole. A collection's garbage used to be
 * listed (and so held) between the end of its stop and its clears; with no
 * finalizer or callback to run, nothing checked for resurrection, and the
 * collector cleared the objects under the lister's references: this test
 * saw 47 000 torn nodes with the collector thread, 117 000 without, in
 * under a second each (lib/gc.c, WEFT_OBJ_GC_COLLECTING). Run both ways. */
#include "check.h"
#include "objtest.h"

#include <time.h>

#define ROUNDS 1500
#define CYCLES_PER_ROUND 200
#define MIN_LISTS 20
#define MAX_SECONDS 30

static atomic_int stop;
static atomic_long torn, seen, lists_made;

/* A node whose fields other threads may read: an object is tracked, so
 * listed, from inside weft_new (a young-count trigger can reach a stop there
 * before it returns), so the lister can catch one its maker is still
 * writing. The maker names it (release) once its child is set. */
typedef struct anode {
    weft_object ob;
    _Atomic long id;
    _Atomic(weft_object *) child;
} anode;

static int anode_traverse(weft_object *self, weft_visit_fn visit, void *arg)
{
    weft_object *child = atomic_load_explicit(&((anode *)self)->child, memory_order_relaxed);
    return child ? visit(child, arg) : 0;
}

static void anode_clear(weft_object *self)
{
    weft_xdecref(atomic_exchange_explicit(&((anode *)self)->child, NULL, memory_order_relaxed));
}

static const weft_type anode_type = {
    .name = "test.anode",
    .basic_size = sizeof(anode),
    .flags = WEFT_TYPE_GC,
    .traverse = anode_traverse,
    .clear = anode_clear,
    .dealloc = anode_clear,
};

/* A named node with no child: cleared. */
static void look_at(weft_object *o)
{
    anode *n = (anode *)o;
    if (weft_type_of(o) != &anode_type || atomic_load_explicit(&n->id, memory_order_acquire) != 1)
        return;
    atomic_fetch_add(&seen, 1);
    if (atomic_load_explicit(&n->child, memory_order_relaxed) == NULL)
        atomic_fetch_add(&torn, 1);
}

static void *lister(void *arg)
{
    (void)arg;
    if (weft_thread_attach() != 0)
        return NULL;
    while (!atomic_load(&stop)) {
        weft_object *all = weft_gc_get_objects(-1);
        if (!all)
            continue;
        size_t pos = 0;
        weft_object *o;
        while ((o = weft_list_next(all, &pos)) != NULL) {
            look_at(o);
            weft_decref(o);
        }
        weft_decref(all);
        atomic_fetch_add(&lists_made, 1);
    }
    weft_thread_detach();
    return NULL;
}

/* n <-> l, dropped: cyclic garbage. */
static void make_cycle(void)
{
    weft_object *l = weft_list_new(0);
    anode *n = (anode *)weft_new(&anode_type);
    REQUIRE(l && n);
    atomic_store_explicit(&n->child, l, memory_order_relaxed);
    atomic_store_explicit(&n->id, 1, memory_order_release);
    REQUIRE(weft_list_append(l, &n->ob) == 0);
    weft_decref(&n->ob);
}

int main(void)
{
    REQUIRE(weft_init(NULL) == 0);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, lister, NULL) == 0);
    time_t deadline = time(NULL) + MAX_SECONDS;
    for (long r = 0; (r < ROUNDS || atomic_load(&lists_made) < MIN_LISTS) && time(NULL) < deadline;
         r++) {
        for (int i = 0; i < CYCLES_PER_ROUND; i++)
            make_cycle();
        weft_safepoint();
    }
    atomic_store(&stop, 1);
    weft_test_join(t);
    CHECK(atomic_load(&lists_made) >= MIN_LISTS);
    CHECK(atomic_load(&seen) > 0);
    CHECK_EQ_INT(atomic_load(&torn), 0);
    CHECK(weft_gc_collect(2) >= 0);
    CHECK_EQ_INT(weft_shutdown(), 0);
    return check_finish();
}
