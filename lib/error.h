/* lib/error.h: setting the thread-local error of include/weft/error.h. */
#ifndef WEFT_LIB_ERROR_H
#define WEFT_LIB_ERROR_H

#include "internal/core.h"
#include <weft/error.h>

/* Record code and a printf-style message for the calling thread. */
__attribute__((format(printf, 2, 3))) void _weft_set_error(weft_error_code code, const char *fmt,
                                                           ...);

#endif
