/* stress/objects.c: the objects weft-stress makes, and how it reads them back.
 *
 * Every object carries its id and a checksum of it in its own content, so a
 * read of memory that was freed, or freed and reused by another object, is
 * caught by the content alone:
 *
 *   stress.obj   fields id and check = oracle_checksum(id); its child's and
 *                payload's keys are recorded beside the pointers.
 *   int          value = id << 21 | tracked << 20 | low 18 bits of the checksum
 *                (never in the small-int range, so never immortal).
 *   str          "S<id:16 hex><t|u><checksum:8 hex>:" then filler bytes that
 *                are a function of the checksum; lengths up to a few KiB, so
 *                some are large blocks.
 *   tuple        item 0 is a token int: id << 21 | tracked << 20 | gen << 18 |
 *                low 18 bits of (checksum ^ size ^ digest of the other items' keys).
 *
 * gen (stress.obj flags, tuple tokens; 0 for leaves) counts how many levels of
 * objects taken from roots an object reaches: a worker gives new objects
 * children from its roots only below GEN_MAX, so the objects kept alive by
 * the roots stay bounded instead of growing a lineage without end.
 *   list         item 0 is a token int (as a tuple's, without the digest: the
 *                other items change); workers never touch index 0.
 *   dict         key -1 maps to a token int; workers never delete it.
 *                A pure list or dict (only containers and small ints in it;
 *                cycles of them need the collector) mixes TOKEN_PURE in too.
 *   vocabulary   interned (immortal) strings "k00".."k63"; small ints.
 *
 * The stress.obj type has every hook: traverse, clear, a finalizer that
 * reports to the oracle and sometimes resurrects the object (revive.c), and
 * a dealloc that reports the death after checking that what the object still
 * owns is alive. */
#include "stress.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define LOW18 0x3FFFFull
#define TOKEN_LIST 0x11157ull /* mixed into a list token's check bits */
#define TOKEN_DICT 0x0d1c7ull
#define TOKEN_PURE 0x20000ull /* and into a pure container's (stress.h) */
#define STR_HEADER 27         /* "S" 16 "t" 8 ":" */

static const char filler_chars[] = "abcdefghijklmnopqrstuvwxyz0123456789";

/* ---------------------------------------------------------------- stress.obj */

static void check_sobj(const sobj *s, const char *where)
{
    if (s->check != oracle_checksum(s->id))
        violation("%s: stress.obj %p has checksum %016" PRIx64 " for id %" PRIu64
                  " (expected %016" PRIx64 "): freed or overwritten memory",
                  where, (const void *)s, s->check, s->id, oracle_checksum(s->id));
}

static int sobj_traverse(weft_object *self, weft_visit_fn visit, void *arg)
{
    sobj *s = (sobj *)self;
    weft_object *child = slot_load(&s->child), *payload = slot_load(&s->payload);
    int rc;
    if (child && (rc = visit(child, arg)) != 0)
        return rc;
    if (payload && (rc = visit(payload, arg)) != 0)
        return rc;
    return 0;
}

static void sobj_clear(weft_object *self)
{
    sobj *s = (sobj *)self;
    slot_clear(&s->child);
    slot_clear(&s->payload);
}

static void sobj_finalize(weft_object *self)
{
    sobj *s = (sobj *)self;
    check_sobj(s, "finalizer");
    oracle_finalized(s->id);
    if (s->flags & SOBJ_RESURRECT)
        revive_put(self);
    if (s->flags & SOBJ_FAIL_FINALIZE) {
        stat_add(ST_FINALIZER_ERRORS, 1);
        weft_error_set(WEFT_EINVAL, "stress.obj %" PRIu64 " fails to finalize", s->id);
    }
}

/* The unraisable hook: only a stress.obj's failing finalizer leaves an
 * error, and it is reported once, on the thread that ran it, about it. */
