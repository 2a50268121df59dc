/* flash_attn.cu: fused causal attention for prefill (one pass, FlashAttention-2 style), three
 * kernels: the 16-row kernel (below), the wide kernel (32 query rows a warp) and the wgmma kernel
 * (Hopper's warpgroup MMA; sp_cuda_flash_rows picks). The 16-row kernel:
 * a block takes FA_BQ = 64 query rows of one head (16 per warp, 4 warps, two blocks a SM),
 * streams the visible keys in tiles of 64 through a three-stage cp.async ring in shared
 * memory, and keeps S = Q K^T, the running softmax and O = P V in registers (mma.sync
 * m16n8k16 bf16, f32 accumulate). No score matrix goes to memory, and only the causal half of
 * the tiles is read; the cuBLAS path in model.cu wrote and read f32 scores (~0.85 ms a layer
 * of the 8B model at 2048 tokens, run 4). Only the tiles that cross the diagonal are masked.
 *
 * v8 (runs 29-31, bench/NOTES.md): S of tile j + 1 is computed inside the softmax of tile j,
 * so each warp has mma.sync to issue while its exponentials and shuffles wait (v7 issued an
 * instruction every 2.7 cycles a scheduler, ncu run 29); cp.async addresses are set up once
 * a block; one barrier a tile. 163 against 197 us at 2048 tokens, 1880 against 2211 at 8192.
 *
 * Fragments (PTX m16n8k16, g = lane / 4, t = lane % 4): A regs hold (row g | g+8, cols 2t,2t+1
 * | +8); B regs (rows k = 2t,2t+1 | +8, col g); C (row g | g+8, cols 2t, 2t+1). The S
 * accumulators of two adjacent 8-key tiles are exactly the A fragment of P for the PV product. */
#include "common.cuh"
#include "wgmma.cuh"

typedef __nv_bfloat16 bf16;

#define FA_BQ 64  /* query rows a block: 4 warps; 128 rows (8 warps, 1 block a SM) was 7% slower at 2048 tokens, run 31 */
#define FA_BK 64  /* keys a tile */
#define FA_ST 3   /* ring stages: tiles j and j + 1 are read while j + 2 loads (4 stages leave room for 1 block a SM) */

/* four 8x8 b16 matrices from shared memory; lanes 8i..8i+7 give the row addresses of matrix i */
template <bool TRANS>
__device__ __forceinline__ void fa_ldsm4(uint32_t *r, const bf16 *row) {
    uint32_t a = (uint32_t)__cvta_generic_to_shared(row);
    if (TRANS)
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a));
    else
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a));
}

/* 2^x in one MUFU op (flush-to-zero: the probabilities far below 2^-126 are 0 anyway) */
__device__ __forceinline__ float fa_exp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

__device__ __forceinline__ uint32_t fa_pack(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&v);
}

/* rotate-half RoPE of two bf16 pairs: a holds columns c, c+1, b columns c + D/2, c + D/2 + 1 */
__device__ __forceinline__ void fa_rope(uint32_t *a, uint32_t *b, float2 cv, float2 sv) {
    const float2 x = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(a));
    const float2 y = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(b));
    *a = fa_pack(x.x * cv.x - y.x * sv.x, x.y * cv.y - y.y * sv.y);
    *b = fa_pack(y.x * cv.x + x.x * sv.x, y.y * cv.y + x.y * sv.y);
}

/* Q's A fragments of the lane's rows r0, r0 + 8 for all D / 16 k-steps (rows past n read as 0),
 * rotated in registers when cs is not NULL: column c pairs with c + D/2, which this lane holds at
 * k-step kk + D/32 */
template <int D>
__device__ __forceinline__ void fa_load_q(uint32_t (*qf)[4], const bf16 *q, int lq, int h, int r0, int n, int pos,
                                          const float *cs, const float *sn, int t) {
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++)
#pragma unroll
        for (int i = 0; i < 4; i++) {
            int r = r0 + (i & 1) * 8, c = 16 * kk + 2 * t + (i >> 1) * 8;
            qf[kk][i] = r < n ? *reinterpret_cast<const uint32_t *>(q + (size_t)r * lq + h * D + c) : 0u;
        }
    if (cs)
#pragma unroll
        for (int kk = 0; kk < D / 32; kk++)
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const int r = r0 + (i & 1) * 8, c = 16 * kk + 2 * t + (i >> 1) * 8;
                if (r >= n) continue;
                const size_t at = (size_t)(pos + r) * (D / 2) + c;
                fa_rope(&qf[kk][i], &qf[kk + D / 32][i], *reinterpret_cast<const float2 *>(cs + at),
                        *reinterpret_cast<const float2 *>(sn + at));
            }
}

/* the row sums across each quad, then O / l of the warp's MT 16-row tiles (lane rows r0 + 16 mt
 * and + 8; l, o as the kernels keep them) into out (n, qd) at head h; rows >= n not stored */
template <int D, int MT>
__device__ __forceinline__ void fa_store(float (*o)[4], float *l, bf16 *out, int r0, int n, int qd, int h, int t) {
#pragma unroll
    for (int i = 0; i < 2 * MT; i++) {
        l[i] += __shfl_xor_sync(0xffffffffu, l[i], 1);
        l[i] += __shfl_xor_sync(0xffffffffu, l[i], 2);
    }
#pragma unroll
    for (int i = 0; i < 2 * MT; i++) { /* i = 2 mt + row */
        const int r = r0 + 16 * (i >> 1) + 8 * (i & 1);
        if (r >= n) continue;
        const float inv = 1.f / l[i];
        bf16 *dst = out + (size_t)r * qd + h * D + 2 * t;
#pragma unroll
        for (int dt = 0; dt < D / 8; dt++)
            *reinterpret_cast<uint32_t *>(dst + 8 * dt) =
                fa_pack(o[(i >> 1) * (D / 8) + dt][2 * (i & 1)] * inv, o[(i >> 1) * (D / 8) + dt][2 * (i & 1) + 1] * inv);
    }
}

