/* csr16.cu: unstructured sparse decode for high sparsity, y (n, out) = x (n, in) W^T for 1-2
 * tokens per launch, on CUDA cores: CSR with 16-bit column indices, a warp a row.
 *
 * Why a third unstructured kernel: the bitmap kernels spend per element (tensor-core bitmap)
 * or per bit-walk step with lanes idle in lockstep (row bitmap, ~20 instructions a pair and
 * ~2x idle lanes at 90%); here a nonzero costs ~6 instructions and no lane idles, for 4
 * bytes a nonzero instead of the bitmap's 2 + 1/8 per element. At 90% that is 0.4 bytes a
 * weight (5x fewer than dense); at <= 70% the bitmaps move fewer bytes.
 *
 * Device format (made at upload): entry = column (low 16 bits) | bf16 value (high 16 bits);
 * a row's entries in column order, padded with zero entries to a multiple of 4 (one uint4);
 * rp[r] = first uint4 of row r (rp[out] = total). in <= 65536.
 * x of all tokens is staged once per block in shared memory (persistent blocks walk rows). */
#include <algorithm>
#include <stdlib.h>

#include "common.cuh"

#define C16_WARPS 32 /* one 1024-thread block a SM: x staged once a SM, 64 registers a thread */

int spc16_upload(sp_cuda_weight *w, const uint16_t *dense) {
    const int M = w->out, K = w->in;
    if (K > 65536) return sp_error(SP_ERR_UNSUPPORTED, "csr16: in = %d exceeds the 16-bit column index", K);
    uint32_t *rp = (uint32_t *)malloc(((size_t)M + 1) * 4);
    size_t total = 0;
    for (int r = 0; r < M && rp; r++) {
        size_t nz = 0;
        for (int j = 0; j < K; j++) nz += (dense[(size_t)r * K + j] & 0x7fff) != 0;
        rp[r] = (uint32_t)total;
        total += (nz + 3) / 4;
    }
    uint32_t *hv = rp ? (uint32_t *)calloc(std::max<size_t>(total, 1) * 4, 4) : NULL;
    if (!rp || !hv || total > 0xffffffffu) { free(rp); free(hv); return sp_error(SP_ERR_NOMEM, "csr16: out of host memory"); }
    rp[M] = (uint32_t)total;
    for (int r = 0; r < M; r++) {
        size_t k = (size_t)rp[r] * 4;
        for (int j = 0; j < K; j++) {
            uint16_t v = dense[(size_t)r * K + j];
            if (v & 0x7fff) hv[k++] = (uint32_t)j | ((uint32_t)v << 16); /* +0 and -0 dropped */
        }
    }
    int rc = 0;
    if (sp_dev_copy(&w->c16, hv, std::max<size_t>(total, 1) * 16) || sp_dev_copy(&w->c16_rp, rp, ((size_t)M + 1) * 4))
        rc = sp_error(SP_ERR_NOMEM, "csr16: device allocation/copy failed");
    w->bytes = total * 16 + ((size_t)M + 1) * 4;
    free(rp);
    free(hv);
    return rc;
}

__device__ __forceinline__ float c16_lo(uint32_t u) { return __uint_as_float(u << 16); }
__device__ __forceinline__ float c16_hi(uint32_t u) { return __uint_as_float(u & 0xffff0000u); }

template <int N>
__device__ __forceinline__ void c16_entry(float *acc, uint32_t e, const uint16_t *xs, int K) {
    const int col = (int)(e & 0xffffu);
    const float v = c16_hi(e);
#pragma unroll
    for (int t = 0; t < N; t++) acc[t] = fmaf(v, c16_lo(xs[t * K + col]), acc[t]);
}

template <int N>
__device__ __forceinline__ void c16_uint4(float *acc, const uint4 &q, const uint16_t *xs, int K) {
    c16_entry<N>(acc, q.x, xs, K);
    c16_entry<N>(acc, q.y, xs, K);
    c16_entry<N>(acc, q.z, xs, K);
    c16_entry<N>(acc, q.w, xs, K);
}

/* the entries of row r: uint4 [a, b); empty past the last row */
__device__ __forceinline__ void c16_range(const uint32_t *rp, int r, int M, uint32_t *a, uint32_t *b) {
    *a = r < M ? __ldg(rp + r) : 0;
    *b = r < M ? __ldg(rp + r + 1) : 0;
}

/* one round: four 16-byte loads a lane at i, i+32, i+64, i+96, predicated on < b (zero
 * entries add 0) */
