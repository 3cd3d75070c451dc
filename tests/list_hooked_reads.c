/* Run with WEFT_MALLOC=malloc: objects come from the system malloc and are
 * freed at once, so a lock-free list read must not touch another thread's
 * item before it knows the allocator is weft's own (lib/list.c,
 * optimistic_reads). A writer replaces the one item of a list over and over
 * while this thread reads it; under AddressSanitizer a read of a freed item's
 * header is reported. Every read returns one of the writer's ints. */
#include "check.h"
#include "objtest.h"

#define WRITES 800000
#define FIRST 100000

static weft_object *shared_list;
static atomic_int writer_done;

static void *writer(void *arg)
{
    (void)arg;
    weft_thread_attach();
    for (long i = 1; i <= WRITES; i++) {
        weft_object *x = weft_int_new(FIRST + i);
        if (!x || weft_list_set(shared_list, 0, x) != 0)
            abort();
        weft_decref(x);
    }
    atomic_store(&writer_done, 1);
    weft_thread_detach();
    return NULL;
}

int main(void)
{
    REQUIRE(weft_init(NULL) == 0);
    shared_list = weft_list_new(1);
    weft_object *first = weft_int_new(FIRST);
    REQUIRE(shared_list && first && weft_list_append(shared_list, first) == 0);
    weft_decref(first);
    pthread_t w;
    REQUIRE(pthread_create(&w, NULL, writer, NULL) == 0);
    long reads = 0, bad = 0;
    do { /* once at least, however soon the writer is done */
        weft_object *item = weft_list_get(shared_list, 0);
        if (!item || !weft_is_int(item) || weft_int_value(item) < FIRST ||
            weft_int_value(item) > FIRST + WRITES)
            bad++;
        weft_xdecref(item);
        if ((++reads & 1023) == 0)
            weft_safepoint();
    } while (!atomic_load(&writer_done));
    weft_test_join(w);
    CHECK(reads > 0);
    CHECK_EQ_INT(bad, 0);
    weft_object *last = weft_list_get(shared_list, 0);
    CHECK(last && weft_int_value(last) == FIRST + WRITES);
    weft_xdecref(last);
    weft_decref(shared_list);
    CHECK_EQ_INT(weft_shutdown(), 0);
    return check_finish();
}
