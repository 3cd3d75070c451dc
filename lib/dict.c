/* lib/dict.c: insertion-ordered hash maps that threads can share (weft/dict.h,
 * docs/containers.md).
 *
 * Layout (the compact scheme CPython uses): a table holds an index array of
 * 2^k int32 slots (EMPTY, DUMMY or an entry number) probed with perturbation,
 * followed by an array of entries {key, value, hash} in insertion order. The
 * 48-byte dict object points to its table, counts the live entries, and
 * keeps a version of its contents for the writers.
 *
 * Writers hold the dict's lock. Publication order for optimistic readers:
 * an entry's hash, key and value are written before the index slot that
 * points to it; a deleted entry's slot becomes DUMMY before its key and value
 * are cleared, and they are released after the lock is dropped; a resized
 * table is complete before it is published, and the old one is freed after
 * a QSBR grace period.
 *
 * weft_dict_get reads without the lock: it probes, takes the value with
 * weft_try_incref and checks that the entry and table still hold it. A key
 * that is not the identical object is compared only after taking a reference
 * to the stored key (so its contents cannot be freed under the comparison),
 * and only for str and int keys; anything else retries under the lock.
 *
 * A type's own eq is user code: it may use this very dict, or lock others,
 * so it never runs under the lock. The writer (or locked reader) takes a
 * reference to the stored key, unlocks, compares, and locks again; if the
 * dict changed meanwhile (its version, bumped by every insertion, deletion,
 * clear and resize), it probes again from the start, as CPython's lookup
 * does when a comparison mutated the dict. Containers' locks therefore never
 * nest.
 */
#include "builtins.h"
#include "domain.h"
#include "error.h"
#include "objlock.h"
#include "object_internal.h"
#include "threads/countbuf.h"
#include "threads/stw.h"

#include <string.h>

#define EMPTY (-1)
#define DUMMY (-2)
#define MIN_LOG2 3
#define PROBE_SHIFT 5

typedef struct dict_entry {
    WEFT_ATOMIC(weft_object *) key; /* NULL once deleted */
    WEFT_ATOMIC(weft_object *) value;
    WEFT_ATOMIC(uint64_t) hash;
} dict_entry;

typedef struct dict_table {
    unsigned log2_size;
    size_t usable;                /* entries it can hold: 2/3 of its slots */
    WEFT_ATOMIC(size_t) nentries; /* entries used, live or deleted */
    /* int32 indices[1 << log2_size]; dict_entry entries[usable]; */
} dict_table;

typedef struct weft_dict {
    weft_object ob;
    WEFT_ATOMIC(dict_table *) table; /* NULL while empty and never filled */
    WEFT_ATOMIC(size_t) used;        /* live entries */
    uint64_t version; /* lock held: bumped when an entry or the table changes */
} weft_dict;

_Static_assert(sizeof(weft_dict) == 48, "a dict object fits a 48-byte block");

#define DICT(o) ((weft_dict *)(o))

static WEFT_ATOMIC(int32_t) *indices_of(dict_table *t)
{
    return (WEFT_ATOMIC(int32_t) *)(t + 1);
}

static dict_entry *entries_of(dict_table *t)
{
    return (dict_entry *)(indices_of(t) + ((size_t)1 << t->log2_size));
}

static dict_table *table_of(weft_dict *d)
{
    return weft_load_relaxed(&d->table);
}

/* ---------------------------------------------------------------- hashing and equality */

