/* stress/workload.c: the random mix of operations a worker runs, and the
 * life of a worker incarnation.
 *
 * A worker keeps its references in roots (slots). Each operation picks its
 * kind by weight and its arguments from the worker's generator: make objects
 * of every kind (alone, as tuple trees, as chains of stress.objs, as rings),
 * read them back (walks check every object reached), copy and drop roots,
 * move references to other threads (mailboxes, the board), take weakrefs and
 * read through them, take back resurrected objects, intern strings, sit in
 * blocking regions, poll safepoints, force collections, and arm allocation
 * failures.
 *
 * Holds (oracle.c): every reference the harness's own code owns (in a root,
 * in hand during an operation, in the resurrection list) is a hold. A new
 * tracked object is born with one; a copy adds one; a drop takes one away
 * before the decref; a move between roots or into and out of the
 * resurrection list keeps it. References that objects own (children,
 * payloads, tuple items, container items, and the mailboxes' and the
 * board's, which work as containers) are not holds: taking one out of a
 * container adds a hold, putting one in and dropping one's own takes it away.
 *
 * Every object read is identified (objects.c): type, content, checksum, the
 * key expected, and for a tracked object that the oracle has it alive.
 *
 * Rings: a ring head is moved, never shared: it is not copied, not put on the
 * board, not made the child or item of another object, and weakrefs to it
 * are never read. Its one holder (a root, or a mailbox) can then break it
 * (clear the head's child) when there is no collector, without racing any
 * reader. With a collector, rings are dropped whole and must be dead after a
 * full collection (rings.c); some have a member whose finalizer resurrects
 * it, and then the whole ring survives.
 *
 * Failures: any weft call that allocates may fail when --fail-rate arms the
 * fault injector (which is global: the failure hits whichever thread
 * allocates next). A failure must be NULL or -1 with WEFT_ENOMEM; the
 * operation then drops what it had built and goes on. */
#include "worker.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BOARD_CELLS 64
#define WEAK_MAX 256
#define SWEEP_EVERY 256

static atomic_uint next_serial = 1;

/* ---------------------------------------------------------------- operations */

static void op_walk(worker *w)
{
    int i = pick_root(w, true);
    if (i < 0)
        return;
    size_t budget = (size_t)rng_range(&w->r, 1, 512);
    /* --inject-bug early-free: release the root's only reference but keep
     * the root (its hold stays): the death must be caught as it happens. */
    if (weft_refcount(w->roots[i].obj) == 1 &&
        inject_bug(INJECT_EARLY_FREE, &w->roots[i])) {
        weft_decref(w->roots[i].obj);
        violation(
            "--inject-bug early-free: the oracle missed the early free of id %" PRIu64,
            w->roots[i].id);
    }
    size_t n = walk(w->roots[i].obj, w->roots[i].key, budget);
    stat_add(ST_WALKS, 1);
    stat_add(ST_NODES, n);
}

static void op_drop(worker *w)
{
    int i = pick_root(w, true);
    if (i >= 0)
        drop(w, &w->roots[i]);
}

static void op_dup(worker *w)
{
    int i = pick_root(w, false);
    if (i < 0)
        return;
    sref r = w->roots[i];
    weft_incref(r.obj);
    if (r.tracked)
        oracle_hold(r.id, +1, "copy");
    root_set(w, any_root(w), r);
}

/* Send root i to a mailbox; its reference moves there (a ring stays whole:
 * the mailbox is now its one holder). */
static bool send_root(worker *w, unsigned i, unsigned to)
{
    int rc = handoff->send(to, w->roots[i].obj);
    if (rc == HO_NOMEM)
        failed("mailbox send");
    if (rc != HO_OK)
        return false;
    drop_plain(&w->roots[i]);
    stat_add(ST_SENT, 1);
    return true;
}

static void op_send(worker *w)
{
    int i = pick_root(w, true);
    if (i >= 0)
        send_root(w, (unsigned)i, (unsigned)rng_below(&w->r, opt.threads));
}

static void op_recv(worker *w)
{
    unsigned n = (unsigned)rng_range(&w->r, 1, 8);
    for (unsigned k = 0; k < n; k++) {
        weft_object *o;
        int rc = handoff->recv(w->slot->index, &o);
        if (rc == HO_NOMEM)
            failed("mailbox receive");
        if (rc != HO_OK)
            break;
        sref r;
        take(o, &r, "mailbox");
        stat_add(ST_RECEIVED, 1);
        root_set(w, any_root(w), r);
    }
}