/* Per-thread view of the K/V loads: NT threads move a 64-key tile as 16-byte chunks, thread
 * t always the same column chunk of rows t / (D/8) + k * RS, so the addresses are set up once
 * per block (the v7 loop spent ~27 instructions a chunk on index arithmetic). */
template <int D, int NT, int ST>
struct fa_loader {
    static constexpr int CPR = D / 8, RS = NT / CPR, STR = D + 8; /* chunks a row, rows a pass */
    const bf16 *k, *v; /* this thread's column of row 0 of the caches */
    int row0, soff, kvd;
    __device__ fa_loader(const bf16 *kc, const bf16 *vc, int kvd_, int col0) {
        const int c = (threadIdx.x % CPR) * 8;
        row0 = threadIdx.x / CPR, soff = row0 * STR + c, kvd = kvd_;
        k = kc + col0 + c, v = vc + col0 + c;
    }
    /* tile j (if < ntiles) into stage j % ST of the ring, then one commit (empty past the end,
     * so "all but the newest G groups landed" always counts tiles) */
    __device__ __forceinline__ void stage(bf16 *ring, int j, int ntiles, int Ltot) const {
        if (j < ntiles) {
            bf16 *dk = ring + (j % ST) * 2 * FA_BK * STR + soff, *dv = dk + FA_BK * STR;
#pragma unroll
            for (int i = 0; i < FA_BK / RS; i++) {
                const int key = j * FA_BK + row0 + i * RS, ok = key < Ltot;
                const size_t off = (size_t)(ok ? key : 0) * kvd;
                const uint32_t sk = (uint32_t)__cvta_generic_to_shared(dk + i * RS * STR);
                const uint32_t sv = (uint32_t)__cvta_generic_to_shared(dv + i * RS * STR);
                asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(sk), "l"(k + off), "r"(ok ? 16 : 0));
                asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(sv), "l"(v + off), "r"(ok ? 16 : 0));
            }
        }
        asm volatile("cp.async.commit_group;");
    }
};

template <int G>
__device__ __forceinline__ void fa_wait() { asm volatile("cp.async.wait_group %0;" ::"n"(G) : "memory"); }

/* S (16 x 64) = Q K^T for one warp, k-step outer so consecutive mma.sync write different
 * accumulators. Matrix i of an x4 load: keys 8 (2 np + i / 2).., dims 16 kk + 8 (i & 1)..
 * fa_tile_pipe writes this loop out again, interleaved with the softmax: one shared k-step
 * helper gave the kernel 242 registers instead of 236 and cost 1-2% (run 38). */
template <int D>
__device__ __forceinline__ void fa_qk(float (*s)[4], const uint32_t (*qf)[4], const bf16 *Ks, int lane) {
    constexpr int STR = D + 8;
#pragma unroll
    for (int nt = 0; nt < FA_BK / 8; nt++) s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.f;
    const bf16 *kb = Ks + (8 * (lane >> 4) + (lane & 7)) * STR + 8 * ((lane >> 3) & 1);
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++)
#pragma unroll
        for (int np = 0; np < FA_BK / 16; np++) {
            uint32_t b[4];
            fa_ldsm4<false>(b, kb + 16 * np * STR + 16 * kk);
            sp_mma_dense(s[2 * np], qf[kk][0], qf[kk][1], qf[kk][2], qf[kk][3], b[0], b[1]);
            sp_mma_dense(s[2 * np + 1], qf[kk][0], qf[kk][1], qf[kk][2], qf[kk][3], b[2], b[3]);
        }
}

/* Causal mask (MASKED: tiles that cross the diagonal) and the running max of one S tile (keys
 * k0..): m is the running max of the scaled scores, l the running sum (rescaled here); corr is
 * the factor O must be rescaled by, ms = -m for the exponent. */
template <bool MASKED>
__device__ __forceinline__ void fa_rowmax(float (*s)[4], float *m, float *l, float *corr, float *ms, int k0,
                                          const int *qpos, int t, float scale_log2) {
    float mx[2] = {-INFINITY, -INFINITY}; /* raw max of this tile (the scale is > 0) */
#pragma unroll
    for (int nt = 0; nt < FA_BK / 8; nt++)
#pragma unroll
        for (int i = 0; i < 4; i++) {
            if (MASKED && k0 + 8 * nt + 2 * t + (i & 1) > qpos[i >> 1]) s[nt][i] = -INFINITY;
            mx[i >> 1] = fmaxf(mx[i >> 1], s[nt][i]);
        }
#pragma unroll
    for (int row = 0; row < 2; row++) {
        mx[row] = fmaxf(mx[row], __shfl_xor_sync(0xffffffffu, mx[row], 1));
        mx[row] = fmaxf(mx[row], __shfl_xor_sync(0xffffffffu, mx[row], 2));
        /* key 0 is visible to every row, so after the first tile the max is finite */
        const float mn = fmaxf(m[row], mx[row] * scale_log2);
        corr[row] = fa_exp2(m[row] - mn); /* exp2(-inf) = 0 on the first tile */
        m[row] = mn, ms[row] = -mn;
        l[row] *= corr[row];
    }
}

