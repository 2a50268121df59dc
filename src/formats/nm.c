/* nm.c: N:M structured sparsity (at most n nonzeros in each group of m columns).
 *
 * 2:4 layout (n=2, m=4), SHARED WITH THE CUDA KERNELS (sparse tensor cores, mma.sp):
 *   cols % 16 == 0 (error otherwise).
 *   vals  (rows, cols/2) in dtype (F32, F16, BF16), row-major: for each group of 4
 *         consecutive columns 4g..4g+3 the 2 kept values, in ascending column order.
 *   meta  (rows, cols/16) uint16: group g of a row is the nibble at bits 4*(g%4) of
 *         meta[row][g/4]; nibble bits[1:0] = first kept index (0..3), bits[3:2] =
 *         second kept index, first < second. Valid nibbles: 0x4 (0,1), 0x8 (0,2),
 *         0xC (0,3), 0x9 (1,2), 0xD (1,3), 0xE (2,3).
 *   A group with fewer than 2 nonzeros still stores 2 values (zeros) with a valid
 *   index pair: its nonzero (if any) plus the lowest free index, ascending.
 *   Byte view (little-endian): meta byte j of a row covers columns 8j..8j+7, low
 *   nibble = group 2j. Bytes: rows cols/2 sizeof(value) + rows cols/8.
 *
 * General n:m (any 0 < n < m other than 2:4, cols % m == 0):
 *   vals  (rows, cols/m*n) in dtype, n per group, ascending column order.
 *   idx   (rows, cols/m*n) uint8: position (0..m-1) of each kept value inside its
 *         group, strictly increasing inside a group; unused slots hold 0 values at
 *         the lowest free positions. m <= 256.
 *   Bytes: rows cols/m n (sizeof(value) + 1). */
#include "fmt_common.h"

static int is24(int n, int m) { return n == 2 && m == 4; }

int sp_nm_max_per_group(const float *w, int rows, int cols, int m) {
    if (m <= 0 || cols % m) return -1;
    int best = 0;
    for (size_t i = 0; i < (size_t)rows * (size_t)cols; i += (size_t)m) {
        int k = 0;
        for (int j = 0; j < m; j++) k += w[i + j] != 0.0f;
        if (k > best) best = k;
    }
    return best;
}

int sp_nm_from_dense(const float *w, int rows, int cols, int n, int m, sp_dtype dt, sp_nm *out) {
    int rc = sp_fmt_check_args("nm", w, rows, cols, dt);
    if (rc) return rc;
    memset(out, 0, sizeof *out);
    if (n <= 0 || m <= n || m > 256) return sp_error(SP_ERR_ARG, "nm: bad pattern %d:%d (need 0 < n < m <= 256)", n, m);
    if (is24(n, m) && cols % 16) return sp_error(SP_ERR_ARG, "nm: 2:4 layout needs in %% 16 == 0, got %d columns", cols);
    if (cols % m) return sp_error(SP_ERR_ARG, "nm: %d columns not divisible by m = %d", cols, m);
    size_t kept = (size_t)cols / m * n; /* per row */
    out->rows = rows, out->cols = cols, out->n = n, out->m = m, out->dtype = dt, out->owns = 1;
    out->vals = sp_fmt_alloc((size_t)rows * kept * sp_dtype_size(dt));
    if (is24(n, m)) out->meta = sp_fmt_alloc((size_t)rows * (cols / 16) * 2);
    else out->idx = sp_fmt_alloc((size_t)rows * kept);
    if (!out->vals || (!out->meta && !out->idx)) {
        sp_nm_free(out);
        return sp_error(SP_ERR_NOMEM, "nm: out of memory (%dx%d)", rows, cols);
    }
    int pos[256];
    for (int r = 0; r < rows; r++) {
        for (int g = 0; g < cols / m; g++) {
            const float *wg = w + (size_t)r * cols + (size_t)g * m;
            int k = 0;
            for (int j = 0; j < m; j++)
                if (wg[j] != 0.0f) {
                    if (k == n) {
                        sp_nm_free(out);
                        return sp_error(SP_ERR_ARG, "nm: row %d columns %d..%d hold more than %d nonzeros (not %d:%d)",
                                        r, g * m, g * m + m - 1, n, n, m);
                    }
                    pos[k++] = j;
                }
            /* fill with the lowest free positions, then sort ascending */
            for (int j = 0; k < n; j++) {
                int used = 0;
                for (int t = 0; t < k; t++) used |= pos[t] == j;
                if (!used) pos[k++] = j;
            }
            for (int a = 1; a < n; a++)
                for (int b = a; b > 0 && pos[b - 1] > pos[b]; b--) { int t = pos[b]; pos[b] = pos[b - 1]; pos[b - 1] = t; }
            size_t base = (size_t)r * kept + (size_t)g * n;
            for (int t = 0; t < n; t++) sp_val_put(out->vals, dt, (int64_t)(base + t), wg[pos[t]]);
            if (out->meta) {
                unsigned nib = (unsigned)pos[0] | (unsigned)pos[1] << 2;
                out->meta[(size_t)r * (cols / 16) + g / 4] |= (uint16_t)(nib << (4 * (g % 4)));
            } else {
                for (int t = 0; t < n; t++) out->idx[base + t] = (uint8_t)pos[t];
            }
        }
    }
    return 0;
}

