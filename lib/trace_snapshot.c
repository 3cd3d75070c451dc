/* lib/trace_snapshot.c: snapshots of the trace table, filters, statistics and
 * comparisons (include/weft/trace.h; trace_impl.h is the map).
 *
 * A snapshot is taken with every shard locked, so that it is one instant of
 * the table: its total equals the traced current size at that instant. Only
 * the records are copied under those locks (allocating threads wait that
 * long); the tracebacks are copied after the shards are unlocked but with the
 * session lock still held, which keeps stop from freeing them meanwhile.
 * A snapshot owns its tracebacks (deduplicated, as return addresses), so it
 * outlives the session and is immutable.
 *
 * Statistics group traces by a key made of symbolized frames: the file of
 * frame 0, its file and line, or every frame's file and line. Names are
 * interned by the symbolizer, so keys compare by pointer. A frame without a
 * line keeps its function in the key, so code without debug information still
 * groups by function rather than all into one line 0.
 */
#include "error.h"
#include "trace_impl.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

typedef struct snap_tb {
    uint32_t nframes;
    uint32_t first; /* index of frame 0 in the snapshot's frame array */
} snap_tb;

typedef struct snap_trace {
    size_t size;
    uint32_t tb; /* index in tbs */
    weft_domain domain;
} snap_trace;

struct weft_snapshot {
    int traceback_limit;
    size_t ntraces;
    snap_trace *traces;
    size_t ntbs;
    snap_tb *tbs;
    size_t nframes;
    const void **frames;
    size_t total_size;
};

static weft_snapshot *snapshot_new(size_t ntraces, size_t ntbs, size_t nframes)
{
    weft_snapshot *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->traces = malloc((ntraces ? ntraces : 1) * sizeof *s->traces);
    s->tbs = malloc((ntbs ? ntbs : 1) * sizeof *s->tbs);
    s->frames = malloc((nframes ? nframes : 1) * sizeof *s->frames);
    if (!s->traces || !s->tbs || !s->frames) {
        weft_snapshot_free(s);
        return NULL;
    }
    return s;
}

void weft_snapshot_free(weft_snapshot *snapshot)
{
    if (!snapshot)
        return;
    free(snapshot->traces);
    free(snapshot->tbs);
    free(snapshot->frames);
    free(snapshot);
}

size_t weft_snapshot_size(const weft_snapshot *snapshot, size_t *count)
{
    if (count)
        *count = snapshot ? snapshot->ntraces : 0;
    return snapshot ? snapshot->total_size : 0;
}

int weft_snapshot_traceback_limit(const weft_snapshot *snapshot)
{
    return snapshot ? snapshot->traceback_limit : 0;
}

/* ---------------------------------------------------------------- taking one */

/* A map from pointers (or indexes + 1) to indexes, for deduplication. */
typedef struct index_map {
    uintptr_t *keys; /* 0: empty */
    uint32_t *values;
    size_t mask;
} index_map;

static bool index_map_init(index_map *m, size_t n)
{
    size_t cap = 16;
    while (cap < n * 2)
        cap *= 2;
    m->keys = calloc(cap, sizeof *m->keys);
    m->values = malloc(cap * sizeof *m->values);
    m->mask = cap - 1;
    return m->keys && m->values;
}

static void index_map_free(index_map *m)
{
    free(m->keys);
    free(m->values);
}

/* The value of key, inserting `value` if it is new (then *is_new). */
static uint32_t index_map_get(index_map *m, uintptr_t key, uint32_t value, bool *is_new)
{
    uint64_t h = (uint64_t)key * 0x9e3779b97f4a7c15u;
    size_t i = (size_t)(h ^ (h >> 31)) & m->mask;
    for (; m->keys[i]; i = (i + 1) & m->mask)
        if (m->keys[i] == key) {
            *is_new = false;
            return m->values[i];
        }
    m->keys[i] = key;
    m->values[i] = value;
    *is_new = true;
    return value;
}

/* Build the snapshot from copied records. Session lock held: the records'
 * tracebacks are alive. */
