/* weft/dict.h: insertion-ordered hash maps that threads can share.
 *
 * Keys may be any object whose type has hash and eq (str and int have fast
 * paths); a key of a type without hash, or a tuple holding one, fails with
 * WEFT_EINVAL ("unhashable type"). str hashing is keyed per process
 * (weft/str.h), so crafted keys cannot degrade lookups. A type's hash runs
 * before the dict is locked and its eq with the dict unlocked: eq may read
 * or change that dict, or others (a change made meanwhile restarts the
 * lookup, as in CPython). A hash or eq that fails (weft/object.h) fails the
 * call with its own error; one that succeeds leaves the caller's error as
 * it was.
 *
 * Concurrency as for lists (weft/list.h): writers lock the dict; weft_dict_get
 * reads without locking and takes its reference with a try-incref; a resized
 * table is freed after a QSBR grace period. */
#ifndef WEFT_DICT_H
#define WEFT_DICT_H

#include <weft/object.h>

WEFT_BEGIN_DECLS

extern WEFT_API const weft_type weft_dict_type;

WEFT_API weft_object *weft_dict_new(void);
WEFT_API int weft_is_dict(const weft_object *o);
WEFT_API size_t weft_dict_len(weft_object *dict);
/* Map key to value (new references to both are kept). 0 or -1. */
WEFT_API int weft_dict_set(weft_object *dict, weft_object *key, weft_object *value);
/* A new reference to the value, or NULL: missing key (weft_error() stays
 * WEFT_OK after weft_error_clear) or error (WEFT_EINVAL for an unhashable
 * key, or a failing hash or eq's own). Use weft_dict_contains to tell a
 * missing key without an error. */
WEFT_API weft_object *weft_dict_get(weft_object *dict, weft_object *key);
/* 1 if present, 0 if not, -1 on error. */
WEFT_API int weft_dict_contains(weft_object *dict, weft_object *key);
/* Remove key: 0, or -1 (WEFT_EINVAL if missing or unhashable, or a failing
 * hash or eq's own error). */
WEFT_API int weft_dict_del(weft_object *dict, weft_object *key);
WEFT_API void weft_dict_clear(weft_object *dict);

/* Iteration in insertion order: *pos starts at 0; each call stores new
 * references in *key and *value (either may be NULL to skip it) and returns
 * 1, or returns 0 at the end. Safe under concurrent change. */
WEFT_API int weft_dict_next(weft_object *dict, size_t *pos, weft_object **key,
                            weft_object **value);

WEFT_END_DECLS

#endif
