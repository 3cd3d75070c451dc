/* stress/worker.h: what the files of the operation mix share (workload.c,
 * roots.c, make.c, containers.c, rings.c): a worker incarnation's state and
 * the helpers that keep its holds right. The rest of the harness sees only
 * stress.h. */
#ifndef WEFT_STRESS_WORKER_H
#define WEFT_STRESS_WORKER_H

#include "stress.h"

typedef struct worker {
    worker_slot *slot;
    uint32_t serial; /* this incarnation's, unique in the run */
    rng r;
    idblock ids;
    sref *roots;
    unsigned nroots;
    wlist weak;  /* random weakrefs to stress.objs */
    wlist watch; /* watches of the tracked built-ins made here */
    /* Member ids of rings this incarnation made and dropped whole, to check
     * after its next full collection (rings.c). */
    uint64_t *rings;
    size_t nrings, caprings;
} worker;

/* roots.c */
/* A weft call failed: true for an injected WEFT_ENOMEM (the caller cleans
 * up); anything else stops the run. */
bool failed(const char *what);
/* Release a held reference: drop() breaks or records a ring; drop_plain()
 * is for a reference that moved elsewhere (the ring lives on there). */
void drop(worker *w, sref *r);
void drop_plain(sref *r);
/* --inject-bug: true once, for the first stress.obj that comes by, when
 * the bug asked for is `kind`. */
bool inject_bug(int kind, const sref *r);
/* Take over a reference handed out by a container or the handoff layer. */
void take(weft_object *o, sref *r, const char *where);
/* Store r in root i (moved in), dropping what was there. */
void root_set(worker *w, unsigned i, sref r);
int pick_root(worker *w, bool allow_ring);
int pick_kind(worker *w, unsigned kind);
unsigned any_root(worker *w);
/* A root's object to make a child of a new one (not a ring, below GEN_MAX),
 * or NULL; raises *gen to cover it. */
weft_object *borrow(worker *w, unsigned *gen);

/* make.c */
bool finish_new(worker *w, weft_object *o, uint64_t id, sref *out);
bool make_leaf(worker *w, sref *out);
void op_new(worker *w);
void op_tree(worker *w);
void op_chain(worker *w);
void op_ring(worker *w);

/* containers.c */
void op_container_new(worker *w);
void op_list(worker *w);
void op_dict(worker *w);

/* rings.c */
void ring_break(weft_object *head);
void drop_ring(worker *w, weft_object *head);
/* After the worker's own full collection and a safepoint: its first n
 * recorded ring members must be dead. */
void rings_check_own(worker *w, size_t n);
/* A leaving worker hands its recorded rings to the end phase. */
void rings_retire(worker *w);
/* Drop the dead from a worker's list when it grows large. */
void rings_prune_own(worker *w);

#endif
