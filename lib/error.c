/* lib/error.c: the calling thread's last error, and the fatal-misuse exit.
 *
 * The error lives in thread-local storage and is written only by its thread,
 * so no synchronisation is needed. */
#include "error.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static __thread weft_error_code tls_error_code;
static __thread char tls_error_message[WEFT_ERROR_MESSAGE_MAX];

/* Formatted aside first: an argument may be the current message (a type's
 * hash wrapping the error of a call it made). */
static void set_error_v(weft_error_code code, const char *fmt, va_list ap)
{
    char message[WEFT_ERROR_MESSAGE_MAX];
    int len = vsnprintf(message, sizeof message, fmt, ap);
    size_t n = len < 0 ? 0 : (size_t)len < sizeof message ? (size_t)len : sizeof message - 1;
    message[n] = 0;
    memcpy(tls_error_message, message, n + 1);
    tls_error_code = code;
}

void _weft_set_error(weft_error_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_error_v(code, fmt, ap);
    va_end(ap);
}

static bool error_code_valid(weft_error_code code)
{
    return code == WEFT_ENOMEM || code == WEFT_EINVAL || code == WEFT_ESTATE ||
           code == WEFT_EOVERFLOW;
}

void weft_error_set(weft_error_code code, const char *fmt, ...)
{
    if (!error_code_valid(code)) {
        /* WEFT_OK would leave a message with no error: the code is the bug. */
        _weft_set_error(WEFT_EINVAL, "weft_error_set: %d is not an error code", (int)code);
        return;
    }
    if (!fmt) {
        _weft_set_error(code, "%s", "");
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    set_error_v(code, fmt, ap);
    va_end(ap);
}

weft_error_code weft_error(void)
{
    return tls_error_code;
}

const char *weft_error_message(void)
{
    return tls_error_message;
}

void weft_error_clear(void)
{
    tls_error_code = WEFT_OK;
    tls_error_message[0] = 0;
}

/* With no error the message is "" (every setter records a code other than
 * WEFT_OK), so only an error's message needs copying. */
void _weft_error_set_aside(weft_error_saved *out)
{
    out->code = tls_error_code;
    if (out->code == WEFT_OK)
        return;
    memcpy(out->message, tls_error_message, sizeof out->message);
    weft_error_clear();
}

void _weft_error_restore(const weft_error_saved *saved)
{
    if (saved->code == WEFT_OK) {
        weft_error_clear();
        return;
    }
    tls_error_code = saved->code;
    memcpy(tls_error_message, saved->message, sizeof tls_error_message);
}

const char *weft_error_name(weft_error_code code)
{
    switch (code) {
    case WEFT_OK:
        return "WEFT_OK";
    case WEFT_ENOMEM:
        return "WEFT_ENOMEM";
    case WEFT_EINVAL:
        return "WEFT_EINVAL";
    case WEFT_ESTATE:
        return "WEFT_ESTATE";
    case WEFT_EOVERFLOW:
        return "WEFT_EOVERFLOW";
    }
    return "WEFT_E?";
}

void _weft_fatal(const char *fmt, ...)
{
    /* Built in one buffer and written with one call, so that messages of two
     * threads dying at once do not interleave. */
    char buf[1024];
    int len = snprintf(buf, sizeof buf, "weft: fatal: ");
    va_list ap;
    va_start(ap, fmt);
    len += vsnprintf(buf + len, sizeof buf - (size_t)len - 1, fmt, ap);
    va_end(ap);
    if (len > (int)sizeof buf - 2)
        len = (int)sizeof buf - 2;
    buf[len++] = '\n';
    fwrite(buf, 1, (size_t)len, stderr);
    fflush(stderr);
    abort();
}
