/* lib/trace.c: allocation tracing, weft's tracemalloc (include/weft/trace.h):
 * sessions, the hooks the domain layer calls (lib/trace.h), the traced totals
 * and the traceback of one block. The pieces are in trace_table.c (the
 * table), trace_stack.c (stacks), trace_symbols.c (debug information) and
 * trace_snapshot.c (snapshots); trace_impl.h is the map.
 *
 * Session states and who moves between them (all under the session lock):
 *
 *     off (even) --weft_trace_start--> on (odd) --weft_trace_stop--> off (even)
 *                                      on (s)  --weft_trace_clear--> on (s + 2)
 *
 * Start publishes nframes, then the session number (release), then the
 * WEFT_AF_TRACE bit that sends allocations to the hooks. Stop clears the bit
 * first, then, with every shard and the intern lock held, moves to the next
 * number, empties the table and frees the tracebacks. A hook may still be
 * running for the old session (it read the bit before it was cleared):
 * everything it looks up or stores is checked against the session under the
 * lock that protects it, so it stores nothing, and it never reads a
 * traceback outside those locks.
 */
#include "domain.h"
#include "error.h"
#include "trace_impl.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

WEFT_ATOMIC(unsigned) _weft_trace_xsession;
WEFT_ATOMIC(int) _weft_trace_xnframes;

static pthread_mutex_t session_lock = PTHREAD_MUTEX_INITIALIZER;

void _weft_trace_session_lock(void)
{
    pthread_mutex_lock(&session_lock);
}

void _weft_trace_session_unlock(void)
{
    pthread_mutex_unlock(&session_lock);
}

/* ---------------------------------------------------------------- hooks */

static void record(void *ptr, size_t size, weft_domain d, const void *caller)
{
    weft_trace_tls *t = &_weft_trace_tls;
    if (t->busy)
        return;
    unsigned session = weft_load_acquire(&_weft_trace_xsession);
    if (!_weft_trace_session_is_on(session))
        return;
    t->busy = true;
    int max = weft_load_relaxed(&_weft_trace_xnframes);
    if (max < 1 || max > WEFT_TRACE_MAX_FRAMES)
        max = 1; /* a newer session's value: the table will refuse this trace */
    const void *frames[WEFT_TRACE_MAX_FRAMES];
    int n = _weft_trace_capture(frames, max, caller);
    const weft_tb *tb = _weft_trace_intern(frames, n, session);
    if (tb)
        _weft_trace_table_add(ptr, size, d, tb, session);
    t->busy = false;
}

void _weft_trace_on_alloc(void *ptr, size_t size, weft_domain d)
{
    record(ptr, size, d, NULL);
}

void _weft_trace_on_alloc_at(void *ptr, size_t size, weft_domain d, const void *caller)
{
    record(ptr, size, d, caller);
}

/* Remove ptr's trace; remember it as this thread's last freed block. */
static bool take(void *ptr, weft_trace_rec *rec, unsigned *session_out)
{
    weft_trace_tls *t = &_weft_trace_tls;
    if (t->busy)
        return false;
    unsigned session = weft_load_acquire(&_weft_trace_xsession);
    if (!_weft_trace_session_is_on(session))
        return false;
    t->busy = true;
    bool found = _weft_trace_table_remove(ptr, session, rec);
    t->freed_ptr = found ? ptr : NULL;
    t->freed_tb = found ? rec->tb : NULL;
    t->freed_session = session;
    t->busy = false;
    *session_out = session;
    return found;
}

void _weft_trace_on_free(void *ptr, weft_domain d)
{
    weft_trace_rec rec;
    unsigned session;
    take(ptr, &rec, &session);
}

void _weft_trace_on_realloc_begin(void *ptr, weft_domain d, weft_trace_taken *taken)
{
    weft_trace_rec rec;
    unsigned session;
    taken->traceback = NULL;
    if (!take(ptr, &rec, &session))
        return;
    taken->size = rec.size;
    taken->traceback = rec.tb;
    taken->session = session;
    taken->domain = rec.domain;
}

void _weft_trace_on_realloc_failed(void *ptr, const weft_trace_taken *taken)
{
    weft_trace_tls *t = &_weft_trace_tls;
    if (!taken->traceback || t->busy)
        return;
    /* The block was never freed, so its address is still its own; the trace
     * goes back unless the session ended meanwhile. */
    t->busy = true;
    _weft_trace_table_add(ptr, taken->size, taken->domain, taken->traceback, taken->session);
    t->busy = false;
}

