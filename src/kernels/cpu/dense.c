/* dense.c: dense GEMV baselines, f32 and 16-bit (bf16/f16) weights, f32 x and accumulation.
 * AVX-512 bf16: 32 weights per load widened exactly by shifts (even lanes: << 16,
 * odd lanes: & 0xFFFF0000) against an even/odd-permuted x (no shuffles). */
#include "kernels/cpu/cpu_kernels.h"

/* y[r] = sum_c W[r,c] x[c] */
static void dense_rows_ref(const sp_mat *a, const float *x, const float *xp, float *y, int r0, int r1) {
    (void)xp;
    const sp_dense *d = &a->u.dense;
    for (int r = r0; r < r1; r++) {
        float s = 0.0f;
        for (int c = 0; c < d->cols; c++) s += sp_kval(d->vals, d->dtype, (int64_t)r * d->cols + c) * x[c];
        y[r] = s;
    }
}

/* ---- AVX-512 */

SP_T512 static void dense_f32_rows_512(const sp_mat *a, const float *x, const float *xp, float *y, int r0, int r1) {
    (void)x;
    const sp_dense *d = &a->u.dense;
    int cols = d->cols;
    for (int r = r0; r < r1; r++) {
        const float *w = (const float *)d->vals + (size_t)r * cols;
        __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
        int c = 0;
        for (; c + 64 <= cols; c += 64) {
            s0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + c), _mm512_load_ps(xp + c), s0);
            s1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + c + 16), _mm512_load_ps(xp + c + 16), s1);
            s2 = _mm512_fmadd_ps(_mm512_loadu_ps(w + c + 32), _mm512_load_ps(xp + c + 32), s2);
            s3 = _mm512_fmadd_ps(_mm512_loadu_ps(w + c + 48), _mm512_load_ps(xp + c + 48), s3);
        }
        for (; c < cols; c += 16) {
            __mmask16 k = cols - c >= 16 ? 0xFFFF : (__mmask16)((1u << (cols - c)) - 1);
            s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, w + c), _mm512_loadu_ps(xp + c), s0);
        }
        y[r] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
    }
}

SP_INL SP_T512 void dense_h_rows_512(const sp_mat *a, const float *xp, float *y, int r0, int r1, int bf16) {
    const sp_dense *d = &a->u.dense;
    int cols = d->cols;
    for (int r = r0; r < r1; r++) {
        const uint16_t *w = (const uint16_t *)d->vals + (size_t)r * cols;
        __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, lo, hi;
        int c = 0;
        for (; c + 64 <= cols; c += 64) {
            sp_widen32(_mm512_loadu_si512(w + c), bf16, &lo, &hi);
            s0 = _mm512_fmadd_ps(lo, _mm512_load_ps(xp + c), s0);
            s1 = _mm512_fmadd_ps(hi, _mm512_load_ps(xp + c + 16), s1);
            sp_widen32(_mm512_loadu_si512(w + c + 32), bf16, &lo, &hi);
            s2 = _mm512_fmadd_ps(lo, _mm512_load_ps(xp + c + 32), s2);
            s3 = _mm512_fmadd_ps(hi, _mm512_load_ps(xp + c + 48), s3);
        }
        for (; c < cols; c += 32) {
            __mmask32 k = cols - c >= 32 ? 0xFFFFFFFFu : (__mmask32)((1u << (cols - c)) - 1);
            sp_widen32(_mm512_maskz_loadu_epi16(k, w + c), bf16, &lo, &hi);
            s0 = _mm512_fmadd_ps(lo, _mm512_load_ps(xp + c), s0);
            s1 = _mm512_fmadd_ps(hi, _mm512_load_ps(xp + c + 16), s1);
        }
        y[r] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
    }
}
SP_T512 static void dense_bf16_rows_512(const sp_mat *a, const float *x, const float *xp, float *y, int r0, int r1) {
    (void)x;
    dense_h_rows_512(a, xp, y, r0, r1, 1);
}
SP_T512 static void dense_f16_rows_512(const sp_mat *a, const float *x, const float *xp, float *y, int r0, int r1) {
    (void)x;
    dense_h_rows_512(a, xp, y, r0, r1, 0);
}

