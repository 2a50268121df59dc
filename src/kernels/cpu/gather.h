/* gather.h: dtype-specialized row kernels shared by the gather-based kernels (csr, coo, bsr). */
#ifndef SP_GATHER_H
#define SP_GATHER_H
#include "kernels/cpu/cpu_kernels.h"

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
