/* cuda_names.h: the report names of sp_cuda_kernel, one list for the CUDA backend
 * (context.cu) and its stub (cuda_stub.c), so kernel tables (eval/kernel_table.c) read and
 * write the same names with or without CUDA. A name is part of the table file format. */
#ifndef SP_CUDA_NAMES_H
#define SP_CUDA_NAMES_H

#include "sparsity_cuda.h"

static const char *const sp_cuda_kernel_names[SP_CUDA_KERNEL_COUNT] = {
    "dense-cublas", "24-mma.sp", "24-cusparselt", "bitmap-mma", "csr-cusparse",
    "bitmap-rows",  "coo-cusparse", "bsr-cusparse", "csr16-warp", "delta-rows"};

static inline const char *sp_cuda_kernel_name_of(int k) {
    return k >= 0 && k < SP_CUDA_KERNEL_COUNT ? sp_cuda_kernel_names[k] : "?";
}

#endif
