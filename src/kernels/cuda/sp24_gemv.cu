/* sp24_gemv.cu: 2:4 decode GEMM, y (n, out) = x (n, in) W^T for n <= 16 per launch,
 * on sparse tensor cores (mma.sp m16n8k32, bf16 or f16 in (the template T), f32 accumulate).
 *
 * The weight is the sparse A operand (16 output rows x 32 inputs per mma), the tokens
 * are B (8 per n-tile). Memory-bound by design: each lane streams one 16-byte value
 * load per mma and one 16-byte metadata load per 8 mmas, straight into registers.
 *
 * Device layout (made at upload from the shared layout, see sparsity_cuda.h):
 *   v24[rt][s][lane] (uint4): row tile rt (rows 16rt..), 32-column step s, lane = 4g + t:
 *     .x = row 16rt+g,   group 8s+t   (its two kept values, first in the low half)
 *     .y = row 16rt+g+8, group 8s+t
 *     .z = row 16rt+g,   group 8s+t+4
 *     .w = row 16rt+g+8, group 8s+t+4      (= the A fragment registers a0..a3)
 *   m24[rt][ms][lane] (uint4): 256-column macro step ms, component q = steps 8ms+2q, +1:
 *     for step 8ms+2q+(t>>1) and 16-column half h = t&1:
 *     low 16 bits = meta[16rt+g][(32 step + 16h)/16], high 16 bits = same for row g+8.
 *     mma with selector 0 reads lanes t = 0,1, selector 1 lanes t = 2,3 (one register
 *     feeds two mmas).
 * Padding rows/columns hold zero values with nibble 0x4.
 * A one-copy weight (sp_cuda_weight_one_copy) keeps the same bytes in the wgmma GEMM's stage order
 * (a24) instead; the kernels here read either through sp24_src (common.cuh). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.cuh"

int sp24_upload(sp_cuda_weight *w, const uint16_t *vals, const uint16_t *meta) {
    const int M = w->out, K = w->in, Mp = w->mp, Kp = w->kp;
    const int RT = Mp / 16, KS = Kp / 32, KM = Kp / 256;
    const size_t nv = (size_t)RT * KS * 32, nm = (size_t)RT * KM * 32;
    uint32_t *hv = (uint32_t *)malloc(nv * 16), *hm = (uint32_t *)malloc(nm * 16);
    if (!hv || !hm) { free(hv); free(hm); return sp_error(SP_ERR_NOMEM, "sp24_upload: out of host memory"); }
    /* two kept values of group grp of row r, packed (first low) */
    auto pair = [&](int r, int grp) -> uint32_t {
        if (r >= M || grp * 4 >= K) return 0;
        const uint16_t *p = vals + (size_t)r * (K / 2) + 2 * grp;
        return (uint32_t)p[0] | ((uint32_t)p[1] << 16);
    };
    auto meta16 = [&](int r, int blk) -> uint32_t { /* 16-column block blk of row r */
        if (r >= M || blk * 16 >= K) return 0x4444;
        return meta[(size_t)r * (K / 16) + blk];
    };
    for (int rt = 0; rt < RT; rt++)
        for (int s = 0; s < KS; s++)
            for (int lane = 0; lane < 32; lane++) {
                int g = lane >> 2, t = lane & 3, r0 = rt * 16 + g, r1 = r0 + 8;
                uint32_t *d = hv + (((size_t)rt * KS + s) * 32 + lane) * 4;
                d[0] = pair(r0, 8 * s + t);
                d[1] = pair(r1, 8 * s + t);
                d[2] = pair(r0, 8 * s + t + 4);
                d[3] = pair(r1, 8 * s + t + 4);
            }
    for (int rt = 0; rt < RT; rt++)
        for (int ms = 0; ms < KM; ms++)
            for (int lane = 0; lane < 32; lane++) {
                int g = lane >> 2, t = lane & 3, r0 = rt * 16 + g, r1 = r0 + 8;
                uint32_t *d = hm + (((size_t)rt * KM + ms) * 32 + lane) * 4;
                for (int q = 0; q < 4; q++) {
                    int step = 8 * ms + 2 * q + (t >> 1), blk = 2 * step + (t & 1);
                    d[q] = meta16(r0, blk) | (meta16(r1, blk) << 16);
                }
            }
    int rc = 0;
    if (sp_dev_copy(&w->v24, hv, nv * 16) || sp_dev_copy(&w->m24, hm, nm * 16))
        rc = sp_error(SP_ERR_NOMEM, "sp24_upload: device allocation/copy of %zu bytes failed", (nv + nm) * 16);
    w->bytes = (nv + nm) * 16;
    free(hv);
    free(hm);
    return rc;
}

/* y (n, M) = x (n, K) W^T over the block's K range: warp (rpb_i, kwi) sweeps macro steps
 * m0 + kwi, m0 + kwi + kw, ... of row tile rt, one macro step of loads ahead. */