/* probabilities of one 8-key column tile of S in place, summed into l (masked: exp2(-inf) = 0) */
__device__ __forceinline__ void fa_exp_tile(float *s, const float *ms, float *l, float scale_log2) {
#pragma unroll
    for (int i = 0; i < 4; i++) {
        s[i] = fa_exp2(fmaf(s[i], scale_log2, ms[i >> 1]));
        l[i >> 1] += s[i];
    }
}

/* O *= corr for MT 16-row tiles (tile i: o + (D/8) i, rows g and g + 8 by corr[2i], corr[2i + 1]) */
template <int D, int MT>
__device__ __forceinline__ void fa_rescale(float (*o)[4], const float *corr) {
    constexpr int ON = D / 8;
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int dt = 0; dt < D / 8; dt++) {
            o[mt * ON + dt][0] *= corr[2 * mt]; o[mt * ON + dt][1] *= corr[2 * mt];
            o[mt * ON + dt][2] *= corr[2 * mt + 1]; o[mt * ON + dt][3] *= corr[2 * mt + 1];
        }
}

/* P's A fragment for 16 keys of one 16-row tile, packed to bf16 from the probabilities of two
 * adjacent 8-key S tiles p[0], p[1] (their accumulator layout is the A fragment's) */
__device__ __forceinline__ void fa_pfrag(uint32_t *a, const float (*p)[4]) {
    a[0] = fa_pack(p[0][0], p[0][1]), a[1] = fa_pack(p[0][2], p[0][3]);
    a[2] = fa_pack(p[1][0], p[1][1]), a[3] = fa_pack(p[1][2], p[1][3]);
}

/* O = O * corr + P V for MT 16-row tiles of one warp (tile i: s + 8i, o + (D/8) i, corr + 2i), P
 * the probabilities in s (packed to bf16: the S accumulators of two adjacent 8-key tiles are
 * exactly the A fragment of P). Transposed ldmatrix: matrix j = keys 16kk + 8(j&1).., dims
 * 8dt + 8(j>>1).. gives b0, b1 of dim tile dt and of dt + 1, used by every row tile. */
template <int D, int MT>
__device__ __forceinline__ void fa_pv(float (*s)[4], float (*o)[4], const float *corr, const bf16 *Vs, int lane) {
    constexpr int STR = D + 8, SN = FA_BK / 8, ON = D / 8;
    fa_rescale<D, MT>(o, corr);
#pragma unroll
    for (int kk = 0; kk < FA_BK / 16; kk++) {
        uint32_t a[MT][4];
#pragma unroll
        for (int mt = 0; mt < MT; mt++) fa_pfrag(a[mt], s + mt * SN + 2 * kk);
        const bf16 *vr = Vs + (16 * kk + 8 * ((lane >> 3) & 1) + (lane & 7)) * STR + 8 * (lane >> 4);
#pragma unroll
        for (int dt = 0; dt < D / 8; dt += 2) {
            uint32_t b[4];
            fa_ldsm4<true>(b, vr + 8 * dt);
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                sp_mma_dense(o[mt * ON + dt], a[mt][0], a[mt][1], a[mt][2], a[mt][3], b[0], b[1]);
                sp_mma_dense(o[mt * ON + dt + 1], a[mt][0], a[mt][1], a[mt][2], a[mt][3], b[2], b[3]);
            }
        }
    }
}

/* One tile of the pipelined loop: the softmax of S (tile j, keys k0..) with S' = Q K'^T of
 * tile j + 1 woven through it in source order (each k-step of S' beside the exponentials of
 * one 8-key column of S), so every warp has tensor work to issue while its MUFU and shuffles
 * wait; then O += P V. Past the last tile K' is a stage no load writes and S' goes unused. */
template <int D, bool MASKED>
__device__ __forceinline__ void fa_tile_pipe(const uint32_t (*qf)[4], float (*o)[4], float *m, float *l,
                                             float (*s)[4], float (*sn)[4], const bf16 *Kn, const bf16 *Vs, int k0,
                                             const int *qpos, int t, int lane, float scale_log2) {
    constexpr int STR = D + 8;
    float corr[2], ms[2];
    fa_rowmax<MASKED>(s, m, l, corr, ms, k0, qpos, t, scale_log2);
#pragma unroll
    for (int nt = 0; nt < FA_BK / 8; nt++) sn[nt][0] = sn[nt][1] = sn[nt][2] = sn[nt][3] = 0.f;
    const bf16 *kb = Kn + (8 * (lane >> 4) + (lane & 7)) * STR + 8 * ((lane >> 3) & 1);
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++) {
#pragma unroll
        for (int np = 0; np < FA_BK / 16; np++) {
            uint32_t b[4];
            fa_ldsm4<false>(b, kb + 16 * np * STR + 16 * kk);
            sp_mma_dense(sn[2 * np], qf[kk][0], qf[kk][1], qf[kk][2], qf[kk][3], b[0], b[1]);
            sp_mma_dense(sn[2 * np + 1], qf[kk][0], qf[kk][1], qf[kk][2], qf[kk][3], b[2], b[3]);
        }
        /* the exponentials of S spread over the k-steps of S' (D / 16 steps, FA_BK / 8 columns) */
#pragma unroll
        for (int nt = kk * (FA_BK / 8) / (D / 16); nt < (kk + 1) * (FA_BK / 8) / (D / 16); nt++)
            fa_exp_tile(s[nt], ms, l, scale_log2);
    }
    fa_pv<D, 1>(s, o, corr, Vs, lane);
}

