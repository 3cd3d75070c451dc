/* lib/gc.c: the cycle collector's algorithm, statistics and API
 * (docs/collector.md).
 *
 * A collection of generations 0..g:
 *   1. stop the world; merge every queued refcount (objects found dead are
 *      freed after the world resumes);
 *   2. candidates: tracked, unfrozen objects of pools (and registered
 *      objects) of age <= g, with a count above zero;
 *   3. in the same pass, each reference a candidate holds takes one from
 *      its referent's scratch refs (which start at 0);
 *   4. candidates whose refs + count > 0 are referenced from outside: they
 *      and all they reach survive (one sweep in walk order); the rest is
 *      unreachable (U);
 *   5. weakrefs to U are cleared, with the callbacks of surviving weakrefs
 *      set aside; survivors age; the world resumes; U is held (one
 *      reference each: no other thread can reach it any more);
 *   6. callbacks run; finalizers of U run once (PEP 442); if any ran, the
 *      world stops again briefly and U is checked for resurrection;
 *   7. `clear` breaks U's cycles; the holds are released and U dies.
 * Nothing is written into an object that is not collected, except by the
 * explicit freeze, track and untrack calls.
 */
#include "gc_internal.h"
#include "builtins.h"
#include "error.h"
#include "heap.h"
#include "object_internal.h"
#include "threads/stw.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <weft/weft.h>

/* ---------------------------------------------------------------- state */

#define PAUSE_SAMPLES 1024

typedef struct gen_state {
    uint64_t collections, collected, uncollectable;
    uint64_t pause[PAUSE_SAMPLES], safepoint[PAUSE_SAMPLES];
    unsigned nsamples;
} gen_state;

static pthread_mutex_t gc_lock = PTHREAD_MUTEX_INITIALIZER; /* stats, callbacks, garbage */
static gen_state gens[WEFT_GC_GENERATIONS];
static unsigned debug_flags;
static weft_object *garbage; /* a list, created on first use; gc_lock */

typedef struct callback_entry {
    weft_gc_callback cb;
    void *arg;
} callback_entry;
#define MAX_CALLBACKS 16
static callback_entry callbacks[MAX_CALLBACKS];
static unsigned ncallbacks;

static WEFT_ATOMIC(size_t) frozen_count;

/* ---------------------------------------------------------------- a growable array */

typedef struct objvec {
    weft_object **items;
    size_t n, cap;
} objvec;

static bool objvec_push(objvec *v, weft_object *o)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 1024;
        weft_object **grown = realloc(v->items, cap * sizeof *grown);
        if (!grown)
            return false;
        v->items = grown;
        v->cap = cap;
    }
    v->items[v->n++] = o;
    return true;
}

static void objvec_free(objvec *v)
{
    free(v->items);
    v->items = NULL;
    v->n = v->cap = 0;
}

/* ---------------------------------------------------------------- trial deletion */

typedef struct collection {
    size_t ncandidates;
    size_t weakly_referenced; /* candidates with the WEAKREFS flag, or weakrefs */
    objvec worklist;
    bool out_of_memory;
    /* The marking sweep's position in the walk's side tables, which lie in
     * one region in sweep order: a slot above the cursor and below the
     * region's end is still to be swept. */
    const gc_slot *cursor, *region_start, *region_end;
    /* Sweeps left after this one: while there are, a reachable child behind
     * the cursor is only marked, for the next sweep (`behind` says one was),
     * rather than pushed on the worklist. */
    unsigned sweeps_left;
    bool behind;
} collection;

typedef void (*slot_fn)(weft_object *o, gc_slot *slot, void *arg);

/* fn on every object of the walk whose slot is in `state`, in walk order.
 * The candidates are found through the side tables each pass rather than
 * listed: a list would cost 16 bytes per candidate (object and slot) on top
 * of the tables' 8, at the moment the heap is largest. Inlined so that `fn`
 * is a direct call. */
static inline __attribute__((always_inline)) void
for_each_pooled_in_state(gc_heap_walk *w, uint32_t state, slot_fn fn, void *arg)
{
    for (size_t i = 0; i < w->npools; i++) {
        gc_pool_view p = _weft_gc_walk_pool(w, i);
        for (unsigned b = 0; b < p.nblocks; b++)
            if (p.slots[b].state == state)
                fn((weft_object *)(p.data + b * p.block_size), &p.slots[b], arg);
    }
}

static inline __attribute__((always_inline)) void
for_each_in_state(gc_heap_walk *w, uint32_t state, slot_fn fn, void *arg)
{
    for_each_pooled_in_state(w, state, fn, arg);
    _weft_gc_walk_registered(w, state, fn, arg);
}

/* A visitor of the collection's own traversal: `times` references to child
 * (runs of one referent are combined). */
typedef void (*run_visit_fn)(weft_object *child, int32_t times, void *arg);

/* Items, combining runs of one referent: each visit updates its referent's
 * slot, and back-to-back updates of one slot would chain through memory at
 * several cycles each (a list holding one object many times; pyperformance's
 * gc_traversal is made of such lists). */
#define VISIT_ITEMS(count, item_at, visit, arg)                                                \
    do {                                                                                       \
        weft_object *run_ = NULL;                                                              \
        int32_t times_ = 0;                                                                    \
        for (size_t i_ = 0; i_ < (count); i_++) {                                              \
            weft_object *child_ = (item_at);                                                   \
            if (child_ == run_ && times_ < INT32_MAX) {                                        \
                times_++;                                                                      \
                continue;                                                                      \
            }                                                                                  \
            if (run_)                                                                          \
                visit(run_, times_, arg);                                                      \
            run_ = child_;                                                                     \
            times_ = 1;                                                                        \
        }                                                                                      \
        if (run_)                                                                              \
            visit(run_, times_, arg);                                                          \
    } while (0)

