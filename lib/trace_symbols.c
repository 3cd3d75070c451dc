/* lib/trace_symbols.c: what the tracer asks of the debug information, through
 * libdw's dwfl interface (trace_impl.h):
 *
 *   - where weft's own code lies in this process, once, before the first
 *     session: the address ranges of the DWARF compilation units of weft's
 *     sources (lib/ and threads/ under the source tree this file was built
 *     from), or, without debug information, of the weft_ and _weft_ functions
 *     of the symbol table (and the whole module when weft is a shared library);
 *   - file, line and function of return addresses, at snapshot and format
 *     time only, never while allocating.
 *
 * A return address points after its call, so it is looked up as address - 1.
 * Calls the compiler inlined are expanded, as they would appear had they not
 * been inlined: the inline body's line first, then the line that called it,
 * up to the out-of-line function. So a traceback reads the same at -O0 and at
 * -O2. At frame 0, the inline bodies of weft's own files (public header
 * functions inlined into the program) are left out, as weft's frames are.
 *
 * Everything here runs under the symbol lock (dwfl is not thread-safe). The
 * cache (return address -> frames) and the modules are dropped whenever the
 * process has loaded or unloaded a library since they were read (the
 * dynamic linker counts both), since a library unloaded may have left its
 * addresses to another.
 * Names are interned in a pool that is never freed, so that the strings of
 * every frame handed out stay valid until the process exits; the pool grows
 * with the number of distinct file and function names, which is bounded by
 * the program.
 */
#define _GNU_SOURCE 1 /* dl_iterate_phdr */
#include "trace_impl.h"

#include <dwarf.h>
#include <elfutils/libdwfl.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define THIS_FILE_SUFFIX "lib/trace_symbols.c"
#define UNKNOWN_FILE "<unknown>"

static pthread_mutex_t sym_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---------------------------------------------------------------- weft's source tree */

/* The source root this file was compiled from ("/src/weft/"), or "" if
 * unknown: the build passes absolute source paths. */
static const char *source_root(size_t *len)
{
    static const char file[] = __FILE__;
    size_t n = sizeof file - 1, suffix = sizeof THIS_FILE_SUFFIX - 1;
    if (n < suffix || strcmp(file + n - suffix, THIS_FILE_SUFFIX) != 0 || file[0] != '/') {
        *len = 0;
        return "";
    }
    *len = n - suffix;
    return file;
}

/* Is path one of weft's files: its library sources, or (with headers) its
 * public headers? */
static bool is_weft_path(const char *path, bool headers)
{
    size_t n;
    const char *root = source_root(&n);
    if (!path || !n || strncmp(path, root, n) != 0)
        return false;
    const char *rest = path + n;
    return strncmp(rest, "lib/", 4) == 0 || strncmp(rest, "threads/", 8) == 0 ||
           (headers && strncmp(rest, "include/weft/", 13) == 0);
}

/* ---------------------------------------------------------------- the dwfl session */

static const Dwfl_Callbacks callbacks = {
    .find_elf = dwfl_linux_proc_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
};

static Dwfl *dwfl; /* symbol lock */

/* (Re)read the modules of this process. */
static Dwfl *report_modules_locked(void)
{
    if (dwfl)
        dwfl_end(dwfl);
    dwfl = dwfl_begin(&callbacks);
    if (!dwfl)
        return NULL;
    dwfl_report_begin(dwfl);
    if (dwfl_linux_proc_report(dwfl, getpid()) != 0 ||
        dwfl_report_end(dwfl, NULL, NULL) != 0) {
        dwfl_end(dwfl);
        dwfl = NULL;
    }
    return dwfl;
}

/* ---------------------------------------------------------------- weft's code */

typedef struct range_list {
    weft_code_range *v;
    size_t n, cap;
} range_list;

static void add_range(range_list *l, uintptr_t lo, uintptr_t hi)
{
    if (hi <= lo)
        return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        weft_code_range *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (weft_code_range){lo, hi};
}

static int by_lo(const void *a, const void *b)
{
    uintptr_t x = ((const weft_code_range *)a)->lo, y = ((const weft_code_range *)b)->lo;
    return x < y ? -1 : x > y;
}

static const char *cu_path(Dwarf_Die *cu, char *buf, size_t cap)
{
    const char *name = dwarf_diename(cu);
    if (!name || name[0] == '/')
        return name;
    Dwarf_Attribute attr;
    const char *dir = dwarf_formstring(dwarf_attr(cu, DW_AT_comp_dir, &attr));
    if (!dir)
        return name;
    snprintf(buf, cap, "%s/%s", dir, name);
    return buf;
}

