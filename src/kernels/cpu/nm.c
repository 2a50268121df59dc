/* nm.c: N:M kernels.
 * 2:4, AVX-512: per 512 columns the row's meta bytes become a bitmap of kept
 *   positions with two pshufb lookups (nibble -> 4-bit mask, the 2:4 nibble holds
 *   two 2-bit indices); then per 32 columns (16 kept values, a fixed 32-B step)
 *   vpexpandw puts the values at their columns and two FMAs accumulate against x
 *   (CPU-NOTES 1(a)). f32 values: 16 columns per vexpandps.
 * 2:4, AVX2: per 16 columns, the 8 kept values' x are picked from two 8-float
 *   windows with vpermps by index 4*(j>>1 & 1) + nibble field (CPU-NOTES 1(b)).
 * General n:m: x gathered at column (k/n)*m + idx[k] (a per-call table of k/n*m). */
#include <stdlib.h>

#include "kernels/cpu/cpu_kernels.h"

/* y[r] = sum_k vals[r,k] x[group(k)*m + pos(k)] */
static void nm_rows_ref(const sp_mat *a, const float *x, const float *xp, float *y, int r0, int r1) {
    (void)xp;
    const sp_nm *q = &a->u.nm;
    int gpr = q->cols / q->m;
    size_t kept = (size_t)gpr * q->n;
    for (int r = r0; r < r1; r++) {
        float s = 0.0f;
        for (int g = 0; g < gpr; g++)
            for (int t = 0; t < q->n; t++) {
                size_t k = (size_t)r * kept + (size_t)g * q->n + t;
                int p = q->meta ? (q->meta[(size_t)r * (q->cols / 16) + g / 4] >> (4 * (g % 4) + 2 * t)) & 3 : q->idx[k];
                s += sp_kval(q->vals, q->dtype, (int64_t)k) * x[g * q->m + p];
            }
        y[r] = s;
    }
}

/* ---- 2:4 AVX-512 */

/* nibble (i0 | i1 << 2) -> (1 << i0) | (1 << i1); invalid nibbles -> 0 */
static const int8_t nib2mask[16] = {0, 0, 0, 0, 0x3, 0, 0, 0, 0x5, 0x6, 0, 0, 0x9, 0xA, 0xC, 0};

/* 64 meta bytes (512 columns) -> 64 position-mask bytes */
SP_INL SP_T512 __m512i meta_to_mask(const uint8_t *mb, int nbytes) {
    const __m512i lut = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)nib2mask));
    const __m512i lut_hi = _mm512_slli_epi16(lut, 4); /* entries < 16: no carry across bytes */
    const __m512i f = _mm512_set1_epi8(0x0F);
    __mmask64 k = nbytes >= 64 ? ~0ull : (1ull << nbytes) - 1;
    __m512i m = _mm512_maskz_loadu_epi8(k, mb);
    __m512i lo = _mm512_shuffle_epi8(lut, _mm512_and_si512(m, f));
    __m512i hi = _mm512_shuffle_epi8(lut_hi, _mm512_and_si512(_mm512_srli_epi16(m, 4), f));
    return _mm512_or_si512(lo, hi);
}

SP_INL SP_T512 void nm24_h_rows_512(const sp_mat *a, const float *xp, float *y, int r0, int r1, int bf16) {
    const sp_nm *q = &a->u.nm;
    int cols = q->cols, nb = cols / 8;
    __attribute__((aligned(64))) uint32_t mk[16];
    for (int r = r0; r < r1; r++) {
        const uint8_t *mb = (const uint8_t *)(q->meta + (size_t)r * (cols / 16));
        const uint16_t *v = (const uint16_t *)q->vals + (size_t)r * (cols / 2);
        __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
        int c = 0;
        for (int s = 0; s < nb; s += 64) {
            _mm512_store_si512(mk, meta_to_mask(mb + s, nb - s));
            int nch = ((nb - s < 64 ? nb - s : 64) + 3) / 4;
            int j = 0;
            for (; j + 2 <= nch && c + 64 <= cols; j += 2, c += 64, v += 32) { /* both chunks full: plain loads */
                __m512i w0 = sp_expand16_half(mk[j], v), w1 = sp_expand16_half(mk[j + 1], v + 16);
                __m512 a0, b0, a1, b1;
                sp_widen32(w0, bf16, &a0, &b0);
                sp_widen32(w1, bf16, &a1, &b1);
                s0 = _mm512_fmadd_ps(a0, _mm512_load_ps(xp + c), s0);
                s1 = _mm512_fmadd_ps(b0, _mm512_load_ps(xp + c + 16), s1);
                s2 = _mm512_fmadd_ps(a1, _mm512_load_ps(xp + c + 32), s2);
                s3 = _mm512_fmadd_ps(b1, _mm512_load_ps(xp + c + 48), s3);
            }
            for (; j < nch; j++, c += 32, v += 16) {
                __m512i w0 = sp_expand16(mk[j], v);
                __m512 a0, b0;
                sp_widen32(w0, bf16, &a0, &b0);
                s0 = _mm512_fmadd_ps(a0, _mm512_load_ps(xp + c), s0);
                s1 = _mm512_fmadd_ps(b0, _mm512_load_ps(xp + c + 16), s1);
            }
        }
        y[r] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
    }
}
SP_T512 static void nm24_bf16_rows_512(const sp_mat *a, const float *x, const float *xp, float *y, int r0, int r1) {
    (void)x;
    nm24_h_rows_512(a, xp, y, r0, r1, 1);
}
SP_T512 static void nm24_f16_rows_512(const sp_mat *a, const float *x, const float *xp, float *y, int r0, int r1) {
    (void)x;
    nm24_h_rows_512(a, xp, y, r0, r1, 0);
}