/* o's references, each passed to visit: lists and tuples inline (their
 * items are most of a heap's references, and an indirect call per item was
 * most of the cost of a visit), any other type through its traverse hook
 * (`hook`, the same visitor with weft_visit_fn's signature). Inlined, so
 * that `visit` is a direct call too. */
static inline __attribute__((always_inline)) void
traverse(weft_object *o, run_visit_fn visit, weft_visit_fn hook, void *arg)
{
    const weft_type *type = o->type;
    if (type == &weft_list_type) {
        size_t n;
        WEFT_ATOMIC(weft_object *) *items = _weft_list_items(o, &n);
        VISIT_ITEMS(n, weft_load_relaxed(&items[i_]), visit, arg);
    } else if (type == &weft_tuple_type) {
        weft_tuple *t = (weft_tuple *)o;
        VISIT_ITEMS(t->size, t->items[i_], visit, arg);
    } else if (type->traverse) {
        type->traverse(o, hook, arg);
    }
}

/* A tracked object whose count is zero is dying by reference counting: a
 * merge that found it dead is still to free it (a finalizer that a merge
 * runs can reach a safepoint in the middle of its batch). It is left to that
 * path, as in a runtime that frees at once: collecting it would clear the
 * weakrefs of everything it holds before its finalizer runs, though the
 * finalizer may resurrect it. What it holds counts as referenced from
 * outside. */
static long candidate_count(weft_object *o)
{
    uint32_t flags = weft_load_relaxed(&o->flags);
    if (!(flags & WEFT_OBJ_GC_TRACKED) || (flags & WEFT_OBJ_FROZEN))
        return 0;
    long count = _weft_refcount_inline(o);
    return count > INT32_MAX ? INT32_MAX : count;
}

/* A slot's refs counts down, from 0, the references its object receives from
 * candidates: every object of the walk gets them, candidate or not (a
 * non-candidate's refs are never read). A candidate adds its true count when
 * it is found, before or after its referrers, so that in the end its refs
 * are the references from outside the candidates. */
static inline __attribute__((always_inline)) void count_internal(weft_object *child,
                                                                 int32_t times, void *arg)
{
    gc_slot *s = _weft_gc_slot_of(child);
    if (s)
        s->refs -= times;
}

static int count_internal_hook(weft_object *child, void *arg)
{
    if (child)
        count_internal(child, 1, arg);
    return 0;
}

/* A candidate: marked, its count added and its references counted. */
static inline __attribute__((always_inline)) void take_candidate(collection *c, weft_object *o,
                                                                 gc_slot *slot, long count)
{
    slot->refs += (int32_t)count;
    slot->state = GC_SLOT_CANDIDATE;
    c->ncandidates++;
    traverse(o, count_internal, count_internal_hook, c);
}

/* Steps 2 and 3 in one pass over the objects (header and body are read
 * together). */
static void add_candidate(weft_object *o, gc_slot *slot, void *arg)
{
    collection *c = arg;
    long count = candidate_count(o);
    if (count <= 0)
        return;
    if ((weft_load_relaxed(&o->flags) & WEFT_OBJ_WEAKREFS) || o->type == &weft_weakref_type)
        c->weakly_referenced++;
    take_candidate(c, o, slot, count);
}

/* A reachable candidate's child is reachable. One the sweep has still to
 * pass is only marked (the sweep traverses it then). One behind it is marked
 * for the next sweep while another is allowed, else pushed and traversed
 * now. Most references in a heap built in allocation order point ahead, so
 * most objects never enter the worklist; where the walk order is not the
 * allocation order (pools reused, a root found late), a further sweep
 * traverses them in table order rather than the worklist in a random one. */
static inline __attribute__((always_inline)) void reach(weft_object *child, int32_t times,
                                                        void *arg)
{
    collection *c = arg;
    gc_slot *s = _weft_gc_slot_of(child);
    if (s && s->state == GC_SLOT_CANDIDATE) {
        if (s < c->region_end && (s > c->cursor || (c->sweeps_left && s >= c->region_start))) {
            c->behind |= s <= c->cursor;
            s->state = GC_SLOT_REACHABLE_AHEAD;
            return;
        }
        s->state = GC_SLOT_REACHABLE;
        if (!objvec_push(&c->worklist, child))
            c->out_of_memory = true;
    }
}

static int reach_hook(weft_object *child, void *arg)
{
    if (child)
        reach(child, 1, arg);
    return 0;
}

/* The sweep at o: a candidate referenced from outside the candidates, or one
 * an earlier object reached, survives, with everything it reaches. */
static void sweep_reachable(collection *c, weft_object *o, gc_slot *slot)
{
    c->cursor = slot;
    if (slot->state == GC_SLOT_CANDIDATE && slot->refs <= 0)
        return;
    slot->state = GC_SLOT_REACHABLE;
    traverse(o, reach, reach_hook, c);
    while (c->worklist.n) {
        weft_object *next = c->worklist.items[--c->worklist.n];
        traverse(next, reach, reach_hook, c);
    }
}

static void sweep_registered(weft_object *o, gc_slot *slot, void *arg)
{
    sweep_reachable(arg, o, slot);
}

/* At most this many sweeps: each reads every slot, and a chain of objects
 * each behind the one before could otherwise take a sweep per link. The
 * last one pushes what lies behind it. */
