/* gguf_dequant.c: ggml tensor types (block sizes, names) and their dequantizers.
 *
 * Every quantized type stores a row as a run of fixed-size blocks; each block
 * holds blck elements. Multi-byte fields are little-endian and may be
 * unaligned in the file, so they are read with memcpy. "d"/"m"/"dmin" are
 * f16 scales unless stated. Layouts (bytes), x = dequantized element:
 *
 *  Q4_0 (32 el, 18 B): d, qs[16]       x[j] = d*((qs[j]&15)-8), x[j+16] = d*((qs[j]>>4)-8)
 *  Q4_1 (32 el, 20 B): d, m, qs[16]    x[j] = d*(qs[j]&15)+m,   x[j+16] = d*(qs[j]>>4)+m
 *  Q5_0 (32 el, 22 B): d, qh u32, qs[16]  5th bit of x[j] is bit j of qh, of x[j+16] bit j+16;
 *                                      x = d*(q5-16)
 *  Q5_1 (32 el, 24 B): d, m, qh u32, qs[16]  x = d*q5 + m
 *  Q8_0 (32 el, 34 B): d, qs int8[32]  x[j] = d*qs[j]
 *  Q2_K (256 el, 84 B): scales[16], qs[64], d, dmin. 16 sub-blocks of 16; scale byte:
 *        low nibble sc, high nibble mn; x = d*sc*q2 - dmin*mn
 *  Q3_K (256 el, 110 B): hmask[32], qs[64], scales[12] (16 6-bit scales), d;
 *        x = d*(sc-32)*(q2 - (hbit ? 0 : 4))
 *  Q4_K (256 el, 144 B): d, dmin, scales[12] (8 6-bit scale/min pairs), qs[128];
 *        x = d*sc*q4 - dmin*mn
 *  Q5_K (256 el, 176 B): d, dmin, scales[12], qh[32], qs[128]; as Q4_K with a 5th bit
 *  Q6_K (256 el, 210 B): ql[128], qh[64], scales int8[16], d; x = d*sc*(q6-32)
 *  F32/F16/BF16/F64/I8/I16/I32/I64: plain little-endian elements.
 */
#include <string.h>

#include "io/gguf_dequant.h"
#include "sparsity.h"

enum { T_Q8_1 = 9, T_IQ2_XXS = 16, T_IQ2_XS, T_IQ3_XXS, T_IQ1_S, T_IQ4_NL, T_IQ3_S, T_IQ2_S, T_IQ4_XS,
       T_I8 = 24, T_I16, T_I32, T_I64, T_F64, T_IQ1_M, T_TQ1_0 = 34, T_TQ2_0 = 35, T_MXFP4 = 39 };

#define N_TYPES 40
static const sp_ggml_traits traits[N_TYPES] = {
    [SP_GGML_F32] = {"F32", 1, 4, 1},        [SP_GGML_F16] = {"F16", 1, 2, 1},
    [SP_GGML_Q4_0] = {"Q4_0", 32, 18, 1},    [SP_GGML_Q4_1] = {"Q4_1", 32, 20, 1},
    [SP_GGML_Q5_0] = {"Q5_0", 32, 22, 1},    [SP_GGML_Q5_1] = {"Q5_1", 32, 24, 1},
    [SP_GGML_Q8_0] = {"Q8_0", 32, 34, 1},    [T_Q8_1] = {"Q8_1", 32, 40, 0},
    [SP_GGML_Q2_K] = {"Q2_K", 256, 84, 1},   [SP_GGML_Q3_K] = {"Q3_K", 256, 110, 1},
    [SP_GGML_Q4_K] = {"Q4_K", 256, 144, 1},  [SP_GGML_Q5_K] = {"Q5_K", 256, 176, 1},
    [SP_GGML_Q6_K] = {"Q6_K", 256, 210, 1},  [SP_GGML_Q8_K] = {"Q8_K", 256, 292, 0},
    [T_IQ2_XXS] = {"IQ2_XXS", 256, 66, 0},   [T_IQ2_XS] = {"IQ2_XS", 256, 74, 0},
    [T_IQ3_XXS] = {"IQ3_XXS", 256, 98, 0},   [T_IQ1_S] = {"IQ1_S", 256, 50, 0},
    [T_IQ4_NL] = {"IQ4_NL", 32, 18, 0},      [T_IQ3_S] = {"IQ3_S", 256, 110, 0},
    [T_IQ2_S] = {"IQ2_S", 256, 82, 0},       [T_IQ4_XS] = {"IQ4_XS", 256, 136, 0},
    [T_I8] = {"I8", 1, 1, 1},                [T_I16] = {"I16", 1, 2, 1},
    [T_I32] = {"I32", 1, 4, 1},              [T_I64] = {"I64", 1, 8, 1},
    [T_F64] = {"F64", 1, 8, 1},              [T_IQ1_M] = {"IQ1_M", 256, 56, 0},
    [SP_GGML_BF16] = {"BF16", 1, 2, 1},      [T_TQ1_0] = {"TQ1_0", 256, 54, 0},
    [T_TQ2_0] = {"TQ2_0", 256, 66, 0},       [T_MXFP4] = {"MXFP4", 32, 17, 0},
};