/* The compilation units of weft's sources; false if there were none. */
static bool add_weft_units(range_list *l, Dwfl_Module *mod)
{
    bool found = false;
    Dwarf_Die *cu = NULL;
    Dwarf_Addr bias;
    char buf[4096];
    while ((cu = dwfl_module_nextcu(mod, cu, &bias)) != NULL) {
        if (!is_weft_path(cu_path(cu, buf, sizeof buf), false))
            continue;
        found = true;
        Dwarf_Addr base, start, end;
        ptrdiff_t off = 0;
        while ((off = dwarf_ranges(cu, off, &base, &start, &end)) > 0)
            add_range(l, (uintptr_t)(start + bias), (uintptr_t)(end + bias));
    }
    return found;
}

static bool has_weft_prefix(const char *name)
{
    return name && (strncmp(name, "weft_", 5) == 0 || strncmp(name, "_weft_", 6) == 0);
}

/* Without debug information: weft's named functions, and their split-off
 * parts ("weft_x.cold"), whose names keep the prefix. */
static void add_weft_symbols(range_list *l, Dwfl_Module *mod)
{
    int n = dwfl_module_getsymtab(mod);
    for (int i = 1; i < n; i++) {
        GElf_Sym sym;
        GElf_Addr addr;
        const char *name = dwfl_module_getsym_info(mod, i, &sym, &addr, NULL, NULL, NULL);
        if (GELF_ST_TYPE(sym.st_info) == STT_FUNC && sym.st_size && has_weft_prefix(name))
            add_range(l, (uintptr_t)addr, (uintptr_t)(addr + sym.st_size));
    }
}

size_t _weft_trace_find_weft_code(weft_code_range **out)
{
    range_list l = {0};
    pthread_mutex_lock(&sym_lock);
    Dwfl_Module *mod = NULL;
    if (dwfl || report_modules_locked())
        mod = dwfl_addrmodule(dwfl, (Dwarf_Addr)(uintptr_t)&_weft_trace_find_weft_code);
    if (mod) {
        Dwarf_Addr start, end;
        const char *name = dwfl_module_info(mod, NULL, &start, &end, NULL, NULL, NULL, NULL);
        const char *base = name ? strrchr(name, '/') : NULL;
        base = base ? base + 1 : name;
        if (base && strncmp(base, "libweft.so", 10) == 0)
            add_range(&l, (uintptr_t)start, (uintptr_t)end); /* all of it is weft */
        else if (!add_weft_units(&l, mod))
            add_weft_symbols(&l, mod);
    }
    pthread_mutex_unlock(&sym_lock);

    qsort(l.v, l.n, sizeof *l.v, by_lo);
    size_t m = 0;
    for (size_t i = 0; i < l.n; i++) {
        if (m && l.v[i].lo <= l.v[m - 1].hi) {
            if (l.v[i].hi > l.v[m - 1].hi)
                l.v[m - 1].hi = l.v[i].hi;
        } else {
            l.v[m++] = l.v[i];
        }
    }
    *out = l.v;
    return m;
}

/* ---------------------------------------------------------------- the name pool */

static char **names;     /* symbol lock; NULL or names_mask + 1 slots */
static size_t names_mask, names_count;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3u;
    return h;
}

/* The pooled copy of s; NULL if the pool cannot grow. */
static const char *intern_name_locked(const char *s)
{
    if (!s)
        return NULL;
    uint64_t h = hash_str(s);
    if (names)
        for (size_t i = h & names_mask; names[i]; i = (i + 1) & names_mask)
            if (strcmp(names[i], s) == 0)
                return names[i];
    if (!names || (names_count + 1) * 4 > (names_mask + 1) * 3) {
        size_t old_n = names ? names_mask + 1 : 0, n = old_n ? old_n * 2 : 256;
        char **v = calloc(n, sizeof *v);
        if (!v)
            return NULL;
        for (size_t i = 0; i < old_n; i++) {
            if (!names[i])
                continue;
            size_t j = hash_str(names[i]) & (n - 1);
            while (v[j])
                j = (j + 1) & (n - 1);
            v[j] = names[i];
        }
        free(names);
        names = v;
        names_mask = n - 1;
    }
    char *copy = strdup(s);
    if (!copy)
        return NULL;
    size_t i = h & names_mask;
    while (names[i])
        i = (i + 1) & names_mask;
    names[i] = copy;
    names_count++;
    return copy;
}

/* ---------------------------------------------------------------- the frame cache */

typedef struct sym_frame {
    const char *filename, *function; /* pooled */
    unsigned lineno;
} sym_frame;

