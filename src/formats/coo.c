/* coo.c: coordinate list.
 * Layout (sp_coo): row int32 (nnz), col int32 (nnz), values (nnz) in dtype, sorted by
 * (row, col) without duplicates (kernels split work by rows through that order).
 * Bytes: nnz (8 + sizeof(value)). */
#include "fmt_common.h"

int sp_coo_from_dense(const float *w, int rows, int cols, sp_dtype dt, sp_coo *out) {
    int rc = sp_fmt_check_args("coo", w, rows, cols, dt);
    if (rc) return rc;
    memset(out, 0, sizeof *out);
    int64_t nnz = 0;
    for (size_t i = 0; i < (size_t)rows * (size_t)cols; i++) nnz += w[i] != 0.0f;
    out->rows = rows, out->cols = cols, out->nnz = nnz, out->dtype = dt, out->owns = 1;
    out->row = sp_fmt_alloc((size_t)nnz * 4);
    out->col = sp_fmt_alloc((size_t)nnz * 4);
    out->vals = sp_fmt_alloc((size_t)nnz * sp_dtype_size(dt));
    if (!out->row || !out->col || !out->vals) {
        sp_coo_free(out);
        return sp_error(SP_ERR_NOMEM, "coo: out of memory (%lld nonzeros)", (long long)nnz);
    }
    int64_t k = 0;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            float v = w[(size_t)r * cols + c];
            if (v == 0.0f) continue;
            out->row[k] = r, out->col[k] = c;
            sp_val_put(out->vals, dt, k, v);
            k++;
        }
    return 0;
}

int sp_coo_to_dense(const sp_coo *a, float *w) {
    memset(w, 0, sizeof(float) * (size_t)a->rows * (size_t)a->cols);
    for (int64_t k = 0; k < a->nnz; k++)
        w[(size_t)a->row[k] * a->cols + a->col[k]] = sp_val_get(a->vals, a->dtype, k);
    return 0;
}

int sp_coo_validate(const sp_coo *a) {
    if (!a) return sp_error(SP_ERR_FORMAT, "coo: NULL");
    int rc = sp_fmt_check_hdr("coo", a->rows, a->cols, a->dtype, a->vals, a->nnz);
    if (rc) return rc;
    if (a->nnz > (int64_t)a->rows * a->cols)
        return sp_error(SP_ERR_FORMAT, "coo: nnz %lld exceeds %dx%d", (long long)a->nnz, a->rows, a->cols);
    if (a->nnz > 0 && (!a->row || !a->col)) return sp_error(SP_ERR_FORMAT, "coo: NULL index arrays");
    int64_t prev = -1;
    for (int64_t k = 0; k < a->nnz; k++) {
        int32_t r = a->row[k], c = a->col[k];
        if (r < 0 || r >= a->rows) return sp_error(SP_ERR_FORMAT, "coo: entry %lld row %d out of range [0,%d)", (long long)k, r, a->rows);
        if (c < 0 || c >= a->cols) return sp_error(SP_ERR_FORMAT, "coo: entry %lld column %d out of range [0,%d)", (long long)k, c, a->cols);
        int64_t key = (int64_t)r * a->cols + c;
        if (key <= prev) return sp_error(SP_ERR_FORMAT, "coo: entry %lld not sorted by (row, col) or duplicate", (long long)k);
        prev = key;
    }
    return 0;
}

void sp_coo_free(sp_coo *a) {
    if (!a) return;
    if (a->owns) { free(a->row); free(a->col); free(a->vals); }
    memset(a, 0, sizeof *a);
}
