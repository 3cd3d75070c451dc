/* lib/internal/futex.h: waiting on a 32-bit word (Linux futex, private). */
#ifndef WEFT_LIB_INTERNAL_FUTEX_H
#define WEFT_LIB_INTERNAL_FUTEX_H

#include "core.h"

#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Sleep while *word == expected, at most timeout_ns (0: no limit). Spurious
 * returns happen: callers recheck their condition. */
static inline void _weft_futex_wait(WEFT_ATOMIC(uint32_t) *word, uint32_t expected,
                                    uint64_t timeout_ns)
{
    struct timespec ts = {(time_t)(timeout_ns / 1000000000u), (long)(timeout_ns % 1000000000u)};
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, expected,
            timeout_ns ? &ts : NULL, NULL, 0);
}

static inline void _weft_futex_wake_all(WEFT_ATOMIC(uint32_t) *word)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

#endif
