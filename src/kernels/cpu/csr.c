/* csr.c: CSR kernels: x gathered at the stored column indices (vgatherdps),
 * 16 (AVX-512) or 8 (AVX2) nonzeros per step. Gathers are microcoded on Zen 4, so
 * this is the baseline, not the fast path (CPU-NOTES 3). */
#include "kernels/cpu/gather.h"

/* y[r] = sum_{k in row r} vals[k] x[col[k]] */
static void csr_rows_ref(const sp_mat *a, const float *x, const float *xp, float *y, int r0, int r1) {
    (void)xp;
    const sp_csr *m = &a->u.csr;
    for (int r = r0; r < r1; r++) {
        float s = 0.0f;
        for (int64_t k = m->row_ptr[r]; k < m->row_ptr[r + 1]; k++)
            s += sp_kval(m->vals, m->dtype, k) * x[m->col16 ? m->col16[k] : m->col32[k]];
        y[r] = s;
    }
}

SP_INL SP_T512 void csr_body_512(const sp_mat *a, const float *x, const float *xp, float *y, int r0, int r1, sp_dtype dt) {
    (void)xp;
    const sp_csr *m = &a->u.csr;
    for (int r = r0; r < r1; r++) {
        int64_t k = m->row_ptr[r], e = m->row_ptr[r + 1];
        __m512 s0 = _mm512_setzero_ps(), s1 = s0;
        for (; k + 32 <= e; k += 32) {
            __m512i i0, i1;
            if (m->col16) {
                i0 = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(m->col16 + k)));
                i1 = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(m->col16 + k + 16)));
            } else {
                i0 = _mm512_loadu_si512(m->col32 + k), i1 = _mm512_loadu_si512(m->col32 + k + 16);
            }
            s0 = _mm512_fmadd_ps(sp_ld16v(m->vals, dt, (size_t)k, 0xFFFF), _mm512_i32gather_ps(i0, x, 4), s0);
            s1 = _mm512_fmadd_ps(sp_ld16v(m->vals, dt, (size_t)k + 16, 0xFFFF), _mm512_i32gather_ps(i1, x, 4), s1);
        }
        for (; k < e; k += 16) {
            __mmask16 mk = e - k >= 16 ? 0xFFFF : (__mmask16)((1u << (e - k)) - 1);
            __m512i i0 = m->col16 ? _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mk, m->col16 + k))
                                  : _mm512_maskz_loadu_epi32(mk, m->col32 + k);
            s0 = _mm512_fmadd_ps(sp_ld16v(m->vals, dt, (size_t)k, mk),
                                 _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mk, i0, x, 4), s0);
        }
        y[r] = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
    }
}
SP_DT3(SP_T512, csr_512, csr_body_512)

SP_INL SP_T256 void csr_body_256(const sp_mat *a, const float *x, const float *xp, float *y, int r0, int r1, sp_dtype dt) {
    (void)xp;
    const sp_csr *m = &a->u.csr;
    for (int r = r0; r < r1; r++) {
        int64_t k = m->row_ptr[r], e = m->row_ptr[r + 1];
        __m256 s0 = _mm256_setzero_ps(), s1 = s0;
        for (; k + 16 <= e; k += 16) {
            __m256i i0, i1;
            if (m->col16) {
                i0 = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(m->col16 + k)));
                i1 = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(m->col16 + k + 8)));
            } else {
                i0 = _mm256_loadu_si256((const __m256i *)(m->col32 + k));
                i1 = _mm256_loadu_si256((const __m256i *)(m->col32 + k + 8));
            }
            s0 = _mm256_fmadd_ps(sp_ld8v(m->vals, dt, (size_t)k), _mm256_i32gather_ps(x, i0, 4), s0);
            s1 = _mm256_fmadd_ps(sp_ld8v(m->vals, dt, (size_t)k + 8), _mm256_i32gather_ps(x, i1, 4), s1);
        }
        float s = sp_hsum8(_mm256_add_ps(s0, s1));
        for (; k < e; k++) s += sp_kval(m->vals, dt, k) * x[m->col16 ? m->col16[k] : m->col32[k]];
        y[r] = s;
    }
}
SP_DT3(SP_T256, csr_256, csr_body_256)

sp_rows_fn sp_cpu_csr_rows(const sp_mat *a, sp_cpu_level lv) {
    sp_dtype dt = a->u.csr.dtype;
    if (lv == SP_CPU_AVX512) return SP_PICK3(dt, csr_512);
    if (lv == SP_CPU_AVX2) return SP_PICK3(dt, csr_256);
    return csr_rows_ref;
}
