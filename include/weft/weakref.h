/* weft/weakref.h: weak references.
 *
 * A weakref does not keep its referent alive. When the referent dies, every
 * weakref to it is cleared (weft_weakref_get returns NULL from then on) and
 * then the callback of each weakref that is itself still alive runs, with the
 * weakref as argument, on the thread where the referent died (an error it
 * leaves is reported as unraisable, weft/error.h). The registry of
 * weakrefs lives in a side table, not in every object's header. */
#ifndef WEFT_WEAKREF_H
#define WEFT_WEAKREF_H

#include <weft/object.h>

WEFT_BEGIN_DECLS

typedef void (*weft_weakref_callback)(weft_object *weakref, void *arg);

extern WEFT_API const weft_type weft_weakref_type;

/* A new weakref to obj (callback may be NULL). */
WEFT_API weft_object *weft_weakref_new(weft_object *obj, weft_weakref_callback callback,
                                       void *arg);
/* A new reference to the referent, or NULL if it is gone (or, with
 * WEFT_EINVAL, if ref is NULL or not a weakref). */
WEFT_API weft_object *weft_weakref_get(weft_object *ref);
WEFT_API int weft_is_weakref(const weft_object *o); /* 0 for NULL */
/* Number of weakrefs currently pointing to obj (0 and WEFT_EINVAL for NULL). */
WEFT_API size_t weft_weakref_count(weft_object *obj);

WEFT_END_DECLS

#endif