static int key_hash(weft_object *key, uint64_t *out)
{
    if (!key) {
        _weft_set_error(WEFT_EINVAL, "dict key is NULL");
        return -1;
    }
    if (key->type == &weft_str_type) {
        *out = weft_str_hash(key);
        return 0;
    }
    if (!key->type->hash) {
        _weft_set_error(WEFT_EINVAL, "unhashable type: %s", key->type->name);
        return -1;
    }
    if (key->type == &weft_int_type) {
        *out = key->type->hash(key);
        return 0;
    }
    /* A type's hash (a tuple's calls its items') may fail: the caller's
     * error survives one that succeeds, as around eq. */
    weft_error_saved caller;
    _weft_error_set_aside(&caller);
    uint64_t h = key->type->hash(key);
    if (h != WEFT_HASH_ERROR) {
        _weft_error_restore(&caller);
        *out = h;
        return 0;
    }
    if (weft_error() == WEFT_OK)
        _weft_set_error(WEFT_EINVAL, "dict key hash failed (%s hash)", key->type->name);
    return -1;
}

static bool fast_key_type(const weft_object *key)
{
    return key->type == &weft_str_type || key->type == &weft_int_type;
}

#define EQ_BY_TYPE 2

/* Does stored key a equal b (both alive)? 1 or 0 when weft's own code
 * settles it; EQ_BY_TYPE when a's type's eq, user code, must decide. */
static int builtin_key_equal(weft_object *a, weft_object *b)
{
    if (a == b)
        return 1;
    if (a->type == b->type && a->type == &weft_str_type)
        return weft_str_equal(a, b);
    if (a->type == b->type && a->type == &weft_int_type)
        return weft_int_value(a) == weft_int_value(b);
    if (!a->type->eq)
        return 0;
    return fast_key_type(a) ? a->type->eq(a, b) : EQ_BY_TYPE;
}

/* ---------------------------------------------------------------- tables */

static size_t usable_for(unsigned log2)
{
    return ((size_t)2 << log2) / 3;
}

static dict_table *table_new(unsigned log2)
{
    size_t slots = (size_t)1 << log2, usable = usable_for(log2);
    dict_table *t = weft_mem_malloc(sizeof(dict_table) + slots * sizeof(int32_t) +
                                    usable * sizeof(dict_entry));
    if (!t)
        return NULL;
    t->log2_size = log2;
    t->usable = usable;
    weft_store_relaxed(&t->nentries, 0);
    WEFT_ATOMIC(int32_t) *ix = indices_of(t);
    for (size_t i = 0; i < slots; i++)
        weft_store_relaxed(&ix[i], EMPTY);
    return t;
}

/* The index slot for hash h in which to store a new entry (no live entry for
 * the key exists). */
static size_t free_slot(dict_table *t, uint64_t h)
{
    size_t mask = ((size_t)1 << t->log2_size) - 1, i = h & mask;
    uint64_t perturb = h;
    WEFT_ATOMIC(int32_t) *ix = indices_of(t);
    while (weft_load_relaxed(&ix[i]) >= 0) {
        perturb >>= PROBE_SHIFT;
        i = (i * 5 + perturb + 1) & mask;
    }
    return i;
}

/* Lock held, key k stored in d: k's type's eq(k, key), run with the lock
 * released; the lock is held again on return. *changed: d changed while it
 * was released (the caller probes again, whatever eq said). The reference
 * that keeps k alive through eq is dropped before the lock is taken again:
 * any release may run a dealloc (k's, or another object's merged on a
 * blocked owner's behalf), never under a container lock. If d did not
 * change, k is still its key, so alive. The caller's error survives an eq
 * that succeeds; one that fails leaves its own, or weft's. */
static int type_eq_unlocked(weft_dict *d, weft_object *k, weft_object *key, bool *changed)
{
    uint64_t version = d->version;
    weft_incref(k); /* the entry may go while d is unlocked */
    _weft_object_unlock(&d->ob);
    weft_error_saved caller;
    _weft_error_set_aside(&caller);
    int eq = k->type->eq(k, key);
    if (eq >= 0)
        _weft_error_restore(&caller);
    else if (weft_error() == WEFT_OK) /* the type did not say why (weft_error_set) */
        _weft_set_error(WEFT_EINVAL, "dict key comparison failed (%s eq)", k->type->name);
    weft_decref(k);
    _weft_object_lock(&d->ob);
    *changed = d->version != version;
    return eq;
}

