/* model_ops.cuh: the element-wise and attention kernels of the device model (model.cu):
 * embedding gather, RMSNorm, rotate-half RoPE, KV-cache store, causal softmax, decode
 * attention, SwiGLU, residual add, random weights and 2:4 magnitude pruning. */
#pragma once
#include "common.cuh"

typedef __nv_bfloat16 bf16;

/* Fused causal prefill attention (flash_attn.cu); head dims 32, 64, 128. */
int sp_flash_prefill(const bf16 *q, const bf16 *kc, const bf16 *vc, bf16 *out, int n, int pos, int heads, int group,
                     int D, int kvd, float scale, cudaStream_t st);

/* sum over the block (blockDim.x a multiple of 32, <= 1024); red holds 32 floats */
__device__ __forceinline__ float sp_block_sum(float v, float *red) {
    for (int o = 16; o; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    __syncthreads(); /* red may still be read from a previous call */
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
    __syncthreads();
    float s = 0.f;
    for (int i = 0; i < (int)(blockDim.x >> 5); i++) s += red[i];
    return s;
}
__device__ __forceinline__ float sp_block_max(float v, float *red) {
    for (int o = 16; o; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    __syncthreads();
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
    __syncthreads();
    float s = -INFINITY;
    for (int i = 0; i < (int)(blockDim.x >> 5); i++) s = fmaxf(s, red[i]);
    return s;
}

/* x (rows, dim) f32 = embed[tok[r]] */
__global__ void k_embed(const int *tok, const bf16 *emb, float *x, int dim) {
    const bf16 *e = emb + (size_t)tok[blockIdx.x] * dim;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) x[(size_t)blockIdx.x * dim + i] = __bfloat162float(e[i]);
}

/* out row r = x row (first + r*step) / rms * w, as bf16 */
__global__ void k_rmsnorm(const float *x, const float *w, bf16 *out, int dim, float eps, int first, int step) {
    __shared__ float red[32];
    const float *xr = x + (size_t)(first + blockIdx.x * step) * dim;
    float ss = 0.f;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) ss += xr[i] * xr[i];
    float r = rsqrtf(sp_block_sum(ss, red) / dim + eps);
    for (int i = threadIdx.x; i < dim; i += blockDim.x) out[(size_t)blockIdx.x * dim + i] = __float2bfloat16(xr[i] * r * w[i]);
}

/* x row += y row (bf16), then out row = x / rms * w: the residual add fused into the next norm */
__global__ void k_add_rmsnorm(float *x, const bf16 *y, const float *w, bf16 *out, int dim, float eps) {
    __shared__ float red[32];
    float *xr = x + (size_t)blockIdx.x * dim;
    const bf16 *yr = y + (size_t)blockIdx.x * dim;
    float ss = 0.f;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) {
        float v = xr[i] + __bfloat162float(yr[i]);
        xr[i] = v;
        ss += v * v;
    }
    float r = rsqrtf(sp_block_sum(ss, red) / dim + eps);
    for (int i = threadIdx.x; i < dim; i += blockDim.x) out[(size_t)blockIdx.x * dim + i] = __float2bfloat16(xr[i] * r * w[i]);
}

/* HF rotate-half: pair (i, i + D/2) of each head rotates by angle pos * theta^(-2i/D).
 * Row r sits at position pos + (per_row ? r : 0). src (rows, lds) -> dst (rows, ldd); may be in place. */
__global__ void k_rope(const bf16 *src, int lds, bf16 *dst, int ldd, int heads, int D, const float *cs, const float *sn,
                       int pos, int per_row) {
    const int r = blockIdx.x, half = D / 2, p = pos + (per_row ? r : 0);
    for (int i = threadIdx.x; i < heads * half; i += blockDim.x) {
        int h = i / half, j = i % half;
        const bf16 *sv = src + (size_t)r * lds + (size_t)h * D;
        bf16 *dv = dst + (size_t)r * ldd + (size_t)h * D;
        float c = cs[(size_t)p * half + j], s = sn[(size_t)p * half + j];
        float a = __bfloat162float(sv[j]), b = __bfloat162float(sv[j + half]);
        dv[j] = __float2bfloat16(a * c - b * s); /* a thread reads its pair before writing it: src may be dst */
        dv[j + half] = __float2bfloat16(b * c + a * s);
    }
}

/* Rotates the new keys and stores keys and values into the cache: row r goes to sequence
 * (batch_mode ? r : 0) at position pos + (batch_mode ? 0 : r). Caches (seqs, max_ctx, kvd). */
