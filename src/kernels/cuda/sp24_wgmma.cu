/* sp24_wgmma.cu: 2:4 prefill GEMM for Hopper (sm_90a), y (n, out) = x (n, in) W^T on the
 * warpgroup sparse tensor-core instruction wgmma.mma_async.sp (m64nNk32, bf16 or f16 in, f32
 * accumulate, out in the input type). Owns the kernel, sp24_wgmma_usable and sp24_wgmma_run (gemm tiles
 * 4-17; sp24_gemm.cu's gemm_tile picks one of 14-17 from 256 tokens). Reads the weight layout the
 * decode kernel and sp24_gemm.cu read (v24/m24, see the top of sp24_gemv.cu): one upload
 * serves all; tiles 10-17 also read a copy in stage order that their first call makes from it.
 *
 * Block = 1 + NC warpgroups computing 64 NC output rows x BN tokens:
 *   warpgroup 0, producer: one thread streams x through a ring of S shared-memory stages
 *     with TMA (a tile of BN tokens x 64 columns = 128 bytes a token, 128-byte swizzle,
 *     zero-filled past n tokens and past `in` columns, so nothing past x is read); full[s]
 *     completes on the TMA bytes, empty[s] when all consumer warps are done with it.
 *     setmaxnreg gives its registers to the consumers.
 *   warpgroups 1..NC, consumers: each owns 64 rows (warp w: row tile 16w..16w+15 of them)
 *     and all BN tokens, BN/2 f32 accumulators a thread. A (the weight) is a register operand:
 *     v24[rt][s][lane] is exactly the per-warp A fragment of one k32 step and m24 component
 *     q the metadata register of steps 8ms+2q (sp-sel 0) and +1 (sp-sel 1), as in
 *     sp24_gemv.cu. How it reaches the registers is the template's WS:
 *       WS 0 (tile 4, v1): 16-byte loads from global into a register ring 3 stages ahead.
 *         Slow: all those loads share one scoreboard, so each stage's wgmma.fence waits for
 *         every load in flight, also those for later stages (SASS; ncu run 5: 47% of stalls).
 *       WS 1 (tiles 5, 7, 8): each consumer thread cp.asyncs its own fragments and metadata
 *         word into a private shared-memory ring WD - 1 stages ahead (counted cp.async
 *         groups keep that lead; only the thread reads its slots, so no barrier) and loads
 *         the next stage from it into a register pair the finished wgmma released.
 *       WS 2 (tile 9, experiment): no weight registers. The producer warpgroup's 128 threads
 *       cp.async the stage's fragments and metadata words into a private staging ring, then
 *       store them into the stage as the canonical K-major A tile (core matrices of 8 rows x 8
 *       kept values) and a word per consumer thread; the consumers keep one wgmma group in
 *       flight (wait_group 1). Correct, 0.6-0.7x tile 8: the repack costs more than the wait.
 *       WS 3 (tiles 10, 11, 12, 13; 11 automatic since run 110): tile 9's consumers without the repack:
 *       the stages are stored once in global memory (w->a24, built at the first call: a second
 *       copy of the weight, 9/8 of v24) and the producer thread bulk-copies each stage's A and
 *       metadata with the x tile onto the same full barrier. 1100-1250 TFLOP/s, level with
 *       cuSPARSELt (runs 110-112); 1137-1277 and 1-6% ahead of it (interleaved) once the consumers kept the
 *       barrier addresses in registers and counted the slot (run 119). Slower and reverted or
 *       kept for A/B: a persistent form (run 111, -1..-13%), two groups in flight (tile 12,
 *       run 115, -1..-4%), CTA pairs multicasting x (tile 13, runs 116-117, -3..-18%: the
 *       profile of run 115 had the consumers waiting on full barriers, but L2 at 63% was not why).
 *       WS 4 (tile 14, automatic since run 122): WS 3 persistent, one CTA an SM walking the
 *       units (the ring runs on from unit to unit, so the producer loads the next block's
 *       stages during the epilogue), and each consumer stores its 64 rows 32 tokens at a time
 *       through two 4 KB buffers by stmatrix and TMA stores (wg_store_unit). Run 119's times
 *       fit ~3.5 us a block outside its stages (the fill and the epilogue, ~12% at 4096
 *       columns); tile 14 took 3-5% fewer cycles at base clock (ncu, run 121) and was 0-5%
 *       faster interleaved with tile 11 (run 122). Run 111's persistent form, which lost 1-13%,
 *       stored through one 9 KB buffer a consumer with scalar shared stores, 16-byte thread
 *       stores and two warpgroup barriers a pass (which part cost most was not measured).
 *       Tile 15 (automatic where its rounds are fewer, runs 124-125): tile 14 with 128-token
 *       blocks and 8 stages, for a few hundred tokens. WS 4 loads a block past the last token
 *       in 64-token boxes up to n: the one 256-token box, zero-filled past n by TMA, made such
 *       a block up to 25% slower on 6144-28672 rows (run 125; on 4096 rows the boxes cost
 *       3-13% there instead, not understood).
 *     B (x) comes from the stage through a matrix descriptor (K-major, 128-byte swizzle,
 *     8-row groups 1024 bytes apart); the second k32 of a stage starts 64 bytes in.
 *     Per stage: wait full, wgmma.fence, 2 wgmma (one k32 each), commit, wait_group 1 (the
 *     previous stage's wgmma are done), release the previous stage, refill its A registers
 *     (BN 256: one pair only, so wait_group 0 and refill it; the other warpgroup fills the gap).
 *   Epilogue (WS 0-3): accumulators -> bf16 tile (token-major) in the ring -> 16-byte stores
 *     of y rows (scalar when out % 8 != 0); rows >= out and tokens >= n are never written.
 * Rasterization as sp24_gemm.cu: row blocks fastest inside groups whose weight slice fits a
 * third of L2.
 * Measured (H200, bench/results/gpu-h200.md runs 7-15, dense-equivalent TFLOP/s, cuBLAS dense
 * ~770-830): tile 4 680-740; tile 5 (128 x 128) 750-830; tile 8 (128 x 256) 930-1040 at 2048
 * and 8192 tokens, 1.20-1.28x cuBLAS (runs 11-15); cuSPARSELt 1.3-1.4x; tile 11 1137-1277, 1.45-1.60x
 * (run 119); tile 14 0-5% faster than tile 11, 1.50-1.62x in the target cells (run 122). Tried and not kept
 * (bench/NOTES.md): a single producer warp; weight bulk-copied by the producer; weight
 * registers loaded in batches with one fence a batch (490-670: the lead is no longer); tile 8
 * with 5 or 6 x stages (run 12: the same times); kept for A/B: CTA pairs multicasting x
 * (tile 6: 2.2x slower until the SASS showed the cluster-scope release's MEMBAR.ALL.GPU, run 118:
 * 0.8-0.9x tile 5), 3 consumers (tile 7, +-5%), the shared-memory A (tile 9, 0.6-0.7x).
 * The epilogue waits for the last wgmma inside the last stage: ptxas 13.0 hoisted the
 * accumulator reads above a wait placed after the loop, and fast consumers read unfinished
 * sums (runs 3, 6); tests/check_wgmma_sass.py checks the machine code.
 *
 * Facts and where they come from ([D] PTX ISA 9.1 text, [C] public code that uses it, [T]
 * tested by test_cuda on the H200, runs 2-4, including the cases that isolate each):
 *   [D/T] wgmma sparse metadata per warp is the mma.sp m16n8k32 layout: sp-sel 0 reads lanes
 *       t = 0,1 and sp-sel 1 lanes t = 2,3; warp w of the warpgroup holds rows 16w..16w+15.
 *   [T] A from registers: 4 .b32 placed per warp exactly as the mma.sp m16n8k32 A fragment.
 *   [C] operand order d, {a}, b-desc, sp-meta, sp-sel, scale-d, imm-scale-a, imm-scale-b,
 *       imm-trans-b. [D] accumulator: d[4j+2h+e] = row 16w+g+8h, token 8j+2t+e.
 *   [D/C] descriptor: start>>4 bits 0-13, LBO>>4 16-29 (unused for swizzled K-major),
 *       SBO>>4 32-45, swizzle bits 62-63 (1 = 128B); [T] advancing the start address 64
 *       bytes inside the 128-byte swizzle row selects the second k32 slice of B.
 *   [T] expect_tx counts the whole box even where TMA zero-fills out-of-range elements.
 */
