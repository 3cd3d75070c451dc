/* A key type's own eq is user code, and a dict runs it unlocked: eq may use
 * the dict it compares for (read it, insert, clear, delete the entry being
 * compared), fail, or lock another dict that another thread's eq compares
 * for. No hang, no lost or leaked key, and a lookup that a comparison
 * mutated starts over (CPython's rule). Before eq ran unlocked, the first
 * test hung: its eq's insert waited for the lock its own thread held. */
#include "check.h"
#include "objtest.h"
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* What a key's eq does before it compares ids. */
enum eq_action {
    EQ_PLAIN,
    EQ_REENTER,
    EQ_CLEAR,
    EQ_DELETE_OTHER,
    EQ_FAIL,
    EQ_CLEAR_FAIL,
    EQ_SET_OTHER,
    EQ_IGNORED_FAILURE,
    EQ_FAIL_SAYS_WHY
};

typedef struct probe_key {
    weft_object ob;
    long id;
    int action;
    weft_object *dict;  /* borrowed: the dict eq acts on (the test keeps it) */
    weft_object *other; /* borrowed: a key or value eq uses */
} probe_key;

static _Thread_local int eq_depth;
static atomic_long eq_calls;

static uint64_t probe_hash(weft_object *self)
{
    (void)self;
    return 7; /* every probe key collides: every lookup runs eq */
}

static int act(probe_key *a)
{
    switch (a->action) {
    case EQ_REENTER: { /* read and insert str keys: a lookup of its own */
        weft_object *got = weft_dict_get(a->dict, a->other);
        if (got)
            weft_decref(got);
        return weft_dict_set(a->dict, a->other, a->other) == 0 && weft_dict_len(a->dict) > 0
                   ? 0
                   : -1;
    }
    case EQ_CLEAR:
        weft_dict_clear(a->dict);
        return 0;
    case EQ_DELETE_OTHER:
        return weft_dict_del(a->dict, a->other);
    case EQ_FAIL:
        return -1;
    case EQ_CLEAR_FAIL:
        weft_dict_clear(a->dict);
        return -1;
    case EQ_SET_OTHER: /* a str key: no eq of its own, so no recursion */
        return weft_dict_set(a->dict, a->other, a->other);
    case EQ_IGNORED_FAILURE: /* a weft call that fails, and eq goes on */
        weft_dict_del(a->dict, a->other);
        return 0;
    case EQ_FAIL_SAYS_WHY:
        weft_error_set(WEFT_EOVERFLOW, "probe %ld cannot compare", a->id);
        return -1;
    }
    return 0;
}

static int probe_eq(weft_object *a, weft_object *b)
{
    atomic_fetch_add(&eq_calls, 1);
    probe_key *pa = (probe_key *)a, *pb = (probe_key *)b;
    if (b->type != a->type)
        return 0;
    if (eq_depth == 0) {
        eq_depth++;
        int rc = act(pa);
        eq_depth--;
        if (rc != 0)
            return -1;
    }
    return pa->id == pb->id;
}

static const weft_type probe_type = {
    .name = "test.probe_key",
    .basic_size = sizeof(probe_key),
    .hash = probe_hash,
    .eq = probe_eq,
};

static weft_object *probe_new(long id, int action, weft_object *dict, weft_object *other)
{
    probe_key *k = (probe_key *)weft_new(&probe_type);
    REQUIRE(k);
    k->id = id;
    k->action = action;
    k->dict = dict;
    k->other = other;
    return &k->ob;
}

static weft_object *str_key(const char *s)
{
    weft_object *k = weft_str_from_cstr(s);
    REQUIRE(k);
    return k;
}

/* eq reads the dict and inserts into it, from inside set, get, contains and
 * del of that dict: each finds what it should, the insert restarts it. */