__global__ void k_kv_store(const bf16 *kn, const bf16 *vn, int ld, bf16 *kc, bf16 *vc, int kvd, int D, const float *cs,
                           const float *sn, int pos, int batch_mode, int max_ctx) {
    const int r = blockIdx.x, half = D / 2;
    const int seq = batch_mode ? r : 0, p = pos + (batch_mode ? 0 : r);
    bf16 *kd = kc + ((size_t)seq * max_ctx + p) * kvd, *vd = vc + ((size_t)seq * max_ctx + p) * kvd;
    const bf16 *ks = kn + (size_t)r * ld, *vs = vn + (size_t)r * ld; /* row stride ld: kvd, or q+k+v fused */
    for (int i = threadIdx.x; i < kvd / 2; i += blockDim.x) {
        int h = i / half, j = i % half, a0 = h * D + j, a1 = a0 + half;
        float c = cs[(size_t)p * half + j], s = sn[(size_t)p * half + j];
        float a = __bfloat162float(ks[a0]), b = __bfloat162float(ks[a1]);
        kd[a0] = __float2bfloat16(a * c - b * s);
        kd[a1] = __float2bfloat16(b * c + a * s);
    }
    for (int i = threadIdx.x; i < kvd; i += blockDim.x) vd[i] = vs[i];
}

/* Causal softmax of scores S (heads, n, L) f32 into P bf16 (same layout): query row t
 * (position pos + t) sees keys 0..pos+t; the rest of the row becomes 0. grid (n, heads);
 * the visible part of the row is read from memory once, into dynamic shared memory. */
__global__ void k_softmax_causal(const float *S, bf16 *P, int n, int L, int pos) {
    extern __shared__ float row[];
    __shared__ float red[32];
    const size_t off = ((size_t)blockIdx.y * n + blockIdx.x) * L;
    const float *s = S + off;
    bf16 *p = P + off;
    const int valid = pos + blockIdx.x + 1;
    float m = -INFINITY;
    for (int j = threadIdx.x; j < valid; j += blockDim.x) { row[j] = s[j]; m = fmaxf(m, row[j]); }
    m = sp_block_max(m, red);
    float sum = 0.f;
    for (int j = threadIdx.x; j < valid; j += blockDim.x) { float e = __expf(row[j] - m); row[j] = e; sum += e; }
    float inv = 1.f / sp_block_sum(sum, red);
    for (int j = threadIdx.x; j < L; j += blockDim.x) p[j] = __float2bfloat16(j < valid ? row[j] * inv : 0.f);
}

/* One query token per sequence: grid (heads, batch), 256 threads (8 warps). q (batch, heads*D);
 * caches (batch, max_ctx, kvd); keys 0..L-1; scores in dynamic shared memory (L floats) plus
 * 8*D floats of per-warp partial outputs. Warps split the keys, lanes the head dimension
 * (D/32 <= 8 contiguous elements each), so every K and V row is one coalesced warp load and
 * each warp has L/8 independent loads in flight (a thread looping over all L keys alone was
 * latency-bound: ~6 ms of an 8B decode step at 512 context, run 2). */
