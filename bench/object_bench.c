/* bench/object_bench.c: weft's objects and biased reference counting, side by
 * side with plain and atomic counters and with CPython 3.11.
 *
 * Workloads:
 *   rc_owner/<impl>            an incref+decref pair on an object private to
 *                              the benchmark thread (its owner), over and over;
 *                              impls: weft (weft_incref/weft_decref on a weft
 *                              int), plain (an int counter in a struct, ++ and
 *                              --, as CPython's default build counts), atomic
 *                              (the same counter with C11's default, seq_cst,
 *                              atomic_fetch_add/atomic_fetch_sub);
 *   rc_shared/<impl>/threads:2 two threads, each the owner of one object, each
 *                              doing incref+decref pairs on the OTHER thread's
 *                              object (weft: the non-owner's atomic path;
 *                              weft_safepoint every 1024 pairs, where merges
 *                              would happen); impls weft, atomic. The time
 *                              per pair is the wall time over the pairs of
 *                              both threads (bench.h, bench_set_items): half
 *                              the time of one thread's pair when the two
 *                              threads really run at once;
 *   obj_new/<impl>/<kind>      create one object and destroy it: an int
 *                              beyond the small-int cache (1000..2023), a
 *                              2-tuple of two small ints, a str of 16 bytes;
 *                              impls weft, cpython (its C API through the
 *                              libpython linked into weft-bench: pymalloc,
 *                              the tuple free list, GC tracking of tuples).
 *
 * Every increment and decrement is followed by bench_escape(o): the empty asm
 * with a memory clobber, so that the compiler must store each count and load
 * it again, as code between the two operations would make it do; the plain
 * pair cannot be folded away. Every body is an always-inline function taking
 * the impl's operations as constant arguments (as in alloc_bench.c).
 *
 * CPython runs on the main thread, which holds the GIL after Py_InitializeEx.
 * Its objects are made and released inside each body, so that nothing of ours
 * outlives alloc_bench.c's Py_FinalizeEx at teardown. */
#define PY_SSIZE_T_CLEAN
#include <Python.h> /* first: it sets feature macros for the system headers */

#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft/weft.h>

#include "bench.h"
#include "weft_threads.h"

#define RC_BATCH 256         /* incref+decref pairs per call into the harness */
#define SAFEPOINT_EVERY 1024 /* rc_shared: pairs between two weft_safepoint calls */
#define NEW_BATCH 64         /* obj_new: objects per call into the harness */
#define INT_BASE 1000        /* obj_new/int: 1000.. is beyond both small-int caches */
#define INT_SPREAD 1024      /* ..and spans 1024 values */

#define BODY static inline __attribute__((always_inline)) void

/* A reference dropped to zero where the benchmark always holds one: the
 * counting under test is broken. */
__attribute__((noinline, noreturn)) static void count_reached_zero(const char *impl)
{
    fprintf(stderr, "object_bench: %s: a count the benchmark holds reached zero\n", impl);
    abort();
}

/* ---------------------------------------------------------------- the counters */

/* plain: CPython's default build, a non-atomic count in the object. */
typedef struct plain_object {
    int refcnt;
    const void *type;
} plain_object;

/* atomic: the same with C11 atomics, default (seq_cst) order. */
typedef struct atomic_object {
    atomic_int refcnt;
    const void *type;
} atomic_object;

static inline void impl_weft_incref(void *o)
{
    weft_incref(o);
}
static inline void impl_weft_decref(void *o)
{
    weft_decref(o); /* frees on the last reference: never here */
}

static inline void impl_plain_incref(void *o)
{
    ((plain_object *)o)->refcnt++;
}
static inline void impl_plain_decref(void *o)
{
    if (--((plain_object *)o)->refcnt == 0)
        count_reached_zero("plain");
}

static inline void impl_atomic_incref(void *o)
{
    atomic_fetch_add(&((atomic_object *)o)->refcnt, 1);
}
static inline void impl_atomic_decref(void *o)
{
    if (atomic_fetch_sub(&((atomic_object *)o)->refcnt, 1) == 1)
        count_reached_zero("atomic");
}

typedef void (*ref_fn)(void *o);

/* ---------------------------------------------------------------- rc_owner */

