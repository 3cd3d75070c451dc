/* lib/str.c: immutable strings, their cached keyed hash, and the intern table.
 *
 * The intern table is liburcu's lock-free resizable hash table (QSBR flavour):
 * lookups and inserts need no lock, and attached threads are online QSBR
 * readers, which is what the table requires of its callers. Interned strings
 * are immortal and never removed, so a node found is valid for good. */
#include "builtins.h"
#include "error.h"
#include "object_new.h"

#include <stdlib.h>
#include <string.h>
#include <urcu-qsbr.h>
#include <urcu/rculfhash.h>
#include <weft/runtime.h>

typedef struct intern_node {
    struct cds_lfht_node node;
    weft_str *str;
} intern_node;

static struct cds_lfht *intern_table;

static uint64_t str_type_hash(weft_object *self)
{
    return weft_str_hash(self);
}

static int str_type_eq(weft_object *a, weft_object *b)
{
    return weft_is_str(b) && weft_str_equal(a, b);
}

const weft_type weft_str_type = {
    .name = "str",
    .basic_size = sizeof(weft_str) + 1, /* the NUL */
    .item_size = 1,
    .flags = WEFT_TYPE_VAR,
    .hash = str_type_hash,
    .eq = str_type_eq,
};

weft_object *weft_str_new(const char *bytes, size_t len)
{
    if (!bytes && len) {
        _weft_set_error(WEFT_EINVAL, "weft_str_new: NULL bytes with length %zu", len);
        return NULL;
    }
    if (len > SIZE_MAX - weft_str_type.basic_size) {
        _weft_set_error(WEFT_EOVERFLOW, "weft_str_new: length %zu overflows", len);
        return NULL;
    }
    weft_object *o = _weft_object_new_inline(&weft_str_type, weft_str_type.basic_size + len,
                                             false, false);
    if (!o)
        return NULL;
    weft_str *s = (weft_str *)o;
    weft_store_relaxed(&s->hash, 0);
    s->len = len;
    if (len)
        memcpy(s->data, bytes, len);
    s->data[len] = 0;
    return o;
}

weft_object *weft_str_from_cstr(const char *cstr)
{
    if (!cstr) {
        _weft_set_error(WEFT_EINVAL, "weft_str_from_cstr: NULL");
        return NULL;
    }
    return weft_str_new(cstr, strlen(cstr));
}

int weft_is_str(const weft_object *o)
{
    return o && o->type == &weft_str_type;
}

const char *weft_str_data(const weft_object *o)
{
    return ((const weft_str *)o)->data;
}

size_t weft_str_len(const weft_object *o)
{
    return ((const weft_str *)o)->len;
}

uint64_t weft_str_hash(weft_object *o)
{
    weft_str *s = (weft_str *)o;
    uint64_t h = weft_load_relaxed(&s->hash);
    if (!h) {
        /* Racing threads compute the same value: a relaxed store suffices. */
        h = weft_hash_bytes(s->data, s->len);
        weft_store_relaxed(&s->hash, h);
    }
    return h;
}

int weft_str_equal(const weft_object *a, const weft_object *b)
{
    const weft_str *x = (const weft_str *)a, *y = (const weft_str *)b;
    if (x == y)
        return 1;
    if (x->len != y->len)
        return 0;
    uint64_t hx = weft_load_relaxed(&x->hash), hy = weft_load_relaxed(&y->hash);
    if (hx && hy && hx != hy)
        return 0;
    return memcmp(x->data, y->data, x->len) == 0;
}

/* ---------------------------------------------------------------- interning */

static int intern_match(struct cds_lfht_node *node, const void *key)
{
    const intern_node *n = caa_container_of(node, intern_node, node);
    WEFT_TSAN_ACQUIRE(n); /* pairs with the release before cds_lfht_add_unique */
    return weft_str_equal(&n->str->ob, key);
}

void _weft_str_init(void)
{
    if (!intern_table)
        intern_table = cds_lfht_new_flavor(1024, 1024, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING,
                                           &urcu_qsbr_flavor, NULL);
    if (!intern_table)
        _weft_fatal("cannot create the string intern table");
}

int weft_str_is_interned(const weft_object *o)
{
    if (!weft_is_immortal(o))
        return 0;
    struct cds_lfht_iter iter;
    cds_lfht_lookup(intern_table, weft_str_hash((weft_object *)o), intern_match, o, &iter);
    struct cds_lfht_node *node = cds_lfht_iter_get_node(&iter);
    return node && caa_container_of(node, intern_node, node)->str == (const weft_str *)o;
}

weft_object *weft_str_intern(weft_object *o)
{
    if (!weft_thread_is_attached()) {
        _weft_set_error(WEFT_ESTATE, "weft_str_intern: the thread is not attached");
        return NULL;
    }
    if (!o || !weft_is_str(o)) {
        _weft_set_error(WEFT_EINVAL, "weft_str_intern: not a str");
        return NULL;
    }
    uint64_t h = weft_str_hash(o);
    struct cds_lfht_iter iter;
    cds_lfht_lookup(intern_table, h, intern_match, o, &iter);
    struct cds_lfht_node *found = cds_lfht_iter_get_node(&iter);
    /* A real incref: the string found may not be immortal yet (its interning
     * thread sets that just after publishing it). */
    if (found)
        return weft_newref(&caa_container_of(found, intern_node, node)->str->ob);
    intern_node *n = malloc(sizeof *n);
    if (!n) {
        _weft_set_error(WEFT_ENOMEM, "weft_str_intern: out of memory");
        return NULL;
    }
    cds_lfht_node_init(&n->node);
    n->str = (weft_str *)o;
    WEFT_TSAN_RELEASE(n);
    found = cds_lfht_add_unique(intern_table, h, intern_match, o, &n->node);
    if (found != &n->node) {
        free(n); /* another thread interned the same content first */
        return weft_newref(&caa_container_of(found, intern_node, node)->str->ob);
    }
    /* Won: the table's reference is forever. Until this store, the caller's
     * reference keeps o alive for any thread that already found it. */
    weft_set_immortal(o);
    return o;
}

weft_object *weft_str_intern_cstr(const char *cstr)
{
    weft_object *s = weft_str_from_cstr(cstr);
    if (!s)
        return NULL;
    weft_object *interned = weft_str_intern(s);
    if (interned != s)
        weft_decref(s);
    return interned;
}