#include <cudaTypedefs.h> /* CUtensorMap, PFN_cuTensorMapEncodeTiled: headers only, no -lcuda */

#include "common.cuh"
#include "wgmma.cuh"

/* NC consumer warpgroups of 64 rows each plus the producer warpgroup (NC = 2 but for tile 7) */
#define WG_THREADS(NC) (128 * ((NC) + 1))
#define WG_BM(NC) (64 * (NC)) /* rows a block */

#ifdef WG_SM90A
__device__ __forceinline__ void wg_bar_init(uint32_t bar, uint32_t count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(bar), "r"(count) : "memory");
}
/* Waits for the phase of parity `parity` to complete. The spin is bounded so that a broken
 * protocol becomes a launch error the tests report, not a hung GPU run. */
__device__ __forceinline__ void wg_bar_wait(uint32_t bar, uint32_t parity) {
    for (uint32_t spin = 0;; spin++) {
        uint32_t done;
        asm volatile("{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}"
                     : "=r"(done)
                     : "r"(bar), "r"(parity)
                     : "memory");
        if (done) return;
        if (spin > (1u << 24)) __trap();
    }
}
__device__ __forceinline__ void wg_bar_arrive(uint32_t bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(bar) : "memory");
}
__device__ __forceinline__ void wg_bar_expect(uint32_t bar, uint32_t bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(bar), "r"(bytes) : "memory");
}
/* box at (column c0, token c1) of x into shared dst; completes bytes on bar */
__device__ __forceinline__ void wg_tma_load(uint32_t dst, const CUtensorMap *map, int c0, int c1, uint32_t bar) {
    asm volatile(
        "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];" ::"r"(dst),
        "l"(map), "r"(c0), "r"(c1), "r"(bar)
        : "memory");
}

/* the same box multicast into the CTAs of ctamask (same shared offset and barrier offset in each) */
__device__ __forceinline__ void wg_tma_load_mc(uint32_t dst, const CUtensorMap *map, int c0, int c1, uint32_t bar,
                                               uint16_t ctamask) {
    asm volatile(
        "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes.multicast::cluster"
        " [%0], [%1, {%2, %3}], [%4], %5;" ::"r"(dst),
        "l"(map), "r"(c0), "r"(c1), "r"(bar), "h"(ctamask)
        : "memory");
}
/* bytes contiguous bytes of global src into shared dst (1-D bulk copy); completes them on bar */
__device__ __forceinline__ void wg_bulk_load(uint32_t dst, const void *src, uint32_t bytes, uint32_t bar) {
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(dst),
                 "l"(src), "r"(bytes), "r"(bar)
                 : "memory");
}

/* arrival on a barrier of another CTA of the cluster (address from mapa). Release at CTA scope,
 * as CUTLASS's ClusterBarrier: what it orders is this warp's wgmma reads of its own stage (done
 * at the wait before it) against the peer's TMA into that stage. `.release.cluster` compiled to
 * MEMBAR.ALL.GPU + ERRBAR before every arrival (SASS), which made tiles 6 and 13 ~2x slower. */
__device__ __forceinline__ void wg_bar_arrive_remote(uint32_t bar) {
    asm volatile("mbarrier.arrive.shared::cluster.b64 _, [%0];" ::"r"(bar) : "memory");
}


/* m64nBNk32 (BN 256 or 128) with A (64 x 16 kept values a k32 step) from shared memory at adesc
 * (tiles 9-15), bf16 or f16 (F16) */
#define WG_MMA_SS(TY)                                                                                  \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"                                            \
                 "wgmma.mma_async.sp.sync.aligned.m64n256k32.f32." TY "." TY " {" WG_R64 WG_R128_HI "}, " \
                 "%128, %129, %130, %131, p, 1, 1, 0, 0;\n}"                                           \
                 : WG_F64(d, 0), WG_F64(d, 64)                                                         \
                 : "l"(adesc), "l"(bdesc), "r"(e), "n"(SEL))
#define WG_MMA_SS128(TY)                                                                               \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"                                            \
                 "wgmma.mma_async.sp.sync.aligned.m64n128k32.f32." TY "." TY " {" WG_R64 "}, "            \
                 "%64, %65, %66, %67, p, 1, 1, 0, 0;\n}"                                               \
                 : WG_F64(d, 0)                                                                        \
                 : "l"(adesc), "l"(bdesc), "r"(e), "n"(SEL))
template <int BN, int SEL, bool F16>
__device__ __forceinline__ void wg_mma_sp_ss(float *d, uint64_t adesc, uint64_t bdesc, uint32_t e) {
    static_assert(BN == 128 || BN == 256, "BN is 128 or 256");
    if constexpr (BN == 128 && F16) WG_MMA_SS128("f16");
    else if constexpr (BN == 128) WG_MMA_SS128("bf16");
    else if constexpr (F16) WG_MMA_SS("f16");
    else WG_MMA_SS("bf16");
}

/* A descriptor: K-major without swizzle; core matrices of 8 rows x 16 bytes, lbo bytes apart
 * along K and sbo bytes apart along M */
__device__ __forceinline__ uint64_t wg_desc_a(uint32_t addr, uint32_t lbo, uint32_t sbo) {
    return (uint64_t)((addr & 0x3FFFF) >> 4) | ((uint64_t)(lbo >> 4) << 16) | ((uint64_t)(sbo >> 4) << 32);
}
#endif /* WG_SM90A */

/* tile 9's shared memory after the x ring, a stage each (WG_A_STAGE, WG_M_STAGE: the stage
 * layout in common.cuh); then the producer's staging slots (both). Tiles 10-17 read the same
 * stages, bulk-copied from a24, which holds them in global memory. */

/* A 128-row block's stage ks (tiles 9-11): fragment f (0..511) is row tile rt0 + (f >> 6) (the
 * last past the end, never stored), k32 step (f >> 5) & 1, lane f & 31 of the mma.sp A fragment;
 * metadata word q (0..255) belongs to consumer thread q. Where each comes from in v24 / m24 and
 * where fragment f's first word goes in the stage's A tile (the others at + SBO: rows g + 8,
 * + LBO: values 8 + 2t.., + SBO + LBO): consumer c = rl >> 2, step sl at c * WG_A_HALF + sl *
 * WG_A_STEP, row group R (8 rows), K half H (8 kept values) at R * SBO + H * LBO. */
__device__ __forceinline__ size_t wg_frag_src(int f, int rt0, int ks, int KS, int RT) {
    return ((size_t)min(rt0 + (f >> 6), RT - 1) * KS + 2 * ks + ((f >> 5) & 1)) * 32 + (f & 31);
}
__device__ __forceinline__ size_t wg_meta_src(int q, int rt0, int ks, int KM, int RT) {
    return (((size_t)min(rt0 + (q >> 5), RT - 1) * KM + (ks >> 2)) * 32 + (q & 31)) * 4 + (ks & 3);
}
__device__ __forceinline__ uint32_t wg_frag_dst(int f) {
    const int rl = f >> 6, sl = (f >> 5) & 1, g = (f & 31) >> 2, t = f & 3;
    return (rl >> 2) * WG_A_HALF + sl * WG_A_STEP + (2 * (rl & 3)) * WG_A_SBO + g * 16 + t * 4;
}

/* a24 (tiles 10-15): block rb * NS + ks writes stage ks of row block rb as tile 9's producer
 * stores it into shared memory: the A tile, then consumer thread q's metadata word at
 * WG_A_STAGE + 4q */
__global__ void sp24_a24_build(const uint4 *__restrict__ v24, const uint32_t *__restrict__ mw, uint32_t *__restrict__ a24,
                               int KM, int RT, int NS) {
    const int rb = blockIdx.x / NS, ks = blockIdx.x % NS, p = threadIdx.x, rt0 = rb * 8;
    uint32_t *d = a24 + (size_t)blockIdx.x * (WG_STAGING / 4);
    constexpr int L = WG_A_LBO / 4, B = WG_A_SBO / 4;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const int f = p + 128 * i, a = wg_frag_dst(f) / 4;
        const uint4 v = v24[wg_frag_src(f, rt0, ks, KM * 8, RT)];
        d[a] = v.x, d[a + B] = v.y, d[a + L] = v.z, d[a + B + L] = v.w;
    }
