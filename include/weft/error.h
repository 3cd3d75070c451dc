/* weft/error.h: the thread-local error every failing call leaves behind.
 *
 * A weft call that fails returns NULL or -1 and records a code and a message
 * in the calling thread; a successful call leaves them untouched. The message
 * stays valid until the thread's next failing weft call. */
#ifndef WEFT_ERROR_H
#define WEFT_ERROR_H

#include <weft/export.h>

WEFT_BEGIN_DECLS

typedef enum weft_error_code {
    WEFT_OK = 0,
    WEFT_ENOMEM = 1,   /* out of memory, real or injected */
    WEFT_EINVAL = 2,   /* bad argument */
    WEFT_ESTATE = 3,   /* call not allowed in the thread's or runtime's state */
    WEFT_EOVERFLOW = 4 /* a size computation overflowed */
} weft_error_code;

/* The calling thread's last error code (WEFT_OK if none since the last clear). */
WEFT_API weft_error_code weft_error(void);
/* Its message; "" when there is none. Never NULL. */
WEFT_API const char *weft_error_message(void);
/* Forget the calling thread's last error. */
WEFT_API void weft_error_clear(void);
/* A fixed name for a code ("WEFT_ENOMEM"). */
WEFT_API const char *weft_error_name(weft_error_code code);
/* Record an error for the calling thread, as a failing weft call does: for a
 * type's hash and eq (weft/object.h) to say why they failed. fmt is
 * printf's; the message is cut at 255 bytes. A code that is not one of the
 * errors above (WEFT_OK included) records WEFT_EINVAL, saying so. */
WEFT_API void weft_error_set(weft_error_code code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Unraisable errors (CPython's "Exception ignored in ..."): an error left
 * behind by code that weft runs on the program's behalf, where no caller
 * can receive it:
 *   "finalizer"         a type's finalize (object: the finalized object),
 *   "weakref callback"  a weakref's callback (object: the weakref),
 *   "gc callback"       a weft_gc_add_callback callback (object: NULL).
 * weft sets the running thread's error aside around such code, so a caller's
 * error survives a decref or a collection that runs it; an error the code
 * leaves is reported through the unraisable hook, then dropped. A type's
 * dealloc and clear must not fail: weft does not set the error aside around
 * them, so what they leave stays as the running thread's error. */
typedef struct weft_unraisable {
    weft_error_code code;
    const char *message; /* valid during the hook only */
    const char *context; /* one of the three above */
    /* Borrowed, alive during the hook; take a reference to keep it. In a
     * collection's finalizer it may be garbage the collection then clears. */
    struct weft_object *object;
} weft_unraisable;

typedef void (*weft_unraisable_hook)(const weft_unraisable *u, void *arg);

/* Report unraisable errors to hook (NULL: the default, one line on stderr
 * naming the context, the object's type and address, the code and the
 * message). The hook runs on the thread that ran the failing code, with the
 * same restrictions (it may be inside a deallocation or on the collector
 * thread), and not under any weft lock; an error it leaves is dropped, not
 * reported again. A thread may still be in the previous hook when this
 * returns. */
WEFT_API void weft_set_unraisable_hook(weft_unraisable_hook hook, void *arg);
/* Unraisable errors reported since the process started. */
WEFT_API unsigned long long weft_unraisable_count(void);

WEFT_END_DECLS

#endif
