/* coo.c: COO kernels. Work is split by rows (entries are sorted by row, so a
 * thread's range is found by binary search); products vals[k] x[col[k]] are
 * computed 16/8 at a time with a gather, then added into y[row[k]] in order. */
#include "kernels/cpu/gather.h"

static int64_t lower_row(const sp_coo *m, int r) {
    int64_t lo = 0, hi = m->nnz;
    while (lo < hi) {
        int64_t md = lo + (hi - lo) / 2;
        if (m->row[md] < r) lo = md + 1;
        else hi = md;
    }
    return lo;
}

/* y[row[k]] += vals[k] x[col[k]] over entries with row in [r0, r1) */
static void coo_rows_ref(const sp_mat *a, const float *x, const float *xp, float *y, int r0, int r1) {
    (void)xp;
    const sp_coo *m = &a->u.coo;
    for (int r = r0; r < r1; r++) y[r] = 0.0f;
    for (int64_t k = lower_row(m, r0); k < m->nnz && m->row[k] < r1; k++)
        y[m->row[k]] += sp_kval(m->vals, m->dtype, k) * x[m->col[k]];
}

SP_INL SP_T512 void coo_body_512(const sp_mat *a, const float *x, const float *xp, float *y, int r0, int r1, sp_dtype dt) {
    (void)xp;
    const sp_coo *m = &a->u.coo;
    for (int r = r0; r < r1; r++) y[r] = 0.0f;
    int64_t k = lower_row(m, r0), e = lower_row(m, r1);
    __attribute__((aligned(64))) float p[16];
    for (; k < e; k += 16) {
        int n = e - k >= 16 ? 16 : (int)(e - k);
        __mmask16 mk = (__mmask16)((1u << n) - 1);
        __m512i ci = _mm512_maskz_loadu_epi32(mk, m->col + k);
        _mm512_store_ps(p, _mm512_mul_ps(sp_ld16v(m->vals, dt, (size_t)k, mk),
                                         _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mk, ci, x, 4)));
        for (int j = 0; j < n; j++) y[m->row[k + j]] += p[j];
    }
}
SP_DT3(SP_T512, coo_512, coo_body_512)

SP_INL SP_T256 void coo_body_256(const sp_mat *a, const float *x, const float *xp, float *y, int r0, int r1, sp_dtype dt) {
    (void)xp;
    const sp_coo *m = &a->u.coo;
    for (int r = r0; r < r1; r++) y[r] = 0.0f;
    int64_t k = lower_row(m, r0), e = lower_row(m, r1);
    __attribute__((aligned(32))) float p[8];
    for (; k + 8 <= e; k += 8) {
        __m256i ci = _mm256_loadu_si256((const __m256i *)(m->col + k));
        _mm256_store_ps(p, _mm256_mul_ps(sp_ld8v(m->vals, dt, (size_t)k), _mm256_i32gather_ps(x, ci, 4)));
        for (int j = 0; j < 8; j++) y[m->row[k + j]] += p[j];
    }
    for (; k < e; k++) y[m->row[k]] += sp_kval(m->vals, dt, k) * x[m->col[k]];
}
SP_DT3(SP_T256, coo_256, coo_body_256)

sp_rows_fn sp_cpu_coo_rows(const sp_mat *a, sp_cpu_level lv) {
    sp_dtype dt = a->u.coo.dtype;
    if (lv == SP_CPU_AVX512) return SP_PICK3(dt, coo_512);
    if (lv == SP_CPU_AVX2) return SP_PICK3(dt, coo_256);
    return coo_rows_ref;
}