static void test_reenter(void)
{
    weft_object *d = weft_dict_new(), *s = str_key("side");
    REQUIRE(d);
    weft_object *k1 = probe_new(1, EQ_REENTER, d, s), *k2 = probe_new(2, EQ_PLAIN, d, NULL);
    weft_object *k1b = probe_new(1, EQ_PLAIN, d, NULL);
    CHECK_EQ_INT(weft_dict_set(d, k1, k1), 0);
    CHECK_EQ_INT(weft_dict_set(d, k2, k2), 0); /* eq(k1, k2) inserts "side" */
    CHECK_EQ_INT(weft_dict_len(d), 3);
    weft_object *got = weft_dict_get(d, k1b);
    CHECK(got == k1);
    if (got)
        weft_decref(got);
    CHECK_EQ_INT(weft_dict_contains(d, k2), 1);
    got = weft_dict_get(d, s);
    CHECK(got == s);
    if (got)
        weft_decref(got);
    CHECK_EQ_INT(weft_dict_del(d, k1b), 0); /* eq(k1, k1b) sets "side" again */
    CHECK_EQ_INT(weft_dict_len(d), 2);
    CHECK_EQ_INT(weft_dict_contains(d, k1b), 0);
    CHECK_EQ_INT(weft_refcount(k1), 1); /* the dict's references went */
    CHECK_EQ_INT(weft_refcount(k2), 3);
    CHECK_EQ_INT(weft_refcount(s), 3);
    weft_decref(d);
    CHECK_EQ_INT(weft_refcount(k2), 1);
    CHECK_EQ_INT(weft_refcount(s), 1);
    weft_decref(k1);
    weft_decref(k1b);
    weft_decref(k2);
    weft_decref(s);
}

/* eq clears the dict under a lookup and a set: the lookup finds nothing,
 * the set inserts into the cleared dict, and what the dict held dies. */
static void test_clear_during_eq(void)
{
    weft_object *d = weft_dict_new();
    REQUIRE(d);
    weft_object *k1 = probe_new(1, EQ_CLEAR, d, NULL), *v = node_new(40, NULL);
    weft_object *k1b = probe_new(1, EQ_PLAIN, d, NULL), *k2 = probe_new(2, EQ_PLAIN, d, NULL);
    CHECK_EQ_INT(weft_dict_set(d, k1, v), 0);
    weft_decref(v);
    weft_error_clear();
    CHECK(weft_dict_get(d, k1b) == NULL); /* equal ids, but eq cleared the dict */
    CHECK_EQ_INT(weft_error(), WEFT_OK);
    CHECK_EQ_INT(weft_dict_len(d), 0);
    CHECK_EQ_INT(node_deaths[40], 1);
    CHECK_EQ_INT(weft_refcount(k1), 1);
    CHECK_EQ_INT(weft_dict_set(d, k1, k1), 0);
    CHECK_EQ_INT(weft_dict_set(d, k2, k2), 0); /* eq(k1, k2) clears, then k2 goes in */
    CHECK_EQ_INT(weft_dict_len(d), 1);
    CHECK_EQ_INT(weft_dict_contains(d, k2), 1);
    CHECK_EQ_INT(weft_refcount(k1), 1);
    weft_decref(d);
    CHECK_EQ_INT(weft_refcount(k2), 1);
    weft_decref(k1);
    weft_decref(k1b);
    weft_decref(k2);
}

/* eq deletes the entry it is being compared with, whose key it is: the
 * comparison's own reference keeps the key alive through it, and the set
 * that ran it inserts once the probe starts over. */
static void test_delete_compared_entry(void)
{
    weft_object *d = weft_dict_new();
    REQUIRE(d);
    weft_object *k1 = probe_new(1, EQ_DELETE_OTHER, d, NULL);
    ((probe_key *)k1)->other = k1;
    weft_object *k2 = probe_new(2, EQ_PLAIN, d, NULL);
    CHECK_EQ_INT(weft_dict_set(d, k1, k1), 0);
    CHECK_EQ_INT(weft_refcount(k1), 3);
    long calls = atomic_load(&eq_calls);
    CHECK_EQ_INT(weft_dict_set(d, k2, k2), 0);
    /* eq(k1, k2) once: the delete finds k1 by identity, the restart no k1 */
    CHECK_EQ_INT(atomic_load(&eq_calls) - calls, 1);
    CHECK_EQ_INT(weft_dict_len(d), 1);
    CHECK_EQ_INT(weft_dict_contains(d, k2), 1);
    CHECK_EQ_INT(weft_refcount(k1), 1);
    weft_decref(d);
    weft_decref(k1);
    CHECK_EQ_INT(weft_refcount(k2), 1);
    weft_decref(k2);
}

/* eq fails: every operation reports it, and the stored key keeps exactly
 * the dict's reference (the comparison's own is dropped). */
