/* weft/int.h: 64-bit integers. Values -5..256 are immortal objects shared by
 * every thread (weft_int_new returns them without allocating). */
#ifndef WEFT_INT_H
#define WEFT_INT_H

#include <weft/object.h>

WEFT_BEGIN_DECLS

#define WEFT_SMALL_INT_MIN (-5)
#define WEFT_SMALL_INT_MAX 256

typedef struct weft_int {
    weft_object ob;
    int64_t value;
} weft_int;

extern WEFT_API const weft_type weft_int_type;

/* A new reference to an int of that value; NULL on error. */
WEFT_API weft_object *weft_int_new(int64_t value);
WEFT_API int weft_is_int(const weft_object *o);
/* The value of an int (undefined for other objects; check weft_is_int). */
static inline int64_t weft_int_value(const weft_object *o)
{
    return ((const weft_int *)o)->value;
}

WEFT_END_DECLS

#endif
