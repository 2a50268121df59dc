/* magnitude.c: magnitude pruning: score = |W|, compared layer-wide by default
 * (the SparseGPT/Wanda baseline) or per row (scope "row"). */
#include <math.h>
#include <stdlib.h>

#include "prune_internal.h"

/* score (out, in) = |W| */
int sp_prune_magnitude_score(const float *W, int out, int in, double *score) {
    if (!W || !score || out <= 0 || in <= 0) return sp_error(SP_ERR_ARG, "magnitude: NULL weight or bad shape (%d, %d)", out, in);
    size_t total = (size_t)out * (size_t)in;
    for (size_t i = 0; i < total; i++) score[i] = fabs((double)W[i]);
    return 0;
}

int sp_prune_magnitude(const sp_prune_config *c, float *W, int out, int in, double ratio,
                       uint8_t *keep) {
    size_t total = (size_t)out * (size_t)in;
    if (out <= 0 || in <= 0) return sp_error(SP_ERR_ARG, "magnitude: bad shape (%d, %d)", out, in);
    double *score = malloc(total * sizeof *score);
    if (!score) return sp_error(SP_ERR_NOMEM, "magnitude: out of memory (%zu scores)", total);
    int rc = sp_prune_magnitude_score(W, out, in, score);
    if (!rc) rc = sp_prune_apply_scores(c, W, out, in, score, ratio, SP_SCOPE_LAYER, keep);
    free(score);
    return rc;
}
