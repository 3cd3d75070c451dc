/* The collector under threads: collections of every generation run while
 * threads mutate shared containers, make cyclic garbage, attach, detach and
 * block. Every object dies exactly once, never while reachable. */
#include "check.h"
#include "objtest.h"
#include <stdio.h>
#include <time.h>

#define WORKERS 3
#define ROUNDS 3000
static atomic_long next_id = 1;
static atomic_int workers_done;
static atomic_long bad_reads;
static weft_object *shared; /* dict: str key -> list of cnodes */

static weft_object *fresh_cnode(void)
{
    return cnode_new(atomic_fetch_add(&next_id, 1));
}

static void check_alive(weft_object *o)
{
    if (o->type == &cnode_type) {
        long id = ((node *)o)->id;
        if (id <= 0 || id >= NODE_IDS || atomic_load(&node_deaths[id]) != 0)
            atomic_fetch_add(&bad_reads, 1);
    }
}

static unsigned rnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

static void one_round(unsigned *seed, weft_object **keys)
{
    switch (rnd(seed) % 6) {
    case 0: { /* a cycle of cnodes: garbage */
        weft_object *a = fresh_cnode(), *b = fresh_cnode();
        ((node *)a)->child = weft_newref(b);
        ((node *)b)->child = weft_newref(a);
        weft_decref(a);
        weft_decref(b);
        break;
    }
    case 1: { /* a list containing itself and a node: garbage */
        weft_object *l = weft_list_new(0), *n = fresh_cnode();
        weft_list_append(l, l);
        weft_list_append(l, n);
        ((node *)n)->child = weft_newref(l);
        weft_decref(n);
        weft_decref(l);
        break;
    }
    case 2: { /* publish a node into a shared list (reachable) */
        weft_object *l = weft_dict_get(shared, keys[rnd(seed) % 8]);
        if (l) {
            weft_object *n = fresh_cnode();
            weft_list_append(l, n);
            weft_decref(n);
            if (weft_list_len(l) > 50)
                weft_decref(weft_list_pop(l, 0));
            weft_decref(l);
        }
        break;
    }
    case 3: { /* read shared nodes */
        weft_object *l = weft_dict_get(shared, keys[rnd(seed) % 8]);
        if (l) {
            size_t pos = 0;
            weft_object *it;
            while ((it = weft_list_next(l, &pos)) != NULL) {
                check_alive(it);
                weft_decref(it);
            }
            weft_decref(l);
        }
        break;
    }
    case 4: { /* replace a shared list with a new one (old one may be in a cycle) */
        weft_object *l = weft_list_new(0), *n = fresh_cnode();
        weft_list_append(l, n);
        ((node *)n)->child = weft_newref(l); /* reachable cycle */
        weft_dict_set(shared, keys[rnd(seed) % 8], l);
        weft_decref(n);
        weft_decref(l);
        break;
    }
    default: { /* a blocking region */
        weft_blocking_begin();
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL);
        weft_blocking_end();
    }
    }
}

static void *worker(void *arg)
{
    weft_object **keys = arg;
    unsigned seed = (unsigned)(uintptr_t)pthread_self();
    for (int life = 0; life < 3; life++) { /* detach and re-attach */
        weft_thread_attach();
        for (int i = 0; i < ROUNDS; i++) {
            one_round(&seed, keys);
            if ((i & 63) == 0)
                weft_safepoint();
        }
        weft_thread_detach();
    }
    atomic_fetch_add(&workers_done, 1);
    return NULL;
}

int main(void)
{
    REQUIRE(weft_init(NULL) == 0);
    shared = weft_dict_new();
    weft_object *keys[8];
    for (int i = 0; i < 8; i++) {
        char buf[8];
        snprintf(buf, sizeof buf, "k%d", i);
        keys[i] = weft_str_from_cstr(buf);
        weft_object *l = weft_list_new(0);
        weft_dict_set(shared, keys[i], l);
        weft_decref(l);
    }
    pthread_t t[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        pthread_create(&t[i], NULL, worker, keys);
    long collections = 0, found = 0;
    while (atomic_load(&workers_done) < WORKERS) {
        long n = weft_gc_collect((int)(collections % 3));
        CHECK(n >= 0);
        found += n;
        collections++;
        weft_blocking_begin();
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
        weft_blocking_end();
    }
    for (int i = 0; i < WORKERS; i++)
        weft_test_join(t[i]);
    printf("%ld forced collections found %ld unreachable objects\n", collections, found);
    CHECK(collections > 0);
    CHECK_EQ_INT(atomic_load(&bad_reads), 0);
    weft_decref(shared);
    for (int i = 0; i < 8; i++)
        weft_decref(keys[i]);
    weft_gc_collect(2);
    /* Every node died exactly once. */
    long ids = atomic_load(&next_id), missing = 0, twice = 0;
    for (long i = 1; i < ids && i < NODE_IDS; i++) {
        int d = atomic_load(&node_deaths[i]);
        missing += d == 0;
        twice += d > 1;
    }
    CHECK_EQ_INT(missing, 0);
    CHECK_EQ_INT(twice, 0);
    CHECK_EQ_INT(weft_shutdown(), 0);
    return check_finish();
}
