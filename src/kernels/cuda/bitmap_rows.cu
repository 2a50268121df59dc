/* bitmap_rows.cu: unstructured sparse decode, y (n, out) = x (n, in) W^T for 1-4 tokens
 * per launch, on CUDA cores: the work is per nonzero, not per element, so it shrinks with
 * sparsity (the tensor-core bitmap kernel rebuilds every element of a tile, whatever the
 * sparsity, and is issue-bound; NOTES.md, bitmap v2/v3).
 *
 * A lane owns one output row; a warp owns 32 rows. Device format ("row bitmap", made at
 * upload), tile = 32 rows x 128 columns, tiles of a row group contiguous (tile = rg*S + s):
 *   rmask[tile][w][lane] (uint32): bit b = column 128s + 32w + b of row 32rg + lane.
 *   rvals: per tile, lane 0's pairs, then lane 1's, ... (lane-major, no padding between
 *     lanes); a lane's pairs go word by word, each word's nonzeros in DESCENDING column
 *     order (the kernel walks set bits from the top with one bfind), two bf16 a uint32
 *     (first low), a word with an odd count padded with a 0; a lane's stream padded to an
 *     odd number of uint32 (so balanced patterns such as 4:8, where every lane has the same
 *     count, do not put all 32 lanes on one shared-memory bank); a tile padded to 4 uint32.
 *   toff[tile]: first uint32 of the tile in rvals (toff[T] = total).
 * Bytes: 2 per nonzero (+ the pads) + 1/8 per element + 4 per tile.
 *
 * A warp copies a tile's masks, x columns and values into its shared-memory stage blindly
 * with cp.async (one stage a warp: more resident warps beat a second stage). Then per 32-column word
 * all lanes run the warp's largest pair count in lockstep: each lane reads its next pair
 * from shared memory, finds the two columns with bfind, gets x by a shuffle from the lane
 * that holds that column (bfind gives -1 for an exhausted mask; the shuffle uses the low 5
 * bits, so the pad's zero value meets lane 31's x), and does two FMAs per token. Partial
 * rows go to ws with atomics; the last warp of a row group writes y and zeroes ws. */
#include <algorithm>
#include <stdlib.h>
#include <string.h>

#include "common.cuh"

#ifndef BR_COLS
#define BR_COLS 128 /* columns per tile (-DBR_COLS=256 builds the wider variant for experiments) */
#endif
#define BR_WORDS (BR_COLS / 32)
#define BR_WARPS 4  /* warps per block (independent; no block-wide sync) */
#define BR_MAXT 31  /* tiles per warp at most: their offsets fit one lane-indexed load */

/* uint32 words of one stage: masks, x (N token rows of BR_COLS bf16), values; 16-byte multiple */
static int br_stage_words(int N, int max_tile_words) { return (BR_WORDS * 32 + N * BR_COLS / 2 + max_tile_words + 3) / 4 * 4; }

int spbr_upload(sp_cuda_weight *w, const uint16_t *dense) {
    const int M = w->out, K = w->in, RG = (M + 31) / 32, S = (K + BR_COLS - 1) / BR_COLS;
    const size_t T = (size_t)RG * S;
    uint32_t *hm = (uint32_t *)calloc(T * BR_WORDS * 32, 4), *ho = (uint32_t *)malloc((T + 1) * 4);
    size_t cap = 1 << 20, nv = 0; /* uint32 words written */
    uint32_t *hv = (uint32_t *)malloc(cap * 4);
    int maxt = 0;
    if (!hm || !ho || !hv) { free(hm); free(ho); free(hv); return sp_error(SP_ERR_NOMEM, "spbr_upload: out of host memory"); }
    for (size_t tile = 0; tile < T; tile++) {
        const int rg = (int)(tile / S), s = (int)(tile % S);
        ho[tile] = (uint32_t)nv;
        if (cap < nv + 32 * BR_COLS + 4) {
            cap *= 2;
            uint32_t *p = (uint32_t *)realloc(hv, cap * 4);
            if (!p) { free(hm); free(ho); free(hv); return sp_error(SP_ERR_NOMEM, "spbr_upload: out of host memory"); }
            hv = p;
        }
        for (int lane = 0; lane < 32; lane++) {
            const int row = rg * 32 + lane;
            const size_t lane0 = nv;
            for (int wd = 0; wd < BR_WORDS; wd++) {
                uint32_t m = 0, half = 0;
                int odd = 0;
                for (int b = 31; b >= 0; b--) {
                    const int col = s * BR_COLS + wd * 32 + b;
                    if (row >= M || col >= K) continue;
                    uint16_t v = dense[(size_t)row * K + col];
                    if ((v & 0x7fff) == 0) continue; /* +0 and -0 are dropped */
                    m |= 1u << b;
                    if (odd) hv[nv++] = half | ((uint32_t)v << 16);
                    else half = v;
                    odd ^= 1;
                }
                if (odd) hv[nv++] = half;
                hm[(tile * BR_WORDS + wd) * 32 + lane] = m;
            }
            if ((nv - lane0) % 2 == 0) hv[nv++] = 0; /* odd stream lengths: see the header */
        }
        while (nv % 4) hv[nv++] = 0;
        maxt = std::max(maxt, (int)(nv - ho[tile]));
    }
    ho[T] = (uint32_t)nv;
    w->br_max_tile = maxt;
    int rc = 0;
    if (sp_dev_copy(&w->bm, hm, T * BR_WORDS * 32 * 4) || sp_dev_copy(&w->boff, ho, (T + 1) * 4) ||
        sp_dev_copy(&w->bvals, hv, nv * 4))
        rc = sp_error(SP_ERR_NOMEM, "spbr_upload: device allocation/copy failed");
    w->bytes = T * BR_WORDS * 32 * 4 + (T + 1) * 4 + nv * 4;
    free(hm);
    free(ho);
    free(hv);
    return rc;
}

