/* threads/fork.c: fork() of a process that runs weft.
 *
 * weft_init registers pthread_atfork handlers once. The supported fork is
 * the pre-fork server's: from an attached thread while it is the only
 * attached thread besides the collector thread (weft_gc_freeze first spares
 * the child the copy-on-write faults of collections). Around it:
 *   before  the collector thread is stopped (joined: it detaches, so nothing
 *           of it is half-done in the child), the registry is locked (no
 *           thread attaches, detaches or stops the world across the fork),
 *           and liburcu's call_rcu and hash-table workers are paused
 *           (urcu_qsbr_call_rcu_before_fork);
 *   after   in parent and child alike the workers resume (liburcu makes
 *           new ones in the child), the registry is unlocked, and the
 *           collector thread is started again.
 * The child's runtime is then whole: the forking thread attached, every
 * object it inherits owned by that thread or by records no thread holds.
 *
 * Any other fork of an initialized runtime (other threads attached, or the
 * fork made by an unattached thread or by the collector thread) leaves the
 * child records that say attached for threads that do not exist there: a
 * stop of the world would wait for them for ever. That child may exec or
 * _exit; a stop of the world in it ends the process with a message that
 * says why (stw.c), rather than hang. */
#include "thread.h"
#include "error.h"
#include "gc_internal.h"

#include <pthread.h>
#include <stdbool.h>
#include <urcu/urcu-qsbr.h>
#include <urcu/call-rcu.h>
#include <weft/runtime.h>

WEFT_ATOMIC(unsigned) _weft_fork_ghosts;

/* Set by the forking thread before the fork, read by it after: the
 * handlers run on that thread. */
static struct {
    bool initialized;       /* weft was: the registry is held */
    bool attached;          /* the forking thread is (in a blocking region) */
    bool collector_stopped; /* before_fork stopped a running collector thread */
    bool collector_forker;  /* the forking thread is the collector thread */
    unsigned others;        /* attached threads besides the forking one */
} fork_state;

static void before_fork(void)
{
    fork_state.initialized = weft_is_initialized();
    fork_state.attached = fork_state.initialized && weft_thread_is_attached();
    fork_state.collector_stopped = fork_state.collector_forker = false;
    fork_state.others = 0;
    if (fork_state.attached)
        fork_state.collector_forker = !_weft_gc_before_fork(&fork_state.collector_stopped);
    if (fork_state.initialized) {
        if (fork_state.attached)
            weft_blocking_begin(); /* a stop's requester holds the registry lock */
        _weft_registry_lock();
        fork_state.others = _weft_thread_others_attached_locked();
    }
    urcu_qsbr_call_rcu_before_fork();
}

/* In parent and child: the registry unlocked, the forking thread back from
 * its blocking region, the collector thread started again if restart. */
static void resume(bool restart)
{
    _weft_registry_unlock();
    if (fork_state.attached)
        weft_blocking_end();
    if (restart && _weft_gc_thread_start() != 0)
        weft_error_clear(); /* collections run on the allocating threads */
}

static void after_fork_parent(void)
{
    urcu_qsbr_call_rcu_after_fork_parent();
    if (fork_state.initialized)
        resume(fork_state.collector_stopped);
}

static void after_fork_child(void)
{
    urcu_qsbr_call_rcu_after_fork_child();
    if (!fork_state.initialized)
        return;
    bool whole = fork_state.attached && !fork_state.collector_forker && fork_state.others == 0;
    if (!whole) {
        /* The collector thread, when it ran on, is one of the ghosts (or
         * the forking thread, in the middle of a collection's work). */
        weft_store_relaxed(&_weft_fork_ghosts, fork_state.others ? fork_state.others : 1);
        _weft_gc_forget_thread();
    }
    resume(whole && fork_state.collector_stopped);
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void register_handlers(void)
{
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

void _weft_fork_init(void)
{
    pthread_once(&atfork_once, register_handlers);
}
