/* cpu.c: CPU feature level, x preparation, and the threaded dispatcher for every
 * format: gemv splits work units (rows) into one contiguous range per thread
 * (one sequential weight stream each); gemm runs one gemv per token for few
 * tokens, else decodes row panels to f32 and calls cblas_sgemm. */
#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <strings.h>

#include "kernels/cpu/cpu_kernels.h"

static int g_level = -1;

sp_cpu_level sp_cpu_best(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vbmi2") && __builtin_cpu_supports("bmi2") &&
        __builtin_cpu_supports("fma") && __builtin_cpu_supports("popcnt"))
        return SP_CPU_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2") &&
        __builtin_cpu_supports("popcnt"))
        return SP_CPU_AVX2; /* F16C ships with every AVX2 CPU */
    return SP_CPU_REF;
}

const char *sp_cpu_level_name(sp_cpu_level lv) {
    return lv == SP_CPU_AVX512 ? "avx512" : lv == SP_CPU_AVX2 ? "avx2" : "ref";
}

sp_cpu_level sp_cpu_get_level(void) {
    if (g_level < 0) {
        int lv = sp_cpu_best();
        const char *e = getenv("SP_CPU_LEVEL");
        if (e) {
            int want = !strcasecmp(e, "ref") ? SP_CPU_REF : !strcasecmp(e, "avx2") ? SP_CPU_AVX2 : SP_CPU_AVX512;
            if (want < lv) lv = want;
        }
        g_level = lv;
    }
    return (sp_cpu_level)g_level;
}

int sp_cpu_set_level(sp_cpu_level lv) {
    if ((int)lv < 0 || lv > sp_cpu_best())
        return sp_error(SP_ERR_UNSUPPORTED, "cpu: level %s not supported by this CPU (best %s)",
                        sp_cpu_level_name(lv), sp_cpu_level_name(sp_cpu_best()));
    g_level = lv;
    return 0;
}

static sp_rows_fn rows_fn(const sp_mat *a, sp_cpu_level lv) {
    switch (a->fmt) {
    case SP_FMT_DENSE: return sp_cpu_dense_rows(a, lv);
    case SP_FMT_CSR: return sp_cpu_csr_rows(a, lv);
    case SP_FMT_COO: return sp_cpu_coo_rows(a, lv);
    case SP_FMT_BSR: return sp_cpu_bsr_rows(a, lv);
    case SP_FMT_BITMAP: return sp_cpu_bitmap_rows(a, lv);
    case SP_FMT_NM: return sp_cpu_nm_rows(a, lv);
    default: return NULL;
    }
}

static sp_decode_fn decode_fn(const sp_mat *a, sp_cpu_level lv) {
    switch (a->fmt) {
    case SP_FMT_DENSE: return sp_cpu_dense_decode(a, lv);
    case SP_FMT_BITMAP: return sp_cpu_bitmap_decode(a, lv);
    case SP_FMT_NM: return sp_cpu_nm_decode(a, lv);
    default: return sp_cpu_decode_ref;
    }
}

static int units(const sp_mat *a) { return a->fmt == SP_FMT_BSR ? a->u.bsr.rows / a->u.bsr.br : sp_mat_rows(a); }

static const char *kname[SP_FMT_COUNT][3] = {
    [SP_FMT_DENSE] = {"dense-ref", "dense-avx2", "dense-avx512"},
    [SP_FMT_CSR] = {"csr-ref", "csr-avx2-gather", "csr-avx512-gather"},
    [SP_FMT_COO] = {"coo-ref", "coo-avx2-gather", "coo-avx512-gather"},
    [SP_FMT_BSR] = {"bsr-ref", "bsr-avx2", "bsr-avx512"},
    [SP_FMT_BITMAP] = {"bitmap-ref", "bitmap-avx2-lut", "bitmap-avx512-expand"},
    [SP_FMT_NM] = {"nm-ref", "nm-avx2-gather", "nm-avx512-gather"},
};