static weft_snapshot *snapshot_from_records_locked(const weft_trace_rec *recs, size_t n,
                                                   int limit)
{
    index_map map = {0};
    weft_snapshot *s = NULL;
    uint32_t *tb_of = malloc((n ? n : 1) * sizeof *tb_of);
    const weft_tb **distinct = malloc((n ? n : 1) * sizeof *distinct);
    if (!tb_of || !distinct || !index_map_init(&map, n))
        goto out;
    size_t ntbs = 0, nframes = 0;
    for (size_t i = 0; i < n; i++) {
        bool is_new;
        tb_of[i] = index_map_get(&map, (uintptr_t)recs[i].tb, (uint32_t)ntbs, &is_new);
        if (is_new) {
            distinct[ntbs++] = recs[i].tb;
            nframes += recs[i].tb->nframes;
        }
    }
    s = snapshot_new(n, ntbs, nframes);
    if (!s)
        goto out;
    s->traceback_limit = limit;
    size_t f = 0;
    for (size_t i = 0; i < ntbs; i++) {
        s->tbs[i] = (snap_tb){distinct[i]->nframes, (uint32_t)f};
        memcpy(&s->frames[f], distinct[i]->frames, distinct[i]->nframes * sizeof(void *));
        f += distinct[i]->nframes;
    }
    s->ntbs = ntbs;
    s->nframes = nframes;
    for (size_t i = 0; i < n; i++) {
        s->traces[i] = (snap_trace){recs[i].size, tb_of[i], recs[i].domain};
        s->total_size += recs[i].size;
    }
    s->ntraces = n;
out:
    index_map_free(&map);
    free(tb_of);
    free(distinct);
    return s;
}

weft_snapshot *weft_trace_snapshot(void)
{
    bool was = _weft_trace_enter();
    weft_snapshot *s = NULL;
    _weft_trace_session_lock();
    if (!weft_trace_is_tracing()) {
        _weft_set_error(WEFT_ESTATE, "weft_trace_snapshot: tracing is off");
        goto out;
    }
    int limit = weft_load_relaxed(&_weft_trace_xnframes);
    _weft_trace_table_lock_all();
    size_t n = _weft_trace_table_count_all_locked();
    weft_trace_rec *recs = malloc((n ? n : 1) * sizeof *recs);
    if (recs)
        n = _weft_trace_table_copy_all_locked(recs, n);
    _weft_trace_table_unlock_all();
    if (recs)
        s = snapshot_from_records_locked(recs, n, limit);
    free(recs);
    if (!s)
        _weft_set_error(WEFT_ENOMEM, "weft_trace_snapshot: out of memory");
out:
    _weft_trace_session_unlock();
    _weft_trace_leave(was);
    return s;
}

/* ---------------------------------------------------------------- symbolized tracebacks */

/* A snapshot's tracebacks as frames (inlined calls expanded, at most `max`
 * frames each): traceback i is frames[first[i]] .. frames[first[i] + count[i]). */
typedef struct sym_tbs {
    weft_trace_frame *frames;
    size_t *first, *count;
} sym_tbs;

static void sym_tbs_free(sym_tbs *t)
{
    free(t->frames);
    free(t->first);
    free(t->count);
}

static bool sym_tbs_make(const weft_snapshot *s, size_t max, sym_tbs *out)
{
    memset(out, 0, sizeof *out);
    size_t cap = s->ntbs + 16, len = 0;
    out->frames = malloc(cap * sizeof *out->frames);
    out->first = malloc((s->ntbs ? s->ntbs : 1) * sizeof *out->first);
    out->count = malloc((s->ntbs ? s->ntbs : 1) * sizeof *out->count);
    if (!out->frames || !out->first || !out->count)
        goto fail;
    for (size_t i = 0; i < s->ntbs; i++) {
        const snap_tb *tb = &s->tbs[i];
        if (cap - len < max) {
            size_t more = cap * 2 > len + max ? cap * 2 : len + max;
            weft_trace_frame *v = realloc(out->frames, more * sizeof *v);
            if (!v)
                goto fail;
            out->frames = v;
            cap = more;
        }
        out->first[i] = len;
        out->count[i] = _weft_trace_symbolize(&s->frames[tb->first], tb->nframes,
                                              &out->frames[len], max);
        len += out->count[i];
    }
    return true;
fail:
    sym_tbs_free(out);
    return false;
}

