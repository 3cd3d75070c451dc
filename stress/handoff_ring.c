/* stress/handoff_ring.c: the handoff layer over the harness's own structures
 * (handoff.c has the contract): a ring buffer per mailbox and a pointer per
 * board cell, each under a mutex. Under a lock the only weft call is an
 * incref, which can neither free nor park; releases happen after unlocking.
 * It leaves weft's containers out of the picture, to tell their bugs from
 * the rest. */
#include "stress.h"

#include <pthread.h>
#include <stdlib.h>

#define BOX_CAP 512

typedef struct box {
    pthread_mutex_t lock;
    weft_object **ring; /* lock: count references from head, wrapping */
    size_t head, count; /* lock */
} __attribute__((aligned(64))) box;

typedef struct cell {
    pthread_mutex_t lock;
    weft_object *o; /* lock; owned */
} __attribute__((aligned(64))) cell;

static box *boxes;
static unsigned nboxes;
static cell *cells;
static unsigned ncells;

static int ring_init(unsigned nb, unsigned nc)
{
    nboxes = nb;
    ncells = nc;
    boxes = aligned_alloc(64, sizeof(box) * nb);
    cells = aligned_alloc(64, sizeof(cell) * nc);
    if (!boxes || !cells)
        return -1;
    for (unsigned i = 0; i < nb; i++) {
        pthread_mutex_init(&boxes[i].lock, NULL);
        boxes[i].ring = calloc(BOX_CAP, sizeof(weft_object *));
        boxes[i].head = boxes[i].count = 0;
        if (!boxes[i].ring)
            return -1;
    }
    for (unsigned i = 0; i < nc; i++) {
        pthread_mutex_init(&cells[i].lock, NULL);
        cells[i].o = NULL;
    }
    return 0;
}

static int ring_send(unsigned to, weft_object *o)
{
    box *b = &boxes[to % nboxes];
    pthread_mutex_lock(&b->lock);
    if (b->count == BOX_CAP) {
        pthread_mutex_unlock(&b->lock);
        return HO_FULL;
    }
    weft_incref(o);
    b->ring[(b->head + b->count) % BOX_CAP] = o;
    b->count++;
    pthread_mutex_unlock(&b->lock);
    handoff_notify(to);
    return HO_OK;
}

static int ring_recv(unsigned which, weft_object **out)
{
    box *b = &boxes[which % nboxes];
    *out = NULL;
    pthread_mutex_lock(&b->lock);
    if (b->count) {
        *out = b->ring[b->head];
        b->head = (b->head + 1) % BOX_CAP;
        b->count--;
    }
    pthread_mutex_unlock(&b->lock);
    return *out ? HO_OK : HO_EMPTY;
}

static int ring_swap(unsigned which, weft_object *o, weft_object **old)
{
    cell *c = &cells[which % ncells];
    pthread_mutex_lock(&c->lock);
    if (o)
        weft_incref(o);
    *old = c->o;
    c->o = o;
    pthread_mutex_unlock(&c->lock);
    return HO_OK;
}

static int ring_get(unsigned which, weft_object **out)
{
    cell *c = &cells[which % ncells];
    pthread_mutex_lock(&c->lock);
    *out = c->o;
    if (*out)
        weft_incref(*out);
    pthread_mutex_unlock(&c->lock);
    return HO_OK;
}

static size_t ring_pending(void)
{
    size_t n = 0;
    for (unsigned i = 0; i < nboxes; i++) {
        pthread_mutex_lock(&boxes[i].lock);
        n += boxes[i].count;
        pthread_mutex_unlock(&boxes[i].lock);
    }
    for (unsigned i = 0; i < ncells; i++) {
        pthread_mutex_lock(&cells[i].lock);
        n += cells[i].o != NULL;
        pthread_mutex_unlock(&cells[i].lock);
    }
    return n;
}

static void ring_fini(void)
{
    for (unsigned i = 0; i < nboxes; i++) {
        pthread_mutex_destroy(&boxes[i].lock);
        free(boxes[i].ring);
    }
    for (unsigned i = 0; i < ncells; i++)
        pthread_mutex_destroy(&cells[i].lock);
    free(boxes);
    free(cells);
    boxes = NULL;
    cells = NULL;
}

const handoff_backend handoff_ring = {
    .name = "ring",
    .init = ring_init,
    .send = ring_send,
    .recv = ring_recv,
    .swap = ring_swap,
    .get = ring_get,
    .pending = ring_pending,
    .fini = ring_fini,
};
