/* sp24_wgdec.cu: 2:4 decode GEMM on Hopper's warpgroup sparse tensor-core instruction (sm_90a),
 * y (n, out) = x (n, in) W^T for n <= 32 per launch: wgmma.mma_async.sp m64nNBk32 (NB = 8 for
 * 1-8 tokens, 16 for 9-16, 32 for 17-32: a batch of sequences or a short prompt, where the weight
 * is still read once and the GEMM tiles' fixed cost dominates), bf16 or f16 in, f32 accumulate.
 * Above 16 tokens its K splits always sum through global memory (sp_epilogue's cluster quads hold
 * 16 tokens). H200 run 154, one-copy weights launched as the model does, against the GEMM tiles:
 * 24-32 tokens 0.4-16.7 us faster on the four 8B shapes (4096x4096 at 24 tokens 9.08 against 15.17
 * us, 1.43x cuBLAS); NB 64 (33-64 tokens) was slower than the GEMM on three of four (plans of at
 * most 2 macro steps a block to fit x, and 56-72 bytes of spills), so it is not built.
 *
 * Why a second decode kernel: the mma.sp kernel (sp24_gemv.cu) gives every warp its own copy of
 * x's B fragments (ldmatrix from shared memory, one per mma and token tile), so at 16 tokens a
 * block of 8 row tiles reads the same x 8 times and issues 16 mma + 16 ldmatrix a macro step a
 * warp; ncu (H200 run 32, 4096x4096) has 436 K shared wavefronts at 16 tokens against 199 K at
 * 1, and the 16-token call spends 2.8 us more than the 1-token one on the same weight bytes.
 * Here the tensor core reads B from shared memory itself, once for the warpgroup's 64 rows, and
 * a k32 step of 64 rows x NB tokens is one instruction.
 *
 * Same weight layout (v24/m24, see sp24_gemv.cu: a warp's uint4 is exactly the A register
 * fragment of its 16 rows, as sp24_wgmma.cu uses it), same launch plan (sp_plan_make for NB
 * tokens, 4 or 8 row tiles a block so that a warpgroup holds 4 row tiles), same two macro steps
 * of weight registers a warp, same x rounds and the same epilogue (sp_epilogue: its accumulator
 * layout is the mma.sp one, d[4j + i] = acc[j][i]). What differs: x is staged into the 128-byte
 * swizzled K-major layout the B descriptor reads (a 64-column box of NB tokens, 128 bytes a
 * token, 16-byte chunk c of token j at chunk c ^ (j & 7)), tokens >= n are not staged (their
 * output columns are never stored; columns past `in` are zero-filled, since the padding weights
 * are zeros and 0 x NaN is not), and each macro step is 8 wgmma, committed and waited for before
 * its weight registers are refilled.
 * Measured (H200 runs 36-41, bench/results/gpu-h200.md): 0.7-2.1 us faster than mma.sp at 12-16
 * tokens, 0.1-0.8 at 4-8, slower at 1 (sp24_wgdec_wanted: automatic from 4 tokens); 16 tokens
 * 1.26-1.57x cuBLAS on the 8B shapes; 24-32 tokens (32-token launches, run 160) 1.27-1.45x, where
 * the GEMM tiles ran 0.80-1.28x, so automatic up to SP_WGDEC_MAX. Tried and reverted: blocks of
 * one warpgroup, four an SM (run 38: clusters of 8 splits still not resident, no faster). */
#include "common.cuh"
#include "wgmma.cuh"

#ifdef WG_SM90A
/* x columns [k0 + 32 lo, k0 + 32 hi) of tokens < n into the swizzled boxes at xs (local 64-column
 * box b at xs + b * NB * 128), one cp.async group */
