/* weft/object.h: objects, types, and reference counting.
 *
 * Every object starts with a 24-byte weft_object header. Its reference count is
 * biased (docs/refcount.md): the thread that created the object (its owner)
 * counts in `ref_local` with plain loads and stores; other threads add to
 * `ref_shared` atomically. The true count is ref_local + (ref_shared >> 2).
 *
 * Ownership of references follows CPython: a function documented to return a
 * new reference gives the caller one to release with weft_decref; a borrowed
 * reference must be increfed before it is kept.
 */
#ifndef WEFT_OBJECT_H
#define WEFT_OBJECT_H

#include <stddef.h>
#include <stdint.h>
#include <weft/export.h>

#ifdef __cplusplus
#include <atomic>
#define WEFT_ATOMIC_FIELD(T) std::atomic<T>
#else
#include <stdatomic.h>
#define WEFT_ATOMIC_FIELD(T) _Atomic(T)
#endif

WEFT_BEGIN_DECLS

struct weft_type;

typedef struct weft_object {
    /* Index of the owning thread; 0 once the count is merged (no owner), or
     * a merged object's id with the top bit set when every thread counts
     * its references in a table of its own (docs/refcount.md). */
    WEFT_ATOMIC_FIELD(uint32_t) owner;
    /* The owner's count: written only by the owner, with a relaxed store. */
    WEFT_ATOMIC_FIELD(uint32_t) ref_local;
    /* Other threads' count << 2 | state (WEFT_SHARED_*): atomic RMW. */
    WEFT_ATOMIC_FIELD(int32_t) ref_shared;
    /* WEFT_OBJ_* flags (collector bits, finalized, weakrefs). */
    WEFT_ATOMIC_FIELD(uint32_t) flags;
    const struct weft_type *type;
} weft_object;

#ifndef __cplusplus
_Static_assert(sizeof(weft_object) == 24, "the object header is 24 bytes");
#endif

/* ref_local of an immortal object: never freed, counting touches nothing. */
#define WEFT_IMMORTAL_LOCAL UINT32_MAX

/* States in the low two bits of ref_shared. */
#define WEFT_SHARED_NORMAL 0        /* counts may be anywhere */
#define WEFT_SHARED_MAYBE_WEAKREF 1 /* a weakref may try to revive it: merge with a CAS */
#define WEFT_SHARED_QUEUED 2        /* queued for its owner to merge */
#define WEFT_SHARED_MERGED 3        /* ownerless: the whole count is in ref_shared */
#define WEFT_SHARED_SHIFT 2

/* Object flags. */
#define WEFT_OBJ_FINALIZED (1u << 0)   /* finalize has run */
#define WEFT_OBJ_WEAKREFS (1u << 1)    /* weakrefs may point to it */
#define WEFT_OBJ_GC_TRACKED (1u << 2)  /* the collector considers it */
#define WEFT_OBJ_FROZEN (1u << 3)      /* in the permanent generation (weft_gc_freeze) */
#define WEFT_OBJ_GC_REGISTERED (1u << 4) /* outside the pools: in the collector's registry */
/* Bits 5-7 are internal (an object-pool block; read by other threads;
 * counts buffered); bits 28-31 are the object lock's (biased, revoking,
 * locked, waiters). */

typedef int (*weft_visit_fn)(weft_object *child, void *arg);

/* Type flags. */
#define WEFT_TYPE_GC (1u << 0)      /* instances can hold references: traverse is required */
#define WEFT_TYPE_VAR (1u << 1)     /* instances have item_size * n extra bytes */
#define WEFT_TYPE_STATIC (1u << 2)  /* (reserved) */

typedef struct weft_type {
    const char *name;
    size_t basic_size; /* bytes of an instance, header included */
    size_t item_size;  /* extra bytes per item of a variable-size instance */
    unsigned flags;    /* WEFT_TYPE_* */
    /* Visit every reference the object owns; stop and return non-zero if
     * visit does. Required for WEFT_TYPE_GC. */
    int (*traverse)(weft_object *self, weft_visit_fn visit, void *arg);
    /* Drop owned references (to break cycles); the object stays valid. */
    void (*clear)(weft_object *self);
    /* Runs at most once before the object dies (PEP 442); may resurrect it by
     * storing a new reference somewhere. An error it leaves (weft_error_set
     * or a failing weft call) is reported as unraisable (weft/error.h); the
     * error of the thread it runs on is kept. */
    void (*finalize)(weft_object *self);
    /* Release what the object owns (references included) just before its
     * memory is freed by weft. */
    void (*dealloc)(weft_object *self);
    /* A hash that agrees with eq (equal objects hash alike), or
     * WEFT_HASH_ERROR if self cannot be hashed, after recording why with
     * weft_error_set. A hash that succeeds must not return WEFT_HASH_ERROR
     * (map it to another value; weft's own do: int -1 hashes as -2, as in
     * CPython). NULL: the type is unhashable; a dict refuses it as a key,
     * and a tuple holding one is unhashable too. */
    uint64_t (*hash)(weft_object *self);
    /* 1 equal, 0 not, -1 error (recorded with weft_error_set; else weft
     * records WEFT_EINVAL naming the type). */
    int (*eq)(weft_object *a, weft_object *b);
} weft_type;

/* What a type's hash returns when it fails (see weft_type.hash). */
#define WEFT_HASH_ERROR UINT64_MAX

