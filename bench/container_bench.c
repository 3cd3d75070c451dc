/* bench/container_bench.c: weft's lists and dicts side by side with CPython 3.11's.
 *
 * Workloads (impls weft and cpython, unless said otherwise):
 *   list_append/<impl>          a new empty list, ITEMS appends, then the list
 *                               dropped; the time is per append (list creation
 *                               and destruction included, 1/ITEMS each);
 *   list_get/<impl>             a reference to the item at a random index of an
 *                               ITEMS-item list, taken and released (weft_list_get
 *                               + weft_decref; PyList_GetItem + Py_INCREF +
 *                               Py_DECREF);
 *   dict_set/<impl>             a new dict, ITEMS str keys set, then the dict
 *                               dropped; the time is per set;
 *   dict_get/<impl>             the value of a random key of an ITEMS-key dict
 *                               of str keys, taken and released (weft_dict_get
 *                               + weft_decref; PyDict_GetItem + Py_INCREF +
 *                               Py_DECREF);
 *   dict_get_shared/weft/real_time/threads:N
 *                               as dict_get, by N threads at once on ONE dict
 *                               (built by thread 0, the main thread, which owns
 *                               its keys and values; the others' reads make
 *                               the values buffered, docs/refcount.md, after
 *                               which every thread counts them in its own
 *                               table; one thread alone keeps the owner's
 *                               plain counts). Rates
 *                               are over wall time, so items_per_second is the
 *                               total of the N threads (bench.h, real_time);
 *   dict_get_blocked_owner/weft/real_time/threads:N
 *                               as dict_get_shared, the dict built by a thread
 *                               of its own that then waits in a blocking
 *                               region (a server's main thread in accept):
 *                               the N readers merge its values for it and
 *                               all count them in their own tables;
 *   mem_empty_lists/<impl>      1 000 000 empty lists made and kept, then
 *                               dropped: resident memory growth (rss_mib,
 *                               bytes_per_list), once.
 *
 * Items are ints 1000..1000+ITEMS-1 (counted objects on both sides: CPython
 * 3.11 has no immortal objects, and weft's small ints are immortal); keys are
 * the strs "key:000000".. Every lookup passes the very key object that was
 * stored (identity hit on both sides), and the str hashes are computed before
 * any timed loop. Random indices come from tables drawn once, per thread.
 *
 * weft containers defer the free of replaced storage to a QSBR grace period,
 * which needs the owner to pass safepoints: the weft bodies call
 * weft_safepoint() once per ITEMS operations, as a program's event loop or
 * allocation slow path would (a few ns in all).
 *
 * Before each timed loop the bodies check the containers' contents once; a
 * wrong result stops the benchmark with an error naming what was wrong. */
#define PY_SSIZE_T_CLEAN
#include <Python.h> /* first: it sets feature macros for the system headers */

#include <fcntl.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <weft/weft.h>

#include "bench.h"
#include "weft_threads.h"

#define ITEMS 1000
#define RAND_SLOTS 4096 /* random indices per thread (a power of two) */
#define GET_BATCH 64    /* gets per call into the harness */
#define SAFEPOINT_EVERY 1024 /* weft: gets between two weft_safepoint calls */
#define MAX_THREADS 8
#define EMPTY_LISTS 1000000
#define VALUE_BASE 1000
#define SEED 0x77656674u /* "weft" */
#define MIB (1024.0 * 1024.0)

#define BODY static inline __attribute__((always_inline)) void

/* ---------------------------------------------------------------- random indices */

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Each thread's indices in 0..ITEMS-1, drawn once by the setup hook. */
static struct {
    alignas(64) uint16_t index[RAND_SLOTS];
} rand_table[MAX_THREADS];

static void draw_tables(void)
{
    for (int t = 0; t < MAX_THREADS; t++) {
        uint64_t rng = SEED + (uint64_t)t * 7919;
        for (int i = 0; i < RAND_SLOTS; i++)
            rand_table[t].index[i] = (uint16_t)(splitmix64(&rng) % ITEMS);
    }
}

static void key_text(char *buf, size_t size, int i)
{
    snprintf(buf, size, "key:%06d", i);
}

/* ---------------------------------------------------------------- fixtures */

