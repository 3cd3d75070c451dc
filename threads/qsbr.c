/* threads/qsbr.c: QSBR glue and deferred frees (qsbr.h).
 *
 * ThreadSanitizer cannot see liburcu's synchronisation (it is not
 * instrumented), so in TSan builds every quiescent state releases, and every
 * deferred free acquires, one shared sync address: a deferred free runs after
 * a grace period, i.e. after every reader's next quiescent state, so this edge
 * is exactly the ordering the grace period guarantees. */
#include "qsbr.h"
#include "error.h"
#include "thread.h"
#include "pool.h"

#include <stdlib.h>
#include <urcu-qsbr.h>
#include <weft/mem.h>
#include <weft/runtime.h>

#if WEFT_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
static char tsan_grace_sync;
#define TSAN_QUIESCENT() __tsan_release(&tsan_grace_sync)
#define TSAN_AFTER_GRACE() __tsan_acquire(&tsan_grace_sync)
#else
#define TSAN_QUIESCENT() ((void)0)
#define TSAN_AFTER_GRACE() ((void)0)
#endif

void _weft_qsbr_thread_register(void)
{
    urcu_qsbr_register_thread();
}

void _weft_qsbr_thread_unregister(void)
{
    TSAN_QUIESCENT();
    urcu_qsbr_unregister_thread();
}

void _weft_qsbr_thread_online(void)
{
    urcu_qsbr_thread_online();
}

void _weft_qsbr_thread_offline(void)
{
    TSAN_QUIESCENT();
    urcu_qsbr_thread_offline();
}

void _weft_qsbr_quiescent(void)
{
    TSAN_QUIESCENT();
    urcu_qsbr_quiescent_state();
}

typedef struct deferred_block {
    struct rcu_head rcu;
    void *block;
    void (*free_fn)(void *block);
} deferred_block;

static void free_after_grace(struct rcu_head *head)
{
    deferred_block *d = caa_container_of(head, deferred_block, rcu);
    TSAN_AFTER_GRACE();
    d->free_fn(d->block);
    free(d);
}

/* Run wait (a wait for grace periods) from any thread. An attached thread
 * waits inside a blocking region, not merely offline: a stop of the world
 * waits for every attached thread outside one, and the threads it has parked
 * stay online, so an attached waiter and a stop would wait for each other. */
static void wait_for_grace(void (*wait)(void))
{
    bool attached = _weft_tls_thread != NULL;
    if (attached)
        weft_blocking_begin();
    wait();
    if (attached)
        weft_blocking_end();
    TSAN_AFTER_GRACE();
}

static void synchronize_from_reader(void)
{
    wait_for_grace(urcu_qsbr_synchronize_rcu);
}

void _weft_defer_free_with(void *block, void (*free_fn)(void *block))
{
    if (!block)
        return;
    deferred_block *d = malloc(sizeof *d);
    if (!d) {
        /* No memory for the record: wait for the grace period here. */
        synchronize_from_reader();
        free_fn(block);
        return;
    }
    d->block = block;
    d->free_fn = free_fn;
    urcu_qsbr_call_rcu(&d->rcu, free_after_grace);
    if (_weft_tls_thread)
        _weft_quiescent_every(_weft_tls_thread, 64);
}

void weft_defer_free(void *block)
{
    _weft_defer_free_with(block, weft_mem_free);
}

typedef struct retired_batch {
    struct rcu_head rcu;
    weft_pool *pools;
} retired_batch;

static void release_batch_after_grace(struct rcu_head *head)
{
    retired_batch *b = caa_container_of(head, retired_batch, rcu);
    TSAN_AFTER_GRACE();
    _weft_pool_release_retired(b->pools);
    free(b);
}

void _weft_qsbr_flush_retired_pools(void)
{
    weft_pool *pools = _weft_pool_take_retired();
    if (!pools)
        return;
    retired_batch *b = malloc(sizeof *b);
    if (!b) {
        synchronize_from_reader();
        _weft_pool_release_retired(pools);
        return;
    }
    b->pools = pools;
    urcu_qsbr_call_rcu(&b->rcu, release_batch_after_grace);
}

void weft_defer_barrier(void)
{
    wait_for_grace(urcu_qsbr_barrier);
}