static void check_unraisable(const weft_unraisable *u, void *arg)
{
    (void)arg;
    const weft_object *o = u->object;
    if (strcmp(u->context, "finalizer") != 0 || !o || o->type != &sobj_type)
        violation("unraisable error from %s of %s: %s", u->context,
                  o ? o->type->name : "nothing", u->message);
    const sobj *s = (const sobj *)o;
    check_sobj(s, "unraisable hook");
    char want[96];
    snprintf(want, sizeof want, "stress.obj %" PRIu64 " fails to finalize", s->id);
    if (!(s->flags & SOBJ_FAIL_FINALIZE) || u->code != WEFT_EINVAL || strcmp(u->message, want))
        violation("unraisable error for stress.obj %" PRIu64 " (flags %#x): %s: %s", s->id,
                  (unsigned)s->flags, weft_error_name(u->code), u->message);
    if (weft_error() != WEFT_OK)
        violation("the unraisable hook runs with an error set: %s", weft_error_message());
    stat_add(ST_UNRAISABLE, 1);
}

void objects_watch_unraisable(void)
{
    weft_set_unraisable_hook(check_unraisable, NULL);
}

void objects_check_unraisable(unsigned long long count_before)
{
    uint64_t t[ST_COUNT];
    stats_sum(t);
    unsigned long long counted = weft_unraisable_count() - count_before;
    if (t[ST_UNRAISABLE] != t[ST_FINALIZER_ERRORS] || counted != t[ST_FINALIZER_ERRORS])
        violation("%" PRIu64 " finalizers failed, the hook saw %" PRIu64
                  " reports and weft counted %llu",
                  t[ST_FINALIZER_ERRORS], t[ST_UNRAISABLE], counted);
}

static void sobj_dealloc(weft_object *self)
{
    sobj *s = (sobj *)self;
    check_sobj(s, "dealloc");
    oracle_freed(s->id);
    /* What it still owns must be alive and be what it was given. */
    sref r;
    weft_object *child = slot_load(&s->child), *payload = slot_load(&s->payload);
    if (child)
        identify(child, true, s->child_key, &r, "dealloc's child");
    if (payload)
        identify(payload, true, s->payload_key, &r, "dealloc's payload");
    slot_clear(&s->child);
    slot_clear(&s->payload);
}

/* Hashable by identity (its id is unique and never changes), so that
 * tuples holding stress.objs are dict keys: tracked keys, in garbage cycles,
 * resurrected. */
static uint64_t sobj_hash(weft_object *self)
{
    uint64_t id = ((sobj *)self)->id;
    return id == WEFT_HASH_ERROR ? id - 1 : id;
}

static int sobj_eq(weft_object *a, weft_object *b)
{
    return a == b;
}

const weft_type sobj_type = {
    .name = "stress.obj",
    .basic_size = sizeof(sobj),
    .flags = WEFT_TYPE_GC,
    .traverse = sobj_traverse,
    .clear = sobj_clear,
    .finalize = sobj_finalize,
    .dealloc = sobj_dealloc,
    .hash = sobj_hash,
    .eq = sobj_eq,
};

/* ---------------------------------------------------------------- keys */

static uint64_t parse_hex(const char *p, int n, bool *ok)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) {
        char c = p[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else {
            *ok = false;
            return 0;
        }
        v = v << 4 | d;
    }
    return v;
}

#define VOCAB_KEY(k) ((1ull << 62) | (k))

/* A new reference to a list's or dict's token, or NULL. */
static weft_object *container_token(weft_object *o)
{
    weft_object *token;
    if (weft_type_of(o) == &weft_list_type) {
        token = weft_list_get(o, 0);
    } else {
        weft_object *key = weft_int_new(DICT_TOKEN_KEY); /* immortal */
        token = weft_dict_get(o, key);
    }
    if (!token)
        weft_error_clear();
    return token;
}