/* ---------------------------------------------------------------- sessions */

int weft_trace_start(int nframes)
{
    if (nframes < 1 || nframes > WEFT_TRACE_MAX_FRAMES) {
        _weft_set_error(WEFT_EINVAL, "weft_trace_start: nframes %d is not in 1..%d", nframes,
                        WEFT_TRACE_MAX_FRAMES);
        return -1;
    }
    bool was = _weft_trace_enter();
    int rc = 0;
    _weft_trace_session_lock();
    unsigned session = weft_load_relaxed(&_weft_trace_xsession);
    if (_weft_trace_session_is_on(session)) {
        int current = weft_load_relaxed(&_weft_trace_xnframes);
        if (current != nframes) {
            _weft_set_error(WEFT_ESTATE, "weft_trace_start: already tracing with %d frames; "
                                         "stop first to trace with %d", current, nframes);
            rc = -1;
        }
    } else {
        _weft_trace_stack_init();
        weft_store_relaxed(&_weft_trace_xnframes, nframes);
        weft_store_release(&_weft_trace_xsession, session + 1);
        _weft_alloc_flags_set(WEFT_AF_TRACE, true);
    }
    _weft_trace_session_unlock();
    _weft_trace_leave(was);
    return rc;
}

/* Move the session from `session` to `next` and drop everything of the old
 * one. Session lock held. */
static void end_session_locked(unsigned session, unsigned next)
{
    /* With every shard and the intern lock held, nothing of the old session
     * is being stored or looked up; from the next critical section on, the
     * table and the intern table refuse the old session's hooks, so what
     * they hold (tracebacks from the old intern table or their caches) is
     * never stored: everything of the old session can go now. */
    _weft_trace_table_lock_all();
    _weft_trace_intern_lock();
    weft_store_release(&_weft_trace_xsession, next);
    _weft_trace_table_clear_all_locked();
    _weft_trace_tb_clear_locked();
    _weft_trace_intern_unlock();
    _weft_trace_table_unlock_all();
    _weft_trace_tb_cache_free();
}

void weft_trace_stop(void)
{
    bool was = _weft_trace_enter();
    _weft_trace_session_lock();
    unsigned session = weft_load_relaxed(&_weft_trace_xsession);
    if (_weft_trace_session_is_on(session)) {
        _weft_alloc_flags_set(WEFT_AF_TRACE, false);
        end_session_locked(session, session + 1);
        weft_store_relaxed(&_weft_trace_xnframes, 0);
    }
    _weft_trace_session_unlock();
    _weft_trace_leave(was);
}

void weft_trace_clear(void)
{
    bool was = _weft_trace_enter();
    _weft_trace_session_lock();
    unsigned session = weft_load_relaxed(&_weft_trace_xsession);
    if (_weft_trace_session_is_on(session))
        end_session_locked(session, session + 2);
    _weft_trace_session_unlock();
    _weft_trace_leave(was);
}

bool weft_trace_is_tracing(void)
{
    return _weft_trace_session_is_on(weft_load_acquire(&_weft_trace_xsession));
}

int weft_trace_get_traceback_limit(void)
{
    if (!weft_trace_is_tracing())
        return 0;
    return weft_load_relaxed(&_weft_trace_xnframes);
}

/* ---------------------------------------------------------------- totals */

void weft_trace_get_memory(size_t *current, size_t *peak)
{
    size_t c, p;
    _weft_trace_table_lock_all();
    _weft_trace_table_memory_all_locked(&c, &p);
    _weft_trace_table_unlock_all();
    if (current)
        *current = c;
    if (peak)
        *peak = p;
}

void weft_trace_reset_peak(void)
{
    _weft_trace_table_lock_all();
    _weft_trace_table_reset_peak_all_locked();
    _weft_trace_table_unlock_all();
}

size_t weft_trace_get_overhead(void)
{
    return _weft_trace_table_overhead() + _weft_trace_tb_overhead();
}

/* ---------------------------------------------------------------- one block */