/* q (n rows lq apart, heads*D) at positions pos..pos+n-1, rotated here when cs is not NULL (RoPE
 * tables (positions, D/2) f32, as k_rope_kv reads them; the RoPE kernel then leaves q alone:
 * -2 x 16.8 MB of q traffic a layer at 2048 tokens of the 8B model); caches (.., kvd) rows
 * 0..pos+n-1 of this layer's sequence; out (n, heads*D). grid (ceil(n / FA_BQ), heads), 2 FA_BQ threads, fa_smem(D) bytes
 * of dynamic shared memory. Per tile j: one barrier (tile j + 1 landed; every warp is past
 * tile j - 1, whose stage then refills with tile j + 2), then the softmax of S_j with
 * S_{j+1} = Q K_{j+1}^T woven in, then O += P_j V_j. */
template <int D>
__global__ void __launch_bounds__(FA_BQ * 2, 2) k_flash_prefill(const bf16 *__restrict__ q, const bf16 *__restrict__ kc,
                                                                const bf16 *__restrict__ vc, bf16 *__restrict__ out, int n,
                                                                int lq, int pos, int heads, int group, int kvd,
                                                                const float *__restrict__ cs, const float *__restrict__ sn,
                                                                float scale_log2) {
    constexpr int STR = D + 8, T = FA_BK * STR; /* padded smem row (bf16): conflict-free ldmatrix */
    extern __shared__ __align__(16) bf16 ring[]; /* stage i: K tile, V tile */
    const int qb = gridDim.x - 1 - blockIdx.x; /* longest blocks first */
    const int h = blockIdx.y, hk = h / group, qd = heads * D;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    const int r0 = qb * FA_BQ + warp * 16 + g; /* this lane's two query rows: r0, r0 + 8 */
    const int Ltot = pos + n;

    uint32_t qf[D / 16][4]; /* Q fragments for all D / 16 k-steps (rows past n read as 0) */
    fa_load_q<D>(qf, q, lq, h, r0, n, pos, cs, sn, t);
    float o[D / 8][4];
#pragma unroll
    for (int i = 0; i < D / 8; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
    const int qpos[2] = {pos + r0, pos + r0 + 8};
    const int ntiles = (min(Ltot, pos + (qb + 1) * FA_BQ) + FA_BK - 1) / FA_BK; /* keys the last row sees */
    /* tiles 0..nfull-1 lie wholly at or below the block's first row; the rest cross the diagonal */
    const int nfull = min(ntiles, (pos + qb * FA_BQ + 1) / FA_BK);
    const fa_loader<D, FA_BQ * 2, FA_ST> ld(kc, vc, kvd, hk * D);

#pragma unroll
    for (int j = 0; j < FA_ST - 1; j++) ld.stage(ring, j, ntiles, Ltot);
    float sa[FA_BK / 8][4], sb[FA_BK / 8][4]; /* S of tiles j and j + 1, swapped by unrolling by 2 */
    fa_wait<FA_ST - 2>();
    __syncthreads();
    fa_qk<D>(sa, qf, ring, lane);
    int j = 0;
    auto step = [&](float (*s)[4], float (*sn)[4], bool masked) {
        fa_wait<FA_ST - 3>();
        __syncthreads();
        ld.stage(ring, j + FA_ST - 1, ntiles, Ltot);
        const bf16 *Ks = ring + (j % FA_ST) * 2 * T, *Kn = ring + ((j + 1) % FA_ST) * 2 * T;
        if (!masked) fa_tile_pipe<D, false>(qf, o, m, l, s, sn, Kn, Ks + T, j * FA_BK, qpos, t, lane, scale_log2);
        else fa_tile_pipe<D, true>(qf, o, m, l, s, sn, Kn, Ks + T, j * FA_BK, qpos, t, lane, scale_log2);
        j++;
    };
    while (j + 1 < nfull) { step(sa, sb, false); step(sb, sa, false); }
    if (j < nfull) {
        step(sa, sb, false);
#pragma unroll
        for (int nt = 0; nt < FA_BK / 8; nt++)
#pragma unroll
            for (int i = 0; i < 4; i++) sa[nt][i] = sb[nt][i];
    }
    while (j + 1 < ntiles) { step(sa, sb, true); step(sb, sa, true); }
    if (j < ntiles) step(sa, sb, true);
    fa_wait<0>(); /* the empty groups past the end */
    fa_store<D, 1>(o, l, out, r0, n, qd, h, t);
}

/* The wide variant (FA2's shape): FB_BQ = 128 query rows a block, 32 a warp as two 16-row tiles
 * that share every K and V fragment a warp loads. The 16-row kernel loads 32 KB of fragments
 * from shared memory a warp per 64-key tile for 128 mma.sync (16 FLOP a byte, exactly the
 * 128 B/clk an SM reads at the mma.sync rate) and ran at ~180 TFLOP/s at 2048 tokens (8B,
 * run 49: 6.15 ms a forward); here a warp loads 16 KB of K and V and 8 KB of Q for 256 mma. Q
 * lives in shared memory (rotated once as it is staged): with 128 O and 64 S accumulators a
 * lane, Q fragments in registers would not fit, nor S of the next tile (no pipelining as in
 * v8: the two row tiles and the second warp of each scheduler fill the softmax's waits). Two
 * ring stages (102 KB with Q, two blocks an SM): tile j + 1 loads while tile j is computed. */
#define FB_BQ 128
#define FB_ST 2

template <int D>
__global__ void __launch_bounds__(128, 2) k_flash_prefill_wide(const bf16 *__restrict__ q, const bf16 *__restrict__ kc,
                                                              const bf16 *__restrict__ vc, bf16 *__restrict__ out,
                                                              int n, int lq, int pos, int heads, int group, int kvd,
                                                              const float *__restrict__ cs,
                                                              const float *__restrict__ sn, float scale_log2) {
    constexpr int STR = D + 8, T = FA_BK * STR, SN = FA_BK / 8, ON = D / 8;
    extern __shared__ __align__(16) bf16 fsm[];
    bf16 *Qs = fsm, *ring = fsm + FB_BQ * STR; /* Q (FB_BQ rows), then stage i: K tile, V tile */
    const int qb = gridDim.x - 1 - blockIdx.x; /* longest blocks first */
    const int h = blockIdx.y, hk = h / group, qd = heads * D;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    const int w0 = qb * FB_BQ + warp * 32; /* the warp's first query row; lane rows w0 + 16 mt + g (+ 8) */
    const int Ltot = pos + n;
    const fa_loader<D, 128, FB_ST> ld(kc, vc, kvd, hk * D);
    const int ntiles = (min(Ltot, pos + (qb + 1) * FB_BQ) + FA_BK - 1) / FA_BK;
    ld.stage(ring, 0, ntiles, Ltot);

    /* Q into shared memory, 16-byte chunks c and c + D/2 together (the rotate-half pairs) */
    for (int i = threadIdx.x; i < FB_BQ * (D / 16); i += 128) {
        const int r = i / (D / 16), c = (i % (D / 16)) * 8, row = qb * FB_BQ + r;
        uint4 a = make_uint4(0, 0, 0, 0), b = a;
        if (row < n) {
            const bf16 *src = q + (size_t)row * lq + h * D + c;
            a = *reinterpret_cast<const uint4 *>(src), b = *reinterpret_cast<const uint4 *>(src + D / 2);
            if (cs) {
                const size_t at = (size_t)(pos + row) * (D / 2) + c;
                uint32_t *pa = &a.x, *pb = &b.x;
#pragma unroll
                for (int e = 0; e < 4; e++)
                    fa_rope(pa + e, pb + e, *reinterpret_cast<const float2 *>(cs + at + 2 * e),
                            *reinterpret_cast<const float2 *>(sn + at + 2 * e));
            }
        }
        *reinterpret_cast<uint4 *>(Qs + r * STR + c) = a;
        *reinterpret_cast<uint4 *>(Qs + r * STR + c + D / 2) = b;
    }

    float o[2 * ON][4];
#pragma unroll
    for (int i = 0; i < 2 * ON; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
    float m[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY}, l[4] = {0.f, 0.f, 0.f, 0.f};
    const int qpos[4] = {pos + w0 + g, pos + w0 + g + 8, pos + w0 + 16 + g, pos + w0 + 24 + g};
    /* this warp's tiles: none past its last row's keys; unmasked below its first row */
    const int wtiles = min(ntiles, (min(Ltot, pos + w0 + 32) + FA_BK - 1) / FA_BK);
    const int wfull = min(wtiles, (pos + w0 + 1) / FA_BK);
    /* ldmatrix row addresses: Q A fragments (matrix i: rows 8 (i & 1).., dims 8 (i >> 1)..), K as in fa_qk */
    const bf16 *qa = Qs + (warp * 32 + 8 * ((lane >> 3) & 1) + (lane & 7)) * STR + 8 * (lane >> 4);
    const int koff = (8 * (lane >> 4) + (lane & 7)) * STR + 8 * ((lane >> 3) & 1);

    for (int j = 0; j < ntiles; j++) {
        fa_wait<0>();
        __syncthreads(); /* tile j (and Q) landed for all; every warp is past tile j - 1, whose stage refills */
        ld.stage(ring, j + 1, ntiles, Ltot);
        if (j >= wtiles) continue; /* warp-uniform: no visible key for any of its rows */
        const bf16 *Ks = ring + (j % FB_ST) * 2 * T, *kb = Ks + koff;
        float s[2 * SN][4];
#pragma unroll
        for (int i = 0; i < 2 * SN; i++) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.f;
#pragma unroll
        for (int kk = 0; kk < D / 16; kk++) {
            uint32_t a0[4], a1[4];
            fa_ldsm4<false>(a0, qa + 16 * kk);
            fa_ldsm4<false>(a1, qa + 16 * STR + 16 * kk);
#pragma unroll
            for (int np = 0; np < FA_BK / 16; np++) {
                uint32_t b[4];
                fa_ldsm4<false>(b, kb + 16 * np * STR + 16 * kk);
                sp_mma_dense(s[2 * np], a0[0], a0[1], a0[2], a0[3], b[0], b[1]);
                sp_mma_dense(s[2 * np + 1], a0[0], a0[1], a0[2], a0[3], b[2], b[3]);
                sp_mma_dense(s[SN + 2 * np], a1[0], a1[1], a1[2], a1[3], b[0], b[1]);
                sp_mma_dense(s[SN + 2 * np + 1], a1[0], a1[1], a1[2], a1[3], b[2], b[3]);
            }
        }
        float corr[4], ms[4];
#pragma unroll
        for (int mt = 0; mt < 2; mt++) {
            if (j < wfull) fa_rowmax<false>(s + mt * SN, m + 2 * mt, l + 2 * mt, corr + 2 * mt, ms + 2 * mt, j * FA_BK,
                                            qpos + 2 * mt, t, scale_log2);
            else fa_rowmax<true>(s + mt * SN, m + 2 * mt, l + 2 * mt, corr + 2 * mt, ms + 2 * mt, j * FA_BK, qpos + 2 * mt,
                                 t, scale_log2);
#pragma unroll
            for (int nt = 0; nt < SN; nt++) fa_exp_tile(s[mt * SN + nt], ms + 2 * mt, l + 2 * mt, scale_log2);
        }
        fa_pv<D, 2>(s, o, corr, Ks + T, lane);
    }
    fa_wait<0>(); /* the empty group past the end */
    fa_store<D, 2>(o, l, out, w0 + g, n, qd, h, t);
}

/* The wgmma kernel (sm_90a, head dims 64 and 128): a block is one warpgroup of FW_BQ = 64 query rows
 * (16 a warp, as the 16-row kernel), and both products run on Hopper's warpgroup instruction
 * instead of mma.sync: S = Q K^T as 8 m64n64k16 with Q's A fragments in registers (fa_load_q,
 * the 16-row kernel's layout is wgmma's) and K read by the tensor cores from shared memory; O +=
 * P V as 4 m64nDk16 with P in registers (the S accumulators, packed to bf16, are the A
 * fragment, as in fa_pv) and V read as an MN-major operand (imm-trans-b): no ldmatrix at all.
 * Why: ncu at 2048 tokens (run 54) had both mma.sync kernels latency-bound with the tensor pipe
 * at 40-45% of its active cycles, ~200 TFLOP/s; mma.sync on Hopper tops out near half of
 * wgmma's rate. Shared memory (128-byte swizzled rows, 1024-aligned): FW_ST stages of K and V,
 * each as D / 64 boxes of 64 dims (64 keys x 128 bytes), copied by cp.async; at head dim 128
 * 65 KB and 162 registers, so three blocks an SM (head dim 64: half the ring, four). Per tile:
 * wait, proxy fence, barrier, the next tile's copy, S (committed, waited), the softmax
 * (fa_rowmax, fa_exp_tile), O rescaled, P V (committed, waited, so the stage is free at the
 * next barrier).
 * Measured (H200 runs 56-57, 8B heads): 2048 tokens 112 us (307 TFLOP/s, 1.52x the 16-row
 * kernel), 8192 1183 us (465 TFLOP/s, 1.65x); run 60, SmolLM2's nine 64-dim heads: 1.07x at 512
 * tokens, 1.15x at 2048 (about two blocks an SM). Tried: Q in shared memory as a descriptor operand
 * (two blocks an SM) 5-9% slower; FA3's intra-warpgroup overlap (S j + 1 and P V j in flight
 * over the softmax, P double-buffered, 150 registers) 2-5% slower than this plain loop with two
 * blocks an SM: the other blocks already fill the waits. */
#define FW_BQ 64
#define FW_ST 2

template <int D>
__global__ void __launch_bounds__(128, D == 64 ? 4 : 3) k_flash_prefill_wg(const bf16 *__restrict__ q, const bf16 *__restrict__ kc,
                                                            const bf16 *__restrict__ vc, bf16 *__restrict__ out, int n,
                                                            int lq, int pos, int heads, int group, int kvd,
                                                            const float *__restrict__ cs, const float *__restrict__ sn,
                                                            float scale_log2) {
#ifdef WG_SM90A
    static_assert(D == 64 || D == 128, "the wgmma attention is built for head dims 64 and 128");
    constexpr int BOX = 64 * 128, TILE = D / 64 * BOX; /* 64 rows x 64 dims; 64 rows x D dims */
    constexpr int CPR = D / 8, RS = 128 / CPR;          /* 16-byte chunks a row; rows a copy pass */
    extern __shared__ uint4 fwsm[];
    const uint32_t ring = ((uint32_t)__cvta_generic_to_shared(fwsm) + 1023) & ~1023u; /* stage i: K, then V */
    const int qb = gridDim.x - 1 - blockIdx.x; /* longest blocks first */
    const int h = blockIdx.y, hk = h / group, qd = heads * D;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    const int r0 = qb * FW_BQ + warp * 16 + g; /* this lane's query rows r0, r0 + 8 */
    const int Ltot = pos + n;
    const int ntiles = (min(Ltot, pos + (qb + 1) * FW_BQ) + FA_BK - 1) / FA_BK;
    const int nfull = min(ntiles, (pos + qb * FW_BQ + 1) / FA_BK);

    /* K/V copies: thread = 16-byte chunk lc of rows lr + RS i, so its swizzled offset is fixed */
    const int lc = threadIdx.x % CPR, lr = threadIdx.x / CPR;
    const uint32_t loff = (lc >> 3) * BOX + lr * 128 + (((lc & 7) ^ (lr & 7)) << 4);
    const bf16 *kp = kc + hk * D + lc * 8, *vp = vc + hk * D + lc * 8;
    auto stage = [&](int j) { /* K and V of tile j (if any) into stage j % FW_ST, then one commit */
        if (j < ntiles) {
            const uint32_t dk = ring + (j % FW_ST) * 2 * TILE + loff;
#pragma unroll
            for (int i = 0; i < FA_BK / RS; i++) {
                const int key = j * FA_BK + lr + RS * i, ok = key < Ltot;
                const size_t off = (size_t)(ok ? key : 0) * kvd;
                asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dk + i * RS * 128), "l"(kp + off),
                             "r"(ok ? 16 : 0));
                asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dk + TILE + i * RS * 128), "l"(vp + off),
                             "r"(ok ? 16 : 0));
            }
        }
        asm volatile("cp.async.commit_group;");
    };
    stage(0);
    uint32_t qf[D / 16][4];
    fa_load_q<D>(qf, q, lq, h, r0, n, pos, cs, sn, t);

    float o[D / 8][4];