const char *sp_cpu_kernel_name(const sp_mat *a, sp_cpu_level lv) {
    if (a->fmt == SP_FMT_NM && a->u.nm.meta)
        return lv == SP_CPU_AVX512 ? "nm24-avx512-expand" : lv == SP_CPU_AVX2 ? "nm24-avx2-permute" : "nm24-ref";
    if ((unsigned)a->fmt >= SP_FMT_COUNT) return "?";
    return kname[a->fmt][lv];
}

int sp_cpu_xp_evenodd(const sp_mat *a, sp_cpu_level lv) {
    if (lv != SP_CPU_AVX512) return 0;
    if (a->fmt == SP_FMT_DENSE) return a->u.dense.dtype == SP_DTYPE_BF16;
    if (a->fmt == SP_FMT_BITMAP) return a->u.bitmap.dtype == SP_DTYPE_BF16;
    if (a->fmt == SP_FMT_NM) return a->u.nm.meta && a->u.nm.dtype == SP_DTYPE_BF16;
    return 0;
}

/* xp (cols rounded up to 32, + 32) from x, see cpu_kernels.h */
static float *prep_x(const sp_mat *a, const float *x, sp_cpu_level lv) {
    int cols = sp_mat_cols(a), cp = (cols + 31) / 32 * 32 + 32;
    float *xp = aligned_alloc(64, sizeof(float) * (size_t)cp);
    if (!xp) return NULL;
    memset(xp, 0, sizeof(float) * (size_t)cp);
    if (sp_cpu_xp_evenodd(a, lv)) {
        for (int c = 0; c < cols; c++) xp[(c & ~31) + ((c & 31) >> 1) + (c & 1) * 16] = x[c];
    } else {
        memcpy(xp, x, sizeof(float) * (size_t)cols);
    }
    return xp;
}

static int check(const sp_mat *a, const void *x, const void *y, const char *who) {
    if (!a || !x || !y) return sp_error(SP_ERR_ARG, "%s: NULL argument", who);
    if ((unsigned)a->fmt >= SP_FMT_COUNT) return sp_error(SP_ERR_ARG, "%s: unknown format %d", who, (int)a->fmt);
    return 0;
}

static int gemv_level(const sp_mat *a, const float *x, float *y, sp_cpu_level lv, int threaded) {
    int rc = check(a, x, y, "gemv");
    if (rc) return rc;
    sp_rows_fn fn = rows_fn(a, lv);
    float *xp = prep_x(a, x, lv);
    if (!xp) return sp_error(SP_ERR_NOMEM, "gemv: out of memory");
    int nu = units(a);
    if (!threaded || nu < 64) {
        fn(a, x, xp, y, 0, nu);
    } else {
        /* one contiguous range per thread, ranges a multiple of 16 rows (no false sharing) */
        int gran = a->fmt == SP_FMT_BSR ? (a->u.bsr.br >= 16 ? 1 : 16 / a->u.bsr.br) : 16;
#pragma omp parallel
        {
            int nt = omp_get_num_threads(), t = omp_get_thread_num();
            int nblk = (nu + gran - 1) / gran;
            int b0 = (int)((int64_t)nblk * t / nt), b1 = (int)((int64_t)nblk * (t + 1) / nt);
            int u0 = b0 * gran, u1 = b1 * gran < nu ? b1 * gran : nu;
            if (u0 < u1) fn(a, x, xp, y, u0, u1);
        }
    }
    free(xp);
    return 0;
}

int sp_gemv(const sp_mat *a, const float *x, float *y) { return gemv_level(a, x, y, sp_cpu_get_level(), 1); }
int sp_gemv_ref(const sp_mat *a, const float *x, float *y) { return gemv_level(a, x, y, SP_CPU_REF, 0); }

int sp_gemm_ref(const sp_mat *a, const float *x, int n, float *y) {
    int rows = sp_mat_rows(a), cols = sp_mat_cols(a);
    for (int t = 0; t < n; t++) {
        int rc = sp_gemv_ref(a, x + (size_t)t * cols, y + (size_t)t * rows);
        if (rc) return rc;
    }
    return 0;
}