template <int NB>
__device__ __forceinline__ void wgd_stage(uint32_t xs, const __nv_bfloat16 *x, int n, int K, int k0, int lo, int hi) {
    const int chunks = (hi - lo) * 4; /* 16-byte chunks a token */
    for (int i = threadIdx.x; i < n * chunks; i += blockDim.x) {
        const int j = i / chunks, c = lo * 4 + i % chunks, col = k0 + c * 8;
        const __nv_bfloat16 *src = col < K ? x + (size_t)j * K + col : x;
        const uint32_t dst = xs + (c >> 3) * (NB * 128) + (j >> 3) * 1024 + (j & 7) * 128 + (((c & 7) ^ (j & 7)) << 4);
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(src), "r"(col < K ? 16 : 0));
    }
    asm volatile("cp.async.commit_group;");
}
#endif

template <int NB, typename T, bool A24>
__global__ void __launch_bounds__(SP_THREADS, 2)
sp24_wgd_kernel(const sp24_src src, const T *__restrict__ xt, T *__restrict__ y,
                float *ws, unsigned *counters, int n, int M, int Mp, int K, int KM, int rpb, int splits, int cluster,
                int wfirst) {
#ifdef WG_SM90A
    constexpr int NT = NB / 8, BOX = NB * 128;
    constexpr bool F16 = sp_is_f16<T>::v;
    extern __shared__ uint4 smem4[];
    const uint32_t sraw = (uint32_t)__cvta_generic_to_shared(smem4);
    const uint32_t xs = (sraw + 1023) & ~1023u; /* the swizzle pattern repeats every 1024 bytes */
    const __nv_bfloat16 *x = reinterpret_cast<const __nv_bfloat16 *>(xt); /* staged as bytes, whatever T */
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int lg = __ffs(rpb) - 1; /* rpb 4 or 8: a warpgroup's 4 warps share kwi */
    const int kw = SP_WARPS >> lg, rpb_i = warp & (rpb - 1), kwi = warp >> lg;
    const int rt = blockIdx.x * rpb + rpb_i;
    int m0, m1;
    sp_split_range(KM, splits, blockIdx.y, &m0, &m1);
    const bool active = rt * 16 < Mp; /* inactive warps still join their warpgroup's wgmma, with zero A */
    const int steps32 = (m1 - m0) * 8;
    const void *vrow = sp24_row<A24>(src, rt, lane), *mrow = sp24_meta_row<A24>(src, rt, lane);

    float d[NB / 2];
#pragma unroll
    for (int i = 0; i < NB / 2; i++) d[i] = 0.f;
    uint4 a0[8], a1[8], e0 = make_uint4(0x44444444u, 0x44444444u, 0x44444444u, 0x44444444u), e1 = e0;
#pragma unroll
    for (int s = 0; s < 8; s++) a0[s] = a1[s] = make_uint4(0, 0, 0, 0);
    int ms = m0 + kwi;
    auto load = [&](uint4 *a, uint4 &e, int m) {
#pragma unroll
        for (int s = 0; s < 8; s++) a[s] = sp24_frag<A24, true>(vrow, m, s);
        e = sp24_meta<A24, true>(mrow, m);
    };
    /* macro step m: 8 wgmma on the warpgroup's 64 rows, waited for before a is refilled (the
     * asynchronous wgmma reads a and e until it completes) */
    auto compute = [&](const uint4 *a, const uint4 &e, int m) {
        const int sl = (m - m0) * 8; /* local 32-column step */
        const uint32_t ev[4] = {e.x, e.y, e.z, e.w};
        wg_fence_acc<NB / 2>(d);
        asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
#pragma unroll
        for (int s = 0; s < 8; s++) {
            const uint64_t desc = wg_desc(xs + ((sl + s) >> 1) * BOX + ((sl + s) & 1) * 64);
            if (s & 1) wg_mma_sp<NB, 1, F16>(d, a[s], desc, ev[s >> 1]);
            else wg_mma_sp<NB, 0, F16>(d, a[s], desc, ev[s >> 1]);
        }
        asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
        asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
        wg_fence_acc<NB / 2>(d);
    };
    /* rounds as in sp24_kernel: in round r warpgroup kwi computes macro step m0 + r*kw + kwi; x
     * one cp.async group a round, two rounds ahead */
    const int R = (m1 - m0 + kw - 1) >> (3 - lg);
    auto stage_round = [&](int r) {
        const int lo = min(r * kw * 8, steps32), hi = min((r + 1) * kw * 8, steps32);
        wgd_stage<NB>(xs, x, n, K, m0 * 256, lo, hi); /* empty group past the end */
    };
    /* x written by cp.async (generic proxy) is read by wgmma (async proxy): each thread fences
     * its own landed copies, then the barrier */
    auto x_ready = [&]() {
        asm volatile("cp.async.wait_group 1;" ::: "memory");
        asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
        __syncthreads();
    };
    sp_pdl_trigger();
    if (wfirst) { /* weights first: with programmatic dependence (x is the previous kernel's output), and
                     from 9 tokens. H200 run 40, two builds alternated twice: x first is 0..0.3 us
                     faster at 8 tokens, 0.1..0.3 us slower at 16 */
        if (active && ms < m1) load(a0, e0, ms);
        if (active && ms + kw < m1) load(a1, e1, ms + kw);
        sp_pdl_wait();
        stage_round(0);
        stage_round(1);
    } else {
        stage_round(0);
        if (active && ms < m1) load(a0, e0, ms);
        stage_round(1);
        if (active && ms + kw < m1) load(a1, e1, ms + kw);
    }
    for (int r = 0; r < R; r += 2) {
        x_ready();
        if (ms < m1) { /* warpgroup-uniform */
            compute(a0, e0, ms);
            if (active && ms + 2 * kw < m1) load(a0, e0, ms + 2 * kw);
        }
        ms += kw;
        stage_round(r + 2);
        if (r + 1 >= R) break;
        x_ready();
        if (ms < m1) {
            compute(a1, e1, ms);
            if (active && ms + 2 * kw < m1) load(a1, e1, ms + 2 * kw);
        }
        ms += kw;
        stage_round(r + 3);
    }
    asm volatile("cp.async.wait_group 0;" ::: "memory");
    float acc[NT][4];
#pragma unroll
    for (int j = 0; j < NT; j++)
#pragma unroll
        for (int i = 0; i < 4; i++) acc[j][i] = d[4 * j + i];
    sp_epilogue<NT, T>(acc, reinterpret_cast<float *>(smem4), rt, kwi, kw, rpb_i, M, Mp, n, y, ws, counters, splits,
                       cluster, rpb);
#else
    __trap(); /* launched only where sp24_wgdec_usable found sm_90a code */
#endif
}

