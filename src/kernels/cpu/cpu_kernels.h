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

static inline uint32_t sp_ld32(const void *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint16_t sp_ld16(const void *p) { uint16_t v; memcpy(&v, p, 2); return v; }

/* value k of a value array as f32 (scalar kernels) */
SP_INL float sp_kval(const void *v, sp_dtype dt, int64_t k) {
    if (dt == SP_DTYPE_F32) return ((const float *)v)[k];
    if (dt == SP_DTYPE_BF16) return sp_bf16_to_f32(((const uint16_t *)v)[k]);
    return sp_f16_to_f32(((const uint16_t *)v)[k]);
}

#endif