static void test_eq_error(void)
{
    weft_object *d = weft_dict_new();
    REQUIRE(d);
    weft_object *k1 = probe_new(1, EQ_FAIL, d, NULL), *k2 = probe_new(2, EQ_PLAIN, d, NULL);
    CHECK_EQ_INT(weft_dict_set(d, k1, k1), 0);
    weft_error_clear();
    CHECK_EQ_INT(weft_dict_set(d, k2, k2), -1);
    CHECK_EQ_INT(weft_error(), WEFT_EINVAL); /* eq set none: the dict sets one */
    CHECK(strstr(weft_error_message(), "test.probe_key") != NULL);
    weft_error_clear();
    CHECK(weft_dict_get(d, k2) == NULL);
    CHECK_EQ_INT(weft_error(), WEFT_EINVAL);
    CHECK_EQ_INT(weft_dict_contains(d, k2), -1);
    CHECK_EQ_INT(weft_dict_del(d, k2), -1);
    CHECK_EQ_INT(weft_dict_len(d), 1);
    CHECK_EQ_INT(weft_refcount(k1), 3);
    CHECK_EQ_INT(weft_refcount(k2), 1);
    weft_decref(d);
    CHECK_EQ_INT(weft_refcount(k1), 1);
    weft_decref(k1);
    weft_decref(k2);

    /* An eq that fails after changing the dict: the failure, not a restart
     * into "missing" or an insert with the error left set (CPython's way). */
    d = weft_dict_new();
    REQUIRE(d);
    k1 = probe_new(1, EQ_CLEAR_FAIL, d, NULL);
    k2 = probe_new(2, EQ_PLAIN, d, NULL);
    CHECK_EQ_INT(weft_dict_set(d, k1, k1), 0);
    weft_error_clear();
    CHECK(weft_dict_get(d, k2) == NULL);
    CHECK_EQ_INT(weft_error(), WEFT_EINVAL);
    CHECK_EQ_INT(weft_dict_len(d), 0);
    CHECK_EQ_INT(weft_dict_set(d, k1, k1), 0);
    CHECK_EQ_INT(weft_dict_contains(d, k2), -1);
    CHECK_EQ_INT(weft_dict_set(d, k1, k1), 0);
    CHECK_EQ_INT(weft_dict_set(d, k2, k2), -1);
    CHECK_EQ_INT(weft_dict_len(d), 0);
    CHECK_EQ_INT(weft_refcount(k1), 1);
    CHECK_EQ_INT(weft_refcount(k2), 1);
    weft_decref(d);
    weft_decref(k1);
    weft_decref(k2);
}

/* A call that succeeds leaves the caller's error as it was (weft/error.h),
 * though a type's eq ran inside it, and failed weft calls of its own. */
static void test_caller_error_kept(void)
{
    weft_object *d = weft_dict_new(), *absent = str_key("absent");
    REQUIRE(d);
    weft_object *k1 = probe_new(1, EQ_IGNORED_FAILURE, d, absent);
    weft_object *k2 = probe_new(2, EQ_PLAIN, d, NULL);
    CHECK_EQ_INT(weft_dict_set(d, k1, k1), 0);
    CHECK_EQ_INT(weft_dict_set(d, k1, NULL), -1); /* the caller's error */
    CHECK(strstr(weft_error_message(), "NULL value") != NULL);
    long calls = atomic_load(&eq_calls);
    CHECK_EQ_INT(weft_dict_set(d, k2, k2), 0); /* eq(k1, k2): its del fails */
    CHECK_EQ_INT(atomic_load(&eq_calls) - calls, 1);
    CHECK_EQ_INT(weft_error(), WEFT_EINVAL);
    CHECK(strstr(weft_error_message(), "NULL value") != NULL);
    weft_decref(d);
    weft_decref(k1);
    weft_decref(k2);
    weft_decref(absent);
}

/* Tuple keys compare item by item with the items' eq, unlocked too: a
 * failing item fails the lookup, and one that clears the dict restarts it. */