template <typename T>
using wgd_fn = void (*)(sp24_src, const T *, T *, float *, unsigned *, int, int, int, int, int, int, int, int, int);

/* Whether sp_cuda_linear tries this kernel for n tokens: forced on (1) for any n up to 32,
 * automatic (-1) from 4 to 16 tokens. H200 runs 36, 37 and 41, same-process A/B over the four 8B shapes: 12-16 tokens
 * 0.7-2.1 us faster than mma.sp, 8 tokens 0.1-0.8, 4 tokens 0.06-0.42 (every shape, every run),
 * 2 tokens -0.6..+0.7, 1 token 0.6-1.3 us slower (a warpgroup needs 4 row tiles a block;
 * mma.sp's best 1-token plan has 1 and no split-K). */
int sp24_wgdec_wanted(int n, const sp_cuda_ctx *c) {
    /* 17-32 tokens: automatic too since H200 run 160 (one copy, graphs with early launch): 1.27-1.45x
     * cuBLAS at 24-32 tokens where the GEMM tiles ran 0.80-1.28x, and the synthetic 8B's TPOT at
     * batch 32 1.06 -> 1.16x (its split-K scratch is sized for SP_WGDEC_MAX tokens at upload; run
     * 154's scratch grown at first use had freed a buffer captured decode graphs still held) */
    if (n > 16) return n <= SP_WGDEC_MAX && c->cfg_wgdec != 0 && !c->cfg_gemm_tile && sp24_wgdec_usable(c); /* a forced GEMM tile runs */
    return (c->cfg_wgdec > 0 || (c->cfg_wgdec < 0 && n >= 4)) && sp24_wgdec_usable(c);
}