const sp_ggml_traits *sp_ggml_traits_of(uint32_t type) {
    return type < N_TYPES && traits[type].name ? &traits[type] : NULL;
}

const char *sp_ggml_type_name(uint32_t type) {
    const sp_ggml_traits *t = sp_ggml_traits_of(type);
    return t ? t->name : "unknown";
}

size_t sp_ggml_nbytes(uint32_t type, int64_t n) {
    const sp_ggml_traits *t = sp_ggml_traits_of(type);
    if (!t || n < 0 || n % t->blck) return 0;
    return (size_t)(n / t->blck) * (size_t)t->size;
}

/* --------------------------------------------------------------- little-endian loads */

static float ld_f16(const uint8_t *p) { uint16_t h; memcpy(&h, p, 2); return sp_f16_to_f32(h); }
static uint32_t ld_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

/* --------------------------------------------------------------- 32-element blocks */

/* y[j] = d*((qs[j]&15)-8), y[j+16] = d*((qs[j]>>4)-8) */
static void dq_q4_0(const uint8_t *b, float *y) {
    float d = ld_f16(b);
    const uint8_t *qs = b + 2;
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)((qs[j] & 15) - 8);
        y[j + 16] = d * (float)((qs[j] >> 4) - 8);
    }
}

/* y[j] = d*(qs[j]&15) + m, y[j+16] = d*(qs[j]>>4) + m */
static void dq_q4_1(const uint8_t *b, float *y) {
    float d = ld_f16(b), m = ld_f16(b + 2);
    const uint8_t *qs = b + 4;
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)(qs[j] & 15) + m;
        y[j + 16] = d * (float)(qs[j] >> 4) + m;
    }
}

/* q5 = low nibble | bit j of qh << 4;  y = d*(q5-16) */
static void dq_q5_0(const uint8_t *b, float *y) {
    float d = ld_f16(b);
    uint32_t qh = ld_u32(b + 2);
    const uint8_t *qs = b + 6;
    for (int j = 0; j < 16; j++) {
        int lo = (qs[j] & 15) | (int)(((qh >> j) & 1) << 4);
        int hi = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
        y[j] = d * (float)(lo - 16);
        y[j + 16] = d * (float)(hi - 16);
    }
}

/* y = d*q5 + m */
static void dq_q5_1(const uint8_t *b, float *y) {
    float d = ld_f16(b), m = ld_f16(b + 2);
    uint32_t qh = ld_u32(b + 4);
    const uint8_t *qs = b + 8;
    for (int j = 0; j < 16; j++) {
        int lo = (qs[j] & 15) | (int)(((qh >> j) & 1) << 4);
        int hi = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
        y[j] = d * (float)lo + m;
        y[j + 16] = d * (float)hi + m;
    }
}

/* y[j] = d*qs[j] */
static void dq_q8_0(const uint8_t *b, float *y) {
    float d = ld_f16(b);
    const int8_t *qs = (const int8_t *)(b + 2);
    for (int j = 0; j < 32; j++) y[j] = d * (float)qs[j];
}

/* --------------------------------------------------------------- 256-element K blocks */