#pragma unroll
    for (int i = 0; i < D / 8; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
    const int qpos[2] = {pos + r0, pos + r0 + 8};
    for (int j = 0; j < ntiles; j++) {
        asm volatile("cp.async.wait_group 0;" ::: "memory");
        asm volatile("fence.proxy.async.shared::cta;" ::: "memory"); /* this thread's copies, then the wgmma reads */
        __syncthreads(); /* tile j in for all; every wgmma of tile j - 1 done, so its stage refills */
        stage(j + 1);
        const uint32_t kt = ring + (j % FW_ST) * 2 * TILE, vt = kt + TILE;
        float s[FA_BK / 8][4];
#pragma unroll
        for (int i = 0; i < FA_BK / 8; i++) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.f;
        wg_fence_acc<32>(&s[0][0]);
        asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
#pragma unroll
        for (int kk = 0; kk < D / 16; kk++) { /* k16 step kk: box kk / 4, 32 bytes in (the swizzle is on the address) */
            const uint32_t ko = (kk >> 2) * BOX + (kk & 3) * 32;
            wg_mma_rs<FA_BK, 0>(&s[0][0], qf[kk], wg_desc(kt + ko));
        }
        asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
        asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
        wg_fence_acc<32>(&s[0][0]);
        float corr[2], ms[2];
        if (j < nfull) fa_rowmax<false>(s, m, l, corr, ms, j * FA_BK, qpos, t, scale_log2);
        else fa_rowmax<true>(s, m, l, corr, ms, j * FA_BK, qpos, t, scale_log2);
#pragma unroll
        for (int nt = 0; nt < FA_BK / 8; nt++) fa_exp_tile(s[nt], ms, l, scale_log2);
        uint32_t pa[FA_BK / 16][4];
#pragma unroll
        for (int kk = 0; kk < FA_BK / 16; kk++) fa_pfrag(pa[kk], s + 2 * kk);
        fa_rescale<D, 1>(o, corr);
        wg_fence_acc<D / 2>(&o[0][0]);
        asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
#pragma unroll
        for (int kk = 0; kk < FA_BK / 16; kk++) /* keys 16 kk..: 16 rows of 128 bytes a box, boxes BOX apart */
            wg_mma_rs<D, 1>(&o[0][0], pa[kk], wg_desc_mn(vt + kk * 2048, BOX));
        asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
        asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
        wg_fence_acc<D / 2>(&o[0][0]);
    }
    asm volatile("cp.async.wait_group 0;" ::: "memory"); /* the empty group past the end */
    fa_store<D, 1>(o, l, out, r0, n, qd, h, t);
#endif
}

