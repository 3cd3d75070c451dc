/* threads/qsbr.h: liburcu's QSBR flavour tied to weft's thread states.
 *
 * An attached thread is a registered, online RCU reader; it reports a
 * quiescent state at each safepoint and goes offline while blocked. Storage
 * that a concurrent reader may still hold (a container's old item array) is
 * freed through weft_defer_free after a grace period. */
#ifndef WEFT_THREADS_QSBR_H
#define WEFT_THREADS_QSBR_H

#include "internal/core.h"

void _weft_qsbr_thread_register(void);
void _weft_qsbr_thread_unregister(void);
void _weft_qsbr_thread_online(void);
void _weft_qsbr_thread_offline(void);
void _weft_qsbr_quiescent(void);
/* weft_defer_free of a block that free_fn (not weft_mem_free) releases. */
void _weft_defer_free_with(void *block, void (*free_fn)(void *block));
/* Hand the retired object pools (pool.h) to call_rcu; an online thread only. */
void _weft_qsbr_flush_retired_pools(void);

#endif