#pragma unroll
    for (int i = 0; i < 2; i++) d[WG_A_STAGE / 4 + p + 128 * i] = mw[wg_meta_src(p + 128 * i, rt0, ks, KM, RT)];
}

#define WG_OUT_PASS 4096u /* WS 4: an output buffer, 32 tokens x 64 rows */
#ifdef WG_SM90A
/* WS 4's epilogue: consumer warpgroup c's 64 rows (from row0) x 256 tokens (from tok0), 32
 * tokens a pass through two buffers at ob that alternate. stmatrix.trans turns each 8 x 8
 * accumulator block (d[4j+2h+e]: row g + 8h, token 8j + 2t + e) into 8 token rows of 16 bytes;
 * a token row is 128 bytes with the 128-byte swizzle (16-byte chunk q at q ^ (token & 7)),
 * the layout a SWIZZLE_128B TMA store reads, and bank-conflict free. y's rows a multiple of 16
 * bytes: one thread stores the pass by TMA (rows >= M and tokens >= n are clipped) and the
 * consumers go on; otherwise the 128 threads read it back and store in bounds. */
template <typename T, int NA>
__device__ __forceinline__ void wg_store_unit(const float *acc, const CUtensorMap *ymap, uint32_t ob, int c, int w, int lane,
                                              int row0, int tok0, T *y, int n, int M, bool reduce) {
    const bool tma = (M & 7) == 0 && ((uintptr_t)y & 15) == 0, issuer = (threadIdx.x & 127) == 0;
    const int m = lane >> 3, k = lane & 7; /* this lane addresses row k of matrix m of each stmatrix */
#pragma unroll
    for (int p = 0; p < NA / 16; p++) {
        const uint32_t buf = ob + (p & 1) * WG_OUT_PASS;
        if (tma && issuer) asm volatile("cp.async.bulk.wait_group.read 1;" ::: "memory"); /* pass p - 2 read buf */
        asm volatile("bar.sync %0, 128;" ::"r"(2 + c) : "memory");
#pragma unroll
        for (int hq = 0; hq < 2; hq++) { /* matrices: token groups 4p + 2hq + (m >> 1), row half m & 1 */
            const int j = 8 * (2 * hq + (m >> 1)) + k, a0 = 16 * p + 8 * hq;
            const uint32_t addr = buf + j * 128 + (((2 * w + (m & 1)) ^ k) << 4);
            asm volatile("stmatrix.sync.aligned.m8n8.x4.trans.shared.b16 [%0], {%1, %2, %3, %4};" ::"r"(addr),
                         "r"(sp_pack2<T>(acc[a0], acc[a0 + 1])), "r"(sp_pack2<T>(acc[a0 + 2], acc[a0 + 3])),
                         "r"(sp_pack2<T>(acc[a0 + 4], acc[a0 + 5])), "r"(sp_pack2<T>(acc[a0 + 6], acc[a0 + 7]))
                         : "memory");
        }
        if (tma) {
            asm volatile("fence.proxy.async.shared::cta;" ::: "memory"); /* the stores, then the TMA's reads */
            asm volatile("bar.sync %0, 128;" ::"r"(2 + c) : "memory");
            if (issuer) {
                if (reduce) /* K parts: each adds its partial sums into y (zeroed before the launch) */
                    asm volatile("cp.reduce.async.bulk.tensor.2d.global.shared::cta.add.tile.bulk_group [%0, {%1, %2}], [%3];" ::"l"(ymap),
                                 "r"(row0), "r"(tok0 + 32 * p), "r"(buf)
                                 : "memory");
                else
                    asm volatile("cp.async.bulk.tensor.2d.global.shared::cta.bulk_group [%0, {%1, %2}], [%3];" ::"l"(ymap),
                                 "r"(row0), "r"(tok0 + 32 * p), "r"(buf)
                                 : "memory");
                asm volatile("cp.async.bulk.commit_group;" ::: "memory");
            }
        } else {
            if (reduce) __trap(); /* K parts add through the TMA only: wg_launch refuses them here */
            asm volatile("bar.sync %0, 128;" ::"r"(2 + c) : "memory");
            for (int i = threadIdx.x & 127; i < 32 * 64; i += 128) {
                const int j = i >> 6, r = i & 63, tok = tok0 + 32 * p + j, row = row0 + r;
                if (tok < n && row < M) {
                    uint16_t v;
                    asm volatile("ld.shared.u16 %0, [%1];" : "=h"(v) : "r"(buf + j * 128 + (((r >> 3) ^ (j & 7)) << 4) + (r & 7) * 2));
                    reinterpret_cast<uint16_t *>(y)[(size_t)tok * M + row] = v;
                }
            }
        }
    }
}
#endif

/* Kernel variants (template): BN tokens a block, S ring stages, PD A stages loaded ahead,
 * FL (WS 2-4) wgmma groups kept in flight a consumer, CL: CTAs a cluster (1, 2). With CL = 2 the two CTAs of a cluster take adjacent row blocks of the same token block: each
 * producer loads half of every x tile and multicasts it into both CTAs, so x crosses L2 once per
 * pair; a stage is free again when the consumer warps of both CTAs released it. */
