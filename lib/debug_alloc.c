/* lib/debug_alloc.c: the debug allocator (WEFT_MALLOC=debug), wrapped around
 * each domain's allocator.
 *
 * Block layout (user pointer 16-byte aligned when the inner allocator's is):
 *
 *   | size (8) | magic (4) domain (1) state (1) pad (2) | serial (8) | front guard (8) |
 *   | user data: size bytes | rear guard (16) |
 *
 * Fresh user data is filled with 0xCD, freed user data with 0xDD, guards with
 * 0xFD. Freed blocks wait in a quarantine before going back to the inner
 * allocator, so that a double free still finds the block marked freed and a
 * write after free is seen when the block leaves the quarantine.
 *
 * Every error stops the process with a message naming the block, its size and
 * its domain; the tests match these messages.
 */
#include "domain.h"
#include "error.h"
#include "trace.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define DEBUG_MAGIC 0x54464557u /* "WEFT" */
#define FRONT_GUARD 8
#define REAR_GUARD 16
#define FILL_FRESH 0xCD
#define FILL_FREED 0xDD
#define FILL_GUARD 0xFD
#define QUARANTINE_BLOCKS 1024
#define QUARANTINE_CHECK_MAX 4096 /* bytes of a freed block checked for writes */

enum { STATE_LIVE = 0xA1, STATE_FREED = 0xF5 };

typedef struct debug_header {
    uint64_t size;
    uint32_t magic;
    uint8_t domain;
    uint8_t state;
    uint16_t pad;
    uint64_t serial;
    uint8_t front[FRONT_GUARD];
} debug_header;

_Static_assert(sizeof(debug_header) == 32, "debug header keeps user data 16-byte aligned");

typedef struct debug_domain {
    weft_domain domain;
    weft_allocator inner;
} debug_domain;

static debug_domain debug_domains[WEFT_DOMAIN_COUNT];
static WEFT_ATOMIC(uint64_t) serial_counter;

static pthread_mutex_t quarantine_lock = PTHREAD_MUTEX_INITIALIZER;
static debug_header *quarantine[QUARANTINE_BLOCKS]; /* quarantine lock */
static const debug_domain *quarantine_owner[QUARANTINE_BLOCKS];
static unsigned quarantine_next;

static unsigned char *user_of(debug_header *h)
{
    return (unsigned char *)(h + 1);
}

__attribute__((noreturn)) static void report(const char *what, const void *p, const debug_header *h,
                                             const char *detail)
{
    /* Where the block was allocated, when tracing is on: whole lines, sized
     * so that _weft_fatal's message keeps the text above. */
    char where[640];
    size_t n = _weft_trace_format_block(p, where + 1, sizeof where - 1);
    where[0] = n ? '\n' : 0;
    if (n && where[n] == '\n')
        where[n] = 0; /* _weft_fatal ends the message */
    if (h)
        _weft_fatal("debug allocator: %s: block %p of %zu bytes (domain %s, allocation #%llu)%s%s",
                    what, p, (size_t)h->size, _weft_domain_name((weft_domain)h->domain),
                    (unsigned long long)h->serial, detail, where);
    _weft_fatal("debug allocator: %s: block %p (size unknown)%s%s", what, p, detail, where);
}

static size_t first_changed(const unsigned char *bytes, size_t n, unsigned char expect)
{
    for (size_t i = 0; i < n; i++)
        if (bytes[i] != expect)
            return i;
    return n;
}

/* Check a block given to free or realloc through domain dd. */
static debug_header *check_block(const debug_domain *dd, void *p)
{
    if ((uintptr_t)p % 16)
        report("free of a pointer not allocated by weft (misaligned)", p, NULL, "");
    debug_header *h = (debug_header *)p - 1;
    if (h->magic != DEBUG_MAGIC)
        report("free of a pointer not allocated by weft's debug allocator", p, NULL,
               " (no debug header before it)");
    if (h->state == STATE_FREED)
        report("double free", p, h, "");
    if (h->state != STATE_LIVE)
        report("free of a corrupted block", p, h, " (state byte overwritten)");
    if (h->domain != dd->domain) {
        char detail[96];
        snprintf(detail, sizeof detail, ": domain mismatch: freed through the %s domain",
                 _weft_domain_name(dd->domain));
        report("free through the wrong domain", p, h, detail);
    }
    char detail[96];
    size_t bad = first_changed(h->front, FRONT_GUARD, FILL_GUARD);
    if (bad < FRONT_GUARD) {
        snprintf(detail, sizeof detail, ": %zu byte(s) before the start were overwritten",
                 (size_t)FRONT_GUARD - bad);
        report("buffer underflow", p, h, detail);
    }
    bad = first_changed(user_of(h) + h->size, REAR_GUARD, FILL_GUARD);
    if (bad < REAR_GUARD) {
        snprintf(detail, sizeof detail, ": the byte at offset %zu past the end was overwritten",
                 bad);
        report("buffer overflow", p, h, detail);
    }
    return h;
}

