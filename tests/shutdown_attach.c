/* weft_shutdown and threads that attach: with another thread attached it
 * refuses and weft keeps running; once it has found the caller alone, no
 * thread attaches until the next weft_init, not even one a finalizer run by
 * the shutdown's own collection starts (before, that thread attached to a
 * runtime being torn down, and its objects outlived it). */
#include "check.h"
#include "objtest.h"
#include <pthread.h>
#include <string.h>

typedef struct attempt {
    int rc;
    weft_error_code error;
    char message[128];
} attempt;

static void *try_attach(void *arg)
{
    attempt *a = arg;
    a->rc = weft_thread_attach();
    a->error = weft_error();
    strncpy(a->message, a->rc ? weft_error_message() : "", sizeof a->message - 1);
    if (a->rc == 0) {
        weft_decref(node_new(50, NULL)); /* it uses the runtime */
        weft_thread_detach();
    }
    return NULL;
}

static attempt attach_in_new_thread(void)
{
    attempt a = {.rc = 99};
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, try_attach, &a) == 0);
    weft_test_join(t);
    return a;
}

/* ---- another thread attached: shutdown refuses, and everything goes on.
 * The other thread may shut down at the same moment: both are refused (each
 * sees the other), and one collector thread runs after, not two (a second
 * one, attached, would make the final weft_shutdown refuse). Before
 * shutdowns were serialized, both joined the one collector thread: a hang. */

static pthread_barrier_t attached, may_detach;
static long other_rc;

static void *stay_attached(void *also_shut_down)
{
    weft_thread_attach();
    weft_test_barrier_wait(&attached);
    if (also_shut_down)
        other_rc = weft_shutdown();
    weft_test_barrier_wait(&may_detach);
    weft_decref(node_new(51, NULL));
    weft_thread_detach();
    return NULL;
}

static void test_refused_beside(bool other_shuts_down)
{
    pthread_barrier_init(&attached, NULL, 2);
    pthread_barrier_init(&may_detach, NULL, 2);
    int deaths = atomic_load(&node_deaths[50]);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, stay_attached, other_shuts_down ? &other_rc : NULL) == 0);
    weft_test_barrier_wait(&attached);
    weft_error_clear();
    CHECK_EQ_INT(weft_shutdown(), -1);
    CHECK_EQ_INT(weft_error(), WEFT_ESTATE);
    CHECK(strstr(weft_error_message(), "1 other thread(s) still attached") != NULL);
    CHECK(weft_is_initialized());
    CHECK(weft_thread_is_attached());
    attempt a = attach_in_new_thread(); /* a refused shutdown closes nothing */
    CHECK_EQ_INT(a.rc, 0);
    CHECK_EQ_INT(node_deaths[50], deaths + 1);
    weft_test_barrier_wait(&may_detach);
    weft_test_join(t);
    CHECK_EQ_INT(node_deaths[51], other_shuts_down ? 2 : 1); /* weft ran on for it */
    if (other_shuts_down)
        CHECK_EQ_INT(other_rc, -1);
    pthread_barrier_destroy(&attached);
    pthread_barrier_destroy(&may_detach);
}

/* ---- a finalizer, run by the shutdown's collection, starts a thread */

static attempt during_shutdown;
static atomic_int finalizers_run;

static void attach_from_finalizer(weft_object *self)
{
    (void)self;
    if (atomic_fetch_add(&finalizers_run, 1) == 0)
        during_shutdown = attach_in_new_thread();
}

static const weft_type finalizable = FINALIZABLE_NODE_TYPE("shutdown_attach.node",
                                                           attach_from_finalizer);

int main(void)
{
    REQUIRE(weft_init(NULL) == 0);
    test_refused_beside(false);
    test_refused_beside(true);

    weft_gc_disable(); /* the cycle waits for the shutdown's collection */
    REQUIRE(node_cycle_dropped(&finalizable, 60));
    CHECK_EQ_INT(node_deaths[60], 0);
    CHECK_EQ_INT(weft_shutdown(), 0);
    CHECK_EQ_INT(node_deaths[60], 1);
    CHECK_EQ_INT(atomic_load(&finalizers_run), 2);
    CHECK_EQ_INT(during_shutdown.rc, -1); /* 0 before: it attached */
    CHECK_EQ_INT(during_shutdown.error, WEFT_ESTATE);
    CHECK(strstr(during_shutdown.message, "shutting down") != NULL);

    /* After it, still refused (not initialized); a new init opens again. */
    attempt after = attach_in_new_thread();
    CHECK_EQ_INT(after.rc, -1);
    CHECK_EQ_INT(after.error, WEFT_ESTATE);
    REQUIRE(weft_init(NULL) == 0);
    attempt again = attach_in_new_thread();
    CHECK_EQ_INT(again.rc, 0);
    CHECK_EQ_INT(node_deaths[50], 3);
    CHECK_EQ_INT(weft_shutdown(), 0);
    return check_finish();
}
