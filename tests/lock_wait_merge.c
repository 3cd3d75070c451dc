/* A thread that waited for a contended container lock takes it only after
 * leaving its blocking region. It used to take it inside the region and
 * then leave, and leaving runs the thread's safepoint, whose merge of its
 * queue can deallocate: a dealloc (user code) then ran under the lock, and
 * one that used the same container waited for ever for its own thread
 * (found by review, lib/objlock.c).
 *
 * The window, between the waiter's return to ATTACHED and its look at its
 * merge requests, is held open by wrapping liburcu's
 * urcu_qsbr_thread_online (-Wl,--wrap, tests/CMakeLists.txt): when the
 * main thread comes back online from its wait, another thread drops a
 * reference to a "trap" object main owns, which queues it to main; the
 * trap's dealloc, run by main's merge, appends to the contended list. */
#define WEFT_BUILDING_LIBRARY 1
#include "check.h"
#include "objlock.h"
#include "objtest.h"

#include <unistd.h>

#define WRAP_WAIT_US 10000000 /* 10 s: a bound, never reached when it works */

static weft_object *list;
static _Thread_local bool waiting_for_list; /* main, inside its contended append */
static atomic_int phase; /* 1: main back online after its wait; 2: the trap is queued */
static atomic_bool holder_holds;
static _Atomic(weft_object *) trap;
static atomic_int trap_deaths, trap_died_under_lock, trap_append_rc = -2;

void __real_urcu_qsbr_thread_online(void);
void __wrap_urcu_qsbr_thread_online(void)
{
    __real_urcu_qsbr_thread_online();
    if (!waiting_for_list || atomic_load(&phase) != 0)
        return;
    atomic_store(&phase, 1);
    for (int waited = 0; atomic_load(&phase) != 2 && waited < WRAP_WAIT_US; waited += 100)
        usleep(100);
}

static void trap_dealloc(weft_object *self)
{
    (void)self;
    atomic_fetch_add(&trap_deaths, 1);
    bool locked = weft_load_relaxed(&list->flags) & WEFT_OBJ_LOCKED;
    if (locked && !atomic_load(&holder_holds)) {
        atomic_store(&trap_died_under_lock, 1); /* ours: appending would never end */
        return;
    }
    weft_object *item = weft_int_new(3);
    atomic_store(&trap_append_rc, item ? weft_list_append(list, item) : -1);
    weft_xdecref(item);
}

static const weft_type trap_type = {
    .name = "test.trap",
    .basic_size = sizeof(weft_object),
    .dealloc = trap_dealloc,
};

/* Holds the list's lock until main waits for it (WAITERS). */
static void *holder(void *arg)
{
    (void)arg;
    if (weft_thread_attach() != 0)
        return NULL;
    atomic_store(&holder_holds, true);
    _weft_object_lock(list);
    while (!(weft_load_relaxed(&list->flags) & WEFT_OBJ_LOCK_WAITERS))
        weft_test_yield();
    atomic_store(&holder_holds, false);
    _weft_object_unlock(list);
    weft_thread_detach();
    return NULL;
}

/* Drops main's trap once main is back online from its wait. */
static void *queuer(void *arg)
{
    (void)arg;
    if (weft_thread_attach() != 0)
        return NULL;
    weft_blocking_begin();
    while (atomic_load(&phase) != 1)
        usleep(50);
    weft_blocking_end();
    weft_decref(atomic_exchange(&trap, NULL)); /* a non-owner's: queued to main */
    atomic_store(&phase, 2);
    weft_thread_detach();
    return NULL;
}

int main(void)
{
    setenv("WEFT_LOCK_BIAS", "0", 1); /* the plain lock from the start */
    alarm(60);
    REQUIRE(weft_init(NULL) == 0);
    weft_gc_disable(); /* no stop of the world while main waits in the wrapper */
    list = weft_list_new(0);
    weft_object *t = weft_new(&trap_type);
    REQUIRE(list && t);
    atomic_store(&trap, t); /* main's one reference, handed to the queuer */

    pthread_t h, q;
    REQUIRE(pthread_create(&q, NULL, queuer, NULL) == 0);
    REQUIRE(pthread_create(&h, NULL, holder, NULL) == 0);
    while (!(weft_load_relaxed(&list->flags) & WEFT_OBJ_LOCKED))
        weft_test_yield();
    weft_object *item = weft_int_new(9);
    REQUIRE(item);
    waiting_for_list = true;
    CHECK_EQ_INT(weft_list_append(list, item), 0); /* contended: waits */
    waiting_for_list = false;
    weft_decref(item);
    weft_test_join(h);
    weft_test_join(q);

    CHECK_EQ_INT(atomic_load(&phase), 2);
    CHECK_EQ_INT(atomic_load(&trap_deaths), 1);
    CHECK_EQ_INT(atomic_load(&trap_died_under_lock), 0);
    CHECK_EQ_INT(atomic_load(&trap_append_rc), 0);
    CHECK_EQ_INT(weft_list_len(list), 2);
    weft_decref(list);
    CHECK_EQ_INT(weft_shutdown(), 0);
    return check_finish();
}