__device__ __forceinline__ int br_bfind(uint32_t m) { /* highest set bit, -1 when none */
    int b;
    asm("bfind.u32 %0, %1;" : "=r"(b) : "r"(m));
    return b;
}
/* x of the column held by lane src. Plain PTX: the loop around it runs the warp's largest
 * count on every lane (uniform), and __shfl_sync there costs two divergence checks more. */
__device__ __forceinline__ float br_shfl(float v, int src) {
    float r;
    asm("shfl.sync.idx.b32 %0, %1, %2, 0x1f, 0xffffffff;" : "=f"(r) : "f"(v), "r"(src));
    return r;
}
__device__ __forceinline__ uint32_t br_bit(int b) { /* 1 << b, 0 for b = -1 (PTX clamps the shift) */
    uint32_t r;
    asm("shl.b32 %0, 1, %1;" : "=r"(r) : "r"(b));
    return r;
}

template <int N>
__global__ void __launch_bounds__(BR_WARPS * 32)
spbr_kernel(const uint4 *__restrict__ rmask, const uint4 *__restrict__ rvals, const uint32_t *__restrict__ toff,
            const __nv_bfloat16 *__restrict__ x, __nv_bfloat16 *__restrict__ y, float *ws, unsigned *counters,
            int n, int M, int K, int RG, int S, int tpw, int chunks, int stage_words) {
    extern __shared__ uint4 smem4[];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int gw = blockIdx.x * BR_WARPS + warp;
    if (gw >= RG * chunks) return; /* warps never wait on each other */
    const int rg = gw / chunks, s0 = (gw % chunks) * tpw, nt = min(S - s0, tpw);
    uint32_t *const b = reinterpret_cast<uint32_t *>(smem4) + (size_t)warp * stage_words; /* this warp's stage */
    const size_t tile0 = (size_t)rg * S + s0;
    const uint32_t myoff = lane <= nt ? __ldg(toff + tile0 + lane) : 0; /* lane j: offset of tile j */

    auto issue = [&](int j) { /* tile j into the stage */
        const uint32_t o0 = __shfl_sync(0xffffffffu, myoff, j), o1 = __shfl_sync(0xffffffffu, myoff, j + 1);
        const uint32_t sb = (uint32_t)__cvta_generic_to_shared(b);
        /* masks: BR_WORDS * 32 words = BR_WORDS * 8 chunks of 16 bytes */
        for (int c = lane; c < BR_WORDS * 8; c += 32)
            asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(sb + c * 16),
                         "l"(rmask + (tile0 + j) * BR_WORDS * 8 + c));
        /* x: N token rows of BR_COLS bf16 (16 chunks each); tokens >= n and columns >= K read 0 */
        for (int c = lane; c < N * (BR_COLS / 8); c += 32) {
            const int tk = c / (BR_COLS / 8), col = (s0 + j) * BR_COLS + (c % (BR_COLS / 8)) * 8;
            const bool in = tk < n && col < K;
            asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(sb + (BR_WORDS * 32 + tk * BR_COLS / 2) * 4 + (c % (BR_COLS / 8)) * 16),
                         "l"(in ? x + (size_t)tk * K + col : x), "r"(in ? 16 : 0));
        }
        const uint32_t vb = sb + (BR_WORDS * 32 + N * BR_COLS / 2) * 4;
        for (uint32_t c = lane; c < (o1 - o0) / 4; c += 32)
            asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(vb + c * 16), "l"(rvals + o0 / 4 + c));
        asm volatile("cp.async.commit_group;");
    };

    float acc[N];