uint64_t object_key(weft_object *o)
{
    const weft_type *t = weft_type_of(o);
    if (t == &sobj_type)
        return ((sobj *)o)->id;
    if (t == &weft_int_type)
        return (uint64_t)weft_int_value(o);
    if (t == &weft_str_type) {
        const char *d = weft_str_data(o);
        bool ok = true;
        if (d[0] == 'S' && weft_str_len(o) >= STR_HEADER)
            return parse_hex(d + 1, 16, &ok);
        if (d[0] == 'k' && weft_str_len(o) == 3)
            return VOCAB_KEY((uint64_t)((d[1] - '0') * 10 + (d[2] - '0')));
        return ~0ull;
    }
    if (t == &weft_tuple_type) {
        weft_object *token = weft_tuple_size(o) ? weft_tuple_get(o, 0) : NULL;
        return token && weft_is_int(token) ? (uint64_t)weft_int_value(token) : ~0ull;
    }
    if (t == &weft_list_type || t == &weft_dict_type) {
        weft_object *token = container_token(o);
        uint64_t key =
            token && weft_is_int(token) ? (uint64_t)weft_int_value(token) : ~0ull;
        weft_xdecref(token);
        return key;
    }
    return ~0ull;
}

static uint64_t items_digest(weft_object *const *items, size_t n)
{
    uint64_t h = 0x243f6a8885a308d3ull;
    for (size_t i = 0; i < n; i++)
        h = mix64(h ^ object_key(items[i]));
    return h;
}

static uint64_t tuple_digest(weft_object *t, size_t n, const char *where)
{
    uint64_t h = 0x243f6a8885a308d3ull;
    for (size_t i = 1; i < n; i++) {
        weft_object *item = weft_tuple_get(t, i);
        if (!item)
            violation("%s: tuple %p has an empty slot %zu", where, (void *)t, i);
        h = mix64(h ^ object_key(item));
    }
    return h;
}

/* ---------------------------------------------------------------- identify */

static void identify_int_value(int64_t v, uint64_t extra, sref *out, const char *what,
                               const void *o, const char *where)
{
    uint64_t u = (uint64_t)v;
    out->id = u >> 21;
    out->tracked = (u >> 20) & 1;
    out->gen = (uint8_t)((u >> 18) & 3);
    uint64_t low = u & LOW18;
    if (v <= WEFT_SMALL_INT_MAX || out->id == 0 ||
        low != ((oracle_checksum(out->id) ^ extra) & LOW18) ||
        (out->kind == K_INT && out->gen) ||
        ((out->kind == K_LIST || out->kind == K_DICT) && out->gen != GEN_MAX))
        violation("%s: %s %p has value %" PRId64 ", which no object of id %" PRIu64
                  " carries: freed or overwritten memory",
                  where, what, o, v, out->id);
}

