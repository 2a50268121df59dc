/* wanda.c: Wanda (Sun et al. 2023): score = |W_ij| * ||X_j||_2 over the calibration
 * tokens, compared per output row by default; N:M and block through mask.c. */
#include <math.h>
#include <stdlib.h>

#include "prune_internal.h"

/* score (out, in) = |W_ij| * sqrt(col_sq_j) */
int sp_prune_wanda_score(const float *W, int out, int in, const sp_prune_stats *s, double *score) {
    if (!W || !score || out <= 0 || in <= 0) return sp_error(SP_ERR_ARG, "wanda: NULL weight or bad shape (%d, %d)", out, in);
    if (!s) return sp_error(SP_ERR_ARG, "wanda: needs calibration statistics (column norms), got none");
    if (s->status) return sp_error(s->status, "wanda: calibration statistics failed earlier");
    if (s->in != in) return sp_error(SP_ERR_ARG, "wanda: statistics are for %d inputs, layer has %d", s->in, in);
    if (s->n_tokens <= 0) return sp_error(SP_ERR_ARG, "wanda: calibration statistics saw no tokens");
    for (int i = 0; i < out; i++)
        for (int j = 0; j < in; j++)
            score[(size_t)i * in + j] = fabs((double)W[(size_t)i * in + j]) * sqrt(s->col_sq[j]);
    return 0;
}

int sp_prune_wanda(const sp_prune_config *c, float *W, int out, int in,
                   const sp_prune_stats *s, double ratio, uint8_t *keep) {
    if (out <= 0 || in <= 0) return sp_error(SP_ERR_ARG, "wanda: bad shape (%d, %d)", out, in);
    size_t total = (size_t)out * (size_t)in;
    double *score = malloc(total * sizeof *score);
    if (!score) return sp_error(SP_ERR_NOMEM, "wanda: out of memory (%zu scores)", total);
    int rc = sp_prune_wanda_score(W, out, in, s, score);
    if (!rc) rc = sp_prune_apply_scores(c, W, out, in, score, ratio, SP_SCOPE_ROW, keep);
    free(score);
    return rc;
}