__global__ void k_attn_decode(const bf16 *q, const bf16 *kc, const bf16 *vc, bf16 *out, int heads, int group, int D,
                              int kvd, int max_ctx, int L, float scale, float *part_o, float *part_ml) {
    extern __shared__ float sm[];
    __shared__ float red[32];
    /* blockIdx.z: this block's share of the keys [j0, j0 + Ls) (gridDim.z splits) */
    const int chunk = (L + gridDim.z - 1) / gridDim.z, j0 = blockIdx.z * chunk;
    const int Ls = max(0, min(chunk, L - j0));
    float *sc = sm, *part = sm + ((chunk + 3) & ~3); /* part: (warps, D) */
    const int h = blockIdx.x, b = blockIdx.y, hk = h / group, qd = heads * D;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nw = blockDim.x >> 5, per = D / 32;
    float qv[8];
    const bf16 *qp = q + (size_t)b * qd + h * D + lane * per;
    for (int i = 0; i < 8; i++) qv[i] = i < per ? __bfloat162float(qp[i]) : 0.f;
    const bf16 *K = kc + ((size_t)b * max_ctx + j0) * kvd + hk * D + lane * per;
    const bf16 *V = vc + ((size_t)b * max_ctx + j0) * kvd + hk * D + lane * per;
#pragma unroll 4
    for (int j = warp; j < Ls; j += nw) {
        const bf16 *kr = K + (size_t)j * kvd;
        float s = 0.f;
        for (int i = 0; i < 8; i++) if (i < per) s += qv[i] * __bfloat162float(kr[i]);
        for (int o = 16; o; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
        if (lane == 0) sc[j] = s * scale;
    }
    __syncthreads();
    float m = -INFINITY;
    for (int j = threadIdx.x; j < Ls; j += blockDim.x) m = fmaxf(m, sc[j]);
    m = sp_block_max(m, red);
    float sum = 0.f;
    for (int j = threadIdx.x; j < Ls; j += blockDim.x) {
        float e = __expf(sc[j] - m);
        sc[j] = e;
        sum += e;
    }
    sum = sp_block_sum(sum, red); /* its barriers also publish sc */
    float acc[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
#pragma unroll 4
    for (int j = warp; j < Ls; j += nw) {
        const bf16 *vr = V + (size_t)j * kvd;
        float p = sc[j];
        for (int i = 0; i < 8; i++) if (i < per) acc[i] += p * __bfloat162float(vr[i]);
    }
    for (int i = 0; i < per; i++) part[warp * D + lane * per + i] = acc[i];
    __syncthreads();
    const size_t slot = ((size_t)b * heads + h) * gridDim.z + blockIdx.z;
    for (int i = threadIdx.x; i < D; i += blockDim.x) {
        float o = 0.f;
        for (int w = 0; w < nw; w++) o += part[w * D + i];
        if (gridDim.z == 1) out[(size_t)b * qd + h * D + i] = __float2bfloat16(o / sum);
        else part_o[slot * D + i] = o; /* unnormalised, with (max, sum) for k_attn_combine */
    }
    if (gridDim.z > 1 && threadIdx.x == 0) part_ml[2 * slot] = m, part_ml[2 * slot + 1] = sum;
}

/* Merges the key splits of k_attn_decode: grid (heads, batch), D threads. */
__global__ void k_attn_combine(const float *part_o, const float *part_ml, bf16 *out, int heads, int D, int splits) {
    const int h = blockIdx.x, b = blockIdx.y, i = threadIdx.x;
    const size_t base = ((size_t)b * heads + h) * splits;
    float M = -INFINITY;
    for (int s = 0; s < splits; s++) M = fmaxf(M, part_ml[2 * (base + s)]);
    float num = 0.f, den = 0.f;
    for (int s = 0; s < splits; s++) {
        float ms = part_ml[2 * (base + s)], w = ms == -INFINITY ? 0.f : __expf(ms - M);
        num += w * part_o[(base + s) * D + i];
        den += w * part_ml[2 * (base + s) + 1];
    }
    out[(size_t)b * heads * D + h * D + i] = __float2bfloat16(num / den);
}

/* g = silu(g) * u */
__global__ void k_swiglu(bf16 *g, const bf16 *u, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float a = __bfloat162float(g[i]);
        g[i] = __float2bfloat16(a / (1.f + __expf(-a)) * __bfloat162float(u[i]));
    }
}

/* x += y */
__global__ void k_add(float *x, const bf16 *y, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        x[i] += __bfloat162float(y[i]);
}

__device__ __forceinline__ uint64_t sp_mix64(uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* w[i] = scale * uniform(-1, 1), from (seed, i) */
__global__ void k_random_bf16(bf16 *w, size_t n, uint64_t seed, float scale) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float u = (float)(sp_mix64(seed ^ sp_mix64(i)) >> 40) * (2.f / 16777216.f) - 1.f;
        w[i] = __float2bfloat16(u * scale);
    }
}

/* 2:4 magnitude pruning in place: in each group of 4 along a row keep the two largest |w|. */
__global__ void k_prune24(bf16 *w, size_t groups) {
    for (size_t g = blockIdx.x * (size_t)blockDim.x + threadIdx.x; g < groups; g += (size_t)gridDim.x * blockDim.x) {
        bf16 *p = w + 4 * g;
        float a[4];
        for (int j = 0; j < 4; j++) a[j] = fabsf(__bfloat162float(p[j]));
        int i0 = 0;
        for (int j = 1; j < 4; j++) if (a[j] > a[i0]) i0 = j;
        int i1 = i0 == 0 ? 1 : 0;
        for (int j = 0; j < 4; j++) if (j != i0 && a[j] > a[i1]) i1 = j;
        for (int j = 0; j < 4; j++) if (j != i0 && j != i1) p[j] = __float2bfloat16(0.f);
    }
}

__global__ void k_fill_f32(float *p, size_t n, float v) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) p[i] = v;
}
