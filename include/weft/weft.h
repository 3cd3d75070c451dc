/* weft/weft.h: the whole public API. */
#ifndef WEFT_H
#define WEFT_H

#include <weft/export.h>
#include <weft/error.h>
#include <weft/mem.h>
#include <weft/heap_stats.h>

#endif