static void op_board_swap(worker *w)
{
    unsigned i = any_root(w);
    if (w->roots[i].ring)
        return;
    weft_object *old = NULL;
    int rc =
        handoff->swap((unsigned)rng_below(&w->r, BOARD_CELLS), w->roots[i].obj, &old);
    if (rc == HO_NOMEM) {
        failed("board swap");
        return;
    }
    drop_plain(&w->roots[i]); /* the cell has its own reference */
    stat_add(ST_BOARD_PUT, 1);
    if (old)
        take(old, &w->roots[i], "board swap");
}

static void op_board_get(worker *w)
{
    weft_object *o = NULL;
    int rc = handoff->get((unsigned)rng_below(&w->r, BOARD_CELLS), &o);
    if (rc == HO_NOMEM)
        failed("board read");
    if (!o)
        return;
    sref r;
    take(o, &r, "board");
    stat_add(ST_BOARD_GET, 1);
    if (rng_chance(&w->r, 0.5)) {
        walk(o, r.key, 64);
        drop(w, &r);
    } else {
        root_set(w, any_root(w), r);
    }
}

static void op_weak_immortal(worker *w)
{
    /* A weakref to an immortal: never cleared, always returns it. */
    weft_object *o = weft_int_new((int64_t)rng_range(&w->r, 0, WEFT_SMALL_INT_MAX));
    if (!o) {
        failed("weft_int_new (small)");
        return;
    }
    weft_object *ref = weft_weakref_new(o, NULL, NULL);
    if (!ref) {
        failed("weft_weakref_new (immortal)");
        weft_decref(o);
        return;
    }
    weft_object *got = weft_weakref_get(ref);
    if (got != o)
        violation("a weakref to the immortal int %" PRId64 " returns %p, not %p",
                  weft_int_value(o), (void *)got, (void *)o);
    weft_decref(got);
    weft_decref(ref);
    weft_decref(o);
}

static void op_weak_new(worker *w)
{
    if (rng_chance(&w->r, 0.05)) {
        op_weak_immortal(w);
        return;
    }
    int i = pick_root(w, true);
    if (i < 0 || w->roots[i].kind != K_OBJ)
        return;
    if (w->weak.n >= WEAK_MAX) {
        size_t k = (size_t)rng_below(&w->r, w->weak.n);
        weft_object *ref = w->weak.v[k].ref;
        w->weak.v[k] = w->weak.v[--w->weak.n];
        weft_decref(ref); /* dropped before its referent: no callback from it */
    }
    weft_object *ref = weak_new(w->roots[i].obj, w->roots[i].id);
    if (!ref) {
        failed("weft_weakref_new");
        return;
    }
    wlist_push(&w->weak, ref, w->roots[i].id, w->roots[i].ring);
}

static void op_weak_get(worker *w)
{
    if (!w->weak.n)
        return;
    wentry e = w->weak.v[rng_below(&w->r, w->weak.n)];
    if (e.ring)
        return; /* a ring member is never read through a weakref (see top) */
    bool dead = oracle_is_dead(e.id);
    weft_object *o = weft_weakref_get(e.ref);
    stat_add(ST_WEAK_GET, 1);
    if (!o)
        return; /* dead, dying, or in its finalizer */
    if (dead)
        violation("weft_weakref_get returned %p for id %" PRIu64
                  " after its death was reported",
                  (void *)o, e.id);
    sref r;
    identify(o, true, e.id, &r, "weakref get");
    oracle_hold(r.id, +1, "weakref get");
    stat_add(ST_WEAK_GET_HIT, 1);
    if (rng_chance(&w->r, 0.5))
        drop(w, &r);
    else
        root_set(w, any_root(w), r);
}

static void op_sweep(worker *w)
{
    wlist_sweep(&w->weak);
    wlist_sweep(&w->watch);
    weak_sweep_orphans();
}

static void op_revive(worker *w)
{
    unsigned n = (unsigned)rng_range(&w->r, 1, 16);
    for (unsigned k = 0; k < n; k++) {
        weft_object *o = revive_take();
        if (!o)
            return;
        sref r;
        identify(o, false, 0, &r, "resurrected object");
        walk(o, r.key, 64);
        if (rng_chance(&w->r, 0.25))
            root_set(w, any_root(w), r);
        else
            drop(w, &r); /* its second death: no finalizer this time */
    }
}

static void op_block(worker *w)
{
    stat_add(ST_BLOCKING, 1);
    /* Mostly short (a system call's worth), some waits for work, a few long
     * enough for the others to merge many counts on this thread's behalf. */
    uint64_t roll = rng_below(&w->r, 1000);
    long usec = roll < 600   ? (long)rng_range(&w->r, 1, 50)
                : roll < 990 ? (long)rng_range(&w->r, 10, 300)
                             : (long)rng_range(&w->r, 1000, 5000);
    weft_blocking_begin();
    if (roll >= 600 && roll < 990) {
        handoff_wait(w->slot->index, usec); /* as a server waits for work */
    } else {
        struct timespec ts = {usec / 1000000, (usec % 1000000) * 1000};
        nanosleep(&ts, NULL);
    }
    weft_blocking_end();
}