static size_t frame_limit(const weft_snapshot *s)
{
    return s->traceback_limit > 0 ? (size_t)s->traceback_limit : 1;
}

/* ---------------------------------------------------------------- filters */

/* Does the frame match the filter's file and line? (Filter._match_frame_impl) */
static bool frame_matches(const weft_trace_filter *f, const weft_trace_frame *fr)
{
    if (f->filename_pattern && fnmatch(f->filename_pattern, fr->filename, 0) != 0)
        return false;
    return !f->lineno || fr->lineno == f->lineno;
}

/* Does a traceback match the filter's file and line (frame 0, or any)? */
static bool traceback_matches(const weft_trace_filter *f, const weft_trace_frame *frames,
                              size_t n)
{
    for (size_t i = 0; i < (f->all_frames ? n : n ? 1 : 0); i++)
        if (frame_matches(f, &frames[i]))
            return true;
    return false;
}

/* Does the trace pass the filter? As tracemalloc's Filter._match and
 * DomainFilter: an exclusive filter passes what it does not match. */
static bool passes(const weft_trace_filter *f, bool match, weft_domain domain)
{
    bool res = match == f->inclusive;
    if (f->domain >= 0)
        res = f->inclusive ? res && (int)domain == f->domain : res || (int)domain != f->domain;
    return res;
}

weft_snapshot *weft_snapshot_filter(const weft_snapshot *snapshot,
                                    const weft_trace_filter *filters, size_t nfilters)
{
    if (!snapshot || (nfilters && !filters)) {
        _weft_set_error(WEFT_EINVAL, "weft_snapshot_filter: NULL snapshot or filters");
        return NULL;
    }
    bool was = _weft_trace_enter();
    weft_snapshot *out = NULL;
    bool all_frames = false;
    for (size_t j = 0; j < nfilters; j++)
        all_frames |= filters[j].all_frames;
    sym_tbs sym = {0};
    /* matches[tb * nfilters + j]: does traceback tb match filter j's place? */
    size_t nmatches = snapshot->ntbs * nfilters;
    bool *matches = malloc((nmatches ? nmatches : 1) * sizeof *matches);
    uint32_t *new_tb = malloc((snapshot->ntbs ? snapshot->ntbs : 1) * sizeof *new_tb);
    bool *keep = malloc((snapshot->ntraces ? snapshot->ntraces : 1) * sizeof *keep);
    if (!matches || !new_tb || !keep ||
        (nfilters && !sym_tbs_make(snapshot, all_frames ? frame_limit(snapshot) : 1, &sym)))
        goto out;
    for (size_t i = 0; nfilters && i < snapshot->ntbs; i++)
        for (size_t j = 0; j < nfilters; j++)
            matches[i * nfilters + j] =
                traceback_matches(&filters[j], &sym.frames[sym.first[i]], sym.count[i]);

    /* Which traces pass, and how big the result is. */
    size_t ntraces = 0, ntbs = 0, nframes = 0;
    for (size_t i = 0; i < snapshot->ntbs; i++)
        new_tb[i] = UINT32_MAX;
    for (size_t i = 0; i < snapshot->ntraces; i++) {
        const snap_trace *t = &snapshot->traces[i];
        bool any_inclusive = false, included = false, excluded = false;
        for (size_t j = 0; j < nfilters; j++) {
            bool ok = passes(&filters[j], matches[t->tb * nfilters + j], t->domain);
            if (filters[j].inclusive) {
                any_inclusive = true;
                included |= ok;
            } else {
                excluded |= !ok;
            }
        }
        keep[i] = (!any_inclusive || included) && !excluded;
        if (!keep[i])
            continue;
        ntraces++;
        if (new_tb[t->tb] == UINT32_MAX) {
            new_tb[t->tb] = (uint32_t)ntbs++;
            nframes += snapshot->tbs[t->tb].nframes;
        }
    }
    out = snapshot_new(ntraces, ntbs, nframes);
    if (out) {
        out->traceback_limit = snapshot->traceback_limit;
        size_t f = 0;
        for (size_t i = 0; i < snapshot->ntbs; i++) {
            if (new_tb[i] == UINT32_MAX)
                continue;
            const snap_tb *tb = &snapshot->tbs[i];
            out->tbs[new_tb[i]] = (snap_tb){tb->nframes, (uint32_t)f};
            memcpy(&out->frames[f], &snapshot->frames[tb->first], tb->nframes * sizeof(void *));
            f += tb->nframes;
        }
        out->ntbs = ntbs;
        out->nframes = nframes;
        for (size_t i = 0; i < snapshot->ntraces; i++) {
            if (!keep[i])
                continue;
            snap_trace t = snapshot->traces[i];
            t.tb = new_tb[t.tb];
            out->traces[out->ntraces++] = t;
            out->total_size += t.size;
        }
    }
out:
    if (!out)
        _weft_set_error(WEFT_ENOMEM, "weft_snapshot_filter: out of memory");
    sym_tbs_free(&sym);
    free(matches);
    free(new_tb);
    free(keep);
    _weft_trace_leave(was);
    return out;
}