/* y = d*sc*q2 - dmin*mn over 16 sub-blocks of 16 (scale byte = mn<<4 | sc) */
static void dq_q2_k(const uint8_t *b, float *y) {
    const uint8_t *sc = b, *q = b + 16;
    float d = ld_f16(b + 80), dmin = ld_f16(b + 82);
    int is = 0;
    for (int half = 0; half < 2; half++, q += 32) /* 128 elements from 32 bytes of q */
        for (int shift = 0; shift < 8; shift += 2)
            for (int k = 0; k < 2; k++) { /* bytes 0..15 then 16..31 */
                float dl = d * (float)(sc[is] & 15), ml = dmin * (float)(sc[is] >> 4);
                is++;
                for (int l = 0; l < 16; l++) *y++ = dl * (float)((q[16 * k + l] >> shift) & 3) - ml;
            }
}

/* 16 6-bit scales packed in 12 bytes: low 4 bits from bytes 0..7 (nibbles),
 * high 2 bits from bytes 8..11 (2 bits each). */
static void unpack_q3_k_scales(const uint8_t *s, int sc[16]) {
    for (int i = 0; i < 16; i++) {
        int low = i < 8 ? s[i] & 15 : s[i - 8] >> 4;
        int high = (s[8 + (i & 3)] >> (2 * (i >> 2))) & 3;
        sc[i] = (low | (high << 4)) - 32;
    }
}

/* y = d*sc*(q2 - (hmask bit ? 0 : 4)) */
static void dq_q3_k(const uint8_t *b, float *y) {
    const uint8_t *hm = b, *q = b + 32;
    float d = ld_f16(b + 108);
    int sc[16];
    unpack_q3_k_scales(b + 96, sc);
    int is = 0, bit = 0;
    for (int half = 0; half < 2; half++, q += 32)
        for (int shift = 0; shift < 8; shift += 2, bit++)
            for (int k = 0; k < 2; k++) {
                float dl = d * (float)sc[is++];
                for (int l = 0; l < 16; l++) {
                    int idx = 16 * k + l;
                    int v = ((q[idx] >> shift) & 3) - ((hm[idx] >> bit) & 1 ? 0 : 4);
                    *y++ = dl * (float)v;
                }
            }
}

