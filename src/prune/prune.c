/* prune.c: sp_prune_layer, the one entry point calibration calls per linear layer:
 * checks the config against the layer, picks the ratio, dispatches to the method. */
#include <stdlib.h>

#include "prune_internal.h"

int sp_prune_apply_scores(const sp_prune_config *c, float *W, int out, int in, const double *score,
                          double ratio, sp_prune_scope method_default, uint8_t *keep) {
    size_t total = (size_t)out * (size_t)in;
    uint8_t *k = keep ? keep : malloc(total);
    if (!k) return sp_error(SP_ERR_NOMEM, "prune: out of memory (%zu mask bytes)", total);
    int rc = sp_mask_for_config(c, score, out, in, ratio, method_default, k);
    if (!rc)
        for (size_t i = 0; i < total; i++)
            if (!k[i]) W[i] = 0.0f;
    if (k != keep) free(k);
    return rc;
}

int sp_prune_layer(const sp_prune_config *c, float *W, int out, int in,
                   const sp_prune_stats *stats, double ratio_override, uint8_t *keep) {
    if (!c || !W) return sp_error(SP_ERR_ARG, "prune: NULL config or weight");
    int rc = sp_prune_config_validate(c);
    if (rc) return rc;
    rc = sp_prune_config_check_layer(c, "(prune_layer)", out, in);
    if (rc) return rc;
    double ratio = ratio_override >= 0.0 ? ratio_override : c->sparsity_ratio;
    if (c->pattern == SP_PATTERN_NM) ratio = 1.0 - (double)c->n / c->m;
    else if (!(ratio >= 0.0 && ratio < 1.0))
        return sp_error(SP_ERR_ARG, "prune: sparsity ratio %g outside [0, 1)", ratio);
    switch (c->method) {
    case SP_PRUNE_MAGNITUDE: return sp_prune_magnitude(c, W, out, in, ratio, keep);
    case SP_PRUNE_WANDA: return sp_prune_wanda(c, W, out, in, stats, ratio, keep);
    case SP_PRUNE_SPARSEGPT: return sp_prune_sparsegpt(c, W, out, in, stats, ratio, keep);
    }
    return sp_error(SP_ERR_ARG, "prune: unknown method %d", (int)c->method);
}
