/* flash_attn.cu: fused causal attention for prefill (one pass, FlashAttention-2 style):
 * a block takes 64 query rows of one head (16 per warp), streams the visible keys in tiles of
 * 64 through shared memory, and keeps S = Q K^T, the running softmax and O = P V in registers
 * (mma.sync m16n8k16 bf16, f32 accumulate). No score matrix goes to memory, and only the
 * causal half of the tiles is read; the cuBLAS path in model.cu wrote and read f32 scores
 * (~0.85 ms a layer of the 8B model at 2048 tokens, run 4). K and V tiles arrive by cp.async
 * into a two-stage ring: tile j+1 loads while tile j is used (synchronous loads left the load
 * latency exposed, run 7; loading V during S = QK^T and K during PV hid only half a tile, run
 * 24). Only the tiles that cross the diagonal are masked.
 *
 * Fragments (PTX m16n8k16, g = lane / 4, t = lane % 4): A regs hold (row g | g+8, cols 2t,2t+1
 * | +8); B regs (rows k = 2t,2t+1 | +8, col g); C (row g | g+8, cols 2t, 2t+1). The S
 * accumulators of two adjacent 8-key tiles are exactly the A fragment of P for the PV product. */
#include "common.cuh"

typedef __nv_bfloat16 bf16;

/* compile-time knobs (for experiments: -DFA_BQ=128 ...) */
#ifndef FA_BQ
#define FA_BQ 128  /* query rows per block: 16 a warp (128: TTFT 8192 -4% against 64, run 26) */
#endif
#ifndef FA_BK
#define FA_BK 64   /* keys per tile */
#endif
#ifndef FA_MINB
#define FA_MINB 1  /* blocks a SM the registers are budgeted for (214 registers, no spill) */
#endif
#define FA_THREADS (FA_BQ * 2)

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

/* One 64-key tile of the cache (rows past Ltot zero-filled, never NaN) into padded shared
 * rows by cp.async, then commits the group. */
template <int D>
__device__ __forceinline__ void fa_load_tile(bf16 *dst, const bf16 *cache, int k0, int Ltot, int kvd, int col0, bool commit) {
    constexpr int STR = D + 8;
    for (int i = threadIdx.x; i < FA_BK * D / 8; i += blockDim.x) { /* 16-byte chunks */
        int kr = i / (D / 8), c = (i % (D / 8)) * 8, key = k0 + kr;
        const bf16 *src = cache + (size_t)(key < Ltot ? key : 0) * kvd + col0 + c;
        uint32_t d = (uint32_t)__cvta_generic_to_shared(dst + kr * STR + c);
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(d), "l"(src), "r"(key < Ltot ? 16 : 0));
    }
    if (commit) asm volatile("cp.async.commit_group;");
}

/* K and V of tile j into ring stage j & 1: one cp.async group */
template <int D>
__device__ __forceinline__ void fa_load_kv(bf16 *ring, const bf16 *kc, const bf16 *vc, int j, int Ltot, int kvd, int col0) {
    constexpr int T = FA_BK * (D + 8); /* one K or V tile */
    bf16 *st = ring + (j & 1) * 2 * T;
    fa_load_tile<D>(st, kc, j * FA_BK, Ltot, kvd, col0, false);
    fa_load_tile<D>(st + T, vc, j * FA_BK, Ltot, kvd, col0, true);
}

/* the ring's shared memory for head dim D */
static inline size_t fa_smem(int D) { return (size_t)4 * FA_BK * (D + 8) * sizeof(bf16); }

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

/* q (n, heads*D) at positions pos..pos+n-1; caches (.., kvd) rows 0..pos+n-1 of this layer's
 * sequence; out (n, heads*D). grid (ceil(n / FA_BQ), heads), FA_THREADS threads, fa_smem(D) bytes of
 * dynamic shared memory. */
