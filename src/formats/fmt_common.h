/* fmt_common.h: helpers shared by the format files (value access, aligned arrays). */
#ifndef SP_FMT_COMMON_H
#define SP_FMT_COMMON_H

#include <stdlib.h>
#include <string.h>

#include "sparsity_formats.h"

/* 64-byte aligned, at least 64 bytes, zero-filled; NULL on failure. */
static inline void *sp_fmt_alloc(size_t bytes) {
    size_t n = (bytes + 63) / 64 * 64;
    if (n == 0) n = 64;
    void *p = aligned_alloc(64, n);
    if (p) memset(p, 0, n);
    return p;
}

static inline int sp_fmt_dtype_ok(sp_dtype dt) {
    return dt == SP_DTYPE_F32 || dt == SP_DTYPE_F16 || dt == SP_DTYPE_BF16;
}

/* value i of array v in dtype dt, as f32 */
static inline float sp_val_get(const void *v, sp_dtype dt, int64_t i) {
    if (dt == SP_DTYPE_F32) return ((const float *)v)[i];
    if (dt == SP_DTYPE_BF16) return sp_bf16_to_f32(((const uint16_t *)v)[i]);
    return sp_f16_to_f32(((const uint16_t *)v)[i]);
}

static inline void sp_val_put(void *v, sp_dtype dt, int64_t i, float f) {
    if (dt == SP_DTYPE_F32) ((float *)v)[i] = f;
    else if (dt == SP_DTYPE_BF16) ((uint16_t *)v)[i] = sp_f32_to_bf16(f);
    else ((uint16_t *)v)[i] = sp_f32_to_f16(f);
}

/* Common argument checks for from_dense. */
static inline int sp_fmt_check_args(const char *who, const float *w, int rows, int cols, sp_dtype dt) {
    if (!w && rows > 0 && cols > 0) return sp_error(SP_ERR_ARG, "%s: NULL weight", who);
    if (rows < 0 || cols < 0) return sp_error(SP_ERR_ARG, "%s: negative shape %dx%d", who, rows, cols);
    if (!sp_fmt_dtype_ok(dt))
        return sp_error(SP_ERR_ARG, "%s: value dtype %s not supported (F32, F16, BF16)", who, sp_dtype_name(dt));
    return 0;
}

static inline int sp_fmt_check_hdr(const char *who, int rows, int cols, sp_dtype dt, const void *vals, int64_t nvals) {
    if (rows < 0 || cols < 0) return sp_error(SP_ERR_FORMAT, "%s: negative shape %dx%d", who, rows, cols);
    if (!sp_fmt_dtype_ok(dt)) return sp_error(SP_ERR_FORMAT, "%s: bad value dtype %d", who, (int)dt);
    if (nvals < 0) return sp_error(SP_ERR_FORMAT, "%s: negative count %lld", who, (long long)nvals);
    if (nvals > 0 && !vals) return sp_error(SP_ERR_FORMAT, "%s: NULL values with %lld entries", who, (long long)nvals);
    return 0;
}

#endif
