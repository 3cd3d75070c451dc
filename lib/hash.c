/* lib/hash.c: the process's keyed hash, SipHash-1-3 (Aumasson and Bernstein:
 * one compression round per 8-byte word, three finalization rounds), written
 * from the paper's description.
 *
 * The key comes from getrandom() at weft_init, or from WEFT_HASH_SEED (a
 * number) for reproducible runs, as PYTHONHASHSEED does for CPython. */
#include "builtins.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static uint64_t key0, key1;

void _weft_hash_init(void)
{
    const char *seed = getenv("WEFT_HASH_SEED");
    if (seed && *seed) {
        uint64_t s = strtoull(seed, NULL, 10);
        key0 = s * 0x9E3779B97F4A7C15ull;
        key1 = (s + 1) * 0xC2B2AE3D27D4EB4Full;
        return;
    }
    uint64_t k[2];
    if (getrandom(k, sizeof k, 0) != (ssize_t)sizeof k) {
        /* No entropy source: fall back to addresses and time, still per process. */
        k[0] = (uint64_t)(uintptr_t)&key0 ^ (uint64_t)time(NULL);
        k[1] = (uint64_t)(uintptr_t)&k ^ 0x5851F42D4C957F2Dull;
    }
    key0 = k[0];
    key1 = k[1];
}

static inline uint64_t rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

#define SIP_ROUND(v0, v1, v2, v3)                                                      \
    do {                                                                               \
        v0 += v1, v1 = rotl(v1, 13), v1 ^= v0, v0 = rotl(v0, 32);                      \
        v2 += v3, v3 = rotl(v3, 16), v3 ^= v2;                                         \
        v0 += v3, v3 = rotl(v3, 21), v3 ^= v0;                                         \
        v2 += v1, v1 = rotl(v1, 17), v1 ^= v2, v2 = rotl(v2, 32);                      \
    } while (0)

static inline uint64_t load_le64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v; /* little-endian hosts (x86-64, aarch64) */
}

uint64_t weft_hash_bytes(const void *bytes, size_t len)
{
    const unsigned char *p = bytes;
    uint64_t v0 = key0 ^ 0x736f6d6570736575ull, v1 = key1 ^ 0x646f72616e646f6dull;
    uint64_t v2 = key0 ^ 0x6c7967656e657261ull, v3 = key1 ^ 0x7465646279746573ull;
    size_t words = len / 8;
    for (size_t i = 0; i < words; i++, p += 8) {
        uint64_t m = load_le64(p);
        v3 ^= m;
        SIP_ROUND(v0, v1, v2, v3);
        v0 ^= m;
    }
    uint64_t last = (uint64_t)len << 56;
    for (size_t i = 0; i < (len & 7); i++)
        last |= (uint64_t)p[i] << (8 * i);
    v3 ^= last;
    SIP_ROUND(v0, v1, v2, v3);
    v0 ^= last;
    v2 ^= 0xff;
    SIP_ROUND(v0, v1, v2, v3);
    SIP_ROUND(v0, v1, v2, v3);
    SIP_ROUND(v0, v1, v2, v3);
    return _weft_hash_settle(v0 ^ v1 ^ v2 ^ v3);
}