/* The frames of one return address, innermost inline body first. */
typedef struct sym_entry {
    uintptr_t pc; /* 0: empty */
    uint32_t n;   /* >= 1 */
    uint32_t weft_top; /* leading frames in weft's own files (its inline functions) */
    sym_frame *frames;
} sym_entry;

static sym_entry *syms; /* symbol lock; NULL or syms_mask + 1 entries */
static size_t syms_mask, syms_count;

static size_t pc_slot(uintptr_t pc)
{
    uint64_t h = (uint64_t)pc * 0x9e3779b97f4a7c15u;
    return (size_t)(h ^ (h >> 29));
}

static const sym_entry *sym_find_locked(uintptr_t pc)
{
    if (!syms)
        return NULL;
    for (size_t i = pc_slot(pc) & syms_mask; syms[i].pc; i = (i + 1) & syms_mask)
        if (syms[i].pc == pc)
            return &syms[i];
    return NULL;
}

/* Keep e; the cache owns e->frames from then on. Returns the cached copy, or
 * NULL if the cache cannot grow (e stays the caller's). */
static const sym_entry *sym_store_locked(const sym_entry *e)
{
    if (!syms || (syms_count + 1) * 4 > (syms_mask + 1) * 3) {
        size_t old_n = syms ? syms_mask + 1 : 0, n = old_n ? old_n * 2 : 1024;
        sym_entry *v = calloc(n, sizeof *v);
        if (!v)
            return NULL;
        for (size_t i = 0; i < old_n; i++) {
            if (!syms[i].pc)
                continue;
            size_t j = pc_slot(syms[i].pc) & (n - 1);
            while (v[j].pc)
                j = (j + 1) & (n - 1);
            v[j] = syms[i];
        }
        free(syms);
        syms = v;
        syms_mask = n - 1;
    }
    size_t i = pc_slot(e->pc) & syms_mask;
    while (syms[i].pc)
        i = (i + 1) & syms_mask;
    syms[i] = *e;
    syms_count++;
    return &syms[i];
}

static void forget_locked(void)
{
    for (size_t i = 0; syms && i <= syms_mask; i++)
        free(syms[i].frames);
    free(syms);
    syms = NULL;
    syms_mask = syms_count = 0;
    if (dwfl)
        dwfl_end(dwfl);
    dwfl = NULL;
}

/* The dynamic linker's counts of libraries loaded and unloaded. */
typedef struct load_counts {
    unsigned long long adds, subs;
} load_counts;

static int read_counts(struct dl_phdr_info *info, size_t size, void *arg)
{
    load_counts *c = arg;
    if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
        c->adds = info->dlpi_adds;
        c->subs = info->dlpi_subs;
    }
    return 1; /* the first object is enough: the counts are global */
}

static load_counts seen_counts; /* symbol lock: when the cache was started */

/* Drop the cache if libraries came or went since it was started. */
static void check_modules_locked(void)
{
    load_counts now = {0, 0};
    dl_iterate_phdr(read_counts, &now);
    if (now.adds != seen_counts.adds || now.subs != seen_counts.subs) {
        forget_locked();
        seen_counts = now;
    }
}

/* ---------------------------------------------------------------- symbolization */

#define MAX_INLINE_DEPTH 64

typedef struct frame_list {
    sym_frame v[MAX_INLINE_DEPTH];
    uint32_t n;
} frame_list;

static void add_frame(frame_list *l, const char *file, unsigned line, const char *function)
{
    if (l->n < MAX_INLINE_DEPTH)
        l->v[l->n++] = (sym_frame){file, function, line};
}

static bool die_udata(Dwarf_Die *die, unsigned name, Dwarf_Word *out)
{
    Dwarf_Attribute attr;
    return dwarf_attr(die, name, &attr) && dwarf_formudata(&attr, out) == 0;
}

/* The frames at pc, innermost first: the line table gives the innermost
 * location; each inlined scope around it moves the location to its call
 * site, in the next function out, until the out-of-line function.
 * dwarf_getscopes follows an inline body into its abstract definition's
 * scopes, so the physical nesting (into the caller) is asked of the innermost
 * scope's DIE with dwarf_getscopes_die, as eu-addr2line -i does. */