int sp_nm_to_dense(const sp_nm *a, float *w) {
    int n = a->n, m = a->m, cols = a->cols;
    size_t kept = (size_t)cols / m * n;
    memset(w, 0, sizeof(float) * (size_t)a->rows * (size_t)cols);
    for (int r = 0; r < a->rows; r++)
        for (int g = 0; g < cols / m; g++) {
            size_t base = (size_t)r * kept + (size_t)g * n;
            for (int t = 0; t < n; t++) {
                int p;
                if (a->meta) p = (a->meta[(size_t)r * (cols / 16) + g / 4] >> (4 * (g % 4) + 2 * t)) & 3;
                else p = a->idx[base + t];
                w[(size_t)r * cols + (size_t)g * m + p] = sp_val_get(a->vals, a->dtype, (int64_t)(base + t));
            }
        }
    return 0;
}

int sp_nm_validate(const sp_nm *a) {
    if (!a) return sp_error(SP_ERR_FORMAT, "nm: NULL");
    if (a->n <= 0 || a->m <= a->n || a->m > 256) return sp_error(SP_ERR_FORMAT, "nm: bad pattern %d:%d", a->n, a->m);
    if (a->cols < 0 || a->cols % a->m) return sp_error(SP_ERR_FORMAT, "nm: %d columns not divisible by m = %d", a->cols, a->m);
    int64_t kept = (int64_t)a->cols / a->m * a->n;
    int rc = sp_fmt_check_hdr("nm", a->rows, a->cols, a->dtype, a->vals, (int64_t)a->rows * kept);
    if (rc) return rc;
    if (is24(a->n, a->m)) {
        if (a->cols % 16) return sp_error(SP_ERR_FORMAT, "nm: 2:4 layout needs in %% 16 == 0, got %d", a->cols);
        if (!a->meta && (int64_t)a->rows * a->cols > 0) return sp_error(SP_ERR_FORMAT, "nm: 2:4 without meta");
        size_t nw = (size_t)a->rows * (a->cols / 16);
        for (size_t i = 0; i < nw; i++)
            for (int q = 0; q < 4; q++) {
                unsigned nib = (a->meta[i] >> (4 * q)) & 15, i0 = nib & 3, i1 = nib >> 2;
                if (i0 >= i1)
                    return sp_error(SP_ERR_FORMAT, "nm: bad 2:4 nibble 0x%X at row %zu group %zu (need first < second index)",
                                    nib, i / (a->cols / 16), (i % (a->cols / 16)) * 4 + q);
            }
        return 0;
    }
    if (!a->idx && (int64_t)a->rows * kept > 0) return sp_error(SP_ERR_FORMAT, "nm: %d:%d without idx", a->n, a->m);
    size_t ng = (size_t)a->rows * (a->cols / a->m);
    for (size_t g = 0; g < ng; g++) {
        int prev = -1;
        for (int t = 0; t < a->n; t++) {
            int p = a->idx[g * a->n + t];
            if (p >= a->m || p <= prev)
                return sp_error(SP_ERR_FORMAT, "nm: group %zu index %d out of range or not increasing (m = %d)", g, p, a->m);
            prev = p;
        }
    }
    return 0;
}

void sp_nm_free(sp_nm *a) {
    if (!a) return;
    if (a->owns) { free(a->vals); free(a->meta); free(a->idx); }
    memset(a, 0, sizeof *a);
}