static void test_tuple_keys(void)
{
    weft_object *d = weft_dict_new();
    REQUIRE(d);
    weft_object *failing = probe_new(1, EQ_FAIL, d, NULL), *clearing = probe_new(1, EQ_CLEAR, d, NULL);
    weft_object *plain = probe_new(1, EQ_PLAIN, d, NULL);
    weft_object *t_fail = weft_tuple_pack(1, failing), *t_clear = weft_tuple_pack(1, clearing);
    weft_object *t_plain = weft_tuple_pack(1, plain);
    REQUIRE(t_fail && t_clear && t_plain);
    CHECK_EQ_INT(weft_dict_set(d, t_fail, t_fail), 0);
    weft_error_clear();
    CHECK_EQ_INT(weft_dict_contains(d, t_plain), -1);
    CHECK_EQ_INT(weft_error(), WEFT_EINVAL);
    CHECK_EQ_INT(weft_dict_del(d, t_fail), 0); /* identical: no eq */
    CHECK_EQ_INT(weft_dict_set(d, t_clear, t_clear), 0);
    CHECK_EQ_INT(weft_dict_set(d, t_plain, t_plain), 0); /* equal, but eq cleared d */
    CHECK_EQ_INT(weft_dict_len(d), 1);
    weft_object *got = weft_dict_get(d, t_plain);
    CHECK(got == t_plain);
    if (got)
        weft_decref(got);
    weft_decref(d);
    CHECK_EQ_INT(weft_refcount(t_clear), 1);
    CHECK_EQ_INT(weft_refcount(t_plain), 1);
    weft_decref(t_fail);
    weft_decref(t_clear);
    weft_decref(t_plain);
    weft_decref(failing);
    weft_decref(clearing);
    weft_decref(plain);
}

/* Two threads, two dicts: each thread inserts colliding probe keys into its
 * own dict, and their eq inserts into the other thread's. With eq run under
 * the lock, each thread held its dict's lock while it waited for the
 * other's: a deadlock as soon as the two overlapped. */
#define CROSS_ROUNDS 20000
#define CROSS_KEYS 8

typedef struct cross_side {
    weft_object *mine, *theirs, *side_key;
    weft_object *keys[CROSS_KEYS]; /* made by main (no REQUIRE off main) */
    int failures;
} cross_side;

static pthread_barrier_t cross_start; /* the two sides overlap from the start */

static void *cross_writer(void *arg)
{
    cross_side *c = arg;
    weft_thread_attach();
    weft_object **keys = c->keys;
    weft_test_barrier_wait(&cross_start);
    for (int r = 0; r < CROSS_ROUNDS; r++) {
        weft_object *k = keys[r % CROSS_KEYS];
        if (weft_dict_set(c->mine, k, k) != 0)
            c->failures++;
        if (r % CROSS_KEYS == CROSS_KEYS - 1 && weft_dict_del(c->mine, keys[0]) != 0)
            c->failures++;
    }
    weft_thread_detach();
    return NULL;
}

static void test_cross_dicts(void)
{
    weft_object *d1 = weft_dict_new(), *d2 = weft_dict_new();
    REQUIRE(d1 && d2);
    cross_side sides[2] = {{.mine = d1, .theirs = d2, .side_key = str_key("from-1")},
                           {.mine = d2, .theirs = d1, .side_key = str_key("from-2")}};
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < CROSS_KEYS; k++)
            sides[i].keys[k] = probe_new(k, EQ_SET_OTHER, sides[i].theirs, sides[i].side_key);
    pthread_t threads[2];
    pthread_barrier_init(&cross_start, NULL, 2);
    for (int i = 0; i < 2; i++)
        REQUIRE(pthread_create(&threads[i], NULL, cross_writer, &sides[i]) == 0);
    for (int i = 0; i < 2; i++)
        weft_test_join(threads[i]);
    pthread_barrier_destroy(&cross_start);
    for (int i = 0; i < 2; i++) {
        CHECK_EQ_INT(sides[i].failures, 0);
        /* keys 1..7 and the other side's str key; key 0 was deleted last */
        CHECK_EQ_INT(weft_dict_len(sides[i].mine), CROSS_KEYS);
        CHECK_EQ_INT(weft_dict_contains(sides[i].mine, sides[1 - i].side_key), 1);
    }
    weft_decref(d1);
    weft_decref(d2);
    for (int i = 0; i < 2; i++) {
        for (int k = 0; k < CROSS_KEYS; k++) {
            CHECK_EQ_INT(weft_refcount(sides[i].keys[k]), 1);
            weft_decref(sides[i].keys[k]);
        }
        CHECK_EQ_INT(weft_refcount(sides[i].side_key), 1);
        weft_decref(sides[i].side_key);
    }
}

/* ---------------------------------------------------------------- hash */

/* A key whose hash fails for a negative id: with a reason of its own
 * (weft_error_set), or with none when the id is -1; other ids hash alike,
 * after a weft call that fails (the caller's error must survive that). */
typedef struct hkey {
    weft_object ob;
    long id;
} hkey;

