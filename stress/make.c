/* stress/make.c: how a worker makes objects: leaves of every kind (ints,
 * strs small and large, small ints, interned strs, stress.objs with children
 * taken from its roots), tuple trees, chains of stress.objs (some deep enough
 * for deferred deallocation) and rings; a built-in that the oracle tracks
 * gets its watch weakref here. Each maker returns false, with nothing left
 * behind, when an injected allocation failure hits it. */
#include "worker.h"

/* Give a new built-in its watch if it is tracked. False (and the object
 * gone) if the watch could not be made. */
bool finish_new(worker *w, weft_object *o, uint64_t id, sref *out)
{
    identify(o, false, 0, out, "new object");
    if (out->tracked && out->kind != K_OBJ) {
        weft_object *ref = weak_new(o, id);
        if (!ref) {
            failed("weft_weakref_new (watch)");
            oracle_void(id);
            weft_decref(o);
            out->obj = NULL;
            return false;
        }
        wlist_push(&w->watch, ref, id, false);
    }
    return true;
}

static size_t random_str_len(worker *w)
{
    uint64_t roll = rng_below(&w->r, 100);
    if (roll < 90)
        return (size_t)rng_range(&w->r, 27, 200);
    if (roll < 97)
        return (size_t)rng_range(&w->r, 201, WEFT_SMALL_MAX);
    return (size_t)rng_range(&w->r, WEFT_SMALL_MAX + 1, 6000); /* a large block */
}

bool make_leaf(worker *w, sref *out)
{
    uint64_t id = 0;
    weft_object *o;
    bool tracked = rng_chance(&w->r, opt.watch_rate);
    switch (rng_below(&w->r, 10)) {
    case 0:
    case 1:
    case 2:
        o = make_int(&w->ids, tracked, &id);
        if (!o) {
            failed("weft_int_new");
            return false;
        }
        return finish_new(w, o, id, out);
    case 3:
    case 4:
    case 5:
        o = make_str(&w->ids, tracked, random_str_len(w), &id);
        if (!o) {
            failed("weft_str_new");
            return false;
        }
        return finish_new(w, o, id, out);
    case 6:
        o = weft_int_new(
            (int64_t)rng_range(&w->r, 0, WEFT_SMALL_INT_MAX - WEFT_SMALL_INT_MIN) +
            WEFT_SMALL_INT_MIN);
        if (!o) {
            failed("weft_int_new (small)");
            return false;
        }
        identify(o, false, 0, out, "small int");
        return true;
    case 7: {
        char name[4] = {'k', 0, 0, 0};
        unsigned k = (unsigned)rng_below(&w->r, VOCAB);
        name[1] = (char)('0' + k / 10);
        name[2] = (char)('0' + k % 10);
        o = weft_str_intern_cstr(name);
        if (!o) {
            failed("weft_str_intern_cstr");
            return false;
        }
        identify(o, false, 0, out, "interned str");
        stat_add(ST_INTERN, 1);
        return true;
    }
    default: {
        unsigned gen = 0;
        weft_object *child = rng_chance(&w->r, 0.5) ? borrow(w, &gen) : NULL;
        weft_object *payload = rng_chance(&w->r, 0.3) ? borrow(w, &gen) : NULL;
        uint32_t flags = rng_chance(&w->r, 0.125) ? SOBJ_RESURRECT : 0;
        if (rng_chance(&w->r, 1.0 / 16))
            flags |= SOBJ_FAIL_FINALIZE;
        o = make_sobj(&w->ids, child, payload, flags | gen << SOBJ_GEN_SHIFT, &id);
        if (!o) {
            failed("weft_new(stress.obj)");
            return false;
        }
        return finish_new(w, o, id, out);
    }
    }
}

