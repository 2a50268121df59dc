/* sp24_gemm.cu: 2:4 prefill GEMM, y (n, out) = x (n, in) W^T for any n (used above the
 * decode kernel's 16 tokens), on sparse tensor cores (mma.sp m16n8k32, bf16 or f16 in, f32
 * accumulate). Reads the weight as the decode kernel does (sp24_src: the fragment layout v24/m24,
 * see the top of sp24_gemv.cu, or a one-copy weight's stage-order a24), so one upload serves both.
 * On Hopper it runs only where the wgmma.sp tiles cannot (x not 16-byte aligned, a tile forced).
 *
 * Tiling (template <RW, NT, T>, T the element type): a block of 8 warps computes BM = 64*RW output rows x
 * BN = 16*NT tokens; warps form 4 (rows) x 2 (tokens), each owning RW row tiles of 16 x
 * NT n-tiles of 8, i.e. RW*NT accumulator tiles of 16x8 in registers. Configurations:
 *   <2,8> 128 x 128 (prefill), <2,4> 128 x 64 and <1,4> 64 x 64 (fewer tokens, more blocks);
 * the host takes the largest that still fills every SM.
 *
 * Data flow per 32-column step (one mma.sp k32 per accumulator tile):
 *   A (weight): the layout already is the per-lane A fragment (v24: one uint4 per lane per
 *     row tile and step) and metadata register (m24: one uint4 per lane per row tile and
 *     256-column macro step), so each warp loads its fragments straight from global memory
 *     with coalesced 512-byte warp loads into a register ring of AR steps, AR-1 steps
 *     ahead of use; metadata one macro step ahead. No shared memory for A: staging it
 *     would cost the same L1/shared bandwidth (write + read) plus capacity and barriers,
 *     for no reuse gain. The two token-warps that share a row tile load the same bytes
 *     at about the same time; the loads go through L1 (ld.global.nc), so the second is
 *     (mostly) an L1 hit.
 *   B (tokens): x is staged in shared memory with cp.async in a 4-stage ring of 64-column
 *     chunks (4 chunks = one macro step, so every slot index is a compile-time constant),
 *     token rows padded to 144 bytes so the 8 rows of an ldmatrix fall on distinct banks;
 *     B fragments come from ldmatrix.x4 exactly as sp_load_b makes them. Tokens >= n and
 *     columns >= in are zero-filled by cp.async (src-size 0): nothing past x is read.
 *   Register -> mma mapping copied from sp24_kernel: step s of macro step m uses the
 *     metadata component s>>1 with selector s&1.
 * K runs to kp (in padded to 256): v24/m24 hold zero values and nibbles 0x4 there.
 *
 * Epilogue: accumulators -> T tile in shared memory (token-major, padded against bank
 * conflicts) -> 16-byte coalesced stores of y rows (scalar when out % 8 != 0).
 *
 * Rasterization: blocks walk row blocks fastest inside groups of `group` row blocks (host
 * sizes a group's weight slice to a third of L2), so the slice stays in L2 while every
 * token block passes through it; x is re-read once per group. */
#include "common.cuh"

#define GM_STAGES 4                 /* x ring depth, = 64-column chunks per macro step */
#define GM_KC 64                    /* columns per stage */
#define GM_XSTRIDE (GM_KC * 2 + 16) /* bytes per staged token row (16-byte pad) */

static_assert(GM_STAGES * GM_KC == 256, "slot indices assume one macro step per ring turn");

__device__ __forceinline__ uint32_t gm_comp(const uint4 &v, int q) {
    return q == 0 ? v.x : q == 1 ? v.y : q == 2 ? v.z : v.w;
}

