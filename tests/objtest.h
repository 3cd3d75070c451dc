/* tests/objtest.h: a user type for object tests that records every death. */
#ifndef WEFT_TESTS_OBJTEST_H
#define WEFT_TESTS_OBJTEST_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <weft/weft.h>

/* An attached thread must reach safepoints or wait inside a blocking region
 * (a stop of the world waits for it otherwise): joins and spin-waits in the
 * tests go through these. */
static inline void weft_test_join(pthread_t t)
{
    int attached = weft_thread_is_attached();
    if (attached)
        weft_blocking_begin();
    pthread_join(t, NULL);
    if (attached)
        weft_blocking_end();
}

static inline void weft_test_barrier_wait(pthread_barrier_t *b)
{
    int attached = weft_thread_is_attached();
    if (attached)
        weft_blocking_begin();
    pthread_barrier_wait(b);
    if (attached)
        weft_blocking_end();
}

static inline void weft_test_yield(void)
{
    weft_safepoint();
    sched_yield();
}

typedef struct node {
    weft_object ob;
    long id;
    weft_object *child; /* owned, may be NULL */
} node;

/* Deaths per id (tests size their ids below this). */
#define NODE_IDS (1 << 20)
static atomic_int node_deaths[NODE_IDS];
static atomic_long node_dead_total;

static void node_dealloc(weft_object *self)
{
    node *n = (node *)self;
    if (n->id >= 0 && n->id < NODE_IDS)
        atomic_fetch_add(&node_deaths[n->id], 1);
    atomic_fetch_add(&node_dead_total, 1);
    weft_clearref(&n->child);
}

static int node_traverse(weft_object *self, weft_visit_fn visit, void *arg)
{
    node *n = (node *)self;
    return n->child ? visit(n->child, arg) : 0;
}

static const weft_type node_type = {
    .name = "test.node",
    .basic_size = sizeof(node),
    .flags = WEFT_TYPE_GC,
    .traverse = node_traverse,
    .dealloc = node_dealloc,
};

/* The same with a clear hook, so the collector can break cycles through it. */
static void node_clear(weft_object *self)
{
    weft_clearref(&((node *)self)->child);
}

static const weft_type cnode_type = {
    .name = "test.cnode",
    .basic_size = sizeof(node),
    .flags = WEFT_TYPE_GC,
    .traverse = node_traverse,
    .clear = node_clear,
    .dealloc = node_dealloc,
};

/* A cnode type with a finalizer of the test's own: the initializer of a
 * static const weft_type. */
#define FINALIZABLE_NODE_TYPE(type_name, finalize_fn)                                           \
    {                                                                                          \
        .name = (type_name), .basic_size = sizeof(node), .flags = WEFT_TYPE_GC,                \
        .traverse = node_traverse, .clear = node_clear, .finalize = (finalize_fn),             \
        .dealloc = node_dealloc,                                                               \
    }

static inline weft_object *node_new(long id, weft_object *child_stolen)
{
    node *n = (node *)weft_new(&node_type);
    if (!n)
        return NULL;
    n->id = id;
    n->child = child_stolen;
    return &n->ob;
}

static inline weft_object *cnode_new(long id)
{
    node *n = (node *)weft_new(&cnode_type);
    if (!n)
        return NULL;
    n->id = id;
    return &n->ob;
}

/* Two nodes of type (node-shaped), ids id and id + 1, each the other's
 * child, and dropped: cyclic garbage. False if one could not be made. */
static inline bool node_cycle_dropped(const weft_type *type, long id)
{
    node *a = (node *)weft_new(type), *b = (node *)weft_new(type);
    if (a && b) {
        a->id = id;
        b->id = id + 1;
        a->child = weft_newref(&b->ob);
        b->child = weft_newref(&a->ob);
    }
    weft_xdecref(a ? &a->ob : NULL);
    weft_xdecref(b ? &b->ob : NULL);
    return a && b;
}

#endif
