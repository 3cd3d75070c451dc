/* A list read takes an item the reading thread owns with a plain increment
 * and no second look at the slot (lib/list.c, incref_if_ours). Here the
 * reader owns every item while another thread keeps replacing the list's one
 * item with them: each replaced item is released by the writer (a shared
 * decrement that queues it to its owner, the reader), so the reader's reads
 * race with releases of the very items it takes. Every read must return one
 * of the items, and at the end every count must be exact: the reader's own
 * reference, plus the list's for the item it holds. */
#include "check.h"
#include "objtest.h"

#define ITEMS 64
#define WRITES 300000

static weft_object *shared_list;
static weft_object *items[ITEMS];
static atomic_int writer_done;

static void *writer(void *arg)
{
    (void)arg;
    weft_thread_attach();
    for (long i = 1; i <= WRITES; i++)
        if (weft_list_set(shared_list, 0, items[i % ITEMS]) != 0)
            abort();
    atomic_store(&writer_done, 1);
    weft_thread_detach();
    return NULL;
}

/* Which of the items o is, or -1. */
static int index_of(const weft_object *o)
{
    for (int k = 0; k < ITEMS; k++)
        if (o == items[k])
            return k;
    return -1;
}

int main(void)
{
    REQUIRE(weft_init(NULL) == 0);
    for (int k = 0; k < ITEMS; k++)
        REQUIRE((items[k] = weft_int_new(1000000 + k)) != NULL);
    shared_list = weft_list_new(1);
    REQUIRE(shared_list && weft_list_append(shared_list, items[0]) == 0);
    pthread_t w;
    REQUIRE(pthread_create(&w, NULL, writer, NULL) == 0);
    long reads = 0, bad = 0;
    do { /* once at least, however soon the writer is done */
        weft_object *item = weft_list_get(shared_list, 0);
        int k = item ? index_of(item) : -1;
        if (k < 0 || weft_int_value(item) != 1000000 + k)
            bad++;
        weft_xdecref(item);
        if ((++reads & 255) == 0)
            weft_safepoint(); /* merges the writer's releases of our items */
    } while (!atomic_load(&writer_done));
    weft_test_join(w);
    weft_safepoint();
    printf("%ld reads during %d replacements\n", reads, WRITES);
    CHECK(reads > 0);
    CHECK_EQ_INT(bad, 0);
    weft_object *last = items[WRITES % ITEMS];
    CHECK_EQ_INT(weft_refcount(last), 2); /* ours and the list's */
    for (int k = 0; k < ITEMS; k++)
        if (items[k] != last)
            CHECK_EQ_INT(weft_refcount(items[k]), 1);
    weft_decref(shared_list);
    for (int k = 0; k < ITEMS; k++) {
        CHECK_EQ_INT(weft_refcount(items[k]), 1);
        CHECK_EQ_INT(weft_int_value(items[k]), 1000000 + k);
        weft_decref(items[k]);
    }
    CHECK_EQ_INT(weft_shutdown(), 0);
    return check_finish();
}