/* ---------------------------------------------------------------- statistics */

/* One group of the statistics being built; `frames` points into the
 * symbolized tracebacks of the snapshot that first had it. */
typedef struct group {
    uint64_t hash;
    size_t nframes;
    const weft_trace_frame *frames;
    size_t size[2], count[2]; /* [0]: now, [1]: before */
} group;

typedef struct grouping {
    weft_trace_group by;
    group *groups;
    size_t ngroups, cap;
    uint32_t *slot_group; /* open addressing: group index, UINT32_MAX when empty */
    size_t slot_mask;
} grouping;

/* The frame as a key: file; file and line; or file and function when there
 * is no line. */
static bool frame_key_eq(weft_trace_group by, const weft_trace_frame *a,
                         const weft_trace_frame *b)
{
    if (a->filename != b->filename)
        return false;
    if (by == WEFT_TRACE_BY_FILE)
        return true;
    return a->lineno == b->lineno && (a->lineno || a->function == b->function);
}

static uint64_t frame_key_hash(weft_trace_group by, const weft_trace_frame *f, uint64_t h)
{
    h = (h ^ (uintptr_t)f->filename) * 0x100000001b3u;
    if (by != WEFT_TRACE_BY_FILE)
        h = (h ^ (f->lineno ? f->lineno : (uintptr_t)f->function)) * 0x100000001b3u;
    return h ^ (h >> 29);
}

static bool grouping_init(grouping *g, weft_trace_group by, size_t expected)
{
    memset(g, 0, sizeof *g);
    g->by = by;
    size_t cap = 16;
    while (cap < expected * 2)
        cap *= 2;
    g->slot_group = malloc(cap * sizeof *g->slot_group);
    if (!g->slot_group)
        return false;
    memset(g->slot_group, 0xff, cap * sizeof *g->slot_group);
    g->slot_mask = cap - 1;
    return true;
}

static void grouping_free(grouping *g)
{
    free(g->groups);
    free(g->slot_group);
}

static bool grouping_rehash(grouping *g)
{
    size_t cap = (g->slot_mask + 1) * 2;
    uint32_t *slots = malloc(cap * sizeof *slots);
    if (!slots)
        return false;
    memset(slots, 0xff, cap * sizeof *slots);
    for (size_t i = 0; i < g->ngroups; i++) {
        size_t j = g->groups[i].hash & (cap - 1);
        while (slots[j] != UINT32_MAX)
            j = (j + 1) & (cap - 1);
        slots[j] = (uint32_t)i;
    }
    free(g->slot_group);
    g->slot_group = slots;
    g->slot_mask = cap - 1;
    return true;
}

/* The group of these frames (only frame 0 counts unless grouping by
 * traceback), created if new; -1 on ENOMEM. */