/* shared memory for head dim D: the 16-row kernel's ring; the wide kernel's Q and ring; the wgmma
 * kernel's ring (bf16, unpadded) and 1 KB to align it */
static inline size_t fa_smem(int D) { return (size_t)2 * FA_ST * FA_BK * (D + 8) * sizeof(bf16); }
static inline size_t fb_smem(int D) { return (size_t)(FB_BQ + 2 * FB_ST * FA_BK) * (D + 8) * sizeof(bf16); }
static inline size_t fw_smem(int D) { return 1024 + (size_t)2 * FW_ST * FA_BK * D * sizeof(bf16); }

static int fa_rows_set = -1; /* 16, 32, 64, 0 automatic; -1: SP_FA_ROWS not yet read */

static int fa_rows_valid(int r) { return r == 16 || r == 32 || r == 64 ? r : 0; }

static int fa_rows_forced(void) {
    if (fa_rows_set < 0) {
        const char *e = getenv("SP_FA_ROWS");
        fa_rows_set = fa_rows_valid(e ? atoi(e) : 0);
    }
    return fa_rows_set;
}

int sp_flash_set_rows(int rows) {
    const int prev = fa_rows_forced();
    fa_rows_set = fa_rows_valid(rows);
    return prev;
}

/* 1 when this build has the wgmma kernel's sm_90a code and device 0 is a Hopper */
static int fw_usable(void) {
    static int ok = -1;
    if (ok < 0) {
        int major = 0;
        cudaFuncAttributes fa;
        ok = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0) == cudaSuccess && major == 9 &&
             cudaFuncGetAttributes(&fa, k_flash_prefill_wg<128>) == cudaSuccess && fa.binaryVersion == 90;
        (void)cudaGetLastError();
    }
    return ok;
}

