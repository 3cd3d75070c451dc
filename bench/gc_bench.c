/* bench/gc_bench.c: weft's cycle collector side by side with CPython 3.11's,
 * and the Benchmarks Game's binary-trees against plain C allocators.
 *
 * Workloads:
 *   gc_full/<impl>/1000000    one full collection (weft_gc_collect(2);
 *                             PyGC_Collect) of a live heap of 1M containers
 *                             without garbage: 100 000 lists, each holding 9
 *                             empty lists, kept in one root list. The heap is
 *                             built once before the timed loop (collector
 *                             disabled meanwhile) and settled by two untimed
 *                             full collections; each iteration is one
 *                             collection. impls weft, cpython;
 *   gc_cycles/<impl>/1000000  1M 2-node cycles made and dropped with the
 *                             collector on (automatic collections), then one
 *                             full collection so that all are freed; the time
 *                             is the whole of it. weft: two objects of a GC
 *                             user type with a clear hook (gc_cnode below)
 *                             pointing at each other; cpython: two lists
 *                             appended to each other. Checked: the
 *                             collectors' own counts of collected objects
 *                             grow by exactly 2M per iteration;
 *   gc_traversal/<impl>       pyperformance's gc_traversal: 1 000 lists,
 *                             list n holding n references to list n-1 (about
 *                             500 000 references); one full collection that
 *                             finds nothing;
 *   gc_pause/weft             2 mutator threads (pthreads of our own, attached)
 *                             making 1M 2-node cycles each against a live
 *                             heap of 1M containers (gc_full's, built before,
 *                             kept alive); once per repetition. The pauses
 *                             and times-to-safepoint of the collections of
 *                             THIS run are taken one by one from a collection
 *                             callback (weft_gc_add_callback): weft_gc_get_stats
 *                             keeps the last 1024 pauses per generation of the
 *                             whole process, so its percentiles would mix in
 *                             earlier runs; its per-generation counts are
 *                             used, as differences, for the collection counts;
 *   mutator_overhead/weft/on, /off
 *                             a workload that makes no cyclic garbage: a tree
 *                             of depth 12 (4095 2-tuples over 4096 one-item
 *                             lists, all tracked) built and dropped, over and
 *                             over, with the collector enabled and with
 *                             weft_gc_disable(); items are the containers made;
 *   binary_trees/<impl>/18    the Benchmarks Game's binary-trees at depth 18:
 *                             a stretch tree of depth 19, a long-lived tree of
 *                             depth 18, then for depths 4, 6, .., 18
 *                             2^(18 - depth + 4) trees each made, checked
 *                             (node count) and dropped, then the long-lived one
 *                             checked; the node counts are verified. impls:
 *                             weft (gc_tnode: a GC user type with two child
 *                             slots, collector on), mimalloc and glibc (a C
 *                             struct of two pointers, mi_malloc/mi_free and
 *                             glibc's own __libc_malloc/__libc_free, found in
 *                             libc.so.6 as alloc_bench.c does), cpython
 *                             (2-tuples through the C API: PyTuple_Pack of the
 *                             children, (None, None) leaves; collector on).
 *
 * Rows whose work runs partly on other threads (weft's collector thread, the
 * gc_pause mutators) set real_time, so that items_per_second is over wall
 * time. The weft bodies with automatic collections also report how many
 * collections of each generation ran per iteration (gen<g>_per_iter), from
 * weft_gc_get_stats differences. report.py's gc section gives the targets:
 * weft/cpython <= 0.5 for gc_full, gc_cycles, gc_traversal; gc_pause young
 * pause p99 <= 100 us, max <= 1 ms, time-to-safepoint p99 <= 50 us;
 * mutator_overhead on/off >= 0.9; binary_trees weft/mimalloc <= 1.5 and
 * weft/cpython <= 0.5.
 *
 * Threads: the main thread (attached by weft_init, holder of the GIL) runs
 * every body. gc_pause makes its own mutator threads rather than using
 * Google Benchmark's threads: the harness's barriers are blocking waits that
 * a stop of the world would wait for; the main thread waits for its mutators
 * inside weft_blocking_begin/end. Every weft body starts and ends with
 * weft_gc_collect(0) (untimed), so that no collection asked for by an
 * earlier body is pending when the clock starts, and none is left waiting
 * for the main thread to reach a safepoint while it runs other suites' code.
 *
 * Everything a body makes is released before it returns: alloc_bench.c's
 * teardown finalizes CPython and object_bench.c's shuts weft down before this
 * suite's teardown would run. */
#define PY_SSIZE_T_CLEAN
#include <Python.h> /* first: it sets feature macros for the system headers */

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mimalloc.h>
#include <weft/weft.h>

#include "bench.h"