#pragma unroll
    for (int t = 0; t < N; t++) acc[t] = 0.f;

    for (int j = 0; j < nt; j++) {
        issue(j);
        asm volatile("cp.async.wait_group 0;");
        __syncwarp();
        uint32_t m[BR_WORDS];
        int np[BR_WORDS], tot = 0;
#pragma unroll
        for (int wd = 0; wd < BR_WORDS; wd++) {
            m[wd] = b[wd * 32 + lane];
            np[wd] = (__popc(m[wd]) + 1) >> 1;
            tot += np[wd];
        }
        tot |= 1; /* the stream pad */
        int incl = tot; /* this lane's first pair: exclusive prefix over the lanes */
#pragma unroll
        for (int d = 1; d < 32; d <<= 1) {
            int v = __shfl_up_sync(0xffffffffu, incl, d);
            if (lane >= d) incl += v;
        }
        const uint32_t *vp = b + BR_WORDS * 32 + N * BR_COLS / 2 + (incl - tot);
        const uint16_t *xs = reinterpret_cast<const uint16_t *>(b + BR_WORDS * 32);
#pragma unroll
        for (int wd = 0; wd < BR_WORDS; wd++) {
            float xr[N]; /* lane l holds column 32wd + l of every token */
#pragma unroll
            for (int t = 0; t < N; t++) xr[t] = __uint_as_float((uint32_t)xs[t * BR_COLS + wd * 32 + lane] << 16);
            const int it = __reduce_max_sync(0xffffffffu, np[wd]);
            uint32_t mm = m[wd];
#pragma unroll 2
            for (int i = 0; i < it; i++) {
                const uint32_t pr = i < np[wd] ? vp[i] : 0u;
                const int b0 = br_bfind(mm);
                mm ^= br_bit(b0);
                const int b1 = br_bfind(mm);
                mm ^= br_bit(b1);
                const float v0 = __uint_as_float(pr << 16), v1 = __uint_as_float(pr & 0xffff0000u);
#pragma unroll
                for (int t = 0; t < N; t++) {
                    acc[t] = fmaf(v0, br_shfl(xr[t], b0), acc[t]);
                    acc[t] = fmaf(v1, br_shfl(xr[t], b1), acc[t]);
                }
            }
            vp += np[wd];
        }
        __syncwarp(); /* the stage is refilled by a later issue */
    }

    sp_rows_flush<N>(acc, rg * 32 + lane, rg, chunks, n, M, RG * 32, y, ws, counters, lane);
}

/* Launch plan (run-11 sweep over stages x chunks on the four Llama-8B shapes at 50/70/90%):
 * one stage a warp (two halve the resident warps and were slower or equal everywhere), and
 * column chunks so that there are about 32 warps a SM in all (one tile a warp at 4096x4096,
 * four at 14336x4096), at most BR_MAXT tiles a warp. sp_cuda_set_config: splits = chunks. */
template <int N>
static int spbr_launch(const sp_cuda_weight *w, const __nv_bfloat16 *x, int n, __nv_bfloat16 *y, sp_cuda_ctx *c) {
    const int RG = (w->out + 31) / 32, S = (w->in + BR_COLS - 1) / BR_COLS;
    const int stage_words = br_stage_words(N, w->br_max_tile);
    const size_t smem = (size_t)BR_WARPS * stage_words * 4;
    if (smem > 227 * 1024)
        return sp_error(SP_ERR_UNSUPPORTED, "bitmap-rows: a tile of %d words does not fit shared memory", w->br_max_tile);
    static size_t allowed = 0; /* per template instance */
    SP_CHK(sp_allow_smem(spbr_kernel<N>, smem, &allowed));
    const long tiles = (long)RG * S, warps = 32L * c->sm_count;
    int tpw = (int)std::min<long>(BR_MAXT, std::max<long>(1, (tiles + warps - 1) / warps));
    if (c->cfg_splits > 0) tpw = std::min(BR_MAXT, (S + c->cfg_splits - 1) / c->cfg_splits);
    const int chunks = (S + tpw - 1) / tpw;
    const int blocks = (RG * chunks + BR_WARPS - 1) / BR_WARPS;
    spbr_kernel<N><<<blocks, BR_WARPS * 32, smem, c->stream>>>(
        (const uint4 *)w->bm, (const uint4 *)w->bvals, w->boff, x, y, w->ws, w->counters, n, w->out, w->in, RG, S, tpw,
        chunks, stage_words);
    SP_CU(cudaGetLastError());
    return 0;
}

int spbr_run(const sp_cuda_weight *w, const __nv_bfloat16 *x, int n, __nv_bfloat16 *y, sp_cuda_ctx *c) {
    return sp_run_by4(w, x, n, y, [&](int m, const __nv_bfloat16 *xi, __nv_bfloat16 *yi) {
        return m == 1 ? spbr_launch<1>(w, xi, m, yi, c) : m == 2 ? spbr_launch<2>(w, xi, m, yi, c) : spbr_launch<4>(w, xi, m, yi, c);
    });
}
