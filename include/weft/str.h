/* weft/str.h: immutable byte strings with a cached hash, and interning.
 *
 * Hashes are keyed per process (SipHash-1-3 with a random key), so crafted
 * keys cannot make a dict's lookups quadratic. Interned strings are immortal
 * and unique per content; interning is safe under threads. */
#ifndef WEFT_STR_H
#define WEFT_STR_H

#include <weft/object.h>

WEFT_BEGIN_DECLS

extern WEFT_API const weft_type weft_str_type;

WEFT_API weft_object *weft_str_new(const char *bytes, size_t len);
WEFT_API weft_object *weft_str_from_cstr(const char *s);
WEFT_API int weft_is_str(const weft_object *o);
/* The bytes (NUL-terminated) and length of a str. */
WEFT_API const char *weft_str_data(const weft_object *s);
WEFT_API size_t weft_str_len(const weft_object *s);
WEFT_API uint64_t weft_str_hash(weft_object *s);
WEFT_API int weft_str_equal(const weft_object *a, const weft_object *b);
/* A new reference to the interned string with s's content (s itself if it
 * is the first). */
WEFT_API weft_object *weft_str_intern(weft_object *s);
WEFT_API weft_object *weft_str_intern_cstr(const char *s);
WEFT_API int weft_str_is_interned(const weft_object *s);

/* The process's keyed hash of any bytes (what str hashes use): never 0
 * nor WEFT_HASH_ERROR. */
WEFT_API uint64_t weft_hash_bytes(const void *bytes, size_t len);

WEFT_END_DECLS

#endif