/* ITEMS keys and values, made at the start of a body, released at its end. */
typedef struct weft_fixture {
    weft_object *key[ITEMS];
    weft_object *value[ITEMS];
} weft_fixture;

typedef struct py_fixture {
    PyObject *key[ITEMS];
    PyObject *value[ITEMS];
} py_fixture;

static weft_fixture wfx;
static py_fixture pfx;

static void weft_fixture_release(weft_fixture *f)
{
    for (int i = 0; i < ITEMS; i++) {
        weft_clearref(&f->key[i]);
        weft_clearref(&f->value[i]);
    }
}

static bool weft_fixture_make(weft_fixture *f)
{
    char buf[32];
    for (int i = 0; i < ITEMS; i++) {
        key_text(buf, sizeof buf, i);
        f->key[i] = weft_str_from_cstr(buf);
        f->value[i] = weft_int_new(VALUE_BASE + i);
        if (!f->key[i] || !f->value[i]) {
            weft_fixture_release(f);
            return false;
        }
        weft_str_hash(f->key[i]);
    }
    return true;
}

static void py_fixture_release(py_fixture *f)
{
    for (int i = 0; i < ITEMS; i++) {
        Py_CLEAR(f->key[i]);
        Py_CLEAR(f->value[i]);
    }
}

static bool py_fixture_make(py_fixture *f)
{
    char buf[32];
    for (int i = 0; i < ITEMS; i++) {
        key_text(buf, sizeof buf, i);
        f->key[i] = PyUnicode_FromString(buf);
        f->value[i] = PyLong_FromLong(VALUE_BASE + i);
        if (!f->key[i] || !f->value[i] || PyObject_Hash(f->key[i]) == -1) {
            py_fixture_release(f);
            PyErr_Clear();
            return false;
        }
    }
    return true;
}

/* ---------------------------------------------------------------- the two APIs */

/* Every function returns new references, or -1 / NULL on failure. */
static inline void *weft_list_make(void)
{
    return weft_list_new(0);
}
static inline int weft_append(void *l, void *o)
{
    return weft_list_append(l, o);
}
static inline void *weft_get(void *l, size_t i)
{
    return weft_list_get(l, i);
}
static inline void *weft_dict_make(void)
{
    return weft_dict_new();
}
static inline int weft_set(void *d, void *k, void *v)
{
    return weft_dict_set(d, k, v);
}
static inline void *weft_lookup(void *d, void *k)
{
    return weft_dict_get(d, k);
}
static inline void weft_drop(void *o)
{
    weft_decref(o);
}
static inline void weft_quiesce(void)
{
    weft_safepoint();
}

static inline void *py_list_make(void)
{
    return PyList_New(0);
}
static inline int py_append(void *l, void *o)
{
    return PyList_Append(l, o);
}
static inline void *py_get(void *l, size_t i)
{
    PyObject *o = PyList_GetItem(l, (Py_ssize_t)i); /* borrowed */
    Py_XINCREF(o);
    return o;
}
static inline void *py_dict_make(void)
{
    return PyDict_New();
}
static inline int py_set(void *d, void *k, void *v)
{
    return PyDict_SetItem(d, k, v);
}
static inline void *py_lookup(void *d, void *k)
{
    PyObject *o = PyDict_GetItem(d, k); /* borrowed */
    Py_XINCREF(o);
    return o;
}
static inline void py_drop(void *o)
{
    Py_DECREF((PyObject *)o);
}
static inline void py_quiesce(void)
{
}

typedef void *(*make_fn)(void);
typedef int (*insert_fn)(void *c, void *o);
typedef void *(*index_fn)(void *c, size_t i);
typedef int (*set_fn)(void *c, void *k, void *v);
typedef void *(*lookup_fn)(void *c, void *k);
typedef void (*drop_fn)(void *o);
typedef void (*quiesce_fn)(void);

/* ---------------------------------------------------------------- checks */

static const char *check_list(void *l, void *const *value, index_fn get, drop_fn drop)
{
    for (size_t i = 0; i < ITEMS; i++) {
        void *o = get(l, i);
        if (!o)
            return "list get of an index in range returned NULL";
        drop(o);
        if (o != value[i])
            return "list get returned another object than the one appended";
    }
    void *o = get(l, ITEMS);
    if (o) {
        drop(o);
        return "list get past the end returned an object";
    }
    return NULL;
}

