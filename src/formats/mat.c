/* mat.c: the tagged matrix (sp_mat): one switch per operation over the formats. */
#include <stdio.h>

#include "fmt_common.h"

static const char *const fmt_names[SP_FMT_COUNT] = {"dense", "csr", "coo", "bsr", "bitmap", "nm"};

const char *sp_fmt_name(sp_fmt f) {
    if (f == SP_FMT_AUTO) return "auto";
    return (unsigned)f < SP_FMT_COUNT ? fmt_names[f] : "?";
}

int sp_fmt_from_name(const char *name) {
    if (!strcmp(name, "auto")) return SP_FMT_AUTO;
    if (!strcmp(name, "2:4") || !strcmp(name, "24")) return SP_FMT_NM;
    for (int i = 0; i < SP_FMT_COUNT; i++)
        if (!strcmp(name, fmt_names[i])) return i;
    return sp_error(SP_ERR_ARG, "unknown format '%s' (dense, csr, coo, bsr, bitmap, nm, 2:4, auto)", name);
}

int sp_mat_from_dense(const float *w, int rows, int cols, sp_fmt fmt, sp_dtype dt,
                      const sp_fmt_params *p, sp_mat *out) {
    memset(out, 0, sizeof *out);
    out->fmt = fmt;
    int br = p && p->br > 0 ? p->br : 4, bc = p && p->bc > 0 ? p->bc : 16;
    int n = p && p->n > 0 ? p->n : 2, m = p && p->m > 0 ? p->m : 4;
    switch (fmt) {
    case SP_FMT_DENSE: return sp_dense_from_dense(w, rows, cols, dt, &out->u.dense);
    case SP_FMT_CSR: return sp_csr_from_dense(w, rows, cols, dt, &out->u.csr);
    case SP_FMT_COO: return sp_coo_from_dense(w, rows, cols, dt, &out->u.coo);
    case SP_FMT_BSR: return sp_bsr_from_dense(w, rows, cols, br, bc, dt, &out->u.bsr);
    case SP_FMT_BITMAP: return sp_bitmap_from_dense(w, rows, cols, dt, &out->u.bitmap);
    case SP_FMT_NM: return sp_nm_from_dense(w, rows, cols, n, m, dt, &out->u.nm);
    default: return sp_error(SP_ERR_ARG, "mat: unknown format %d", (int)fmt);
    }
}

int sp_mat_to_dense(const sp_mat *a, float *w) {
    switch (a->fmt) {
    case SP_FMT_DENSE: return sp_dense_to_dense(&a->u.dense, w);
    case SP_FMT_CSR: return sp_csr_to_dense(&a->u.csr, w);
    case SP_FMT_COO: return sp_coo_to_dense(&a->u.coo, w);
    case SP_FMT_BSR: return sp_bsr_to_dense(&a->u.bsr, w);
    case SP_FMT_BITMAP: return sp_bitmap_to_dense(&a->u.bitmap, w);
    case SP_FMT_NM: return sp_nm_to_dense(&a->u.nm, w);
    default: return sp_error(SP_ERR_ARG, "mat: unknown format %d", (int)a->fmt);
    }
}

int sp_mat_validate(const sp_mat *a) {
    switch (a->fmt) {
    case SP_FMT_DENSE: return sp_dense_validate(&a->u.dense);
    case SP_FMT_CSR: return sp_csr_validate(&a->u.csr);
    case SP_FMT_COO: return sp_coo_validate(&a->u.coo);
    case SP_FMT_BSR: return sp_bsr_validate(&a->u.bsr);
    case SP_FMT_BITMAP: return sp_bitmap_validate(&a->u.bitmap);
    case SP_FMT_NM: return sp_nm_validate(&a->u.nm);
    default: return sp_error(SP_ERR_FORMAT, "mat: unknown format %d", (int)a->fmt);
    }
}

void sp_mat_free(sp_mat *a) {
    if (!a) return;
    switch (a->fmt) {
    case SP_FMT_DENSE: sp_dense_free(&a->u.dense); break;
    case SP_FMT_CSR: sp_csr_free(&a->u.csr); break;
    case SP_FMT_COO: sp_coo_free(&a->u.coo); break;
    case SP_FMT_BSR: sp_bsr_free(&a->u.bsr); break;
    case SP_FMT_BITMAP: sp_bitmap_free(&a->u.bitmap); break;
    case SP_FMT_NM: sp_nm_free(&a->u.nm); break;
    default: break;
    }
}

/* rows and cols sit first in every member struct */
int sp_mat_rows(const sp_mat *a) { return a->u.dense.rows; }
int sp_mat_cols(const sp_mat *a) { return a->u.dense.cols; }

static sp_dtype mat_dtype(const sp_mat *a) {
    switch (a->fmt) {
    case SP_FMT_DENSE: return a->u.dense.dtype;
    case SP_FMT_CSR: return a->u.csr.dtype;
    case SP_FMT_COO: return a->u.coo.dtype;
    case SP_FMT_BSR: return a->u.bsr.dtype;
    case SP_FMT_BITMAP: return a->u.bitmap.dtype;
    default: return a->u.nm.dtype;
    }
}

size_t sp_mat_bytes(const sp_mat *a) {
    size_t vs = sp_dtype_size(mat_dtype(a)), rows = (size_t)sp_mat_rows(a), cols = (size_t)sp_mat_cols(a);
    switch (a->fmt) {
    case SP_FMT_DENSE: return rows * cols * vs;
    case SP_FMT_CSR: return 8 * (rows + 1) + (size_t)a->u.csr.nnz * ((a->u.csr.col16 ? 2 : 4) + vs);
    case SP_FMT_COO: return (size_t)a->u.coo.nnz * (8 + vs);
    case SP_FMT_BSR: {
        const sp_bsr *b = &a->u.bsr;
        return 8 * (rows / b->br + 1) + (size_t)b->nnzb * (4 + (size_t)b->br * b->bc * vs);
    }
    case SP_FMT_BITMAP:
        return 8 * rows * (size_t)a->u.bitmap.row_words + 8 * (rows + 1) + (size_t)a->u.bitmap.nnz * vs;
    case SP_FMT_NM: {
        const sp_nm *q = &a->u.nm;
        size_t kept = rows * (cols / q->m * q->n);
        return kept * vs + (q->meta ? rows * cols / 8 : kept);
    }
    default: return 0;
    }
}

void sp_mat_describe(const sp_mat *a, char *buf, size_t n) {
    const char *dt = mat_dtype(a) == SP_DTYPE_F32 ? "f32" : mat_dtype(a) == SP_DTYPE_BF16 ? "bf16" : "f16";
    if (a->fmt == SP_FMT_BSR) snprintf(buf, n, "bsr %dx%d %s", a->u.bsr.br, a->u.bsr.bc, dt);
    else if (a->fmt == SP_FMT_NM) snprintf(buf, n, "nm %d:%d %s", a->u.nm.n, a->u.nm.m, dt);
    else snprintf(buf, n, "%s %s", sp_fmt_name(a->fmt), dt);
}
