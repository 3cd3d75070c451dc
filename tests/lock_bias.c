/* Biased container locks (lib/objlock.h, threads/lockbias.c): the owner
 * locks with plain stores; the first other locker revokes the bias, with the
 * owner still writing; exclusion holds across the revocation (exact final
 * states); a lock taken under another is the atomic one; a thread whose
 * containers keep being revoked stops biasing them;
 * WEFT_LOCK_BIAS=0 turns the bias off. */
#define WEFT_BUILDING_LIBRARY 1
#include "check.h"
#include "objlock.h"
#include "objtest.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <weft/weft.h>

#define ROUNDS 200
#define PER_SIDE 2000
#define ADAPTIVE_ROUNDS 4300

static bool bias_expected;

static bool is_biased(weft_object *o)
{
    return (weft_load_relaxed(&o->flags) & WEFT_OBJ_LOCK_BIASED) != 0;
}

/* The calling thread's bias rule starts afresh (as at an attach), so that
 * each part sees biased containers whatever the parts before it revoked. */
static void reset_bias_counts(void)
{
    _weft_tls_thread->locks_made = 0;
    weft_store_relaxed(&_weft_tls_thread->xlocks_revoked, 0);
}

static void test_owner_path(void)
{
    weft_object *l = weft_list_new(0);
    REQUIRE(l);
    CHECK(is_biased(l) == bias_expected);
    _weft_object_lock(l);
    if (bias_expected) {
        CHECK(!(weft_load_relaxed(&l->flags) & WEFT_OBJ_LOCKED));
        CHECK(weft_load_relaxed(&_weft_tls_thread->xlock_held) == l);
    } else {
        CHECK(weft_load_relaxed(&l->flags) & WEFT_OBJ_LOCKED);
    }
    _weft_object_unlock(l);
    CHECK(weft_load_relaxed(&_weft_tls_thread->xlock_held) == NULL);
    CHECK(!(weft_load_relaxed(&l->flags) & WEFT_OBJ_LOCKED));
    weft_decref(l);
}

/* ---- a replaced store is freed at once only while no other thread read
 * the list without its lock (objlock.h, _weft_object_storage_private) */

static bool storage_private(weft_object *o)
{
    _weft_object_lock(o);
    bool private = _weft_object_storage_private(o);
    _weft_object_unlock(o);
    return private;
}

typedef enum { READ_GET, READ_NEXT, READ_LEN } read_kind;
typedef struct foreign_read {
    weft_object *list;
    read_kind kind;
    bool read_right; /* what the read returned was right (checked after the join) */
} foreign_read;

static void *foreign_reader(void *arg)
{
    foreign_read *r = arg;
    weft_thread_attach();
    size_t pos = 0;
    weft_object *item = r->kind == READ_GET    ? weft_list_get(r->list, 0)
                        : r->kind == READ_NEXT ? weft_list_next(r->list, &pos)
                                               : NULL;
    r->read_right = r->kind == READ_LEN ? weft_list_len(r->list) == 1 : item != NULL;
    weft_xdecref(item);
    weft_thread_detach();
    return NULL;
}

static void test_private_storage(void)
{
    reset_bias_counts();
    weft_object *item = weft_int_new(123456);
    REQUIRE(item);
    for (read_kind kind = READ_GET; kind <= READ_LEN; kind++) {
        weft_object *l = weft_list_new(0);
        REQUIRE(l && weft_list_append(l, item) == 0);
        /* The owner's own reads leave the list private. */
        size_t pos = 0;
        weft_object *own = weft_list_get(l, 0), *own_next = weft_list_next(l, &pos);
        CHECK(own == item && own_next == item && weft_list_len(l) == 1);
        weft_xdecref(own);
        weft_xdecref(own_next);
        CHECK(storage_private(l) == bias_expected);
        /* One read by another thread, and never again. */
        foreign_read r = {l, kind, false};
        pthread_t t;
        REQUIRE(pthread_create(&t, NULL, foreign_reader, &r) == 0);
        weft_test_join(t);
        CHECK(r.read_right);
        CHECK(!storage_private(l));
        CHECK(is_biased(l) == bias_expected); /* a read does not revoke */
        weft_decref(l);
    }
    weft_decref(item);
}

/* ---- a revoker waits for the owner's section to end */

static atomic_int revoker_in;
static void *revoker(void *arg)
{
    weft_object *l = arg;
    weft_thread_attach();
    _weft_object_lock(l);
    atomic_store(&revoker_in, 1);
    _weft_object_unlock(l);
    weft_thread_detach();
    return NULL;
}

