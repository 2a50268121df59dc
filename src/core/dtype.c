/* dtype.c: element types and exact conversions between f32, f16 and bf16. */
#include <math.h>
#include <string.h>

#include "sparsity.h"

static const struct { const char *name; size_t size; } dtypes[SP_DTYPE_COUNT] = {
    [SP_DTYPE_F32] = {"F32", 4}, [SP_DTYPE_F16] = {"F16", 2}, [SP_DTYPE_BF16] = {"BF16", 2},
    [SP_DTYPE_F64] = {"F64", 8}, [SP_DTYPE_I8] = {"I8", 1},   [SP_DTYPE_U8] = {"U8", 1},
    [SP_DTYPE_I16] = {"I16", 2}, [SP_DTYPE_I32] = {"I32", 4}, [SP_DTYPE_I64] = {"I64", 8},
    [SP_DTYPE_U16] = {"U16", 2},
};

size_t sp_dtype_size(sp_dtype t) { return (unsigned)t < SP_DTYPE_COUNT ? dtypes[t].size : 0; }
const char *sp_dtype_name(sp_dtype t) { return (unsigned)t < SP_DTYPE_COUNT ? dtypes[t].name : "?"; }

int sp_dtype_from_name(const char *name) {
    for (int i = 0; i < SP_DTYPE_COUNT; i++)
        if (strcmp(name, dtypes[i].name) == 0) return i;
    return SP_ERR_FORMAT;
}

static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float sp_bf16_to_f32(uint16_t h) { return u2f((uint32_t)h << 16); }

uint16_t sp_f32_to_bf16(float f) {
    uint32_t u = f2u(f);
    if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fff + ((u >> 16) & 1); /* round to nearest even */
    return (uint16_t)(u >> 16);
}

float sp_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0) { /* zero or subnormal: man * 2^-24 */
        float v = ldexpf((float)man, -24);
        return sign ? -v : v;
    }
    if (exp == 31) return u2f(sign | 0x7f800000 | (man << 13));
    return u2f(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t sp_f32_to_f16(float f) {
    uint32_t u = f2u(f), sign = (u >> 16) & 0x8000;
    uint32_t a = u & 0x7fffffff;
    if (a > 0x7f800000) return (uint16_t)(sign | 0x7e00);
    if (a >= 0x477ff000) return (uint16_t)(sign | 0x7c00); /* rounds to >= 65536: inf */
    if (a < 0x38800000) { /* below 2^-14: subnormal f16, round to nearest even */
        float v = u2f(a) * 16777216.0f; /* scale by 2^24: exact */
        float r = nearbyintf(v);
        return (uint16_t)(sign | (uint32_t)r);
    }
    uint32_t m = a + 0xfff + ((a >> 13) & 1) - (112u << 23);
    return (uint16_t)(sign | (m >> 13));
}

int sp_convert_to_f32(sp_dtype t, const void *in, float *out, size_t n) {
    switch (t) {
    case SP_DTYPE_F32: memcpy(out, in, n * 4); return 0;
    case SP_DTYPE_F16: for (size_t i = 0; i < n; i++) out[i] = sp_f16_to_f32(((const uint16_t *)in)[i]); return 0;
    case SP_DTYPE_BF16: for (size_t i = 0; i < n; i++) out[i] = sp_bf16_to_f32(((const uint16_t *)in)[i]); return 0;
    case SP_DTYPE_F64: for (size_t i = 0; i < n; i++) out[i] = (float)((const double *)in)[i]; return 0;
    case SP_DTYPE_I8: for (size_t i = 0; i < n; i++) out[i] = ((const int8_t *)in)[i]; return 0;
    case SP_DTYPE_U8: for (size_t i = 0; i < n; i++) out[i] = ((const uint8_t *)in)[i]; return 0;
    case SP_DTYPE_I16: for (size_t i = 0; i < n; i++) out[i] = ((const int16_t *)in)[i]; return 0;
    case SP_DTYPE_I32: for (size_t i = 0; i < n; i++) out[i] = (float)((const int32_t *)in)[i]; return 0;
    case SP_DTYPE_I64: for (size_t i = 0; i < n; i++) out[i] = (float)((const int64_t *)in)[i]; return 0;
    case SP_DTYPE_U16: for (size_t i = 0; i < n; i++) out[i] = ((const uint16_t *)in)[i]; return 0;
    default: return sp_error(SP_ERR_ARG, "convert: unknown dtype %d", (int)t);
    }
}

int sp_convert_from_f32(sp_dtype t, const float *in, void *out, size_t n) {
    switch (t) {
    case SP_DTYPE_F32: memcpy(out, in, n * 4); return 0;
    case SP_DTYPE_F16: for (size_t i = 0; i < n; i++) ((uint16_t *)out)[i] = sp_f32_to_f16(in[i]); return 0;
    case SP_DTYPE_BF16: for (size_t i = 0; i < n; i++) ((uint16_t *)out)[i] = sp_f32_to_bf16(in[i]); return 0;
    case SP_DTYPE_F64: for (size_t i = 0; i < n; i++) ((double *)out)[i] = in[i]; return 0;
    default: return sp_error(SP_ERR_ARG, "convert: cannot store f32 as %s", sp_dtype_name(t));
    }
}