#define HEAP_INNER 9            /* gc_full: empty lists per outer list */
#define TRAVERSAL_LEVELS 1000   /* gc_traversal: pyperformance's n_levels */
#define PAUSE_LIVE 1000000      /* gc_pause: live containers */
#define PAUSE_THREADS 2         /* gc_pause: mutator threads */
#define PAUSE_CYCLES 1000000    /* gc_pause: cycles per mutator thread */
#define PAUSE_SAMPLES (1 << 17) /* gc_pause: collections recorded per generation */
#define OVERHEAD_DEPTH 12       /* mutator_overhead: tree depth */
#define BT_MIN_DEPTH 4          /* binary_trees */

/* ---------------------------------------------------------------- weft types */

/* gc_cycles, gc_pause: a node with one owned reference and a clear hook. */
typedef struct gc_cnode {
    weft_object ob;
    weft_object *child;
} gc_cnode;

static int cnode_traverse(weft_object *self, weft_visit_fn visit, void *arg)
{
    gc_cnode *n = (gc_cnode *)self;
    return n->child ? visit(n->child, arg) : 0;
}

static void cnode_clear(weft_object *self)
{
    weft_clearref(&((gc_cnode *)self)->child);
}

static const weft_type cnode_type = {
    .name = "bench.gc_cnode",
    .basic_size = sizeof(gc_cnode),
    .flags = WEFT_TYPE_GC,
    .traverse = cnode_traverse,
    .clear = cnode_clear,
    .dealloc = cnode_clear,
};

/* binary_trees: a tree node with two owned children (both NULL in a leaf). */
typedef struct gc_tnode {
    weft_object ob;
    weft_object *left, *right;
} gc_tnode;

static int tnode_traverse(weft_object *self, weft_visit_fn visit, void *arg)
{
    gc_tnode *n = (gc_tnode *)self;
    int rc = n->left ? visit(n->left, arg) : 0;
    if (rc == 0 && n->right)
        rc = visit(n->right, arg);
    return rc;
}

static void tnode_clear(weft_object *self)
{
    gc_tnode *n = (gc_tnode *)self;
    weft_clearref(&n->left);
    weft_clearref(&n->right);
}

static const weft_type tnode_type = {
    .name = "bench.gc_tnode",
    .basic_size = sizeof(gc_tnode),
    .flags = WEFT_TYPE_GC,
    .traverse = tnode_traverse,
    .clear = tnode_clear,
    .dealloc = tnode_clear,
};

/* ---------------------------------------------------------------- helpers */

/* No collection pending or running when this returns (see the top comment). */
static void weft_settle(void)
{
    weft_gc_collect(0);
}

static uint64_t weft_collected_total(void)
{
    weft_gc_gen_stats st[WEFT_GC_GENERATIONS];
    weft_gc_get_stats(st);
    uint64_t n = 0;
    for (int g = 0; g < WEFT_GC_GENERATIONS; g++)
        n += st[g].collected;
    return n;
}

/* Tracked objects the collector knows of (a stop of the world; untimed). */
static double weft_tracked_count(void)
{
    weft_object *all = weft_gc_get_objects(-1);
    if (!all)
        return -1;
    double n = (double)weft_list_len(all);
    weft_decref(all);
    return n;
}

/* Collections of each generation per iteration since `before`, as counters
 * gen0_per_iter.. (how often the collector ran during the timed loop). */
static void weft_collection_counters(bench_state *s,
                                     const weft_gc_gen_stats before[WEFT_GC_GENERATIONS])
{
    weft_gc_gen_stats after[WEFT_GC_GENERATIONS];
    weft_gc_get_stats(after);
    double iters = bench_iterations(s) ? (double)bench_iterations(s) : 1;
    for (int g = 0; g < WEFT_GC_GENERATIONS; g++) {
        char name[32];
        snprintf(name, sizeof name, "gen%d_per_iter", g);
        bench_counter(s, name,
                      (double)(after[g].collections - before[g].collections) / iters);
    }
}

/* The sum of the "collected" entries of gc.get_stats(), or -1. */
static long py_collected_total(void)
{
    long total = -1;
    PyObject *gc = PyImport_ImportModule("gc");
    PyObject *stats = gc ? PyObject_CallMethod(gc, "get_stats", NULL) : NULL;
    if (stats && PyList_Check(stats)) {
        total = 0;
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(stats); i++) {
            PyObject *v = PyDict_GetItemString(PyList_GET_ITEM(stats, i), "collected");
            if (v)
                total += PyLong_AsLong(v);
        }
    }
    Py_XDECREF(stats);
    Py_XDECREF(gc);
    PyErr_Clear();
    return total;
}

