/* stress/containers.c: lists and dicts as workload objects, shared by the
 * workers and changed by several at once (they travel through mailboxes and
 * the board like anything else): append, insert, pop, get, set, iterate and
 * slice lists; set, get, delete, test and iterate dicts; every item read is
 * identified. Their gen is GEN_MAX: they never become children of other
 * objects, except, with a collector, pure ones of each other (cycles through
 * containers; stress.h says why they must be pure). Index 0 of a list and
 * key -1 of a dict hold the token; workers leave them alone. */
#include "worker.h"

#define CONTAINER_MAX 32

static bool pure_mode(void)
{
    return gc_active() && opt.cycles;
}

static int pick_pure(worker *w)
{
    for (int tries = 0; tries < 12; tries++) {
        unsigned i = (unsigned)rng_below(&w->r, w->nroots);
        if (w->roots[i].obj && w->roots[i].pure)
            return (int)i;
    }
    return -1;
}

void op_container_new(worker *w)
{
    uint64_t id = 0;
    bool tracked = rng_chance(&w->r, opt.watch_rate);
    bool pure = pure_mode() && rng_chance(&w->r, 0.3);
    weft_object *o;
    if (rng_chance(&w->r, 0.5)) {
        size_t prefill = rng_chance(&w->r, 0.05)
                             ? (size_t)rng_range(&w->r, 65, 400) /* large storage */
                             : (size_t)rng_range(&w->r, 0, 4);
        o = make_list(&w->ids, tracked, pure, prefill, &id);
    } else {
        o = make_dict(&w->ids, tracked, pure, &id);
    }
    if (!o) {
        failed("weft_list_new / weft_dict_new");
        return;
    }
    sref r;
    if (!finish_new(w, o, id, &r))
        return;
    if (pure && rng_chance(&w->r, 0.3)) {
        /* A cycle at once: the container holds itself. */
        int rc = r.kind == K_LIST ? weft_list_append(o, o)
                                  : weft_dict_set(o, weft_int_new(0), o);
        if (rc != 0)
            failed("a container holding itself");
        else
            stat_add(ST_RINGS, 1);
    }
    root_set(w, any_root(w), r);
}

/* Something to put in a container: for a pure one, a root's pure container
 * (maybe itself: a cycle) or a small int; for another, a root's object below
 * GEN_MAX (borrowed) or a new leaf (*made holds it; drop it after). NULL on an
 * injected failure. */
static weft_object *container_item(worker *w, bool pure, sref *made)
{
    unsigned gen = 0;
    made->obj = NULL;
    if (pure) {
        int j = rng_chance(&w->r, 0.5) ? pick_pure(w) : -1;
        return j >= 0 ? w->roots[j].obj : weft_int_new((int64_t)rng_below(&w->r, 100));
    }
    weft_object *b = rng_chance(&w->r, 0.6) ? borrow(w, &gen) : NULL;
    if (b)
        return b;
    return make_leaf(w, made) ? made->obj : NULL;
}

/* A container call returned -1 or NULL with an error: out of memory under
 * --fail-rate, or an index or key another thread just removed (EINVAL). */
static void container_error(const char *what, bool einval_ok)
{
    if (einval_ok && weft_error() == WEFT_EINVAL) {
        weft_error_clear();
        return;
    }
    failed(what);
}

/* Take an item out of a container (a reference now ours), check it, keep or drop it. */
static void take_item(worker *w, weft_object *o, const char *where)
{
    sref r;
    take(o, &r, where);
    if (rng_chance(&w->r, 0.3))
        root_set(w, any_root(w), r);
    else
        drop(w, &r);
}

static void check_items_of_list(weft_object *l, bool skip_token, const char *where)
{
    size_t pos = 0;
    weft_object *o;
    bool first = true;
    while ((o = weft_list_next(l, &pos)) != NULL) {
        if (!(first && skip_token)) {
            sref r;
            identify(o, false, 0, &r, where);
        }
        first = false;
        weft_decref(o);
        stat_add(ST_NODES, 1);
    }
}