static const char *check_dict(void *d, void *const *key, void *const *value, lookup_fn lookup,
                              drop_fn drop)
{
    for (size_t i = 0; i < ITEMS; i++) {
        void *o = lookup(d, key[i]);
        if (!o)
            return "dict get of a key set returned NULL";
        drop(o);
        if (o != value[i])
            return "dict get returned another value than the one set";
    }
    return NULL;
}

/* weft only: lookups with equal keys that are other objects, and a missing
 * key (CPython's dict is the reference, not the subject). */
static const char *check_weft_dict_equal_keys(weft_object *d)
{
    char buf[32];
    for (int i = 0; i < ITEMS; i += 37) {
        key_text(buf, sizeof buf, i);
        weft_object *k = weft_str_from_cstr(buf);
        if (!k)
            return "weft_str_from_cstr failed";
        weft_object *v = weft_dict_get(d, k);
        weft_decref(k);
        if (!v)
            return "weft_dict_get of an equal (not identical) key returned NULL";
        weft_decref(v);
        if (v != wfx.value[i])
            return "weft_dict_get of an equal key returned another value";
    }
    weft_object *missing = weft_str_from_cstr("key:missing");
    if (!missing)
        return "weft_str_from_cstr failed";
    weft_object *v = weft_dict_get(d, missing);
    weft_decref(missing);
    if (v) {
        weft_decref(v);
        return "weft_dict_get of a missing key returned a value";
    }
    weft_error_clear();
    if (weft_dict_len(d) != ITEMS)
        return "weft_dict_len is not the number of keys set";
    return NULL;
}

/* After every container holding them was dropped, the fixture holds the only
 * reference to each of its objects again. */
static const char *check_weft_counts_of(weft_fixture *f)
{
    for (int i = 0; i < ITEMS; i++)
        if (weft_refcount(f->value[i]) != 1 || weft_refcount(f->key[i]) != 1)
            return "a key or value's refcount is not back to 1 after its container was dropped";
    return NULL;
}

static const char *check_weft_counts(void)
{
    return check_weft_counts_of(&wfx);
}

static const char *check_py_counts(void)
{
    for (int i = 0; i < ITEMS; i++)
        if (Py_REFCNT(pfx.value[i]) != 1 || Py_REFCNT(pfx.key[i]) != 1)
            return "a key or value's refcount is not back to 1 after its container was dropped";
    return NULL;
}

/* ---------------------------------------------------------------- list_append, dict_set */

/* A container of all ITEMS items (dict: keyed), made one item at a time. */
BODY fill(bench_state *s, void *const *key, void *const *value, make_fn make, insert_fn append,
          set_fn set, void **out)
{
    void *c = make();
    if (!c) {
        *out = NULL;
        return;
    }
    for (int i = 0; i < ITEMS; i++) {
        int rc = append ? append(c, value[i]) : set(c, key[i], value[i]);
        if (__builtin_expect(rc != 0, 0)) {
            bench_escape(c);
            *out = NULL; /* c is leaked: the benchmark stops */
            return;
        }
    }
    *out = c;
}

BODY build_loop(bench_state *s, void *const *key, void *const *value, make_fn make,
                insert_fn append, set_fn set, drop_fn drop, quiesce_fn quiesce)
{
    while (bench_keep_running_batch(s, ITEMS)) {
        void *c;
        fill(s, key, value, make, append, set, &c);
        if (__builtin_expect(!c, 0)) {
            bench_skip(s, append ? "list append failed" : "dict set failed");
            return;
        }
        bench_escape(c);
        drop(c);
        quiesce();
    }
    bench_set_items(s, bench_iterations(s));
}

static void list_append_weft(bench_state *s)
{
    if (!weft_fixture_make(&wfx)) {
        bench_skip(s, "fixture creation failed");
        return;
    }
    void *l;
    fill(s, NULL, (void *const *)wfx.value, weft_list_make, weft_append, NULL, &l);
    const char *bad = l ? check_list(l, (void *const *)wfx.value, weft_get, weft_drop)
                        : "list append failed";
    if (l)
        weft_decref(l);
    if (!bad)
        bad = check_weft_counts();
    if (bad)
        bench_skip(s, bad);
    else
        build_loop(s, NULL, (void *const *)wfx.value, weft_list_make, weft_append, NULL,
                   weft_drop, weft_quiesce);
    weft_fixture_release(&wfx);
}

