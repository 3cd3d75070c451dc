/* stress/roots.c: a worker's references and what keeps their holds right
 * (workload.c has the rules): dropping, taking over, storing in a root,
 * picking a root, borrowing a root's object as a child; and the one place a
 * failed weft call is judged. */
#include "worker.h"

/* ---------------------------------------------------------------- failures */

/* A weft call failed. Under --fail-rate an injected WEFT_ENOMEM is expected
 * (returns true: the caller cleans up); anything else is a violation. */
bool failed(const char *what)
{
    weft_error_code e = weft_error();
    if (opt.fail_rate > 0 && e == WEFT_ENOMEM) {
        stat_add(ST_ENOMEM, 1);
        weft_error_clear();
        return true;
    }
    violation("%s failed with %s (\"%s\")%s", what, weft_error_name(e),
              weft_error_message(),
              opt.fail_rate > 0 ? "" : "; no allocation failure was injected");
}

/* Release a reference the harness holds, when another reference to the
 * object lives on elsewhere (a mailbox, a cell): a ring stays whole. */
void drop_plain(sref *r)
{
    if (!r->obj)
        return;
    if (r->tracked)
        oracle_hold(r->id, -1, "drop");
    if (!inject_bug(INJECT_LEAK, r)) { /* --inject-bug leak: keep one reference for ever */
        /* A finalizer this runs may fail: its error must not become ours. */
        weft_error_code before = weft_error();
        weft_decref(r->obj);
        if (weft_error() != before)
            violation("a drop changed the thread's error from %s to %s (\"%s\")",
                      weft_error_name(before), weft_error_name(weft_error()),
                      weft_error_message());
    }
    r->obj = NULL;
}

/* Release a reference the harness holds. */
void drop(worker *w, sref *r)
{
    if (r->obj && r->ring)
        drop_ring(w, r->obj);
    drop_plain(r);
}

/* Take over a reference handed out by a container or the handoff layer. */
void take(weft_object *o, sref *r, const char *where)
{
    identify(o, false, 0, r, where);
    if (r->tracked)
        oracle_hold(r->id, +1, where);
}

/* Store r in root i (moved in), dropping what was there. */
void root_set(worker *w, unsigned i, sref r)
{
    sref old = w->roots[i];
    w->roots[i] = r;
    drop(w, &old);
}

/* A random non-empty root (a ring's only if allow_ring), or -1. */
int pick_root(worker *w, bool allow_ring)
{
    for (int tries = 0; tries < 8; tries++) {
        unsigned i = (unsigned)rng_below(&w->r, w->nroots);
        if (w->roots[i].obj && (allow_ring || !w->roots[i].ring))
            return (int)i;
    }
    return -1;
}

unsigned any_root(worker *w)
{
    return (unsigned)rng_below(&w->r, w->nroots);
}

/* A borrowed reference to some root's object to make a child of a new one
 * (never a ring, and below GEN_MAX), or NULL. Raises *gen to cover it. */
weft_object *borrow(worker *w, unsigned *gen)
{
    int i = pick_root(w, false);
    if (i < 0 || w->roots[i].gen >= GEN_MAX)
        return NULL;
    if (*gen < w->roots[i].gen + 1u)
        *gen = w->roots[i].gen + 1u;
    return w->roots[i].obj;
}

/* A random root holding an object of that kind, or -1. */
int pick_kind(worker *w, unsigned kind)
{
    for (int tries = 0; tries < 12; tries++) {
        unsigned i = (unsigned)rng_below(&w->r, w->nroots);
        if (w->roots[i].obj && w->roots[i].kind == kind)
            return (int)i;
    }
    return -1;
}

bool inject_bug(int kind, const sref *r)
{
    static atomic_bool done;
    if (opt.inject != kind || r->kind != K_OBJ ||
        atomic_load_explicit(&done, memory_order_relaxed))
        return false;
    return !atomic_exchange(&done, true);
}
