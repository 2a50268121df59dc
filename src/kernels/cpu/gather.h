/* gather.h: value loads shared by the gather-based kernels (csr, coo, bsr). */
#ifndef SP_GATHER_H
#define SP_GATHER_H
#include "kernels/cpu/cpu_kernels.h"

/* 16 values from v[k..k+16) (masked) as f32 */
SP_INL SP_T512 __m512 sp_ld16v(const void *v, sp_dtype dt, size_t k, __mmask16 m) {
    if (dt == SP_DTYPE_F32) return _mm512_maskz_loadu_ps(m, (const float *)v + k);
    __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)v + k);
    if (dt == SP_DTYPE_BF16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    return _mm512_cvtph_ps(h);
}

/* 8 values from v[k..k+8) as f32 */
SP_INL SP_T256 __m256 sp_ld8v(const void *v, sp_dtype dt, size_t k) {
    if (dt == SP_DTYPE_F32) return _mm256_loadu_ps((const float *)v + k);
    __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)v + k));
    if (dt == SP_DTYPE_BF16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    return _mm256_cvtph_ps(h);
}

SP_INL SP_T256 float sp_hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* dtype-specialized wrappers: F(name, body-fn) defines name_f32/_bf16/_f16 */
#define SP_DT3(T, name, body)                                                                                      \
    T static void name##_f32(const sp_mat *a, const float *x, const float *xp, float *y, int r0, int r1) {         \
        body(a, x, xp, y, r0, r1, SP_DTYPE_F32);                                                                   \
    }                                                                                                              \
    T static void name##_bf16(const sp_mat *a, const float *x, const float *xp, float *y, int r0, int r1) {        \
        body(a, x, xp, y, r0, r1, SP_DTYPE_BF16);                                                                  \
    }                                                                                                              \
    T static void name##_f16(const sp_mat *a, const float *x, const float *xp, float *y, int r0, int r1) {         \
        body(a, x, xp, y, r0, r1, SP_DTYPE_F16);                                                                   \
    }
#define SP_PICK3(dt, name) ((dt) == SP_DTYPE_F32 ? name##_f32 : (dt) == SP_DTYPE_BF16 ? name##_bf16 : name##_f16)
#endif