/* len(gc.get_objects()), or -1. */
static double py_tracked_count(void)
{
    double n = -1;
    PyObject *gc = PyImport_ImportModule("gc");
    PyObject *all = gc ? PyObject_CallMethod(gc, "get_objects", NULL) : NULL;
    if (all && PyList_Check(all))
        n = (double)PyList_GET_SIZE(all);
    Py_XDECREF(all);
    Py_XDECREF(gc);
    PyErr_Clear();
    return n;
}

/* ---------------------------------------------------------------- the live heap */

/* A root list of `outer` lists, each holding HEAP_INNER empty lists:
 * outer * (1 + HEAP_INNER) containers besides the root. NULL on failure. */
static weft_object *weft_heap_build(size_t outer)
{
    weft_object *root = weft_list_new(outer);
    if (!root)
        return NULL;
    for (size_t i = 0; i < outer; i++) {
        weft_object *mid = weft_list_new(HEAP_INNER);
        if (!mid || weft_list_append(root, mid) != 0) {
            weft_xdecref(mid);
            weft_decref(root);
            return NULL;
        }
        for (int j = 0; j < HEAP_INNER; j++) {
            weft_object *leaf = weft_list_new(0);
            int rc = leaf ? weft_list_append(mid, leaf) : -1;
            weft_xdecref(leaf);
            if (rc != 0) {
                weft_decref(mid);
                weft_decref(root);
                return NULL;
            }
        }
        weft_decref(mid);
    }
    return root;
}

static PyObject *py_heap_build(Py_ssize_t outer)
{
    PyObject *root = PyList_New(outer);
    if (!root)
        return NULL;
    for (Py_ssize_t i = 0; i < outer; i++) {
        PyObject *mid = PyList_New(HEAP_INNER);
        if (!mid) {
            Py_DECREF(root);
            return NULL;
        }
        PyList_SET_ITEM(root, i, mid);
        for (Py_ssize_t j = 0; j < HEAP_INNER; j++) {
            PyObject *leaf = PyList_New(0);
            if (!leaf) {
                Py_DECREF(root);
                return NULL;
            }
            PyList_SET_ITEM(mid, j, leaf);
        }
    }
    return root;
}

/* ---------------------------------------------------------------- gc_full */

static void gc_full_weft(bench_state *s)
{
    size_t outer = (size_t)bench_arg(s, 0) / (1 + HEAP_INNER);
    weft_settle();
    weft_gc_disable();
    weft_object *heap = weft_heap_build(outer);
    weft_gc_collect(2); /* garbage left by earlier benchmarks; pools age */
    weft_gc_collect(2);
    weft_gc_enable();
    if (!heap) {
        bench_skip(s, "building the heap failed");
        return;
    }
    double tracked = weft_tracked_count();
    long found = 0;
    while (bench_keep_running(s)) {
        long n = weft_gc_collect(2);
        found += n < 0 ? 1 : n;
    }
    weft_decref(heap);
    weft_settle();
    if (found) {
        bench_skip(s, "a collection of a heap without garbage found some (or failed)");
        return;
    }
    bench_counter(s, "tracked", tracked);
}

static void gc_full_cpython(bench_state *s)
{
    Py_ssize_t outer = (Py_ssize_t)bench_arg(s, 0) / (1 + HEAP_INNER);
    PyGC_Collect();
    PyGC_Disable();
    PyObject *heap = py_heap_build(outer);
    PyGC_Collect();
    PyGC_Collect();
    PyGC_Enable();
    if (!heap) {
        PyErr_Clear();
        bench_skip(s, "building the heap failed");
        return;
    }
    double tracked = py_tracked_count();
    Py_ssize_t found = 0;
    while (bench_keep_running(s))
        found += PyGC_Collect();
    Py_DECREF(heap);
    if (found) {
        bench_skip(s, "a collection of a heap without garbage found some");
        return;
    }
    bench_counter(s, "tracked", tracked);
}

/* ---------------------------------------------------------------- gc_cycles */

/* One cycle a <-> b, dropped. false on failure. */
static inline bool weft_make_cycle(void)
{
    gc_cnode *a = (gc_cnode *)weft_new(&cnode_type);
    gc_cnode *b = (gc_cnode *)weft_new(&cnode_type);
    if (__builtin_expect(!a || !b, 0)) {
        weft_xdecref(WEFT_OBJ(a));
        weft_xdecref(WEFT_OBJ(b));
        return false;
    }
    a->child = &b->ob; /* a's reference is now b's only one */
    b->child = weft_newref(&a->ob);
    weft_decref(&a->ob);
    return true;
}