/* One probe for key in d's current table: the entry number (and its index
 * slot), -1 when missing, -2 on an error from a type's eq, -3 when d changed
 * during one. */
static long probe_locked(weft_dict *d, weft_object *key, uint64_t h, size_t *slot)
{
    dict_table *t = table_of(d);
    if (!t)
        return -1;
    size_t mask = ((size_t)1 << t->log2_size) - 1, i = h & mask;
    uint64_t perturb = h;
    WEFT_ATOMIC(int32_t) *ix = indices_of(t);
    dict_entry *entries = entries_of(t);
    for (;; perturb >>= PROBE_SHIFT, i = (i * 5 + perturb + 1) & mask) {
        int32_t e = weft_load_relaxed(&ix[i]);
        if (e == EMPTY)
            return -1;
        if (e < 0)
            continue;
        weft_object *k = weft_load_relaxed(&entries[e].key);
        if (!k || (k != key && weft_load_relaxed(&entries[e].hash) != h))
            continue;
        int eq = builtin_key_equal(k, key);
        if (eq == EQ_BY_TYPE) {
            bool changed;
            eq = type_eq_unlocked(d, k, key, &changed);
            if (eq >= 0 && changed)
                return -3; /* t may be gone: read nothing more of it */
        }
        if (eq < 0)
            return -2; /* whether d changed or not, as CPython */
        if (eq) {
            *slot = i;
            return e;
        }
    }
}

/* Lock held (released and taken again around a type's eq). The entry number
 * of key in d's table (and its index slot), or -1 when missing, -2 on an
 * error from a type's eq. */
static long find_locked(weft_dict *d, weft_object *key, uint64_t h, size_t *slot)
{
    long e;
    while ((e = probe_locked(d, key, h, slot)) == -3)
        ;
    return e;
}

/* Rebuild into a table with room for `need` entries, live entries only, in
 * order; lock held. The old table is freed after a grace period. */
static int resize_locked(weft_dict *d, size_t need)
{
    unsigned log2 = MIN_LOG2;
    while (usable_for(log2) < need) {
        if (log2 >= 30) {
            _weft_set_error(WEFT_EOVERFLOW, "dict of %zu entries is too large", need);
            return -1;
        }
        log2++;
    }
    dict_table *old = table_of(d), *t = table_new(log2);
    if (!t)
        return -1;
    size_t n = 0;
    if (old) {
        dict_entry *from = entries_of(old), *to = entries_of(t);
        size_t count = weft_load_relaxed(&old->nentries);
        for (size_t k = 0; k < count; k++) {
            weft_object *key = weft_load_relaxed(&from[k].key);
            if (!key)
                continue;
            uint64_t h = weft_load_relaxed(&from[k].hash);
            weft_store_relaxed(&to[n].key, key);
            weft_store_relaxed(&to[n].value, weft_load_relaxed(&from[k].value));
            weft_store_relaxed(&to[n].hash, h);
            weft_store_relaxed(&indices_of(t)[free_slot(t, h)], (int32_t)n);
            n++;
        }
    }
    weft_store_relaxed(&t->nentries, n);
    weft_store_release(&d->table, t);
    d->version++;
    weft_defer_free(old);
    return 0;
}

/* ---------------------------------------------------------------- the type */

static void release_entries(dict_table *t)
{
    if (!t)
        return;
    dict_entry *e = entries_of(t);
    size_t n = weft_load_relaxed(&t->nentries);
    for (size_t k = 0; k < n; k++) {
        weft_object *key = weft_load_relaxed(&e[k].key);
        if (key) {
            weft_decref(weft_load_relaxed(&e[k].value));
            weft_decref(key);
        }
        _weft_poll_stop_every(k);
    }
}