SP_T512 static void nm24_f32_rows_512(const sp_mat *a, const float *x, const float *xp, float *y, int r0, int r1) {
    (void)x;
    const sp_nm *q = &a->u.nm;
    int cols = q->cols, nb = cols / 8;
    __attribute__((aligned(64))) uint16_t mk[32];
    for (int r = r0; r < r1; r++) {
        const uint8_t *mb = (const uint8_t *)(q->meta + (size_t)r * (cols / 16));
        const float *v = (const float *)q->vals + (size_t)r * (cols / 2);
        __m512 s0 = _mm512_setzero_ps(), s1 = s0;
        int c = 0;
        for (int s = 0; s < nb; s += 64) {
            _mm512_store_si512(mk, meta_to_mask(mb + s, nb - s));
            int nch = (nb - s < 64 ? nb - s : 64) / 2; /* 16 columns each; cols % 16 == 0 */
            int j = 0;
            for (; j + 2 <= nch; j += 2, c += 32, v += 16) {
                s0 = _mm512_fmadd_ps(sp_expand_ps_half(mk[j], v),
                                     _mm512_load_ps(xp + c), s0);
                s1 = _mm512_fmadd_ps(sp_expand_ps_half(mk[j + 1], v + 8),
                                     _mm512_load_ps(xp + c + 16), s1);
            }
            for (; j < nch; j++, c += 16, v += 8)
                s0 = _mm512_fmadd_ps(sp_expand_ps_half(mk[j], v),
                                     _mm512_load_ps(xp + c), s0);
        }
        y[r] = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
    }
}

/* ---- general n:m AVX-512 (gather) */

/* cb[k] = (k / n) * m for k in 0..kept: the group base column of kept slot k */
static int32_t *col_base(const sp_nm *q) {
    size_t kept = (size_t)q->cols / q->m * q->n;
    int32_t *cb = malloc(4 * (kept + 16));
    if (!cb) return NULL;
    for (size_t k = 0; k < kept; k++) cb[k] = (int32_t)(k / q->n * q->m);
    return cb;
}

SP_T512 static void nmg_rows_512(const sp_mat *a, const float *x, const float *xp, float *y, int r0, int r1) {
    (void)xp;
    const sp_nm *q = &a->u.nm;
    size_t kept = (size_t)q->cols / q->m * q->n;
    int32_t *cb = col_base(q);
    if (!cb) { nm_rows_ref(a, x, xp, y, r0, r1); return; }
    for (int r = r0; r < r1; r++) {
        __m512 s0 = _mm512_setzero_ps();
        size_t base = (size_t)r * kept;
        for (size_t k = 0; k < kept; k += 16) {
            __mmask16 m = kept - k >= 16 ? 0xFFFF : (__mmask16)((1u << (kept - k)) - 1);
            __m512i col = _mm512_add_epi32(_mm512_maskz_loadu_epi32(m, cb + k),
                                           _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, q->idx + base + k)));
            __m512 xv = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, col, x, 4);
            s0 = _mm512_fmadd_ps(sp_ld16v(q->vals, q->dtype, base + k, m), xv, s0);
        }
        y[r] = _mm512_reduce_add_ps(s0);
    }
    free(cb);
}

/* ---- 2:4 AVX2 (permute x) */