static uint64_t hkey_hash(weft_object *self)
{
    long id = ((hkey *)self)->id;
    if (id == -1)
        return WEFT_HASH_ERROR;
    if (id < 0) {
        weft_error_set(WEFT_EOVERFLOW, "hkey %ld has no hash", id);
        return WEFT_HASH_ERROR;
    }
    CHECK(weft_list_get(self, 0) == NULL); /* not a list: fails, and hash goes on */
    return 11;
}

static int hkey_eq(weft_object *a, weft_object *b)
{
    return b->type == a->type && ((hkey *)a)->id == ((hkey *)b)->id;
}

static const weft_type hkey_type = {
    .name = "test.hkey",
    .basic_size = sizeof(hkey),
    .hash = hkey_hash,
    .eq = hkey_eq,
};

/* eq, no hash: unhashable, and so is a tuple holding one (before, such
 * tuples hashed it by address: two equal tuples were two keys). */
static const weft_type eq_only_type = {
    .name = "test.eq_only",
    .basic_size = sizeof(hkey),
    .eq = hkey_eq,
};

static weft_object *hkey_new(const weft_type *type, long id)
{
    hkey *k = (hkey *)weft_new(type);
    REQUIRE(k);
    k->id = id;
    return &k->ob;
}

/* Every dict call with key fails with code, its message naming what; d
 * keeps its one entry; key keeps its one reference. */
static void check_key_refused(weft_object *d, weft_object *key, weft_error_code code,
                              const char *what)
{
    weft_object *v = str_key("v");
    long refs = weft_refcount(key);
    weft_error_clear();
    CHECK_EQ_INT(weft_dict_set(d, key, v), -1);
    CHECK_EQ_INT(weft_error(), code);
    CHECK(strstr(weft_error_message(), what) != NULL);
    weft_error_clear();
    CHECK(weft_dict_get(d, key) == NULL);
    CHECK_EQ_INT(weft_error(), code);
    CHECK_EQ_INT(weft_dict_contains(d, key), -1);
    CHECK_EQ_INT(weft_dict_del(d, key), -1);
    CHECK_EQ_INT(weft_error(), code);
    CHECK(strstr(weft_error_message(), what) != NULL);
    CHECK_EQ_INT(weft_dict_len(d), 1);
    CHECK_EQ_INT(weft_refcount(key), refs);
    CHECK_EQ_INT(weft_refcount(v), 1);
    weft_decref(v);
}

static void test_error_set(void)
{
    weft_error_set(WEFT_ESTATE, "state %d", 42);
    CHECK_EQ_INT(weft_error(), WEFT_ESTATE);
    CHECK(strcmp(weft_error_message(), "state 42") == 0);
    weft_error_set(WEFT_OK, "no error");
    CHECK_EQ_INT(weft_error(), WEFT_EINVAL);
    CHECK(strstr(weft_error_message(), "not an error code") != NULL);
    weft_error_set((weft_error_code)99, "what");
    CHECK_EQ_INT(weft_error(), WEFT_EINVAL);
    weft_error_set(WEFT_ENOMEM, NULL);
    CHECK_EQ_INT(weft_error(), WEFT_ENOMEM);
    CHECK(strcmp(weft_error_message(), "") == 0);
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    weft_error_set(WEFT_EINVAL, "%s", big);
    CHECK_EQ_INT((long)strlen(weft_error_message()), 255);
    /* wrapping the current message */
    weft_error_set(WEFT_EINVAL, "inner %d", 1);
    weft_error_set(WEFT_ESTATE, "outer: %s", weft_error_message());
    CHECK(strcmp(weft_error_message(), "outer: inner 1") == 0);
    weft_error_clear();
}

/* A type's hash may fail, with its reason or weft's; tuples hash their
 * items, so one holding an unhashable or failing item is refused too. */
