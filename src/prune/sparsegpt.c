/* sparsegpt.c: SparseGPT (Frantar & Alistarh 2023), following IST-DASLab/sparsegpt
 * fasterprune():
 *   H = 2/N sum_t x_t x_t^T (N calibration tokens; the reference's running average,
 *       here summed in double and scaled once), dead inputs (H_jj = 0): H_jj = 1, W[:,j] = 0,
 *   H += percdamp * mean(diag H) I,  U = chol_upper(H^-1)  (H^-1 = U^T U),
 *   for each block of B columns (B = sparsegpt_blocksize, default 128):
 *     mask: unstructured prunes floor(ratio * out * B) of w^2 / U_jj^2 over the whole
 *           block (all rows compete; scope "row": per row), block pattern prunes tiles of
 *           the block, N:M keeps n of each m at the start of each group (current weights),
 *     column by column: err = (w - q) / U_jj,  W[:, j+1:blockend] -= err U[j, j+1:blockend],
 *     then the lazy batch update W[:, blockend:] -= Err U[block, blockend:].
 * Differences from the reference: the unstructured mask prunes exactly floor(ratio *
 * count) (the reference's `<= thresh` prunes one more, and ties), and B is rounded to a
 * multiple of m (N:M) or of the tile size (block) so groups never straddle blocks.
 * Everything runs in double (W converted in, rounded to float once at the end). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "prune_internal.h"

/* U (in, in) upper with U^T U = (H + damp I)^-1; W columns of dead inputs zeroed. */
static int sparsegpt_hinv(const sp_prune_stats *s, double percdamp, double *Wd, int out, double *U) {
    int in = s->in;
    double scale = 2.0 / (double)s->n_tokens;
    for (int i = 0; i < in; i++)
        for (int j = i; j < in; j++) {
            double v = scale * s->xtx[(size_t)i * in + j];
            U[(size_t)i * in + j] = v;
            U[(size_t)j * in + i] = v;
        }
    double mean = 0.0;
    for (int j = 0; j < in; j++) {
        double *d = &U[(size_t)j * in + j];
        if (*d == 0.0) {
            *d = 1.0;
            for (int r = 0; r < out; r++) Wd[(size_t)r * in + j] = 0.0;
        }
        mean += *d;
    }
    double damp = percdamp * mean / in;
    for (int j = 0; j < in; j++) U[(size_t)j * in + j] += damp;
    lapack_int info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', in, U, in);
    if (info == 0) info = LAPACKE_dpotri(LAPACK_ROW_MAJOR, 'L', in, U, in);
    if (info != 0)
        return sp_error(SP_ERR_ARG, "sparsegpt: Hessian not positive definite (LAPACK info %d); "
                                    "raise percdamp or use more calibration tokens", (int)info);
    for (int i = 0; i < in; i++) /* mirror the lower triangle of H^-1 into the upper */
        for (int j = i + 1; j < in; j++) U[(size_t)i * in + j] = U[(size_t)j * in + i];
    info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'U', in, U, in);
    if (info != 0)
        return sp_error(SP_ERR_ARG, "sparsegpt: inverse Hessian not positive definite (LAPACK info %d); "
                                    "raise percdamp", (int)info);
    for (int i = 1; i < in; i++) memset(U + (size_t)i * in, 0, (size_t)i * sizeof *U);
    return 0;
}

/* tmp (out, cnt) = W1[:, c0:c0+cnt]^2 / U_jj^2, W1 with row stride ld */
static void obs_scores(const double *W1, int ld, int out, int c0, int cnt, const double *dg, double *tmp) {
    for (int r = 0; r < out; r++)
        for (int j = 0; j < cnt; j++) {
            double w = W1[(size_t)r * ld + c0 + j], d = dg[c0 + j];
            tmp[(size_t)r * cnt + j] = w * w / (d * d);
        }
}

