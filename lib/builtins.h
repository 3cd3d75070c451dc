/* lib/builtins.h: layouts of the built-in types whose public headers keep
 * them opaque (a flexible array member is not C++). */
#ifndef WEFT_LIB_BUILTINS_H
#define WEFT_LIB_BUILTINS_H

#include "internal/core.h"
#include <weft/weft.h>

typedef struct weft_str {
    weft_object ob;
    WEFT_ATOMIC(uint64_t) hash; /* 0: not computed yet (a real hash is never 0) */
    size_t len;
    char data[]; /* len bytes and a NUL */
} weft_str;

typedef struct weft_tuple {
    weft_object ob;
    size_t size;
    weft_object *items[];
} weft_tuple;

typedef struct weft_weakref {
    weft_object ob;
    WEFT_ATOMIC(weft_object *) referent; /* NULL once cleared; stripe lock for changes */
    weft_weakref_callback callback;
    void *callback_arg;
    struct weft_weakref *next, *prev; /* the referent's list; stripe lock */
} weft_weakref;

void _weft_small_ints_init(void);
void _weft_str_init(void);
void _weft_weakref_init(void);
/* 0/1 from the environment variable `name` (0/off/no, 1/on/yes), else dflt. */
int _weft_env_flag(const char *name, int dflt);
void _weft_countbuf_init(void); /* threads/countbuf.c */
/* Siphash key set once at weft_init. */
void _weft_hash_init(void);
/* A built-in type's hash h, moved off the two values it must not take: 0
 * (a str's "not computed") and WEFT_HASH_ERROR. */
static inline uint64_t _weft_hash_settle(uint64_t h)
{
    return h == 0 ? 1 : h == WEFT_HASH_ERROR ? WEFT_HASH_ERROR - 1 : h;
}

/* A list (list.c has the protocol): the object points to its store. */
typedef struct list_store {
    size_t capacity;
    WEFT_ATOMIC(size_t) size; /* items[0..size) are the list's */
    WEFT_ATOMIC(weft_object *) items[];
} list_store;

typedef struct weft_list {
    weft_object ob;
    WEFT_ATOMIC(list_store *) store; /* NULL while capacity is 0 */
} weft_list;

/* A list's items and their number, for the collector (the world is stopped
 * or the list unreachable: nothing changes them meanwhile). Inline: a
 * collection asks twice per list. */
static inline WEFT_ATOMIC(weft_object *) *_weft_list_items(weft_object *list, size_t *n)
{
    list_store *s = weft_load_relaxed(&((weft_list *)list)->store);
    *n = s ? weft_load_relaxed(&s->size) : 0;
    return s ? s->items : NULL;
}

#endif
