/* stress/revive.c: where finalizers resurrect objects to.
 *
 * A stress.obj made with SOBJ_RESURRECT stores a new reference to itself here
 * from its finalizer (PEP 442: the finalizer runs once; the object lives on
 * with everything it owns). Workers take resurrected objects back, check that
 * they are intact, and keep or drop them; the second death runs no finalizer.
 * The list's reference counts as a hold of the harness: the oracle learns of
 * it before the object is published here.
 *
 * Finalizers run inside weft calls on any thread, so the lock here is a
 * leaf: nothing under it can run a finalizer or a dealloc (an incref cannot). */
#include "stress.h"

#include <pthread.h>
#include <stdlib.h>

#define REVIVE_MAX 4096 /* beyond this, finalizers let their objects die */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static weft_object **items; /* lock */
static size_t count, cap;   /* lock */

bool revive_put(weft_object *self)
{
    sobj *s = (sobj *)self;
    pthread_mutex_lock(&lock);
    if (count == cap) {
        size_t ncap = cap ? cap * 2 : 1024;
        weft_object **n = ncap <= REVIVE_MAX ? realloc(items, ncap * sizeof *n) : NULL;
        if (!n) {
            pthread_mutex_unlock(&lock);
            return false;
        }
        items = n;
        cap = ncap;
    }
    weft_incref(self);
    oracle_resurrected(s->id); /* the hold, before anyone can take it */
    items[count++] = self;
    pthread_mutex_unlock(&lock);
    return true;
}

weft_object *revive_take(void)
{
    pthread_mutex_lock(&lock);
    weft_object *o = count ? items[--count] : NULL;
    pthread_mutex_unlock(&lock);
    if (o)
        stat_add(ST_REVIVED, 1);
    return o;
}

size_t revive_len(void)
{
    pthread_mutex_lock(&lock);
    size_t n = count;
    pthread_mutex_unlock(&lock);
    return n;
}

void revive_fini(void)
{
    pthread_mutex_lock(&lock);
    free(items);
    items = NULL;
    count = cap = 0;
    pthread_mutex_unlock(&lock);
}