static void list_append_cpython(bench_state *s)
{
    if (!py_fixture_make(&pfx)) {
        bench_skip(s, "fixture creation failed");
        return;
    }
    void *l;
    fill(s, NULL, (void *const *)pfx.value, py_list_make, py_append, NULL, &l);
    const char *bad =
        l ? check_list(l, (void *const *)pfx.value, py_get, py_drop) : "list append failed";
    Py_XDECREF((PyObject *)l);
    if (!bad)
        bad = check_py_counts();
    if (bad)
        bench_skip(s, bad);
    else
        build_loop(s, NULL, (void *const *)pfx.value, py_list_make, py_append, NULL, py_drop,
                   py_quiesce);
    PyErr_Clear();
    py_fixture_release(&pfx);
}

static void dict_set_weft(bench_state *s)
{
    if (!weft_fixture_make(&wfx)) {
        bench_skip(s, "fixture creation failed");
        return;
    }
    void *d;
    fill(s, (void *const *)wfx.key, (void *const *)wfx.value, weft_dict_make, NULL, weft_set,
         &d);
    const char *bad = d ? check_dict(d, (void *const *)wfx.key, (void *const *)wfx.value,
                                     weft_lookup, weft_drop)
                        : "dict set failed";
    if (!bad)
        bad = check_weft_dict_equal_keys(d);
    if (d)
        weft_decref(d);
    if (!bad)
        bad = check_weft_counts();
    if (bad)
        bench_skip(s, bad);
    else
        build_loop(s, (void *const *)wfx.key, (void *const *)wfx.value, weft_dict_make, NULL,
                   weft_set, weft_drop, weft_quiesce);
    weft_fixture_release(&wfx);
}

static void dict_set_cpython(bench_state *s)
{
    if (!py_fixture_make(&pfx)) {
        bench_skip(s, "fixture creation failed");
        return;
    }
    void *d;
    fill(s, (void *const *)pfx.key, (void *const *)pfx.value, py_dict_make, NULL, py_set, &d);
    const char *bad = d ? check_dict(d, (void *const *)pfx.key, (void *const *)pfx.value,
                                     py_lookup, py_drop)
                        : "dict set failed";
    Py_XDECREF((PyObject *)d);
    if (!bad)
        bad = check_py_counts();
    if (bad)
        bench_skip(s, bad);
    else
        build_loop(s, (void *const *)pfx.key, (void *const *)pfx.value, py_dict_make, NULL,
                   py_set, py_drop, py_quiesce);
    PyErr_Clear();
    py_fixture_release(&pfx);
}

/* ---------------------------------------------------------------- list_get, dict_get */

/* Random gets on c: by index (get) or by key (lookup), each reference taken
 * and released; a safepoint (weft) every SAFEPOINT_EVERY gets. */
BODY get_loop(bench_state *s, void *c, void *const *key, index_fn get, lookup_fn lookup,
              drop_fn drop, quiesce_fn quiesce)
{
    const uint16_t *index = rand_table[bench_thread_index(s)].index;
    unsigned n = 0;
    while (bench_keep_running_batch(s, GET_BATCH)) {
        for (int i = 0; i < GET_BATCH; i++, n++) {
            unsigned at = index[n & (RAND_SLOTS - 1)];
            void *o = get ? get(c, at) : lookup(c, key[at]);
            if (__builtin_expect(!o, 0)) {
                bench_skip(s, get ? "list get returned NULL" : "dict get returned NULL");
                return;
            }
            bench_escape(o);
            drop(o);
        }
        if (n % SAFEPOINT_EVERY == 0)
            quiesce();
    }
    bench_set_items(s, bench_iterations(s));
}

static void list_get_weft(bench_state *s)
{
    if (!weft_fixture_make(&wfx)) {
        bench_skip(s, "fixture creation failed");
        return;
    }
    void *l;
    fill(s, NULL, (void *const *)wfx.value, weft_list_make, weft_append, NULL, &l);
    const char *bad = l ? check_list(l, (void *const *)wfx.value, weft_get, weft_drop)
                        : "list append failed";
    if (bad)
        bench_skip(s, bad);
    else
        get_loop(s, l, NULL, weft_get, NULL, weft_drop, weft_quiesce);
    if (l)
        weft_decref(l);
    weft_fixture_release(&wfx);
}

