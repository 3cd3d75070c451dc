/* weft/weft.h: the whole public API. */
#ifndef WEFT_H
#define WEFT_H

#include <weft/export.h>
#include <weft/error.h>
#include <weft/mem.h>
#include <weft/heap_stats.h>
#include <weft/runtime.h>
#include <weft/object.h>
#include <weft/int.h>
#include <weft/str.h>
#include <weft/tuple.h>
#include <weft/weakref.h>
#include <weft/trace.h>
#include <weft/list.h>
#include <weft/dict.h>
#include <weft/gc.h>

#endif