static int dict_traverse(weft_object *self, weft_visit_fn visit, void *arg)
{
    dict_table *t = table_of(DICT(self));
    if (!t)
        return 0;
    dict_entry *e = entries_of(t);
    size_t n = weft_load_relaxed(&t->nentries);
    for (size_t k = 0; k < n; k++) {
        weft_object *key = weft_load_relaxed(&e[k].key);
        if (!key)
            continue;
        int rc = visit(key, arg);
        if (!rc)
            rc = visit(weft_load_relaxed(&e[k].value), arg);
        if (rc)
            return rc;
    }
    return 0;
}

static void dict_dealloc(weft_object *self)
{
    /* No other reference: no lock, no grace period. */
    dict_table *t = table_of(DICT(self));
    weft_store_relaxed(&DICT(self)->table, NULL);
    release_entries(t);
    weft_mem_free(t);
}

const weft_type weft_dict_type = {
    .name = "dict",
    .basic_size = sizeof(weft_dict),
    .flags = WEFT_TYPE_GC,
    .traverse = dict_traverse,
    .clear = weft_dict_clear,
    .dealloc = dict_dealloc,
};

int weft_is_dict(const weft_object *o)
{
    return o && o->type == &weft_dict_type;
}

static inline bool check_dict(weft_object *o, const char *fn)
{
    if (WEFT_LIKELY(o && o->type == &weft_dict_type))
        return true;
    _weft_set_error(WEFT_EINVAL, "%s: not a dict (%s)", fn, o ? o->type->name : "NULL");
    return false;
}

weft_object *weft_dict_new(void)
{
    weft_object *o = weft_new(&weft_dict_type);
    if (o)
        _weft_object_lock_init(o);
    return o;
}

size_t weft_dict_len(weft_object *o)
{
    return check_dict(o, "weft_dict_len") ? weft_load_acquire(&DICT(o)->used) : 0;
}

/* ---------------------------------------------------------------- writers */

int weft_dict_set(weft_object *o, weft_object *key, weft_object *value)
{
    uint64_t h;
    if (!check_dict(o, "weft_dict_set") || key_hash(key, &h) != 0)
        return -1;
    if (!value) {
        _weft_set_error(WEFT_EINVAL, "weft_dict_set: NULL value");
        return -1;
    }
    weft_dict *d = DICT(o);
    _weft_object_mark_shareable(key);
    _weft_object_mark_shareable(value);
    _weft_object_lock(o);
    size_t slot;
    long e = find_locked(d, key, h, &slot);
    if (e == -2) {
        _weft_object_unlock(o);
        return -1;
    }
    if (e >= 0) {
        dict_entry *entry = &entries_of(table_of(d))[e];
        weft_object *old = weft_load_relaxed(&entry->value);
        weft_store_release(&entry->value, weft_newref(value));
        _weft_object_unlock(o);
        weft_decref(old);
        return 0;
    }
    dict_table *t = table_of(d);
    size_t used = weft_load_relaxed(&d->used);
    if (!t || weft_load_relaxed(&t->nentries) == t->usable) {
        if (resize_locked(d, used * 3 > 5 ? used * 3 : 5) != 0) {
            _weft_object_unlock(o);
            return -1;
        }
        t = table_of(d);
    }
    size_t n = weft_load_relaxed(&t->nentries);
    dict_entry *entry = &entries_of(t)[n];
    weft_store_relaxed(&entry->hash, h);
    weft_store_release(&entry->value, weft_newref(value));
    weft_store_release(&entry->key, weft_newref(key));
    weft_store_release(&indices_of(t)[free_slot(t, h)], (int32_t)n);
    weft_store_release(&t->nentries, n + 1);
    weft_store_release(&d->used, used + 1);
    d->version++;
    _weft_object_unlock(o);
    return 0;
}