template <int BN, int S, int PD, int CL, int WS, int WD, int NC, typename T, int FL> /* WS 0-4, see the top */
__global__ void __launch_bounds__(WG_THREADS(NC), 1)
sp24_wgmma_kernel(const __grid_constant__ CUtensorMap xmap, const __grid_constant__ CUtensorMap x64map,
                  const __grid_constant__ CUtensorMap ymap, const uint4 *__restrict__ v24, const uint4 *__restrict__ m24,
                  const char *__restrict__ a24, T *__restrict__ y, int n, int M, int KM, int RT, int group, int kparts) {
#ifdef WG_SM90A
    constexpr bool F16 = sp_is_f16<T>::v;
    constexpr uint32_t STAGE = BN * 128;  /* bytes: BN tokens x 64 columns */
    constexpr uint32_t PART = STAGE / CL; /* what one producer of the cluster loads */
    constexpr int NA = BN / 2;            /* accumulators a thread */
    constexpr int BM = WG_BM(NC), CT = 128 * NC; /* rows, consumer threads */
    constexpr uint32_t WSTAGE = CT * 36;         /* WS 1: a stage's weight, 2 x 16 + 4 bytes a consumer thread */
    /* registers: the producer keeps 40, the consumers share the rest (multiple of 8) */
    constexpr int CREG = ((65536 - 128 * 40) / CT) / 8 * 8 > 232 ? 232 : ((65536 - 128 * 40) / CT) / 8 * 8;
    extern __shared__ uint4 smem4[];
    __shared__ uint64_t full[S], empty[S];
    const uint32_t sraw = (uint32_t)__cvta_generic_to_shared(smem4);
    const uint32_t sbase = (sraw + 1023) & ~1023u; /* 128-byte swizzle repeats every 1024 bytes */
    char *sgen = reinterpret_cast<char *>(smem4) + (sbase - sraw);
    const uint32_t wbase = sbase + S * STAGE; /* after the x ring: WS 1's weight ring, WS 2's A ring */
    const uint32_t fb = (uint32_t)__cvta_generic_to_shared(full), eb = (uint32_t)__cvta_generic_to_shared(empty);
    const int wg = threadIdx.x >> 7, lane = threadIdx.x & 31;
    const int KS = KM * 8, NS = KM * 4; /* k32 steps, 64-column stages */
    uint32_t rank = 0;
    if (CL > 1) asm volatile("mov.u32 %0, %%cluster_ctarank;" : "=r"(rank));

    /* grouped raster over units of CL row blocks: unit -> (row block, first token) */
    const int RU = (RT * 16 + BM * CL - 1) / (BM * CL), TB = (n + BN - 1) / BN;
    auto place = [&](int unit) {
        unit %= RU * TB; /* WS 4 with kparts > 1: part unit / (RU * TB) of the K stages */
        const int per = group * TB, grp = unit / per, first = grp * group;
        const int gs = min(RU - first, group), local = unit - grp * per;
        return make_int2((first + local % gs) * CL + (int)rank, (local / gs) * BN);
    };
    /* the stages [ks0, ks1) of unit u (all but with WS 4's K parts) */
    auto krange = [&](int u) {
        const int kp = u / (RU * TB);
        return make_int2(kp * NS / kparts, (kp + 1) * NS / kparts);
    };
    /* this CTA's units: u0 only; WS 4 (persistent) u0, u0 + gridDim.x, ... */
    const int u0 = blockIdx.x / CL, u_end = WS == 4 ? RU * TB * kparts : u0 + 1, u_step = WS == 4 ? (int)gridDim.x : 1;
    const int2 p0 = place(u0);
    const int rb = p0.x, tok0 = p0.y; /* of unit u0 */

    if (threadIdx.x == 0) {
        for (int s = 0; s < S; s++) {
            /* the own producer's expect_tx arrival (+ the TMA bytes); WS 2: + its 128 threads' weight stores */
            wg_bar_init(fb + 8 * s, WS == 2 ? 129 : 1);
            wg_bar_init(eb + 8 * s, 4 * NC * CL); /* one arrival per consumer warp of the cluster */
        }
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    }
    __syncthreads();
    if (CL > 1) sp_cluster_sync(); /* the peer's barriers exist before anything reaches them */

    static_assert(WS < 2 || ((CL == 1 || WS == 3) && NC == 2 && (BN == 256 || (WS == 4 && BN == 128))),
                  "tiles 9-15: two consumers, 256 tokens (tile 15: 128); CTA pairs: WS 3");
    if (WS == 2 && wg == 0) {
        /* WS 2 producer (tile 9): thread 0 loads x by TMA as below; all 128 threads copy the
         * stage's weight (8 row tiles x 2 k32 steps of v24, 4 fragments a thread) and each
         * consumer thread's metadata word by cp.async into a private staging ring WD - 1 stages
         * ahead, then store them into the stage: A as the canonical K-major tile the wgmma reads
         * (core matrices of 8 rows x 8 kept values), metadata a word per consumer thread */
        const int p = threadIdx.x;
        const uint32_t mb = wbase + S * WG_A_STAGE; /* metadata ring */
        const uint32_t stg = mb + S * WG_M_STAGE;   /* staging ring: WD slots */
        const int rt0 = rb * (BM / 16);
        const uint32_t *mw = reinterpret_cast<const uint32_t *>(m24);
        auto scopy = [&](int ks) { /* stage ks into staging slot ks % WD; an empty group past the end */
            if (ks < NS) {
                const uint32_t d = stg + (ks % WD) * WG_STAGING;
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    const int f = p + 128 * i;
                    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(d + f * 16),
                                 "l"(v24 + wg_frag_src(f, rt0, ks, KS, RT)));
                }
#pragma unroll
                for (int i = 0; i < 2; i++) { /* consumer thread q's word of stage ks */
                    const int q = p + 128 * i;
                    asm volatile("cp.async.ca.shared.global [%0], [%1], 4;" ::"r"(d + WG_A_STAGE + q * 4),
                                 "l"(mw + wg_meta_src(q, rt0, ks, KM, RT)));
                }
            }
            asm volatile("cp.async.commit_group;" ::: "memory");
        };
        for (int ks = 0; ks < WD - 1; ks++) scopy(ks);
        for (int ks = 0; ks < NS; ks++) {
            scopy(ks + WD - 1); /* into the slot stage ks - 1 was read from, by this thread */
            const int slot = ks % S, use = ks / S;
            wg_bar_wait(eb + 8 * slot, (use & 1) ^ 1);
            if (p == 0) {
                wg_bar_expect(fb + 8 * slot, STAGE);
                wg_tma_load(sbase + slot * STAGE, &xmap, ks * 64, tok0, fb + 8 * slot);
            }
            asm volatile("cp.async.wait_group %0;" ::"n"(WD - 1) : "memory"); /* stage ks is in */
            const uint32_t d = stg + (ks % WD) * WG_STAGING;
            /* the A tile as wg_frag_dst lays it out. [T] run 15: LBO is the K-direction stride and
             * SBO the row-group stride (LBO 128 / SBO 256 and LBO 1024 / SBO 128 both correct) */
            constexpr uint32_t LBO = WG_A_LBO, SBO = WG_A_SBO;
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const int f = p + 128 * i;
                uint4 v;
                asm volatile("ld.shared.v4.u32 {%0,%1,%2,%3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "r"(d + f * 16));
                const uint32_t a = wbase + slot * WG_A_STAGE + wg_frag_dst(f);
                asm volatile("st.shared.u32 [%0], %1;" ::"r"(a), "r"(v.x) : "memory");             /* rows g, values 2t.. */
                asm volatile("st.shared.u32 [%0], %1;" ::"r"(a + SBO), "r"(v.y) : "memory");       /* rows g + 8 */
                asm volatile("st.shared.u32 [%0], %1;" ::"r"(a + LBO), "r"(v.z) : "memory");       /* rows g, values 8 + 2t.. */
                asm volatile("st.shared.u32 [%0], %1;" ::"r"(a + SBO + LBO), "r"(v.w) : "memory");
            }
#pragma unroll
            for (int i = 0; i < 2; i++) {
                uint32_t m;
                asm volatile("ld.shared.u32 %0, [%1];" : "=r"(m) : "r"(d + WG_A_STAGE + (p + 128 * i) * 4));
                asm volatile("st.shared.u32 [%0], %1;" ::"r"(mb + slot * WG_M_STAGE + (p + 128 * i) * 4), "r"(m) : "memory");
            }
            asm volatile("fence.proxy.async.shared::cta;" ::: "memory"); /* the stores, then the wgmma's reads */
            wg_bar_arrive(fb + 8 * slot);
        }
    } else if (wg == 0) { /* producer */
        asm volatile("setmaxnreg.dec.sync.aligned.u32 40;");
        if (threadIdx.x == 0) {
            uint32_t fbr = fb, ebr = eb, sbr = sbase, wbr = wbase; /* in registers, the slot counted: as the WS 2-4 consumers */
            asm volatile("" : "+r"(fbr), "+r"(ebr), "+r"(sbr), "+r"(wbr));
            int slot = 0;
            uint32_t ph = 1; /* first use: passes on the fresh barrier */
            for (int u = u0; u < u_end; u += u_step) { /* WS 4: the ring runs on from unit to unit */
                const int2 pu = WS == 4 ? place(u) : p0;
                const int rbu = pu.x, t0u = pu.y;
                /* WS 4: a block past the last token loads x in 64-token boxes up to it instead of
                 * one box of BN (which TMA zero-fills past n); the stage's rows past them keep old
                 * bytes, read only into tokens never stored */
                const int nb64 = WS == 4 && n - t0u < BN ? (n - t0u + 63) / 64 : 0;
                const uint32_t xbytes = nb64 ? nb64 * 8192u : STAGE;
                const int2 kr = WS == 4 ? krange(u) : make_int2(0, NS);
                for (int ks = kr.x; ks < kr.y; ks++, slot = slot + 1 == S ? 0 : slot + 1, ph ^= slot == 0) {
                    const uint32_t fb = fbr, eb = ebr, sbase = sbr, wbase = wbr;
                    wg_bar_wait(eb + 8 * slot, ph);
                    if (WS >= 3) { /* tiles 10-15: the stage's A and metadata as stored in a24, then x */
                        /* the phantom second CTA of a pair past the last row block reads the last */
                        const int RB = (RT * 16 + BM - 1) / BM;
                        const uint32_t mb = wbase + S * WG_A_STAGE;
                        const char *src = a24 + ((size_t)min(rbu, RB - 1) * NS + ks) * WG_STAGING;
                        wg_bar_expect(fb + 8 * slot, xbytes + WG_STAGING);
                        wg_bulk_load(wbase + slot * WG_A_STAGE, src, WG_A_STAGE, fb + 8 * slot);
                        wg_bulk_load(mb + slot * WG_M_STAGE, src + WG_A_STAGE, WG_M_STAGE, fb + 8 * slot);
                    } else {
                        wg_bar_expect(fb + 8 * slot, STAGE); /* both halves land here with CL = 2 */
                    }
                    if (nb64)
                        for (int j = 0; j < nb64; j++) wg_tma_load(sbase + slot * STAGE + j * 8192, &x64map, ks * 64, t0u + 64 * j, fb + 8 * slot);
                    else if (CL == 1)
                        wg_tma_load(sbase + slot * STAGE, &xmap, ks * 64, t0u, fb + 8 * slot);
                    else
                        wg_tma_load_mc(sbase + slot * STAGE + rank * PART, &xmap, ks * 64, t0u + (int)rank * (BN / CL),
                                       fb + 8 * slot, (uint16_t)((1u << CL) - 1));
                }
            }
        }
    } else {
        if (WS != 2) asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;" ::"n"(CREG));
        /* consumer c, warp w of it: row tile rt; past the last row tile it re-reads the last
         * (valid bytes, never stored) */
        const int c = wg - 1, w = (threadIdx.x >> 5) & 3;
        const int rt = min(rb * (BM / 16) + c * 4 + w, RT - 1);
        const uint4 *vp = v24 + (size_t)rt * KS * 32 + lane, *mp = m24 + (size_t)rt * KM * 32 + lane;
        uint32_t peer_eb = eb;
        if (CL > 1) asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(peer_eb) : "r"(eb), "r"(rank ^ 1));

        float acc[NA];