BODY rc_pairs(bench_state *s, void *o, ref_fn incref, ref_fn decref)
{
    bench_escape(o);
    while (bench_keep_running_batch(s, RC_BATCH)) {
        for (int i = 0; i < RC_BATCH; i++) {
            incref(o);
            bench_escape(o);
            decref(o);
            bench_escape(o);
        }
    }
    bench_set_items(s, bench_iterations(s));
}

static void rc_owner_weft(bench_state *s)
{
    weft_object *o = weft_int_new(INT_BASE);
    if (!o) {
        bench_skip(s, "weft_int_new failed");
        return;
    }
    rc_pairs(s, o, impl_weft_incref, impl_weft_decref);
    if (weft_refcount(o) != 1)
        fprintf(stderr, "rc_owner/weft: refcount %ld after the pairs, expected 1\n",
                weft_refcount(o));
    weft_decref(o);
}

static alignas(64) plain_object owner_plain;
static alignas(64) atomic_object owner_atomic;

static void rc_owner_plain(bench_state *s)
{
    owner_plain.refcnt = 1;
    rc_pairs(s, &owner_plain, impl_plain_incref, impl_plain_decref);
}

static void rc_owner_atomic(bench_state *s)
{
    atomic_store(&owner_atomic.refcnt, 1);
    rc_pairs(s, &owner_atomic, impl_atomic_incref, impl_atomic_decref);
}

/* ---------------------------------------------------------------- rc_shared */

/* Each thread publishes its own object in the slot of its index before its
 * first bench_weft_keep_running, and reads the other's after it: the
 * harness's start barrier orders the two. The stop barrier (inside the call
 * that ends the loop) keeps each object alive until the other thread is done
 * with it. (weft_threads.h: the barriers are waited at inside blocking
 * regions, so that a stop of the world never waits for a thread there.) */
static _Atomic(void *) shared_slot[2];

BODY rc_cross(bench_state *s, void *own, ref_fn incref, ref_fn decref, bool safepoints)
{
    int me = bench_thread_index(s);
    atomic_store_explicit(&shared_slot[me], own, memory_order_release);
    void *other = NULL;
    while (bench_weft_keep_running(s, SAFEPOINT_EVERY)) {
        if (!other) {
            other = atomic_load_explicit(&shared_slot[1 - me], memory_order_acquire);
            bench_escape(other);
        }
        for (int i = 0; i < SAFEPOINT_EVERY; i++) {
            incref(other);
            bench_escape(other);
            decref(other);
            bench_escape(other);
        }
        if (safepoints)
            weft_safepoint();
    }
    bench_set_items(s, bench_iterations(s));
}

static void rc_shared_weft(bench_state *s)
{
    /* Thread 0 is the main thread, attached by weft_init; the other is new. */
    bool attached_here = false;
    weft_object *own = NULL;
    if (bench_threads(s) != 2)
        bench_weft_skip(s, "rc_shared runs on two threads");
    else if (!bench_weft_enter(s, &attached_here))
        bench_weft_skip(s, "weft_thread_attach failed");
    else if (!(own = weft_int_new(INT_BASE + bench_thread_index(s))))
        bench_weft_skip(s, "weft_int_new failed");
    else
        rc_cross(s, own, impl_weft_incref, impl_weft_decref, true);
    if (own) {
        long count = weft_refcount(own);
        if (count != 1)
            fprintf(stderr, "rc_shared/weft: refcount %ld after the pairs, expected 1\n", count);
        weft_decref(own);
    }
    bench_weft_leave(s, attached_here);
}

static struct {
    alignas(64) atomic_object o;
} cross_atomic[2];

static void rc_shared_atomic(bench_state *s)
{
    if (bench_threads(s) != 2) {
        bench_weft_skip(s, "rc_shared runs on two threads");
        return;
    }
    atomic_object *own = &cross_atomic[bench_thread_index(s)].o;
    atomic_store(&own->refcnt, 1);
    rc_cross(s, own, impl_atomic_incref, impl_atomic_decref, false);
}

/* ---------------------------------------------------------------- obj_new */

/* What obj_new makes: make(i) returns a new object (NULL on failure) and
 * drop releases it. */
typedef void *(*make_fn)(unsigned i);
typedef void (*drop_fn)(void *o);

static const char str16[17] = "0123456789abcdef";
static weft_object *weft_one, *weft_two;  /* small ints: immortal in weft */
static PyObject *py_one, *py_two;          /* small ints: counted in 3.11 */

