/* lib/int.c: 64-bit integer objects; -5..256 are static immortals. */
#include "builtins.h"
#include "freelist.h"

/* The value itself, but 0 (1) and -1 (WEFT_HASH_ERROR, so -2 as in
 * CPython). */
static uint64_t int_hash(weft_object *self)
{
    uint64_t v = (uint64_t)weft_int_value(self);
    return _weft_hash_settle(v);
}

static int int_eq(weft_object *a, weft_object *b)
{
    return weft_is_int(b) && weft_int_value(a) == weft_int_value(b);
}

const weft_type weft_int_type = {
    .name = "int",
    .basic_size = sizeof(weft_int),
    .hash = int_hash,
    .eq = int_eq,
};

#define SMALL_INTS (WEFT_SMALL_INT_MAX - WEFT_SMALL_INT_MIN + 1)
static weft_int small_ints[SMALL_INTS];

void _weft_small_ints_init(void)
{
    for (int i = 0; i < SMALL_INTS; i++) {
        small_ints[i].ob.type = &weft_int_type;
        small_ints[i].value = WEFT_SMALL_INT_MIN + i;
        _weft_make_static_immortal(&small_ints[i].ob);
    }
}

/* An int made from the pools (the freelist is empty or a poll is due). */
static __attribute__((noinline)) weft_object *int_new_pooled(int64_t value)
{
    weft_object *o = _weft_object_new_inline(&weft_int_type, sizeof(weft_int), false, false);
    if (o)
        ((weft_int *)o)->value = value;
    return o;
}

weft_object *weft_int_new(int64_t value)
{
    if (value >= WEFT_SMALL_INT_MIN && value <= WEFT_SMALL_INT_MAX)
        return &small_ints[value - WEFT_SMALL_INT_MIN].ob;
    weft_object *o = _weft_freelist_pop(WEFT_FREELIST_INT, sizeof(weft_int), false, false);
    if (WEFT_UNLIKELY(!o))
        return int_new_pooled(value); /* a tail call: the fast path needs no frame */
    ((weft_int *)o)->value = value;
    return o;
}

int weft_is_int(const weft_object *o)
{
    return o && o->type == &weft_int_type;
}