const char *sp_flash_kernel_name(int rows) {
    return rows == 64 ? "wgmma" : rows == 32 ? "mma.sync 32 rows a warp" : "mma.sync 16 rows a warp";
}

/* Which kernel n rows of the heads take: 64 (the wgmma kernel) for head dims 64 and 128 on
 * sm_90a, at every length (H200 run 57, 8B heads 32/8: 1.28x the 16-row kernel at 512 tokens, 1.52x at
 * 2048, 1.61x at 4096, 1.65x at 8192); else (other head dims, Ampere) 32 (the wide kernel) where
 * its 128-row blocks make at least three waves of two blocks an SM, else 16. SP_FA_ROWS=16|32|64
 * or sp_flash_set_rows forces one. Runs 53-54 (mma.sync only): the wide kernel 0.96-0.97x the
 * 16-row one at 512 tokens (0.5 waves), 0.97-0.98x at 2048 (1.9), 1.04x at 4096 (3.9 waves),
 * 1.11x at 8192; dim 64 with 9 heads 0.6x (under a wave). */
extern "C" int sp_cuda_flash_rows(int n, int heads, int head_dim) {
    if (fa_rows_forced()) return fa_rows_set;
    if ((head_dim == 64 || head_dim == 128) && fw_usable()) return 64;
    static int sms;
    if (!sms && cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0) != cudaSuccess) sms = 1;
    return (long)(n + FB_BQ - 1) / FB_BQ * heads >= 6L * sms ? 32 : 16;
}

