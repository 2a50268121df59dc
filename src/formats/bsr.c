/* bsr.c: block sparse rows with dense br x bc blocks.
 * Layout (sp_bsr): rows % br == 0, cols % bc == 0; block_ptr int64 (rows/br + 1);
 * block_col int32 (nnzb), strictly increasing inside a block row; vals (nnzb, br, bc)
 * row-major inside a block, in dtype. A block is stored iff it holds a nonzero.
 * Bytes: 8 (rows/br + 1) + 4 nnzb + nnzb br bc sizeof(value). */
#include "fmt_common.h"

static int block_nonzero(const float *w, int cols, int R, int C, int br, int bc) {
    for (int i = 0; i < br; i++)
        for (int j = 0; j < bc; j++)
            if (w[(size_t)(R * br + i) * cols + (size_t)C * bc + j] != 0.0f) return 1;
    return 0;
}

int sp_bsr_from_dense(const float *w, int rows, int cols, int br, int bc, sp_dtype dt, sp_bsr *out) {
    int rc = sp_fmt_check_args("bsr", w, rows, cols, dt);
    if (rc) return rc;
    memset(out, 0, sizeof *out);
    if (br <= 0 || bc <= 0) return sp_error(SP_ERR_ARG, "bsr: bad block shape %dx%d", br, bc);
    if (rows % br || cols % bc)
        return sp_error(SP_ERR_ARG, "bsr: shape %dx%d not divisible by block %dx%d", rows, cols, br, bc);
    int nbr = rows / br, nbc = cols / bc;
    int64_t nnzb = 0;
    for (int R = 0; R < nbr; R++)
        for (int C = 0; C < nbc; C++) nnzb += block_nonzero(w, cols, R, C, br, bc);
    out->rows = rows, out->cols = cols, out->br = br, out->bc = bc, out->nnzb = nnzb;
    out->dtype = dt, out->owns = 1;
    out->block_ptr = sp_fmt_alloc(8 * ((size_t)nbr + 1));
    out->block_col = sp_fmt_alloc(4 * (size_t)nnzb);
    out->vals = sp_fmt_alloc((size_t)nnzb * br * bc * sp_dtype_size(dt));
    if (!out->block_ptr || !out->block_col || !out->vals) {
        sp_bsr_free(out);
        return sp_error(SP_ERR_NOMEM, "bsr: out of memory (%lld blocks)", (long long)nnzb);
    }
    int64_t b = 0;
    for (int R = 0; R < nbr; R++) {
        out->block_ptr[R] = b;
        for (int C = 0; C < nbc; C++) {
            if (!block_nonzero(w, cols, R, C, br, bc)) continue;
            out->block_col[b] = C;
            for (int i = 0; i < br; i++)
                for (int j = 0; j < bc; j++)
                    sp_val_put(out->vals, dt, (b * br + i) * bc + j, w[(size_t)(R * br + i) * cols + (size_t)C * bc + j]);
            b++;
        }
    }
    out->block_ptr[nbr] = b;
    return 0;
}

int sp_bsr_to_dense(const sp_bsr *a, float *w) {
    memset(w, 0, sizeof(float) * (size_t)a->rows * (size_t)a->cols);
    int br = a->br, bc = a->bc;
    for (int R = 0; R < a->rows / br; R++)
        for (int64_t b = a->block_ptr[R]; b < a->block_ptr[R + 1]; b++)
            for (int i = 0; i < br; i++)
                for (int j = 0; j < bc; j++)
                    w[(size_t)(R * br + i) * a->cols + (size_t)a->block_col[b] * bc + j] =
                        sp_val_get(a->vals, a->dtype, (b * br + i) * bc + j);
    return 0;
}

int sp_bsr_validate(const sp_bsr *a) {
    if (!a) return sp_error(SP_ERR_FORMAT, "bsr: NULL");
    if (a->br <= 0 || a->bc <= 0) return sp_error(SP_ERR_FORMAT, "bsr: bad block shape %dx%d", a->br, a->bc);
    int64_t nvals = a->nnzb < 0 ? -1 : a->nnzb * a->br * a->bc;
    int rc = sp_fmt_check_hdr("bsr", a->rows, a->cols, a->dtype, a->vals, nvals);
    if (rc) return rc;
    if (a->rows % a->br || a->cols % a->bc)
        return sp_error(SP_ERR_FORMAT, "bsr: shape %dx%d not divisible by block %dx%d", a->rows, a->cols, a->br, a->bc);
    int nbr = a->rows / a->br, nbc = a->cols / a->bc;
    if (a->nnzb > (int64_t)nbr * nbc) return sp_error(SP_ERR_FORMAT, "bsr: %lld blocks exceed %dx%d grid", (long long)a->nnzb, nbr, nbc);
    if (!a->block_ptr || (a->nnzb > 0 && !a->block_col)) return sp_error(SP_ERR_FORMAT, "bsr: NULL index arrays");
    if (a->block_ptr[0] != 0) return sp_error(SP_ERR_FORMAT, "bsr: block_ptr[0] = %lld, expected 0", (long long)a->block_ptr[0]);
    for (int R = 0; R < nbr; R++) {
        int64_t b0 = a->block_ptr[R], b1 = a->block_ptr[R + 1];
        if (b1 < b0) return sp_error(SP_ERR_FORMAT, "bsr: block_ptr not monotone at block row %d", R);
        if (b1 > a->nnzb) return sp_error(SP_ERR_FORMAT, "bsr: block_ptr[%d] = %lld past nnzb %lld", R + 1, (long long)b1, (long long)a->nnzb);
        int64_t prev = -1;
        for (int64_t b = b0; b < b1; b++) {
            int32_t C = a->block_col[b];
            if (C < 0 || C >= nbc) return sp_error(SP_ERR_FORMAT, "bsr: block %lld column %d out of range [0,%d)", (long long)b, C, nbc);
            if (C <= prev) return sp_error(SP_ERR_FORMAT, "bsr: block row %d columns not strictly increasing", R);
            prev = C;
        }
    }
    if (a->block_ptr[nbr] != a->nnzb)
        return sp_error(SP_ERR_FORMAT, "bsr: block_ptr[last] = %lld but nnzb = %lld", (long long)a->block_ptr[nbr], (long long)a->nnzb);
    return 0;
}

void sp_bsr_free(sp_bsr *a) {
    if (!a) return;
    if (a->owns) { free(a->block_ptr); free(a->block_col); free(a->vals); }
    memset(a, 0, sizeof *a);
}