static ptrdiff_t grouping_find(grouping *g, const weft_trace_frame *frames, size_t nframes)
{
    size_t n = g->by == WEFT_TRACE_BY_TRACEBACK ? nframes : nframes ? 1 : 0;
    uint64_t h = 0x84222325cbf29ce4u ^ n;
    for (size_t i = 0; i < n; i++)
        h = frame_key_hash(g->by, &frames[i], h);
    size_t j = h & g->slot_mask;
    for (; g->slot_group[j] != UINT32_MAX; j = (j + 1) & g->slot_mask) {
        group *gr = &g->groups[g->slot_group[j]];
        if (gr->hash != h || gr->nframes != n)
            continue;
        size_t k = 0;
        while (k < n && frame_key_eq(g->by, &gr->frames[k], &frames[k]))
            k++;
        if (k == n)
            return g->slot_group[j];
    }
    if (g->ngroups == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 64;
        group *v = realloc(g->groups, cap * sizeof *v);
        if (!v)
            return -1;
        g->groups = v;
        g->cap = cap;
    }
    g->groups[g->ngroups] = (group){.hash = h, .nframes = n, .frames = frames};
    g->slot_group[j] = (uint32_t)g->ngroups;
    ptrdiff_t found = (ptrdiff_t)g->ngroups++;
    if (g->ngroups * 4 > (g->slot_mask + 1) * 3 && !grouping_rehash(g))
        return -1;
    return found;
}

/* Add the snapshot's traces to the groups, in column `which`; sym holds its
 * symbolized tracebacks (and must outlive the groups). */
static bool grouping_add(grouping *g, const weft_snapshot *s, const sym_tbs *sym, int which)
{
    ptrdiff_t *group_of = malloc((s->ntbs ? s->ntbs : 1) * sizeof *group_of);
    if (!group_of)
        return false;
    bool ok = true;
    for (size_t i = 0; i < s->ntbs && ok; i++) {
        group_of[i] = grouping_find(g, &sym->frames[sym->first[i]], sym->count[i]);
        ok = group_of[i] >= 0;
    }
    for (size_t i = 0; i < s->ntraces && ok; i++) {
        group *gr = &g->groups[group_of[s->traces[i].tb]];
        gr->size[which] += s->traces[i].size;
        gr->count[which]++;
    }
    free(group_of);
    return ok;
}

/* What weft_trace_stats_free frees: the public part first. */
typedef struct stats_block {
    weft_trace_stats pub;
    weft_trace_stat *stats;
    weft_traceback *tbs;
    weft_trace_frame *frames;
} stats_block;

static int frames_cmp(const weft_traceback *a, const weft_traceback *b)
{
    for (size_t i = 0; i < a->nframes && i < b->nframes; i++) {
        int c = strcmp(a->frames[i].filename, b->frames[i].filename);
        if (c)
            return c;
        if (a->frames[i].lineno != b->frames[i].lineno)
            return a->frames[i].lineno < b->frames[i].lineno ? -1 : 1;
    }
    return a->nframes < b->nframes ? -1 : a->nframes > b->nframes;
}

#define CMP_DESC(x, y)                                                                 \
    do {                                                                               \
        if ((x) != (y))                                                                \
            return (x) > (y) ? -1 : 1;                                                 \
    } while (0)

static int stat_cmp(const void *pa, const void *pb)
{
    const weft_trace_stat *a = pa, *b = pb;
    CMP_DESC(a->size, b->size);
    CMP_DESC(a->count, b->count);
    return frames_cmp(a->traceback, b->traceback);
}

static int diff_cmp(const void *pa, const void *pb)
{
    const weft_trace_stat *a = pa, *b = pb;
    CMP_DESC(llabs(a->size_diff), llabs(b->size_diff));
    CMP_DESC(a->size, b->size);
    CMP_DESC(llabs(a->count_diff), llabs(b->count_diff));
    CMP_DESC(a->count, b->count);
    return frames_cmp(a->traceback, b->traceback);
}