/* ---- AVX2 */

SP_INL SP_T256 void dense_rows_256_t(const sp_mat *a, const float *xp, float *y, int r0, int r1, sp_dtype dt) {
    const sp_dense *d = &a->u.dense;
    int cols = d->cols;
    for (int r = r0; r < r1; r++) {
        size_t base = (size_t)r * cols;
        __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
        int c = 0;
        for (; c + 32 <= cols; c += 32) {
            s0 = _mm256_fmadd_ps(sp_ld8v(d->vals, dt, base + c), _mm256_load_ps(xp + c), s0);
            s1 = _mm256_fmadd_ps(sp_ld8v(d->vals, dt, base + c + 8), _mm256_load_ps(xp + c + 8), s1);
            s2 = _mm256_fmadd_ps(sp_ld8v(d->vals, dt, base + c + 16), _mm256_load_ps(xp + c + 16), s2);
            s3 = _mm256_fmadd_ps(sp_ld8v(d->vals, dt, base + c + 24), _mm256_load_ps(xp + c + 24), s3);
        }
        for (; c + 8 <= cols; c += 8) s0 = _mm256_fmadd_ps(sp_ld8v(d->vals, dt, base + c), _mm256_load_ps(xp + c), s0);
        float s = sp_hsum8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
        for (; c < cols; c++) s += sp_kval(d->vals, dt, (int64_t)(base + c)) * xp[c];
        y[r] = s;
    }
}
SP_T256 static void dense_f32_rows_256(const sp_mat *a, const float *x, const float *xp, float *y, int r0, int r1) {
    (void)x;
    dense_rows_256_t(a, xp, y, r0, r1, SP_DTYPE_F32);
}
SP_T256 static void dense_bf16_rows_256(const sp_mat *a, const float *x, const float *xp, float *y, int r0, int r1) {
    (void)x;
    dense_rows_256_t(a, xp, y, r0, r1, SP_DTYPE_BF16);
}
SP_T256 static void dense_f16_rows_256(const sp_mat *a, const float *x, const float *xp, float *y, int r0, int r1) {
    (void)x;
    dense_rows_256_t(a, xp, y, r0, r1, SP_DTYPE_F16);
}

sp_rows_fn sp_cpu_dense_rows(const sp_mat *a, sp_cpu_level lv) {
    sp_dtype dt = a->u.dense.dtype;
    if (lv == SP_CPU_AVX512)
        return dt == SP_DTYPE_F32 ? dense_f32_rows_512 : dt == SP_DTYPE_BF16 ? dense_bf16_rows_512 : dense_f16_rows_512;
    if (lv == SP_CPU_AVX2)
        return dt == SP_DTYPE_F32 ? dense_f32_rows_256 : dt == SP_DTYPE_BF16 ? dense_bf16_rows_256 : dense_f16_rows_256;
    return dense_rows_ref;
}

/* ---- decode (prefill panels): 16-bit -> f32 */

SP_T512 static void dense_decode_512(const sp_mat *a, int r0, int r1, float *w) {
    const sp_dense *d = &a->u.dense;
    size_t n = (size_t)(r1 - r0) * d->cols, base = (size_t)r0 * d->cols, i = 0;
    if (d->dtype == SP_DTYPE_F32) { memcpy(w, (const float *)d->vals + base, n * 4); return; }
    const uint16_t *v = (const uint16_t *)d->vals + base;
    for (; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        __m256i h = _mm256_maskz_loadu_epi16(k, v + i);
        __m512 f = d->dtype == SP_DTYPE_BF16 ? _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16))
                                             : _mm512_cvtph_ps(h);
        _mm512_mask_storeu_ps(w + i, k, f);
    }
}

sp_decode_fn sp_cpu_dense_decode(const sp_mat *a, sp_cpu_level lv) {
    (void)a;
    return lv == SP_CPU_AVX512 ? dense_decode_512 : sp_cpu_decode_ref;
}
