/* bitmap.c: one bit per weight plus the nonzeros packed in row order.
 * Layout (sp_bitmap):
 *   bits    uint64 (rows, row_words), row_words = ceil(cols/64); weight (r, c) is
 *           bit c%64 of bits[r*row_words + c/64]; on a little-endian machine that is
 *           bit c%8 of byte c/8 of the row, so a kernel may read the row's mask as
 *           bytes, u16 or u32 words (16/32 columns). Bits past cols are 0.
 *   row_off int64 (rows+1): row r's values are vals[row_off[r] .. row_off[r+1]-1]
 *           (so rows can be processed in parallel).
 *   vals    (nnz) in dtype, in column order within each row.
 * Bytes: 8 rows row_words + 8 (rows+1) + nnz sizeof(value).
 * (SparAMX interleaves 16 rows per mask word for AMX/dpbf16; we keep rows separate:
 * the row-wise expand kernel already reaches the memory bound, see bench/NOTES.md.) */
#include "fmt_common.h"

int sp_bitmap_from_dense(const float *w, int rows, int cols, sp_dtype dt, sp_bitmap *out) {
    int rc = sp_fmt_check_args("bitmap", w, rows, cols, dt);
    if (rc) return rc;
    memset(out, 0, sizeof *out);
    int64_t nnz = 0;
    for (size_t i = 0; i < (size_t)rows * (size_t)cols; i++) nnz += w[i] != 0.0f;
    out->rows = rows, out->cols = cols, out->nnz = nnz, out->dtype = dt, out->owns = 1;
    out->row_words = ((int64_t)cols + 63) / 64;
    out->bits = sp_fmt_alloc(8 * (size_t)rows * (size_t)out->row_words);
    out->row_off = sp_fmt_alloc(8 * ((size_t)rows + 1));
    out->vals = sp_fmt_alloc((size_t)nnz * sp_dtype_size(dt));
    if (!out->bits || !out->row_off || !out->vals) {
        sp_bitmap_free(out);
        return sp_error(SP_ERR_NOMEM, "bitmap: out of memory (%lld nonzeros)", (long long)nnz);
    }
    int64_t k = 0;
    for (int r = 0; r < rows; r++) {
        out->row_off[r] = k;
        uint64_t *br = out->bits + (size_t)r * out->row_words;
        for (int c = 0; c < cols; c++) {
            float v = w[(size_t)r * cols + c];
            if (v == 0.0f) continue;
            br[c / 64] |= 1ull << (c % 64);
            sp_val_put(out->vals, dt, k++, v);
        }
    }
    out->row_off[rows] = k;
    return 0;
}

int sp_bitmap_to_dense(const sp_bitmap *a, float *w) {
    for (int r = 0; r < a->rows; r++) {
        const uint64_t *br = a->bits + (size_t)r * a->row_words;
        int64_t k = a->row_off[r];
        for (int c = 0; c < a->cols; c++)
            w[(size_t)r * a->cols + c] = (br[c / 64] >> (c % 64)) & 1 ? sp_val_get(a->vals, a->dtype, k++) : 0.0f;
    }
    return 0;
}

int sp_bitmap_validate(const sp_bitmap *a) {
    if (!a) return sp_error(SP_ERR_FORMAT, "bitmap: NULL");
    int rc = sp_fmt_check_hdr("bitmap", a->rows, a->cols, a->dtype, a->vals, a->nnz);
    if (rc) return rc;
    if (a->row_words != ((int64_t)a->cols + 63) / 64)
        return sp_error(SP_ERR_FORMAT, "bitmap: row_words %lld, expected %lld for %d columns", (long long)a->row_words, ((long long)a->cols + 63) / 64, a->cols);
    if (a->nnz > (int64_t)a->rows * a->cols) return sp_error(SP_ERR_FORMAT, "bitmap: nnz %lld exceeds %dx%d", (long long)a->nnz, a->rows, a->cols);
    if ((!a->bits && a->rows * a->row_words > 0) || !a->row_off) return sp_error(SP_ERR_FORMAT, "bitmap: NULL arrays");
    if (a->row_off[0] != 0) return sp_error(SP_ERR_FORMAT, "bitmap: row_off[0] = %lld, expected 0", (long long)a->row_off[0]);
    int tail = a->cols % 64;
    for (int r = 0; r < a->rows; r++) {
        const uint64_t *br = a->bits + (size_t)r * a->row_words;
        int64_t cnt = 0;
        for (int64_t j = 0; j < a->row_words; j++) cnt += __builtin_popcountll(br[j]);
        if (tail && (br[a->row_words - 1] >> tail))
            return sp_error(SP_ERR_FORMAT, "bitmap: row %d has bits set past column %d", r, a->cols);
        int64_t b = a->row_off[r], e = a->row_off[r + 1];
        if (e < b) return sp_error(SP_ERR_FORMAT, "bitmap: row_off not monotone at row %d", r);
        if (e > a->nnz) return sp_error(SP_ERR_FORMAT, "bitmap: row_off[%d] = %lld past nnz %lld", r + 1, (long long)e, (long long)a->nnz);
        if (e - b != cnt) return sp_error(SP_ERR_FORMAT, "bitmap: row %d has %lld bits set but %lld values", r, (long long)cnt, (long long)(e - b));
    }
    if (a->row_off[a->rows] != a->nnz)
        return sp_error(SP_ERR_FORMAT, "bitmap: row_off[rows] = %lld but nnz = %lld", (long long)a->row_off[a->rows], (long long)a->nnz);
    return 0;
}

void sp_bitmap_free(sp_bitmap *a) {
    if (!a) return;
    if (a->owns) { free(a->bits); free(a->row_off); free(a->vals); }
    memset(a, 0, sizeof *a);
}