static void expand_inlines(Dwfl_Module *mod, Dwarf_Die *cu, Dwarf_Addr pc, const char *file,
                           unsigned line, frame_list *out)
{
    Dwarf_Die *scopes = NULL;
    int n = dwarf_getscopes(cu, pc, &scopes);
    if (n > 0) {
        Dwarf_Addr bias;
        Dwarf *dw = dwfl_module_getdwarf(mod, &bias);
        Dwarf_Off offset = dwarf_dieoffset(&scopes[0]);
        Dwarf_Die innermost;
        free(scopes);
        scopes = NULL;
        n = dw && dwarf_offdie(dw, offset, &innermost) ? dwarf_getscopes_die(&innermost, &scopes)
                                                       : 0;
    }
    Dwarf_Files *files = NULL;
    size_t nfiles = 0;
    for (int i = 0; i < n; i++) {
        int tag = dwarf_tag(&scopes[i]);
        if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram)
            continue;
        add_frame(out, file, line, dwarf_diename(&scopes[i]));
        if (tag == DW_TAG_subprogram)
            break;
        Dwarf_Word file_index, call_line;
        if (!files && dwarf_getsrcfiles(cu, &files, &nfiles) != 0)
            break;
        if (!die_udata(&scopes[i], DW_AT_call_file, &file_index) ||
            !die_udata(&scopes[i], DW_AT_call_line, &call_line) || file_index >= nfiles)
            break;
        file = dwarf_filesrc(files, file_index, NULL, NULL);
        line = (unsigned)call_line;
        if (!file)
            break;
    }
    free(scopes);
}

/* Build the entry of pc (its strings pooled, its frames allocated). */
static bool symbolize_locked(uintptr_t pc, bool *reported, sym_entry *e)
{
    frame_list l = {.n = 0};
    const char *module = NULL, *symbol = NULL, *src = NULL;
    int lineno = 0;
    Dwarf_Addr addr = pc - 1; /* inside the call instruction */
    Dwfl_Module *mod = dwfl ? dwfl_addrmodule(dwfl, addr) : NULL;
    if (!mod && !*reported) {
        *reported = true; /* once per call: a library may have been loaded since */
        if (report_modules_locked())
            mod = dwfl_addrmodule(dwfl, addr);
    }
    if (mod) {
        module = dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
        symbol = dwfl_module_addrname(mod, addr);
        Dwfl_Line *line = dwfl_module_getsrc(mod, addr);
        src = line ? dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL) : NULL;
        Dwarf_Addr bias;
        Dwarf_Die *cu = src ? dwfl_module_addrdie(mod, addr, &bias) : NULL;
        if (cu)
            expand_inlines(mod, cu, addr - bias, src, lineno > 0 ? (unsigned)lineno : 0, &l);
    }
    if (!l.n) {
        if (src)
            add_frame(&l, src, lineno > 0 ? (unsigned)lineno : 0, symbol);
        else
            add_frame(&l, module ? module : UNKNOWN_FILE, 0, symbol);
    } else if (!l.v[l.n - 1].function) {
        l.v[l.n - 1].function = symbol;
    }

    /* dwfl's strings go with it: keep pooled copies. */
    *e = (sym_entry){.pc = pc, .n = l.n, .frames = malloc(l.n * sizeof(sym_frame))};
    if (!e->frames)
        return false;
    for (uint32_t i = 0; i < l.n; i++) {
        const char *file = intern_name_locked(l.v[i].filename);
        e->frames[i] = (sym_frame){file ? file : UNKNOWN_FILE,
                                   intern_name_locked(l.v[i].function), l.v[i].lineno};
    }
    while (e->weft_top + 1 < e->n && is_weft_path(e->frames[e->weft_top].filename, true))
        e->weft_top++;
    return true;
}

size_t _weft_trace_symbolize(const void *const *pcs, size_t n, weft_trace_frame *out,
                             size_t max)
{
    size_t k = 0;
    pthread_mutex_lock(&sym_lock);
    check_modules_locked();
    bool reported = false;
    for (size_t i = 0; i < n && k < max; i++) {
        uintptr_t pc = (uintptr_t)pcs[i];
        const sym_entry *e = sym_find_locked(pc);
        sym_entry fresh = {.pc = 0};
        if (!e) {
            if (!symbolize_locked(pc, &reported, &fresh)) {
                out[k++] = (weft_trace_frame){UNKNOWN_FILE, NULL, 0, pcs[i]};
                continue;
            }
            e = sym_store_locked(&fresh);
            if (!e)
                e = &fresh; /* not cached: used once, freed below */
        }
        /* Frame 0 is the program's: weft's inline functions inlined into it
         * (public headers) are left out, as weft's own frames are. */
        for (uint32_t j = i == 0 ? e->weft_top : 0; j < e->n && k < max; j++)
            out[k++] = (weft_trace_frame){e->frames[j].filename, e->frames[j].function,
                                          e->frames[j].lineno, pcs[i]};
        if (e == &fresh)
            free(fresh.frames);
    }
    pthread_mutex_unlock(&sym_lock);
    return k;
}