template <int NT, typename T, bool A24>
__global__ void __launch_bounds__(SP_THREADS, 2)
sp24_kernel(const sp24_src src, const T *__restrict__ xt, T *__restrict__ y, float *ws,
            unsigned *counters, int n, int M, int Mp, int K, int KM, int rpb, int splits, int pf, int cluster, int early) {
    extern __shared__ uint4 smem4[];
    uint32_t *xs = reinterpret_cast<uint32_t *>(smem4);
    const __nv_bfloat16 *x = reinterpret_cast<const __nv_bfloat16 *>(xt); /* staged as bytes, whatever T */
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int lg = __ffs(rpb) - 1; /* rpb is 1, 2, 4 or 8 (sp_plan_make): shifts, not divisions */
    const int kw = SP_WARPS >> lg, rpb_i = warp & (rpb - 1), kwi = warp >> lg;
    const int rt = blockIdx.x * rpb + rpb_i;
    int m0, m1;
    sp_split_range(KM, splits, blockIdx.y, &m0, &m1);
    const bool active = rt * 16 < Mp;
    const int KS = KM * 8;
    const void *vrow = sp24_row<A24>(src, rt, lane), *mrow = sp24_meta_row<A24>(src, rt, lane);

    float acc[NT][4];
#pragma unroll
    for (int nt = 0; nt < NT; nt++) acc[nt][0] = acc[nt][1] = acc[nt][2] = acc[nt][3] = 0.f;

    uint4 a0[8], a1[8], e0 = make_uint4(0, 0, 0, 0), e1 = e0;
    int ms = m0 + kwi;
    auto load = [&](uint4 *a, uint4 &e, int m) {
#pragma unroll
        for (int s = 0; s < 8; s++) a[s] = sp24_frag<A24, true>(vrow, m, s);
        e = sp24_meta<A24, true>(mrow, m);
    };
    const int steps32 = (m1 - m0) * 8;
    /* the row tile in v24/m24, for the prefetch (a one-copy weight's v24 is NULL: none there) */
    const uint4 *vtile = A24 ? nullptr : src.v24 + (size_t)rt * KS * 32, *mtile = A24 ? nullptr : src.m24 + (size_t)rt * KM * 32;
    auto prefetch = [&](int m) { /* macro step m into L2: 4 KB of values, 512 B of metadata (v24 only:
                                    sp_plan_make's default, no prefetch, is all a24 runs) */
        if (!A24 && active && m < m1) {
            sp_prefetch_l2(vtile + (size_t)m * 8 * 32, 4096);
            sp_prefetch_l2(mtile + (size_t)m * 32, 512);
        }
    };
    auto compute = [&](const uint4 *a, const uint4 &e, int m) {
        const int sl = (m - m0) * 8; /* local 32-column step */
        const uint32_t ev[4] = {e.x, e.y, e.z, e.w};
#pragma unroll
        for (int s = 0; s < 8; s++) {
#pragma unroll
            for (int nt = 0; nt < NT; nt++) {
                uint32_t b[4];
                sp_load_b(b, xs, sl + s, n, nt, steps32);
                if (s & 1) sp_mma_sp<1, sp_is_f16<T>::v>(acc[nt], a[s], b, ev[s >> 1]);
                else sp_mma_sp<0, sp_is_f16<T>::v>(acc[nt], a[s], b, ev[s >> 1]);
            }
        }
    };
    /* Rounds: in round r warp kwi computes macro step m0 + r*kw + kwi. x arrives one
     * cp.async group per round, two rounds ahead, so compute starts as soon as the
     * first round's columns are in; weights: two macro steps in registers, refilled
     * after use (plus an optional L2 prefetch window of pf steps). */
    const int R = (m1 - m0 + kw - 1) >> (3 - lg); /* kw = 8 >> lg */
    auto stage_round = [&](int r) {
        int lo = min(r * kw * 8, steps32), hi = min((r + 1) * kw * 8, steps32);
        sp_stage_x_range(xs, x, n, K, m0 * 256, steps32, lo, hi); /* empty group past the end */
    };
    sp_pdl_trigger();
    for (int d = 2; d < 2 + pf; d++) prefetch(ms + d * kw);
    if (early || n > 4) { /* launched with programmatic dependence (the device model's decode): the
                             first weights are on their way before x (the previous kernel's output)
                             is read; above 4 tokens this order measured as fast or faster */
        if (active && ms < m1) load(a0, e0, ms);
        if (active && ms + kw < m1) load(a1, e1, ms + kw);
        sp_pdl_wait();
        sp_stage_zero(xs, n, steps32);
        stage_round(0);
        stage_round(1);
    } else { /* else each round's x goes out ahead of its weights: behind 18 weight loads a thread
                (16 warps an SM) it landed after them. H200 run 27, three builds alternated twice:
                1-4 tokens -0.1..-0.6 us (6144x4096 at 1 token 11.6 -> 11.2 us), 8-16 tokens no
                gain (4096x4096 +0.2..+0.3 us); also staging each later round's x before its
                compute: the same within 0.1 us, not kept */
        sp_stage_zero(xs, n, steps32);
        stage_round(0);
        if (active && ms < m1) load(a0, e0, ms);
        stage_round(1);
        if (active && ms + kw < m1) load(a1, e1, ms + kw);
    }
    for (int r = 0; r < R; r += 2) {
        asm volatile("cp.async.wait_group 1;");
        __syncthreads();
        if (active && ms < m1) {
            compute(a0, e0, ms);
            if (ms + 2 * kw < m1) load(a0, e0, ms + 2 * kw);
            if (pf) prefetch(ms + (2 + pf) * kw);
        }
        ms += kw;
        stage_round(r + 2);
        if (r + 1 >= R) break;
        asm volatile("cp.async.wait_group 1;");
        __syncthreads();
        if (active && ms < m1) {
            compute(a1, e1, ms);
            if (ms + 2 * kw < m1) load(a1, e1, ms + 2 * kw);
            if (pf) prefetch(ms + (2 + pf) * kw);
        }
        ms += kw;
        stage_round(r + 3);
    }
    asm volatile("cp.async.wait_group 0;");
    sp_epilogue<NT, T>(acc, reinterpret_cast<float *>(smem4), rt, kwi, kw, rpb_i, M, Mp, n, y, ws,
                    counters, splits, cluster, rpb);
}

