/* bitmap.c: bitmap kernels.
 * AVX-512: per 32 columns (16 for f32) the row's mask word drives vpexpandw/vexpandps
 *   of the packed values (masked load of popcount values, then a register expand) (the pointer advances by its popcount), then FMAs against
 *   x; the expand merges into a freshly zeroed register (Zen 4 false dependency).
 * AVX2: per 8 columns the mask byte picks a vpermps pattern from a 256-entry table
 *   (position j takes packed value popcount(mask & ((1<<j)-1))), absent lanes are
 *   zeroed by an and with the mask's lane pattern. */
#include "kernels/cpu/cpu_kernels.h"

/* y[r] = sum over set bits c of row r: vals[row_off[r] + rank] x[c] */
static void bitmap_rows_ref(const sp_mat *a, const float *x, const float *xp, float *y, int r0, int r1) {
    (void)xp;
    const sp_bitmap *b = &a->u.bitmap;
    for (int r = r0; r < r1; r++) {
        const uint64_t *br = b->bits + (size_t)r * b->row_words;
        int64_t k = b->row_off[r];
        float s = 0.0f;
        for (int c = 0; c < b->cols; c++)
            if ((br[c / 64] >> (c % 64)) & 1) s += sp_kval(b->vals, b->dtype, k++) * x[c];
        y[r] = s;
    }
}

/* ---- AVX-512 */

SP_INL SP_T512 void bitmap_h_rows_512(const sp_mat *a, const float *xp, float *y, int r0, int r1, int bf16) {
    const sp_bitmap *b = &a->u.bitmap;
    int nch = (b->cols + 31) / 32;
    const uint16_t *end = (const uint16_t *)b->vals + b->nnz;
    for (int r = r0; r < r1; r++) {
        const uint8_t *mb = (const uint8_t *)(b->bits + (size_t)r * b->row_words);
        const uint16_t *v = (const uint16_t *)b->vals + b->row_off[r];
        __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
        int j = 0;
        for (; j + 2 <= nch; j += 2) {
            uint32_t m0 = sp_ld32(mb + 4 * j), m1 = sp_ld32(mb + 4 * j + 4);
            __m512i w0 = sp_expand16_to(m0, v, end);
            v += __builtin_popcount(m0);
            __m512i w1 = sp_expand16_to(m1, v, end);
            v += __builtin_popcount(m1);
            __m512 a0, b0, a1, b1;
            sp_widen32(w0, bf16, &a0, &b0);
            sp_widen32(w1, bf16, &a1, &b1);
            const float *xc = xp + 32 * j;
            s0 = _mm512_fmadd_ps(a0, _mm512_load_ps(xc), s0);
            s1 = _mm512_fmadd_ps(b0, _mm512_load_ps(xc + 16), s1);
            s2 = _mm512_fmadd_ps(a1, _mm512_load_ps(xc + 32), s2);
            s3 = _mm512_fmadd_ps(b1, _mm512_load_ps(xc + 48), s3);
        }
        if (j < nch) {
            /* last chunk: the row may end inside this u32 (bits past cols are 0) */
            uint32_t m0 = (b->cols & 31) && (b->cols & 31) <= 16 ? sp_ld16(mb + 4 * j) : sp_ld32(mb + 4 * j);
            __m512i w0 = sp_expand16_to(m0, v, end);
            __m512 a0, b0;
            sp_widen32(w0, bf16, &a0, &b0);
            s0 = _mm512_fmadd_ps(a0, _mm512_load_ps(xp + 32 * j), s0);
            s1 = _mm512_fmadd_ps(b0, _mm512_load_ps(xp + 32 * j + 16), s1);
        }
        y[r] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
    }
}
SP_T512 static void bitmap_bf16_rows_512(const sp_mat *a, const float *x, const float *xp, float *y, int r0, int r1) {
    (void)x;
    bitmap_h_rows_512(a, xp, y, r0, r1, 1);
}
SP_T512 static void bitmap_f16_rows_512(const sp_mat *a, const float *x, const float *xp, float *y, int r0, int r1) {
    (void)x;
    bitmap_h_rows_512(a, xp, y, r0, r1, 0);
}

SP_T512 static void bitmap_f32_rows_512(const sp_mat *a, const float *x, const float *xp, float *y, int r0, int r1) {
    (void)x;
    const sp_bitmap *b = &a->u.bitmap;
    int nch = (b->cols + 15) / 16;
    const float *end = (const float *)b->vals + b->nnz;
    for (int r = r0; r < r1; r++) {
        const uint8_t *mb = (const uint8_t *)(b->bits + (size_t)r * b->row_words);
        const float *v = (const float *)b->vals + b->row_off[r];
        __m512 s0 = _mm512_setzero_ps(), s1 = s0;
        int j = 0;
        for (; j + 2 <= nch; j += 2) {
            uint32_t m = sp_ld32(mb + 2 * j);
            __mmask16 m0 = (__mmask16)m, m1 = (__mmask16)(m >> 16);
            s0 = _mm512_fmadd_ps(sp_expand_ps_to(m0, v, end),
                                 _mm512_load_ps(xp + 16 * j), s0);
            v += __builtin_popcount(m0);
            s1 = _mm512_fmadd_ps(sp_expand_ps_to(m1, v, end),
                                 _mm512_load_ps(xp + 16 * j + 16), s1);
            v += __builtin_popcount(m1);
        }
        if (j < nch)
            s0 = _mm512_fmadd_ps(sp_expand_ps_to(sp_ld16(mb + 2 * j), v, end),
                                 _mm512_load_ps(xp + 16 * j), s0);
        y[r] = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
    }
}

/* ---- AVX2 */