#pragma unroll
        for (int i = 0; i < NA; i++) acc[i] = 0.f;

        if constexpr (WS >= 2) {
            /* A and metadata from the stage (stored by the producer, or bulk-copied): nothing of the weight in
             * registers, so one wgmma group stays in flight while the next is issued */
            const int ct = threadIdx.x - 128;
            const uint32_t mb = wbase + S * WG_A_STAGE;
            constexpr uint32_t LBO = WG_A_LBO, SBO = WG_A_SBO;
            /* The metadata register is read by the asynchronous wgmma like an A register: two
             * words alternate, and the last use of the previous one sits after the wait that
             * covers its wgmma, so the compiler cannot give both one register (run 14: with one,
             * stage 0's second wgmma read stage 1's metadata when the next load was early) */
            static_assert(FL >= 1 && FL <= 3 && FL < S, "FL: 1-3 groups in flight, fewer than the stages");
            constexpr int E = FL + 1; /* metadata words: one a group in flight and the one being issued */
            uint32_t e[E] = {};
            /* the barrier addresses held in registers and the slot counted, not divided: ptxas
             * re-derived full/empty from SR_CgaCtaId and divided by S in every stage (SASS) */
            uint32_t fbr = fb, ebr = eb, pbr = peer_eb;
            asm volatile("" : "+r"(fbr), "+r"(ebr), "+r"(pbr));
            int sl = 0, rs = 0; /* slots of stages ks and ks - FL */
            uint32_t ph = 0;    /* parity of stage ks's use of its slot */
            int nsu = NS;       /* stages of the unit (WS 4: of its K part); ks counts from 0 in it */
            auto stage = [&](int ks, int h) {
                wg_bar_wait(fbr + 8 * sl, ph);
                asm volatile("ld.shared.u32 %0, [%1];" : "=r"(e[h]) : "r"(mb + sl * WG_M_STAGE + ct * 4) : "memory");
                const uint64_t bd = wg_desc(sbase + sl * STAGE);
                const uint32_t a0 = wbase + sl * WG_A_STAGE + c * WG_A_HALF;
                wg_fence_acc<NA>(acc);
                asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
                wg_mma_sp_ss<BN, 0, F16>(acc, wg_desc_a(a0, LBO, SBO), bd, e[h]);
                wg_mma_sp_ss<BN, 1, F16>(acc, wg_desc_a(a0 + 2048, LBO, SBO), bd + (64 >> 4), e[h]);
                asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
                if (ks == nsu - 1) asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory"); /* as v1 */
                else asm volatile("wgmma.wait_group.sync.aligned %0;" ::"n"(FL) : "memory");
                asm volatile("" ::"r"(e[(h + 1) % E]) : "memory"); /* stage ks - FL's word: its wgmma are done */
                wg_fence_acc<NA>(acc);
                if (ks >= FL) {
                    if (lane == 0) {
                        wg_bar_arrive(ebr + 8 * rs);
                        if (CL > 1) wg_bar_arrive_remote(pbr + 8 * rs); /* the peer's producer writes here too */
                    }
                    rs = rs + 1 == S ? 0 : rs + 1;
                }
                if (++sl == S) sl = 0, ph ^= 1;
            };
            for (int u = u0; u < u_end; u += u_step) { /* one unit but for WS 4 */
                if (WS == 4 && u != u0) {
#pragma unroll
                    for (int i = 0; i < NA; i++) acc[i] = 0.f;
                }
                if (WS == 4) {
                    const int2 kr = krange(u);
                    nsu = kr.y - kr.x;
                }
                for (int ks = 0; ks < nsu; ks += E) {
#pragma unroll
                    for (int j = 0; j < E; j++)
                        if (ks + j < nsu) stage(ks + j, j);
                }
                if constexpr (WS == 4) {
                    asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory"); /* as after the loop below */
                    wg_fence_acc<NA>(acc);
                    for (int f = 0; f < FL; f++) { /* the unit's last stages, free for the next unit */
                        if (lane == 0) wg_bar_arrive(ebr + 8 * rs);
                        rs = rs + 1 == S ? 0 : rs + 1;
                    }
                    const int2 pu = place(u);
                    wg_store_unit<T, NA>(acc, &ymap, wbase + S * WG_STAGING + c * 2 * WG_OUT_PASS, c, w, lane,
                                         pu.x * BM + c * 64, pu.y, y, n, M, kparts > 1);
                }
            }
            if (WS == 4 && (threadIdx.x & 127) == 0) asm volatile("cp.async.bulk.wait_group 0;" ::: "memory");
        } else if constexpr (WS == 1) {
            /* Weight through a per-thread shared-memory ring of WD stages (tiles 5, 7, 8; why:
             * see the top). Each thread cp.asyncs its own two A fragments (16 bytes each) and
             * its 4-byte metadata word of stage ks + WD - 1, waits for the group of stage ks + 1
             * and loads it into the register pair the wgmma of stage ks - 1 has released. */
            static_assert(CL == 1, "the ring releases x stages of its own CTA only");
            const int ct = threadIdx.x - 128;
            const uint32_t *mw = reinterpret_cast<const uint32_t *>(mp);
            auto wcopy = [&](int ks) { /* stage ks into slot ks % WD; an empty group past the end */
                if (ks < NS) {
                    const uint32_t d = wbase + (ks % WD) * WSTAGE;
                    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(d + ct * 16), "l"(vp + (size_t)2 * ks * 32));
                    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(d + CT * 16 + ct * 16),
                                 "l"(vp + (size_t)(2 * ks + 1) * 32));
                    asm volatile("cp.async.ca.shared.global [%0], [%1], 4;" ::"r"(d + CT * 32 + ct * 4),
                                 "l"(mw + (size_t)(ks >> 2) * 128 + (ks & 3)));
                }
                asm volatile("cp.async.commit_group;" ::: "memory");
            };
            uint4 a[4];
            uint32_t e[2];
            auto wload = [&](int ks, int h) { /* stage ks from its slot into register pair h */
                const uint32_t d = wbase + (ks % WD) * WSTAGE;
                asm volatile("ld.shared.v4.u32 {%0,%1,%2,%3}, [%4];"
                             : "=r"(a[2 * h].x), "=r"(a[2 * h].y), "=r"(a[2 * h].z), "=r"(a[2 * h].w)
                             : "r"(d + ct * 16) : "memory");
                asm volatile("ld.shared.v4.u32 {%0,%1,%2,%3}, [%4];"
                             : "=r"(a[2 * h + 1].x), "=r"(a[2 * h + 1].y), "=r"(a[2 * h + 1].z), "=r"(a[2 * h + 1].w)
                             : "r"(d + CT * 16 + ct * 16) : "memory");
                asm volatile("ld.shared.u32 %0, [%1];" : "=r"(e[h]) : "r"(d + CT * 32 + ct * 4) : "memory");
            };
            for (int ks = 0; ks < WD - 1; ks++) wcopy(ks);
            asm volatile("cp.async.wait_group %0;" ::"n"(WD - 2) : "memory");
            wload(0, 0);
            auto stage = [&](int ks, int h) {
                wcopy(ks + WD - 1); /* into the slot stage ks - 1 was read from (two stages ago) */
                const int slot = ks % S;
                wg_bar_wait(fb + 8 * slot, (ks / S) & 1);
                const uint64_t desc = wg_desc(sbase + slot * STAGE);
                wg_fence_acc<NA>(acc);
                asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
                if (BN == 256) h = 0; /* one pair, see below */
                wg_mma_sp<BN, 0, F16>(acc, a[2 * h], desc, e[h]);
                wg_mma_sp<BN, 1, F16>(acc, a[2 * h + 1], desc + (64 >> 4), e[h]);
                asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
                if constexpr (BN == 256) {
                    /* 128 accumulators leave room for one register pair only (two make ptxas
                     * serialize every wgmma, C7512): the stage's wgmma finish before the pair is
                     * refilled; the other consumer warpgroup keeps the tensor pipe busy meanwhile */
                    asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
                    wg_fence_acc<NA>(acc);
                    if (lane == 0) wg_bar_arrive(eb + 8 * (ks % S));
                    asm volatile("cp.async.wait_group %0;" ::"n"(WD - 2) : "memory");
                    if (ks + 1 < NS) wload(ks + 1, 0);
                    return;
                }
                if (ks == NS - 1) asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory"); /* as v1 */
                else asm volatile("wgmma.wait_group.sync.aligned 1;" ::: "memory");
                wg_fence_acc<NA>(acc);
                if (ks > 0 && lane == 0) wg_bar_arrive(eb + 8 * ((ks - 1) % S));
                asm volatile("cp.async.wait_group %0;" ::"n"(WD - 2) : "memory"); /* stage ks + 1 landed */
                if (ks + 1 < NS) wload(ks + 1, h ^ 1); /* pair h ^ 1: its wgmma (stage ks - 1) is done */
            };
            for (int ks = 0; ks < NS; ks += 2) {
                stage(ks, 0);
                if (ks + 1 < NS) stage(ks + 1, 1);
            }
        } else {
            /* A ring: 4 slots of one stage (2 k32 steps); stage ks lives in slot ks % 4 and is
             * loaded PD stages ahead (the tail re-reads the last step: in bounds, unused). Metadata:
             * e[h] holds macro steps of parity h; the next one is loaded at the first stage of the
             * current one. The wgmma read these registers asynchronously: each is rewritten only
             * after the wait that covers its last reader (ptxas checks: C7513 otherwise). */
            uint4 a[8], e[2];
#pragma unroll
            for (int i = 0; i < 8; i++) a[i] = i < 2 * PD ? sp_ld_stream(vp + (size_t)min(i, KS - 1) * 32) : make_uint4(0, 0, 0, 0);
            e[0] = sp_ld_stream(mp);
            e[1] = e[0];

            for (int m0 = 0; m0 < KM; m0 += 2) {
#pragma unroll
                for (int j = 0; j < 8; j++) {
                    const int m = m0 + (j >> 2);
                    if (m >= KM) break;
                    const int r = j & 3, ks = m * 4 + r, slot = ks % S;
                    wg_bar_wait(fb + 8 * slot, (ks / S) & 1);
                    const uint64_t desc = wg_desc(sbase + slot * STAGE);
                    const uint4 &ev = e[j >> 2];
                    const uint32_t meta = r == 0 ? ev.x : r == 1 ? ev.y : r == 2 ? ev.z : ev.w;
                    wg_fence_acc<NA>(acc);
                    asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
                    wg_mma_sp<BN, 0, F16>(acc, a[2 * r], desc, meta);                 /* step 2ks: columns 0..31 */
                    wg_mma_sp<BN, 1, F16>(acc, a[2 * r + 1], desc + (64 >> 4), meta); /* step 2ks+1: 64 bytes in */
                    asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
                    /* stage ks-1 is done; after the last stage all are. That last wait sits here, in
                     * the stage's own branch, because ptxas 13.0 hoisted the epilogue's reads of acc
                     * above a wait_group 0 placed after the loop (tests/check_wgmma_sass.py) */
                    if (ks == NS - 1) asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
                    else asm volatile("wgmma.wait_group.sync.aligned 1;" ::: "memory");
                    wg_fence_acc<NA>(acc);
                    if (ks > 0 && lane == 0) {
                        const uint32_t off = 8 * ((ks - 1) % S);
                        wg_bar_arrive(eb + off);
                        if (CL > 1) wg_bar_arrive_remote(peer_eb + off);
                    }
                    /* the last reader of e[other] was stage ks-1 when r == 0 */
                    if (r == 0) e[(j >> 2) ^ 1] = sp_ld_stream(mp + (size_t)min(m + 1, KM - 1) * 32);
                    const int rf = (r + PD) & 3, sf = 2 * (ks + PD); /* slot of stage ks+PD-4 <= ks-1: done */
                    a[2 * rf] = sp_ld_stream(vp + (size_t)min(sf, KS - 1) * 32);
                    a[2 * rf + 1] = sp_ld_stream(vp + (size_t)min(sf + 1, KS - 1) * 32);
                }
            }
        }
        if constexpr (WS != 4) { /* WS 4 stored each unit above */
        /* already done in the last stage, but without this wait ptxas injects its own and
         * serializes the wgmma (warnings C7517/C7518) */
        asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
        wg_fence_acc<NA>(acc);

        /* epilogue: both consumers are past their last wgmma (and every TMA into this CTA
         * landed, as each was waited for) before the ring becomes the output tile */
        asm volatile("bar.sync 1, %0;" ::"n"(CT) : "memory");
        constexpr int OS = BM + 8; /* elements per staged token row: 2 tokens apart = 8 banks apart */
        T *so = reinterpret_cast<T *>(sgen);
        const int g = lane >> 2, t = lane & 3;
#pragma unroll
        for (int i = 0; i < NA; i++) {
            const int row = c * 64 + w * 16 + g + 8 * ((i >> 1) & 1), tok = 8 * (i >> 2) + 2 * t + (i & 1);
            so[tok * OS + row] = sp_from_f32<T>(acc[i]);
        }
        asm volatile("bar.sync 1, %0;" ::"n"(CT) : "memory");
        const int ct = threadIdx.x - 128, row0 = rb * BM;
        if ((M & 7) == 0 && ((uintptr_t)y & 15) == 0) {
            for (int i = ct; i < BN * (BM / 8); i += CT) {
                const int jj = i / (BM / 8), q = i % (BM / 8), tok = tok0 + jj, row = row0 + q * 8;
                if (tok < n && row < M)
                    *reinterpret_cast<uint4 *>(y + (size_t)tok * M + row) = *reinterpret_cast<const uint4 *>(so + jj * OS + q * 8);
            }
        } else {
            for (int i = ct; i < BN * BM; i += CT) {
                const int jj = i / BM, q = i % BM, tok = tok0 + jj, row = row0 + q;
                if (tok < n && row < M) y[(size_t)tok * M + row] = so[jj * OS + q];
            }
        }
        }
    }
    if (CL > 1) sp_cluster_sync(); /* no CTA leaves while its peer may still signal its barriers */