/* 1 when this build has the kernel's sm_90a code and the device is a Hopper */
int sp24_wgdec_usable(const sp_cuda_ctx *c) {
    static int built = -1;
    if (built < 0) {
        cudaFuncAttributes fa;
        built = cudaFuncGetAttributes(&fa, sp24_wgd_kernel<16, __nv_bfloat16, false>) == cudaSuccess && fa.binaryVersion == 90;
        (void)cudaGetLastError();
    }
    return c->cc_major == 9 && built;
}

/* Plan p for nb tokens as the launch would run it: grid, shared memory, and whether its clusters
 * stay (every one resident at once); 1 where it cannot run (fewer than 4 row tiles a block, x
 * staging above 112 KB: two blocks an SM) */
template <typename T>
static int wgd_fit(const sp_cuda_weight *w, int nb, sp_cuda_ctx *c, sp_plan *p, dim3 *grid, wgd_fn<T> k, size_t *smem) {
    if (p->rpb < 4) return 1;
    if (nb > 16) p->cluster = 0; /* sp_epilogue's cluster quads hold 16 tokens */
    *grid = dim3((w->mp / 16 + p->rpb - 1) / p->rpb, p->splits);
    const size_t xs = (size_t)p->spb * 4 * nb * 128 + 1024; /* 4 boxes a macro step, + alignment */
    size_t red = (size_t)SP_WARPS * (nb / 8) * 4 * 32 * 4;
    if (p->cluster) red += (size_t)p->rpb * 64 * 16;
    *smem = xs > red ? xs : red;
    if (*smem > 112 * 1024) return 1;
    static size_t allowed[2][3]; /* per source and nb (and per T: one copy a template instance) */
    SP_CHK(sp_allow_smem(k, *smem, &allowed[sp24_reads_a24(w, c)][nb == 8 ? 0 : nb == 16 ? 1 : 2]));
    p->cluster = p->cluster && sp_clusters_resident(k, p->splits, *smem, c) >= (int)grid->x;
    return 0;
}

/* The launch for n tokens: sp_plan_make's plan for nb = 8 or 16 tokens (x staging sized for nb),
 * 8 row tiles a block; where its K splits would go through global memory, 4 row tiles a block
 * (the two warpgroups split K) if that plan's clusters are all resident in one wave. H200 session
 * 10 sweep at 16 tokens: 6144x4096 13.41 -> 13.12 us (5 splits, global -> 2, a cluster), the
 * others no better with 4. Not when launched early (c->pdl, the device model's decode): H200 run
 * 84, rotated calls as CUDA graphs, 16 tokens on 6144x4096: the cluster plan 12.15 us early and
 * 11.77 not, the 8-row-tile global plan 11.62 early (12.26 not). Not on a one-copy weight (a24) at
 * 9-16 tokens: H200 run 151, the same A/B on a24 as graphs, 6144x4096 at 12 / 16 tokens: the
 * cluster plan 12.35 / 13.05 us, the global one 11.65 / 11.81 (at 4-8 tokens equal within 0.05;
 * why a24 turns the 16-token result around was not profiled). 1 (no error set) where no plan
 * fits. */
