/* lib/arena_map.c: the bitmap that says which 1 MiB-aligned addresses are weft arenas.
 *
 * Ordering: the allocating thread sets an arena's bit (release) before any of
 * its blocks is handed out; a block reaches another thread only through some
 * synchronisation, so a free() of it sees the bit with a relaxed load. The bit
 * is cleared before munmap; a pointer that arrives at free() after that comes
 * from a later mapping by another allocator, and the munmap/mmap system calls
 * order the two. */
#include "arena.h"

WEFT_ATOMIC(uint64_t) _weft_arena_map[WEFT_ARENA_MAP_WORDS];

void _weft_arena_map_set(const void *arena, bool present)
{
    uintptr_t index = (uintptr_t)arena >> WEFT_ARENA_SHIFT;
    if (index >> (WEFT_ARENA_MAP_BITS - WEFT_ARENA_SHIFT))
        _weft_fatal("arena %p lies above the %d-bit address space the arena map covers",
                    arena, WEFT_ARENA_MAP_BITS);
    uint64_t bit = (uint64_t)1 << (index & 63);
    if (present)
        atomic_fetch_or_explicit(&_weft_arena_map[index >> 6], bit, memory_order_release);
    else
        atomic_fetch_and_explicit(&_weft_arena_map[index >> 6], ~bit, memory_order_release);
}