static weft_trace_stats *stats_build(const grouping *g, bool is_diff)
{
    size_t nframes = 0;
    for (size_t i = 0; i < g->ngroups; i++)
        nframes += g->groups[i].nframes;
    stats_block *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->stats = calloc(g->ngroups ? g->ngroups : 1, sizeof *b->stats);
    b->tbs = calloc(g->ngroups ? g->ngroups : 1, sizeof *b->tbs);
    b->frames = calloc(nframes ? nframes : 1, sizeof *b->frames);
    if (!b->stats || !b->tbs || !b->frames) {
        weft_trace_stats_free(&b->pub);
        return NULL;
    }
    size_t f = 0;
    weft_trace_stats *st = &b->pub;
    st->group = g->by;
    st->is_diff = is_diff;
    for (size_t i = 0; i < g->ngroups; i++) {
        const group *gr = &g->groups[i];
        for (size_t k = 0; k < gr->nframes; k++) {
            weft_trace_frame fr = gr->frames[k];
            if (g->by == WEFT_TRACE_BY_FILE) {
                fr.lineno = 0;
                fr.function = NULL;
                fr.address = NULL; /* a file, not one place in it */
            }
            b->frames[f + k] = fr;
        }
        b->tbs[i] = (weft_traceback){gr->nframes, &b->frames[f]};
        f += gr->nframes;
        b->stats[i] = (weft_trace_stat){
            .traceback = &b->tbs[i],
            .size = gr->size[0],
            .count = gr->count[0],
            .size_diff = is_diff ? (long long)gr->size[0] - (long long)gr->size[1] : 0,
            .count_diff = is_diff ? (long long)gr->count[0] - (long long)gr->count[1] : 0,
        };
        st->total_size += gr->size[0];
        st->total_count += gr->count[0];
        st->total_size_diff += b->stats[i].size_diff;
        st->total_count_diff += b->stats[i].count_diff;
    }
    qsort(b->stats, g->ngroups, sizeof *b->stats, is_diff ? diff_cmp : stat_cmp);
    st->nstats = g->ngroups;
    st->stats = b->stats;
    return st;
}

static bool group_ok(weft_trace_group by)
{
    return by == WEFT_TRACE_BY_FILE || by == WEFT_TRACE_BY_LINE || by == WEFT_TRACE_BY_TRACEBACK;
}

weft_trace_stats *weft_snapshot_statistics(const weft_snapshot *snapshot, weft_trace_group by)
{
    return weft_snapshot_compare(snapshot, NULL, by);
}

weft_trace_stats *weft_snapshot_compare(const weft_snapshot *now, const weft_snapshot *before,
                                        weft_trace_group by)
{
    const char *what = before ? "compare" : "statistics";
    if (!now || !group_ok(by)) {
        _weft_set_error(WEFT_EINVAL, "weft_snapshot_%s: NULL snapshot or unknown grouping %d",
                        what, (int)by);
        return NULL;
    }
    bool was = _weft_trace_enter();
    weft_trace_stats *st = NULL;
    bool whole = by == WEFT_TRACE_BY_TRACEBACK;
    sym_tbs sym_now = {0}, sym_before = {0};
    grouping g;
    if (grouping_init(&g, by, now->ntbs + (before ? before->ntbs : 0)) &&
        sym_tbs_make(now, whole ? frame_limit(now) : 1, &sym_now) &&
        (!before || sym_tbs_make(before, whole ? frame_limit(before) : 1, &sym_before)) &&
        grouping_add(&g, now, &sym_now, 0) && (!before || grouping_add(&g, before, &sym_before, 1)))
        st = stats_build(&g, before != NULL);
    grouping_free(&g);
    sym_tbs_free(&sym_now);
    sym_tbs_free(&sym_before);
    if (!st)
        _weft_set_error(WEFT_ENOMEM, "weft_snapshot_%s: out of memory", what);
    _weft_trace_leave(was);
    return st;
}

void weft_trace_stats_free(weft_trace_stats *stats)
{
    if (!stats)
        return;
    stats_block *b = (stats_block *)stats;
    free(b->stats);
    free(b->tbs);
    free(b->frames);
    free(b);
}