template <int D>
static int fa_run(const bf16 *q, int lq, const bf16 *kc, const bf16 *vc, bf16 *out, int n, int pos, int heads, int group,
                  int kvd, const float *cs, const float *sn, float sl2, cudaStream_t st) {
    const int rows = sp_cuda_flash_rows(n, heads, D);
    if (rows == 64) {
        if constexpr (D != 64 && D != 128)
            return sp_error(SP_ERR_UNSUPPORTED, "flash prefill: the wgmma kernel is built for head dims 64 and 128, not %d", D);
        else {
            if (!fw_usable()) return sp_error(SP_ERR_UNSUPPORTED, "flash prefill: the wgmma kernel needs an sm_90 device and an sm_90a build");
            static size_t allowed;
            SP_CHK(sp_allow_smem(k_flash_prefill_wg<D>, fw_smem(D), &allowed));
            k_flash_prefill_wg<D><<<dim3((n + FW_BQ - 1) / FW_BQ, heads), 128, fw_smem(D), st>>>(q, kc, vc, out, n, lq, pos,
                                                                                             heads, group, kvd, cs, sn, sl2);
            return 0;
        }
    }
    if (rows == 32) {
        static size_t allowed;
        SP_CHK(sp_allow_smem(k_flash_prefill_wide<D>, fb_smem(D), &allowed));
        k_flash_prefill_wide<D><<<dim3((n + FB_BQ - 1) / FB_BQ, heads), 128, fb_smem(D), st>>>(
            q, kc, vc, out, n, lq, pos, heads, group, kvd, cs, sn, sl2);
        return 0;
    }
    static size_t allowed;
    SP_CHK(sp_allow_smem(k_flash_prefill<D>, fa_smem(D), &allowed));
    k_flash_prefill<D><<<dim3((n + FA_BQ - 1) / FA_BQ, heads), FA_BQ * 2, fa_smem(D), st>>>(q, kc, vc, out, n, lq, pos,
                                                                                          heads, group, kvd, cs, sn, sl2);
    return 0;
}

int sp_flash_prefill(const bf16 *q, int lq, const bf16 *kc, const bf16 *vc, bf16 *out, int n, int pos, int heads,
                     int group, int D, int kvd, const float *cs, const float *sn, float scale, cudaStream_t st) {
    const float sl2 = scale * 1.4426950408889634f;
    switch (D) {
    case 32: SP_CHK(fa_run<32>(q, lq, kc, vc, out, n, pos, heads, group, kvd, cs, sn, sl2, st)); break;
    case 64: SP_CHK(fa_run<64>(q, lq, kc, vc, out, n, pos, heads, group, kvd, cs, sn, sl2, st)); break;
    case 128: SP_CHK(fa_run<128>(q, lq, kc, vc, out, n, pos, heads, group, kvd, cs, sn, sl2, st)); break;
    default: return sp_error(SP_ERR_UNSUPPORTED, "flash prefill: head dim %d not built (32, 64, 128)", D);
    }
    SP_CU(cudaGetLastError());
    return 0;
}

/* ------------------------------------------------------------------ reference */

/* one warp a (query row, head): scores, online softmax and P V in f32 over D / 32 dims a lane;
 * q rotated here in f32 (rotate-half, tables (positions, D/2)) when cs is not NULL */
__global__ void k_attn_ref(const bf16 *q, const bf16 *kc, const bf16 *vc, float *out, int n, int pos, int heads,
                           int group, int D, int kvd, const float *cs, const float *sn, float scale) {
    const int w = (int)((blockIdx.x * (size_t)blockDim.x + threadIdx.x) >> 5), lane = threadIdx.x & 31;
    if (w >= n * heads) return;
    const int r = w / heads, h = w % heads, hk = h / group, per = D / 32, half = D / 2;
    const bf16 *qr = q + (size_t)r * heads * D + h * D;
    float qv[4], acc[4] = {0.f, 0.f, 0.f, 0.f}, m = -INFINITY, l = 0.f;
    for (int i = 0; i < per; i++) {
        const int c = lane + 32 * i;
        qv[i] = __bfloat162float(qr[c]);
        if (cs) {
            const int f = c % half;
            const float cv = cs[(size_t)(pos + r) * half + f], sv = sn[(size_t)(pos + r) * half + f];
            const float other = __bfloat162float(qr[c < half ? c + half : c - half]);
            qv[i] = c < half ? qv[i] * cv - other * sv : qv[i] * cv + other * sv;
        }
    }
    for (int key = 0; key <= pos + r; key++) {
        const bf16 *kr = kc + (size_t)key * kvd + hk * D, *vr = vc + (size_t)key * kvd + hk * D;
        float d = 0.f;
        for (int i = 0; i < per; i++) d += qv[i] * __bfloat162float(kr[lane + 32 * i]);
        for (int o = 16; o; o >>= 1) d += __shfl_xor_sync(0xffffffffu, d, o);
        float sc = d * scale, mn = fmaxf(m, sc), c = expf(m - mn), p = expf(sc - mn);
        l = l * c + p;
        for (int i = 0; i < per; i++) acc[i] = acc[i] * c + p * __bfloat162float(vr[lane + 32 * i]);
        m = mn;
    }
    for (int i = 0; i < per; i++) out[(size_t)r * heads * D + h * D + lane + 32 * i] = acc[i] / l;
}

int sp_attn_reference(const bf16 *q, const bf16 *kc, const bf16 *vc, float *out, int n, int pos, int heads, int group,
                      int D, int kvd, const float *cs, const float *sn, float scale, cudaStream_t st) {
    if (D % 32 || D > 128) return sp_error(SP_ERR_UNSUPPORTED, "attention reference: head dim %d (32, 64, 96, 128)", D);
    const size_t threads = (size_t)n * heads * 32;
    k_attn_ref<<<(unsigned)((threads + 255) / 256), 256, 0, st>>>(q, kc, vc, out, n, pos, heads, group, D, kvd, cs, sn,
                                                                  scale);
    SP_CU(cudaGetLastError());
    return 0;
}