template <int RW, int NT, typename T, bool A24>
__global__ void __launch_bounds__(SP_THREADS, RW * NT >= 16 ? 1 : 2)
sp24_gemm_kernel(const sp24_src src, const T *__restrict__ x, T *__restrict__ y,
                 int n, int M, int K, int KM, int RT, int group) {
    constexpr int BM = 64 * RW, BN = 16 * NT;
    constexpr int AR = RW == 1 ? 8 : 4, AD = AR - 1; /* A ring slots, steps loaded ahead */
    constexpr int XIT = BN * 8 / SP_THREADS;          /* 16-byte cp.async per thread per stage */
    static_assert(8 % AR == 0 && XIT * SP_THREADS == BN * 8, "tile shape");
    extern __shared__ uint4 smem4[];
    char *smem = reinterpret_cast<char *>(smem4);
    const uint32_t sbase = (uint32_t)__cvta_generic_to_shared(smem);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    const int wm = warp & 3, wn = warp >> 2;
    const int KS = KM * 8, NCH = KM * 4;

    /* grouped raster: block -> (row block rb, token block tb) */
    const int RB = (RT * 16 + BM - 1) / BM, TB = (n + BN - 1) / BN;
    const int per = group * TB, grp = blockIdx.x / per, first = grp * group;
    const int gs = min(RB - first, group), local = blockIdx.x - grp * per;
    const int rb = first + local % gs, tb = local / gs, tok0 = tb * BN;

    /* this warp's row tiles; past the last one it re-reads the last (valid bytes, never stored) */
    const void *vp[RW], *mp[RW];
#pragma unroll
    for (int r = 0; r < RW; r++) {
        int rt = min(rb * (BM / 16) + wm * RW + r, RT - 1);
        vp[r] = sp24_row<A24>(src, rt, lane);
        mp[r] = sp24_meta_row<A24>(src, rt, lane);
    }

    /* x chunk c (columns 64c..) into ring slot; thread owns 16-byte column q of rows j */
    auto stage = [&](int c, int slot) {
        if (c < NCH) {
            const int q = threadIdx.x & 7, col = c * GM_KC + q * 8;
#pragma unroll
            for (int it = 0; it < XIT; it++) {
                const int j = it * (SP_THREADS / 8) + (threadIdx.x >> 3), tok = tok0 + j;
                const bool ok = tok < n && col < K;
                const T *src = ok ? x + (size_t)tok * K + col : x;
                const uint32_t dst = sbase + slot * (BN * GM_XSTRIDE) + j * GM_XSTRIDE + q * 16;
                asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(src), "r"(ok ? 16 : 0));
            }
        }
        asm volatile("cp.async.commit_group;"); /* empty past the end: keeps the group count uniform */
    };

    /* ldmatrix.x4 lane address (as sp_load_b): token row wn*8NT + 8nt + (lane&7), 16-byte
     * column block lane>>3 of the step, so b[m] = k 8m+2t, +1 of token g */
    const uint32_t boff = (uint32_t)((wn * NT * 8 + (lane & 7)) * GM_XSTRIDE + (lane >> 3) * 16);

    float acc[RW][NT][4];
#pragma unroll
    for (int r = 0; r < RW; r++)
#pragma unroll
        for (int nt = 0; nt < NT; nt++) acc[r][nt][0] = acc[r][nt][1] = acc[r][nt][2] = acc[r][nt][3] = 0.f;

    uint4 a[AR][RW], e[RW], en[RW];
#pragma unroll
    for (int s = 0; s < GM_STAGES - 1; s++) stage(s, s);
#pragma unroll
    for (int d = 0; d < AD; d++) /* KS >= 8 > AD */
#pragma unroll
        for (int r = 0; r < RW; r++) a[d][r] = sp24_frag<A24, false>(vp[r], 0, d);