/* Scale/min pair j (0..7) of the 12-byte Q4_K/Q5_K scales: 6 bits each. */
static void k4_scale_min(int j, const uint8_t *s, int *sc, int *mn) {
    if (j < 4) {
        *sc = s[j] & 63;
        *mn = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
        *mn = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

/* y = d*sc*q4 - dmin*mn over 8 sub-blocks of 32 */
static void dq_q4_k(const uint8_t *b, float *y) {
    float d = ld_f16(b), dmin = ld_f16(b + 2);
    const uint8_t *s = b + 4, *q = b + 16;
    for (int j = 0; j < 8; j += 2, q += 32) {
        int sc, mn;
        k4_scale_min(j, s, &sc, &mn);
        float d1 = d * (float)sc, m1 = dmin * (float)mn;
        k4_scale_min(j + 1, s, &sc, &mn);
        float d2 = d * (float)sc, m2 = dmin * (float)mn;
        for (int l = 0; l < 32; l++) y[l] = d1 * (float)(q[l] & 15) - m1;
        for (int l = 0; l < 32; l++) y[l + 32] = d2 * (float)(q[l] >> 4) - m2;
        y += 64;
    }
}

/* As Q4_K; bit j of qh[l] is the 5th bit of element l of sub-block j */
static void dq_q5_k(const uint8_t *b, float *y) {
    float d = ld_f16(b), dmin = ld_f16(b + 2);
    const uint8_t *s = b + 4, *qh = b + 16, *q = b + 48;
    for (int j = 0; j < 8; j += 2, q += 32) {
        int sc, mn;
        k4_scale_min(j, s, &sc, &mn);
        float d1 = d * (float)sc, m1 = dmin * (float)mn;
        k4_scale_min(j + 1, s, &sc, &mn);
        float d2 = d * (float)sc, m2 = dmin * (float)mn;
        for (int l = 0; l < 32; l++) y[l] = d1 * (float)((q[l] & 15) | (((qh[l] >> j) & 1) << 4)) - m1;
        for (int l = 0; l < 32; l++)
            y[l + 32] = d2 * (float)((q[l] >> 4) | (((qh[l] >> (j + 1)) & 1) << 4)) - m2;
        y += 64;
    }
}

/* y = d*sc*(q6-32); q6 = 4 bits of ql | 2 bits of qh << 4, 16 sub-blocks of 16 */
static void dq_q6_k(const uint8_t *b, float *y) {
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 192);
    float d = ld_f16(b + 208);
    for (int half = 0; half < 2; half++, ql += 64, qh += 32, sc += 8, y += 128)
        for (int l = 0; l < 32; l++) {
            int is = l / 16;
            int q1 = ((ql[l] & 15) | (((qh[l] >> 0) & 3) << 4)) - 32;
            int q2 = ((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32;
            int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l] = d * (float)sc[is] * (float)q1;
            y[l + 32] = d * (float)sc[is + 2] * (float)q2;
            y[l + 64] = d * (float)sc[is + 4] * (float)q3;
            y[l + 96] = d * (float)sc[is + 6] * (float)q4;
        }
}

/* --------------------------------------------------------------- plain elements */

static void dq_plain(uint32_t type, const uint8_t *p, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        switch (type) {
        case SP_GGML_F32: memcpy(&y[i], p + 4 * i, 4); break;
        case SP_GGML_F16: y[i] = ld_f16(p + 2 * i); break;
        case SP_GGML_BF16: { uint16_t h; memcpy(&h, p + 2 * i, 2); y[i] = sp_bf16_to_f32(h); break; }
        case T_F64: { double v; memcpy(&v, p + 8 * i, 8); y[i] = (float)v; break; }
        case T_I8: y[i] = (float)(int8_t)p[i]; break;
        case T_I16: { int16_t v; memcpy(&v, p + 2 * i, 2); y[i] = (float)v; break; }
        case T_I32: { int32_t v; memcpy(&v, p + 4 * i, 4); y[i] = (float)v; break; }
        case T_I64: { int64_t v; memcpy(&v, p + 8 * i, 8); y[i] = (float)v; break; }
        }
    }
}

typedef void (*dq_block_fn)(const uint8_t *b, float *y);

static dq_block_fn block_fn(uint32_t type) {
    switch (type) {
    case SP_GGML_Q4_0: return dq_q4_0;
    case SP_GGML_Q4_1: return dq_q4_1;
    case SP_GGML_Q5_0: return dq_q5_0;
    case SP_GGML_Q5_1: return dq_q5_1;
    case SP_GGML_Q8_0: return dq_q8_0;
    case SP_GGML_Q2_K: return dq_q2_k;
    case SP_GGML_Q3_K: return dq_q3_k;
    case SP_GGML_Q4_K: return dq_q4_k;
    case SP_GGML_Q5_K: return dq_q5_k;
    case SP_GGML_Q6_K: return dq_q6_k;
    default: return NULL;
    }
}

int sp_ggml_dequant(uint32_t type, const void *src, float *dst, int64_t n) {
    const sp_ggml_traits *t = sp_ggml_traits_of(type);
    if (!t) return sp_error(SP_ERR_UNSUPPORTED, "ggml type %u is unknown", type);
    if (!t->dequant) return sp_error(SP_ERR_UNSUPPORTED, "dequantizing ggml type %s is not supported", t->name);
    if (n < 0 || n % t->blck)
        return sp_error(SP_ERR_ARG, "%lld elements is not a multiple of the %s block size %d", (long long)n,
                        t->name, t->blck);
    const uint8_t *p = src;
    dq_block_fn fn = block_fn(type);
    /* Chunks of 64K elements so threads get even work; blocks never straddle chunks. */
    const int64_t chunk = 65536;
    int64_t n_chunks = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (n_chunks > 4)
    for (int64_t c = 0; c < n_chunks; c++) {
        int64_t i0 = c * chunk, i1 = i0 + chunk < n ? i0 + chunk : n;
        if (!fn) {
            dq_plain(type, p + (size_t)i0 * (size_t)t->size, dst + i0, i1 - i0);
            continue;
        }
        for (int64_t i = i0; i < i1; i += t->blck)
            fn(p + (size_t)(i / t->blck) * (size_t)t->size, dst + i);
    }
    return 0;
}
