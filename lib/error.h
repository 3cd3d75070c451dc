/* lib/error.h: setting the thread-local error of include/weft/error.h. */
#ifndef WEFT_LIB_ERROR_H
#define WEFT_LIB_ERROR_H

#include "internal/core.h"
#include <weft/error.h>

/* Record code and a printf-style message for the calling thread. */
__attribute__((format(printf, 2, 3))) void _weft_set_error(weft_error_code code, const char *fmt,
                                                           ...);

#define WEFT_ERROR_MESSAGE_MAX 256

/* The calling thread's error, set aside around user code whose own errors
 * are weft's to report or to drop (a dict key type's eq): the caller's
 * error survives a call that succeeds. */
typedef struct weft_error_saved {
    weft_error_code code;
    char message[WEFT_ERROR_MESSAGE_MAX];
} weft_error_saved;

/* Save the error into *out and clear it. */
void _weft_error_set_aside(weft_error_saved *out);
/* Make *saved the error again. */
void _weft_error_restore(const weft_error_saved *saved);

struct weft_object;
/* After code weft ran for the program (a finalizer, a callback) between
 * _weft_error_set_aside(saved) and here: an error it left is reported as
 * unraisable (weft/error.h) for context and object, and *saved is the error
 * again. */
void _weft_error_report_and_restore(const weft_error_saved *saved, const char *context,
                                    struct weft_object *object);

#endif