int sp_mat_decode_rows(const sp_mat *a, int r0, int r1, float *w) {
    if (!a || !w || r0 < 0 || r1 > sp_mat_rows(a) || r0 > r1) return sp_error(SP_ERR_ARG, "decode_rows: bad range");
    decode_fn(a, sp_cpu_get_level())(a, r0, r1, w);
    return 0;
}

/* Measured on Zen 4/5 with bench_layers (bench/results/cpu.md): below this many
 * tokens, repeating the memory-bound gemv beats decoding panels + sgemm. */
int sp_gemm_panel_threshold(const sp_mat *a) {
    const char *e = getenv("SP_PANEL_MIN"); /* benchmark override */
    if (e && atoi(e) > 0) return atoi(e);
    if (a->fmt == SP_FMT_DENSE && a->u.dense.dtype == SP_DTYPE_F32) return 2;
    if (a->fmt == SP_FMT_CSR || a->fmt == SP_FMT_COO) return 8;
    return 4;
}

int sp_gemm(const sp_mat *a, const float *x, int n, float *y) {
    int rc = check(a, x, y, "gemm");
    if (rc) return rc;
    int rows = sp_mat_rows(a), cols = sp_mat_cols(a);
    if (n <= 0) return n == 0 ? 0 : sp_error(SP_ERR_ARG, "gemm: n = %d", n);
    if (n < sp_gemm_panel_threshold(a)) {
        for (int t = 0; t < n; t++)
            if ((rc = sp_gemv(a, x + (size_t)t * cols, y + (size_t)t * rows))) return rc;
        return 0;
    }
    if (a->fmt == SP_FMT_DENSE && a->u.dense.dtype == SP_DTYPE_F32) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, rows, cols, 1.0f, x, cols, a->u.dense.vals, cols,
                    0.0f, y, rows);
        return 0;
    }
    /* panels of ~8 MB of f32 rows (few sgemm calls: each wakes OpenBLAS's threads) */
    int P = (int)((8u << 20) / (4 * (size_t)(cols > 0 ? cols : 1)));
    P = P < 16 ? 16 : P > 4096 ? 4096 : P & ~15;
    if (P > rows) P = rows;
    float *panel = aligned_alloc(64, (sizeof(float) * ((size_t)P * cols + 16) + 63) / 64 * 64);
    if (!panel) return sp_error(SP_ERR_NOMEM, "gemm: out of memory for a %dx%d panel", P, cols);
    sp_decode_fn dec = decode_fn(a, sp_cpu_get_level());
    for (int r0 = 0; r0 < rows; r0 += P) {
        int r1 = r0 + P < rows ? r0 + P : rows;
        /* decoded on this thread: an OpenMP team here would spin against OpenBLAS's own threads */
        dec(a, r0, r1, panel);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, r1 - r0, cols, 1.0f, x, cols, panel, cols, 0.0f,
                    y + r0, rows);
    }
    free(panel);
    return 0;
}