static void gc_cycles_weft(bench_state *s)
{
    long n = (long)bench_arg(s, 0);
    weft_settle();
    weft_gc_collect(2);
    uint64_t before = weft_collected_total();
    weft_gc_gen_stats stats_before[WEFT_GC_GENERATIONS];
    weft_gc_get_stats(stats_before);
    bool failed = false;
    while (!failed && bench_keep_running(s)) {
        for (long i = 0; i < n; i++)
            if (!weft_make_cycle()) {
                failed = true;
                break;
            }
        weft_gc_collect(2);
    }
    uint64_t collected = weft_collected_total() - before;
    weft_collection_counters(s, stats_before);
    weft_settle();
    if (failed) {
        bench_skip(s, "object creation failed");
        return;
    }
    if (collected != (uint64_t)bench_iterations(s) * 2 * (uint64_t)n) {
        char msg[160];
        snprintf(msg, sizeof msg, "collected %llu objects, expected %llu",
                 (unsigned long long)collected,
                 (unsigned long long)bench_iterations(s) * 2 * (unsigned long long)n);
        bench_skip(s, msg);
        return;
    }
    bench_set_items(s, bench_iterations(s) * n);
}

static void gc_cycles_cpython(bench_state *s)
{
    long n = (long)bench_arg(s, 0);
    PyGC_Collect();
    long before = py_collected_total();
    bool failed = false;
    while (!failed && bench_keep_running(s)) {
        for (long i = 0; i < n; i++) {
            PyObject *a = PyList_New(0), *b = PyList_New(0);
            if (!a || !b || PyList_Append(a, b) != 0 || PyList_Append(b, a) != 0)
                failed = true;
            Py_XDECREF(a);
            Py_XDECREF(b);
            if (failed)
                break;
        }
        PyGC_Collect();
    }
    long collected = py_collected_total() - before;
    PyErr_Clear();
    if (failed) {
        bench_skip(s, "object creation failed");
        return;
    }
    if (before < 0 || collected != bench_iterations(s) * 2 * n) {
        char msg[160];
        snprintf(msg, sizeof msg, "collected %ld objects, expected %lld", collected,
                 (long long)bench_iterations(s) * 2 * n);
        bench_skip(s, msg);
        return;
    }
    bench_set_items(s, bench_iterations(s) * n);
}

/* ---------------------------------------------------------------- gc_traversal */

/* pyperformance's create_recursive_containers(n_levels). */
static weft_object *weft_recursive_containers(int levels)
{
    weft_object *current = weft_list_new(0);
    for (int n = 0; current && n < levels; n++) {
        weft_object *next = weft_list_new((size_t)n);
        for (int i = 0; next && i < n; i++)
            if (weft_list_append(next, current) != 0) {
                weft_decref(next);
                next = NULL;
            }
        weft_decref(current);
        current = next;
    }
    return current;
}

static PyObject *py_recursive_containers(int levels)
{
    PyObject *current = PyList_New(0);
    for (int n = 0; current && n < levels; n++) {
        PyObject *next = PyList_New(n);
        for (int i = 0; next && i < n; i++)
            PyList_SET_ITEM(next, i, Py_NewRef(current));
        Py_DECREF(current);
        current = next;
    }
    return current;
}

static void gc_traversal_weft(bench_state *s)
{
    weft_settle();
    weft_object *all = weft_recursive_containers(TRAVERSAL_LEVELS);
    weft_gc_collect(2);
    if (!all) {
        bench_skip(s, "building the lists failed");
        return;
    }
    long found = 0;
    while (bench_keep_running(s)) {
        long n = weft_gc_collect(2);
        found += n < 0 ? 1 : n;
    }
    weft_decref(all);
    weft_settle();
    if (found)
        bench_skip(s, "a collection found garbage (or failed)");
}

static void gc_traversal_cpython(bench_state *s)
{
    PyObject *all = py_recursive_containers(TRAVERSAL_LEVELS);
    PyGC_Collect();
    if (!all) {
        PyErr_Clear();
        bench_skip(s, "building the lists failed");
        return;
    }
    Py_ssize_t found = 0;
    while (bench_keep_running(s))
        found += PyGC_Collect();
    Py_DECREF(all);
    if (found)
        bench_skip(s, "a collection found garbage");
}

/* ---------------------------------------------------------------- gc_pause */

/* Every collection of the run, from the "stop" callback (collector thread). */
typedef struct pause_log {
    atomic_uint n[WEFT_GC_GENERATIONS];
    uint64_t pause[WEFT_GC_GENERATIONS][PAUSE_SAMPLES];
    uint64_t safepoint[WEFT_GC_GENERATIONS][PAUSE_SAMPLES];
} pause_log;

static pause_log *plog;
/* Callbacks run on the collector thread from a copy of the callback list, so
 * one may still be running after weft_gc_remove_callback returns: the body
 * turns `plog_on` off and waits until no callback is inside (seq_cst: either
 * the body sees one inside, or that one sees recording off). */