int weft_dict_del(weft_object *o, weft_object *key)
{
    uint64_t h;
    if (!check_dict(o, "weft_dict_del") || key_hash(key, &h) != 0)
        return -1;
    weft_dict *d = DICT(o);
    _weft_object_lock(o);
    size_t slot;
    long e = find_locked(d, key, h, &slot);
    dict_table *t = table_of(d);
    if (e < 0) {
        _weft_object_unlock(o);
        if (e == -1)
            _weft_set_error(WEFT_EINVAL, "weft_dict_del: key not found");
        return -1;
    }
    dict_entry *entry = &entries_of(t)[e];
    weft_object *old_key = weft_load_relaxed(&entry->key);
    weft_object *old_value = weft_load_relaxed(&entry->value);
    weft_store_release(&indices_of(t)[slot], DUMMY);
    weft_store_release(&entry->key, NULL);
    weft_store_release(&entry->value, NULL);
    size_t used = weft_load_relaxed(&d->used) - 1;
    weft_store_release(&d->used, used);
    d->version++;
    /* Shrink a table that is mostly empty (resize down). On failure the old
     * table stays, and the delete still succeeded: no error is left set. */
    if (t->log2_size > MIN_LOG2 && used < t->usable / 8 &&
        resize_locked(d, used * 3 > 5 ? used * 3 : 5) != 0)
        weft_error_clear();
    _weft_object_unlock(o);
    weft_decref(old_value);
    weft_decref(old_key);
    return 0;
}

void weft_dict_clear(weft_object *o)
{
    if (!check_dict(o, "weft_dict_clear"))
        return;
    weft_dict *d = DICT(o);
    _weft_object_lock(o);
    dict_table *t = table_of(d);
    weft_store_release(&d->table, NULL);
    weft_store_release(&d->used, 0);
    d->version++;
    _weft_object_unlock(o);
    release_entries(t);
    weft_defer_free(t);
}

/* ---------------------------------------------------------------- readers */

enum { LOOKUP_MISSING = 0, LOOKUP_FOUND = 1, LOOKUP_RETRY = -1 };

/* Does the stored key k (read without the lock) equal key? Takes a reference
 * to k first so that its contents stay valid, and leaves it in *held for the
 * caller to drop once it is done with the table: that drop may be k's last
 * reference (another thread deleted the entry meanwhile), and k's death may
 * pass a quiescent state (a finalizer or weakref callback, or a large str's
 * deferred free), after which the table may be freed under the reader. One
 * reference at a time: a second full-hash match is left to the lock. */
static int stored_key_equal(_Atomic(weft_object *) *slot, weft_object *k, weft_object *key,
                            weft_object **held)
{
    if (!fast_key_type(key) || *held)
        return LOOKUP_RETRY; /* maybe a type's own eq: the locked path */
    /* k's block may be mid-reuse until we hold it and the slot still names
     * it: only its atomic count fields may be read before that. */
    if (!weft_try_incref(k))
        return LOOKUP_RETRY;
    *held = k;
    if (weft_load_acquire(slot) != k)
        return LOOKUP_RETRY;
    return k->type == key->type ? builtin_key_equal(k, key) : LOOKUP_RETRY;
}

/* The probe of lookup_optimistic. It drops no reference but v's on a
 * retry, after which it reads nothing more. */
