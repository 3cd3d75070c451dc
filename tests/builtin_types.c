/* Built-in types: int (small ints immortal), str (hash, equality, interning),
 * tuple (packing, bounds, untracking rule), weakref (clearing, callbacks). */
#include "check.h"
#include "objtest.h"

static int callbacks;
static weft_object *callback_ref;

static void on_clear(weft_object *ref, void *arg)
{
    callbacks++;
    callback_ref = ref;
    CHECK(arg == (void *)0x1234);
    CHECK(weft_weakref_get(ref) == NULL); /* already cleared */
}

int main(void)
{
    REQUIRE(weft_init(NULL) == 0);

    /* int */
    weft_object *s1 = weft_int_new(7), *s2 = weft_int_new(7);
    CHECK(s1 == s2);
    CHECK(weft_is_immortal(s1));
    CHECK(weft_is_int(s1));
    CHECK_EQ_INT(weft_int_value(weft_int_new(-5)), -5);
    CHECK(weft_is_immortal(weft_int_new(256)));
    weft_object *big = weft_int_new(1000), *big2 = weft_int_new(1000);
    CHECK(big != big2);
    CHECK(!weft_is_immortal(big));
    CHECK_EQ_INT(weft_int_value(big), 1000);
    CHECK(weft_int_type.eq(big, big2) == 1);
    CHECK(weft_int_type.hash(big) == weft_int_type.hash(big2));
    weft_decref(big);
    weft_decref(big2);
    weft_object *min = weft_int_new(INT64_MIN);
    CHECK(weft_int_value(min) == INT64_MIN);
    weft_decref(min);

    /* str */
    weft_object *a = weft_str_from_cstr("hello, weft");
    weft_object *b = weft_str_new("hello, weft!!", 11);
    REQUIRE(a && b);
    CHECK_EQ_INT(weft_str_len(a), 11);
    CHECK(strcmp(weft_str_data(b), "hello, weft") == 0);
    CHECK(weft_str_equal(a, b));
    CHECK(weft_str_hash(a) == weft_str_hash(b));
    CHECK(weft_str_hash(a) == weft_hash_bytes("hello, weft", 11));
    CHECK(weft_str_hash(a) != weft_hash_bytes("hello, weft.", 12));
    CHECK(!weft_is_immortal(a));
    weft_object *ia = weft_str_intern(a);
    weft_object *ib = weft_str_intern(b);
    CHECK(ia == a);
    CHECK(ib == a);
    CHECK(weft_str_is_interned(a));
    CHECK(!weft_str_is_interned(b));
    CHECK(weft_is_immortal(a));
    weft_decref(b); /* b was not interned: freed */
    CHECK(weft_str_intern_cstr("hello, weft") == a);
    weft_object *empty = weft_str_new(NULL, 0);
    CHECK(empty && weft_str_len(empty) == 0 && weft_str_data(empty)[0] == 0);
    weft_decref(empty);
    CHECK(weft_str_new(NULL, 3) == NULL);
    CHECK_EQ_INT(weft_error(), WEFT_EINVAL);
    CHECK(weft_str_intern(weft_int_new(3)) == NULL);
    CHECK_EQ_INT(weft_error(), WEFT_EINVAL);

    /* tuple */
    weft_object *n1 = node_new(100, NULL);
    weft_object *t = weft_tuple_pack(3, weft_int_new(1), a, n1);
    REQUIRE(t != NULL);
    CHECK_EQ_INT(weft_tuple_size(t), 3);
    CHECK(weft_tuple_get(t, 2) == n1);
    CHECK_EQ_INT(weft_refcount(n1), 2);
    CHECK(weft_tuple_get(t, 3) == NULL);
    CHECK_EQ_INT(weft_error(), WEFT_EINVAL);
    CHECK(atomic_load(&t->flags) & WEFT_OBJ_GC_TRACKED); /* holds a tracked node */
    weft_object *plain = weft_tuple_pack(2, weft_int_new(1), a);
    CHECK(!(atomic_load(&plain->flags) & WEFT_OBJ_GC_TRACKED)); /* untracked items only */
    weft_object *nested = weft_tuple_pack(1, plain);
    CHECK(!(atomic_load(&nested->flags) & WEFT_OBJ_GC_TRACKED));
    weft_decref(nested);
    weft_decref(plain);
    CHECK(weft_tuple_pack(2, a, (weft_object *)NULL) == NULL);
    weft_decref(n1);
    CHECK_EQ_INT(node_deaths[100], 0);
    weft_decref(t);
    CHECK_EQ_INT(node_deaths[100], 1);
    weft_object *built = weft_tuple_new(2);
    CHECK_EQ_INT(weft_tuple_set_new(built, 0, node_new(101, NULL)), 0);
    CHECK_EQ_INT(weft_tuple_set_new(built, 5, node_new(102, NULL)), -1);
    CHECK_EQ_INT(node_deaths[102], 1); /* the stolen reference was released */
    weft_decref(built);                /* slot 1 is still empty: fine */
    CHECK_EQ_INT(node_deaths[101], 1);
    /* not a tuple: refused, the stolen reference released */
    weft_object *not_tuple = weft_list_new(0);
    REQUIRE(not_tuple);
    CHECK(!weft_is_tuple(not_tuple) && !weft_is_tuple(NULL));
    CHECK(!weft_is_int(NULL) && !weft_is_str(NULL));
    weft_error_clear();
    CHECK_EQ_INT(weft_tuple_size(not_tuple), 0);
    CHECK_EQ_INT(weft_error(), WEFT_EINVAL);
    CHECK(strstr(weft_error_message(), "not a tuple (list)") != NULL);
    CHECK(weft_tuple_get(not_tuple, 0) == NULL);
    CHECK(weft_tuple_get(NULL, 0) == NULL);
    CHECK(strstr(weft_error_message(), "not a tuple (NULL)") != NULL);
    weft_error_clear();
    CHECK_EQ_INT(weft_tuple_set_new(not_tuple, 0, node_new(103, NULL)), -1);
    CHECK_EQ_INT(weft_error(), WEFT_EINVAL);
    CHECK_EQ_INT(node_deaths[103], 1);
    weft_error_clear();
    weft_tuple_maybe_untrack(not_tuple);
    CHECK_EQ_INT(weft_error(), WEFT_EINVAL);
    CHECK(weft_gc_is_tracked(not_tuple));
    weft_decref(not_tuple);

    /* weakref */
    weft_object *target = node_new(200, NULL);
    weft_object *w1 = weft_weakref_new(target, on_clear, (void *)0x1234);
    weft_object *w2 = weft_weakref_new(target, NULL, NULL);
    weft_object *w3 = weft_weakref_new(target, on_clear, (void *)0x1234);
    REQUIRE(w1 && w2 && w3);
    CHECK(weft_is_weakref(w1));
    CHECK_EQ_INT(weft_weakref_count(target), 3);
    weft_decref(w3); /* a weakref that dies first gets no callback */
    CHECK_EQ_INT(weft_weakref_count(target), 2);
    weft_object *got = weft_weakref_get(w1);
    CHECK(got == target);
    CHECK_EQ_INT(weft_refcount(target), 2);
    weft_decref(got);
    weft_decref(target);
    CHECK_EQ_INT(node_deaths[200], 1);
    CHECK_EQ_INT(callbacks, 1);
    CHECK(callback_ref == w1);
    CHECK(weft_weakref_get(w1) == NULL);
    CHECK(weft_weakref_get(w2) == NULL);
    weft_decref(w1);
    weft_decref(w2);
    weft_object *wi = weft_weakref_new(weft_int_new(5), NULL, NULL);
    CHECK(weft_weakref_get(wi) == weft_int_new(5));
    weft_decref(wi);
    CHECK(weft_weakref_new(NULL, NULL, NULL) == NULL);
    CHECK_EQ_INT(weft_error(), WEFT_EINVAL);

    CHECK_EQ_INT(weft_shutdown(), 0);
    return check_finish();
}