template <typename T>
using sp24_fn = void (*)(sp24_src, const T *, T *, float *, unsigned *, int, int, int, int, int, int, int, int, int, int);

/* Everything a decode launch of n tokens needs: the plan, its grid, the kernel instance (its
 * shared memory allowed, one memo an instance) and whether the plan's cluster stays: every
 * cluster of the grid must be resident at once. sp24_launch runs it, sp24_split reports it. */
template <typename T>
static int sp24_prepare(const sp_cuda_weight *w, int n, sp_cuda_ctx *c, sp_plan *p, dim3 *grid, sp24_fn<T> *k) {
    SP_CHK(sp_plan_make(w, n, c, p));
    *grid = dim3((w->mp / 16 + p->rpb - 1) / p->rpb, p->splits);
    static size_t allowed[2][2]; /* per T */
    const int a24 = sp24_reads_a24(w, c);
    if (a24) *k = p->nt == 1 ? sp24_kernel<1, T, true> : sp24_kernel<2, T, true>;
    else *k = p->nt == 1 ? sp24_kernel<1, T, false> : sp24_kernel<2, T, false>;
    SP_CHK(sp_allow_smem(*k, p->smem, &allowed[a24][p->nt - 1]));
    p->cluster = p->cluster && sp_clusters_resident(*k, p->splits, p->smem, c) >= (int)grid->x;
    return 0;
}

template <typename T>
static int sp24_launch(const sp_cuda_weight *w, const T *x, int n, T *y, sp_cuda_ctx *c) {
    sp_plan p;
    dim3 grid;
    sp24_fn<T> k;
    SP_CHK(sp24_prepare(w, n, c, &p, &grid, &k));
    if (sp24_reads_a24(w, c)) SP_CHK(sp24_a24_make(w, c));
    cudaError_t e = sp_launch_cl(k, grid, SP_THREADS, p.smem, c->stream, c->pdl, p.cluster ? p.splits : 1, sp24_src_of(w),
                                 x, y, w->ws, w->counters, n, w->out, w->mp, w->in, w->kp / 256, p.rpb, p.splits, p.pf,
                                 p.cluster, c->pdl);
    if (sp_cluster_refused(e, p.cluster, c)) return sp24_launch(w, x, n, y, c);
    SP_CU(e);
    return 0;
}

int sp24_run(const sp_cuda_weight *w, const void *x, int n, void *y, sp_cuda_ctx *c) {
    if (w->dtype == SP_CUDA_F16) return sp24_launch(w, (const __half *)x, n, (__half *)y, c);
    return sp24_launch(w, (const __nv_bfloat16 *)x, n, (__nv_bfloat16 *)y, c);
}

/* How the decode call for n tokens sums its K splits (sp24_launch's rule). */
template <typename T>
static sp_split sp24_split_t(const sp_cuda_weight *w, int n, sp_cuda_ctx *c) {
    sp_plan p;
    dim3 grid;
    sp24_fn<T> k;
    return sp24_prepare(w, n, c, &p, &grid, &k) ? SP_SPLIT_ERR : sp_split_of(p);
}
sp_split sp24_split(const sp_cuda_weight *w, int n, sp_cuda_ctx *c) {
    return w->dtype == SP_CUDA_F16 ? sp24_split_t<__half>(w, n, c) : sp24_split_t<__nv_bfloat16>(w, n, c);
}
