/* A thread that frees a large structure parks for a stop of the world
 * between two deaths, so that the other threads' pause does not grow with
 * the structure (docs/threads.md, "Safepoints"). It used to free the whole
 * of a tree before it parked: time to safepoint was the tree's death, up to
 * 20 ms in binary-trees at depth 18.
 *
 * Thread A drops a tree of NODES nodes; its first death waits until a
 * collection has started (its start callback runs before the stop is
 * asked for), then goes on. A tracked sentinel, traversed while the world
 * is stopped, records how many nodes had died by then: all of them if A
 * parked only after the tree, a handful if it parked between deaths. */
#include "check.h"
#include "objtest.h"
#include <pthread.h>
#include <string.h>

#define DEPTH 16
#define NODES ((1L << (DEPTH + 1)) - 1)

typedef struct tnode {
    weft_object ob;
    weft_object *left, *right;
} tnode;

static atomic_long deaths, deaths_at_stop = -1;
static atomic_bool hold_first_death, dying, collection_started;

static int tnode_traverse(weft_object *self, weft_visit_fn visit, void *arg)
{
    tnode *n = (tnode *)self;
    int rc = n->left ? visit(n->left, arg) : 0;
    return rc == 0 && n->right ? visit(n->right, arg) : rc;
}

static void tnode_dealloc(weft_object *self)
{
    tnode *n = (tnode *)self;
    atomic_fetch_add(&deaths, 1);
    if (atomic_exchange(&hold_first_death, false)) {
        atomic_store(&dying, true);
        while (!atomic_load(&collection_started))
            sched_yield(); /* no safepoint: a plain death in progress */
    }
    weft_clearref(&n->left);
    weft_clearref(&n->right);
}

static const weft_type tnode_type = {
    .name = "stw_deaths.tnode",
    .basic_size = sizeof(tnode),
    .flags = WEFT_TYPE_GC,
    .traverse = tnode_traverse,
    .dealloc = tnode_dealloc,
};

/* On thread A: no checks there (check.h's counts are the main thread's). */
static atomic_bool build_failed;

static weft_object *tree(int depth)
{
    tnode *n = (tnode *)weft_new(&tnode_type);
    if (!n) {
        atomic_store(&build_failed, true);
        return NULL;
    }
    if (depth > 0) {
        n->left = tree(depth - 1);
        n->right = tree(depth - 1);
    }
    return &n->ob;
}

/* Traversed by the collection, with the world stopped. */
static int sentinel_traverse(weft_object *self, weft_visit_fn visit, void *arg)
{
    (void)self, (void)visit, (void)arg;
    long none = -1;
    if (atomic_load(&collection_started))
        atomic_compare_exchange_strong(&deaths_at_stop, &none, atomic_load(&deaths));
    return 0;
}

static const weft_type sentinel_type = {
    .name = "stw_deaths.sentinel",
    .basic_size = sizeof(weft_object),
    .flags = WEFT_TYPE_GC,
    .traverse = sentinel_traverse,
};

static void on_start(const char *phase, const weft_gc_info *info, void *arg)
{
    (void)info, (void)arg;
    if (strcmp(phase, "start") == 0 && atomic_load(&dying))
        atomic_store(&collection_started, true);
}

static void *dropper_main(void *arg)
{
    (void)arg;
    if (weft_thread_attach() != 0)
        return NULL;
    weft_object *root = tree(DEPTH);
    atomic_store(&hold_first_death, true);
    if (root && !atomic_load(&build_failed)) {
        weft_decref(root);
    } else {
        atomic_store(&dying, true); /* let main go on and fail */
        weft_xdecref(root);
    }
    weft_thread_detach();
    return NULL;
}

int main(void)
{
    REQUIRE(weft_init(NULL) == 0); /* the collector thread on */
    weft_object *sentinel = weft_new(&sentinel_type);
    REQUIRE(sentinel != NULL);
    REQUIRE(weft_gc_add_callback(on_start, NULL) == 0);

    pthread_t a;
    REQUIRE(pthread_create(&a, NULL, dropper_main, NULL) == 0);
    weft_blocking_begin();
    while (!atomic_load(&dying))
        sched_yield();
    weft_blocking_end();
    CHECK(weft_gc_collect(2) >= 0);
    weft_test_join(a);
    REQUIRE(!atomic_load(&build_failed));

    long seen = atomic_load(&deaths_at_stop);
    printf("%ld of %ld nodes dead when the world stopped\n", seen, NODES);
    CHECK(seen >= 1);
    CHECK(seen < NODES / 8); /* 65 536 before: the stop waited for half the tree */
    CHECK_EQ_INT(atomic_load(&deaths), NODES);

    REQUIRE(weft_gc_remove_callback(on_start, NULL) == 0);
    weft_decref(sentinel);
    CHECK_EQ_INT(weft_shutdown(), 0);
    return check_finish();
}