static void op_collect(worker *w)
{
    /* About one forced collection in 25000 operations: often enough to test
     * them, rare enough that the collector's own triggers do most of the work. */
    if (!rng_chance(&w->r, 0.05))
        return;
    int gen = (int)rng_below(&w->r, 3);
    size_t before = w->nrings;
    if (gc_collect(gen) != 0)
        return;
    if (gen == 2) {
        weft_safepoint(); /* merge what the collector's clearing queued to us */
        rings_check_own(w, before);
    }
}
/* ---------------------------------------------------------------- the mix */

typedef void (*op_fn)(worker *);

typedef struct op {
    op_fn fn;
    unsigned weight;
} op;

static void op_safepoint(worker *w)
{
    weft_safepoint();
    stat_add(ST_SAFEPOINTS, 1);
}

static op ops[] = {
    {op_new, 220},      {op_tree, 60},       {op_chain, 40},         {op_ring, 15},
    {op_walk, 120},     {op_drop, 110},      {op_dup, 50},           {op_send, 60},
    {op_recv, 70},      {op_board_swap, 30}, {op_board_get, 40},     {op_weak_new, 30},
    {op_weak_get, 40},  {op_sweep, 4},       {op_revive, 20},        {op_block, 8},
    {op_safepoint, 20}, {op_collect, 1},     {op_container_new, 25}, {op_list, 60},
    {op_dict, 60},
};
#define NOPS (sizeof ops / sizeof ops[0])

static unsigned weight_of(const op *o)
{
    if (o->fn == op_ring && !opt.cycles)
        return 0;
    if (o->fn == op_collect && !gc_active())
        return 0;
    return o->weight;
}

static void retire(worker *w, bool stopping)
{
    /* Hand a share of what it holds to the others: objects whose owner is
     * gone, released by other threads. */
    for (unsigned i = 0; i < w->nroots; i++) {
        if (!w->roots[i].obj)
            continue;
        if (!rng_chance(&w->r, stopping ? 0.3 : 0.5) ||
            !send_root(w, i, (unsigned)rng_below(&w->r, opt.threads)))
            drop(w, &w->roots[i]);
    }
    wlist_clear(&w->weak);
    wlist_sweep(&w->watch);
    weak_orphan(&w->watch);
    rings_retire(w);
    oracle_release_block(&w->ids);
    free(w->roots);
    wlist_free(&w->weak);
    wlist_free(&w->watch);
    walk_release();
}

uint64_t workload_run(worker_slot *slot, uint64_t budget)
{
    worker w;
    memset(&w, 0, sizeof w);
    w.slot = slot;
    w.serial = atomic_fetch_add(&next_serial, 1);
    rng_seed(&w.r, opt.seed, slot->index + 1, slot->incarnation);
    w.nroots = opt.slots;
    w.roots = calloc(w.nroots, sizeof *w.roots);
    if (!w.roots) {
        fprintf(stderr, "weft-stress: out of memory (roots)\n");
        abort();
    }
    unsigned total = 0;
    for (size_t k = 0; k < NOPS; k++)
        total += weight_of(&ops[k]);

    uint64_t done = 0;
    while (done < budget &&
           !atomic_load_explicit(&stop_requested, memory_order_relaxed)) {
        if (opt.fail_rate > 0 && rng_chance(&w.r, opt.fail_rate)) {
            weft_fault_alloc_after((long)rng_range(&w.r, 1, 8));
            stat_add(ST_FAULTS_ARMED, 1);
        }
        unsigned pick = (unsigned)rng_below(&w.r, total);
        for (size_t k = 0; k < NOPS; k++) {
            unsigned wt = weight_of(&ops[k]);
            if (pick < wt) {
                ops[k].fn(&w);
                break;
            }
            pick -= wt;
        }
        done++;
        stat_add(ST_OPS, 1);
        if (done % SWEEP_EVERY == 0) {
            wlist_sweep(&w.watch);
            wlist_sweep(&w.weak);
        }
    }
    retire(&w, atomic_load(&stop_requested));
    return done;
}

void workload_drop_leftover(weft_object *o, bool held)
{
    sref r;
    identify(o, false, 0, &r, "leftover");
    if (r.tracked && !held)
        oracle_hold(r.id, +1, "leftover");
    if (r.ring)
        drop_ring(NULL, o);
    if (r.tracked)
        oracle_hold(r.id, -1, "end-phase drop");
    weft_decref(o);
}
