/* owl.c: OWL, outlier-weighed layerwise sparsity (Yin et al. 2023, luuyin/OWL):
 * per transformer block, D = fraction of Wanda scores > owl_m * mean score (all the
 * block's linears together); blocks with more outliers are pruned less:
 *   d = (D - min D) / (max D - min D) * 2 lambda,  ratio_i = target - (d_i - mean d). */
#include <math.h>
#include <stdlib.h>

#include "sparsity_prune.h"

int sp_owl_outlier_ratio(int n_lin, const float *const *W, const int *out, const int *in,
                         const sp_prune_stats *const *stats, double owl_m, double *ratio) {
    if (n_lin <= 0 || !W || !out || !in || !stats || !ratio)
        return sp_error(SP_ERR_ARG, "owl: need at least one linear with weights and statistics");
    double sum = 0.0;
    size_t count = 0, maxn = 0;
    for (int l = 0; l < n_lin; l++) {
        if (out[l] <= 0 || in[l] <= 0) return sp_error(SP_ERR_ARG, "owl: linear %d has bad shape (%d, %d)", l, out[l], in[l]);
        size_t n = (size_t)out[l] * (size_t)in[l];
        if (n > maxn) maxn = n;
    }
    double *score = malloc(maxn * sizeof *score);
    if (!score) return sp_error(SP_ERR_NOMEM, "owl: out of memory (%zu scores)", maxn);
    int rc = 0;
    /* pass 1: mean score; pass 2: count above owl_m * mean (scores recomputed, exact same values) */
    for (int l = 0; l < n_lin && !rc; l++) {
        rc = sp_prune_wanda_score(W[l], out[l], in[l], stats[l], score);
        size_t n = (size_t)out[l] * (size_t)in[l];
        for (size_t i = 0; i < n && !rc; i++) sum += score[i];
        count += n;
    }
    double thresh = owl_m * (sum / (double)count);
    size_t above = 0;
    for (int l = 0; l < n_lin && !rc; l++) {
        rc = sp_prune_wanda_score(W[l], out[l], in[l], stats[l], score);
        size_t n = (size_t)out[l] * (size_t)in[l];
        for (size_t i = 0; i < n && !rc; i++) above += score[i] > thresh;
    }
    free(score);
    if (rc) return rc;
    *ratio = (double)above / (double)count;
    return 0;
}

int sp_owl_ratios(const double *outlier, int n_blocks, double target, double lambda,
                  double *ratios) {
    if (!outlier || !ratios || n_blocks <= 0) return sp_error(SP_ERR_ARG, "owl: need at least one block");
    if (!(target >= 0.0 && target < 1.0)) return sp_error(SP_ERR_ARG, "owl: target ratio %g outside [0, 1)", target);
    double lo = outlier[0], hi = outlier[0];
    for (int i = 0; i < n_blocks; i++) {
        if (!isfinite(outlier[i])) return sp_error(SP_ERR_ARG, "owl: outlier ratio of block %d is not finite", i);
        lo = outlier[i] < lo ? outlier[i] : lo;
        hi = outlier[i] > hi ? outlier[i] : hi;
    }
    if (hi == lo) {
        for (int i = 0; i < n_blocks; i++) ratios[i] = target;
        return 0;
    }
    double mean = 0.0;
    for (int i = 0; i < n_blocks; i++) {
        ratios[i] = (outlier[i] - lo) / (hi - lo) * 2.0 * lambda;
        mean += ratios[i];
    }
    mean /= n_blocks;
    for (int i = 0; i < n_blocks; i++) {
        ratios[i] = target - (ratios[i] - mean);
        if (!(ratios[i] >= 0.0 && ratios[i] < 1.0))
            return sp_error(SP_ERR_ARG, "owl: block %d gets sparsity %.4f outside [0, 1) (target %g, "
                                        "owl_lambda %g); lower owl_lambda", i, ratios[i], target, lambda);
    }
    return 0;
}