void identify(weft_object *o, bool has_expect, uint64_t expect, sref *out,
              const char *where)
{
    if (!o)
        violation("%s: NULL where an object was expected", where);
    memset(out, 0, sizeof *out);
    out->obj = o;
    const weft_type *t = weft_type_of(o);
    if (t == &sobj_type) {
        sobj *s = (sobj *)o;
        check_sobj(s, where);
        out->kind = K_OBJ;
        out->id = out->key = s->id;
        out->tracked = true;
        out->ring = (s->flags & SOBJ_RING) != 0;
        out->gen = (uint8_t)((s->flags >> SOBJ_GEN_SHIFT) & 3);
    } else if (t == &weft_int_type) {
        int64_t v = weft_int_value(o);
        out->key = (uint64_t)v;
        if (v >= WEFT_SMALL_INT_MIN && v <= WEFT_SMALL_INT_MAX) {
            if (!weft_is_immortal(o))
                violation("%s: small int %" PRId64 " at %p is not immortal", where, v,
                          (void *)o);
            out->kind = K_SMALLINT;
        } else {
            out->kind = K_INT;
            identify_int_value(v, 0, out, "int", o, where);
        }
    } else if (t == &weft_str_type) {
        const char *d = weft_str_data(o);
        size_t len = weft_str_len(o);
        bool ok = true;
        if (len == 3 && d[0] == 'k' && d[1] >= '0' && d[1] <= '9' && d[2] >= '0' &&
            d[2] <= '9') {
            out->kind = K_ISTR;
            out->key = VOCAB_KEY((uint64_t)((d[1] - '0') * 10 + (d[2] - '0')));
        } else {
            out->kind = K_STR;
            if (len < STR_HEADER || d[0] != 'S' || (d[17] != 't' && d[17] != 'u') ||
                d[26] != ':')
                violation("%s: str %p of length %zu does not start like a harness string "
                          "(\"%.27s\"): freed or overwritten memory",
                          where, (void *)o, len, d);
            out->id = out->key = parse_hex(d + 1, 16, &ok);
            out->tracked = d[17] == 't';
            uint64_t check = parse_hex(d + 18, 8, &ok);
            uint64_t want = oracle_checksum(out->id);
            if (!ok || check != (want & 0xffffffffu))
                violation("%s: str %p (id %" PRIu64 ") has a wrong checksum: freed or "
                          "overwritten memory",
                          where, (void *)o, out->id);
            for (size_t i = STR_HEADER; i < len; i++)
                if (d[i] != filler_chars[(want + i) % (sizeof filler_chars - 1)])
                    violation("%s: str %p (id %" PRIu64
                              ", length %zu) has a wrong byte at %zu: "
                              "freed or overwritten memory",
                              where, (void *)o, out->id, len, i);
            if (d[len] != 0)
                violation("%s: str %p (id %" PRIu64 ") lost its terminating NUL", where,
                          (void *)o, out->id);
        }
    } else if (t == &weft_tuple_type) {
        size_t n = weft_tuple_size(o);
        weft_object *token = n ? weft_tuple_get(o, 0) : NULL;
        if (!token || !weft_is_int(token))
            violation(
                "%s: tuple %p of size %zu has no token: freed or overwritten memory",
                where, (void *)o, n);
        out->kind = K_TUPLE;
        out->key = (uint64_t)weft_int_value(token);
        identify_int_value(weft_int_value(token), n ^ tuple_digest(o, n, where), out,
                           "tuple", o, where);
    } else if (t == &weft_list_type || t == &weft_dict_type) {
        bool list = t == &weft_list_type;
        weft_object *token = container_token(o);
        if (!token || !weft_is_int(token))
            violation(
                "%s: %s %p lost its token: freed or overwritten memory, or a lost item",
                where, list ? "list" : "dict", (void *)o);
        out->kind = list ? K_LIST : K_DICT;
        out->key = (uint64_t)weft_int_value(token);
        uint64_t magic = list ? TOKEN_LIST : TOKEN_DICT;
        /* Pure or not: the checksum bits tell (TOKEN_PURE flips one of them). */
        uint64_t u = out->key, id = u >> 21;
        out->pure =
            id && (u & LOW18) == ((oracle_checksum(id) ^ magic ^ TOKEN_PURE) & LOW18);
        identify_int_value(weft_int_value(token), magic ^ (out->pure ? TOKEN_PURE : 0),
                           out, list ? "list" : "dict", o, where);
        weft_decref(token);
    } else {
        violation("%s: object %p has type %p, which the harness never made: freed or "
                  "overwritten memory",
                  where, (void *)o, (const void *)t);
    }
    if (has_expect && out->key != expect)
        violation("%s: expected the object of key %016" PRIx64
                  " at %p, found %s of key %016" PRIx64 " (id %" PRIu64
                  "): its memory was reused",
                  where, expect, (void *)o, kind_name(out->kind), out->key, out->id);
    if (out->tracked)
        oracle_check_alive(out->id, where);
}

/* ---------------------------------------------------------------- walk */

typedef struct wnode {
    weft_object *o;
    uint64_t key;
} wnode;

static __thread wnode *walk_stack;
static __thread size_t walk_cap;

static void walk_push(size_t *n, weft_object *o, uint64_t key)
{
    if (*n == walk_cap) {
        size_t cap = walk_cap ? walk_cap * 2 : 256;
        wnode *s = realloc(walk_stack, cap * sizeof *s);
        if (!s) {
            fprintf(stderr, "weft-stress: out of memory (walk)\n");
            abort();
        }
        walk_stack = s;
        walk_cap = cap;
    }
    walk_stack[(*n)++] = (wnode){o, key};
}

