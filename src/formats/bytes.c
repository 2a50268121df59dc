/* bytes.c: how many bytes each representation of a weight takes, and the smallest.
 * Sizes count every array as laid out in sparsity_formats.h (no struct headers). */
#include "fmt_common.h"

static int64_t count_nnz(const float *w, size_t n) {
    int64_t k = 0;
    for (size_t i = 0; i < n; i++) k += w[i] != 0.0f;
    return k;
}

size_t sp_fmt_bytes(const float *w, int rows, int cols, sp_fmt fmt, sp_dtype dt, const sp_fmt_params *p) {
    if (!sp_fmt_dtype_ok(dt) || rows < 0 || cols < 0) return 0;
    size_t vs = sp_dtype_size(dt), R = (size_t)rows, C = (size_t)cols;
    switch (fmt) {
    case SP_FMT_DENSE: return R * C * vs;
    case SP_FMT_CSR: return 8 * (R + 1) + (size_t)count_nnz(w, R * C) * ((cols <= 65536 ? 2 : 4) + vs);
    case SP_FMT_COO: return (size_t)count_nnz(w, R * C) * (8 + vs);
    case SP_FMT_BITMAP: return 8 * R * ((C + 63) / 64) + 8 * (R + 1) + (size_t)count_nnz(w, R * C) * vs;
    case SP_FMT_BSR: {
        int br = p && p->br > 0 ? p->br : 4, bc = p && p->bc > 0 ? p->bc : 16;
        if (rows % br || cols % bc) return 0;
        size_t nnzb = 0;
        for (int Rb = 0; Rb < rows / br; Rb++)
            for (int Cb = 0; Cb < cols / bc; Cb++) {
                int any = 0;
                for (int i = 0; i < br && !any; i++)
                    for (int j = 0; j < bc; j++)
                        if (w[(size_t)(Rb * br + i) * C + (size_t)Cb * bc + j] != 0.0f) { any = 1; break; }
                nnzb += any;
            }
        return 8 * (R / br + 1) + nnzb * (4 + (size_t)br * bc * vs);
    }
    case SP_FMT_NM: {
        int n = p && p->n > 0 ? p->n : 2, m = p && p->m > 0 ? p->m : 4;
        if (n <= 0 || m <= n || m > 256 || cols % m || (n == 2 && m == 4 && cols % 16)) return 0;
        if (sp_nm_max_per_group(w, rows, cols, m) > n) return 0;
        size_t kept = R * (C / m * n);
        return kept * vs + (n == 2 && m == 4 ? R * C / 8 : kept);
    }
    default: return 0;
    }
}

sp_fmt sp_fmt_smallest(const float *w, int rows, int cols, sp_dtype dt, const sp_fmt_params *p, size_t *bytes) {
    sp_fmt best = SP_FMT_DENSE;
    size_t bb = sp_fmt_bytes(w, rows, cols, SP_FMT_DENSE, dt, p);
    for (int f = SP_FMT_CSR; f < SP_FMT_COUNT; f++) {
        size_t b = sp_fmt_bytes(w, rows, cols, (sp_fmt)f, dt, p);
        if (b && b < bb) bb = b, best = (sp_fmt)f;
    }
    if (bytes) *bytes = bb;
    return best;
}
