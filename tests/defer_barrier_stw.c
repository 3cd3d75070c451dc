/* weft_defer_barrier against stops of the world. The barrier waits for a
 * grace period; the threads a stop parks stay online in QSBR, so a waiter
 * that a stop waits for (attached, merely offline) and the stop waited for
 * each other for good. Thread A defers frees and waits on the barrier, B
 * collects (a stop each time), C runs between safepoints: before the
 * barrier waited inside a blocking region, this hung within a second. */
#include "check.h"
#include "objtest.h"

#define BARRIERS 100

static atomic_bool done;
static atomic_long barriers, collections, failures;

static void *barrier_loop(void *arg)
{
    (void)arg;
    if (weft_thread_attach() != 0) {
        atomic_fetch_add(&failures, 1);
        atomic_store(&done, true);
        return NULL;
    }
    for (int i = 0; i < BARRIERS; i++) {
        void *block = weft_mem_malloc(64);
        if (!block)
            atomic_fetch_add(&failures, 1);
        weft_defer_free(block);
        weft_defer_barrier();
        atomic_fetch_add(&barriers, 1);
    }
    atomic_store(&done, true);
    weft_thread_detach();
    return NULL;
}

static void collect_step(void)
{
    if (weft_gc_collect(0) < 0)
        atomic_fetch_add(&failures, 1);
    atomic_fetch_add(&collections, 1);
}

static void mutate_step(void)
{
    weft_object *o = weft_int_new(100000);
    weft_xdecref(o);
    weft_safepoint();
}

/* A thread that runs step (a void (*)(void)) until the barriers are done. */
static void *until_done(void *step)
{
    if (weft_thread_attach() != 0) {
        atomic_fetch_add(&failures, 1);
        return NULL;
    }
    do /* once at least, however soon the barriers are done */
        ((void (*)(void))step)();
    while (!atomic_load(&done));
    weft_thread_detach();
    return NULL;
}

int main(void)
{
    REQUIRE(weft_init(NULL) == 0);
    pthread_t a, b, c;
    REQUIRE(pthread_create(&a, NULL, barrier_loop, NULL) == 0);
    REQUIRE(pthread_create(&b, NULL, until_done, (void *)collect_step) == 0);
    REQUIRE(pthread_create(&c, NULL, until_done, (void *)mutate_step) == 0);
    weft_test_join(a);
    weft_test_join(b);
    weft_test_join(c);
    printf("%ld barriers, %ld collections alongside\n", atomic_load(&barriers),
           atomic_load(&collections));
    CHECK_EQ_INT(atomic_load(&failures), 0);
    CHECK_EQ_INT(atomic_load(&barriers), BARRIERS);
    CHECK(atomic_load(&collections) > 0);
    CHECK_EQ_INT(weft_shutdown(), 0);
    return check_finish();
}
