/* stress/handoff_weft.c: the handoff layer over weft's own containers
 * (handoff.c has the contract): a weft list per mailbox, one weft dict keyed
 * by small ints for the board. Every worker appends to, pops from, reads and
 * writes the same few containers at once, so the containers' locking,
 * optimistic reads and deferred frees are under test along with the objects
 * moving through them.
 *
 * No harness lock at all: a board swap is a get then a set (or a delete),
 * which two threads may interleave on one cell. Then both take the same old
 * value (each with its own reference) and one value put is replaced at once;
 * counts stay exact either way, and that is all the workload needs. */
#include "stress.h"

#include <stdlib.h>

#define BOX_CAP 512

static weft_object **boxes; /* lists, created and dropped by the main thread */
static unsigned nboxes;
static weft_object *board; /* dict: small int -> object */
static unsigned ncells;

/* A weft call failed: out of memory is the caller's to handle (the error is
 * left set for it); anything else is weft misbehaving. */
static int nomem_or_violation(const char *what)
{
    if (weft_error() == WEFT_ENOMEM)
        return HO_NOMEM;
    violation("%s failed with %s (\"%s\")", what, weft_error_name(weft_error()),
              weft_error_message());
}

static weft_object *cell_key(unsigned cell)
{
    return weft_int_new(
        (int64_t)(cell % ncells)); /* a small int: immortal, never fails */
}

static int w_init(unsigned nb, unsigned nc)
{
    if (nc > WEFT_SMALL_INT_MAX + 1)
        return -1;
    nboxes = nb;
    ncells = nc;
    boxes = calloc(nb, sizeof *boxes);
    if (!boxes)
        return -1;
    for (unsigned i = 0; i < nb; i++)
        if (!(boxes[i] = weft_list_new(16)))
            return -1;
    board = weft_dict_new();
    return board ? 0 : -1;
}

static int w_send(unsigned to, weft_object *o)
{
    weft_object *l = boxes[to % nboxes];
    if (weft_list_len(l) >= BOX_CAP)
        return HO_FULL;
    if (weft_list_append(l, o) != 0)
        return nomem_or_violation("weft_list_append (mailbox)");
    handoff_notify(to);
    return HO_OK;
}

static int w_recv(unsigned which, weft_object **out)
{
    weft_object *l = boxes[which % nboxes];
    *out = NULL;
    if (weft_list_len(l) == 0)
        return HO_EMPTY;
    *out = weft_list_pop(l, 0);
    if (*out)
        return HO_OK;
    if (weft_error() == WEFT_EINVAL) { /* emptied by another thread meanwhile */
        weft_error_clear();
        return HO_EMPTY;
    }
    return nomem_or_violation("weft_list_pop (mailbox)");
}

static int w_get(unsigned cell, weft_object **out)
{
    weft_error_clear();
    *out = weft_dict_get(board, cell_key(cell));
    if (*out || weft_error() == WEFT_OK)
        return HO_OK;
    return nomem_or_violation("weft_dict_get (board)");
}

static int w_swap(unsigned cell, weft_object *o, weft_object **old)
{
    weft_object *key = cell_key(cell);
    int rc = w_get(cell, old);
    if (rc != HO_OK)
        return rc;
    if (o) {
        if (weft_dict_set(board, key, o) != 0) {
            rc = nomem_or_violation("weft_dict_set (board)");
            weft_xdecref(*old); /* the cell keeps it: give back our reference */
            *old = NULL;
            return rc;
        }
    } else if (*old && weft_dict_del(board, key) != 0) {
        if (weft_error() != WEFT_EINVAL) /* EINVAL: another thread emptied it */
            violation("weft_dict_del (board) failed with %s (\"%s\")",
                      weft_error_name(weft_error()), weft_error_message());
        weft_error_clear();
    }
    return HO_OK;
}

static size_t w_pending(void)
{
    size_t n = weft_dict_len(board);
    for (unsigned i = 0; i < nboxes; i++)
        n += weft_list_len(boxes[i]);
    return n;
}

static void w_fini(void)
{
    for (unsigned i = 0; i < nboxes; i++)
        weft_clearref(&boxes[i]);
    weft_clearref(&board);
    free(boxes);
    boxes = NULL;
}

const handoff_backend handoff_weft = {
    .name = "weft",
    .init = w_init,
    .send = w_send,
    .recv = w_recv,
    .swap = w_swap,
    .get = w_get,
    .pending = w_pending,
    .fini = w_fini,
};