/* A new object of type (its bytes past the header zeroed), owned by the
 * calling thread, with one reference. NULL with WEFT_ENOMEM / WEFT_ESTATE. */
WEFT_API weft_object *weft_new(const weft_type *type);
/* The same with n items of type->item_size. */
WEFT_API weft_object *weft_new_var(const weft_type *type, size_t n);

WEFT_API const weft_type *weft_type_of(const weft_object *o);
/* The true count: local + shared (sys.getrefcount without the argument's own
 * reference). Immortal objects report WEFT_IMMORTAL_LOCAL. */
WEFT_API long weft_refcount(const weft_object *o);
WEFT_API int weft_is_immortal(const weft_object *o);
/* Make an object immortal (for singletons). */
WEFT_API void weft_set_immortal(weft_object *o);
/* Increment the count only if the object is still alive; 1 on success. Safe
 * on an object that another thread may be releasing, as long as its memory
 * cannot have been freed (a QSBR-protected read, which then checks that its
 * slot still holds the object). An object whose death waits for the next
 * stop of the world (docs/refcount.md, buffered counts) still counts as
 * alive here: weak references go through weft_weakref_get, which does not
 * hand such an object out. */
WEFT_API int weft_try_incref(weft_object *o);

/* Slow paths of the inline functions below. */
WEFT_API void _weft_decref_local_zero(weft_object *o);
WEFT_API void _weft_incref_shared(weft_object *o);
/* A non-owner's release; owner: the owner field the caller read (a buffered
 * id stays until the object's death, so it is not read twice). Named anew
 * when it took that argument (it was _weft_decref_shared), so that code
 * built against the older header fails to link rather than pass garbage. */
WEFT_API void _weft_decref_nonowner(weft_object *o, uint32_t owner);
WEFT_API void _weft_incref_local_overflow(weft_object *o);
WEFT_API uint32_t _weft_attach_thread_index(void);

/* The calling thread's index; 0 when detached. initial-exec TLS: one load. */
extern WEFT_API __thread uint32_t _weft_tls_index __attribute__((tls_model("initial-exec")));

static inline void weft_incref(weft_object *o)
{
#ifdef __cplusplus
    uint32_t local = o->ref_local.load(std::memory_order_relaxed);
    if (local == WEFT_IMMORTAL_LOCAL)
        return;
    if (o->owner.load(std::memory_order_relaxed) == _weft_tls_index) {
        if (local + 1 == WEFT_IMMORTAL_LOCAL)
            _weft_incref_local_overflow(o);
        else
            o->ref_local.store(local + 1, std::memory_order_relaxed);
    } else {
        _weft_incref_shared(o);
    }
#else
    uint32_t local = atomic_load_explicit(&o->ref_local, memory_order_relaxed);
    if (local == WEFT_IMMORTAL_LOCAL)
        return;
    if (atomic_load_explicit(&o->owner, memory_order_relaxed) == _weft_tls_index) {
        if (__builtin_expect(local + 1 == WEFT_IMMORTAL_LOCAL, 0))
            _weft_incref_local_overflow(o);
        else
            atomic_store_explicit(&o->ref_local, local + 1, memory_order_relaxed);
    } else {
        _weft_incref_shared(o);
    }
#endif
}

static inline void weft_decref(weft_object *o)
{
#ifdef __cplusplus
    uint32_t local = o->ref_local.load(std::memory_order_relaxed);
    if (local == WEFT_IMMORTAL_LOCAL)
        return;
    uint32_t owner = o->owner.load(std::memory_order_relaxed);
    if (owner == _weft_tls_index) {
        if (local > 1)
            o->ref_local.store(local - 1, std::memory_order_relaxed);
        else
            _weft_decref_local_zero(o);
    } else {
        _weft_decref_nonowner(o, owner);
    }
#else
    uint32_t local = atomic_load_explicit(&o->ref_local, memory_order_relaxed);
    if (local == WEFT_IMMORTAL_LOCAL)
        return;
    uint32_t owner = atomic_load_explicit(&o->owner, memory_order_relaxed);
    if (owner == _weft_tls_index) {
        if (__builtin_expect(local > 1, 1))
            atomic_store_explicit(&o->ref_local, local - 1, memory_order_relaxed);
        else
            _weft_decref_local_zero(o); /* the last local reference (or an underflow) */
    } else {
        _weft_decref_nonowner(o, owner);
    }
#endif
}

static inline void weft_xincref(weft_object *o)
{
    if (o)
        weft_incref(o);
}

static inline void weft_xdecref(weft_object *o)
{
    if (o)
        weft_decref(o);
}

/* Store a new reference in *slot and release the old one afterwards (so that
 * a dealloc the release triggers never sees a dangling slot). */
static inline void weft_setref(weft_object **slot, weft_object *new_ref)
{
    weft_object *old = *slot;
    *slot = new_ref;
    weft_xdecref(old);
}

/* Release *slot and set it to NULL, in that safe order. */
static inline void weft_clearref(weft_object **slot)
{
    weft_setref(slot, NULL);
}

/* A new reference to o (CPython's Py_NewRef). */
static inline weft_object *weft_newref(weft_object *o)
{
    weft_incref(o);
    return o;
}

#define WEFT_OBJ(p) ((weft_object *)(p))

WEFT_END_DECLS

#endif