static inline void *make_weft_int(unsigned i)
{
    return weft_int_new(INT_BASE + (i & (INT_SPREAD - 1)));
}
static inline void *make_weft_tuple2(unsigned i)
{
    return weft_tuple_pack(2, weft_one, weft_two);
}
static inline void *make_weft_str16(unsigned i)
{
    return weft_str_new(str16, 16);
}
static inline void drop_weft(void *o)
{
    weft_decref(o);
}

static inline void *make_cpython_int(unsigned i)
{
    return PyLong_FromLongLong(INT_BASE + (i & (INT_SPREAD - 1)));
}
static inline void *make_cpython_tuple2(unsigned i)
{
    return PyTuple_Pack(2, py_one, py_two);
}
static inline void *make_cpython_str16(unsigned i)
{
    return PyUnicode_FromStringAndSize(str16, 16);
}
static inline void drop_cpython(void *o)
{
    Py_DECREF((PyObject *)o);
}

BODY obj_new(bench_state *s, make_fn make, drop_fn drop)
{
    unsigned n = 0;
    while (bench_keep_running_batch(s, NEW_BATCH)) {
        for (int i = 0; i < NEW_BATCH; i++, n++) {
            void *o = make(n);
            if (__builtin_expect(o == NULL, 0)) {
                bench_skip(s, "object creation failed");
                return;
            }
            bench_escape(o);
            drop(o);
        }
    }
    bench_set_items(s, bench_iterations(s));
}

#define KINDS(X) X(int) X(tuple2) X(str16)
#define NEW_ENTRIES(kind)                                                                \
    static void obj_new_weft_##kind(bench_state *s)                                      \
    {                                                                                    \
        obj_new(s, make_weft_##kind, drop_weft);                                         \
    }                                                                                    \
    static void obj_new_cpython_##kind(bench_state *s)                                   \
    {                                                                                    \
        obj_new(s, make_cpython_##kind, drop_cpython);                                   \
        PyErr_Clear();                                                                   \
    }
KINDS(NEW_ENTRIES)
#undef NEW_ENTRIES

/* ---------------------------------------------------------------- setup */

static void object_setup(void)
{
    Py_InitializeEx(0); /* a no-op if another suite did it */
    if (!weft_is_initialized() && weft_init(NULL) != 0) {
        fprintf(stderr, "weft-bench: weft_init failed: %s\n", weft_error_message());
        exit(1);
    }
    weft_one = weft_int_new(1);
    weft_two = weft_int_new(2);
    /* Small ints: cached by CPython (and counted: 3.11 has no immortals). The
     * interpreter's own references keep them alive past Py_FinalizeEx's
     * frees, so these two references are never released. */
    py_one = PyLong_FromLong(1);
    py_two = PyLong_FromLong(2);
    char version[64];
    snprintf(version, sizeof version, "%s", Py_GetVersion());
    version[strcspn(version, " ")] = '\0';
    bench_context("cpython", version);
}

static void object_teardown(void)
{
    /* weft_one and weft_two are immortal: nothing to release. */
    if (weft_is_initialized() && weft_thread_is_attached()) {
        long live = weft_shutdown();
        if (live > 0)
            fprintf(stderr, "weft-bench: %ld weft object(s) still alive at shutdown\n", live);
    }
}

/* ---------------------------------------------------------------- the table */

static const bench_def object_defs[] = {
    BENCH("rc_owner/weft", rc_owner_weft),
    BENCH("rc_owner/plain", rc_owner_plain),
    BENCH("rc_owner/atomic", rc_owner_atomic),

    BENCH("rc_shared/weft", rc_shared_weft, .threads = 2),
    BENCH("rc_shared/atomic", rc_shared_atomic, .threads = 2),

    BENCH("obj_new/weft/int", obj_new_weft_int),
    BENCH("obj_new/cpython/int", obj_new_cpython_int),
    BENCH("obj_new/weft/tuple2", obj_new_weft_tuple2),
    BENCH("obj_new/cpython/tuple2", obj_new_cpython_tuple2),
    BENCH("obj_new/weft/str16", obj_new_weft_str16),
    BENCH("obj_new/cpython/str16", obj_new_cpython_str16),

    BENCH_END,
};

const bench_suite bench_suite_object = {
    .name = "object",
    .setup = object_setup,
    .teardown = object_teardown,
    .defs = object_defs,
};
