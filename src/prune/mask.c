/* mask.c: the shared mask-selection core: keep the top-scoring weights per comparison
 * group (layer, row, m consecutive inputs, B x B tile), every pruner is scoring + this.
 * Rule: a group of count candidates prunes exactly floor(ratio * count), the lowest
 * scores; among equal scores the higher index is pruned first (lower index kept). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sparsity_prune.h"

typedef struct {
    double s;   /* score */
    int64_t i;  /* position (row-major within the group's numbering): the tie key */
} sp_entry;

/* order: score ascending, then index descending (the first k are pruned) */
static int entry_cmp(const void *pa, const void *pb) {
    const sp_entry *a = pa, *b = pb;
    if (a->s < b->s) return -1;
    if (a->s > b->s) return 1;
    return (a->i < b->i) - (a->i > b->i);
}

/* Sorts e (count,) and returns how many to prune: floor(ratio * count). */
static size_t sort_group(sp_entry *e, size_t count, double ratio) {
    if (count > 1) qsort(e, count, sizeof *e, entry_cmp);
    size_t k = (size_t)floor(ratio * (double)count);
    return k > count ? count : k;
}

static int check_args(const double *score, int out, int in, sp_mask_group g, double ratio,
                      int n, int m, int block, const uint8_t *keep) {
    if (!score || !keep) return sp_error(SP_ERR_ARG, "mask: NULL score or mask");
    if (out <= 0 || in <= 0) return sp_error(SP_ERR_ARG, "mask: bad shape (%d, %d)", out, in);
    if (g != SP_GROUP_NM && !(ratio >= 0.0 && ratio < 1.0))
        return sp_error(SP_ERR_ARG, "mask: sparsity ratio %g outside [0, 1)", ratio);
    if (g == SP_GROUP_NM) {
        if (!(n >= 1 && n < m)) return sp_error(SP_ERR_ARG, "mask: N:M needs 1 <= n < m (got %d:%d)", n, m);
        if (in % m) return sp_error(SP_ERR_ARG, "mask: N:M group m=%d does not divide in=%d", m, in);
    }
    if (g == SP_GROUP_BLOCK) {
        if (block <= 0) return sp_error(SP_ERR_ARG, "mask: block size %d must be positive", block);
        if (out % block || in % block)
            return sp_error(SP_ERR_ARG, "mask: block size %d does not divide shape (%d, %d)", block, out, in);
    }
    if ((int)g < SP_GROUP_LAYER || (int)g > SP_GROUP_BLOCK) return sp_error(SP_ERR_ARG, "mask: unknown group %d", (int)g);
    size_t total = (size_t)out * (size_t)in;
    for (size_t i = 0; i < total; i++)
        if (isnan(score[i]))
            return sp_error(SP_ERR_ARG, "mask: score is NaN at (%zu, %zu)", i / (size_t)in, i % (size_t)in);
    return 0;
}

/* keep (out, in) = top scores of score (out, in) per group g */
int sp_mask_select(const double *score, int out, int in, sp_mask_group g, double ratio,
                   int n, int m, int block, uint8_t *keep) {
    int rc = check_args(score, out, in, g, ratio, n, m, block, keep);
    if (rc) return rc;
    size_t total = (size_t)out * (size_t)in;
    memset(keep, 1, total);
    if (g == SP_GROUP_LAYER || g == SP_GROUP_ROW) {
        size_t gsize = g == SP_GROUP_LAYER ? total : (size_t)in;
        sp_entry *e = malloc(gsize * sizeof *e);
        if (!e) return sp_error(SP_ERR_NOMEM, "mask: out of memory (%zu entries)", gsize);
        for (size_t g0 = 0; g0 < total; g0 += gsize) {
            for (size_t i = 0; i < gsize; i++) e[i] = (sp_entry){score[g0 + i], (int64_t)(g0 + i)};
            size_t k = sort_group(e, gsize, ratio);
            for (size_t i = 0; i < k; i++) keep[e[i].i] = 0;
        }
        free(e);
    } else if (g == SP_GROUP_NM) {
        sp_entry e[256];
        sp_entry *pe = m <= 256 ? e : malloc((size_t)m * sizeof *pe);
        if (!pe) return sp_error(SP_ERR_NOMEM, "mask: out of memory");
        for (size_t g0 = 0; g0 < total; g0 += (size_t)m) {
            for (int i = 0; i < m; i++) pe[i] = (sp_entry){score[g0 + i], (int64_t)(g0 + i)};
            if (m > 1) qsort(pe, (size_t)m, sizeof *pe, entry_cmp);
            for (int i = 0; i < m - n; i++) keep[pe[i].i] = 0;
        }
        if (pe != e) free(pe);
    } else { /* SP_GROUP_BLOCK */
        int br = out / block, bc = in / block;
        size_t nt = (size_t)br * (size_t)bc;
        sp_entry *e = malloc(nt * sizeof *e);
        if (!e) return sp_error(SP_ERR_NOMEM, "mask: out of memory (%zu tiles)", nt);
        for (int a = 0; a < br; a++)
            for (int b = 0; b < bc; b++) {
                double s = 0.0; /* tile score = sum of its scores */
                for (int r = 0; r < block; r++) {
                    const double *row = score + (size_t)(a * block + r) * (size_t)in + (size_t)b * block;
                    for (int c = 0; c < block; c++) s += row[c];
                }
                size_t t = (size_t)a * bc + (size_t)b;
                e[t] = (sp_entry){s, (int64_t)t};
            }
        size_t k = sort_group(e, nt, ratio);
        for (size_t i = 0; i < k; i++) {
            int a = (int)(e[i].i / bc), b = (int)(e[i].i % bc);
            for (int r = 0; r < block; r++)
                memset(keep + (size_t)(a * block + r) * (size_t)in + (size_t)b * block, 0, (size_t)block);
        }
        free(e);
    }
    return 0;
}

int sp_mask_select_f32(const float *score, int out, int in, sp_mask_group g, double ratio,
                       int n, int m, int block, uint8_t *keep) {
    if (!score || out <= 0 || in <= 0) return sp_error(SP_ERR_ARG, "mask: NULL score or bad shape (%d, %d)", out, in);
    size_t total = (size_t)out * (size_t)in;
    double *s = malloc(total * sizeof *s);
    if (!s) return sp_error(SP_ERR_NOMEM, "mask: out of memory (%zu scores)", total);
    for (size_t i = 0; i < total; i++) s[i] = score[i];
    int rc = sp_mask_select(s, out, in, g, ratio, n, m, block, keep);
    free(s);
    return rc;
}

int sp_mask_for_config(const sp_prune_config *c, const double *score, int out, int in,
                       double ratio, sp_prune_scope method_default, uint8_t *keep) {
    switch (c->pattern) {
    case SP_PATTERN_NM:
        return sp_mask_select(score, out, in, SP_GROUP_NM, ratio, c->n, c->m, 0, keep);
    case SP_PATTERN_BLOCK:
        return sp_mask_select(score, out, in, SP_GROUP_BLOCK, ratio, 0, 0, c->block_size, keep);
    case SP_PATTERN_UNSTRUCTURED: {
        sp_prune_scope sc = c->scope == SP_SCOPE_DEFAULT ? method_default : c->scope;
        return sp_mask_select(score, out, in, sc == SP_SCOPE_ROW ? SP_GROUP_ROW : SP_GROUP_LAYER,
                              ratio, 0, 0, 0, keep);
    }
    }
    return sp_error(SP_ERR_ARG, "mask: unknown pattern %d", (int)c->pattern);
}