static atomic_bool plog_on;
static atomic_int plog_inside;

static void record_collection(const char *phase, const weft_gc_info *info, void *arg)
{
    pause_log *log = arg;
    if (strcmp(phase, "stop") != 0 || info->generation < 0 ||
        info->generation >= WEFT_GC_GENERATIONS)
        return;
    atomic_fetch_add(&plog_inside, 1);
    if (atomic_load(&plog_on)) {
        int g = info->generation;
        unsigned i = atomic_fetch_add_explicit(&log->n[g], 1, memory_order_relaxed);
        if (i < PAUSE_SAMPLES) {
            log->pause[g][i] = info->pause_ns;
            log->safepoint[g][i] = info->safepoint_ns;
        }
    }
    atomic_fetch_sub(&plog_inside, 1);
}

static void stop_recording(void)
{
    atomic_store(&plog_on, false);
    while (atomic_load(&plog_inside) != 0)
        weft_safepoint();
    weft_gc_remove_callback(record_collection, plog);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array, as lib/gc.c computes them. */
static double pct_us(const uint64_t *sorted, unsigned n, unsigned pct)
{
    if (n == 0)
        return 0;
    return (double)sorted[((uint64_t)(n - 1) * pct + 50) / 100] / 1e3;
}

typedef struct mutator {
    pthread_t thread;
    long cycles;
    bool failed;
} mutator;

static void *mutator_main(void *arg)
{
    mutator *m = arg;
    if (weft_thread_attach() != 0) {
        m->failed = true;
        return NULL;
    }
    for (long i = 0; i < m->cycles; i++)
        if (!weft_make_cycle()) {
            m->failed = true;
            break;
        }
    weft_thread_detach();
    return NULL;
}

static void gc_pause_weft(bench_state *s)
{
    if (!plog)
        plog = calloc(1, sizeof *plog);
    if (!plog) {
        bench_skip(s, "out of memory");
        return;
    }
    weft_settle();
    weft_gc_disable();
    weft_object *heap = weft_heap_build(PAUSE_LIVE / (1 + HEAP_INNER));
    weft_gc_collect(2);
    weft_gc_collect(2);
    weft_gc_enable();
    if (!heap) {
        bench_skip(s, "building the heap failed");
        return;
    }
    const char *error = NULL;
    weft_gc_gen_stats before[WEFT_GC_GENERATIONS], after[WEFT_GC_GENERATIONS];
    uint64_t collected_before = 0;
    while (bench_keep_running(s)) {
        for (int g = 0; g < WEFT_GC_GENERATIONS; g++)
            atomic_store(&plog->n[g], 0);
        weft_gc_get_stats(before);
        collected_before = weft_collected_total();
        atomic_store(&plog_on, true);
        if (weft_gc_add_callback(record_collection, plog) != 0) {
            error = "weft_gc_add_callback failed";
            break;
        }
        mutator m[PAUSE_THREADS];
        int started = 0;
        for (int t = 0; t < PAUSE_THREADS; t++) {
            m[t] = (mutator){.cycles = PAUSE_CYCLES, .failed = false};
            if (pthread_create(&m[t].thread, NULL, mutator_main, &m[t]) != 0) {
                error = "pthread_create failed";
                break;
            }
            started++;
        }
        weft_blocking_begin();
        for (int t = 0; t < started; t++)
            pthread_join(m[t].thread, NULL);
        weft_blocking_end();
        /* The collections that ended before the mutators were done. */
        stop_recording();
        weft_gc_get_stats(after);
        for (int t = 0; t < started; t++)
            if (m[t].failed)
                error = "a mutator failed (attach or object creation)";
        if (error)
            break;
    }
    /* The garbage left since the last automatic collection, then the heap. */
    weft_gc_collect(2);
    uint64_t collected = weft_collected_total() - collected_before;
    weft_decref(heap);
    weft_settle();
    if (error) {
        bench_skip(s, error);
        return;
    }
    if (collected != (uint64_t)PAUSE_THREADS * PAUSE_CYCLES * 2) {
        char msg[160];
        snprintf(msg, sizeof msg, "collected %llu objects, expected %llu",
                 (unsigned long long)collected,
                 (unsigned long long)PAUSE_THREADS * PAUSE_CYCLES * 2);
        bench_skip(s, msg);
        return;
    }
    /* The last iteration's collections (there is one: .iterations = 1). */
    unsigned n[WEFT_GC_GENERATIONS];
    size_t nall = 0;
    for (int g = 0; g < WEFT_GC_GENERATIONS; g++) {
        n[g] = atomic_load(&plog->n[g]);
        if (n[g] > PAUSE_SAMPLES)
            n[g] = PAUSE_SAMPLES;
        nall += n[g];
        qsort(plog->pause[g], n[g], sizeof(uint64_t), cmp_u64);
    }
    uint64_t *sp = malloc((nall ? nall : 1) * sizeof *sp);
    if (!sp) {
        bench_skip(s, "out of memory");
        return;
    }
    size_t k = 0;
    for (int g = 0; g < WEFT_GC_GENERATIONS; g++) {
        memcpy(sp + k, plog->safepoint[g], n[g] * sizeof *sp);
        k += n[g];
    }
    qsort(sp, nall, sizeof *sp, cmp_u64);
    qsort(plog->safepoint[0], n[0], sizeof(uint64_t), cmp_u64);

    bench_set_items(s, (int64_t)PAUSE_THREADS * PAUSE_CYCLES);
    bench_counter(s, "young_pause_p50_us", pct_us(plog->pause[0], n[0], 50));
    bench_counter(s, "young_pause_p99_us", pct_us(plog->pause[0], n[0], 99));
    bench_counter(s, "young_pause_max_us", pct_us(plog->pause[0], n[0], 100));
    bench_counter(s, "gen1_pause_max_us", pct_us(plog->pause[1], n[1], 100));
    bench_counter(s, "full_pause_max_us", pct_us(plog->pause[2], n[2], 100));
    bench_counter(s, "ttsp_p99_us", pct_us(sp, (unsigned)nall, 99));
    bench_counter(s, "ttsp_max_us", pct_us(sp, (unsigned)nall, 100));
    bench_counter(s, "young_ttsp_p99_us", pct_us(plog->safepoint[0], n[0], 99));
    for (int g = 0; g < WEFT_GC_GENERATIONS; g++) {
        char name[32];
        snprintf(name, sizeof name, "collections_gen%d", g);
        bench_counter(s, name, (double)(after[g].collections - before[g].collections));
    }
    free(sp);
}

/* ---------------------------------------------------------------- mutator_overhead */

/* A tree of 2-tuples over one-item lists (each holding a small int):
 * 2^depth - 1 tuples, 2^depth lists; everything tracked, no cycle. */
static weft_object *overhead_tree(int depth, weft_object *leaf_item)
{
    if (depth == 0) {
        weft_object *l = weft_list_new(1);
        if (l && weft_list_append(l, leaf_item) != 0) {
            weft_decref(l);
            l = NULL;
        }
        return l;
    }
    weft_object *t = weft_tuple_new(2);
    if (!t)
        return NULL;
    weft_object *left = overhead_tree(depth - 1, leaf_item);
    weft_object *right = left ? overhead_tree(depth - 1, leaf_item) : NULL;
    if (!left || !right) {
        weft_xdecref(left);
        weft_decref(t);
        return NULL;
    }
    weft_tuple_set_new(t, 0, left);
    weft_tuple_set_new(t, 1, right);
    return t;
}

static void mutator_overhead(bench_state *s, bool collector_on)
{
    weft_settle();
    weft_object *item = weft_int_new(7); /* a small int: immortal */
    if (!collector_on)
        weft_gc_disable();
    bool failed = !item;
    weft_gc_gen_stats before[WEFT_GC_GENERATIONS];
    weft_gc_get_stats(before);
    while (!failed && bench_keep_running(s)) {
        weft_object *tree = overhead_tree(OVERHEAD_DEPTH, item);
        if (!tree) {
            failed = true;
            break;
        }
        bench_escape(tree);
        weft_decref(tree);
    }
    weft_collection_counters(s, before);
    weft_gc_enable();
    weft_xdecref(item);
    weft_settle();
    if (failed) {
        bench_skip(s, "object creation failed");
        return;
    }
    bench_set_items(s, bench_iterations(s) * ((2 << OVERHEAD_DEPTH) - 1));
}

static void mutator_overhead_on(bench_state *s)
{
    mutator_overhead(s, true);
}

static void mutator_overhead_off(bench_state *s)
{
    mutator_overhead(s, false);
}

/* ---------------------------------------------------------------- binary_trees */

/* The expected check total of one run: every tree's node count. */
static int64_t bt_nodes(int depth)
{
    return ((int64_t)2 << depth) - 1;
}

static int64_t bt_expected(int max_depth)
{
    int64_t total = bt_nodes(max_depth + 1) + bt_nodes(max_depth);
    for (int d = BT_MIN_DEPTH; d <= max_depth; d += 2)
        total += ((int64_t)1 << (max_depth - d + BT_MIN_DEPTH)) * bt_nodes(d);
    return total;
}

/* weft */
static weft_object *wt_make(int depth)
{
    gc_tnode *n = (gc_tnode *)weft_new(&tnode_type);
    if (n && depth > 0) {
        n->left = wt_make(depth - 1);
        n->right = n->left ? wt_make(depth - 1) : NULL;
        if (!n->right) {
            weft_decref(&n->ob);
            return NULL;
        }
    }
    return n ? &n->ob : NULL;
}

static int64_t wt_check(weft_object *o)
{
    gc_tnode *n = (gc_tnode *)o;
    return n->left ? 1 + wt_check(n->left) + wt_check(n->right) : 1;
}

/* plain C with one malloc/free pair */
typedef struct ctnode {
    struct ctnode *left, *right;
} ctnode;

static void *(*glibc_malloc)(size_t);
static void (*glibc_free)(void *);

#define BT_ALWAYS static inline __attribute__((always_inline))

#define C_TREE_IMPL(impl, ALLOC)                                                         \
    static ctnode *ct_make_##impl(int depth)                                             \
    {                                                                                    \
        ctnode *n = ALLOC(sizeof *n);                                                    \
        if (!n)                                                                          \
            return NULL;                                                                 \
        n->left = n->right = NULL;                                                       \
        if (depth > 0) {                                                                 \
            n->left = ct_make_##impl(depth - 1);                                         \
            n->right = n->left ? ct_make_##impl(depth - 1) : NULL;                       \
            if (!n->right) {                                                             \
                ct_free_##impl(n);                                                       \
                return NULL;                                                             \
            }                                                                            \
        }                                                                                \
        return n;                                                                        \
    }
#define C_FREE_IMPL(impl, FREE)                                                          \
    static void ct_free_##impl(ctnode *n)                                                \
    {                                                                                    \
        if (!n)                                                                          \
            return;                                                                      \
        ct_free_##impl(n->left);                                                         \
        ct_free_##impl(n->right);                                                        \
        FREE(n);                                                                         \
    }

C_FREE_IMPL(mimalloc, mi_free)
C_TREE_IMPL(mimalloc, mi_malloc)
C_FREE_IMPL(glibc, glibc_free)
C_TREE_IMPL(glibc, glibc_malloc)

static int64_t ct_check(const ctnode *n)
{
    return n->left ? 1 + ct_check(n->left) + ct_check(n->right) : 1;
}

/* CPython: 2-tuples, (None, None) leaves */
static PyObject *py_make(int depth)
{
    if (depth == 0)
        return PyTuple_Pack(2, Py_None, Py_None);
    PyObject *l = py_make(depth - 1);
    PyObject *r = l ? py_make(depth - 1) : NULL;
    PyObject *t = r ? PyTuple_Pack(2, l, r) : NULL;
    Py_XDECREF(l);
    Py_XDECREF(r);
    return t;
}

static int64_t py_check(PyObject *t)
{
    PyObject *l = PyTuple_GET_ITEM(t, 0);
    return l == Py_None ? 1 : 1 + py_check(l) + py_check(PyTuple_GET_ITEM(t, 1));
}

/* The algorithm, over one impl's make/check/drop. */
typedef void *(*bt_make_fn)(int depth);
typedef int64_t (*bt_check_fn)(void *tree);
typedef void (*bt_drop_fn)(void *tree);

BT_ALWAYS int64_t binary_trees_run(int max_depth, bt_make_fn make, bt_check_fn check,
                                   bt_drop_fn drop)
{
    int64_t total = 0;
    void *stretch = make(max_depth + 1);
    if (!stretch)
        return -1;
    total += check(stretch);
    drop(stretch);
    void *long_lived = make(max_depth);
    if (!long_lived)
        return -1;
    for (int d = BT_MIN_DEPTH; d <= max_depth; d += 2) {
        int64_t iterations = (int64_t)1 << (max_depth - d + BT_MIN_DEPTH);
        int64_t sum = 0;
        for (int64_t i = 0; i < iterations; i++) {
            void *t = make(d);
            if (!t) {
                drop(long_lived);
                return -1;
            }
            sum += check(t);
            drop(t);
        }
        total += sum;
    }
    total += check(long_lived);
    drop(long_lived);
    return total;
}

static void *bt_make_weft(int d)
{
    return wt_make(d);
}
static int64_t bt_check_weft(void *t)
{
    return wt_check(t);
}
static void bt_drop_weft(void *t)
{
    weft_decref(t);
}
static void *bt_make_mimalloc(int d)
{
    return ct_make_mimalloc(d);
}
static void bt_drop_mimalloc(void *t)
{
    ct_free_mimalloc(t);
}
static void *bt_make_glibc(int d)
{
    return ct_make_glibc(d);
}
static void bt_drop_glibc(void *t)
{
    ct_free_glibc(t);
}
static int64_t bt_check_c(void *t)
{
    return ct_check(t);
}
static void *bt_make_cpython(int d)
{
    return py_make(d);
}
static int64_t bt_check_cpython(void *t)
{
    return py_check(t);
}
static void bt_drop_cpython(void *t)
{
    Py_DECREF((PyObject *)t);
}

BT_ALWAYS void binary_trees(bench_state *s, bt_make_fn make, bt_check_fn check,
                            bt_drop_fn drop)
{
    int depth = (int)bench_arg(s, 0);
    int64_t want = bt_expected(depth), got = 0;
    while (bench_keep_running(s)) {
        got = binary_trees_run(depth, make, check, drop);
        if (got != want)
            break;
    }
    if (got != want) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "check total %lld, expected %lld (-1: allocation failed)",
                 (long long)got, (long long)want);
        bench_skip(s, msg);
        return;
    }
    bench_set_items(s, bench_iterations(s) * want);
}