#else
    (void)xmap, (void)x64map, (void)ymap, (void)v24, (void)m24, (void)a24, (void)y, (void)n, (void)M, (void)KM, (void)RT, (void)group, (void)kparts;
    __trap(); /* built without sm_90a code: sp24_wgmma_run refuses before launching */
#endif
}

/* cuTensorMapEncodeTiled from the driver through the runtime (the project links cudart
 * only); NULL when the driver lacks it */
static PFN_cuTensorMapEncodeTiled_v12000 wg_encoder(void) {
    static PFN_cuTensorMapEncodeTiled_v12000 fn = NULL;
    static int tried = 0;
    if (!tried) {
        tried = 1;
        void *p = NULL;
        cudaDriverEntryPointQueryResult q;
        if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault, &q) == cudaSuccess &&
            q == cudaDriverEntryPointSuccess)
            fn = (PFN_cuTensorMapEncodeTiled_v12000)p;
    }
    return fn;
}

/* a row-major 2D tensor of T (rows x inner elements) as TMA sees it: boxes of b0 x b1 elements
 * with the 128-byte swizzle; elements past the tensor load as zero and are not stored */
template <typename T>
static CUresult wg_map(PFN_cuTensorMapEncodeTiled_v12000 enc, CUtensorMap *m, const void *p, int inner, int rows, cuuint32_t b0,
                       cuuint32_t b1, CUtensorMapL2promotion l2) {
    const cuuint64_t dims[2] = {(cuuint64_t)inner, (cuuint64_t)rows}, strides[1] = {(cuuint64_t)inner * 2};
    const cuuint32_t box[2] = {b0, b1}, estr[2] = {1, 1};
    return enc(m, sp_is_f16<T>::v ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, (void *)p, dims, strides,
               box, estr, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, l2, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
}

/* y as a TMA tensor (WS 4's stores, the K parts' reduce-add): rows of 16-byte units and y
 * 16-byte aligned (NULL: not known yet, taken as aligned) */
static bool wg_y_tma(const sp_cuda_weight *w, const void *y) { return (w->out & 7) == 0 && !((uintptr_t)y & 15); }

/* 1 where K can be cut into kparts parts (tiles 16, 17): y a TMA tensor, a stage (64 columns) a part */
int sp24_wgmma_kparts_ok(const sp_cuda_weight *w, const void *y, int kparts) {
    return wg_y_tma(w, y) && (w->kp / 256) * 4 >= kparts;
}

template <int BN, int S, int PD, int CL, int WS = 0, int WD = 8, int NC = 2, typename T = __nv_bfloat16, int FL = 1>
static int wg_launch(const sp_cuda_weight *w, const void *x, int n, void *yv, sp_cuda_ctx *c, int kparts = 1) {
    auto kern = sp24_wgmma_kernel<BN, S, PD, CL, WS, WD, NC, T, FL>;
    T *y = (T *)yv;
    constexpr int BM = WG_BM(NC);
    static int binary = 0; /* per template instance: asked once, not on every launch */
    if (!binary) {
        cudaFuncAttributes fa;
        SP_CU(cudaFuncGetAttributes(&fa, kern));
        binary = fa.binaryVersion;
    }
    if (binary != 90)
        return sp_error(SP_ERR_UNSUPPORTED, "2:4 wgmma GEMM: no sm_90a code for this device (binary sm_%d)", binary);
    PFN_cuTensorMapEncodeTiled_v12000 enc = wg_encoder();
    if (!enc) return sp_error(SP_ERR_UNSUPPORTED, "2:4 wgmma GEMM: the driver has no cuTensorMapEncodeTiled");
    if ((uintptr_t)x & 15) return sp_error(SP_ERR_UNSUPPORTED, "2:4 wgmma GEMM: x not 16-byte aligned (TMA)");

    /* x as a 2D tensor (columns innermost, tokens), boxes of 64 columns x BN/CL tokens; out of
     * range elements read as zero */
    CUtensorMap map;
    CUresult r = wg_map<T>(enc, &map, x, w->in, n, 64, BN / CL, CU_TENSOR_MAP_L2_PROMOTION_L2_256B);
    if (r != CUDA_SUCCESS)
        return sp_error(SP_ERR_UNSUPPORTED, "2:4 wgmma GEMM: cuTensorMapEncodeTiled failed (%d) for x (%d, %d)",
                        (int)r, n, w->in);

    /* WS 4: y as a 2D tensor (rows innermost, tokens) for the TMA store, boxes of 64 rows x 32
     * tokens; rows past out and tokens past n are not written. Rows of y whose bytes are not a
     * multiple of 16 cannot be a tensor map: the kernel stores those itself (the map unused). */
    CUtensorMap ymap = map, x64map = map;
    if (WS == 4) { /* x again in 64-token boxes, for the block past the last token */
        r = wg_map<T>(enc, &x64map, x, w->in, n, 64, 64, CU_TENSOR_MAP_L2_PROMOTION_L2_256B);
        if (r != CUDA_SUCCESS)
            return sp_error(SP_ERR_UNSUPPORTED, "2:4 wgmma GEMM: cuTensorMapEncodeTiled failed (%d) for x (%d, %d), 64-token boxes",
                            (int)r, n, w->in);
    }
    if (WS == 4 && wg_y_tma(w, y)) {
        r = wg_map<T>(enc, &ymap, y, w->out, n, 64, 32, CU_TENSOR_MAP_L2_PROMOTION_NONE);
        if (r != CUDA_SUCCESS)
            return sp_error(SP_ERR_UNSUPPORTED, "2:4 wgmma GEMM: cuTensorMapEncodeTiled failed (%d) for y (%d, %d)", (int)r, n,
                            w->out);
    }

    const int RT = w->mp / 16, KM = w->kp / 256;
    const int RU = (w->mp + BM * CL - 1) / (BM * CL), TB = (n + BN - 1) / BN;
    /* units (CL row blocks) per raster group: their weight slice (kp bytes of values + kp/8
     * of metadata a row) fits in a third of L2 */
    const double slice = (double)BM * CL * w->kp * 9.0 / 8.0;
    int group = (int)((double)c->l2_bytes / 3.0 / slice);
    group = group < 1 ? 1 : group > RU ? RU : group;
    const size_t ring = (size_t)S * BN * 128, out = (size_t)BN * (BM + 8) * 2;
    const size_t wring = WS == 1   ? (size_t)WD * BM * 2 * 36
                         : WS == 2 ? (size_t)(S + WD) * WG_STAGING
                         : WS == 3 ? (size_t)S * WG_STAGING
                         : WS == 4 ? (size_t)S * WG_STAGING + (size_t)NC * 2 * WG_OUT_PASS /* + the output buffers */
                                   : 0;
    const size_t smem = (ring > out ? ring : out) + wring + 1024; /* + alignment slack */
    static size_t allowed = 0;                              /* per template instance */
    SP_CHK(sp_allow_smem(kern, smem, &allowed));
    cudaLaunchAttribute at[1];
    at[0].id = cudaLaunchAttributeClusterDimension;
    at[0].val.clusterDim.x = CL, at[0].val.clusterDim.y = 1, at[0].val.clusterDim.z = 1;
    cudaLaunchConfig_t cfg = {};
    if (kparts > 1 && (WS != 4 || !sp24_wgmma_kparts_ok(w, y, kparts)))
        return sp_error(SP_ERR_UNSUPPORTED, "2:4 wgmma GEMM: K parts need the persistent tiles, out %% 8 == 0, y 16-byte aligned "
                        "and a stage a part (out %d, in %d)", w->out, w->in);
    if (kparts > 1) SP_CU(cudaMemsetAsync(y, 0, (size_t)n * w->out * sizeof(T), c->stream)); /* the parts add into it */
    const size_t units = (size_t)RU * TB * kparts; /* WS 4: one persistent CTA an SM at most */
    cfg.gridDim = dim3((unsigned)(WS == 4 ? (units < (size_t)c->sm_count ? units : (size_t)c->sm_count) : units * CL));
    cfg.blockDim = dim3(WG_THREADS(NC));
    cfg.dynamicSmemBytes = smem, cfg.stream = c->stream, cfg.attrs = at, cfg.numAttrs = CL > 1 ? 1 : 0;
    if (WS >= 3) SP_CHK(sp24_a24_make(w, c));
    else if (!w->v24)
        return sp_error(SP_ERR_UNSUPPORTED, "2:4 wgmma GEMM tiles 4-9 read the fragment-order copy, which this weight no longer "
                        "keeps (sp_cuda_weight_one_copy): tiles 10-17 read the one it keeps");
    SP_CU(cudaLaunchKernelEx(&cfg, kern, map, x64map, ymap, (const uint4 *)w->v24, (const uint4 *)w->m24, (const char *)w->a24, y, n, w->out, KM,
                             RT, group, kparts));
    return 0;
}

/* The stage layout, once a weight (a cache: the weight's values do not change); made from
 * v24/m24, which a one-copy weight then frees */
int sp24_a24_make(const sp_cuda_weight *w, sp_cuda_ctx *c) {
    if (w->a24) return 0;
    if (!w->v24) return sp_error(SP_ERR_ARG, "2:4 weight: neither of its device layouts is present");
    cudaStreamCaptureStatus cap = cudaStreamCaptureStatusNone;
    SP_CU(cudaStreamIsCapturing(c->stream, &cap));
    if (cap != cudaStreamCaptureStatusNone)
        return sp_error(SP_ERR_UNSUPPORTED, "2:4 weight: its copy in stage order is made at the first call that reads it, which "
                        "must not be inside a stream capture (call it once before capturing)");
    const int RT = w->mp / 16, KM = w->kp / 256, NS = KM * 4, RB = (w->mp + 127) / 128;
    uint4 *a24 = NULL;
    SP_CU(cudaMalloc(&a24, (size_t)RB * NS * WG_STAGING));
    sp24_a24_build<<<(unsigned)(RB * NS), 128, 0, c->stream>>>(w->v24, (const uint32_t *)w->m24, (uint32_t *)a24, KM, RT, NS);
    const cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) { /* kept only once built: a later call must not read a half-made copy */
        cudaFree(a24);
        return sp_error(SP_ERR_UNSUPPORTED, "2:4 weight: building its stage-order copy: %s", cudaGetErrorString(e));
    }
    const_cast<sp_cuda_weight *>(w)->a24 = a24; /* a cache of the weight's own bytes, made once */
    return 0;
}