__device__ __forceinline__ void c16_round(uint4 *q, const uint4 *cv, uint32_t i, uint32_t b) {
#pragma unroll
    for (int u = 0; u < 4; u++) q[u] = i + 32 * u < b ? sp_ld_stream(cv + i + 32 * u) : make_uint4(0, 0, 0, 0);
}

template <int N>
__global__ void __launch_bounds__(C16_WARPS * 32, 1)
spc16_kernel(const uint4 *__restrict__ cv, const uint32_t *__restrict__ rp, const __nv_bfloat16 *__restrict__ x,
             __nv_bfloat16 *__restrict__ y, int n, int M, int K) {
    extern __shared__ uint4 smem4[];
    uint16_t *xs = reinterpret_cast<uint16_t *>(smem4);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, stride = gridDim.x * C16_WARPS;
    uint32_t a, b;
    c16_range(rp, blockIdx.x * C16_WARPS + warp, M, &a, &b);
    /* software pipeline: the loads of the next round (of this row, or the first of the next
     * row) are in flight while a round is computed; the very first round flies while x is
     * staged. A short row (one round) thus never waits a full round trip of its own. */
    uint4 q[4];
    c16_round(q, cv, a + lane, b);
    const int per_tok = K / 8; /* uint4 of one token row */
    for (int i = threadIdx.x; i < N * per_tok; i += blockDim.x) {
        const int tk = i / per_tok;
        smem4[i] = tk < n ? __ldg(reinterpret_cast<const uint4 *>(x + (size_t)tk * K) + i % per_tok) : make_uint4(0, 0, 0, 0);
    }
    __syncthreads();
    for (int row = blockIdx.x * C16_WARPS + warp; row < M; row += stride) {
        uint32_t na, nb;
        c16_range(rp, row + stride, M, &na, &nb);
        float acc[N];
#pragma unroll
        for (int k = 0; k < N; k++) acc[k] = 0.f;
        for (uint32_t i = a + lane;; i += 128) {
            const bool more = i + 128 < b;
            uint4 q2[4];
            c16_round(q2, cv, more ? i + 128 : na + lane, more ? b : nb);
#pragma unroll
            for (int u = 0; u < 4; u++) c16_uint4<N>(acc, q[u], xs, K);
#pragma unroll
            for (int u = 0; u < 4; u++) q[u] = q2[u];
            if (!more) break;
        }
        float v = 0.f; /* lane t < N ends with token t's sum */
#pragma unroll
        for (int k = 0; k < N; k++) {
#pragma unroll
            for (int d = 16; d > 0; d >>= 1) acc[k] += __shfl_xor_sync(0xffffffffu, acc[k], d);
            v = lane == k ? acc[k] : v;
        }
        if (lane < n) y[(size_t)lane * M + row] = __float2bfloat16(v);
        a = na;
        b = nb;
    }
}

/* Persistent blocks, 1 a SM, since x is staged once a block; one warp a row. (Cutting rows
 * into 2 or 4 segments, one warp each, moved the four Llama-8B shapes by -30% to +6% in the
 * run-14 sweep: not kept, bench/NOTES.md.) */
template <int N>
static int spc16_launch(const sp_cuda_weight *w, const __nv_bfloat16 *x, int n, __nv_bfloat16 *y, sp_cuda_ctx *c) {
    static size_t allowed = 0; /* per template instance */
    size_t smem = 0;
    int blocks = 0;
    SP_CHK(sp_persistent_grid(spc16_kernel<N>, C16_WARPS * 32, N, w->in, (w->out + C16_WARPS - 1) / C16_WARPS, &allowed, c,
                              "csr16", &smem, &blocks));
    spc16_kernel<N><<<blocks, C16_WARPS * 32, smem, c->stream>>>(w->c16, w->c16_rp, x, y, n, w->out, w->in);
    SP_CU(cudaGetLastError());
    return 0;
}

int spc16_run(const sp_cuda_weight *w, const __nv_bfloat16 *x, int n, __nv_bfloat16 *y, sp_cuda_ctx *c) {
    for (int i = 0; i < n; i += 2) { /* 2 tokens a launch */
        const int m = std::min(2, n - i);
        int rc = m == 1 ? spc16_launch<1>(w, x + (size_t)i * w->in, 1, y + (size_t)i * w->out, c)
                        : spc16_launch<2>(w, x + (size_t)i * w->in, 2, y + (size_t)i * w->out, c);
        if (rc) return rc;
    }
    return 0;
}