static void binary_trees_weft(bench_state *s)
{
    weft_settle();
    weft_gc_gen_stats before[WEFT_GC_GENERATIONS];
    weft_gc_get_stats(before);
    binary_trees(s, bt_make_weft, bt_check_weft, bt_drop_weft);
    weft_collection_counters(s, before);
    weft_settle();
}
static void binary_trees_mimalloc(bench_state *s)
{
    binary_trees(s, bt_make_mimalloc, bt_check_c, bt_drop_mimalloc);
}
static void binary_trees_glibc(bench_state *s)
{
    binary_trees(s, bt_make_glibc, bt_check_c, bt_drop_glibc);
}
static void binary_trees_cpython(bench_state *s)
{
    binary_trees(s, bt_make_cpython, bt_check_cpython, bt_drop_cpython);
    PyErr_Clear();
}

/* ---------------------------------------------------------------- setup */

static void *must_find(const char *lib, const char *name)
{
    void *handle = dlopen(lib, RTLD_NOW | RTLD_NOLOAD);
    void *sym = handle ? dlsym(handle, name) : NULL;
    if (!sym) {
        fprintf(stderr, "weft-bench: %s not found in %s: %s\n", name, lib, dlerror());
        exit(1);
    }
    return sym;
}

static void gc_setup(void)
{
    Py_InitializeEx(0); /* a no-op if another suite did it */
    if (!weft_is_initialized() && weft_init(NULL) != 0) {
        fprintf(stderr, "weft-bench: weft_init failed: %s\n", weft_error_message());
        exit(1);
    }
    /* glibc's own allocator, not libmimalloc's __libc_malloc (alloc_bench.c). */
    glibc_malloc = (void *(*)(size_t))must_find("libc.so.6", "__libc_malloc");
    glibc_free = (void (*)(void *))must_find("libc.so.6", "__libc_free");
}

