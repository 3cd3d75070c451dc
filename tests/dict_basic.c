/* Dicts on one thread: every operation and error, resize up and down, order. */
#include "check.h"
#include "objtest.h"
#include <stdio.h>

static weft_object *key_of(int i)
{
    char buf[32];
    snprintf(buf, sizeof buf, "key-%d", i);
    return weft_str_from_cstr(buf);
}

int main(void)
{
    REQUIRE(weft_init(NULL) == 0);
    weft_object *d = weft_dict_new();
    REQUIRE(d && weft_is_dict(d));
    CHECK_EQ_INT(weft_dict_len(d), 0);
    weft_object *k1 = key_of(1);
    weft_error_clear();
    CHECK(weft_dict_get(d, k1) == NULL); /* missing, no error */
    CHECK_EQ_INT(weft_error(), WEFT_OK);
    CHECK_EQ_INT(weft_dict_contains(d, k1), 0);

    /* str keys: equal content finds the entry; values are referenced */
    weft_object *v = node_new(1, NULL);
    CHECK_EQ_INT(weft_dict_set(d, k1, v), 0);
    CHECK_EQ_INT(weft_refcount(v), 2);
    weft_object *k1b = key_of(1);
    weft_object *got = weft_dict_get(d, k1b);
    CHECK(got == v);
    weft_decref(got);
    CHECK_EQ_INT(weft_dict_contains(d, k1b), 1);
    /* replace */
    weft_object *v2 = node_new(2, NULL);
    CHECK_EQ_INT(weft_dict_set(d, k1b, v2), 0);
    CHECK_EQ_INT(weft_refcount(v), 1);
    CHECK_EQ_INT(weft_dict_len(d), 1);
    /* int keys, and the same value under different key types */
    weft_object *i7 = weft_int_new(7000), *i7b = weft_int_new(7000);
    CHECK_EQ_INT(weft_dict_set(d, i7, v), 0);
    got = weft_dict_get(d, i7b);
    CHECK(got == v);
    weft_decref(got);
    weft_object *t = weft_tuple_pack(2, weft_int_new(1), k1);
    CHECK_EQ_INT(weft_dict_set(d, t, v), 0); /* a tuple is hashable */
    got = weft_dict_get(d, t);
    CHECK(got == v);
    weft_decref(got);
    /* an equal tuple is the same key (items compared by their types' eq) */
    weft_object *one = weft_int_new(1), *k1c = key_of(1);
    weft_object *tb = weft_tuple_pack(2, one, k1c), *tc = weft_tuple_pack(2, one, one);
    weft_object *tshort = weft_tuple_pack(1, one);
    got = weft_dict_get(d, tb);
    CHECK(got == v);
    weft_decref(got);
    CHECK_EQ_INT(weft_dict_contains(d, tc), 0);
    CHECK_EQ_INT(weft_dict_contains(d, tshort), 0);
    CHECK_EQ_INT(weft_dict_set(d, tb, v2), 0); /* replaces t's value */
    CHECK_EQ_INT(weft_dict_len(d), 3);
    got = weft_dict_get(d, t);
    CHECK(got == v2);
    weft_decref(got);
    CHECK_EQ_INT(weft_dict_set(d, tb, v), 0);
    weft_decref(tb);
    weft_decref(tc);
    weft_decref(tshort);
    weft_decref(k1c);
    weft_decref(one);
    /* errors: unhashable key (a list), NULL key/value, not a dict */
    weft_object *lst = weft_list_new(0);
    CHECK_EQ_INT(weft_dict_set(d, lst, v), -1);
    CHECK_EQ_INT(weft_error(), WEFT_EINVAL);
    CHECK(strstr(weft_error_message(), "unhashable type: list") != NULL);
    CHECK(weft_dict_get(d, lst) == NULL);
    CHECK_EQ_INT(weft_error(), WEFT_EINVAL);
    CHECK_EQ_INT(weft_dict_contains(d, lst), -1);
    CHECK_EQ_INT(weft_dict_set(d, NULL, v), -1);
    CHECK_EQ_INT(weft_dict_set(d, k1, NULL), -1);
    CHECK_EQ_INT(weft_dict_set(lst, k1, v), -1);
    CHECK(strstr(weft_error_message(), "not a dict") != NULL);
    /* delete */
    CHECK_EQ_INT(weft_dict_del(d, i7b), 0);
    CHECK_EQ_INT(weft_dict_contains(d, i7), 0);
    CHECK_EQ_INT(weft_dict_del(d, i7), -1);
    CHECK(strstr(weft_error_message(), "not found") != NULL);
    CHECK_EQ_INT(weft_dict_len(d), 2);

    /* resize up: 5000 keys; order is insertion order; resize down on deletes */
    weft_object *big = weft_dict_new();
    enum { K = 5000 };
    static weft_object *keys[K];
    for (int i = 0; i < K; i++) {
        keys[i] = key_of(i);
        weft_object *val = weft_int_new(i);
        CHECK_EQ_INT(weft_dict_set(big, keys[i], val), 0);
        weft_decref(val);
    }
    CHECK_EQ_INT(weft_dict_len(big), K);
    int wrong = 0;
    for (int i = 0; i < K; i++) {
        weft_object *probe = key_of(i);
        weft_object *val = weft_dict_get(big, probe);
        wrong += !val || weft_int_value(val) != i;
        weft_xdecref(val);
        weft_decref(probe);
    }
    CHECK_EQ_INT(wrong, 0);
    size_t pos = 0;
    weft_object *k, *val;
    int order_ok = 1, count = 0;
    while (weft_dict_next(big, &pos, &k, &val)) {
        order_ok &= k == keys[count] && weft_int_value(val) == count;
        count++;
        weft_decref(k);
        weft_decref(val);
    }
    CHECK(order_ok);
    CHECK_EQ_INT(count, K);
    for (int i = 0; i < K; i++)
        if (i % 100)
            CHECK_EQ_INT(weft_dict_del(big, keys[i]), 0);
    CHECK_EQ_INT(weft_dict_len(big), K / 100);
    wrong = 0;
    for (int i = 0; i < K; i += 100) {
        weft_object *got2 = weft_dict_get(big, keys[i]);
        wrong += !got2 || weft_int_value(got2) != i;
        weft_xdecref(got2);
    }
    CHECK_EQ_INT(wrong, 0);
    /* keys only / values only iteration */
    pos = 0;
    count = 0;
    while (weft_dict_next(big, &pos, &k, NULL)) {
        count++;
        weft_decref(k);
    }
    CHECK_EQ_INT(count, K / 100);
    weft_dict_clear(big);
    CHECK_EQ_INT(weft_dict_len(big), 0);
    CHECK_EQ_INT(weft_dict_set(big, keys[1], v), 0); /* usable after clear */
    weft_decref(big);
    for (int i = 0; i < K; i++)
        weft_decref(keys[i]);

    /* out of memory while growing: clean failure */
    weft_object *d3 = weft_dict_new();
    weft_fault_alloc_after(1);
    CHECK_EQ_INT(weft_dict_set(d3, k1, v), -1);
    CHECK_EQ_INT(weft_error(), WEFT_ENOMEM);
    CHECK_EQ_INT(weft_dict_len(d3), 0);
    CHECK_EQ_INT(weft_refcount(v), 2); /* only d's reference was added */
    weft_decref(d3);

    /* out of memory in the shrink after a delete: the delete succeeded, and
     * no error is left set (it used to stay WEFT_ENOMEM) */
    weft_object *d4 = weft_dict_new(), *ks[64];
    REQUIRE(d4 != NULL);
    for (int i = 0; i < 64; i++) {
        ks[i] = weft_int_new(100000 + i);
        CHECK_EQ_INT(weft_dict_set(d4, ks[i], ks[i]), 0);
    }
    int shrink_failures = 0, stale_errors = 0;
    for (int i = 0; i < 63; i++) {
        weft_error_clear();
        weft_fault_alloc_after(1);
        CHECK_EQ_INT(weft_dict_del(d4, ks[i]), 0);
        if (weft_fault_alloc_after(0) == 0) { /* the armed allocation failed */
            shrink_failures++;
            stale_errors += weft_error() != WEFT_OK;
        }
    }
    CHECK(shrink_failures > 0);
    CHECK_EQ_INT(stale_errors, 0);
    CHECK_EQ_INT(weft_dict_len(d4), 1);
    weft_object *found = weft_dict_get(d4, ks[63]);
    CHECK(found == ks[63]);
    weft_xdecref(found);
    /* a NULL position: an error, not a crash */
    weft_object *nk, *nv;
    CHECK_EQ_INT(weft_dict_next(d4, NULL, &nk, &nv), 0);
    CHECK_EQ_INT(weft_error(), WEFT_EINVAL);
    CHECK(weft_list_next(lst, NULL) == NULL);
    CHECK_EQ_INT(weft_error(), WEFT_EINVAL);
    weft_decref(d4);
    for (int i = 0; i < 64; i++)
        weft_decref(ks[i]);

    weft_decref(d);
    CHECK_EQ_INT(node_deaths[1], 0);
    weft_decref(v);
    CHECK_EQ_INT(node_deaths[1], 1);
    weft_decref(v2);
    CHECK_EQ_INT(node_deaths[2], 1);
    weft_decref(t);
    weft_decref(lst);
    weft_decref(i7);
    weft_decref(i7b);
    weft_decref(k1);
    weft_decref(k1b);
    CHECK_EQ_INT(weft_shutdown(), 0);
    return check_finish();
}
