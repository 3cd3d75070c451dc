/* Lists and dicts shared by threads: readers never get a freed object, the
 * final state is exact, resize storms and iteration under mutation are safe. */
#include "check.h"
#include "objtest.h"
#include <pthread.h>
#include <stdio.h>

#define WRITERS 2
#define READERS 2
#define PER_WRITER 20000

static weft_object *shared_list, *shared_dict;
static weft_object *keys[WRITERS * PER_WRITER];
static atomic_int writers_done;
static atomic_long bad_reads, reads;

/* An object a reader holds must be alive: its death count is 0. */
static void check_alive(weft_object *o)
{
    atomic_fetch_add(&reads, 1);
    if (o->type != &node_type) {
        if (!weft_is_int(o))
            atomic_fetch_add(&bad_reads, 1);
        return;
    }
    long id = ((node *)o)->id;
    if (id < 0 || id >= NODE_IDS || atomic_load(&node_deaths[id]) != 0)
        atomic_fetch_add(&bad_reads, 1);
}

static unsigned rnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

static void *list_writer(void *arg)
{
    long w = (long)arg;
    weft_thread_attach();
    unsigned seed = (unsigned)w + 1;
    for (int i = 0; i < PER_WRITER; i++) {
        weft_object *n = node_new(w * PER_WRITER + i, NULL);
        weft_list_append(shared_list, n);
        weft_decref(n);
        /* churn: replace, pop and reinsert random items */
        size_t len = weft_list_len(shared_list);
        if (len > 10 && (rnd(&seed) & 7) == 0) {
            size_t at = rnd(&seed) % len;
            weft_object *p = weft_list_pop(shared_list, at);
            if (p) {
                weft_list_insert(shared_list, rnd(&seed) % weft_list_len(shared_list), p);
                weft_decref(p);
            }
        }
        if ((i & 255) == 0)
            weft_safepoint();
    }
    atomic_fetch_add(&writers_done, 1);
    weft_thread_detach();
    return NULL;
}

static void *list_reader(void *arg)
{
    weft_thread_attach();
    unsigned seed = (unsigned)(long)arg * 7919u;
    while (atomic_load(&writers_done) < WRITERS) {
        size_t len = weft_list_len(shared_list);
        if (len) {
            weft_object *o = weft_list_get(shared_list, rnd(&seed) % len);
            if (o) {
                check_alive(o);
                weft_decref(o);
            }
        }
        if ((rnd(&seed) & 1023) == 0) { /* iterate the whole list */
            size_t pos = 0;
            weft_object *it;
            while ((it = weft_list_next(shared_list, &pos)) != NULL) {
                check_alive(it);
                weft_decref(it);
            }
        }
        weft_safepoint();
    }
    weft_thread_detach();
    return NULL;
}

static void test_list(void)
{
    shared_list = weft_list_new(0);
    atomic_store(&writers_done, 0);
    pthread_t w[WRITERS], r[READERS];
    for (long i = 0; i < WRITERS; i++)
        pthread_create(&w[i], NULL, list_writer, (void *)i);
    for (long i = 0; i < READERS; i++)
        pthread_create(&r[i], NULL, list_reader, (void *)(i + 1));
    for (int i = 0; i < WRITERS; i++)
        weft_test_join(w[i]);
    for (int i = 0; i < READERS; i++)
        weft_test_join(r[i]);
    /* Exact final state: every id exactly once. */
    CHECK_EQ_INT(weft_list_len(shared_list), WRITERS * PER_WRITER);
    static unsigned char seen[WRITERS * PER_WRITER];
    memset(seen, 0, sizeof seen);
    size_t pos = 0, dup = 0;
    weft_object *it;
    while ((it = weft_list_next(shared_list, &pos)) != NULL) {
        long id = ((node *)it)->id;
        dup += seen[id]++ != 0;
        weft_decref(it);
    }
    CHECK_EQ_INT(dup, 0);
    long before = atomic_load(&node_dead_total);
    weft_decref(shared_list);
    CHECK_EQ_INT(atomic_load(&node_dead_total) - before, WRITERS * PER_WRITER);
}

/* Dict: each writer owns a key range; it sets, replaces and deletes its keys
 * in waves (the table grows and shrinks: resize storms), readers look up any
 * key and iterate. */
#define WAVES 4
static void *dict_writer(void *arg)
{
    long w = (long)arg;
    weft_thread_attach();
    long base = w * PER_WRITER;
    for (int wave = 0; wave < WAVES; wave++) {
        for (int i = 0; i < PER_WRITER; i++) {
            weft_object *v = node_new(2 * WRITERS * PER_WRITER + (base + i) * WAVES + wave, NULL);
            weft_dict_set(shared_dict, keys[base + i], v);
            weft_decref(v);
            if ((i & 255) == 0)
                weft_safepoint();
        }
        if (wave + 1 < WAVES)
            for (int i = 0; i < PER_WRITER; i++)
                if (i % 4 != 0)
                    weft_dict_del(shared_dict, keys[base + i]);
    }
    atomic_fetch_add(&writers_done, 1);
    weft_thread_detach();
    return NULL;
}

static void *dict_reader(void *arg)
{
    weft_thread_attach();
    unsigned seed = (unsigned)(long)arg * 104729u;
    char buf[32];
    while (atomic_load(&writers_done) < WRITERS) {
        long k = rnd(&seed) % (WRITERS * PER_WRITER);
        /* Half the lookups use an equal but distinct key object. */
        weft_object *key = keys[k], *probe = NULL;
        if (rnd(&seed) & 1) {
            snprintf(buf, sizeof buf, "k%ld", k);
            key = probe = weft_str_from_cstr(buf);
        }
        weft_object *v = weft_dict_get(shared_dict, key);
        if (v) {
            check_alive(v);
            weft_decref(v);
        }
        weft_xdecref(probe);
        if ((rnd(&seed) & 4095) == 0) {
            size_t pos = 0;
            weft_object *kk, *vv;
            while (weft_dict_next(shared_dict, &pos, &kk, &vv)) {
                check_alive(vv);
                weft_decref(kk);
                weft_decref(vv);
            }
        }
        weft_safepoint();
    }
    weft_thread_detach();
    return NULL;
}