#define MARK_SWEEPS_MAX 3

/* Step 4 in sweeps over the side tables, until one marks nothing behind
 * itself (registered objects, whose slots lie outside the region, are always
 * pushed and so never AHEAD). */
static void mark_reachable(collection *c, gc_heap_walk *w)
{
    c->region_start = w->npools ? (const gc_slot *)w->region : NULL;
    c->region_end = w->npools ? (const gc_slot *)(w->region + w->region_used) : NULL;
    c->sweeps_left = MARK_SWEEPS_MAX - 1;
    do {
        c->behind = false;
        for (size_t i = 0; i < w->npools; i++) {
            gc_pool_view p = _weft_gc_walk_pool(w, i);
            for (unsigned b = 0; b < p.nblocks; b++) {
                /* A candidate referenced from outside, or one marked: the
                 * test inline, for most slots are neither. */
                uint32_t state = p.slots[b].state;
                if (state == GC_SLOT_REACHABLE_AHEAD ||
                    (state == GC_SLOT_CANDIDATE && p.slots[b].refs > 0))
                    sweep_reachable(c, (weft_object *)(p.data + b * p.block_size),
                                    &p.slots[b]);
            }
        }
    } while (c->behind && c->sweeps_left-- > 0);
    c->cursor = c->region_start = c->region_end = NULL;
    c->sweeps_left = 0;
    _weft_gc_walk_registered(w, GC_SLOT_CANDIDATE, sweep_registered, c);
}

/* Steps 2-4: candidates end REACHABLE or stay CANDIDATE (unreachable). */
static void trial_deletion(collection *c, gc_heap_walk *w)
{
    _weft_gc_walk_objects(w, add_candidate, c);
    mark_reachable(c, w);
}

/* ---------------------------------------------------------------- what holds the leaks */

/* Every live mortal object is a candidate, tracked or not. */
static void add_any_candidate(weft_object *o, gc_slot *slot, void *arg)
{
    long count = _weft_refcount_inline(o);
    if (!weft_is_immortal(o))
        take_candidate(arg, o, slot, count > INT32_MAX ? INT32_MAX : count);
}

typedef struct root_report {
    FILE *out;
    size_t show, roots;
} root_report;

static void report_root(weft_object *o, gc_slot *slot, void *arg)
{
    root_report *r = arg;
    if (slot->refs <= 0 || r->roots++ >= r->show)
        return;
    int32_t shared = weft_load_relaxed(&o->ref_shared);
    fprintf(r->out,
            "weft:   root %p %s: %d unexplained of count %ld (owner %u, local %u, "
            "shared %d, state %d, flags %#x)\n",
            (void *)o, _weft_type_name(o), slot->refs, weft_refcount(o),
            weft_load_relaxed(&o->owner), weft_load_relaxed(&o->ref_local),
            shared >> WEFT_SHARED_SHIFT, shared & 3, weft_load_relaxed(&o->flags));
}

/* Nothing attached (shutdown): print the live objects whose count is more
 * than the references from other live objects - what something outside the
 * heap (or a lost reference) keeps alive; everything else alive hangs from
 * them. Returns how many there are. */
size_t _weft_gc_report_roots(FILE *out, size_t show)
{
    gc_heap_walk w;
    if (_weft_gc_walk_begin(&w, 2) != 0)
        return 0;
    collection c = {0};
    root_report r = {out, show, 0};
    _weft_gc_walk_objects(&w, add_any_candidate, &c);
    for_each_in_state(&w, GC_SLOT_CANDIDATE, report_root, &r);
    if (r.roots > show)
        fprintf(out, "weft:   ... and %zu more roots\n", r.roots - show);
    _weft_gc_walk_end(&w, false);
    objvec_free(&c.worklist);
    return r.roots;
}

/* ---------------------------------------------------------------- resurrection check */

/* A small open-addressing set of U for the second, short stop (the side
 * tables are gone by then). */
typedef struct uset {
    weft_object **keys;
    int32_t *refs;
    uint8_t *reached;
    size_t mask;
} uset;

static size_t uset_find(const uset *s, const weft_object *o)
{
    size_t i = ((uintptr_t)o >> 4) * 0x9E3779B97F4A7C15ull & s->mask;
    while (s->keys[i] && s->keys[i] != o)
        i = (i + 1) & s->mask;
    return i;
}

static int uset_visit_subtract(weft_object *child, void *arg)
{
    uset *s = arg;
    size_t i = uset_find(s, child);
    if (s->keys[i])
        s->refs[i]--;
    return 0;
}

typedef struct uset_walk {
    uset *set;
    objvec *stack;
} uset_walk;

static int uset_visit_reach(weft_object *child, void *arg)
{
    uset_walk *uw = arg;
    size_t i = uset_find(uw->set, child);
    if (uw->set->keys[i] && !uw->set->reached[i]) {
        uw->set->reached[i] = 1;
        objvec_push(uw->stack, child);
    }
    return 0;
}

/* World stopped. Removes from U (dropping our hold, after the world resumes,
 * through `resurrected`) every object a finalizer made reachable again. */