static void list_get_cpython(bench_state *s)
{
    if (!py_fixture_make(&pfx)) {
        bench_skip(s, "fixture creation failed");
        return;
    }
    void *l;
    fill(s, NULL, (void *const *)pfx.value, py_list_make, py_append, NULL, &l);
    const char *bad =
        l ? check_list(l, (void *const *)pfx.value, py_get, py_drop) : "list append failed";
    if (bad)
        bench_skip(s, bad);
    else
        get_loop(s, l, NULL, py_get, NULL, py_drop, py_quiesce);
    Py_XDECREF((PyObject *)l);
    PyErr_Clear();
    py_fixture_release(&pfx);
}

static void dict_get_weft(bench_state *s)
{
    if (!weft_fixture_make(&wfx)) {
        bench_skip(s, "fixture creation failed");
        return;
    }
    void *d;
    fill(s, (void *const *)wfx.key, (void *const *)wfx.value, weft_dict_make, NULL, weft_set,
         &d);
    const char *bad = d ? check_dict(d, (void *const *)wfx.key, (void *const *)wfx.value,
                                     weft_lookup, weft_drop)
                        : "dict set failed";
    if (!bad)
        bad = check_weft_dict_equal_keys(d);
    if (bad)
        bench_skip(s, bad);
    else
        get_loop(s, d, (void *const *)wfx.key, NULL, weft_lookup, weft_drop, weft_quiesce);
    if (d)
        weft_decref(d);
    weft_fixture_release(&wfx);
}

static void dict_get_cpython(bench_state *s)
{
    if (!py_fixture_make(&pfx)) {
        bench_skip(s, "fixture creation failed");
        return;
    }
    void *d;
    fill(s, (void *const *)pfx.key, (void *const *)pfx.value, py_dict_make, NULL, py_set, &d);
    const char *bad = d ? check_dict(d, (void *const *)pfx.key, (void *const *)pfx.value,
                                     py_lookup, py_drop)
                        : "dict set failed";
    if (bad)
        bench_skip(s, bad);
    else
        get_loop(s, d, (void *const *)pfx.key, NULL, py_lookup, py_drop, py_quiesce);
    Py_XDECREF((PyObject *)d);
    PyErr_Clear();
    py_fixture_release(&pfx);
}

/* ---------------------------------------------------------------- dict_get_shared */

/* Thread 0 builds the dict (and its keys and values) before its first
 * bench_weft_keep_running, and the others read the pointer after theirs: the
 * harness's start barrier orders the two. Thread 0 releases everything after
 * the stop barrier, when every thread is done reading. (weft_threads.h: the
 * barriers are waited at inside blocking regions, so that a stop of the
 * world never waits for a thread there.) */
static _Atomic(weft_object *) shared_dict;

/* A dict of f's keys and values, built, checked and published in
 * *slot (NULL on failure); NULL, or what went wrong. */
static const char *dict_build(bench_state *s, weft_fixture *f, _Atomic(weft_object *) *slot)
{
    void *d = NULL;
    if (!weft_fixture_make(f))
        return "fixture creation failed";
    fill(s, (void *const *)f->key, (void *const *)f->value, weft_dict_make, NULL, weft_set, &d);
    const char *bad = d ? check_dict(d, (void *const *)f->key, (void *const *)f->value,
                                     weft_lookup, weft_drop)
                        : "dict set failed";
    atomic_store_explicit(slot, bad ? NULL : d, memory_order_release);
    if (bad && d)
        weft_decref(d);
    return bad;
}

/* Unpublish and release the dict in *slot: was there one? */
static bool dict_drop(_Atomic(weft_object *) *slot)
{
    weft_object *d = atomic_exchange(slot, NULL);
    if (d)
        weft_decref(d);
    return d != NULL;
}

/* The timed loop of one thread, on the dict *slot holds once the harness
 * has started and keyed by key[]; NULL, or what went wrong. */