static bool make_tree(worker *w, unsigned depth, sref *out)
{
    enum { MAX_ITEMS = 6 };
    size_t n = (size_t)rng_below(&w->r, MAX_ITEMS + 1);
    weft_object *items[MAX_ITEMS];
    sref made[MAX_ITEMS]; /* references made here, dropped once the tuple holds them */
    size_t nmade = 0;
    unsigned gen = 0;
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        weft_object *b;
        if (depth > 0 && rng_chance(&w->r, 0.35)) {
            ok = make_tree(w, depth - 1, &made[nmade]);
        } else if (rng_chance(&w->r, 0.35) && (b = borrow(w, &gen)) != NULL) {
            items[i] = b;
            continue;
        } else {
            ok = make_leaf(w, &made[nmade]);
        }
        if (ok) {
            items[i] = made[nmade].obj;
            if (gen < made[nmade].gen)
                gen = made[nmade].gen;
            nmade++;
        }
    }
    if (ok) {
        uint64_t id = 0;
        bool tracked = rng_chance(&w->r, opt.watch_rate);
        weft_object *t = make_tuple(&w->ids, tracked, gen, items, n, &id);
        if (!t) {
            failed("weft_tuple_new");
            ok = false;
        } else {
            ok = finish_new(w, t, id, out);
        }
    }
    for (size_t i = 0; i < nmade; i++)
        drop(w, &made[i]);
    return ok;
}

/* A chain of stress.objs, each the child of the next; the last is the head. */
static bool make_chain(worker *w, size_t len, uint32_t flags, sref *out)
{
    sref prev = {0};
    weft_object *first = NULL;
    unsigned gen = 0;
    /* With a collector, some rings have a member that resurrects when the
     * collector finalizes the ring: the whole ring survives (PEP 442). */
    size_t phoenix =
        (flags & SOBJ_RING) && !gc_cycles_need_breaking() && rng_chance(&w->r, 0.2)
            ? (size_t)rng_below(&w->r, len)
            : SIZE_MAX;
    for (size_t i = 0; i < len; i++) {
        weft_object *payload =
            !(flags & SOBJ_RING) && rng_chance(&w->r, 0.0625) ? borrow(w, &gen) : NULL;
        uint32_t f = flags | gen << SOBJ_GEN_SHIFT;
        if ((!(flags & SOBJ_RING) && rng_chance(&w->r, 1.0 / 64)) || i == phoenix)
            f |= SOBJ_RESURRECT;
        if (rng_chance(&w->r, 1.0 / 32))
            f |= SOBJ_FAIL_FINALIZE;
        uint64_t id;
        weft_object *o = make_sobj(&w->ids, prev.obj, payload, f, &id);
        if (!o) {
            failed("weft_new(stress.obj) in a chain");
            drop(w, &prev); /* not closed yet: a plain chain */
            return false;
        }
        ((sobj *)o)->ring_len = (flags & SOBJ_RING) ? (uint32_t)len : 0;
        ((sobj *)o)->maker = w->serial;
        if (!first)
            first = o;
        drop(w, &prev);
        identify(o, true, id, &prev, "new chain link");
        prev.ring = false; /* a ring only once closed */
    }
    if (flags & SOBJ_RING) {
        /* Close it: the first link (held by the second, or the head itself)
         * points back to the head. Nobody else has seen any of it yet. */
        sobj *f = (sobj *)first;
        f->child_key = prev.id;
        slot_store(&f->child, weft_newref(prev.obj));
        prev.ring = true;
    }
    *out = prev;
    return true;
}

void op_new(worker *w)
{
    sref r;
    if (make_leaf(w, &r))
        root_set(w, any_root(w), r);
}

void op_tree(worker *w)
{
    sref r;
    if (make_tree(w, (unsigned)rng_range(&w->r, 1, 3), &r)) {
        stat_add(ST_TREES, 1);
        root_set(w, any_root(w), r);
    }
}

static size_t chain_len(worker *w)
{
    uint64_t roll = rng_below(&w->r, 10000);
    if (roll < 8500)
        return (size_t)rng_range(&w->r, 2, 16);
    if (roll < 9900)
        return (size_t)rng_range(&w->r, 17, 256);
    if (roll < 9990)
        return (size_t)rng_range(&w->r, 257, 4096);
    return (size_t)rng_range(&w->r, 4097, 30000); /* deep: deferred deallocation */
}

void op_chain(worker *w)
{
    sref r;
    if (make_chain(w, chain_len(w), 0, &r)) {
        stat_add(ST_CHAINS, 1);
        root_set(w, any_root(w), r);
    }
}

void op_ring(worker *w)
{
    uint64_t roll = rng_below(&w->r, 100);
    size_t len = roll < 30   ? 1
                 : roll < 90 ? (size_t)rng_range(&w->r, 2, 16)
                             : (size_t)rng_range(&w->r, 17, 2000);
    sref r;
    if (make_chain(w, len, SOBJ_RING, &r)) {
        stat_add(ST_RINGS, 1);
        root_set(w, any_root(w), r);
    }
}