static void test_revoke_waits(void)
{
    weft_object *l = weft_list_new(0);
    REQUIRE(l);
    _weft_object_lock(l);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, revoker, l) == 0);
    /* Inside the section: once the revoker has started revoking (or, with no
     * bias, after a while), it must still be waiting. */
    for (int i = 0; i < 10000 && bias_expected &&
                    !(weft_load_relaxed(&l->flags) & WEFT_OBJ_LOCK_REVOKING);
         i++)
        usleep(1000);
    if (bias_expected)
        CHECK(weft_load_relaxed(&l->flags) & WEFT_OBJ_LOCK_REVOKING);
    usleep(50 * 1000);
    CHECK_EQ_INT(atomic_load(&revoker_in), 0);
    _weft_object_unlock(l);
    weft_test_join(t);
    CHECK_EQ_INT(atomic_load(&revoker_in), 1);
    CHECK(!is_biased(l));
    /* the owner now takes the atomic lock, and defers the frees of stores:
     * the thread that revoked may read without the lock at any time */
    _weft_object_lock(l);
    CHECK(weft_load_relaxed(&l->flags) & WEFT_OBJ_LOCKED);
    CHECK(!(weft_load_relaxed(&l->flags) & WEFT_OBJ_FOREIGN_READER));
    CHECK(!_weft_object_storage_private(l));
    _weft_object_unlock(l);
    weft_decref(l);
}

/* ---- a type's eq that locks a container: it runs with the dict unlocked
 * (dict.c), so no container lock nests in another and the container's owner
 * keeps its biased lock */

static weft_object *side_list, *eq_dict;
static bool eq_saw_dict_locked;
static uint64_t clash_hash(weft_object *self)
{
    (void)self;
    return 42; /* every key collides: set compares with eq */
}
static int clash_eq(weft_object *a, weft_object *b)
{
    eq_saw_dict_locked |= (weft_load_relaxed(&eq_dict->flags) & WEFT_OBJ_LOCKED) ||
                          weft_load_relaxed(&_weft_tls_thread->xlock_held) != NULL;
    weft_list_append(side_list, a);
    return a == b;
}
static const weft_type clash_type = {
    .name = "clash", .basic_size = sizeof(weft_object), .hash = clash_hash, .eq = clash_eq};

static void test_nested(void)
{
    weft_object *d = weft_dict_new(), *k1 = weft_new(&clash_type), *k2 = weft_new(&clash_type);
    side_list = weft_list_new(0);
    REQUIRE(d && k1 && k2 && side_list);
    eq_dict = d;
    eq_saw_dict_locked = false;
    CHECK(weft_dict_set(d, k1, k1) == 0);
    CHECK(weft_dict_set(d, k2, k2) == 0); /* eq(k1, k2) appends, d unlocked */
    CHECK_EQ_INT(weft_list_len(side_list), 1);
    CHECK_EQ_INT(weft_dict_len(d), 2);
    CHECK(!eq_saw_dict_locked);
    CHECK(weft_load_relaxed(&_weft_tls_thread->xlock_held) == NULL);
    CHECK(!(weft_load_relaxed(&d->flags) & WEFT_OBJ_LOCKED));
    CHECK(is_biased(side_list) == bias_expected);
    CHECK(is_biased(d) == bias_expected);
    weft_decref(side_list);
    weft_decref(k1);
    weft_decref(k2);
    weft_decref(d);
}

/* ---- two threads writing one container across its revocation */

static weft_object *shared;        /* this round's container, made by main */
static weft_object *items[2][PER_SIDE];
static pthread_barrier_t start, done;
static bool use_dict;

static void write_side(int side)
{
    for (int i = 0; i < PER_SIDE; i++) {
        int rc = use_dict ? weft_dict_set(shared, items[side][i], items[side][i])
                          : weft_list_append(shared, items[side][i]);
        if (rc != 0)
            abort();
    }
}

static void *other_writer(void *arg)
{
    (void)arg;
    weft_thread_attach();
    for (int r = 0; r < 2 * ROUNDS; r++) {
        weft_test_barrier_wait(&start);
        write_side(1);
        weft_test_barrier_wait(&done);
    }
    weft_thread_detach();
    return NULL;
}

/* Every item in c once: a dict has it as a key; a list holds it in one
 * slot, which its count shows (ours, plus the list's). */
static bool holds_all(weft_object *c)
{
    for (int side = 0; side < 2; side++)
        for (int i = 0; i < PER_SIDE; i++) {
            weft_object *item = items[side][i];
            if (use_dict ? weft_dict_contains(c, item) != 1 : weft_refcount(item) != 2)
                return false;
        }
    return true;
}