#pragma unroll
    for (int r = 0; r < RW; r++) e[r] = sp24_meta<A24, false>(mp[r], 0);

    for (int m = 0; m < KM; m++) {
        const int mn = min(m + 1, KM - 1); /* the tail re-reads the last: in bounds, unused */
#pragma unroll
        for (int r = 0; r < RW; r++) en[r] = sp24_meta<A24, false>(mp[r], mn);
#pragma unroll
        for (int s = 0; s < 8; s++) {
            if ((s & 1) == 0) {
                /* chunk c = 4m + s/2 sits in slot s/2; once it has landed and every warp is
                 * past chunk c-1, refill that slot ((s/2 + 3) % 4) with chunk c+3 */
                asm volatile("cp.async.wait_group %0;" ::"n"(GM_STAGES - 2));
                __syncthreads();
                stage(m * 4 + (s >> 1) + GM_STAGES - 1, ((s >> 1) + GM_STAGES - 1) % GM_STAGES);
            }
            const int ka = min(m * 8 + s + AD, KS - 1); /* step AD ahead, clamped at the end */
#pragma unroll
            for (int r = 0; r < RW; r++) a[(s + AD) % AR][r] = sp24_frag<A24, false>(vp[r], ka >> 3, ka & 7);
            const uint32_t xa = sbase + (s >> 1) * (BN * GM_XSTRIDE) + boff + (s & 1) * 64;
#pragma unroll
            for (int nt = 0; nt < NT; nt++) {
                uint32_t b[4];
                asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                             : "=r"(b[0]), "=r"(b[1]), "=r"(b[2]), "=r"(b[3])
                             : "r"(xa + nt * 8 * GM_XSTRIDE));
#pragma unroll
                for (int r = 0; r < RW; r++) {
                    if (s & 1) sp_mma_sp<1, sp_is_f16<T>::v>(acc[r][nt], a[s % AR][r], b, gm_comp(e[r], s >> 1));
                    else sp_mma_sp<0, sp_is_f16<T>::v>(acc[r][nt], a[s % AR][r], b, gm_comp(e[r], s >> 1));
                }
            }
        }
#pragma unroll
        for (int r = 0; r < RW; r++) e[r] = en[r];
    }

    /* epilogue: the ring is free once every copy landed and every warp is done */
    asm volatile("cp.async.wait_group 0;");
    __syncthreads();
    constexpr int OS = BM + 8; /* elements per staged token row: 2 tokens apart = 8 banks apart */
    T *so = reinterpret_cast<T *>(smem);
#pragma unroll
    for (int r = 0; r < RW; r++)
#pragma unroll
        for (int nt = 0; nt < NT; nt++)
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const int row = wm * RW * 16 + r * 16 + g + 8 * (i >> 1);
                const int tok = wn * NT * 8 + nt * 8 + 2 * t + (i & 1);
                so[tok * OS + row] = sp_from_f32<T>(acc[r][nt][i]);
            }
    __syncthreads();
    const int row0 = rb * BM;
    if ((M & 7) == 0 && ((uintptr_t)y & 15) == 0) {
        for (int i = threadIdx.x; i < BN * (BM / 8); i += SP_THREADS) {
            const int j = i / (BM / 8), q = i % (BM / 8), tok = tok0 + j, row = row0 + q * 8;
            if (tok < n && row < M)
                *reinterpret_cast<uint4 *>(y + (size_t)tok * M + row) = *reinterpret_cast<const uint4 *>(so + j * OS + q * 8);
        }
    } else {
        for (int i = threadIdx.x; i < BN * BM; i += SP_THREADS) {
            const int j = i / BM, q = i % BM, tok = tok0 + j, row = row0 + q;
            if (tok < n && row < M) y[(size_t)tok * M + row] = so[j * OS + q];
        }
    }
}