size_t walk(weft_object *root, uint64_t key, size_t budget)
{
    size_t n = 0, seen = 0;
    walk_push(&n, root, key);
    while (n && seen < budget) {
        wnode node = walk_stack[--n];
        sref r;
        identify(node.o, true, node.key, &r, "walk");
        seen++;
        if (r.kind == K_OBJ) {
            sobj *s = (sobj *)node.o;
            weft_object *child = slot_load(&s->child), *payload = slot_load(&s->payload);
            if (payload)
                walk_push(&n, payload, s->payload_key);
            if (child)
                walk_push(&n, child, s->child_key);
        } else if (r.kind == K_TUPLE) {
            size_t size = weft_tuple_size(node.o);
            for (size_t i = size; i-- > 1;) {
                weft_object *item = weft_tuple_get(node.o, i);
                walk_push(&n, item,
                          object_key(item)); /* the digest vouched for the keys */
            }
        }
    }
    return seen;
}

void walk_release(void)
{
    free(walk_stack);
    walk_stack = NULL;
    walk_cap = 0;
}

/* ---------------------------------------------------------------- makers */

weft_object *make_int(idblock *ids, bool tracked, uint64_t *id_out)
{
    uint64_t id = oracle_new_id(ids);
    int64_t v =
        (int64_t)(id << 21 | (uint64_t)tracked << 20 | (oracle_checksum(id) & LOW18));
    weft_object *o = weft_int_new(v);
    if (!o) {
        oracle_void(id);
        return NULL;
    }
    oracle_born(id, K_INT, tracked);
    stat_add(ST_NEW_INT, 1);
    *id_out = id;
    return o;
}

weft_object *make_str(idblock *ids, bool tracked, size_t len, uint64_t *id_out)
{
    char small[512];
    if (len < STR_HEADER)
        len = STR_HEADER;
    char *buf = len <= sizeof small ? small : malloc(len);
    if (!buf) {
        fprintf(stderr, "weft-stress: out of memory (str)\n");
        abort();
    }
    uint64_t id = oracle_new_id(ids);
    uint64_t check = oracle_checksum(id);
    char head[STR_HEADER + 1];
    snprintf(head, sizeof head, "S%016" PRIx64 "%c%08" PRIx64 ":", id,
             tracked ? 't' : 'u', check & 0xffffffffu);
    memcpy(buf, head, STR_HEADER);
    for (size_t i = STR_HEADER; i < len; i++)
        buf[i] = filler_chars[(check + i) % (sizeof filler_chars - 1)];
    weft_object *o = weft_str_new(buf, len);
    if (buf != small)
        free(buf);
    if (!o) {
        oracle_void(id);
        return NULL;
    }
    oracle_born(id, K_STR, tracked);
    stat_add(len > WEFT_SMALL_MAX ? ST_NEW_LARGE_STR : ST_NEW_STR, 1);
    *id_out = id;
    return o;
}

weft_object *make_tuple(idblock *ids, bool tracked, unsigned gen,
                        weft_object *const *items, size_t nitems, uint64_t *id_out)
{
    uint64_t id = oracle_new_id(ids);
    size_t n = nitems + 1;
    uint64_t low = (oracle_checksum(id) ^ n ^ items_digest(items, nitems)) & LOW18;
    weft_object *token = weft_int_new(
        (int64_t)(id << 21 | (uint64_t)tracked << 20 | (uint64_t)(gen & 3) << 18 | low));
    if (!token) {
        oracle_void(id);
        return NULL;
    }
    weft_object *t;
    /* Both ways of building a tuple: packed at once, or filled slot by slot. */
    switch (n) {
    case 1:
        t = weft_tuple_pack(1, token);
        break;
    case 2:
        t = weft_tuple_pack(2, token, items[0]);
        break;
    case 3:
        t = weft_tuple_pack(3, token, items[0], items[1]);
        break;
    default:
        t = weft_tuple_new(n);
        if (t) {
            if (weft_tuple_set_new(t, 0, weft_newref(token)) != 0)
                violation("weft_tuple_set_new(0) failed: %s", weft_error_message());
            for (size_t i = 0; i < nitems; i++)
                if (weft_tuple_set_new(t, i + 1, weft_newref(items[i])) != 0)
                    violation("weft_tuple_set_new(%zu) failed: %s", i + 1,
                              weft_error_message());
            weft_tuple_maybe_untrack(t);
        }
        break;
    }
    weft_decref(token);
    if (!t) {
        oracle_void(id);
        return NULL;
    }
    oracle_born(id, K_TUPLE, tracked);
    stat_add(ST_NEW_TUPLE, 1);
    *id_out = id;
    return t;
}