void op_list(worker *w)
{
    int i = pick_kind(w, K_LIST);
    if (i < 0)
        return;
    weft_object *l = weft_newref(w->roots[i].obj); /* ours for the operation */
    sref self;
    identify(l, true, w->roots[i].key, &self, "list");
    size_t len = weft_list_len(l);
    stat_add(ST_CONTAINER_OPS, 1);
    switch (rng_below(&w->r, 8)) {
    case 0:
    case 1: { /* append or insert; pop when full */
        if (len >= CONTAINER_MAX) {
            weft_object *o = weft_list_pop(l, len - 1);
            if (o)
                take_item(w, o, "list pop");
            else
                container_error("weft_list_pop", true);
            break;
        }
        sref made;
        weft_object *item = container_item(w, self.pure, &made);
        if (!item)
            break;
        int rc = rng_chance(&w->r, 0.5)
                     ? weft_list_append(l, item)
                     : weft_list_insert(l, (size_t)rng_range(&w->r, 1, len), item);
        if (rc != 0)
            container_error("weft_list_append / weft_list_insert", true);
        drop(w, &made);
        break;
    }
    case 2: { /* pop */
        if (len < 2)
            break;
        weft_object *o = weft_list_pop(l, (size_t)rng_range(&w->r, 1, len - 1));
        if (o)
            take_item(w, o, "list pop");
        else
            container_error("weft_list_pop", true);
        break;
    }
    case 3: { /* get */
        if (len < 2)
            break;
        weft_object *o = weft_list_get(l, (size_t)rng_range(&w->r, 1, len - 1));
        if (o)
            take_item(w, o, "list get");
        else
            container_error("weft_list_get", true);
        break;
    }
    case 4: { /* set */
        if (len < 2)
            break;
        sref made;
        weft_object *item = container_item(w, self.pure, &made);
        if (item && weft_list_set(l, (size_t)rng_range(&w->r, 1, len - 1), item) != 0)
            container_error("weft_list_set", true);
        drop(w, &made);
        break;
    }
    case 5: /* iterate while others change it */
        check_items_of_list(l, true, "list iteration");
        break;
    default: { /* a slice: a new plain list of the same items */
        weft_object *s = weft_list_slice(l, 1, len);
        if (!s) {
            container_error("weft_list_slice", false);
            break;
        }
        check_items_of_list(s, false, "list slice");
        weft_decref(s);
        break;
    }
    }
    identify(l, true, self.key, &self, "list after an operation");
    weft_decref(l);
}

/* A fresh key tuple (n,): untracked (a small int), so fit for a pure dict
 * too, and equal to every other (n,): the only keys that differ in identity
 * and compare equal by a type's eq, which a dict runs unlocked. */
static weft_object *key_tuple(worker *w)
{
    weft_object *n = weft_int_new((int64_t)rng_below(&w->r, CONTAINER_MAX)); /* immortal */
    return weft_tuple_pack(1, n);
}

static bool is_key_tuple(weft_object *k)
{
    weft_object *n = weft_is_tuple(k) && weft_tuple_size(k) == 1 ? weft_tuple_get(k, 0) : NULL;
    return n && weft_is_int(n) && weft_int_value(n) >= 0 && weft_int_value(n) < CONTAINER_MAX;
}

/* A key (a new reference; NULL on an injected failure): mostly a small
 * int, sometimes a key tuple, or a root's int, str (by content) or, for a
 * dict that is not pure, tuple (a pure one may be in a garbage cycle, and a
 * tuple's items may resurrect it: stress.h); rarely a root's list or dict,
 * to be refused. */
static weft_object *dict_key(worker *w, bool pure)
{
    if (rng_chance(&w->r, 0.3)) {
        int i = pick_root(w, false);
        uint8_t kind = i >= 0 ? w->roots[i].kind : K_NONE;
        if (kind == K_INT || kind == K_STR || kind == K_ISTR || (kind == K_TUPLE && !pure))
            return weft_newref(w->roots[i].obj);
        /* Now and then an unhashable one, which every dict must refuse (so
         * never stored: any kind will do, pure dict or not). */
        if ((kind == K_LIST || kind == K_DICT) && rng_chance(&w->r, 0.1))
            return weft_newref(w->roots[i].obj);
    }
    if (rng_chance(&w->r, 0.15))
        return key_tuple(w);
    return weft_int_new((int64_t)rng_below(&w->r, CONTAINER_MAX)); /* immortal */
}