static int32_t perm_lut[256][8]; /* [mask][lane] = packed index of lane's value */
static int32_t lane_lut[256][8]; /* [mask][lane] = -1 if the lane's bit is set */
static void build_luts(void) {
    static int done;
    if (__atomic_load_n(&done, __ATOMIC_ACQUIRE)) return;
    for (int m = 0; m < 256; m++) {
        int k = 0;
        for (int j = 0; j < 8; j++) {
            perm_lut[m][j] = (m >> j) & 1 ? k : 0;
            lane_lut[m][j] = (m >> j) & 1 ? -1 : 0;
            k += (m >> j) & 1;
        }
    }
    __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
}

SP_INL SP_T256 void bitmap_rows_256_t(const sp_mat *a, const float *xp, float *y, int r0, int r1, sp_dtype dt) {
    const sp_bitmap *b = &a->u.bitmap;
    int nbytes = (b->cols + 7) / 8;
    size_t vs = sp_dtype_size(dt);
    int64_t safe_end = b->nnz - 8; /* a full 8-value load from k is in bounds iff k <= safe_end */
    for (int r = r0; r < r1; r++) {
        const uint8_t *mb = (const uint8_t *)(b->bits + (size_t)r * b->row_words);
        int64_t k = b->row_off[r];
        __m256 s0 = _mm256_setzero_ps(), s1 = s0;
        for (int j = 0; j < nbytes; j++) {
            unsigned m = mb[j];
            if (!m) continue;
            __m256 w;
            if (k <= safe_end) {
                w = sp_ld8v(b->vals, dt, k);
            } else { /* near the end of the value array: copy what is there */
                __attribute__((aligned(32))) uint8_t tmp[32] = {0};
                memcpy(tmp, (const uint8_t *)b->vals + (size_t)k * vs, (size_t)(b->nnz - k) * vs);
                w = sp_ld8v(tmp, dt, 0);
            }
            w = _mm256_permutevar8x32_ps(w, _mm256_loadu_si256((const __m256i *)perm_lut[m]));
            w = _mm256_and_ps(w, _mm256_castsi256_ps(_mm256_loadu_si256((const __m256i *)lane_lut[m])));
            if (j & 1) s1 = _mm256_fmadd_ps(w, _mm256_loadu_ps(xp + 8 * j), s1);
            else s0 = _mm256_fmadd_ps(w, _mm256_loadu_ps(xp + 8 * j), s0);
            k += __builtin_popcount(m);
        }
        y[r] = sp_hsum8(_mm256_add_ps(s0, s1));
    }
}
SP_T256 static void bitmap_f32_rows_256(const sp_mat *a, const float *x, const float *xp, float *y, int r0, int r1) {
    (void)x;
    build_luts();
    bitmap_rows_256_t(a, xp, y, r0, r1, SP_DTYPE_F32);
}
SP_T256 static void bitmap_bf16_rows_256(const sp_mat *a, const float *x, const float *xp, float *y, int r0, int r1) {
    (void)x;
    build_luts();
    bitmap_rows_256_t(a, xp, y, r0, r1, SP_DTYPE_BF16);
}
SP_T256 static void bitmap_f16_rows_256(const sp_mat *a, const float *x, const float *xp, float *y, int r0, int r1) {
    (void)x;
    build_luts();
    bitmap_rows_256_t(a, xp, y, r0, r1, SP_DTYPE_F16);
}

sp_rows_fn sp_cpu_bitmap_rows(const sp_mat *a, sp_cpu_level lv) {
    sp_dtype dt = a->u.bitmap.dtype;
    if (lv == SP_CPU_AVX512)
        return dt == SP_DTYPE_F32 ? bitmap_f32_rows_512 : dt == SP_DTYPE_BF16 ? bitmap_bf16_rows_512 : bitmap_f16_rows_512;
    if (lv == SP_CPU_AVX2)
        return dt == SP_DTYPE_F32 ? bitmap_f32_rows_256 : dt == SP_DTYPE_BF16 ? bitmap_bf16_rows_256 : bitmap_f16_rows_256;
    return bitmap_rows_ref;
}

/* ---- decode rows to f32 (AVX-512 expand, natural order) */

SP_T512 static void bitmap_decode_512(const sp_mat *a, int r0, int r1, float *w) {
    const sp_bitmap *b = &a->u.bitmap;
    int cols = b->cols, nch = (cols + 15) / 16;
    sp_dtype dt = b->dtype;
    for (int r = r0; r < r1; r++) {
        const uint8_t *mb = (const uint8_t *)(b->bits + (size_t)r * b->row_words);
        float *o = w + (size_t)(r - r0) * cols;
        int64_t k = b->row_off[r];
        for (int j = 0; j < nch; j++) {
            __mmask16 m = sp_ld16(mb + 2 * j);
            __m512 f;
            if (dt == SP_DTYPE_F32) {
                f = sp_expand_ps_to(m, (const float *)b->vals + k, (const float *)b->vals + b->nnz);
            } else {
                __m256i h = _mm512_castsi512_si256(sp_expand16_to(m, (const uint16_t *)b->vals + k, (const uint16_t *)b->vals + b->nnz));
                f = dt == SP_DTYPE_BF16 ? _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16))
                                        : _mm512_cvtph_ps(h);
            }
            k += __builtin_popcount(m);
            __mmask16 st = cols - 16 * j >= 16 ? 0xFFFF : (__mmask16)((1u << (cols - 16 * j)) - 1);
            _mm512_mask_storeu_ps(o + 16 * j, st, f);
        }
    }
}

sp_decode_fn sp_cpu_bitmap_decode(const sp_mat *a, sp_cpu_level lv) {
    (void)a;
    return lv == SP_CPU_AVX512 ? bitmap_decode_512 : sp_cpu_decode_ref;
}