static const char *timed_gets(bench_state *s, _Atomic(weft_object *) *slot,
                              weft_object *const *key)
{
    weft_object *d = NULL;
    const uint16_t *index = rand_table[bench_thread_index(s)].index;
    unsigned n = 0;
    while (bench_weft_keep_running(s, GET_BATCH)) {
        if (__builtin_expect(!d, 0)) {
            d = atomic_load_explicit(slot, memory_order_acquire);
            if (!d)
                return "no dict (the thread building it failed)";
        }
        for (int i = 0; i < GET_BATCH; i++, n++) {
            weft_object *v = weft_dict_get(d, key[index[n & (RAND_SLOTS - 1)]]);
            if (__builtin_expect(!v, 0))
                return "dict get returned NULL";
            bench_escape(v);
            weft_decref(v);
        }
        if (n % SAFEPOINT_EVERY == 0)
            weft_safepoint();
    }
    bench_set_items(s, bench_iterations(s));
    return NULL;
}

static void dict_get_shared_weft(bench_state *s)
{
    bool attached_here = false, builder = bench_thread_index(s) == 0;
    const char *bad = NULL;
    if (bench_threads(s) > MAX_THREADS)
        bad = "too many threads for dict_get_shared";
    else if (!bench_weft_enter(s, &attached_here))
        bad = "weft_thread_attach failed";
    else if (builder)
        bad = dict_build(s, &wfx, &shared_dict);
    /* A failure on thread 0 is seen by the others as a NULL dict after the
     * start barrier: each then stops at its first batch. */
    if (!bad)
        bad = timed_gets(s, &shared_dict, wfx.key);
    if (bad)
        bench_weft_skip(s, bad);
    if (builder) {
        if (dict_drop(&shared_dict)) {
            const char *counts = check_weft_counts();
            if (counts && !bad)
                fprintf(stderr, "dict_get_shared/weft: %s\n", counts);
        }
        weft_fixture_release(&wfx);
    }
    bench_weft_leave(s, attached_here);
}

/* ---------------------------------------------------------------- dict_get_blocked_owner */

/* dict_get_shared with the dict built by a thread of its own that reads
 * nothing: it then waits, attached, in a blocking region until the readers
 * are done, as a server's main thread waits in accept or join while workers
 * read what it built. Its values are buffered by merges the readers make on
 * its behalf, so every reader counts in its own table (threads:1 included);
 * the scaling is that of the buffered path alone. */
static struct {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool built, release; /* lock */
    const char *bad;     /* lock: what went wrong building */
} owner_thread = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
static weft_fixture owner_fx;
static _Atomic(weft_object *) owner_dict;

static void owner_thread_wait_for(bool *flag)
{
    bool waiting = bench_weft_wait_begin();
    pthread_mutex_lock(&owner_thread.lock);
    while (!*flag)
        pthread_cond_wait(&owner_thread.cond, &owner_thread.lock);
    pthread_mutex_unlock(&owner_thread.lock);
    bench_weft_wait_end(waiting);
}

static void owner_thread_signal(bool *flag)
{
    pthread_mutex_lock(&owner_thread.lock);
    *flag = true;
    pthread_cond_broadcast(&owner_thread.cond);
    pthread_mutex_unlock(&owner_thread.lock);
}

static void *owner_thread_main(void *arg)
{
    bench_state *s = arg;
    bool attached = weft_thread_attach() == 0;
    const char *bad = attached ? dict_build(s, &owner_fx, &owner_dict) : "weft_thread_attach failed";
    owner_thread.bad = bad; /* read after `built`, which the lock orders */
    owner_thread_signal(&owner_thread.built);
    owner_thread_wait_for(&owner_thread.release);
    if (attached) {
        if (dict_drop(&owner_dict)) {
            const char *counts = check_weft_counts_of(&owner_fx);
            if (counts)
                fprintf(stderr, "dict_get_blocked_owner/weft: %s\n", counts);
        }
        weft_fixture_release(&owner_fx);
        weft_thread_detach();
    }
    return NULL;
}

/* Thread 0 starts the owner before its first bench_weft_keep_running (the
 * others read the dict after theirs) and, if *started, stops it after its
 * last. */