static void run_rounds(bool dict)
{
    use_dict = dict;
    int exact = 0, revoked = 0;
    for (int r = 0; r < ROUNDS; r++) {
        reset_bias_counts(); /* every round's container starts biased */
        shared = dict ? weft_dict_new() : weft_list_new(0);
        REQUIRE(shared);
        bool born_biased = is_biased(shared);
        CHECK(born_biased == bias_expected);
        weft_test_barrier_wait(&start);
        /* main owns it and starts biased; the other thread's first write
         * revokes the bias while main is still writing */
        write_side(0);
        weft_test_barrier_wait(&done);
        size_t len = dict ? weft_dict_len(shared) : weft_list_len(shared);
        exact += len == 2 * PER_SIDE && holds_all(shared);
        revoked += born_biased && !is_biased(shared);
        weft_decref(shared);
    }
    CHECK_EQ_INT(exact, ROUNDS);
    CHECK_EQ_INT(revoked, bias_expected ? ROUNDS : 0);
}

static void make_items(void)
{
    for (int side = 0; side < 2; side++)
        for (int i = 0; i < PER_SIDE; i++) {
            items[side][i] = weft_int_new(1000000 + side * PER_SIDE + i);
            REQUIRE(items[side][i]);
        }
}

static void drop_items(void)
{
    for (int side = 0; side < 2; side++)
        for (int i = 0; i < PER_SIDE; i++)
            weft_decref(items[side][i]);
}

/* ---- a producer whose lists are all locked by a consumer */

static weft_object *handed;
static void *consumer(void *arg)
{
    (void)arg;
    weft_thread_attach();
    weft_object *one = weft_int_new(1);
    for (int r = 0; r < ADAPTIVE_ROUNDS; r++) {
        weft_test_barrier_wait(&start);
        weft_list_append(handed, one);
        weft_test_barrier_wait(&done);
    }
    weft_decref(one);
    weft_thread_detach();
    return NULL;
}

static void test_adaptive(void)
{
    reset_bias_counts();
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, consumer, NULL) == 0);
    int biased_early = 0, biased_later = 0, exact = 0;
    for (int r = 0; r < ADAPTIVE_ROUNDS; r++) {
        handed = weft_list_new(0);
        REQUIRE(handed);
        if (r <= 64)
            biased_early += is_biased(handed);
        else if (is_biased(handed))
            biased_later += r == 4159 || r == 4223 || r == 4287 ? 1 : 1000;
        weft_blocking_begin();
        pthread_barrier_wait(&start);
        pthread_barrier_wait(&done);
        weft_blocking_end();
        exact += weft_list_len(handed) == 1;
        weft_decref(handed);
    }
    weft_test_join(t);
    CHECK_EQ_INT(exact, ADAPTIVE_ROUNDS);
    /* Every list is revoked. The first 65 start biased (REVOKED_FREE = 64
     * revocations are free); then the share is 65 in 66, and lists start
     * unbiased until 65 x REVOKED_SHARE (64) = 4160 were made: the 4160th
     * (r = 4159) is biased, revoked, and the next ones wait for 66 x 64, and
     * so on. */
    CHECK_EQ_INT(biased_early, bias_expected ? 65 : 0);
    CHECK_EQ_INT(biased_later, bias_expected ? 3 : 0);
}

int main(void)
{
    const char *env = getenv("WEFT_LOCK_BIAS");
    REQUIRE(weft_init(NULL) == 0);
    bias_expected = weft_lock_bias_enabled();
    if (env && strcmp(env, "0") == 0)
        CHECK(!bias_expected);
    else if (!bias_expected)
        fprintf(stderr, "note: membarrier is not available here; biased locks are off\n");

    uint64_t revoked = weft_lock_revocations();
    test_owner_path();
    test_private_storage();
    CHECK_EQ_INT(weft_lock_revocations() - revoked, 0);
    test_revoke_waits();
    CHECK_EQ_INT(weft_lock_revocations() - revoked, bias_expected ? 1 : 0);
    test_nested();
    CHECK_EQ_INT(weft_lock_revocations() - revoked, bias_expected ? 1 : 0);

    make_items();
    pthread_barrier_init(&start, NULL, 2);
    pthread_barrier_init(&done, NULL, 2);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, other_writer, NULL) == 0);
    run_rounds(false);
    run_rounds(true);
    weft_test_join(t);
    drop_items();
    CHECK_EQ_INT(weft_lock_revocations() - revoked, bias_expected ? 1 + 2 * ROUNDS : 0);

    revoked = weft_lock_revocations();
    test_adaptive();
    CHECK_EQ_INT(weft_lock_revocations() - revoked, bias_expected ? 65 + 3 : 0);
    CHECK_EQ_INT(weft_shutdown(), 0);
    return check_finish();
}