static int probe_optimistic(weft_dict *d, weft_object *key, uint64_t h, weft_object **out,
                            weft_object **held)
{
    dict_table *t = weft_load_acquire(&d->table);
    if (!t)
        return LOOKUP_MISSING;
    size_t slots = (size_t)1 << t->log2_size, mask = slots - 1, i = h & mask;
    uint64_t perturb = h;
    WEFT_ATOMIC(int32_t) *ix = indices_of(t);
    dict_entry *entries = entries_of(t);
    for (size_t probes = 0; probes <= slots; probes++) {
        int32_t e = weft_load_acquire(&ix[i]);
        if (e == EMPTY)
            return LOOKUP_MISSING;
        if (e >= 0) {
            if ((size_t)e >= t->usable)
                return LOOKUP_RETRY;
            dict_entry *entry = &entries[e];
            weft_object *k = weft_load_acquire(&entry->key);
            int eq = k == key;
            if (!eq && k && weft_load_relaxed(&entry->hash) == h)
                eq = stored_key_equal(&entry->key, k, key, held);
            if (eq == LOOKUP_RETRY)
                return LOOKUP_RETRY;
            if (eq) {
                weft_object *v = weft_load_acquire(&entry->value);
                if (!v || !_weft_try_incref_item(v, &d->ob))
                    return LOOKUP_RETRY;
                if (weft_load_acquire(&entry->value) != v || weft_load_acquire(&entry->key) != k ||
                    weft_load_acquire(&d->table) != t) {
                    weft_decref(v);
                    return LOOKUP_RETRY;
                }
                *out = v;
                return LOOKUP_FOUND;
            }
        }
        perturb >>= PROBE_SHIFT;
        i = (i * 5 + perturb + 1) & mask;
    }
    return LOOKUP_RETRY;
}

static int lookup_optimistic(weft_dict *d, weft_object *key, uint64_t h, weft_object **out)
{
    weft_object *held = NULL;
    int rc = probe_optimistic(d, key, h, out, &held);
    if (held)
        weft_decref(held); /* the table is not read again */
    return rc;
}

static int lookup_locked(weft_dict *d, weft_object *key, uint64_t h, weft_object **out)
{
    _weft_object_lock(&d->ob);
    size_t slot;
    long e = find_locked(d, key, h, &slot);
    if (e >= 0)
        *out = weft_newref(weft_load_relaxed(&entries_of(table_of(d))[e].value));
    _weft_object_unlock(&d->ob);
    return e >= 0 ? LOOKUP_FOUND : e == -1 ? LOOKUP_MISSING : -2;
}

static int lookup(weft_object *o, weft_object *key, weft_object **out, const char *fn)
{
    uint64_t h;
    if (!check_dict(o, fn) || key_hash(key, &h) != 0)
        return -2;
    int rc = LOOKUP_RETRY;
    if (!(weft_load_relaxed(&_weft_alloc_flags) & WEFT_AF_HOOKED))
        rc = lookup_optimistic(DICT(o), key, h, out);
    if (rc == LOOKUP_RETRY)
        rc = lookup_locked(DICT(o), key, h, out);
    return rc;
}

weft_object *weft_dict_get(weft_object *o, weft_object *key)
{
    weft_object *v = NULL;
    return lookup(o, key, &v, "weft_dict_get") == LOOKUP_FOUND ? v : NULL;
}

int weft_dict_contains(weft_object *o, weft_object *key)
{
    weft_object *v = NULL;
    int rc = lookup(o, key, &v, "weft_dict_contains");
    if (rc == LOOKUP_FOUND) {
        weft_decref(v);
        return 1;
    }
    return rc == LOOKUP_MISSING ? 0 : -1;
}

int weft_dict_next(weft_object *o, size_t *pos, weft_object **key, weft_object **value)
{
    if (!check_dict(o, "weft_dict_next"))
        return 0;
    if (!pos) {
        _weft_set_error(WEFT_EINVAL, "weft_dict_next: NULL position");
        return 0;
    }
    weft_dict *d = DICT(o);
    _weft_object_lock(o);
    dict_table *t = table_of(d);
    size_t n = t ? weft_load_relaxed(&t->nentries) : 0;
    int found = 0;
    while (*pos < n && !found) {
        dict_entry *e = &entries_of(t)[(*pos)++];
        weft_object *k = weft_load_relaxed(&e->key);
        if (!k)
            continue;
        if (key)
            *key = weft_newref(k);
        if (value)
            *value = weft_newref(weft_load_relaxed(&e->value));
        found = 1;
    }
    _weft_object_unlock(o);
    return found;
}