weft_object *make_sobj(idblock *ids, weft_object *child, weft_object *payload,
                       uint32_t flags, uint64_t *id_out)
{
    uint64_t id = oracle_new_id(ids);
    weft_object *o = weft_new(&sobj_type);
    if (!o) {
        oracle_void(id);
        return NULL;
    }
    sobj *s = (sobj *)o;
    s->id = id;
    s->check = oracle_checksum(id);
    s->flags = flags;
    if (child) {
        s->child_key = object_key(child);
        slot_store(&s->child, weft_newref(child));
    }
    if (payload) {
        s->payload_key = object_key(payload);
        slot_store(&s->payload, weft_newref(payload));
    }
    oracle_born(id, K_OBJ, true);
    stat_add(ST_NEW_OBJ, 1);
    *id_out = id;
    return o;
}

static int64_t container_token_value(uint64_t id, bool tracked, uint64_t magic)
{
    return (int64_t)(id << 21 | (uint64_t)tracked << 20 | (uint64_t)GEN_MAX << 18 |
                     ((oracle_checksum(id) ^ magic) & LOW18));
}

weft_object *make_list(idblock *ids, bool tracked, bool pure, size_t prefill,
                       uint64_t *id_out)
{
    uint64_t id = oracle_new_id(ids);
    weft_object *l = weft_list_new(prefill + 1);
    uint64_t magic = TOKEN_LIST ^ (pure ? TOKEN_PURE : 0);
    weft_object *token =
        l ? weft_int_new(container_token_value(id, tracked, magic)) : NULL;
    bool ok = token && weft_list_append(l, token) == 0;
    weft_xdecref(token);
    for (size_t i = 0; ok && i < prefill; i++) /* small ints: immortal, never fail */
        ok = weft_list_append(l, weft_int_new((int64_t)(i % (WEFT_SMALL_INT_MAX + 1)))) ==
             0;
    if (!ok) {
        weft_xdecref(l);
        oracle_void(id);
        return NULL;
    }
    oracle_born(id, K_LIST, tracked);
    stat_add(ST_NEW_LIST, 1);
    *id_out = id;
    return l;
}

weft_object *make_dict(idblock *ids, bool tracked, bool pure, uint64_t *id_out)
{
    uint64_t id = oracle_new_id(ids);
    weft_object *d = weft_dict_new();
    uint64_t magic = TOKEN_DICT ^ (pure ? TOKEN_PURE : 0);
    weft_object *token =
        d ? weft_int_new(container_token_value(id, tracked, magic)) : NULL;
    bool ok = token && weft_dict_set(d, weft_int_new(DICT_TOKEN_KEY), token) == 0;
    weft_xdecref(token);
    if (!ok) {
        weft_xdecref(d);
        oracle_void(id);
        return NULL;
    }
    oracle_born(id, K_DICT, tracked);
    stat_add(ST_NEW_DICT, 1);
    *id_out = id;
    return d;
}

/* ---------------------------------------------------------------- the vocabulary */

int intern_vocab(unsigned k, size_t *block_bytes)
{
    char name[4] = {'k', (char)('0' + k / 10), (char)('0' + k % 10), 0};
    weft_object *s = weft_str_intern_cstr(name);
    if (!s)
        return -1;
    if (block_bytes)
        *block_bytes += weft_usable_size(s);
    weft_decref(s); /* immortal: the table keeps it */
    return 0;
}
