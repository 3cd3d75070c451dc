/* stress/handoff.c: the cross-thread handoff layer's contract, its backend
 * choice, and what every backend shares: the wake-ups of waiting workers.
 *
 * Mailboxes and board cells are where objects cross threads outside of other
 * objects. A backend (handoff_weft.c: weft's lists and dicts, the default;
 * handoff_ring.c: the harness's own ring buffers) keeps references the way a
 * container does, and promises:
 *   - a send or put takes its own new reference; the caller keeps its own
 *     (and drops it as it likes: holds are the caller's business);
 *   - a receive, a swap's old content and a get hand the caller a reference;
 *   - no finalizer or dealloc runs while a lock of the harness is held, and
 *     no lock of the harness is held across a weft call that can park the
 *     thread (a safepoint, a weft lock): a thread waiting for such a lock
 *     would hold up the others' stops of the world.
 *
 * Waiting (handoff_wait) uses a sequence counter and a condition variable per
 * mailbox, apart from the storage: it runs inside a blocking region and
 * touches no object. */
#include "stress.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const handoff_backend *handoff;

typedef struct waiter {
    pthread_mutex_t lock;
    pthread_cond_t arrived;
    uint64_t seq; /* lock: sends so far */
} __attribute__((aligned(64))) waiter;

static waiter *waiters;
static unsigned nwaiters;
static unsigned ncells;

int handoff_init(unsigned boxes, unsigned cells)
{
    handoff = strcmp(opt.handoff, "ring") == 0 ? &handoff_ring : &handoff_weft;
    nwaiters = boxes;
    ncells = cells;
    waiters = aligned_alloc(64, sizeof(waiter) * boxes);
    if (!waiters)
        return -1;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    for (unsigned i = 0; i < boxes; i++) {
        pthread_mutex_init(&waiters[i].lock, NULL);
        pthread_cond_init(&waiters[i].arrived, &attr);
        waiters[i].seq = 0;
    }
    pthread_condattr_destroy(&attr);
    return handoff->init(boxes, cells);
}

void handoff_notify(unsigned box)
{
    waiter *w = &waiters[box % nwaiters];
    pthread_mutex_lock(&w->lock);
    w->seq++;
    pthread_cond_signal(&w->arrived);
    pthread_mutex_unlock(&w->lock);
}

void handoff_wait(unsigned box, long usec)
{
    waiter *w = &waiters[box % nwaiters];
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_nsec += (usec % 1000000) * 1000;
    deadline.tv_sec += usec / 1000000 + deadline.tv_nsec / 1000000000;
    deadline.tv_nsec %= 1000000000;
    pthread_mutex_lock(&w->lock);
    uint64_t seen = w->seq;
    while (w->seq == seen && !atomic_load_explicit(&stop_requested, memory_order_relaxed))
        if (pthread_cond_timedwait(&w->arrived, &w->lock, &deadline) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&w->lock);
}

void handoff_wake_all(void)
{
    for (unsigned i = 0; i < nwaiters; i++) {
        pthread_mutex_lock(&waiters[i].lock);
        pthread_cond_broadcast(&waiters[i].arrived);
        pthread_mutex_unlock(&waiters[i].lock);
    }
}

weft_object *handoff_drain(void)
{
    weft_object *o = NULL;
    for (unsigned i = 0; i < nwaiters; i++) {
        int rc;
        while ((rc = handoff->recv(i, &o)) == HO_NOMEM) {
        }
        if (o)
            return o;
    }
    for (unsigned i = 0; i < ncells; i++) {
        while (handoff->swap(i, NULL, &o) == HO_NOMEM) {
        }
        if (o)
            return o;
    }
    return NULL;
}

void handoff_fini(void)
{
    handoff->fini();
    for (unsigned i = 0; i < nwaiters; i++) {
        pthread_mutex_destroy(&waiters[i].lock);
        pthread_cond_destroy(&waiters[i].arrived);
    }
    free(waiters);
    waiters = NULL;
}
