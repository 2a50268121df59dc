/* bsr.c: BSR kernels over block rows: each row of a block is a contiguous run of bc
 * values dotted with x[block_col*bc ..], 16 (AVX-512, masked tail) or 8 (AVX2) wide. */
#include "kernels/cpu/gather.h"

/* y[R*br+i] = sum_b sum_j B_b[i][j] x[block_col[b]*bc + j] for block rows R in [u0, u1) */
static void bsr_rows_ref(const sp_mat *a, const float *x, const float *xp, float *y, int u0, int u1) {
    (void)xp;
    const sp_bsr *m = &a->u.bsr;
    for (int R = u0; R < u1; R++)
        for (int i = 0; i < m->br; i++) {
            float s = 0.0f;
            for (int64_t b = m->block_ptr[R]; b < m->block_ptr[R + 1]; b++) {
                const float *xs = x + (size_t)m->block_col[b] * m->bc;
                for (int j = 0; j < m->bc; j++) s += sp_kval(m->vals, m->dtype, (b * m->br + i) * m->bc + j) * xs[j];
            }
            y[R * m->br + i] = s;
        }
}

SP_INL SP_T512 void bsr_body_512(const sp_mat *a, const float *x, const float *xp, float *y, int u0, int u1, sp_dtype dt) {
    (void)xp;
    const sp_bsr *m = &a->u.bsr;
    int br = m->br, bc = m->bc;
    for (int R = u0; R < u1; R++)
        for (int i = 0; i < br; i++) {
            __m512 s0 = _mm512_setzero_ps();
            for (int64_t b = m->block_ptr[R]; b < m->block_ptr[R + 1]; b++) {
                const float *xs = x + (size_t)m->block_col[b] * bc;
                size_t base = (size_t)(b * br + i) * bc;
                for (int j = 0; j < bc; j += 16) {
                    __mmask16 mk = bc - j >= 16 ? 0xFFFF : (__mmask16)((1u << (bc - j)) - 1);
                    s0 = _mm512_fmadd_ps(sp_ld16v(m->vals, dt, base + j, mk), _mm512_maskz_loadu_ps(mk, xs + j), s0);
                }
            }
            y[R * br + i] = _mm512_reduce_add_ps(s0);
        }
}
SP_DT3(SP_T512, bsr_512, bsr_body_512)

SP_INL SP_T256 void bsr_body_256(const sp_mat *a, const float *x, const float *xp, float *y, int u0, int u1, sp_dtype dt) {
    (void)xp;
    const sp_bsr *m = &a->u.bsr;
    int br = m->br, bc = m->bc;
    for (int R = u0; R < u1; R++)
        for (int i = 0; i < br; i++) {
            __m256 s0 = _mm256_setzero_ps();
            float s = 0.0f;
            for (int64_t b = m->block_ptr[R]; b < m->block_ptr[R + 1]; b++) {
                const float *xs = x + (size_t)m->block_col[b] * bc;
                size_t base = (size_t)(b * br + i) * bc;
                int j = 0;
                for (; j + 8 <= bc; j += 8) s0 = _mm256_fmadd_ps(sp_ld8v(m->vals, dt, base + j), _mm256_loadu_ps(xs + j), s0);
                for (; j < bc; j++) s += sp_kval(m->vals, dt, (int64_t)(base + j)) * xs[j];
            }
            y[R * br + i] = s + sp_hsum8(s0);
        }
}
SP_DT3(SP_T256, bsr_256, bsr_body_256)

sp_rows_fn sp_cpu_bsr_rows(const sp_mat *a, sp_cpu_level lv) {
    sp_dtype dt = a->u.bsr.dtype;
    if (lv == SP_CPU_AVX512) return SP_PICK3(dt, bsr_512);
    if (lv == SP_CPU_AVX2) return SP_PICK3(dt, bsr_256);
    return bsr_rows_ref;
}