template <int D>
__global__ void __launch_bounds__(FA_THREADS, FA_MINB) k_flash_prefill(const bf16 *__restrict__ q, const bf16 *__restrict__ kc,
                                                       const bf16 *__restrict__ vc, bf16 *__restrict__ out, int n,
                                                       int pos, int heads, int group, int kvd, float scale_log2) {
    constexpr int STR = D + 8; /* padded smem row (bf16): conflict-free 32-bit B loads */
    extern __shared__ __align__(16) bf16 ring[]; /* stage j: K tile, V tile */
    const int qb = gridDim.x - 1 - blockIdx.x; /* longest blocks first */
    const int h = blockIdx.y, hk = h / group, qd = heads * D;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    const int r0 = qb * FA_BQ + warp * 16 + g; /* this lane's two query rows: r0, r0 + 8 */
    const int Ltot = pos + n;

    /* Q fragments for all D / 16 k-steps (rows past n read as 0) */
    uint32_t qf[D / 16][4];
    for (int kk = 0; kk < D / 16; kk++)
        for (int i = 0; i < 4; i++) {
            int r = r0 + (i & 1) * 8, c = 16 * kk + 2 * t + (i >> 1) * 8;
            qf[kk][i] = r < n ? *reinterpret_cast<const uint32_t *>(q + (size_t)r * qd + h * D + c) : 0u;
        }
    float o[D / 8][4];
    for (int i = 0; i < D / 8; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
    const int qpos[2] = {pos + r0, pos + r0 + 8};

    const int kend = min(Ltot, pos + (qb + 1) * FA_BQ); /* keys the block's last row can see */
    const int ntiles = (kend + FA_BK - 1) / FA_BK;
    const int first_masked = pos + qb * FA_BQ; /* tiles starting past the block's first row's key cross the diagonal */
    fa_load_kv<D>(ring, kc, vc, 0, Ltot, kvd, hk * D);
    for (int j = 0; j < ntiles; j++) {
        const int k0 = j * FA_BK;
        if (j + 1 < ntiles) { /* the next tile loads while this one is used */
            fa_load_kv<D>(ring, kc, vc, j + 1, Ltot, kvd, hk * D);
            asm volatile("cp.async.wait_group 1;" ::: "memory");
        } else {
            asm volatile("cp.async.wait_group 0;" ::: "memory");
        }
        __syncthreads();
        const bf16 *Ks = ring + (j & 1) * 2 * FA_BK * STR, *Vs = Ks + FA_BK * STR;
        /* S (16 x 64) = Q K^T */
        float s[FA_BK / 8][4];
        /* B fragments by ldmatrix: matrix j of lane group j = keys 8nt.., dims 16kk + 8j.. */
        for (int nt = 0; nt < FA_BK / 8; nt++) {
            s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.f;
            const bf16 *kr = Ks + (8 * nt + (lane & 7)) * STR + 8 * (lane >> 3);
            for (int kk = 0; kk < D / 16; kk += 2) {
                uint32_t b[4];
                fa_ldsm4<false>(b, kr + 16 * kk);
                sp_mma_dense(s[nt], qf[kk][0], qf[kk][1], qf[kk][2], qf[kk][3], b[0], b[1]);
                sp_mma_dense(s[nt], qf[kk + 1][0], qf[kk + 1][1], qf[kk + 1][2], qf[kk + 1][3], b[2], b[3]);
            }
        }
        /* causal mask (tiles that reach past the block's first row), scale (log2 domain),
         * running max and sum per row */
        float mx[2] = {m[0], m[1]};
        if (k0 + FA_BK - 1 > first_masked) {
            for (int nt = 0; nt < FA_BK / 8; nt++)
                for (int i = 0; i < 4; i++) {
                    int key = k0 + 8 * nt + 2 * t + (i & 1), row = i >> 1;
                    float v = key <= qpos[row] ? s[nt][i] * scale_log2 : -INFINITY;
                    s[nt][i] = v;
                    mx[row] = fmaxf(mx[row], v);
                }
        } else {
            for (int nt = 0; nt < FA_BK / 8; nt++)
                for (int i = 0; i < 4; i++) {
                    s[nt][i] *= scale_log2;
                    mx[i >> 1] = fmaxf(mx[i >> 1], s[nt][i]);
                }
        }
        float corr[2];
        for (int row = 0; row < 2; row++) {
            mx[row] = fmaxf(mx[row], __shfl_xor_sync(0xffffffffu, mx[row], 1));
            mx[row] = fmaxf(mx[row], __shfl_xor_sync(0xffffffffu, mx[row], 2));
            corr[row] = m[row] == -INFINITY ? 0.f : fa_exp2(m[row] - mx[row]);
            m[row] = mx[row];
            l[row] *= corr[row];
        }
        for (int dt = 0; dt < D / 8; dt++) {
            o[dt][0] *= corr[0]; o[dt][1] *= corr[0];
            o[dt][2] *= corr[1]; o[dt][3] *= corr[1];
        }
        for (int nt = 0; nt < FA_BK / 8; nt++)
            for (int i = 0; i < 4; i++) {
                float p = fa_exp2(s[nt][i] - m[i >> 1]); /* masked: exp2(-inf) = 0 */
                s[nt][i] = p;
                l[i >> 1] += p;
            }
        /* O (16 x D) += P (16 x 64) V (64 x D) */
        for (int kk = 0; kk < FA_BK / 16; kk++) {
            uint32_t a0 = fa_pack(s[2 * kk][0], s[2 * kk][1]), a1 = fa_pack(s[2 * kk][2], s[2 * kk][3]);
            uint32_t a2 = fa_pack(s[2 * kk + 1][0], s[2 * kk + 1][1]), a3 = fa_pack(s[2 * kk + 1][2], s[2 * kk + 1][3]);
            /* transposed ldmatrix: matrix j = keys 16kk + 8(j&1).., dims 8dt + 8(j>>1).. gives
             * b0, b1 of dim tile dt and b0, b1 of dt + 1 */
            const bf16 *vr = Vs + (16 * kk + 8 * ((lane >> 3) & 1) + (lane & 7)) * STR + 8 * (lane >> 4);
            for (int dt = 0; dt < D / 8; dt += 2) {
                uint32_t b[4];
                fa_ldsm4<true>(b, vr + 8 * dt);
                sp_mma_dense(o[dt], a0, a1, a2, a3, b[0], b[1]);
                sp_mma_dense(o[dt + 1], a0, a1, a2, a3, b[2], b[3]);
            }
        }
        __syncthreads(); /* every warp is done with this stage before tile j + 2 loads into it */
    }
    /* row sums across the quad, normalise, store */
    for (int row = 0; row < 2; row++) {
        l[row] += __shfl_xor_sync(0xffffffffu, l[row], 1);
        l[row] += __shfl_xor_sync(0xffffffffu, l[row], 2);
    }
    for (int row = 0; row < 2; row++) {
        int r = r0 + row * 8;
        if (r >= n) continue;
        float inv = 1.f / l[row];
        bf16 *dst = out + (size_t)r * qd + h * D + 2 * t;
        for (int dt = 0; dt < D / 8; dt++)
            *reinterpret_cast<uint32_t *>(dst + 8 * dt) = fa_pack(o[dt][2 * row] * inv, o[dt][2 * row + 1] * inv);
    }
}

int sp_flash_prefill(const bf16 *q, const bf16 *kc, const bf16 *vc, bf16 *out, int n, int pos, int heads, int group,
                     int D, int kvd, float scale, cudaStream_t st) {
    dim3 grid((n + FA_BQ - 1) / FA_BQ, heads);
    const float sl2 = scale * 1.4426950408889634f;
    static size_t allowed[3];
    switch (D) {
    case 32:
        SP_CHK(sp_allow_smem(k_flash_prefill<32>, fa_smem(32), &allowed[0]));
        k_flash_prefill<32><<<grid, FA_THREADS, fa_smem(32), st>>>(q, kc, vc, out, n, pos, heads, group, kvd, sl2);
        break;
    case 64:
        SP_CHK(sp_allow_smem(k_flash_prefill<64>, fa_smem(64), &allowed[1]));
        k_flash_prefill<64><<<grid, FA_THREADS, fa_smem(64), st>>>(q, kc, vc, out, n, pos, heads, group, kvd, sl2);
        break;
    case 128:
        SP_CHK(sp_allow_smem(k_flash_prefill<128>, fa_smem(128), &allowed[2]));
        k_flash_prefill<128><<<grid, FA_THREADS, fa_smem(128), st>>>(q, kc, vc, out, n, pos, heads, group, kvd, sl2);
        break;
    default: return sp_error(SP_ERR_UNSUPPORTED, "flash prefill: head dim %d not built (32, 64, 128)", D);
    }
    SP_CU(cudaGetLastError());
    return 0;
}
