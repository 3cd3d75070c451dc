/* A thread that exits attached is detached for it, even from inside a
 * blocking region (an error path out of an I/O wait, pthread_exit). The
 * destructor's detach used to refuse there: the record stayed attached and
 * its QSBR registration stalled every grace period for good, so the next
 * weft_defer_barrier, and the next attach, never returned. */
#include "check.h"
#include "objtest.h"

static void *exit_blocked(void *arg)
{
    (void)arg;
    if (weft_thread_attach() == 0) {
        weft_blocking_begin();
        weft_blocking_begin(); /* nested: both are left */
    }
    return NULL;
}

static atomic_int attached_later;

static void *attach_detach(void *arg)
{
    (void)arg;
    if (weft_thread_attach() == 0) {
        weft_object *o = weft_int_new(100000);
        weft_xdecref(o);
        atomic_fetch_add(&attached_later, weft_thread_detach() == 0);
    }
    return NULL;
}

int main(void)
{
    REQUIRE(weft_init(NULL) == 0);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, exit_blocked, NULL) == 0);
    weft_test_join(t);
    REQUIRE(pthread_create(&t, NULL, attach_detach, NULL) == 0);
    weft_test_join(t);
    CHECK_EQ_INT(atomic_load(&attached_later), 1);
    weft_defer_free(weft_mem_malloc(32));
    weft_defer_barrier(); /* hung before */
    CHECK(weft_gc_collect(2) >= 0);
    CHECK_EQ_INT(weft_shutdown(), 0); /* -1 before: "1 other thread(s) still attached" */
    return check_finish();
}