template <typename T>
static int wgd_prepare(const sp_cuda_weight *w, int n, sp_cuda_ctx *c, sp_plan *p, dim3 *grid, wgd_fn<T> *k,
                       size_t *smem) {
    const int nb = n <= 8 ? 8 : n <= 16 ? 16 : 32;
    const bool a24 = sp24_reads_a24(w, c);
    if (nb == 8) *k = a24 ? sp24_wgd_kernel<8, T, true> : sp24_wgd_kernel<8, T, false>;
    else if (nb == 16) *k = a24 ? sp24_wgd_kernel<16, T, true> : sp24_wgd_kernel<16, T, false>;
    else *k = a24 ? sp24_wgd_kernel<32, T, true> : sp24_wgd_kernel<32, T, false>;
    SP_CHK(sp_plan_make(w, nb, c, p));
    const int rc = wgd_fit(w, nb, c, p, grid, *k, smem);
    if (rc < 0 || c->cfg_rpb || nb > 16 || (rc == 0 && (p->splits == 1 || p->cluster || c->pdl || (a24 && nb == 16))))
        return rc;
    sp_cuda_ctx c4 = *c;
    c4.cfg_rpb = 4;
    sp_plan p4;
    dim3 g4;
    size_t s4;
    SP_CHK(sp_plan_make(w, nb, &c4, &p4));
    const int rc4 = wgd_fit(w, nb, c, &p4, &g4, *k, &s4);
    if (rc4 < 0) return rc4;
    if (rc4 == 0 && p4.cluster && (int)(g4.x * g4.y) <= 2 * c->sm_count) *p = p4, *grid = g4, *smem = s4;
    else if (rc) return rc;
    return 0;
}

template <typename T>
static int wgd_launch(const sp_cuda_weight *w, const T *x, int n, T *y, sp_cuda_ctx *c) {
    sp_plan p;
    dim3 grid;
    wgd_fn<T> k;
    size_t smem;
    const int rc = wgd_prepare(w, n, c, &p, &grid, &k, &smem);
    if (rc) return rc;
    if (sp24_reads_a24(w, c)) SP_CHK(sp24_a24_make(w, c));
    cudaError_t e = sp_launch_cl(k, grid, SP_THREADS, smem, c->stream, c->pdl, p.cluster ? p.splits : 1, sp24_src_of(w), x,
                                 y, w->ws, w->counters, n, w->out, w->mp, w->in, w->kp / 256, p.rpb, p.splits, p.cluster,
                                 c->pdl || n > 8);
    if (sp_cluster_refused(e, p.cluster, c)) return wgd_launch(w, x, n, y, c);
    SP_CU(e);
    return 0;
}

/* 0: ran; 1: this n and plan take the mma.sp kernel (sp_cuda_linear_path says why); < 0: error */
int sp24_wgdec_run(const sp_cuda_weight *w, const void *x, int n, void *y, sp_cuda_ctx *c) {
    if (w->dtype == SP_CUDA_F16) return wgd_launch(w, (const __half *)x, n, (__half *)y, c);
    return wgd_launch(w, (const __nv_bfloat16 *)x, n, (__nv_bfloat16 *)y, c);
}

/* How the wgmma decode for n tokens sums its K splits (CLUSTER_EARLY_GLOBAL: a cluster here, the
 * global plan where a launch with programmatic dependence runs it), or NA where the plan takes
 * the mma.sp kernel */
sp_split sp24_wgdec_split(const sp_cuda_weight *w, int n, sp_cuda_ctx *c) {
    sp_plan p;
    dim3 grid;
    size_t smem;
    int rc;
    if (w->dtype == SP_CUDA_F16) {
        wgd_fn<__half> k;
        rc = wgd_prepare(w, n, c, &p, &grid, &k, &smem);
    } else {
        wgd_fn<__nv_bfloat16> k;
        rc = wgd_prepare(w, n, c, &p, &grid, &k, &smem);
    }
    if (rc) return SP_SPLIT_NA;
    const sp_split now = sp_split_of(p);
    if (c->pdl || !p.cluster) return now;
    sp_cuda_ctx early = *c; /* the device model's decode launches early: its plan may differ */
    early.pdl = 1;
    return sp24_wgdec_split(w, n, &early) == SP_SPLIT_GLOBAL ? SP_SPLIT_CLUSTER_EARLY_GLOBAL : now;
}