static void find_resurrected(objvec *u, objvec *resurrected)
{
    size_t size = 16;
    while (size < u->n * 2)
        size *= 2;
    uset s = {calloc(size, sizeof(weft_object *)), calloc(size, sizeof(int32_t)),
              calloc(size, 1), size - 1};
    if (!s.keys || !s.refs || !s.reached) {
        /* No memory: treat all of U as resurrected (safe: nothing freed). */
        for (size_t i = 0; i < u->n; i++)
            objvec_push(resurrected, u->items[i]);
        u->n = 0;
        goto out;
    }
    for (size_t i = 0; i < u->n; i++) {
        size_t k = uset_find(&s, u->items[i]);
        s.keys[k] = u->items[i];
        /* The stop flushed every pin: the header count is exact (and
         * weft_refcount's rounding for buffered objects is not needed). */
        long count = _weft_refcount_inline(u->items[i]) - 1; /* minus our hold */
        s.refs[k] = count > INT32_MAX ? INT32_MAX : (int32_t)count;
    }
    for (size_t i = 0; i < u->n; i++)
        u->items[i]->type->traverse(u->items[i], uset_visit_subtract, &s);
    objvec stack = {0};
    uset_walk uw = {&s, &stack};
    for (size_t i = 0; i < u->n; i++) {
        size_t k = uset_find(&s, u->items[i]);
        if (s.refs[k] > 0 && !s.reached[k]) {
            s.reached[k] = 1;
            objvec_push(&stack, u->items[i]);
        }
    }
    while (stack.n) {
        weft_object *o = stack.items[--stack.n];
        o->type->traverse(o, uset_visit_reach, &uw);
    }
    objvec_free(&stack);
    size_t kept = 0;
    for (size_t i = 0; i < u->n; i++) {
        if (s.reached[uset_find(&s, u->items[i])])
            objvec_push(resurrected, u->items[i]);
        else
            u->items[kept++] = u->items[i];
    }
    u->n = kept;
out:
    free(s.keys);
    free(s.refs);
    free(s.reached);
}

/* ---------------------------------------------------------------- statistics */

