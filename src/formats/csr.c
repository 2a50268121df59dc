/* csr.c: compressed sparse rows.
 * Layout (sp_csr): row_ptr int64 (rows+1); column indices uint16 (col16) when
 * cols <= 65536, else int32 (col32); values (nnz) in dtype; columns strictly
 * increasing inside a row. Bytes: 8 (rows+1) + nnz (2 or 4) + nnz sizeof(value). */
#include "fmt_common.h"

int sp_csr_from_dense(const float *w, int rows, int cols, sp_dtype dt, sp_csr *out) {
    int rc = sp_fmt_check_args("csr", w, rows, cols, dt);
    if (rc) return rc;
    memset(out, 0, sizeof *out);
    int64_t nnz = 0;
    for (size_t i = 0; i < (size_t)rows * (size_t)cols; i++) nnz += w[i] != 0.0f;
    out->rows = rows, out->cols = cols, out->nnz = nnz, out->dtype = dt, out->owns = 1;
    out->row_ptr = sp_fmt_alloc(sizeof(int64_t) * ((size_t)rows + 1));
    out->vals = sp_fmt_alloc((size_t)nnz * sp_dtype_size(dt));
    if (cols <= 65536) out->col16 = sp_fmt_alloc((size_t)nnz * 2);
    else out->col32 = sp_fmt_alloc((size_t)nnz * 4);
    if (!out->row_ptr || !out->vals || (!out->col16 && !out->col32)) {
        sp_csr_free(out);
        return sp_error(SP_ERR_NOMEM, "csr: out of memory (%lld nonzeros)", (long long)nnz);
    }
    int64_t k = 0;
    for (int r = 0; r < rows; r++) {
        out->row_ptr[r] = k;
        const float *wr = w + (size_t)r * cols;
        for (int c = 0; c < cols; c++) {
            if (wr[c] == 0.0f) continue;
            if (out->col16) out->col16[k] = (uint16_t)c;
            else out->col32[k] = c;
            sp_val_put(out->vals, dt, k, wr[c]);
            k++;
        }
    }
    out->row_ptr[rows] = k;
    return 0;
}

int sp_csr_to_dense(const sp_csr *a, float *w) {
    memset(w, 0, sizeof(float) * (size_t)a->rows * (size_t)a->cols);
    for (int r = 0; r < a->rows; r++)
        for (int64_t k = a->row_ptr[r]; k < a->row_ptr[r + 1]; k++) {
            int c = a->col16 ? a->col16[k] : a->col32[k];
            w[(size_t)r * a->cols + c] = sp_val_get(a->vals, a->dtype, k);
        }
    return 0;
}

int sp_csr_validate(const sp_csr *a) {
    if (!a) return sp_error(SP_ERR_FORMAT, "csr: NULL");
    int rc = sp_fmt_check_hdr("csr", a->rows, a->cols, a->dtype, a->vals, a->nnz);
    if (rc) return rc;
    if (!a->row_ptr) return sp_error(SP_ERR_FORMAT, "csr: NULL row_ptr");
    if ((a->col16 != NULL) == (a->col32 != NULL) && a->nnz > 0)
        return sp_error(SP_ERR_FORMAT, "csr: exactly one of col16/col32 must be set");
    if (a->col16 && a->cols > 65536) return sp_error(SP_ERR_FORMAT, "csr: uint16 columns with %d columns", a->cols);
    if (a->nnz > (int64_t)a->rows * a->cols)
        return sp_error(SP_ERR_FORMAT, "csr: nnz %lld exceeds %dx%d", (long long)a->nnz, a->rows, a->cols);
    if (a->row_ptr[0] != 0) return sp_error(SP_ERR_FORMAT, "csr: row_ptr[0] = %lld, expected 0", (long long)a->row_ptr[0]);
    for (int r = 0; r < a->rows; r++) {
        int64_t b = a->row_ptr[r], e = a->row_ptr[r + 1];
        if (e < b) return sp_error(SP_ERR_FORMAT, "csr: row_ptr not monotone at row %d (%lld > %lld)", r, (long long)b, (long long)e);
        if (e > a->nnz) return sp_error(SP_ERR_FORMAT, "csr: row_ptr[%d] = %lld past nnz %lld", r + 1, (long long)e, (long long)a->nnz);
        if (e - b > a->cols) return sp_error(SP_ERR_FORMAT, "csr: row %d has %lld entries > %d columns", r, (long long)(e - b), a->cols);
        int64_t prev = -1;
        for (int64_t k = b; k < e; k++) {
            int64_t c = a->col16 ? (int64_t)a->col16[k] : (int64_t)a->col32[k];
            if (c < 0 || c >= a->cols) return sp_error(SP_ERR_FORMAT, "csr: row %d entry %lld column %lld out of range [0,%d)", r, (long long)k, (long long)c, a->cols);
            if (c <= prev) return sp_error(SP_ERR_FORMAT, "csr: row %d columns not strictly increasing at entry %lld", r, (long long)k);
            prev = c;
        }
    }
    if (a->row_ptr[a->rows] != a->nnz)
        return sp_error(SP_ERR_FORMAT, "csr: row_ptr[rows] = %lld but nnz = %lld", (long long)a->row_ptr[a->rows], (long long)a->nnz);
    return 0;
}

void sp_csr_free(sp_csr *a) {
    if (!a) return;
    if (a->owns) { free(a->row_ptr); free(a->col16); free(a->col32); free(a->vals); }
    memset(a, 0, sizeof *a);
}