static const char *owner_thread_start(bench_state *s, bool *started)
{
    owner_thread.built = owner_thread.release = false;
    owner_thread.bad = NULL;
    *started = pthread_create(&owner_thread.thread, NULL, owner_thread_main, s) == 0;
    if (!*started)
        return "pthread_create failed";
    owner_thread_wait_for(&owner_thread.built);
    return owner_thread.bad;
}

static void owner_thread_stop(void)
{
    owner_thread_signal(&owner_thread.release);
    bool waiting = bench_weft_wait_begin();
    pthread_join(owner_thread.thread, NULL);
    bench_weft_wait_end(waiting);
}

static void dict_get_blocked_owner_weft(bench_state *s)
{
    bool attached_here = false, starter = bench_thread_index(s) == 0, started = false;
    const char *bad = NULL;
    if (bench_threads(s) > MAX_THREADS)
        bad = "too many threads for dict_get_blocked_owner";
    else if (!bench_weft_enter(s, &attached_here))
        bad = "weft_thread_attach failed";
    else if (starter)
        bad = owner_thread_start(s, &started);
    if (!bad)
        bad = timed_gets(s, &owner_dict, owner_fx.key);
    if (bad)
        bench_weft_skip(s, bad);
    if (started)
        owner_thread_stop();
    bench_weft_leave(s, attached_here);
}

/* ---------------------------------------------------------------- dict_get_private */

/* The control of dict_get_shared: the same gets, each thread on a dict of
 * its own (its own keys and values too), so that nothing is shared. Its
 * scaling is what this machine gives the same code at that moment (two
 * virtual CPUs need not run at once); dict_get_shared's scaling is to be
 * read against it (report.py prints both). */
static weft_fixture private_fx[MAX_THREADS];
static _Atomic(weft_object *) private_dict[MAX_THREADS];

static void dict_get_private_weft(bench_state *s)
{
    bool attached_here = false, entered = false;
    int t = bench_thread_index(s);
    const char *bad = NULL;
    if (bench_threads(s) > MAX_THREADS)
        bad = "too many threads for dict_get_private";
    else if (!(entered = bench_weft_enter(s, &attached_here)))
        bad = "weft_thread_attach failed";
    else
        bad = dict_build(s, &private_fx[t], &private_dict[t]);
    if (!bad)
        bad = timed_gets(s, &private_dict[t], private_fx[t].key);
    if (bad)
        bench_weft_skip(s, bad);
    if (entered) {
        dict_drop(&private_dict[t]);
        weft_fixture_release(&private_fx[t]);
    }
    bench_weft_leave(s, attached_here);
}

/* ---------------------------------------------------------------- mem_empty_lists */

/* Resident memory of the process, from /proc/self/statm (read without
 * allocating). */
static double rss_mib(void)
{
    char buf[256];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t len = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (len <= 0)
        return -1;
    buf[len] = '\0';
    unsigned long size, resident;
    if (sscanf(buf, "%lu %lu", &size, &resident) != 2)
        return -1;
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / MIB;
}

/* Give back what earlier benchmarks left cached, so that the lists start from
 * a heap without free resident pools: weft keeps emptied pools per thread
 * and retires object pools after a grace period. pymalloc unmaps an arena as
 * soon as it is empty, and has no trim call. */
static void weft_trim(void)
{
    weft_heap_trim();
    weft_safepoint();
    weft_defer_barrier();
}

static void py_trim(void)
{
}

/* weft's pools in use and arenas mapped, from the heap's own figures (the
 * pools give pool_bytes_per_list; arenas mapped at the start say whether the
 * heap was fresh: run alone, as bench/run.sh does, it holds none). */
typedef struct heap_figures {
    size_t pools, arenas;
} heap_figures;

static heap_figures weft_figures(void)
{
    weft_heap_stats st;
    weft_heap_get_stats(&st);
    return (heap_figures){st.pools_in_use, st.arenas_mapped};
}

static heap_figures py_figures(void)
{
    return (heap_figures){0, 0};
}

#define POOL_BYTES 16384 /* weft's pool size (DESIGN.md, section 6) */