/* 1 when the wgmma kernel can run: a Hopper device, sm_90a code in this build, the driver's
 * tensor-map encoder, and x 16-byte aligned for TMA (NULL: not known yet, taken as aligned,
 * as every cudaMalloc'd buffer and row offset of the device model is) */
int sp24_wgmma_usable(const void *x, const sp_cuda_ctx *c) {
    static int built = -1;
    if (built < 0) {
        cudaFuncAttributes fa;
        built = cudaFuncGetAttributes(&fa, sp24_wgmma_kernel<128, 8, 3, 1, 0, 8, 2, __nv_bfloat16, 1>) == cudaSuccess &&
                fa.binaryVersion == 90;
    }
    return c->cc_major == 9 && built && wg_encoder() && !((uintptr_t)x & 15);
}

/* variant = gemm tile - 4 (sp_cuda_set_gemm_tile): 0 v1, 1 the ring, 2 CTA pairs, 3 192 rows, 4 128 x 256,
 * 5 128 x 256 with a shared-memory A, 6-7 that A bulk-copied from a24, 8 = 7 with two wgmma groups in flight, 9 = 7 in CTA pairs multicasting x */
int sp24_wgmma_run(const sp_cuda_weight *w, const void *x, int n, void *y, sp_cuda_ctx *c, int variant) {
    if (n < 1) return sp_error(SP_ERR_ARG, "2:4 wgmma GEMM: n = %d", n);
    if (c->cc_major != 9)
        return sp_error(SP_ERR_UNSUPPORTED, "2:4 wgmma GEMM needs a Hopper (sm_90) device, this is cc %d.x",
                        c->cc_major);
    if (w->dtype == SP_CUDA_F16) { /* the automatic tiles (gemm_tile's 14-17), 5, 8 and 11 */
        if (variant == 1) return wg_launch<128, 8, 3, 1, 1, 8, 2, __half>(w, x, n, y, c);
        if (variant == 4) return wg_launch<256, 4, 3, 1, 1, 8, 2, __half>(w, x, n, y, c);
        if (variant == 7) return wg_launch<256, 5, 3, 1, 3, 4, 2, __half>(w, x, n, y, c);
        if (variant == 10) return wg_launch<256, 5, 3, 1, 4, 4, 2, __half>(w, x, n, y, c);
        if (variant == 11) return wg_launch<128, 8, 3, 1, 4, 4, 2, __half>(w, x, n, y, c);
        if (variant == 12) return wg_launch<256, 5, 3, 1, 4, 4, 2, __half>(w, x, n, y, c, 2);
        if (variant == 13) return wg_launch<128, 8, 3, 1, 4, 4, 2, __half>(w, x, n, y, c, 2);
        return sp_error(SP_ERR_UNSUPPORTED, "2:4 wgmma GEMM tile %d is built for bf16 only (f16: tiles 5, 8, 11, 14-17)", variant + 4);
    }
    /* BN 256 (128 accumulators) only with the shared-memory weight ring: ptxas 13.0 keeps the
     * consumers within the launch bound's 168 registers, not setmaxnreg's, and v1's register
     * ring then spills (bench/NOTES.md) */
    if (variant == 2) return wg_launch<128, 8, 3, 2>(w, x, n, y, c); /* x multicast to a CTA pair */
    if (variant == 1) return wg_launch<128, 8, 3, 1, 1, 8>(w, x, n, y, c); /* weight through shared memory */
    if (variant == 3) return wg_launch<128, 6, 3, 1, 1, 6, 3>(w, x, n, y, c); /* tile 5 with 3 consumers: 192 rows */
    if (variant == 4) return wg_launch<256, 4, 3, 1, 1, 8, 2>(w, x, n, y, c); /* tile 5 with 256 tokens */
    /* tile 9 (experiment, runs 12-15): the producer warpgroup stores each stage's weight as a
     * shared-memory A operand, so one wgmma group stays in flight; correct, but 0.6-0.7x tile 8
     * (the repack by 128 threads, bench/NOTES.md) */
    if (variant == 5) return wg_launch<256, 4, 3, 1, 2, 4, 2>(w, x, n, y, c);
    /* tiles 10-11: tile 9 without the repack, its stages stored at first use (w->a24) and
     * bulk-copied by the producer with x; 4 or 5 stages */
    if (variant == 6) return wg_launch<256, 4, 3, 1, 3, 4, 2>(w, x, n, y, c);
    if (variant == 7) return wg_launch<256, 5, 3, 1, 3, 4, 2>(w, x, n, y, c);
    /* tile 12 (experiment): tile 11 with two wgmma groups in flight a consumer */
    if (variant == 8) return wg_launch<256, 5, 3, 1, 3, 4, 2, __nv_bfloat16, 2>(w, x, n, y, c);
    /* tile 13 (experiment): tile 11 in CTA pairs on adjacent row blocks, x multicast to both (the
     * source profile of run 115: consumers wait on x's arrival; cuSPARSELt runs clusters of 4) */
    if (variant == 9) return wg_launch<256, 5, 3, 2, 3, 4, 2>(w, x, n, y, c);
    /* tile 14 (automatic since run 122): tile 11 persistent, the epilogue through TMA stores
     * (run 119's times fit ~3.5 us a 128 x 256 block outside its stages, ~12% at 4096 columns;
     * run 122: 0-5% faster than tile 11, interleaved) */
    if (variant == 10) return wg_launch<256, 5, 3, 1, 4, 4, 2>(w, x, n, y, c);
    /* tile 15: tile 14 with 128-token blocks and 8 stages, twice the blocks where 128 x 256
     * ones leave SMs idle (a few hundred tokens) */
    if (variant == 11) return wg_launch<128, 8, 3, 1, 4, 4, 2>(w, x, n, y, c);
    /* tiles 16, 17: tiles 14 and 15 with K in two parts, each adding its partial sums into y by
     * TMA reduce-add (y zeroed first; two bf16 adds onto zero, so the result does not depend on
     * their order), for the few-hundred-token prefills where one part's blocks leave SMs idle
     * (run 129: 4096x14336 at 512 tokens 54.6 us against tile 15's 71.3) */
    if (variant == 12) return wg_launch<256, 5, 3, 1, 4, 4, 2>(w, x, n, y, c, 2);
    if (variant == 13) return wg_launch<128, 8, 3, 1, 4, 4, 2>(w, x, n, y, c, 2);
    return wg_launch<128, 8, 3, 1>(w, x, n, y, c);
}