template <int RW, int NT, typename T>
static int gm_launch(const sp_cuda_weight *w, const void *xv, int n, void *yv, sp_cuda_ctx *c) {
    const T *x = (const T *)xv;
    T *y = (T *)yv;
    constexpr int BM = 64 * RW, BN = 16 * NT;
    const int RT = w->mp / 16, KM = w->kp / 256;
    const int RB = (RT * 16 + BM - 1) / BM, TB = (n + BN - 1) / BN;
    /* row blocks per raster group: their weight slice (per row kp bytes of values + kp/8
     * of metadata) fits in a third of L2 */
    const double slice = (double)BM * w->kp * 9.0 / 8.0;
    int group = (int)((double)c->l2_bytes / 3.0 / slice);
    group = group < 1 ? 1 : group > RB ? RB : group;
    const size_t xs = (size_t)GM_STAGES * BN * GM_XSTRIDE, os = (size_t)BN * (BM + 8) * 2;
    const size_t smem = xs > os ? xs : os;
    static size_t allowed[2] = {0, 0}; /* per template instance */
    const int a24 = sp24_reads_a24(w, c);
    auto k = a24 ? sp24_gemm_kernel<RW, NT, T, true> : sp24_gemm_kernel<RW, NT, T, false>;
    SP_CHK(sp_allow_smem(k, smem, &allowed[a24]));
    if (a24) SP_CHK(sp24_a24_make(w, c));
    k<<<(unsigned)((size_t)RB * TB), SP_THREADS, smem, c->stream>>>(sp24_src_of(w), x, y, n, w->out, w->in, KM, RT, group);
    SP_CU(cudaGetLastError());
    return 0;
}

/* The block tile sp24_gemm_run takes for n tokens and x (1-3 mma.sp, 4-17 wgmma.sp variants
 * 0-13; x, y NULL: assumed 16-byte aligned) */
static int gemm_tile(const sp_cuda_weight *w, const void *x, const void *y, int n, const sp_cuda_ctx *c) {
    if (c->cfg_gemm_tile) return c->cfg_gemm_tile;
    auto blocks = [&](long bm, long bn) { return ((w->mp + bm - 1) / bm) * ((n + bn - 1) / bn); };
    /* the wgmma.sp kernel on Hopper above 16 tokens. H200 run 10: 128 x 256 blocks (tile 8)
     * 900-980 TFLOP/s at 2048 tokens, 1.15-1.25x tile 5, where they fill the SMs; with fewer blocks tile 5 (128 x 128) wins, e.g. 4096 rows at 256
     * tokens: 340 against 228 TFLOP/s (32 blocks of 128 x 256); 1.8-2.5x the best mma.sp tile.
     * Run 110: tile 11 (128 x 256, A bulk-copied from the stage-order copy) 1096-1254 against
     * tile 8's 818-990 at 2048 and 8192 tokens on five shapes, and faster at 256 tokens too.
     * Run 122: tile 14 (tile 11 persistent, its epilogue stored by TMA while the next block's
     * stages load) 0-5% faster than tile 11 with the two interleaved, level on 4096x14336.
     * Tiles 15 (128-token blocks), 16 and 17 (14 and 15 with K in two parts added by TMA) give
     * more, smaller units where 128 x 256 blocks leave SMs idle. A line through runs 124-125 and
     * 129 (256-1024 tokens, five shapes): us = fixed + slope x rounds of units over the SMs x
     * K / 4096, fixed 3.5 / 5.5 / 8 / 9 (the K parts: y zeroed, then added twice), slope 27.5 /
     * 19.6 / 15.7 / 11. It picks the fastest of the four in all 25 cells of run 129 (fitted to
     * them) and the faster of 14 and 15 in all 40 of run 125; tile 5 lost to tile 14 or 15 in
     * every cell of runs 124-125. Out of sample (run 135, 1152-2048 tokens, five shapes) it
     * picks the fastest in all 36 cells, where limiting K parts to 1024 tokens (the rule before)
     * lost up to 22% (4096x14336 at 1152-1536 tokens: tile 16 159-170 us against 188-210). The
     * K parts need rows of y in 16-byte units; they were measured up to 2048 tokens, so only there.
     * Below 256 tokens (run 150 sweep, 17-200 tokens, the five shapes): the same line picks the
     * fastest of 14-17 in all 25 cells, 1.3-2.8x faster than the best mma.sp tile (4096x4096 at 32
     * tokens 19.2 against 35.1 us; 28672x4096 at 200 tokens 79.2 against 220); cuBLAS is still
     * faster there on the 4096-row and 4096-column shapes up to ~128 tokens (the model's choice
     * measures both). */
    if (sp24_wgmma_usable(x, c)) {
        static const double fixed[4] = {3.5, 5.5, 8, 9}, slope[4] = {27.5, 19.6, 15.7, 11};
        const long sm = c->sm_count, units[4] = {blocks(128, 256), blocks(128, 128), 2 * blocks(128, 256), 2 * blocks(128, 128)};
        const int nt = n <= 2048 && sp24_wgmma_kparts_ok(w, y, 2) ? 4 : 2;
        int best = 0;
        double tb = 1e30;
        for (int t = 0; t < nt; t++) {
            const double us = fixed[t] + slope[t] * (double)((units[t] + sm - 1) / sm) * (w->kp / 4096.0);
            if (us < tb) tb = us, best = t;
        }
        return 14 + best;
    }
    /* measured (run 8 sweep, H100, Llama-8B shapes, n = 64..4096): 128x64 beat 128x128
     * everywhere (12-15% at n >= 1024); 64x64 wins only while 128x64 leaves SMs idle */
    return blocks(128, 64) >= c->sm_count ? 2 : 3;
}