static void test_dict(void)
{
    char buf[32];
    for (long k = 0; k < WRITERS * PER_WRITER; k++) {
        snprintf(buf, sizeof buf, "k%ld", k);
        keys[k] = weft_str_from_cstr(buf);
    }
    shared_dict = weft_dict_new();
    atomic_store(&writers_done, 0);
    pthread_t w[WRITERS], r[READERS];
    for (long i = 0; i < WRITERS; i++)
        pthread_create(&w[i], NULL, dict_writer, (void *)i);
    for (long i = 0; i < READERS; i++)
        pthread_create(&r[i], NULL, dict_reader, (void *)(i + 1));
    for (int i = 0; i < WRITERS; i++)
        weft_test_join(w[i]);
    for (int i = 0; i < READERS; i++)
        weft_test_join(r[i]);
    /* Exact final state: every key present with its last wave's value. */
    CHECK_EQ_INT(weft_dict_len(shared_dict), WRITERS * PER_WRITER);
    int wrong = 0;
    for (long k = 0; k < WRITERS * PER_WRITER; k++) {
        weft_object *v = weft_dict_get(shared_dict, keys[k]);
        wrong += !v || ((node *)v)->id != 2 * WRITERS * PER_WRITER + k * WAVES + (WAVES - 1);
        weft_xdecref(v);
    }
    CHECK_EQ_INT(wrong, 0);
    weft_decref(shared_dict);
    for (long k = 0; k < WRITERS * PER_WRITER; k++)
        weft_decref(keys[k]);
}

/* The owner grows and clears its own list (the biased lock, so a replaced
 * store may be freed at once) while other threads read it without the lock:
 * every reader notes itself first, and from then on the owner's stores go
 * through a grace period (objlock.h). A missed note is a read of a freed
 * store (AddressSanitizer) or a wrong item here. */
#define OWNER_ROUNDS 20
#define OWNER_ITEMS 1500
#define OWNER_ID0 300000

static weft_object *owner_list;
static atomic_bool owner_done;

static void check_owner_item(weft_object *o)
{
    check_alive(o);
    if (o->type == &node_type && (((node *)o)->id < OWNER_ID0 ||
                                  ((node *)o)->id >= OWNER_ID0 + OWNER_ROUNDS * OWNER_ITEMS))
        atomic_fetch_add(&bad_reads, 1);
}

static void *owner_list_reader(void *arg)
{
    weft_thread_attach();
    unsigned seed = (unsigned)(long)arg * 104729u;
    while (!atomic_load(&owner_done)) {
        size_t len = weft_list_len(owner_list);
        weft_object *o = weft_list_get(owner_list, len ? rnd(&seed) % len : 0);
        if (o) {
            check_owner_item(o);
            weft_decref(o);
        }
        unsigned pick = rnd(&seed) & 255;
        if (pick == 0) {
            size_t pos = 0;
            weft_object *it;
            while ((it = weft_list_next(owner_list, &pos)) != NULL) {
                check_owner_item(it);
                weft_decref(it);
            }
        } else if (pick == 1) {
            weft_object *refs = weft_gc_get_referents(owner_list);
            size_t pos = 0;
            weft_object *it;
            while (refs && (it = weft_list_next(refs, &pos)) != NULL) {
                check_owner_item(it);
                weft_decref(it);
            }
            weft_xdecref(refs);
        }
        weft_safepoint();
    }
    weft_thread_detach();
    return NULL;
}

static void test_owner_resizes_under_readers(void)
{
    owner_list = weft_list_new(0);
    atomic_store(&owner_done, false);
    pthread_t r[READERS];
    for (long i = 0; i < READERS; i++)
        pthread_create(&r[i], NULL, owner_list_reader, (void *)(i + 1));
    long made = 0, failed = 0, before = atomic_load(&node_dead_total);
    for (int round = 0; round < OWNER_ROUNDS; round++) {
        for (int i = 0; i < OWNER_ITEMS; i++) {
            weft_object *n = node_new(OWNER_ID0 + made++, NULL);
            failed += weft_list_append(owner_list, n) != 0;
            weft_decref(n);
            if ((i & 63) == 0)
                weft_safepoint();
        }
        CHECK_EQ_INT(weft_list_len(owner_list), OWNER_ITEMS);
        weft_list_clear(owner_list);
    }
    atomic_store(&owner_done, true);
    CHECK_EQ_INT(failed, 0);
    for (int i = 0; i < READERS; i++)
        weft_test_join(r[i]);
    weft_decref(owner_list);
    weft_gc_collect(0); /* merges what the readers released last */
    CHECK_EQ_INT(atomic_load(&node_dead_total) - before, made);
}

int main(void)
{
    REQUIRE(weft_init(NULL) == 0);
    test_list();
    test_dict();
    test_owner_resizes_under_readers();
    printf("%ld reads checked\n", atomic_load(&reads));
    CHECK(atomic_load(&reads) > 0);
    CHECK_EQ_INT(atomic_load(&bad_reads), 0);
    int twice = 0;
    for (int i = 0; i < NODE_IDS; i++)
        twice += atomic_load(&node_deaths[i]) > 1;
    CHECK_EQ_INT(twice, 0);
    CHECK_EQ_INT(weft_shutdown(), 0);
    return check_finish();
}
