/* weft/list.h: growable sequences that threads can share.
 *
 * Any number of attached threads may use one list at once. Writers take the
 * list's own lock (a few bits of its header; no global lock); weft_list_get
 * does not lock: it reads the storage optimistically and takes its reference
 * with a try-incref that fails safely, falling back to the lock only then.
 * Storage replaced by a resize is freed after a QSBR grace period, so no
 * reader ever reads freed memory. Iterating while another thread mutates
 * never crashes and never yields a freed object; it may see a mix of old and
 * new contents.
 *
 * Indices are size_t; a negative-style index is not accepted. Out-of-range
 * indices fail with WEFT_EINVAL. */
#ifndef WEFT_LIST_H
#define WEFT_LIST_H

#include <weft/object.h>

WEFT_BEGIN_DECLS

extern WEFT_API const weft_type weft_list_type;

WEFT_API weft_object *weft_list_new(size_t capacity_hint);
WEFT_API int weft_is_list(const weft_object *o);
WEFT_API size_t weft_list_len(weft_object *list);
/* Append a new reference to item (the caller keeps its own). 0 or -1. */
WEFT_API int weft_list_append(weft_object *list, weft_object *item);
/* A new reference to item i, or NULL (WEFT_EINVAL when out of range). */
WEFT_API weft_object *weft_list_get(weft_object *list, size_t i);
/* Replace item i with a new reference to item. 0 or -1. */
WEFT_API int weft_list_set(weft_object *list, size_t i, weft_object *item);
/* Insert before index i (i == len appends). 0 or -1. */
WEFT_API int weft_list_insert(weft_object *list, size_t i, weft_object *item);
/* Remove item i and return it (the list's reference becomes the caller's).
 * NULL with WEFT_EINVAL when out of range. */
WEFT_API weft_object *weft_list_pop(weft_object *list, size_t i);
/* Remove every item. */
WEFT_API void weft_list_clear(weft_object *list);
/* A new list with items [start, stop) (clamped to the length). */
WEFT_API weft_object *weft_list_slice(weft_object *list, size_t start, size_t stop);

/* Iteration: *pos starts at 0; each call returns a new reference to the next
 * item and advances *pos, or NULL at the end. Safe under concurrent change. */
WEFT_API weft_object *weft_list_next(weft_object *list, size_t *pos);

WEFT_END_DECLS

#endif
