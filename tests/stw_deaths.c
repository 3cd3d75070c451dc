/* A thread that frees a large structure parks for a stop of the world
 * between two deaths, so that the other threads' pause does not grow with
 * the structure (docs/threads.md, "Safepoints"). It used to free the whole
 * of a tree before it parked: time to safepoint was the tree's death, up to
 * 20 ms in binary-trees at depth 18.
 *
 * Thread A drops a structure; its first death waits until a collection has
 * started (its start callback runs before the stop is asked for), then goes
 * on. A tracked sentinel, traversed while the world is stopped, records how
 * many of the structure's objects had died by then: all of them if A parked
 * only after the structure, a handful if it parked between deaths.
 *
 * The structures: a tree of tracked nodes (each death polls), and a list or
 * dict of LEAVES leaves dropped or cleared. A leaf is untracked and has no
 * dealloc, so its death never polls: only the container's release loop does
 * (every 256 items), and the leaves dead at the stop are counted from the
 * heap's figures for their size class, which nothing else here uses. */
#define WEFT_BUILDING_LIBRARY 1 /* tier 1: the thread record's stop bit */
#include "check.h"
#include "objtest.h"
#include "threads/thread.h"
#include <pthread.h>
#include <string.h>

#define DEPTH 16
#define NODES ((1L << (DEPTH + 1)) - 1)
#define LEAVES (1L << 17)
#define LEAF_SIZE 160

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
        /* No safepoint: a plain death in progress. On until the stop has
         * been asked of this thread, not only until the collection started:
         * a collector preempted in between would let the deaths run on. */
        while (!atomic_load(&collection_started) ||
               !(weft_load_acquire(&_weft_tls_thread->xbreaker) & WEFT_BREAK_STOP))
            sched_yield();
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

static const weft_type leaf_type = {
    .name = "stw_deaths.leaf",
    .basic_size = LEAF_SIZE,
};

/* On thread A: no checks there (check.h's counts are the main thread's). */
static atomic_bool build_failed;

static weft_object *must(weft_object *o)
{
    if (!o)
        atomic_store(&build_failed, true);
    return o;
}

static weft_object *tree(int depth)
{
    tnode *n = (tnode *)must(weft_new(&tnode_type));
    if (n && depth > 0) {
        n->left = tree(depth - 1);
        n->right = tree(depth - 1);
    }
    return &n->ob;
}

/* Leaves alive in the heap (blocks of their size class in use). */
static long leaves_in_use(void)
{
    weft_heap_stats st;
    weft_heap_get_stats(&st);
    for (int c = 0; c < WEFT_SIZE_CLASSES; c++)
        if (st.classes[c].block_size == LEAF_SIZE)
            return (long)st.classes[c].blocks_in_use;
    return -1;
}

/* A list holding a holder node (its death waits for the collection) and
 * LEAVES leaves, in that order. */
static weft_object *leaf_list(void)
{
    weft_object *list = must(weft_list_new(LEAVES + 1));
    weft_object *holder = must(weft_new(&tnode_type));
    if (!list || !holder || weft_list_append(list, holder) != 0)
        atomic_store(&build_failed, true);
    weft_xdecref(holder);
    for (long i = 0; list && i < LEAVES; i++) {
        weft_object *leaf = must(weft_new(&leaf_type));
        if (!leaf || weft_list_append(list, leaf) != 0)
            atomic_store(&build_failed, true);
        weft_xdecref(leaf);
    }
    return list;
}

/* The same as a dict: int keys, the holder first. */
static weft_object *leaf_dict(void)
{
    weft_object *dict = must(weft_dict_new());
    for (long i = 0; dict && i <= LEAVES; i++) {
        weft_object *key = must(weft_int_new(1000000 + i));
        weft_object *value = must(i ? weft_new(&leaf_type) : weft_new(&tnode_type));
        if (!key || !value || weft_dict_set(dict, key, value) != 0)
            atomic_store(&build_failed, true);
        weft_xdecref(key);
        weft_xdecref(value);
    }
    return dict;
}

typedef enum shape { TREE, LIST_DEATH, LIST_CLEAR, DICT_DEATH, DICT_CLEAR } shape;
static const char *const shape_name[] = {"tree", "list death", "list clear", "dict death",
                                         "dict clear"};
static shape current;
static atomic_long leaves_before; /* leaves in use before the drop */

/* Objects of the current structure dead so far. */
static long dead_count(void)
{
    return current == TREE ? atomic_load(&deaths) : leaves_before - leaves_in_use();
}

/* Traversed by the collection, with the world stopped. */
static int sentinel_traverse(weft_object *self, weft_visit_fn visit, void *arg)
{
    (void)self, (void)visit, (void)arg;
    long none = -1;
    if (atomic_load(&collection_started))
        atomic_compare_exchange_strong(&deaths_at_stop, &none, dead_count());
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

static weft_object *build(void)
{
    switch (current) {
    case TREE:
        return tree(DEPTH);
    case LIST_DEATH:
    case LIST_CLEAR:
        return leaf_list();
    default:
        return leaf_dict();
    }
}

static void *dropper_main(void *arg)
{
    (void)arg;
    if (weft_thread_attach() != 0) {
        atomic_store(&build_failed, true);
        atomic_store(&dying, true);
        return NULL;
    }
    weft_object *root = build();
    leaves_before = leaves_in_use(); /* before main reads it: after `dying` */
    if (root && !atomic_load(&build_failed)) {
        atomic_store(&hold_first_death, true);
        if (current == LIST_CLEAR)
            weft_list_clear(root);
        else if (current == DICT_CLEAR)
            weft_dict_clear(root);
        weft_decref(root);
    } else {
        atomic_store(&dying, true); /* let main go on and fail */
        weft_xdecref(root);
    }
    weft_thread_detach();
    return NULL;
}

static void run(shape s)
{
    current = s;
    atomic_store(&deaths, 0);
    atomic_store(&deaths_at_stop, -1);
    atomic_store(&dying, false);
    atomic_store(&collection_started, false);
    pthread_t a;
    REQUIRE(pthread_create(&a, NULL, dropper_main, NULL) == 0);
    weft_blocking_begin();
    while (!atomic_load(&dying))
        sched_yield();
    weft_blocking_end();
    CHECK(weft_gc_collect(2) >= 0);
    weft_test_join(a);
    REQUIRE(!atomic_load(&build_failed));

    long total = s == TREE ? NODES : LEAVES;
    long seen = atomic_load(&deaths_at_stop);
    printf("%s: %ld of %ld dead when the world stopped\n", shape_name[s], seen, total);
    CHECK(seen >= (s == TREE ? 1 : 0));
    /* Before deaths and release loops polled, the stop waited for the
     * whole structure (or half the tree: 65 536 nodes). */
    CHECK(seen < total / 8);
    if (s == TREE)
        CHECK_EQ_INT(atomic_load(&deaths), NODES);
    else
        CHECK_EQ_INT(leaves_before - leaves_in_use(), LEAVES);
}

int main(void)
{
    REQUIRE(weft_init(NULL) == 0); /* the collector thread on */
    weft_object *sentinel = weft_new(&sentinel_type);
    REQUIRE(sentinel != NULL);
    REQUIRE(weft_gc_add_callback(on_start, NULL) == 0);

    for (shape s = TREE; s <= DICT_CLEAR; s++)
        run(s);

    REQUIRE(weft_gc_remove_callback(on_start, NULL) == 0);
    weft_decref(sentinel);
    CHECK_EQ_INT(weft_shutdown(), 0);
    return check_finish();
}
