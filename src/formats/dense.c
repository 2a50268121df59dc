/* dense.c: dense values in f32, f16 or bf16 (the baseline representation).
 * Layout (sp_dense): vals (rows, cols) row-major. Bytes: rows cols sizeof(value). */
#include "fmt_common.h"

int sp_dense_from_dense(const float *w, int rows, int cols, sp_dtype dt, sp_dense *out) {
    int rc = sp_fmt_check_args("dense", w, rows, cols, dt);
    if (rc) return rc;
    memset(out, 0, sizeof *out);
    size_t n = (size_t)rows * (size_t)cols;
    out->rows = rows, out->cols = cols, out->dtype = dt, out->owns = 1;
    out->vals = sp_fmt_alloc(n * sp_dtype_size(dt));
    if (!out->vals) return sp_error(SP_ERR_NOMEM, "dense: out of memory (%dx%d)", rows, cols);
    sp_convert_from_f32(dt, w, out->vals, n);
    return 0;
}

int sp_dense_to_dense(const sp_dense *a, float *w) {
    return sp_convert_to_f32(a->dtype, a->vals, w, (size_t)a->rows * (size_t)a->cols);
}

int sp_dense_validate(const sp_dense *a) {
    if (!a) return sp_error(SP_ERR_FORMAT, "dense: NULL");
    return sp_fmt_check_hdr("dense", a->rows, a->cols, a->dtype, a->vals, (int64_t)a->rows * a->cols);
}

void sp_dense_free(sp_dense *a) {
    if (!a) return;
    if (a->owns) free(a->vals);
    memset(a, 0, sizeof *a);
}