SP_INL SP_T256 void nm24_rows_256_t(const sp_mat *a, const float *xp, float *y, int r0, int r1, sp_dtype dt) {
    const sp_nm *q = &a->u.nm;
    int cols = q->cols, nw = cols / 16;
    const __m256i sh = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    const __m256i off = _mm256_setr_epi32(0, 0, 4, 4, 0, 0, 4, 4), three = _mm256_set1_epi32(3);
    for (int r = r0; r < r1; r++) {
        const uint16_t *mt = q->meta + (size_t)r * nw;
        size_t vb = (size_t)r * (cols / 2);
        __m256 s0 = _mm256_setzero_ps(), s1 = s0;
        for (int g = 0; g < nw; g++) {
            __m256i idx = _mm256_add_epi32(_mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(mt[g]), sh), three), off);
            __m256 lo = _mm256_permutevar8x32_ps(_mm256_load_ps(xp + 16 * g), idx);
            __m256 hi = _mm256_permutevar8x32_ps(_mm256_load_ps(xp + 16 * g + 8), idx);
            __m256 xs = _mm256_blend_ps(lo, hi, 0xF0);
            if (g & 1) s1 = _mm256_fmadd_ps(sp_ld8v(q->vals, dt, vb + 8 * (size_t)g), xs, s1);
            else s0 = _mm256_fmadd_ps(sp_ld8v(q->vals, dt, vb + 8 * (size_t)g), xs, s0);
        }
        y[r] = sp_hsum8(_mm256_add_ps(s0, s1));
    }
}
SP_T256 static void nm24_f32_rows_256(const sp_mat *a, const float *x, const float *xp, float *y, int r0, int r1) {
    (void)x;
    nm24_rows_256_t(a, xp, y, r0, r1, SP_DTYPE_F32);
}
SP_T256 static void nm24_bf16_rows_256(const sp_mat *a, const float *x, const float *xp, float *y, int r0, int r1) {
    (void)x;
    nm24_rows_256_t(a, xp, y, r0, r1, SP_DTYPE_BF16);
}
SP_T256 static void nm24_f16_rows_256(const sp_mat *a, const float *x, const float *xp, float *y, int r0, int r1) {
    (void)x;
    nm24_rows_256_t(a, xp, y, r0, r1, SP_DTYPE_F16);
}

SP_T256 static void nmg_rows_256(const sp_mat *a, const float *x, const float *xp, float *y, int r0, int r1) {
    const sp_nm *q = &a->u.nm;
    size_t kept = (size_t)q->cols / q->m * q->n;
    int32_t *cb = col_base(q);
    if (!cb) { nm_rows_ref(a, x, xp, y, r0, r1); return; }
    for (int r = r0; r < r1; r++) {
        __m256 s0 = _mm256_setzero_ps();
        size_t base = (size_t)r * kept, k = 0;
        for (; k + 8 <= kept; k += 8) {
            __m128i i8 = _mm_loadl_epi64((const __m128i *)(q->idx + base + k));
            __m256i col = _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(cb + k)), _mm256_cvtepu8_epi32(i8));
            s0 = _mm256_fmadd_ps(sp_ld8v(q->vals, q->dtype, base + k), _mm256_i32gather_ps(x, col, 4), s0);
        }
        float s = sp_hsum8(s0);
        for (; k < kept; k++) s += sp_kval(q->vals, q->dtype, (int64_t)(base + k)) * x[cb[k] + q->idx[base + k]];
        y[r] = s;
    }
    free(cb);
}

sp_rows_fn sp_cpu_nm_rows(const sp_mat *a, sp_cpu_level lv) {
    const sp_nm *q = &a->u.nm;
    sp_dtype dt = q->dtype;
    if (lv == SP_CPU_AVX512) {
        if (!q->meta) return nmg_rows_512;
        return dt == SP_DTYPE_F32 ? nm24_f32_rows_512 : dt == SP_DTYPE_BF16 ? nm24_bf16_rows_512 : nm24_f16_rows_512;
    }
    if (lv == SP_CPU_AVX2) {
        if (!q->meta) return nmg_rows_256;
        return dt == SP_DTYPE_F32 ? nm24_f32_rows_256 : dt == SP_DTYPE_BF16 ? nm24_bf16_rows_256 : nm24_f16_rows_256;
    }
    return nm_rows_ref;
}

/* ---- decode 2:4 rows to f32 (AVX-512 expand, natural column order) */

SP_T512 static void nm24_decode_512(const sp_mat *a, int r0, int r1, float *w) {
    const sp_nm *q = &a->u.nm;
    int cols = q->cols, nb = cols / 8;
    sp_dtype dt = q->dtype;
    __attribute__((aligned(64))) uint16_t mk[32];
    for (int r = r0; r < r1; r++) {
        const uint8_t *mb = (const uint8_t *)(q->meta + (size_t)r * (cols / 16));
        float *o = w + (size_t)(r - r0) * cols;
        size_t k = (size_t)r * (cols / 2);
        int c = 0;
        for (int s = 0; s < nb; s += 64) {
            _mm512_store_si512(mk, meta_to_mask(mb + s, nb - s));
            int nch = (nb - s < 64 ? nb - s : 64) / 2;
            for (int j = 0; j < nch; j++, c += 16, k += 8) {
                __m512 f;
                if (dt == SP_DTYPE_F32) {
                    f = sp_expand_ps_half(mk[j], (const float *)q->vals + k);
                } else {
                    __m256i h = _mm512_castsi512_si256(sp_expand16(mk[j], (const uint16_t *)q->vals + k));
                    f = dt == SP_DTYPE_BF16 ? _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16))
                                            : _mm512_cvtph_ps(h);
                }
                _mm512_storeu_ps(o + c, f);
            }
        }
    }
}

sp_decode_fn sp_cpu_nm_decode(const sp_mat *a, sp_cpu_level lv) {
    return lv == SP_CPU_AVX512 && a->u.nm.meta ? nm24_decode_512 : sp_cpu_decode_ref;
}
