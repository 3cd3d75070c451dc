/* Objects on one thread: creation, counting, deallocation, immortals,
 * finalizers and resurrection, and the errors of the object API. */
#include "check.h"
#include "objtest.h"
#include <pthread.h>

static int finalized;
static weft_object *resurrected;

static void fin_resurrect(weft_object *self)
{
    finalized++;
    if (finalized == 1)
        resurrected = weft_newref(self); /* store a reference: resurrect */
}

static const weft_type fin_type = {
    .name = "test.finalizable",
    .basic_size = sizeof(node),
    .finalize = fin_resurrect,
    .dealloc = node_dealloc,
};

static void *unattached_new(void *arg)
{
    *(weft_object **)arg = weft_new(&node_type);
    *((int *)arg + 2) = weft_error();
    return NULL;
}

int main(void)
{
    /* Not initialized: attach fails clearly. */
    CHECK_EQ_INT(weft_thread_attach(), -1);
    CHECK_EQ_INT(weft_error(), WEFT_ESTATE);
    REQUIRE(weft_init(NULL) == 0);
    CHECK_EQ_INT(weft_init(NULL), -1); /* twice */
    CHECK_EQ_INT(weft_error(), WEFT_ESTATE);
    CHECK(weft_thread_is_attached());
    CHECK(weft_thread_index() >= 1);
    CHECK_EQ_INT(weft_thread_attach(), -1); /* already attached */

    /* Create, count, free. */
    weft_object *a = node_new(1, NULL);
    REQUIRE(a != NULL);
    CHECK(weft_type_of(a) == &node_type);
    CHECK_EQ_INT(weft_refcount(a), 1);
    weft_incref(a);
    weft_incref(a);
    CHECK_EQ_INT(weft_refcount(a), 3);
    weft_decref(a);
    weft_decref(a);
    CHECK_EQ_INT(node_deaths[1], 0);
    weft_decref(a);
    CHECK_EQ_INT(node_deaths[1], 1);

    /* Ownership of children: freeing the parent frees the child. */
    weft_object *p = node_new(2, node_new(3, NULL));
    weft_decref(p);
    CHECK_EQ_INT(node_deaths[2], 1);
    CHECK_EQ_INT(node_deaths[3], 1);

    /* setref releases the old value after storing the new one. */
    weft_object *slot = node_new(4, NULL);
    weft_setref(&slot, node_new(5, NULL));
    CHECK_EQ_INT(node_deaths[4], 1);
    weft_clearref(&slot);
    CHECK(slot == NULL);
    CHECK_EQ_INT(node_deaths[5], 1);
    weft_xdecref(NULL);
    weft_xincref(NULL);

    /* Immortals ignore counting. */
    weft_object *im = node_new(6, NULL);
    weft_set_immortal(im);
    CHECK(weft_is_immortal(im));
    for (int i = 0; i < 10; i++)
        weft_decref(im);
    CHECK_EQ_INT(node_deaths[6], 0);
    CHECK_EQ_INT(weft_refcount(im), (long)WEFT_IMMORTAL_LOCAL);

    /* An owner's count about to saturate: weft_try_incref makes the object
     * immortal as weft_incref does, so that it is not counted alive at
     * shutdown. (The count is set directly: 4 billion increfs take long.) */
    weft_object *sat = node_new(8, NULL);
    atomic_store(&sat->ref_local, WEFT_IMMORTAL_LOCAL - 1);
    CHECK(weft_try_incref(sat));
    CHECK(weft_is_immortal(sat));

    /* An owned item with a local count in the top half leaves the inline
     * reads of lists and dicts (_weft_local_takes_one) for their general
     * paths: one more reference, counted, not immortal; one about to
     * saturate turns immortal there. */
    weft_object *high = node_new(20, NULL), *key = weft_str_from_cstr("high");
    weft_object *l = weft_list_new(0), *d = weft_dict_new();
    REQUIRE(high && key && l && d && weft_list_append(l, high) == 0 &&
            weft_dict_set(d, key, high) == 0);
    uint32_t real = atomic_load(&high->ref_local); /* 3: ours, the list's, the dict's */
    atomic_store(&high->ref_local, 1u << 31);
    CHECK(weft_list_get(l, 0) == high);
    CHECK_EQ_INT(atomic_load(&high->ref_local), (1u << 31) + 1);
    CHECK(weft_dict_get(d, key) == high);
    CHECK_EQ_INT(atomic_load(&high->ref_local), (1u << 31) + 2);
    CHECK(!weft_is_immortal(high));
    atomic_store(&high->ref_local, real); /* the two gets' references dropped */
    weft_object *sat2 = node_new(21, NULL);
    REQUIRE(sat2 && weft_list_set(l, 0, sat2) == 0);
    weft_decref(sat2);
    atomic_store(&sat2->ref_local, WEFT_IMMORTAL_LOCAL - 1);
    CHECK(weft_list_get(l, 0) == sat2);
    CHECK(weft_is_immortal(sat2));
    weft_decref(l);
    weft_decref(d);
    weft_decref(key);
    CHECK_EQ_INT(weft_refcount(high), 1);
    weft_decref(high);
    CHECK_EQ_INT(node_deaths[20], 1);

    /* try_incref on a live owned object. */
    weft_object *t = node_new(7, NULL);
    CHECK(weft_try_incref(t));
    CHECK_EQ_INT(weft_refcount(t), 2);
    weft_decref(t);
    weft_decref(t);
    CHECK_EQ_INT(node_deaths[7], 1);

    /* Finalizer: runs once; the first time it resurrects the object. */
    node *f = (node *)weft_new(&fin_type);
    f->id = 8;
    weft_decref(&f->ob);
    CHECK_EQ_INT(finalized, 1);
    CHECK_EQ_INT(node_deaths[8], 0);
    CHECK(resurrected == &f->ob);
    CHECK_EQ_INT(weft_refcount(resurrected), 1);
    weft_clearref(&resurrected); /* second death: no finalizer, freed */
    CHECK_EQ_INT(finalized, 1);
    CHECK_EQ_INT(node_deaths[8], 1);

    /* Errors. */
    weft_type bad = node_type;
    bad.basic_size = 8;
    CHECK(weft_new(&bad) == NULL);
    CHECK_EQ_INT(weft_error(), WEFT_EINVAL);
    weft_type no_traverse = node_type;
    no_traverse.traverse = NULL;
    CHECK(weft_new(&no_traverse) == NULL);
    CHECK_EQ_INT(weft_error(), WEFT_EINVAL);
    CHECK(weft_new_var(&weft_tuple_type, (size_t)1 << 62) == NULL);
    CHECK_EQ_INT(weft_error(), WEFT_EOVERFLOW);
    CHECK(weft_new(NULL) == NULL);
    struct {
        weft_object *o;
        int err;
    } res = {(weft_object *)1, 0};
    pthread_t th;
    pthread_create(&th, NULL, unattached_new, &res);
    weft_test_join(th);
    CHECK(res.o == NULL);
    CHECK_EQ_INT(res.err, WEFT_ESTATE);

    weft_fault_alloc_after(1);
    CHECK(node_new(9, NULL) == NULL);
    CHECK_EQ_INT(weft_error(), WEFT_ENOMEM);

    CHECK_EQ_INT(weft_shutdown(), 0);
    CHECK(!weft_thread_is_attached());
    CHECK_EQ_INT(weft_shutdown(), -1);
    /* A second life. */
    REQUIRE(weft_init(NULL) == 0);
    weft_decref(node_new(10, NULL));
    CHECK_EQ_INT(node_deaths[10], 1);
    CHECK_EQ_INT(weft_shutdown(), 0);
    return check_finish();
}