/* scalar decode of rows r0..r1 for any format */
void sp_cpu_decode_ref(const sp_mat *a, int r0, int r1, float *w) {
    int cols = sp_mat_cols(a);
    memset(w, 0, sizeof(float) * (size_t)(r1 - r0) * cols);
    switch (a->fmt) {
    case SP_FMT_DENSE:
        sp_convert_to_f32(a->u.dense.dtype, (const char *)a->u.dense.vals +
                          (size_t)r0 * cols * sp_dtype_size(a->u.dense.dtype), w, (size_t)(r1 - r0) * cols);
        break;
    case SP_FMT_CSR: {
        const sp_csr *m = &a->u.csr;
        for (int r = r0; r < r1; r++)
            for (int64_t k = m->row_ptr[r]; k < m->row_ptr[r + 1]; k++) {
                int c = m->col16 ? m->col16[k] : m->col32[k];
                float v = m->dtype == SP_DTYPE_F32 ? ((const float *)m->vals)[k]
                          : m->dtype == SP_DTYPE_BF16 ? sp_bf16_to_f32(((const uint16_t *)m->vals)[k])
                                                      : sp_f16_to_f32(((const uint16_t *)m->vals)[k]);
                w[(size_t)(r - r0) * cols + c] = v;
            }
        break;
    }
    case SP_FMT_COO: {
        const sp_coo *m = &a->u.coo;
        int64_t lo = 0, hi = m->nnz;
        while (lo < hi) { int64_t md = (lo + hi) / 2; if (m->row[md] < r0) lo = md + 1; else hi = md; }
        for (int64_t k = lo; k < m->nnz && m->row[k] < r1; k++) {
            float v = m->dtype == SP_DTYPE_F32 ? ((const float *)m->vals)[k]
                      : m->dtype == SP_DTYPE_BF16 ? sp_bf16_to_f32(((const uint16_t *)m->vals)[k])
                                                  : sp_f16_to_f32(((const uint16_t *)m->vals)[k]);
            w[(size_t)(m->row[k] - r0) * cols + m->col[k]] = v;
        }
        break;
    }
    case SP_FMT_BSR: {
        const sp_bsr *m = &a->u.bsr;
        for (int r = r0; r < r1; r++) {
            int R = r / m->br, i = r % m->br;
            for (int64_t b = m->block_ptr[R]; b < m->block_ptr[R + 1]; b++)
                for (int j = 0; j < m->bc; j++) {
                    int64_t k = (b * m->br + i) * m->bc + j;
                    float v = m->dtype == SP_DTYPE_F32 ? ((const float *)m->vals)[k]
                              : m->dtype == SP_DTYPE_BF16 ? sp_bf16_to_f32(((const uint16_t *)m->vals)[k])
                                                          : sp_f16_to_f32(((const uint16_t *)m->vals)[k]);
                    w[(size_t)(r - r0) * cols + (size_t)m->block_col[b] * m->bc + j] = v;
                }
        }
        break;
    }
    case SP_FMT_BITMAP: {
        const sp_bitmap *m = &a->u.bitmap;
        for (int r = r0; r < r1; r++) {
            const uint64_t *br = m->bits + (size_t)r * m->row_words;
            int64_t k = m->row_off[r];
            for (int c = 0; c < cols; c++)
                if ((br[c / 64] >> (c % 64)) & 1) {
                    float v = m->dtype == SP_DTYPE_F32 ? ((const float *)m->vals)[k]
                              : m->dtype == SP_DTYPE_BF16 ? sp_bf16_to_f32(((const uint16_t *)m->vals)[k])
                                                          : sp_f16_to_f32(((const uint16_t *)m->vals)[k]);
                    w[(size_t)(r - r0) * cols + c] = v;
                    k++;
                }
        }
        break;
    }
    case SP_FMT_NM: {
        const sp_nm *m = &a->u.nm;
        size_t kept = (size_t)cols / m->m * m->n;
        for (int r = r0; r < r1; r++)
            for (int g = 0; g < cols / m->m; g++)
                for (int t = 0; t < m->n; t++) {
                    size_t k = (size_t)r * kept + (size_t)g * m->n + t;
                    int p = m->meta ? (m->meta[(size_t)r * (cols / 16) + g / 4] >> (4 * (g % 4) + 2 * t)) & 3 : m->idx[k];
                    float v = m->dtype == SP_DTYPE_F32 ? ((const float *)m->vals)[k]
                              : m->dtype == SP_DTYPE_BF16 ? sp_bf16_to_f32(((const uint16_t *)m->vals)[k])
                                                          : sp_f16_to_f32(((const uint16_t *)m->vals)[k]);
                    w[(size_t)(r - r0) * cols + (size_t)g * m->m + p] = v;
                }
        break;
    }
    default: break;
    }
}