BODY mem_empty_lists(bench_state *s, make_fn make, drop_fn drop, void (*trim)(void),
                     heap_figures (*figures)(void), bool has_heap)
{
    size_t bytes = EMPTY_LISTS * sizeof(void *);
    void **live = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (live == MAP_FAILED) {
        bench_skip(s, "mmap of the list table failed");
        return;
    }
    double start = 0, peak = 0, after_free = 0;
    heap_figures at_start = {0, 0}, at_peak = {0, 0};
    size_t n = 0;
    const char *error = NULL;
    while (bench_keep_running(s)) {
        bench_pause(s);
        trim();
        at_start = figures();
        start = rss_mib();
        bench_resume(s);
        for (n = 0; n < EMPTY_LISTS; n++) {
            live[n] = make();
            if (!live[n]) {
                error = "list creation failed";
                break;
            }
        }
        bench_pause(s);
        peak = rss_mib();
        at_peak = figures();
        bench_resume(s);
        for (size_t i = 0; i < n; i++)
            drop(live[i]);
        bench_pause(s);
        after_free = rss_mib();
        bench_resume(s);
        if (error)
            break;
    }
    munmap(live, bytes);
    if (error) {
        PyErr_Clear();
        bench_skip(s, error);
        return;
    }
    bench_set_items(s, (int64_t)n);
    bench_counter(s, "rss_mib", peak - start);
    bench_counter(s, "bytes_per_list", (peak - start) * MIB / (double)n);
    bench_counter(s, "rss_after_free_mib", after_free - start);
    if (has_heap) {
        bench_counter(s, "pool_bytes_per_list",
                      (double)(at_peak.pools - at_start.pools) * POOL_BYTES / (double)n);
        bench_counter(s, "arenas_at_start", (double)at_start.arenas);
    }
}

static void mem_empty_lists_weft(bench_state *s)
{
    mem_empty_lists(s, weft_list_make, weft_drop, weft_trim, weft_figures, true);
}

static void mem_empty_lists_cpython(bench_state *s)
{
    mem_empty_lists(s, py_list_make, py_drop, py_trim, py_figures, false);
}

/* ---------------------------------------------------------------- setup */

static void container_setup(void)
{
    Py_InitializeEx(0); /* a no-op if another suite did it */
    if (!weft_is_initialized() && weft_init(NULL) != 0) {
        fprintf(stderr, "weft-bench: weft_init failed: %s\n", weft_error_message());
        exit(1);
    }
    draw_tables();
}

static void container_teardown(void)
{
    if (weft_is_initialized() && weft_thread_is_attached()) {
        long live = weft_shutdown();
        if (live > 0)
            fprintf(stderr, "weft-bench: %ld weft object(s) still alive at shutdown\n", live);
    }
}

/* ---------------------------------------------------------------- the table */

static const bench_def container_defs[] = {
    BENCH("list_append/weft", list_append_weft),
    BENCH("list_append/cpython", list_append_cpython),
    BENCH("list_get/weft", list_get_weft),
    BENCH("list_get/cpython", list_get_cpython),
    BENCH("dict_set/weft", dict_set_weft),
    BENCH("dict_set/cpython", dict_set_cpython),
    BENCH("dict_get/weft", dict_get_weft),
    BENCH("dict_get/cpython", dict_get_cpython),

    BENCH("dict_get_shared/weft", dict_get_shared_weft, .threads = 1, .real_time = true),
    BENCH("dict_get_shared/weft", dict_get_shared_weft, .threads = 2, .real_time = true),
    BENCH("dict_get_blocked_owner/weft", dict_get_blocked_owner_weft, .threads = 1,
          .real_time = true),
    BENCH("dict_get_blocked_owner/weft", dict_get_blocked_owner_weft, .threads = 2,
          .real_time = true),
    BENCH("dict_get_private/weft", dict_get_private_weft, .threads = 1, .real_time = true),
    BENCH("dict_get_private/weft", dict_get_private_weft, .threads = 2, .real_time = true),

    BENCH("mem_empty_lists/weft", mem_empty_lists_weft, .iterations = 1, .unit = BENCH_MS),
    BENCH("mem_empty_lists/cpython", mem_empty_lists_cpython, .iterations = 1,
          .unit = BENCH_MS),

    BENCH_END,
};

const bench_suite bench_suite_container = {
    .name = "container",
    .setup = container_setup,
    .teardown = container_teardown,
    .defs = container_defs,
};
