/* cpu_kernels.h: internal interface between the CPU dispatcher (cpu.c) and the
 * per-format kernel files. A kernel family provides, per level:
 *   rows:   y[u0..u1) of y = A x for work units u0..u1 (rows; block rows for BSR),
 *           reading x (cols,) or xp, the prepared x (see sp_cpu_prep_x);
 *   decode: dense f32 rows r0..r1 of A (prefill panels). */
#ifndef SP_CPU_KERNELS_H
#define SP_CPU_KERNELS_H

#include <immintrin.h>
#include <string.h>

#include "sparsity_formats.h"

typedef void (*sp_rows_fn)(const sp_mat *a, const float *x, const float *xp, float *y, int u0, int u1);
typedef void (*sp_decode_fn)(const sp_mat *a, int r0, int r1, float *w);

#define SP_T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vbmi2,bmi,bmi2,popcnt,fma,f16c")))
#define SP_T256 __attribute__((target("avx2,fma,f16c,bmi,bmi2,popcnt")))
#define SP_INL static inline __attribute__((always_inline))

/* xp: x padded with zeros to a multiple of 32 (+32); for AVX-512 kernels on BF16
 * values that read 32 columns as even/odd lanes, each 32-chunk is stored as its 16
 * even columns then its 16 odd columns (sp_cpu_xp_evenodd). */
int sp_cpu_xp_evenodd(const sp_mat *a, sp_cpu_level lv);

/* Families: each returns the kernel for level lv (never NULL; ref for SP_CPU_REF). */
sp_rows_fn sp_cpu_dense_rows(const sp_mat *a, sp_cpu_level lv);
sp_rows_fn sp_cpu_csr_rows(const sp_mat *a, sp_cpu_level lv);
sp_rows_fn sp_cpu_coo_rows(const sp_mat *a, sp_cpu_level lv);
sp_rows_fn sp_cpu_bsr_rows(const sp_mat *a, sp_cpu_level lv);
sp_rows_fn sp_cpu_bitmap_rows(const sp_mat *a, sp_cpu_level lv);
sp_rows_fn sp_cpu_nm_rows(const sp_mat *a, sp_cpu_level lv);
sp_decode_fn sp_cpu_dense_decode(const sp_mat *a, sp_cpu_level lv);
sp_decode_fn sp_cpu_bitmap_decode(const sp_mat *a, sp_cpu_level lv);
sp_decode_fn sp_cpu_nm_decode(const sp_mat *a, sp_cpu_level lv);
/* generic scalar decode via the format's structure (any format) */
void sp_cpu_decode_ref(const sp_mat *a, int r0, int r1, float *w);


/* Opaque zero: a fresh vpxord so that merge-masked expands do not wait on an old
 * register value (Zen 4 {z} false dependency, CPU-NOTES pitfall 1). */
SP_INL SP_T512 __m512i sp_zero512(void) {
    __m512i z;
    __asm__ volatile("vpxord %0, %0, %0" : "=v"(z));
    return z;
}

/* The popcount(m) values at v placed at m's set lanes, other lanes 0. A masked load
 * then a register expand: vpexpandw/vexpandps with a memory source measured 3x
 * slower when streaming from DRAM (bench/NOTES.md v2). */
SP_INL SP_T512 __m512i sp_expand16(uint32_t m, const uint16_t *v) {
    __m512i w = _mm512_maskz_loadu_epi16(_bzhi_u32(0xFFFFFFFFu, (unsigned)__builtin_popcount(m)), v);
    return _mm512_mask_expand_epi16(sp_zero512(), m, w);
}
SP_INL SP_T512 __m512 sp_expand_ps(uint32_t m, const float *v) {
    __m512 w = _mm512_maskz_loadu_ps((__mmask16)_bzhi_u32(0xFFFFu, (unsigned)__builtin_popcount(m)), v);
    return _mm512_mask_expand_ps(_mm512_castsi512_ps(sp_zero512()), (__mmask16)m, w);
}

/* Same with a plain (unmasked) load of 32 values / 16 floats from v: for callers that
 * know v[0..32) / v[0..16) is inside the array (masked loads streaming from DRAM were
 * slow here, see bench/NOTES.md v3). */
SP_INL SP_T512 __m512i sp_expand16_full(uint32_t m, const uint16_t *v) {
    return _mm512_mask_expand_epi16(sp_zero512(), m, _mm512_loadu_si512(v));
}
SP_INL SP_T512 __m512i sp_expand16_half(uint32_t m, const uint16_t *v) { /* popcount(m) <= 16 */
    return _mm512_mask_expand_epi16(sp_zero512(), m, _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)v)));
}
SP_INL SP_T512 __m512 sp_expand_ps_half(uint32_t m, const float *v) { /* popcount(m) <= 8 */
    return _mm512_mask_expand_ps(_mm512_castsi512_ps(sp_zero512()), (__mmask16)m, _mm512_castps256_ps512(_mm256_loadu_ps(v)));
}

/* Expand with a plain load when v[0..32) / v[0..16) lies before end, else masked. */
#ifndef SP_EXPAND_SPLIT
#define SP_EXPAND_SPLIT 1
#endif
SP_INL SP_T512 __m512i sp_expand16_to(uint32_t m, const uint16_t *v, const uint16_t *end) {
    if (v + 32 > end) return sp_expand16(m, v);
    if (SP_EXPAND_SPLIT) { /* two 32-B loads: fewer cache-line splits than one 64-B load */
        __m512i w = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)v)),
                                       _mm256_loadu_si256((const __m256i *)(v + 16)), 1);
        return _mm512_mask_expand_epi16(sp_zero512(), m, w);
    }
    return sp_expand16_full(m, v);
}
SP_INL SP_T512 __m512 sp_expand_ps_to(uint32_t m, const float *v, const float *end) {
    if (v + 16 > end) return sp_expand_ps(m, v);
    if (SP_EXPAND_SPLIT) {
        __m512 w = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(v)), _mm256_loadu_ps(v + 8), 1);
        return _mm512_mask_expand_ps(_mm512_castsi512_ps(sp_zero512()), (__mmask16)m, w);
    }
    return _mm512_mask_expand_ps(_mm512_castsi512_ps(sp_zero512()), (__mmask16)m, _mm512_loadu_ps(v));
}

/* 32 bf16 or f16 values -> two f32 vectors matching the permuted x, xp[0..16) and xp[16..32):
 * bf16 exactly by shifts (even lanes << 16, odd lanes masked), f16 by vcvtph2ps of each half */
SP_INL SP_T512 void sp_widen32(__m512i w, int bf16, __m512 *lo, __m512 *hi) {
    if (bf16) {
        *lo = _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
        *hi = _mm512_castsi512_ps(_mm512_and_si512(w, _mm512_set1_epi32((int)0xFFFF0000u)));
    } else {
        *lo = _mm512_cvtph_ps(_mm512_castsi512_si256(w));
        *hi = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(w, 1));
    }
}

static inline uint32_t sp_ld32(const void *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint16_t sp_ld16(const void *p) { uint16_t v; memcpy(&v, p, 2); return v; }

/* Value loads widened to f32 and a horizontal sum, shared by every vector kernel. */
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

/* value k of a value array as f32 (scalar kernels) */
SP_INL float sp_kval(const void *v, sp_dtype dt, int64_t k) {
    if (dt == SP_DTYPE_F32) return ((const float *)v)[k];
    if (dt == SP_DTYPE_BF16) return sp_bf16_to_f32(((const uint16_t *)v)[k]);
    return sp_f16_to_f32(((const uint16_t *)v)[k]);
}

#endif