static void record_pause(int gen, const weft_stw_times *t)
{
    gen_state *g = &gens[gen];
    unsigned i = g->nsamples++ % PAUSE_SAMPLES;
    g->pause[i] = t->pause_ns;
    g->safepoint[i] = t->safepoint_ns;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t percentile(const uint64_t *sorted, unsigned n, unsigned pct)
{
    if (n == 0)
        return 0;
    unsigned i = (unsigned)(((uint64_t)(n - 1) * pct + 50) / 100);
    return sorted[i];
}

void weft_gc_get_stats(weft_gc_gen_stats out[WEFT_GC_GENERATIONS])
{
    pthread_mutex_lock(&gc_lock);
    for (int g = 0; g < WEFT_GC_GENERATIONS; g++) {
        gen_state *s = &gens[g];
        unsigned n = s->nsamples < PAUSE_SAMPLES ? s->nsamples : PAUSE_SAMPLES;
        uint64_t pause[PAUSE_SAMPLES], safepoint[PAUSE_SAMPLES];
        memcpy(pause, s->pause, n * sizeof pause[0]);
        memcpy(safepoint, s->safepoint, n * sizeof safepoint[0]);
        qsort(pause, n, sizeof pause[0], cmp_u64);
        qsort(safepoint, n, sizeof safepoint[0], cmp_u64);
        out[g].collections = s->collections;
        out[g].collected = s->collected;
        out[g].uncollectable = s->uncollectable;
        out[g].pause_p50_ns = percentile(pause, n, 50);
        out[g].pause_p99_ns = percentile(pause, n, 99);
        out[g].pause_max_ns = n ? pause[n - 1] : 0;
        out[g].safepoint_p99_ns = percentile(safepoint, n, 99);
        out[g].safepoint_max_ns = n ? safepoint[n - 1] : 0;
    }
    pthread_mutex_unlock(&gc_lock);
}

static void run_callbacks(const char *phase, const weft_gc_info *info)
{
    pthread_mutex_lock(&gc_lock);
    callback_entry copy[MAX_CALLBACKS];
    unsigned n = ncallbacks;
    memcpy(copy, callbacks, n * sizeof copy[0]);
    pthread_mutex_unlock(&gc_lock);
    for (unsigned i = 0; i < n; i++) {
        weft_error_saved saved;
        _weft_error_set_aside(&saved);
        copy[i].cb(phase, info, copy[i].arg);
        _weft_error_report_and_restore(&saved, "gc callback", NULL);
    }
}

int weft_gc_add_callback(weft_gc_callback cb, void *arg)
{
    if (!cb) {
        _weft_set_error(WEFT_EINVAL, "weft_gc_add_callback: NULL callback");
        return -1;
    }
    pthread_mutex_lock(&gc_lock);
    if (ncallbacks == MAX_CALLBACKS) {
        pthread_mutex_unlock(&gc_lock);
        _weft_set_error(WEFT_ENOMEM, "weft_gc_add_callback: at most %d callbacks", MAX_CALLBACKS);
        return -1;
    }
    callbacks[ncallbacks++] = (callback_entry){cb, arg};
    pthread_mutex_unlock(&gc_lock);
    return 0;
}

int weft_gc_remove_callback(weft_gc_callback cb, void *arg)
{
    pthread_mutex_lock(&gc_lock);
    for (unsigned i = 0; i < ncallbacks; i++)
        if (callbacks[i].cb == cb && callbacks[i].arg == arg) {
            callbacks[i] = callbacks[--ncallbacks];
            pthread_mutex_unlock(&gc_lock);
            return 0;
        }
    pthread_mutex_unlock(&gc_lock);
    _weft_set_error(WEFT_EINVAL, "weft_gc_remove_callback: no such callback");
    return -1;
}

void weft_gc_set_debug(unsigned flags)
{
    __atomic_store_n(&debug_flags, flags, __ATOMIC_RELAXED);
}

unsigned weft_gc_get_debug(void)
{
    return __atomic_load_n(&debug_flags, __ATOMIC_RELAXED);
}

static weft_object *garbage_list_locked(void)
{
    if (!garbage)
        garbage = weft_list_new(0);
    return garbage;
}

weft_object *weft_gc_garbage(void)
{
    pthread_mutex_lock(&gc_lock);
    weft_object *g = garbage_list_locked();
    weft_xincref(g);
    pthread_mutex_unlock(&gc_lock);
    return g;
}

/* o, a member of a collection's garbage, stays alive: introspection sees
 * it again. */
static void leave_collection(weft_object *o)
{
    atomic_fetch_and_explicit(&o->flags, ~WEFT_OBJ_GC_COLLECTING, memory_order_relaxed);
}

static void keep_as_garbage(weft_object *o)
{
    pthread_mutex_lock(&gc_lock);
    weft_object *g = garbage_list_locked();
    pthread_mutex_unlock(&gc_lock);
    if (g)
        weft_list_append(g, o);
}

/* Release the garbage list (shutdown): its objects become collectable. */
void _weft_gc_release_garbage(void)
{
    pthread_mutex_lock(&gc_lock);
    weft_object *g = garbage;
    garbage = NULL;
    pthread_mutex_unlock(&gc_lock);
    weft_xdecref(g);
}

/* ---------------------------------------------------------------- a collection */

/* The worklist of the last collection, kept for the next one: young
 * collections are frequent and small, and growing a fresh array each time
 * (page faults included) was a visible part of their pause. One grown past
 * KEEP_MAX entries by a large collection is given back. */
#define KEEP_MAX (1u << 16)
static objvec kept_worklist;

static void keep_scratch(collection *c)
{
    if (c->worklist.cap > KEEP_MAX)
        objvec_free(&c->worklist);
    c->worklist.n = 0;
    kept_worklist = c->worklist;
}

/* Objects whose merge found them dead while the world was stopped. */
static void free_dead(weft_objstack *dead)
{
    weft_object *o;
    while ((o = _weft_objstack_pop(dead)) != NULL)
        _weft_dealloc(o);
}

static void debug_print_objects(const char *what, objvec *u)
{
    for (size_t i = 0; i < u->n; i++)
        fprintf(stderr, "weft gc: %s %s at %p\n", what, _weft_type_name(u->items[i]),
                (void *)u->items[i]);
}

/* What the pass that takes the holds on U saw: the passes over U that would
 * find nothing to do are skipped (each pass over a large U misses the cache
 * on every object). */
typedef struct u_summary {
    bool finalizers; /* some object has a finalizer still to run */
    bool unclearable; /* some object's type has no clear */
} u_summary;

/* Step 5's holds: U is adopted and held in one count update per object. */
static u_summary hold_unreachable(objvec *u)
{
    u_summary sum = {false, false};
    for (size_t i = 0; i < u->n; i++) {
        weft_object *o = u->items[i];
        _weft_brc_adopt_and_hold(o);
        const weft_type *type = o->type;
        if (type->finalize && !(weft_load_relaxed(&o->flags) & WEFT_OBJ_FINALIZED))
            sum.finalizers = true;
        if (!type->clear)
            sum.unclearable = true;
    }
    return sum;
}

/* Our hold on a member of U, released; untracked first if it dies of it. */
static void release_hold(weft_object *o)
{
    /* A plain update, as at any death: nobody else holds a reference (a
     * merger that holds a QUEUED one touches only its counts). */
    if (weft_refcount(o) == 1)
        weft_store_relaxed(&o->flags, weft_load_relaxed(&o->flags) &
                                          ~(WEFT_OBJ_GC_TRACKED | WEFT_OBJ_GC_COLLECTING));
    else
        leave_collection(o); /* it outlives our hold (weft_gc_garbage, a member) */
    weft_decref(o);
}

/* World stopped, after finalizers and callbacks: weakrefs they made to
 * members of U that stay garbage are cleared too, without callbacks (as
 * CPython 3.14 does), so that none hands out an object about to be cleared. */
static void clear_new_weakrefs(objvec *u)
{
    for (size_t i = 0; i < u->n; i++)
        if (weft_load_relaxed(&u->items[i]->flags) & WEFT_OBJ_WEAKREFS)
            _weft_weakref_clear_for_gc(u->items[i], NULL);
}

/* Steps 6-7 with the world running (code_ran: weakref callbacks ran, and
 * may have resurrected members, as finalizers may). Returns the
 * uncollectable count; U keeps only what was not resurrected. */
static long finish(objvec *u, u_summary sum, int gen, unsigned dbg, bool code_ran)
{
    /* Finalizers, once each. */
    bool finalized = false;
    for (size_t i = 0; sum.finalizers && i < u->n; i++) {
        weft_object *o = u->items[i];
        uint32_t flags = weft_load_relaxed(&o->flags);
        if (o->type->finalize && !(flags & WEFT_OBJ_FINALIZED)) {
            atomic_fetch_or_explicit(&o->flags, WEFT_OBJ_FINALIZED, memory_order_relaxed);
            _weft_call_finalize(o);
            finalized = true;
        }
    }
    objvec resurrected = {0};
    if (finalized || code_ran) {
        weft_stw_times t;
        weft_objstack dead = {NULL};
        _weft_stop_the_world(&t);
        _weft_brc_merge_all_world_stopped(&dead);
        find_resurrected(u, &resurrected);
        clear_new_weakrefs(u);
        _weft_start_the_world(&t);
        free_dead(&dead);
        pthread_mutex_lock(&gc_lock);
        record_pause(gen, &t);
        pthread_mutex_unlock(&gc_lock);
    }
    for (size_t i = 0; i < resurrected.n; i++) {
        leave_collection(resurrected.items[i]);
        weft_decref(resurrected.items[i]);
    }
    objvec_free(&resurrected);

    if (dbg & WEFT_GC_DEBUG_COLLECTABLE)
        debug_print_objects("collectable", u);
    /* U lies mostly in other threads' pools: its blocks go back a run per
     * pool at a time. */
    _weft_heap_remote_batch_begin();
    for (size_t i = 0; i < u->n; i++) {
        weft_object *o = u->items[i];
        if (dbg & WEFT_GC_DEBUG_SAVEALL)
            keep_as_garbage(o);
        else if (o->type->clear)
            o->type->clear(o);
    }
    /* What only our hold keeps dies now, on this thread (U is adopted):
     * untrack it first, so that its death does not count as a young object's
     * free - it was counted before the reset, and counting it again made
     * room for that many more young objects. A death may bring another
     * member's count to our hold alone: with members that have no clear,
     * passes go on until one frees nothing, so that a member held only by
     * members that died is not taken for uncollectable. */
    size_t left = u->n;
    do {
        size_t before = left;
        left = 0;
        for (size_t i = 0; i < before; i++) {
            weft_object *o = u->items[i];
            if (sum.unclearable && !(dbg & WEFT_GC_DEBUG_SAVEALL) && weft_refcount(o) > 1) {
                u->items[left++] = o; /* still held by another member */
                continue;
            }
            release_hold(o);
        }
        if (left == before)
            break;
    } while (left);
    /* What is left is held by members without clear, in cycles the clears
     * could not break: uncollectable, kept in weft_gc_garbage(). */
    long uncollectable = 0;
    for (size_t i = 0; i < left; i++)
        if (!u->items[i]->type->clear) {
            uncollectable++;
            if (dbg & WEFT_GC_DEBUG_UNCOLLECTABLE)
                fprintf(stderr, "weft gc: uncollectable %s at %p\n",
                        _weft_type_name(u->items[i]), (void *)u->items[i]);
            keep_as_garbage(u->items[i]);
        }
    for (size_t i = 0; i < left; i++)
        release_hold(u->items[i]);
    _weft_heap_remote_batch_end();
    return uncollectable;
}

typedef struct unreachable {
    objvec *u;
    collection *c;
} unreachable;

static void add_unreachable(weft_object *o, gc_slot *slot, void *arg)
{
    unreachable *r = arg;
    if (objvec_push(r->u, o))
        atomic_fetch_or_explicit(&o->flags, WEFT_OBJ_GC_COLLECTING, memory_order_relaxed);
    else
        r->c->out_of_memory = true;
}

/* The pooled candidates left unreachable by trial deletion (U), with the
 * world running: only the walk's tables are read, and each object they name
 * is unreachable, so none of them can be freed meanwhile (walk_end_stopped). */
static void collect_unreachable_pooled(gc_heap_walk *w, objvec *u, collection *c)
{
    unreachable r = {u, c};
    for_each_pooled_in_state(w, GC_SLOT_CANDIDATE, add_unreachable, &r);
}

/* The registered ones: their slots are reset with the world stopped. */
static void collect_unreachable_registered(gc_heap_walk *w, objvec *u, collection *c)
{
    unreachable r = {u, c};
    _weft_gc_walk_registered(w, GC_SLOT_CANDIDATE, add_unreachable, &r);
}

/* World stopped, o in U: weakrefs to it cleared (their callbacks set aside,
 * but for weakrefs in U); a weakref in U unlinked from its referent. */
static void clear_weakrefs_if_any(weft_object *o, gc_slot *slot, void *wr_callbacks)
{
    if (weft_load_relaxed(&o->flags) & WEFT_OBJ_WEAKREFS)
        _weft_weakref_clear_for_gc(o, wr_callbacks);
    if (o->type == &weft_weakref_type)
        _weft_weakref_detach_for_gc(o);
}

/* Survivors of a generation-1 collection become long-lived (collector.c). */
long _weft_gc_collect_now(int gen)
{
    _weft_thread_current_or_die("a collection", NULL);
    unsigned dbg = weft_gc_get_debug();
    weft_gc_info info = {gen, 0, 0, 0, 0};
    run_callbacks("start", &info);

    weft_stw_times t;
    _weft_stop_the_world(&t);
    uint64_t phase[5]; /* merged, walked, trial deletion done, weakrefs cleared, tables freed */
    weft_objstack dead = {NULL}, wr_callbacks = {NULL};
    _weft_brc_merge_all_world_stopped(&dead);
    _weft_gc_young_reset();
    phase[0] = _weft_monotonic_ns();

    collection c = {.worklist = kept_worklist}; /* serialised by the stop */
    gc_heap_walk w;
    objvec u = {0};
    long survivors = 0;
    size_t promoted = 0;
    size_t npools = 0;
    phase[1] = phase[2] = phase[3] = phase[0];
    bool walked = false;
    if (_weft_gc_walk_begin(&w, gen) == 0) {
        walked = true;
        npools = w.npools;
        phase[1] = _weft_monotonic_ns();
        trial_deletion(&c, &w);
        phase[2] = _weft_monotonic_ns();
        /* Weakrefs to U are cleared before the world resumes; U itself is
         * listed after, from the tables (most of a young pause went there). */
        if (!c.out_of_memory) {
            if (c.weakly_referenced)
                for_each_in_state(&w, GC_SLOT_CANDIDATE, clear_weakrefs_if_any, &wr_callbacks);
            collect_unreachable_registered(&w, &u, &c);
        }
        phase[3] = _weft_monotonic_ns();
        _weft_gc_walk_end_stopped(&w, !c.out_of_memory);
        promoted = w.promoted;
    }
    phase[4] = _weft_monotonic_ns();
    _weft_start_the_world(&t);
    /* No safepoint until the walk is released (walk_end_stopped). */
    if (walked && !c.out_of_memory)
        collect_unreachable_pooled(&w, &u, &c);
    if (walked)
        _weft_gc_walk_release(&w);
    if (!c.out_of_memory)
        survivors = (long)c.ncandidates - (long)u.n;
    size_t ncandidates = c.ncandidates;
    keep_scratch(&c);
    /* Our holds, released at the end, taken after the stop: U is unreachable
     * and its weakrefs are cleared, so no other thread can reach it, and no
     * count of it changes until we act (none is queued: the stop merged
     * every queue, and a count of zero is never a candidate). For the same
     * reason its owners' local counts are still: this thread adopts U, so
     * that what we release dies here with plain owner decrements, rather
     * than queueing every decrement to its owner (a lock and a merge per
     * object on the mutator's side) or paying an atomic per decrement. */
    u_summary sum = hold_unreachable(&u);

    free_dead(&dead);
    bool code_ran = _weft_weakref_run_gc_callbacks(&wr_callbacks);
    long uncollectable = finish(&u, sum, gen, dbg, code_ran);
    long found = (long)u.n; /* what finalizers resurrected is not counted */
    objvec_free(&u);

    pthread_mutex_lock(&gc_lock);
    gens[gen].collections++;
    gens[gen].collected += (uint64_t)(found - uncollectable);
    gens[gen].uncollectable += (uint64_t)uncollectable;
    record_pause(gen, &t);
    pthread_mutex_unlock(&gc_lock);
    /* Generation 2's total is what survived a full collection; what became
     * long-lived is what a collection moved into age-2 pools (survivors in a
     * pool that stays young are not promoted yet). */
    _weft_gc_note_collection(gen, gen == 1 ? (long)promoted : survivors, found);

    info.collected = found - uncollectable;
    info.uncollectable = uncollectable;
    info.pause_ns = t.pause_ns;
    info.safepoint_ns = t.safepoint_ns;
    if (dbg & WEFT_GC_DEBUG_STATS)
        fprintf(stderr,
                "weft gc: generation %d: %ld unreachable, %ld uncollectable, pause %.3f ms "
                "(to safepoint %.3f, merges %.3f, %zu pools %.3f, %zu candidates %.3f, "
                "weakrefs %.3f, tables %.3f, resume %.3f)\n",
                gen, found, uncollectable, t.pause_ns / 1e6, t.safepoint_ns / 1e6,
                (phase[0] - t.start_ns - t.safepoint_ns) / 1e6, npools,
                (phase[1] - phase[0]) / 1e6, ncandidates, (phase[2] - phase[1]) / 1e6,
                (phase[3] - phase[2]) / 1e6, (phase[4] - phase[3]) / 1e6,
                (t.start_ns + t.pause_ns - phase[4]) / 1e6);
    run_callbacks("stop", &info);
    return found;
}

/* ---------------------------------------------------------------- introspection */

int weft_gc_is_tracked(const weft_object *o)
{
    return o && (weft_load_relaxed(&o->flags) & WEFT_OBJ_GC_TRACKED) != 0;
}

int weft_gc_track(weft_object *o)
{
    if (!o || !(o->type->flags & WEFT_TYPE_GC)) {
        _weft_set_error(WEFT_EINVAL, "weft_gc_track: %s is not a GC type",
                        o ? _weft_type_name(o) : "NULL");
        return -1;
    }
    uint32_t old = atomic_fetch_or_explicit(&o->flags, WEFT_OBJ_GC_TRACKED, memory_order_relaxed);
    if (!(old & WEFT_OBJ_GC_TRACKED))
        _weft_gc_young_add(1);
    return 0;
}

int weft_gc_untrack(weft_object *o)
{
    if (!o) {
        _weft_set_error(WEFT_EINVAL, "weft_gc_untrack: NULL");
        return -1;
    }
    /* Untracking leaves the permanent generation too (CPython's lists): a
     * frozen object tracked again is a young one, and unfreeze, which walks
     * tracked objects, never misses a frozen one. weft_tuple_maybe_untrack
     * comes here too. */
    uint32_t old = atomic_fetch_and_explicit(&o->flags, ~(WEFT_OBJ_GC_TRACKED | WEFT_OBJ_FROZEN),
                                             memory_order_relaxed);
    if (old & WEFT_OBJ_GC_TRACKED)
        _weft_gc_young_add(-1);
    if (old & WEFT_OBJ_FROZEN)
        _weft_gc_frozen_died();
    return 0;
}

typedef struct gather {
    objvec found;
    weft_object *target;
    bool referrers;
    uint32_t set_flags, clear_flags;
    size_t changed;
    int only_age; /* >= 0: only objects of this generation */
} gather;

static int visit_is_target(weft_object *child, void *arg)
{
    return child == arg;
}

static void gather_object(weft_object *o, gc_slot *slot, void *arg)
{
    gather *g = arg;
    uint32_t flags = weft_load_relaxed(&o->flags);
    if ((flags & (WEFT_OBJ_GC_TRACKED | WEFT_OBJ_GC_COLLECTING)) != WEFT_OBJ_GC_TRACKED)
        return; /* untracked, or a running collection's garbage */
    if (g->set_flags | g->clear_flags) {
        uint32_t want = (flags | g->set_flags) & ~g->clear_flags;
        if (want != flags) {
            /* Read-modify-writes, not a store: a thread in a blocking region
             * keeps running through the stop, and may be setting a lock's
             * WAITERS bit in this word (objlock.c). */
            if (g->set_flags)
                atomic_fetch_or_explicit(&o->flags, g->set_flags, memory_order_relaxed);
            if (g->clear_flags)
                atomic_fetch_and_explicit(&o->flags, ~g->clear_flags, memory_order_relaxed);
            g->changed++;
        }
        return;
    }
    if (g->referrers && !o->type->traverse(o, visit_is_target, g->target))
        return;
    if (g->only_age >= 0 && _weft_gc_age_of(o, slot) != g->only_age)
        return;
    if (objvec_push(&g->found, o))
        weft_incref(o);
}

uint64_t _weft_gc_with_world_stopped(void (*fn)(void *), void *arg)
{
    weft_stw_times t;
    weft_objstack dead = {NULL};
    _weft_stop_the_world(&t);
    _weft_brc_merge_all_world_stopped(&dead);
    if (fn)
        fn(arg);
    _weft_start_the_world(&t);
    free_dead(&dead);
    return t.pause_ns;
}

uint64_t _weft_gc_flush_counts(void)
{
    return _weft_gc_with_world_stopped(NULL, NULL);
}

typedef struct stopped_walk {
    gather *g;
    int max_age;
    int rc;
} stopped_walk;

static void walk_gather(void *arg)
{
    stopped_walk *sw = arg;
    gc_heap_walk w;
    sw->rc = _weft_gc_walk_begin(&w, sw->max_age);
    if (sw->rc == 0) {
        _weft_gc_walk_objects(&w, gather_object, sw->g);
        _weft_gc_walk_end(&w, false);
    }
}

/* Introspection stops the world, which a thread inside a blocking region
 * must not do (it may not touch objects there): WEFT_ESTATE, as for
 * weft_gc_collect. */
static bool may_stop_the_world(const char *fn)
{
    weft_thread *t = _weft_thread_current_or_die(fn, NULL);
    if (WEFT_UNLIKELY(t->blocking_depth)) {
        _weft_set_error(WEFT_ESTATE, "%s: inside a blocking region", fn);
        return false;
    }
    return true;
}

/* Walk tracked objects of age <= max_age with the world stopped. */
static int walk_stopped(const char *fn, gather *g, int max_age)
{
    if (!may_stop_the_world(fn))
        return -1;
    stopped_walk sw = {g, max_age, 0};
    _weft_gc_with_world_stopped(walk_gather, &sw);
    return sw.rc;
}

static weft_object *list_of(objvec *v)
{
    weft_object *l = weft_list_new(v->n);
    for (size_t i = 0; i < v->n; i++) {
        if (l && weft_list_append(l, v->items[i]) != 0) {
            weft_decref(l);
            l = NULL;
        }
        weft_decref(v->items[i]);
    }
    objvec_free(v);
    return l;
}

weft_object *weft_gc_get_referrers(weft_object *target)
{
    gather g = {{0}, target, true, 0, 0, 0, -1};
    if (walk_stopped("weft_gc_get_referrers", &g, 2) != 0)
        return NULL;
    return list_of(&g.found);
}

static int visit_collect(weft_object *child, void *arg)
{
    if (child && objvec_push(arg, child))
        weft_incref(child);
    return 0;
}

typedef struct referents {
    weft_object *o;
    objvec found;
} referents;

static void collect_referents(void *arg)
{
    referents *r = arg;
    r->o->type->traverse(r->o, visit_collect, &r->found);
}

/* With the world stopped, as the collector traverses: with it running,
 * another thread could drop a child between the traverse's read of it and
 * visit_collect's incref, and the child die under that incref. */
weft_object *weft_gc_get_referents(weft_object *o)
{
    referents r = {o, {0}};
    if (o && o->type->traverse) {
        if (!may_stop_the_world("weft_gc_get_referents"))
            return NULL;
        _weft_gc_with_world_stopped(collect_referents, &r);
    }
    return list_of(&r.found);
}

weft_object *weft_gc_get_objects(int gen)
{
    if (gen < -1 || gen >= WEFT_GC_GENERATIONS) {
        _weft_set_error(WEFT_EINVAL, "weft_gc_get_objects: generation %d", gen);
        return NULL;
    }
    gather g = {{0}, NULL, false, 0, 0, 0, gen};
    if (walk_stopped("weft_gc_get_objects", &g, gen < 0 ? 2 : gen) != 0)
        return NULL;
    return list_of(&g.found);
}

void weft_gc_freeze(void)
{
    gather g = {{0}, NULL, false, WEFT_OBJ_FROZEN, 0, 0, -1};
    if (walk_stopped("weft_gc_freeze", &g, 2) == 0)
        weft_fetch_add_relaxed(&frozen_count, g.changed);
}

void weft_gc_unfreeze(void)
{
    gather g = {{0}, NULL, false, 0, WEFT_OBJ_FROZEN, 0, -1};
    if (walk_stopped("weft_gc_unfreeze", &g, 2) == 0)
        weft_store_relaxed(&frozen_count, 0);
}

size_t weft_gc_get_freeze_count(void)
{
    return weft_load_relaxed(&frozen_count);
}

/* A frozen object died or left the permanent generation. */
void _weft_gc_frozen_died(void)
{
    weft_fetch_sub_relaxed(&frozen_count, 1);
}

void _weft_gc_init(void)
{
    _weft_gc_registry_init();
}
