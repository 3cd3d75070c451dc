/* weft/tuple.h: fixed-size sequences of references.
 *
 * A tuple is built either all at once (weft_tuple_pack) or by filling a new
 * tuple's slots with weft_tuple_set_new before anyone else sees it. A tuple
 * whose items are all untracked objects (ints, strings, such tuples) or
 * immortal ones (never garbage, so no garbage cycle runs through them) is
 * not tracked by the collector. */
#ifndef WEFT_TUPLE_H
#define WEFT_TUPLE_H

#include <weft/object.h>

WEFT_BEGIN_DECLS

extern WEFT_API const weft_type weft_tuple_type;

/* A tuple of n empty (NULL) slots. */
WEFT_API weft_object *weft_tuple_new(size_t n);
/* A tuple of the n objects given (each increfed; NULL not allowed). */
WEFT_API weft_object *weft_tuple_pack(size_t n, ...);
/* 0 for NULL. The calls below refuse anything but a tuple with WEFT_EINVAL
 * (size 0, NULL, -1, nothing done): a caller that may pass another object
 * tells a refusal from an empty tuple by weft_error() after
 * weft_error_clear(). */
WEFT_API int weft_is_tuple(const weft_object *o);
WEFT_API size_t weft_tuple_size(const weft_object *t);
/* Borrowed reference to item i; NULL with WEFT_EINVAL when out of range. */
WEFT_API weft_object *weft_tuple_get(const weft_object *t, size_t i);
/* Fill slot i of a tuple under construction, stealing the reference to item.
 * -1 with WEFT_EINVAL if i is out of range (the reference is released). */
WEFT_API int weft_tuple_set_new(weft_object *t, size_t i, weft_object *item);
/* Apply the untracking rule now, to a tuple filled slot by slot (a packed
 * tuple is born under it; the collector does not apply it). */
WEFT_API void weft_tuple_maybe_untrack(weft_object *t);

WEFT_END_DECLS

#endif
