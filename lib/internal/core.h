/* lib/internal/core.h: what every file of the library shares.
 *
 * Glossary (docs/allocator.md has the whole picture):
 *   arena    1 MiB of address space, aligned to 1 MiB, mapped from the OS. Its
 *            first 16 KiB hold the arena header and the headers of its pools.
 *   pool     16 KiB of an arena serving blocks of one size class. Owned by one
 *            heap at a time, or abandoned.
 *   block    one small allocation (16..512 bytes, a multiple of 16).
 *   heap     a thread's allocation cache: per size class a current pool and
 *            lists of partial and full pools. Heaps are never freed; an idle
 *            heap waits for the next thread.
 *   large    a block above WEFT_SMALL_MAX, served by the private jemalloc.
 *
 * Conventions: atomic fields are declared with WEFT_ATOMIC(T) and named with an
 * `x` prefix; every access goes through a helper whose name carries the memory
 * order. A function that needs a lock says so in its name (`_locked`).
 */
#ifndef WEFT_INTERNAL_CORE_H
#define WEFT_INTERNAL_CORE_H

#ifndef WEFT_BUILDING_LIBRARY
#error "lib/internal headers are private to libweft"
#endif

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WEFT_LIKELY(x) __builtin_expect(!!(x), 1)
#define WEFT_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define WEFT_NOINLINE __attribute__((noinline))
#define WEFT_COLD __attribute__((cold, noinline))
#define WEFT_INLINE static inline __attribute__((always_inline))
#define WEFT_CACHE_LINE 64
#define WEFT_CACHE_ALIGNED __attribute__((aligned(WEFT_CACHE_LINE)))
/* Library data no other module reads: with -fPIC, a hidden declaration is
 * read RIP-relative in one load, a default one through the GOT in two. */
#define WEFT_HIDDEN __attribute__((visibility("hidden")))
/* The hot thread-local: initial-exec so that access is one fs-relative load. */
#define WEFT_TLS __thread __attribute__((tls_model("initial-exec")))

#ifndef WEFT_DEBUG
#ifdef NDEBUG
#define WEFT_DEBUG 0
#else
#define WEFT_DEBUG 1
#endif
#endif

#ifndef WEFT_ASAN
#define WEFT_ASAN 0
#endif
#ifndef WEFT_TSAN
#define WEFT_TSAN 0
#endif

/* ThreadSanitizer cannot see synchronisation done inside uninstrumented
 * libraries (liburcu): a publication through one is annotated as a release
 * by the publisher and an acquire by the reader, on the published address. */
#if WEFT_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define WEFT_TSAN_RELEASE(addr) __tsan_release((void *)(addr))
#define WEFT_TSAN_ACQUIRE(addr) __tsan_acquire((void *)(addr))
#else
#define WEFT_TSAN_RELEASE(addr) ((void)0)
#define WEFT_TSAN_ACQUIRE(addr) ((void)0)
#endif

/* Atomic helpers: the order is part of the name. */
#define WEFT_ATOMIC(T) _Atomic(T)
#define weft_load_relaxed(p) atomic_load_explicit((p), memory_order_relaxed)
#define weft_load_acquire(p) atomic_load_explicit((p), memory_order_acquire)
#define weft_load_seq_cst(p) atomic_load_explicit((p), memory_order_seq_cst)
#define weft_store_relaxed(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)
#define weft_store_release(p, v) atomic_store_explicit((p), (v), memory_order_release)
#define weft_store_seq_cst(p, v) atomic_store_explicit((p), (v), memory_order_seq_cst)
#define weft_exchange_acq_rel(p, v) atomic_exchange_explicit((p), (v), memory_order_acq_rel)
#define weft_exchange_acquire(p, v) atomic_exchange_explicit((p), (v), memory_order_acquire)
#define weft_fetch_add_relaxed(p, v) atomic_fetch_add_explicit((p), (v), memory_order_relaxed)
#define weft_fetch_add_acq_rel(p, v) atomic_fetch_add_explicit((p), (v), memory_order_acq_rel)
#define weft_fetch_sub_relaxed(p, v) atomic_fetch_sub_explicit((p), (v), memory_order_relaxed)
#define weft_fetch_sub_acq_rel(p, v) atomic_fetch_sub_explicit((p), (v), memory_order_acq_rel)
#define weft_cas_weak_release(p, expected, desired)                                    \
    atomic_compare_exchange_weak_explicit((p), (expected), (desired), memory_order_release, \
                                          memory_order_relaxed)
#define weft_cas_weak_acq_rel(p, expected, desired)                                    \
    atomic_compare_exchange_weak_explicit((p), (expected), (desired), memory_order_acq_rel, \
                                          memory_order_acquire)
#define weft_cas_strong_acq_rel(p, expected, desired)                                  \
    atomic_compare_exchange_strong_explicit((p), (expected), (desired),                 \
                                            memory_order_acq_rel, memory_order_acquire)

/* An owner-only counter that other threads may read for statistics: the owner
 * does a relaxed load and store (no read-modify-write), readers a relaxed load. */
#define weft_counter_add_owner(p, v) weft_store_relaxed((p), weft_load_relaxed(p) + (v))

/* Stop the process with a message: for misuse that cannot be reported as an
 * error (corruption, double free, refcount underflow). */
__attribute__((noreturn, format(printf, 1, 2))) void _weft_fatal(const char *fmt, ...);

#define WEFT_ASSERT(cond)                                                              \
    do {                                                                               \
        if (WEFT_DEBUG && WEFT_UNLIKELY(!(cond)))                                      \
            _weft_fatal("assertion failed at %s:%d: %s", __FILE__, __LINE__, #cond);   \
    } while (0)

#endif
