/* stats.c: per-layer calibration statistics fed by the model's observer:
 * col_sq_j = sum_t x_tj^2 (Wanda) and xtx = sum_t x_t x_t^T (SparseGPT), in double. */
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "sparsity_prune.h"

enum { STATS_CHUNK = 256 }; /* tokens converted to double at a time */

sp_prune_stats *sp_prune_stats_new(int in, int need_hessian) {
    if (in <= 0) {
        sp_error(SP_ERR_ARG, "prune stats: bad input size %d", in);
        return NULL;
    }
    sp_prune_stats *s = calloc(1, sizeof *s);
    if (!s) goto oom;
    s->in = in;
    s->col_sq = calloc((size_t)in, sizeof *s->col_sq);
    if (!s->col_sq) goto oom;
    if (need_hessian) {
        s->xtx = calloc((size_t)in * (size_t)in, sizeof *s->xtx);
        if (!s->xtx) goto oom;
    }
    return s;
oom:
    sp_prune_stats_free(s);
    sp_error(SP_ERR_NOMEM, "prune stats: out of memory (in=%d, hessian=%d)", in, need_hessian);
    return NULL;
}

void sp_prune_stats_free(sp_prune_stats *s) {
    if (!s) return;
    free(s->col_sq);
    free(s->xtx);
    free(s);
}

void sp_prune_stats_reset(sp_prune_stats *s) {
    if (!s) return;
    s->n_tokens = 0;
    s->status = 0;
    memset(s->col_sq, 0, (size_t)s->in * sizeof *s->col_sq);
    if (s->xtx) memset(s->xtx, 0, (size_t)s->in * (size_t)s->in * sizeof *s->xtx);
}

/* col_sq += sum_t x_t^2; xtx (upper) += X^T X for x (n_tokens, in) */
int sp_prune_stats_add(sp_prune_stats *s, const float *x, int n_tokens) {
    if (!s || !x || n_tokens < 0) return sp_error(SP_ERR_ARG, "prune stats: NULL stats/input or negative token count");
    int in = s->in;
    double *xd = NULL;
    if (s->xtx) {
        xd = malloc((size_t)STATS_CHUNK * (size_t)in * sizeof *xd);
        if (!xd) return sp_error(SP_ERR_NOMEM, "prune stats: out of memory");
    }
    for (int t0 = 0; t0 < n_tokens; t0 += STATS_CHUNK) {
        int nt = n_tokens - t0 < STATS_CHUNK ? n_tokens - t0 : STATS_CHUNK;
        for (int t = 0; t < nt; t++) {
            const float *row = x + (size_t)(t0 + t) * (size_t)in;
            for (int j = 0; j < in; j++) {
                double v = row[j];
                s->col_sq[j] += v * v;
                if (xd) xd[(size_t)t * in + j] = v;
            }
        }
        if (xd)
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, in, nt, 1.0, xd, in, 1.0, s->xtx, in);
    }
    free(xd);
    s->n_tokens += n_tokens;
    return 0;
}

void sp_prune_stats_observe(void *ctx, const float *x, int n_tokens, int in) {
    sp_prune_stats *s = ctx;
    if (!s || s->status) return;
    if (in != s->in) {
        s->status = sp_error(SP_ERR_ARG, "prune stats: observed input width %d, expected %d", in, s->in);
        return;
    }
    s->status = sp_prune_stats_add(s, x, n_tokens);
}
