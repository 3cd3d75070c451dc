/* weft_gc_collect against a stop of the collector thread. The thread stops
 * (weft_shutdown) after its current collection, and may leave a request it
 * had not taken yet: its waiter must then run it again (of the restarted
 * thread, or itself), not sleep until some other collection completes. It
 * used to sleep: nothing woke it, so a program whose other threads only
 * waited for it hung.
 *
 * A start callback holds the collector in a first collection while W asks
 * for a second one and the main thread's weft_shutdown asks the collector
 * to stop; the first collection is let go 100 ms after the shutdown began.
 * Two steps rely on sleeps (W waiting 50 ms after it says it asks, the
 * shutdown reaching the stop within 100 ms): on a machine too slow for
 * them the test passes without reaching the interleaving, never fails. */
#include "check.h"
#include "objtest.h"
#include <pthread.h>
#include <string.h>
#include <time.h>

static atomic_bool hold_next, held, release, shutting_down, w_asking, refused;
static atomic_long w_found = -2;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* On the collector thread, before its stop of the world. */
static void hold_collection(const char *phase, const weft_gc_info *info, void *arg)
{
    (void)info;
    (void)arg;
    if (strcmp(phase, "start") != 0 || !atomic_exchange(&hold_next, false))
        return;
    atomic_store(&held, true);
    weft_blocking_begin();
    while (!atomic_load(&release))
        sleep_ms(1);
    weft_blocking_end();
}

/* H and W stay attached until the main thread's first weft_shutdown has
 * been refused: their collections may end before it counts the attached
 * threads (it waits for the registry lock, which their stops hold). */
static void detach_after_refusal(void)
{
    weft_blocking_begin();
    while (!atomic_load(&refused))
        sleep_ms(1);
    weft_blocking_end();
    weft_thread_detach();
}

/* H: asks for the collection that is held. */
static void *holder_main(void *arg)
{
    (void)arg;
    if (weft_thread_attach() != 0)
        return NULL;
    weft_gc_collect(0);
    detach_after_refusal();
    return NULL;
}

/* W: asks for a second collection while the first is held. */
static void *waiter_main(void *arg)
{
    (void)arg;
    if (weft_thread_attach() != 0)
        return NULL;
    atomic_store(&w_asking, true);
    atomic_store(&w_found, weft_gc_collect(2));
    detach_after_refusal();
    return NULL;
}

/* R (not attached): lets the held collection go once the main thread is
 * inside weft_shutdown, which by then has asked the collector to stop. */
static void *releaser_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&shutting_down))
        sleep_ms(1);
    sleep_ms(100);
    atomic_store(&release, true);
    return NULL;
}

int main(void)
{
    REQUIRE(weft_init(NULL) == 0); /* the collector thread on */
    REQUIRE(weft_gc_add_callback(hold_collection, NULL) == 0);
    atomic_store(&hold_next, true);

    pthread_t h, w, r;
    REQUIRE(pthread_create(&r, NULL, releaser_main, NULL) == 0);
    REQUIRE(pthread_create(&h, NULL, holder_main, NULL) == 0);
    weft_blocking_begin();
    while (!atomic_load(&held))
        sleep_ms(1);
    weft_blocking_end();
    REQUIRE(pthread_create(&w, NULL, waiter_main, NULL) == 0);
    weft_blocking_begin();
    while (!atomic_load(&w_asking))
        sleep_ms(1);
    sleep_ms(50); /* W is waiting for its collection */
    weft_blocking_end();

    atomic_store(&shutting_down, true);
    /* H and W are attached: the shutdown fails, and restarts the collector. */
    CHECK_EQ_INT(weft_shutdown(), -1);
    CHECK_EQ_INT(weft_error(), WEFT_ESTATE);
    atomic_store(&refused, true);

    weft_test_join(h);
    weft_test_join(w); /* hung here */
    pthread_join(r, NULL);
    CHECK(atomic_load(&w_found) >= 0);

    REQUIRE(weft_gc_remove_callback(hold_collection, NULL) == 0);
    CHECK_EQ_INT(weft_shutdown(), 0);
    return check_finish();
}
