/* wgmma.cuh: what the wgmma kernels share (sp24_wgmma.cu, the prefill GEMM; sp24_wgdec.cu, the
 * decode GEMM; flash_attn.cu, the wgmma attention): the sm_90a guard, the descriptors of 128-byte
 * swizzled tiles (K-major, and MN-major for the attention's V), the sparse wgmma with A from
 * registers (m64nBNk32), the dense one the attention issues (wg_mma_rs), and the accumulator fence. */
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

/* an MN-major (N contiguous) operand of 128-byte swizzled rows: 64 N-elements (128 bytes) a
 * row, 8 K-rows 1024 bytes apart (SBO), the next 64 N-elements lbo bytes on (LBO); PTX ISA
 * "Shared Memory Matrix Layout": ((T,8,m),(8,k)):((1,T,LBO),(8T,SBO)) */
__device__ __forceinline__ uint64_t wg_desc_mn(uint32_t addr, uint32_t lbo) {
    return (uint64_t)((addr & 0x3FFFF) >> 4) | ((uint64_t)(lbo >> 4) << 16) | ((uint64_t)(1024 >> 4) << 32) | (1ull << 62);
}

#define WG_F8(d, i) "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), "+f"(d[i + 6]), "+f"(d[i + 7])
#define WG_F64(d, i) WG_F8(d, i), WG_F8(d, i + 8), WG_F8(d, i + 16), WG_F8(d, i + 24), WG_F8(d, i + 32), WG_F8(d, i + 40), WG_F8(d, i + 48), WG_F8(d, i + 56)
#define WG_R64                                                                                     \
    "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "                       \
    "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "             \
    "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "             \
    "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
#define WG_R32                                                                                     \
    "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "                       \
    "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31"
#define WG_R128_HI                                                                                 \
    ", %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, "           \
    "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, "             \
    "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, "  \
    "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127"
/* d (64 x BN f32) += A (64 x 32, 2:4: a, metadata e, selector SEL) * B (32 x BN at desc); A and
 * B bf16, or f16 (F16) */
#define WG_MMA_256(TY)                                                                            \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"                                       \
                 "wgmma.mma_async.sp.sync.aligned.m64n256k32.f32." TY "." TY " {" WG_R64 WG_R128_HI "}, " \
                 "{%128, %129, %130, %131}, %132, %133, %134, p, 1, 1, 0;\n}"                     \
                 : WG_F64(d, 0), WG_F64(d, 64)                                                    \
                 : "r"(a.x), "r"(a.y), "r"(a.z), "r"(a.w), "l"(desc), "r"(e), "n"(SEL))
#define WG_MMA_128(TY)                                                                            \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"                                       \
                 "wgmma.mma_async.sp.sync.aligned.m64n128k32.f32." TY "." TY " {" WG_R64 "}, "      \
                 "{%64, %65, %66, %67}, %68, %69, %70, p, 1, 1, 0;\n}"                             \
                 : WG_F64(d, 0)                                                                   \
                 : "r"(a.x), "r"(a.y), "r"(a.z), "r"(a.w), "l"(desc), "r"(e), "n"(SEL))
#define WG_MMA_32(TY)                                                                             \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"                                       \
                 "wgmma.mma_async.sp.sync.aligned.m64n32k32.f32." TY "." TY                        \
                 " {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15}, "       \
                 "{%16, %17, %18, %19}, %20, %21, %22, p, 1, 1, 0;\n}"                             \
                 : WG_F8(d, 0), WG_F8(d, 8)                                                       \
                 : "r"(a.x), "r"(a.y), "r"(a.z), "r"(a.w), "l"(desc), "r"(e), "n"(SEL))
#define WG_MMA_16(TY)                                                                             \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"                                       \
                 "wgmma.mma_async.sp.sync.aligned.m64n16k32.f32." TY "." TY                        \
                 " {%0, %1, %2, %3, %4, %5, %6, %7}, {%8, %9, %10, %11}, %12, %13, %14, p, 1, 1, 0;\n}" \
                 : WG_F8(d, 0)                                                                    \
                 : "r"(a.x), "r"(a.y), "r"(a.z), "r"(a.w), "l"(desc), "r"(e), "n"(SEL))
#define WG_MMA_8(TY)                                                                              \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"                                       \
                 "wgmma.mma_async.sp.sync.aligned.m64n8k32.f32." TY "." TY                         \
                 " {%0, %1, %2, %3}, {%4, %5, %6, %7}, %8, %9, %10, p, 1, 1, 0;\n}"                \
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])                                 \
                 : "r"(a.x), "r"(a.y), "r"(a.z), "r"(a.w), "l"(desc), "r"(e), "n"(SEL))
/* BN 8-32: the decode (sp24_wgdec.cu); 128 and 256: the prefill GEMM (sp24_wgmma.cu) */
template <int BN, int SEL, bool F16 = false>
__device__ __forceinline__ void wg_mma_sp(float *d, const uint4 &a, uint64_t desc, uint32_t e) {
    static_assert(BN == 8 || BN == 16 || BN == 32 || BN == 128 || BN == 256, "BN is 8, 16, 32, 128 or 256");
    if constexpr (BN == 256 && F16) WG_MMA_256("f16"); /* 128 accumulators a thread: only where A needs few registers (tile 8) */
    else if constexpr (BN == 256) WG_MMA_256("bf16");
    else if constexpr (BN == 128 && F16) WG_MMA_128("f16");
    else if constexpr (BN == 128) WG_MMA_128("bf16");
    else if constexpr (BN == 32 && F16) WG_MMA_32("f16");
    else if constexpr (BN == 32) WG_MMA_32("bf16");
    else if constexpr (BN == 16 && F16) WG_MMA_16("f16");
    else if constexpr (BN == 16) WG_MMA_16("bf16");
    else if constexpr (F16) WG_MMA_8("f16");
    else WG_MMA_8("bf16");
}
#undef WG_MMA_256
#undef WG_MMA_128
#undef WG_MMA_32
#undef WG_MMA_16
#undef WG_MMA_8

/* dense bf16, f32 accumulate: d (64 x N, N / 2 a thread) += A (64 x 16 in registers, the mma.sync
 * m16n8k16 A fragment of each warp's 16 rows) B (16 x N at db; TB 0: K-major, 1: MN-major,
 * imm-trans-b). The attention's steps: S = Q K^T (N 64, K-major) and O += P V (N = head dim, V
 * MN-major). */
template <int N, int TB>
__device__ __forceinline__ void wg_mma_rs(float *d, const uint32_t *a, uint64_t db) {
    static_assert(N == 64 || N == 128, "N is 64 or 128");
    if constexpr (N == 128)
        asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"
                     "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {" WG_R64 "}, {%64, %65, %66, %67}, %68, p, 1, 1, %69;\n}"
                     : WG_F64(d, 0)
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "n"(TB));
    else
        asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"
                     "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {" WG_R32 "}, {%32, %33, %34, %35}, %36, p, 1, 1, %37;\n}"
                     : WG_F8(d, 0), WG_F8(d, 8), WG_F8(d, 16), WG_F8(d, 24)
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "n"(TB));
}

/* keeps the compiler from moving accumulator reads/writes across wgmma fences and waits */
template <int NA>
__device__ __forceinline__ void wg_fence_acc(float *d) {
#pragma unroll
    for (int i = 0; i < NA; i++) asm volatile("" : "+f"(d[i])::"memory");
}
#endif