/* Whether weft hashes key: every object down its tuples has a hash (the
 * harness's tuples are trees of bounded depth). A tuple holding an item
 * without one (a list, a dict) is unhashable. */
static bool key_hashable(weft_object *k)
{
    if (!weft_type_of(k)->hash)
        return false;
    if (weft_is_tuple(k))
        for (size_t i = 0; i < weft_tuple_size(k); i++)
            if (!key_hashable(weft_tuple_get(k, i)))
                return false;
    return true;
}

/* A dict call with an unhashable key: it must have failed with WEFT_EINVAL
 * (refused before anything is allocated: no injected failure either). */
static void expect_unhashable(bool failed_call, const char *what)
{
    if (!failed_call)
        violation("%s accepted an unhashable key", what);
    if (weft_error() != WEFT_EINVAL)
        violation("%s refused an unhashable key with %s (\"%s\")", what,
                  weft_error_name(weft_error()), weft_error_message());
    weft_error_clear();
}

void op_dict(worker *w)
{
    int i = pick_kind(w, K_DICT);
    if (i < 0)
        return;
    weft_object *d = weft_newref(w->roots[i].obj);
    sref self;
    identify(d, true, w->roots[i].key, &self, "dict");
    weft_object *key = dict_key(w, self.pure);
    if (!key) {
        failed("weft_tuple_pack (a dict key)");
        weft_decref(d);
        return;
    }
    stat_add(ST_CONTAINER_OPS, 1);
    if (!key_hashable(key)) {
        stat_add(ST_UNHASHABLE_KEYS, 1);
        weft_error_clear();
        weft_object *o = weft_dict_get(d, key);
        expect_unhashable(!o, "weft_dict_get");
        weft_xdecref(o);
        expect_unhashable(weft_dict_set(d, key, key) != 0, "weft_dict_set");
        expect_unhashable(weft_dict_contains(d, key) < 0, "weft_dict_contains");
        weft_decref(key);
        weft_decref(d);
        return;
    }
    switch (rng_below(&w->r, 6)) {
    case 0:
    case 1: { /* set; delete when full */
        if (weft_dict_len(d) > CONTAINER_MAX) {
            if (weft_dict_del(d, key) != 0)
                container_error("weft_dict_del", true);
            break;
        }
        sref made;
        weft_object *value = container_item(w, self.pure, &made);
        if (value && weft_dict_set(d, key, value) != 0)
            container_error("weft_dict_set", false);
        drop(w, &made);
        break;
    }
    case 2: { /* get */
        weft_error_clear();
        weft_object *o = weft_dict_get(d, key);
        if (o)
            take_item(w, o, "dict get");
        else if (weft_error() != WEFT_OK)
            container_error("weft_dict_get", false);
        break;
    }
    case 3: /* delete */
        if (weft_dict_del(d, key) != 0)
            container_error("weft_dict_del", true);
        break;
    case 4: { /* contains */
        int rc = weft_dict_contains(d, key);
        if (rc < 0)
            container_error("weft_dict_contains", false);
        break;
    }
    default: { /* iterate while others change it */
        size_t pos = 0;
        weft_object *k, *v;
        while (weft_dict_next(d, &pos, &k, &v)) {
            sref r;
            if (!(weft_is_int(k) && weft_int_value(k) == DICT_TOKEN_KEY)) {
                if (!is_key_tuple(k))
                    identify(k, false, 0, &r, "dict key");
                identify(v, false, 0, &r, "dict value");
            }
            weft_decref(k);
            weft_decref(v);
            stat_add(ST_NODES, 2);
        }
        break;
    }
    }
    weft_decref(key);
    identify(d, true, self.key, &self, "dict after an operation");
    weft_decref(d);
}
