/* A lock-free dict lookup whose stored key dies in its hands. The reader
 * takes a reference to a stored str key to compare it; meanwhile the owner
 * clears the dict, so the reader's release is the key's last, and the key's
 * death runs on the reader in the middle of its lookup. A death can pass a
 * quiescent state (here a weakref callback waits on weft_defer_barrier; a
 * large str's deferred free does it too), after which the table the clear
 * retired is freed. The reader used to drop the key and go on reading that
 * table (AddressSanitizer: use-after-poison in lookup_optimistic); it now
 * drops it once it is done with the table.
 *
 * The overlap comes from timing: the comparison of two 16 MiB strs takes
 * milliseconds, and the clear comes 2 ms after the reader starts. When it
 * misses, the reader finds nothing or the value, and the test proves less;
 * it never fails for that. */
#include "check.h"
#include "objtest.h"
#include <string.h>
#include <unistd.h>

#define BIG (16u << 20)

static char *bytes;
static weft_object *dict;
static atomic_bool reader_started, cleared, reader_done;
static atomic_int callbacks_on_reader;
static pthread_t reader_thread;

static void on_key_death(weft_object *ref, void *arg)
{
    (void)ref, (void)arg;
    if (!pthread_equal(pthread_self(), reader_thread))
        return; /* the timing missed: the key died on the owner */
    atomic_fetch_add(&callbacks_on_reader, 1);
    while (!atomic_load(&cleared))
        sched_yield();
    weft_defer_barrier(); /* the cleared table is freed by now */
    for (int i = 0; i < 1000; i++) /* and its memory reused */
        weft_mem_free(memset(weft_mem_malloc(184), 0x41, 184));
}

static atomic_long got; /* 0 missing, 1 the value, 2 anything else */

static void *reader(void *arg)
{
    weft_object *value = arg;
    if (weft_thread_attach() != 0) {
        atomic_store(&got, 2);
        atomic_store(&reader_started, true);
        atomic_store(&reader_done, true);
        return NULL;
    }
    weft_object *key = weft_str_new(bytes, BIG); /* equal, not the same */
    if (key)
        weft_str_hash(key);
    atomic_store(&reader_started, true);
    weft_object *v = key ? weft_dict_get(dict, key) : NULL;
    atomic_store(&got, !v ? 0 : v == value ? 1 : 2);
    weft_xdecref(v);
    weft_xdecref(key);
    atomic_store(&reader_done, true);
    weft_thread_detach();
    return NULL;
}

int main(void)
{
    REQUIRE(weft_init(NULL) == 0);
    REQUIRE((bytes = malloc(BIG)) != NULL);
    memset(bytes, 'x', BIG);
    weft_object *key = weft_str_new(bytes, BIG), *value = weft_int_new(123456);
    REQUIRE(key && value && (dict = weft_dict_new()) != NULL);
    REQUIRE(weft_dict_set(dict, key, value) == 0);
    weft_object *ref = weft_weakref_new(key, on_key_death, NULL);
    REQUIRE(ref != NULL);
    weft_decref(key); /* the dict holds the only reference */

    REQUIRE(pthread_create(&reader_thread, NULL, reader, value) == 0);
    weft_blocking_begin();
    while (!atomic_load(&reader_started))
        sched_yield();
    usleep(2000);
    weft_blocking_end();
    weft_dict_clear(dict);
    atomic_store(&cleared, true);
    weft_test_join(reader_thread);

    printf("the key died on the reader: %s\n", atomic_load(&callbacks_on_reader) ? "yes" : "no");
    CHECK(atomic_load(&got) != 2);
    CHECK_EQ_INT(weft_dict_len(dict), 0);
    CHECK(weft_weakref_get(ref) == NULL);
    weft_decref(ref);
    weft_decref(dict);
    weft_decref(value);
    free(bytes);
    CHECK_EQ_INT(weft_shutdown(), 0);
    return check_finish();
}