const char *sp24_gemm_path(const sp_cuda_weight *w, int n, const sp_cuda_ctx *c) {
    static const char *names[] = {"", "mma.sp GEMM 128x128", "mma.sp GEMM 128x64", "mma.sp GEMM 64x64",
                                  "wgmma.sp GEMM", "wgmma.sp GEMM (weight via shared memory)",
                                  "wgmma.sp GEMM (CTA pairs)", "wgmma.sp GEMM 192x128 (weight via shared memory)",
                                  "wgmma.sp GEMM 128x256 (weight via shared memory)",
                                  "wgmma.sp GEMM 128x256 (weight as shared-memory A)",
                                  "wgmma.sp GEMM 128x256 (A stages bulk-copied, 4 stages)",
                                  "wgmma.sp GEMM 128x256 (A stages bulk-copied, 5 stages)",
                                  "wgmma.sp GEMM 128x256 (A stages bulk-copied, 5 stages, 2 groups in flight)",
                                  "wgmma.sp GEMM 128x256 (A stages bulk-copied, 5 stages, CTA pairs)",
                                  "wgmma.sp GEMM 128x256 (A stages bulk-copied, 5 stages, persistent, TMA-stored)",
                                  "wgmma.sp GEMM 128x128 (A stages bulk-copied, 8 stages, persistent, TMA-stored)",
                                  "wgmma.sp GEMM 128x256 (A stages bulk-copied, 5 stages, persistent, K in 2 parts TMA-added)",
                                  "wgmma.sp GEMM 128x128 (A stages bulk-copied, 8 stages, persistent, K in 2 parts TMA-added)"};
    return names[gemm_tile(w, NULL, NULL, n, c)];
}

template <typename T>
static int gm_tile_run(const sp_cuda_weight *w, const void *x, int n, void *y, sp_cuda_ctx *c, int tile) {
    if (tile == 1) return gm_launch<2, 8, T>(w, x, n, y, c);
    if (tile == 2) return gm_launch<2, 4, T>(w, x, n, y, c);
    return gm_launch<1, 4, T>(w, x, n, y, c);
}

int sp24_gemm_run(const sp_cuda_weight *w, const void *x, int n, void *y, sp_cuda_ctx *c) {
    if (n < 1) return sp_error(SP_ERR_ARG, "2:4 GEMM: n = %d", n);
    const int tile = gemm_tile(w, x, y, n, c); /* an unaligned x takes the mma.sp GEMM (TMA needs 16 bytes) */
    if (tile >= 4) return sp24_wgmma_run(w, x, n, y, c, tile - 4); /* sm_90a wgmma.sp (sp24_wgmma.cu) */
    if (w->dtype == SP_CUDA_F16) return gm_tile_run<__half>(w, x, n, y, c, tile);
    return gm_tile_run<__nv_bfloat16>(w, x, n, y, c, tile);
}