int sp_prune_sparsegpt(const sp_prune_config *c, float *W, int out, int in,
                       const sp_prune_stats *s, double ratio, uint8_t *keep) {
    if (!c || !W || out <= 0 || in <= 0) return sp_error(SP_ERR_ARG, "sparsegpt: NULL weight or bad shape (%d, %d)", out, in);
    if (!s || !s->xtx) return sp_error(SP_ERR_ARG, "sparsegpt: needs calibration statistics with X^T X (stats_new(in, 1))");
    if (s->status) return sp_error(s->status, "sparsegpt: calibration statistics failed earlier");
    if (s->in != in) return sp_error(SP_ERR_ARG, "sparsegpt: statistics are for %d inputs, layer has %d", s->in, in);
    if (s->n_tokens <= 0) return sp_error(SP_ERR_ARG, "sparsegpt: calibration statistics saw no tokens");
    int rc = sp_prune_config_check_layer(c, "(sparsegpt)", out, in);
    if (rc) return rc;
    int bs = c->sparsegpt_blocksize;
    int unit = c->pattern == SP_PATTERN_NM ? c->m : c->pattern == SP_PATTERN_BLOCK ? c->block_size : 1;
    bs = bs >= unit ? bs / unit * unit : unit;
    if (bs > in) bs = in;

    size_t total = (size_t)out * (size_t)in;
    double *Wd = malloc(total * sizeof *Wd);
    double *U = malloc((size_t)in * (size_t)in * sizeof *U);
    double *dg = malloc((size_t)in * sizeof *dg);
    double *W1 = malloc((size_t)out * (size_t)bs * sizeof *W1);
    double *Err = malloc((size_t)out * (size_t)bs * sizeof *Err);
    double *tmp = malloc((size_t)out * (size_t)bs * sizeof *tmp);
    uint8_t *m1 = malloc((size_t)out * (size_t)bs);
    uint8_t *g1 = c->pattern == SP_PATTERN_NM ? malloc((size_t)out * (size_t)c->m) : NULL;
    if (!Wd || !U || !dg || !W1 || !Err || !tmp || !m1 || (c->pattern == SP_PATTERN_NM && !g1)) {
        rc = sp_error(SP_ERR_NOMEM, "sparsegpt: out of memory (layer %d x %d)", out, in);
        goto done;
    }
    for (size_t i = 0; i < total; i++) Wd[i] = W[i];
    rc = sparsegpt_hinv(s, c->percdamp, Wd, out, U);
    if (rc) goto done;
    for (int j = 0; j < in; j++) dg[j] = U[(size_t)j * in + j];

    for (int i1 = 0; i1 < in; i1 += bs) {
        int cnt = in - i1 < bs ? in - i1 : bs, i2 = i1 + cnt;
        for (int r = 0; r < out; r++) memcpy(W1 + (size_t)r * cnt, Wd + (size_t)r * in + i1, (size_t)cnt * sizeof *W1);
        if (c->pattern == SP_PATTERN_UNSTRUCTURED) {
            obs_scores(W1, cnt, out, 0, cnt, dg + i1, tmp);
            rc = sp_mask_select(tmp, out, cnt, c->scope == SP_SCOPE_ROW ? SP_GROUP_ROW : SP_GROUP_LAYER,
                                ratio, 0, 0, 0, m1);
        } else if (c->pattern == SP_PATTERN_BLOCK) {
            obs_scores(W1, cnt, out, 0, cnt, dg + i1, tmp);
            rc = sp_mask_select(tmp, out, cnt, SP_GROUP_BLOCK, ratio, 0, 0, c->block_size, m1);
        }
        if (rc) goto done;
        for (int i = 0; i < cnt; i++) {
            if (c->pattern == SP_PATTERN_NM && i % c->m == 0) { /* choose this group's mask now */
                obs_scores(W1, cnt, out, i, c->m, dg + i1, tmp);
                rc = sp_mask_select(tmp, out, c->m, SP_GROUP_NM, 0.0, c->n, c->m, 0, g1);
                if (rc) goto done;
                for (int r = 0; r < out; r++) memcpy(m1 + (size_t)r * cnt + i, g1 + (size_t)r * c->m, (size_t)c->m);
            }
            double d = U[(size_t)(i1 + i) * in + i1 + i];
            int any = 0;
            for (int r = 0; r < out; r++) {
                double *w = &W1[(size_t)r * cnt + i];
                double q = m1[(size_t)r * cnt + i] ? *w : 0.0;
                double e = (*w - q) / d;
                Err[(size_t)r * cnt + i] = e;
                any |= e != 0.0;
                *w = q;
            }
            /* W1[:, i+1:] -= err U[i, i+1:i2] */
            if (any && i + 1 < cnt)
                cblas_dger(CblasRowMajor, out, cnt - i - 1, -1.0, Err + i, cnt,
                           U + (size_t)(i1 + i) * in + i1 + i + 1, 1, W1 + i + 1, cnt);
        }
        for (int r = 0; r < out; r++) {
            memcpy(Wd + (size_t)r * in + i1, W1 + (size_t)r * cnt, (size_t)cnt * sizeof *W1);
            if (keep) memcpy(keep + (size_t)r * in + i1, m1 + (size_t)r * cnt, (size_t)cnt);
        }
        /* lazy batch update: W[:, i2:] -= Err U[i1:i2, i2:] */
        if (i2 < in)
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, out, in - i2, cnt, -1.0, Err, cnt,
                        U + (size_t)i1 * in + i2, in, 1.0, Wd + i2, in);
    }
    for (size_t i = 0; i < total; i++) W[i] = (float)Wd[i];
done:
    free(Wd), free(U), free(dg), free(W1), free(Err), free(tmp), free(m1), free(g1);
    return rc;
}
