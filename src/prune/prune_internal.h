/* prune_internal.h: helpers shared by the pruners inside src/prune/ (not public). */
#ifndef SP_PRUNE_INTERNAL_H
#define SP_PRUNE_INTERNAL_H

#include "sparsity_prune.h"

/* keep = mask for c's pattern from score (out, in); W[pruned] = 0. keep may be NULL. */
int sp_prune_apply_scores(const sp_prune_config *c, float *W, int out, int in, const double *score,
                          double ratio, sp_prune_scope method_default, uint8_t *keep);

#endif