/* Copy the return addresses of ptr's traceback (or of this thread's last
 * freed block, when `freed` and it is ptr), and the session's frame limit;
 * returns their count, -1 when not tracing, -2 when ptr is not traced. */
static int block_frames(const void *ptr, bool freed, const void **frames, int *limit)
{
    int n = -2;
    _weft_trace_session_lock();
    unsigned session = weft_load_relaxed(&_weft_trace_xsession);
    weft_trace_rec rec;
    const weft_tb *tb = NULL;
    if (!_weft_trace_session_is_on(session))
        n = -1;
    else if (_weft_trace_table_get(ptr, session, &rec))
        tb = rec.tb;
    else if (freed && ptr && _weft_trace_tls.freed_ptr == ptr &&
             _weft_trace_tls.freed_session == session)
        tb = _weft_trace_tls.freed_tb;
    if (tb) {
        n = (int)tb->nframes;
        memcpy(frames, tb->frames, (size_t)n * sizeof *frames);
        *limit = weft_load_relaxed(&_weft_trace_xnframes);
    }
    _weft_trace_session_unlock();
    return n;
}

weft_traceback *weft_trace_get_traceback(const void *ptr)
{
    const void *pcs[WEFT_TRACE_MAX_FRAMES];
    weft_trace_frame frames[WEFT_TRACE_MAX_FRAMES];
    bool was = _weft_trace_enter();
    int limit = 0;
    int n = block_frames(ptr, false, pcs, &limit);
    weft_traceback *tb = NULL;
    if (n == -1) {
        _weft_set_error(WEFT_ESTATE, "weft_trace_get_traceback: tracing is off");
    } else if (n == -2) {
        _weft_set_error(WEFT_EINVAL, "weft_trace_get_traceback: block %p is not traced", ptr);
    } else {
        size_t k = _weft_trace_symbolize(pcs, (size_t)n, frames, (size_t)limit);
        tb = malloc(sizeof *tb + k * sizeof(weft_trace_frame));
        if (!tb) {
            _weft_set_error(WEFT_ENOMEM, "weft_trace_get_traceback: out of memory");
        } else {
            memcpy(tb + 1, frames, k * sizeof *frames);
            tb->nframes = k;
            tb->frames = (weft_trace_frame *)(tb + 1);
        }
    }
    _weft_trace_leave(was);
    return tb;
}

/* Objects are blocks of the obj domain. Weak, so that the object model may
 * define its own. */
WEFT_API weft_traceback *weft_object_traceback(const void *object)
    __attribute__((weak, alias("weft_trace_get_traceback")));

void weft_traceback_free(weft_traceback *traceback)
{
    free(traceback);
}

void weft_traceback_print(const weft_traceback *traceback, FILE *out)
{
    for (size_t i = 0; traceback && i < traceback->nframes; i++) {
        char line[1024];
        _weft_trace_format_frame(&traceback->frames[i], line, sizeof line);
        fprintf(out, "  %s\n", line);
    }
}

size_t _weft_trace_format_block(const void *ptr, char *buf, size_t cap)
{
    if (!cap)
        return 0;
    buf[0] = 0;
    /* Not from inside the tracer (it may hold the locks this needs), and
     * nothing to say when tracing is off. */
    if (_weft_trace_tls.busy || !weft_trace_is_tracing())
        return 0;
    const void *pcs[WEFT_TRACE_MAX_FRAMES];
    bool was = _weft_trace_enter();
    int limit = 0;
    int n = block_frames(ptr, true, pcs, &limit);
    size_t len = 0;
    static const char head[] = "  allocated at:\n";
    if (n >= 0 && sizeof head <= cap) {
        weft_trace_frame frames[WEFT_TRACE_MAX_FRAMES];
        size_t k = _weft_trace_symbolize(pcs, (size_t)n, frames, (size_t)limit);
        memcpy(buf, head, sizeof head);
        len = sizeof head - 1;
        for (size_t i = 0; i < k; i++) {
            char line[512];
            _weft_trace_format_frame(&frames[i], line, sizeof line);
            int w = snprintf(buf + len, cap - len, "    %s\n", line);
            if (w < 0 || (size_t)w >= cap - len) {
                buf[len] = 0; /* whole lines only */
                break;
            }
            len += (size_t)w;
        }
    }
    _weft_trace_leave(was);
    return len;
}