static void gc_teardown(void)
{
    free(plog);
    plog = NULL;
}

/* ---------------------------------------------------------------- the table */

static const bench_def gc_defs[] = {
    BENCH("gc_full/weft", gc_full_weft, BENCH_ARGS(1000000), .unit = BENCH_MS),
    BENCH("gc_full/cpython", gc_full_cpython, BENCH_ARGS(1000000), .unit = BENCH_MS),

    BENCH("gc_cycles/weft", gc_cycles_weft, BENCH_ARGS(1000000), .unit = BENCH_MS,
          .real_time = true),
    BENCH("gc_cycles/cpython", gc_cycles_cpython, BENCH_ARGS(1000000), .unit = BENCH_MS,
          .real_time = true),

    BENCH("gc_traversal/weft", gc_traversal_weft, .unit = BENCH_US),
    BENCH("gc_traversal/cpython", gc_traversal_cpython, .unit = BENCH_US),

    BENCH("gc_pause/weft", gc_pause_weft, .iterations = 1, .unit = BENCH_MS,
          .real_time = true),

    BENCH("mutator_overhead/weft/on", mutator_overhead_on, .unit = BENCH_US,
          .real_time = true),
    BENCH("mutator_overhead/weft/off", mutator_overhead_off, .unit = BENCH_US,
          .real_time = true),

#define BINARY_TREES(impl)                                                               \
    BENCH("binary_trees/" #impl, binary_trees_##impl, BENCH_ARGS(18), .iterations = 1,   \
          .unit = BENCH_MS, .real_time = true)
    BINARY_TREES(weft),
    BINARY_TREES(mimalloc),
    BINARY_TREES(glibc),
    BINARY_TREES(cpython),
#undef BINARY_TREES

    BENCH_END,
};

const bench_suite bench_suite_gc = {
    .name = "gc",
    .setup = gc_setup,
    .teardown = gc_teardown,
    .defs = gc_defs,
};