static void test_hash_errors(void)
{
    weft_object *d = weft_dict_new(), *one = str_key("one");
    REQUIRE(d);
    CHECK_EQ_INT(weft_dict_set(d, one, one), 0);
    weft_object *says = hkey_new(&hkey_type, -5), *silent = hkey_new(&hkey_type, -1);
    check_key_refused(d, says, WEFT_EOVERFLOW, "hkey -5 has no hash");
    check_key_refused(d, silent, WEFT_EINVAL, "test.hkey hash");

    weft_object *list = weft_list_new(0), *eq_only = hkey_new(&eq_only_type, 1);
    REQUIRE(list);
    check_key_refused(d, eq_only, WEFT_EINVAL, "unhashable type: test.eq_only");
    weft_object *t_list = weft_tuple_pack(2, one, list), *t_says = weft_tuple_pack(1, says);
    weft_object *t_eq_only = weft_tuple_pack(1, eq_only);
    weft_object *nested = weft_tuple_pack(2, one, t_list);
    REQUIRE(t_list && t_says && t_eq_only && nested);
    check_key_refused(d, t_list, WEFT_EINVAL, "unhashable type: list");
    check_key_refused(d, nested, WEFT_EINVAL, "unhashable type: list");
    check_key_refused(d, t_eq_only, WEFT_EINVAL, "unhashable type: test.eq_only");
    check_key_refused(d, t_says, WEFT_EOVERFLOW, "hkey -5 has no hash");
    weft_object *t_silent = weft_tuple_pack(2, one, silent);
    REQUIRE(t_silent);
    check_key_refused(d, t_silent, WEFT_EINVAL, "item 1 of a tuple failed (test.hkey hash)");

    /* A hash that succeeds keeps the caller's error, though it failed a
     * call of its own; equal keys (and tuples of them) are one entry. */
    weft_object *k7 = hkey_new(&hkey_type, 7), *k7b = hkey_new(&hkey_type, 7);
    weft_object *t7 = weft_tuple_pack(2, one, k7), *t7b = weft_tuple_pack(2, one, k7b);
    REQUIRE(t7 && t7b);
    weft_error_set(WEFT_ESTATE, "the caller's");
    CHECK_EQ_INT(weft_dict_set(d, k7, one), 0);
    CHECK_EQ_INT(weft_dict_set(d, t7, one), 0);
    CHECK_EQ_INT(weft_dict_contains(d, k7b), 1);
    CHECK_EQ_INT(weft_dict_contains(d, t7b), 1);
    CHECK_EQ_INT(weft_error(), WEFT_ESTATE);
    CHECK(strcmp(weft_error_message(), "the caller's") == 0);
    CHECK_EQ_INT(weft_dict_set(d, t7b, one), 0);
    CHECK_EQ_INT(weft_dict_len(d), 3);

    /* int -1 hashes as -2 (its own hash is WEFT_HASH_ERROR's value): both
     * are keys, apart. */
    weft_object *m1 = weft_int_new(-1), *m2 = weft_int_new(-2);
    CHECK_EQ_INT(weft_dict_set(d, m1, m1), 0);
    CHECK_EQ_INT(weft_dict_set(d, m2, m2), 0);
    weft_object *got = weft_dict_get(d, m1);
    CHECK(got == m1);
    weft_xdecref(got);
    CHECK_EQ_INT(weft_dict_len(d), 5);

    /* An eq that says why it failed: its error, not weft's. */
    weft_object *p1 = probe_new(1, EQ_FAIL_SAYS_WHY, d, NULL), *p2 = probe_new(2, EQ_PLAIN, d, NULL);
    CHECK_EQ_INT(weft_dict_set(d, p1, p1), 0);
    weft_error_clear();
    CHECK(weft_dict_get(d, p2) == NULL);
    CHECK_EQ_INT(weft_error(), WEFT_EOVERFLOW);
    CHECK(strcmp(weft_error_message(), "probe 1 cannot compare") == 0);

    weft_decref(d); /* then every reference it took is gone */
    weft_object *tuples[] = {nested, t_list, t_says, t_silent, t_eq_only, t7, t7b};
    for (size_t i = 0; i < sizeof tuples / sizeof tuples[0]; i++) {
        CHECK_EQ_INT(weft_refcount(tuples[i]), 1);
        weft_decref(tuples[i]);
    }
    weft_object *objs[] = {one, says, silent, list, eq_only, k7, k7b, m1, m2, p1, p2};
    for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) {
        CHECK(weft_is_immortal(objs[i]) || weft_refcount(objs[i]) == 1);
        weft_decref(objs[i]);
    }
    weft_error_clear();
}

int main(void)
{
    REQUIRE(weft_init(NULL) == 0);
    test_reenter();
    test_clear_during_eq();
    test_delete_compared_entry();
    test_eq_error();
    test_caller_error_kept();
    test_tuple_keys();
    test_cross_dicts();
    test_error_set();
    test_hash_errors();
    CHECK_EQ_INT(weft_shutdown(), 0);
    return check_finish();
}
