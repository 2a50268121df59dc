/* wgmma.cuh: what the two wgmma.sp kernels share (sp24_wgmma.cu, the prefill GEMM;
 * sp24_wgdec.cu, the decode GEMM): the sm_90a guard, the B descriptor of a 128-byte swizzled
 * K-major x tile and the accumulator fence. */
#pragma once
#include <stdint.h>

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define WG_SM90A 1
#endif

#ifdef WG_SM90A
/* B descriptor of a stage at shared address addr: K-major, 128-byte swizzle, 8-token
 * groups 1024 bytes apart (SBO), LBO unused (1) */
__device__ __forceinline__ uint64_t wg_desc(uint32_t addr) {
    return (uint64_t)((addr & 0x3FFFF) >> 4) | (1ull << 16) | ((uint64_t)(1024 >> 4) << 32) | (1ull << 62);
}

/* keeps the compiler from moving accumulator reads/writes across wgmma fences and waits */
template <int NA>
__device__ __forceinline__ void wg_fence_acc(float *d) {
#pragma unroll
    for (int i = 0; i < NA; i++) asm volatile("" : "+f"(d[i])::"memory");
}
#endif