static void check_freed_fill(debug_header *h)
{
    size_t n = h->size < QUARANTINE_CHECK_MAX ? h->size : QUARANTINE_CHECK_MAX;
    size_t bad = first_changed(user_of(h), n, FILL_FREED);
    if (bad < n) {
        char detail[64];
        snprintf(detail, sizeof detail, ": byte %zu changed after the free", bad);
        report("write after free", user_of(h), h, detail);
    }
}

static void *debug_malloc(void *ctx, size_t size)
{
    const debug_domain *dd = ctx;
    size_t total;
    if (__builtin_add_overflow(size, sizeof(debug_header) + REAR_GUARD, &total)) {
        _weft_set_error(WEFT_EOVERFLOW, "debug allocator: %zu bytes is too large", size);
        return NULL;
    }
    debug_header *h = dd->inner.malloc(dd->inner.ctx, total);
    if (!h)
        return NULL;
    h->size = size;
    h->magic = DEBUG_MAGIC;
    h->domain = (uint8_t)dd->domain;
    h->state = STATE_LIVE;
    h->pad = 0;
    h->serial = weft_fetch_add_relaxed(&serial_counter, 1) + 1;
    memset(h->front, FILL_GUARD, FRONT_GUARD);
    memset(user_of(h), FILL_FRESH, size);
    memset(user_of(h) + size, FILL_GUARD, REAR_GUARD);
    return user_of(h);
}

static void *debug_calloc(void *ctx, size_t nelem, size_t elsize)
{
    size_t size = nelem * elsize; /* the domain layer checked for overflow */
    void *p = debug_malloc(ctx, size);
    if (p)
        memset(p, 0, size);
    return p;
}

static void debug_free(void *ctx, void *p)
{
    if (!p)
        return;
    const debug_domain *dd = ctx;
    debug_header *h = check_block(dd, p);
    h->state = STATE_FREED;
    memset(user_of(h), FILL_FREED, h->size);

    pthread_mutex_lock(&quarantine_lock);
    unsigned slot = quarantine_next++ % QUARANTINE_BLOCKS;
    debug_header *evicted = quarantine[slot];
    const debug_domain *evicted_owner = quarantine_owner[slot];
    quarantine[slot] = h;
    quarantine_owner[slot] = dd;
    pthread_mutex_unlock(&quarantine_lock);

    if (evicted) {
        check_freed_fill(evicted);
        evicted->magic = 0;
        evicted_owner->inner.free(evicted_owner->inner.ctx, evicted);
    }
}

static void *debug_realloc(void *ctx, void *p, size_t size)
{
    if (!p)
        return debug_malloc(ctx, size);
    debug_header *h = check_block(ctx, p);
    void *q = debug_malloc(ctx, size);
    if (!q)
        return NULL;
    memcpy(q, p, h->size < size ? h->size : size);
    debug_free(ctx, p);
    return q;
}

bool _weft_is_debug_allocator(const weft_allocator *a)
{
    return a->malloc == debug_malloc;
}

void _weft_debug_hooks_install(void)
{
    for (int d = 0; d < WEFT_DOMAIN_COUNT; d++) {
        weft_allocator current;
        _weft_domain_get_allocator((weft_domain)d, &current);
        if (_weft_is_debug_allocator(&current))
            continue;
        debug_domains[d].domain = (weft_domain)d;
        debug_domains[d].inner = current;
        weft_allocator wrapped = {&debug_domains[d], debug_malloc, debug_calloc, debug_realloc,
                                  debug_free};
        _weft_domain_set_allocator((weft_domain)d, &wrapped);
    }
}
