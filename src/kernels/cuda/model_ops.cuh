/* model_ops.cuh: the element-wise and attention kernels of the device model (model.cu):
 * embedding gather, RMSNorm, rotate-half RoPE, KV-cache store, causal softmax, decode
 * attention, SwiGLU, residual add and 2:4 magnitude pruning. */
#pragma once
#include "common.cuh"

typedef __nv_bfloat16 bf16;

/* max (MAX) or sum over the block (blockDim.x a multiple of 32, <= 1024) of v[g] for every
 * g < group <= G at once, under one barrier pair (the decode attention reduces all heads of a
 * GQA group together: a reduction a head put their barriers in series); red holds 32 * G
 * floats */
template <bool MAX, int G>
__device__ __forceinline__ void sp_block_reduce(float *v, float *red, int group) {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nw = blockDim.x >> 5;
#pragma unroll
    for (int o = 16; o; o >>= 1)
#pragma unroll
        for (int g = 0; g < G; g++) {
            const float u = __shfl_xor_sync(0xffffffffu, v[g], o);
            v[g] = MAX ? fmaxf(v[g], u) : v[g] + u;
        }
    __syncthreads(); /* red may still be read from a previous call */
    if (lane == 0)
#pragma unroll
        for (int g = 0; g < G; g++) red[warp * G + g] = v[g];
    __syncthreads();
#pragma unroll
    for (int g = 0; g < G; g++) {
        if (g >= group) break;
        float r = MAX ? -INFINITY : 0.f;
        for (int w = 0; w < nw; w++) r = MAX ? fmaxf(r, red[w * G + g]) : r + red[w * G + g];
        v[g] = r;
    }
}
__device__ __forceinline__ float sp_block_sum(float v, float *red) {
    sp_block_reduce<false, 1>(&v, red, 1);
    return v;
}
__device__ __forceinline__ float sp_block_max(float v, float *red) {
    sp_block_reduce<true, 1>(&v, red, 1);
    return v;
}

/* x (rows, dim) f32 = embed[tok[r]] */
__global__ void k_embed(const int *tok, const bf16 *emb, float *x, int dim) {
    const bf16 *e = emb + (size_t)tok[blockIdx.x] * dim;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) x[(size_t)blockIdx.x * dim + i] = __bfloat162float(e[i]);
}

/* Four floats as four bf16 (8 bytes). */
__device__ __forceinline__ uint2 sp_pack4(float a, float b, float c, float d) {
    __nv_bfloat162 lo = __floats2bfloat162_rn(a, b), hi = __floats2bfloat162_rn(c, d);
    return make_uint2(*reinterpret_cast<uint32_t *>(&lo), *reinterpret_cast<uint32_t *>(&hi));
}
__device__ __forceinline__ float4 sp_unpack4(uint2 v) {
    float2 lo = __bfloat1622float2(*reinterpret_cast<__nv_bfloat162 *>(&v.x));
    float2 hi = __bfloat1622float2(*reinterpret_cast<__nv_bfloat162 *>(&v.y));
    return make_float4(lo.x, lo.y, hi.x, hi.y);
}

/* The norms: one block a row; a thread holds R float4 of the row in registers between the sum
 * of squares and the scaling (wider rows: the rest is read again). Measured on the 8B model
 * (H200, session 11): decode rows want a float4 a thread (R 1, up to 1024 threads; 256 threads
 * of R 4 made a one-row norm ~16 us instead of ~6 under early launch), prefill rows want small
 * blocks (R 4, 256 threads; 1024-thread blocks of 40+ registers fit one a SM: 2.9 ms a
 * 2048-token forward instead of 2.0). */
static inline int sp_norm_r(int rows) { return rows >= 64 ? 4 : 1; }
static inline unsigned sp_norm_threads(int dim, int rows) {
    const int r = sp_norm_r(rows);
    unsigned t = (unsigned)(dim / 4 + r - 1) / r;
    t = (t + 31) / 32 * 32;
    return t < 1024 ? t : 1024;
}

/* out row r = x row i / rms * w as bf16, i = first + r * step. ADD: x row i += y row i (bf16)
 * first, and written back (the residual add fused into the next norm). dim % 4 == 0. */
template <bool ADD, int R>
__global__ void k_rmsnorm(float *x, const bf16 *y, const float *w, bf16 *out, int dim, float eps, int first, int step) {
    __shared__ float red[32];
    sp_pdl_wait(); /* every kernel of the forward may be launched early (sp_launch): wait, then */
    sp_pdl_trigger(); /* let the next one start streaming its weights */
    const size_t row = (size_t)(first + blockIdx.x * step) * dim;
    float4 *xr = reinterpret_cast<float4 *>(x + row);
    const uint2 *yr = ADD ? reinterpret_cast<const uint2 *>(y + row) : nullptr;
    const float4 *w4 = reinterpret_cast<const float4 *>(w);
    uint2 *o = reinterpret_cast<uint2 *>(out + (size_t)blockIdx.x * dim);
    const int d4 = dim / 4, bd = blockDim.x, tid = threadIdx.x;
    float4 v[R];
    uint2 d[R];
    float ss = 0.f;
#pragma unroll
    for (int k = 0; k < R; k++) /* all loads first */
        if (tid + k * bd < d4) {
            v[k] = xr[tid + k * bd];
            if (ADD) d[k] = yr[tid + k * bd];
        }
#pragma unroll
    for (int k = 0; k < R; k++)
        if (tid + k * bd < d4) {
            if (ADD) {
                const float4 e = sp_unpack4(d[k]);
                v[k].x += e.x, v[k].y += e.y, v[k].z += e.z, v[k].w += e.w;
                xr[tid + k * bd] = v[k];
            }
            ss += v[k].x * v[k].x + v[k].y * v[k].y + v[k].z * v[k].z + v[k].w * v[k].w;
        }
    for (int i = tid + R * bd; i < d4; i += bd) { /* rows wider than the registers hold */
        float4 u = xr[i];
        if (ADD) {
            const float4 e = sp_unpack4(yr[i]);
            u.x += e.x, u.y += e.y, u.z += e.z, u.w += e.w;
            xr[i] = u;
        }
        ss += u.x * u.x + u.y * u.y + u.z * u.z + u.w * u.w;
    }
    const float r = rsqrtf(sp_block_sum(ss, red) / dim + eps);
#pragma unroll
    for (int k = 0; k < R; k++)
        if (tid + k * bd < d4) {
            const float4 g = w4[tid + k * bd];
            o[tid + k * bd] = sp_pack4(v[k].x * r * g.x, v[k].y * r * g.y, v[k].z * r * g.z, v[k].w * r * g.w);
        }
    for (int i = tid + R * bd; i < d4; i += bd) { /* a thread reads back what it wrote */
        const float4 u = xr[i], g = w4[i];
        o[i] = sp_pack4(u.x * r * g.x, u.y * r * g.y, u.z * r * g.z, u.w * r * g.w);
    }
}

/* 8 bf16 (16 bytes) as floats, and back */
__device__ __forceinline__ void sp_ld8(const bf16 *p, float *f) {
    const uint4 u = *reinterpret_cast<const uint4 *>(p);
    const float4 lo = sp_unpack4(make_uint2(u.x, u.y)), hi = sp_unpack4(make_uint2(u.z, u.w));
    f[0] = lo.x, f[1] = lo.y, f[2] = lo.z, f[3] = lo.w, f[4] = hi.x, f[5] = hi.y, f[6] = hi.z, f[7] = hi.w;
}
__device__ __forceinline__ void sp_st8(bf16 *p, const float *f) {
    const uint2 lo = sp_pack4(f[0], f[1], f[2], f[3]), hi = sp_pack4(f[4], f[5], f[6], f[7]);
    *reinterpret_cast<uint4 *>(p) = make_uint4(lo.x, lo.y, hi.x, hi.y);
}

/* HF rotate-half RoPE of q and k, and the KV-cache store, in one kernel: a block a row (grid
 * stride over rows); a thread takes 8 pairs (j..j+7, j+D/2..j+D/2+7) of one head, 16-byte
 * accesses: q heads rotated from qs into q, k heads rotated into the cache, v heads copied into
 * it. head_dim % 16 == 0 (the model asks % 32). Row r sits at position pos + (batch_mode ? 0 :
 * r) of sequence (batch_mode ? r : 0); caches (seqs, max_ctx, kvd). pos is read on the device
 * (*posp) so that a captured decode graph replays at every position. qs may be q (in place).
 * skip_q: k and v heads only (the flash prefill rotates q itself).
 * The form before (a block a (row block, head), a 2-byte pair a thread) took 1.39 ms a
 * 2048-token prefill of the 8B model on the H200, ~3.5x its bytes at copy speed. */
__global__ void k_rope_kv(const bf16 *qs, int lqs, bf16 *q, int lq, const bf16 *ks, const bf16 *vs, int lkv, bf16 *kc,
                          bf16 *vc, int rows, int heads, int kvh, int D, const float *cs, const float *sn,
                          const int *posp, int batch_mode, int max_ctx, int skip_q) {
    sp_pdl_wait();
    sp_pdl_trigger();
    const int half = D / 2, per = half / 8, y0 = skip_q ? heads : 0, pos = *posp, kvd = kvh * D;
    const int units = (heads + 2 * kvh - y0) * per;
    for (int r = blockIdx.x; r < rows; r += gridDim.x) {
        const int seq = batch_mode ? r : 0, p = pos + (batch_mode ? 0 : r);
        const size_t crow = ((size_t)seq * max_ctx + p) * kvd;
        for (int u = threadIdx.x; u < units; u += blockDim.x) {
            const int y = y0 + u / per, j = (u % per) * 8;
            if (y >= heads + kvh) { /* v head: copy */
                const int h = y - heads - kvh;
                const uint4 *s = reinterpret_cast<const uint4 *>(vs + (size_t)r * lkv + h * D + j);
                uint4 *d = reinterpret_cast<uint4 *>(vc + crow + h * D + j);
                const uint4 a = s[0], b = s[half / 8];
                d[0] = a, d[half / 8] = b;
                continue;
            }
            const bf16 *s = (y < heads ? qs + (size_t)r * lqs + y * D : ks + (size_t)r * lkv + (y - heads) * D) + j;
            bf16 *d = (y < heads ? q + (size_t)r * lq + y * D : kc + crow + (y - heads) * D) + j;
            const float4 *c4 = reinterpret_cast<const float4 *>(cs + (size_t)p * half + j);
            const float4 *s4 = reinterpret_cast<const float4 *>(sn + (size_t)p * half + j);
            const float4 c0 = c4[0], c1 = c4[1], n0 = s4[0], n1 = s4[1];
            const float c[8] = {c0.x, c0.y, c0.z, c0.w, c1.x, c1.y, c1.z, c1.w};
            const float sv[8] = {n0.x, n0.y, n0.z, n0.w, n1.x, n1.y, n1.z, n1.w};
            float a[8], b[8], lo[8], hi[8];
            sp_ld8(s, a); /* the pair is read before it is written: s may be d */
            sp_ld8(s + half, b);
#pragma unroll
            for (int k = 0; k < 8; k++) lo[k] = a[k] * c[k] - b[k] * sv[k], hi[k] = b[k] * c[k] + a[k] * sv[k];
            sp_st8(d, lo);
            sp_st8(d + half, hi);
        }
    }
}

/* threads of a k_rope_kv block: 8 pairs of one head a thread, every head of a row (heads: the
 * q heads it rotates, 0 with skip_q) */
static inline unsigned sp_rope_threads(int heads, int kvh, int D) {
    const unsigned u = (unsigned)(heads + 2 * kvh) * (unsigned)(D / 16);
    const unsigned t = (u + 31) / 32 * 32;
    return t < 1024 ? t : 1024;
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

/* The end of a decode attention block whose keys were split zs ways (both kernels below):
 * after it wrote its partials of heads h0..h0+nh-1 of sequence b (part_o unnormalised, part_ml
 * (max, sum) a head and split), the last split to finish merges all of them into out (one
 * launch a layer fewer than a separate combine kernel): publish, count on arrived[b, h0] (reset
 * for the next launch), and the block that counts last reads. Block-uniform. */
__device__ __forceinline__ void sp_attn_merge_splits(bf16 *out, const float *part_o, const float *part_ml, int *arrived,
                                                     int b, int heads, int h0, int nh, int D, int zs) {
    __shared__ int last;
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) {
        int *a = arrived + (size_t)b * heads + h0;
        last = atomicAdd(a, 1) == zs - 1;
        if (last) *a = 0;
    }
    __syncthreads();
    if (!last) return;
    __threadfence();
    for (int e = threadIdx.x; e < nh * D; e += blockDim.x) {
        const int g = e / D, i = e % D;
        const size_t base = ((size_t)b * heads + h0 + g) * zs;
        float M = -INFINITY, num = 0.f, den = 0.f;
        for (int s = 0; s < zs; s++) M = fmaxf(M, __ldcg(part_ml + 2 * (base + s)));
        for (int s = 0; s < zs; s++) {
            const float ms = __ldcg(part_ml + 2 * (base + s)), w = ms == -INFINITY ? 0.f : __expf(ms - M);
            num += w * __ldcg(part_o + (base + s) * D + i);
            den += w * __ldcg(part_ml + 2 * (base + s) + 1);
        }
        out[((size_t)b * heads + h0 + g) * D + i] = __float2bfloat16(num / den);
    }
}

/* Decode attention a q head at a time (small batches; k_attn_decode_gqa below for large ones).
 * One query token per sequence: grid (heads, batch, key splits), 256 threads (8 warps).
 * q (batch, heads*D); caches (batch, max_ctx, kvd); keys 0..L-1 with L = *posp + 1 read on the
 * device (a captured decode graph replays at every position); scores in dynamic shared memory
 * (ceil(L / splits) floats) plus 8*D floats of per-warp partial outputs. Warps split the keys, lanes the head dimension
 * (D/32 <= 8 contiguous elements each), so every K and V row is one coalesced warp load and
 * each warp has L/8 independent loads in flight (a thread looping over all L keys alone was
 * latency-bound: ~6 ms of an 8B decode step at 512 context, run 2). */
__global__ void k_attn_decode(const bf16 *q, const bf16 *kc, const bf16 *vc, bf16 *out, int heads, int group, int D,
                              int kvd, int max_ctx, const int *posp, float scale, float *part_o, float *part_ml,
                              int *arrived) {
    extern __shared__ float sm[];
    __shared__ float red[32];
    sp_pdl_wait();
    sp_pdl_trigger();
    const int L = *posp + 1;
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
        else part_o[slot * D + i] = o; /* unnormalised, with (max, sum) of this split */
    }
    if (gridDim.z == 1) return;
    if (threadIdx.x == 0) part_ml[2 * slot] = m, part_ml[2 * slot + 1] = sum;
    sp_attn_merge_splits(out, part_o, part_ml, arrived, b, heads, h, 1, D, (int)gridDim.z);
}

/* PER (1, 2, 4 or a multiple of 4) bf16 as floats, in 2-, 4- or 8-byte loads */
template <int PER>
__device__ __forceinline__ void sp_ld_bf16(float *f, const bf16 *p) {
    if (PER == 1) {
        f[0] = __bfloat162float(p[0]);
    } else if (PER == 2) {
        float2 v = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(p));
        f[0] = v.x, f[1] = v.y;
    } else {
#pragma unroll
        for (int i = 0; i < PER; i += 4) {
            const float4 u = sp_unpack4(*reinterpret_cast<const uint2 *>(p + i));
            f[i] = u.x, f[i + 1] = u.y, f[i + 2] = u.z, f[i + 3] = u.w;
        }
    }
}

#define SP_ATT_GMAX 8         /* most q heads a kv head (GQA group) the decode attention takes */
#define SP_ATT_CHUNK_MAX 2048 /* most keys of one decode attention block (its scores are in shared memory) */
/* bytes of dynamic shared memory of either decode attention (group 1 for k_attn_decode): the
 * scores of group heads for chunk keys, then 8 warps x group x D partial outputs (floats) */
static inline size_t sp_attn_decode_smem(int chunk, int D, int group) {
    return ((size_t)group * ((chunk + 3) / 4 * 4) + 8 * (size_t)group * D) * 4;
}


/* Decode attention for large batches (one query row a sequence): grid (kv heads, batch, key
 * splits), 256 threads; q (batch, heads*D), caches (batch, max_ctx, kvd), keys 0..L-1 with L = *posp + 1 read on the
 * device (a captured decode graph replays at every position); dynamic shared memory
 * sp_attn_decode_smem(ceil(L / splits), D, group). A block takes one kv head, one sequence and
 * one share of the keys: the group q heads of the kv head are computed together, so each
 * K and V row is read once for all of them (GQA: 4 q heads a kv head in Llama-3-8B; a block a q
 * head read them 4 times and ran 4 dependent shuffle chains where one now carries 4 heads).
 * Warps take keys, lanes PER = D / 32 dims of each; the loops are built for G >= group heads
 * (2, 4 or 8). Scores in shared memory (group, chunk), then the softmax of all heads, then
 * P V. With splits, each block writes its unnormalised output and
 * (max, sum) per head; the last block of a (sequence, kv head) to finish merges them. */
template <int PER, int G>
__global__ void k_attn_decode_gqa(const bf16 *q, const bf16 *kc, const bf16 *vc, bf16 *out, int heads, int group, int D,
                                  int kvd, int max_ctx, const int *posp, float scale, float *part_o, float *part_ml,
                                  int *arrived) {
    extern __shared__ float sm[];
    __shared__ float red[32 * G];
    sp_pdl_wait();
    sp_pdl_trigger();
    const int L = *posp + 1;
    const int chunk = (L + gridDim.z - 1) / gridDim.z, j0 = blockIdx.z * chunk;
    const int Ls = max(0, min(chunk, L - j0)), cs = (chunk + 3) & ~3;
    float *sc = sm, *part = sm + (size_t)group * cs; /* sc: (group, cs); part: (warps, group, D) */
    const int hk = blockIdx.x, b = blockIdx.y, h0 = hk * group, qd = heads * D;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nw = blockDim.x >> 5;
    float qv[G][PER];
#pragma unroll
    for (int g = 0; g < G; g++) {
        if (g < group) sp_ld_bf16<PER>(qv[g], q + (size_t)b * qd + (h0 + g) * D + lane * PER);
        else
#pragma unroll
            for (int i = 0; i < PER; i++) qv[g][i] = 0.f;
    }
    const bf16 *K = kc + ((size_t)b * max_ctx + j0) * kvd + hk * D + lane * PER;
    const bf16 *V = vc + ((size_t)b * max_ctx + j0) * kvd + hk * D + lane * PER;
#pragma unroll 4
    for (int j = warp; j < Ls; j += nw) {
        float k[PER], s[G];
        sp_ld_bf16<PER>(k, K + (size_t)j * kvd);
#pragma unroll
        for (int g = 0; g < G; g++) {
            s[g] = 0.f;
#pragma unroll
            for (int i = 0; i < PER; i++) s[g] += qv[g][i] * k[i];
        }
#pragma unroll
        for (int o = 16; o; o >>= 1)
#pragma unroll
            for (int g = 0; g < G; g++)
                if (g < group) s[g] += __shfl_xor_sync(0xffffffffu, s[g], o);
        if (lane < group) { /* lane g writes head g's score (no dynamic register index) */
            float v = s[0];
#pragma unroll
            for (int g = 1; g < G; g++) if (lane == g) v = s[g];
            sc[(size_t)lane * cs + j] = v * scale;
        }
    }
    __syncthreads();
    float mg[G], sum[G]; /* softmax of every head's scores at once, in place */
#pragma unroll
    for (int g = 0; g < G; g++) mg[g] = -INFINITY, sum[g] = 0.f;
    for (int j = threadIdx.x; j < Ls; j += blockDim.x)
#pragma unroll
        for (int g = 0; g < G; g++)
            if (g < group) mg[g] = fmaxf(mg[g], sc[(size_t)g * cs + j]);
    sp_block_reduce<true, G>(mg, red, group);
    for (int j = threadIdx.x; j < Ls; j += blockDim.x)
#pragma unroll
        for (int g = 0; g < G; g++)
            if (g < group) {
                const float e = __expf(sc[(size_t)g * cs + j] - mg[g]);
                sc[(size_t)g * cs + j] = e;
                sum[g] += e;
            }
    sp_block_reduce<false, G>(sum, red, group); /* its barriers also publish sc */
    float acc[G][PER];
#pragma unroll
    for (int g = 0; g < G; g++)
#pragma unroll
        for (int i = 0; i < PER; i++) acc[g][i] = 0.f;
#pragma unroll 4
    for (int j = warp; j < Ls; j += nw) {
        float v[PER];
        sp_ld_bf16<PER>(v, V + (size_t)j * kvd);
#pragma unroll
        for (int g = 0; g < G; g++)
            if (g < group) {
                const float p = sc[(size_t)g * cs + j];
#pragma unroll
                for (int i = 0; i < PER; i++) acc[g][i] += p * v[i];
            }
    }
    /* reduce over warps, every head at once: part (warps, group, D) */
#pragma unroll
    for (int g = 0; g < G; g++)
        if (g < group)
#pragma unroll
            for (int i = 0; i < PER; i++) part[((size_t)warp * group + g) * D + lane * PER + i] = acc[g][i];
    const size_t zs = gridDim.z;
    if (zs > 1 && threadIdx.x < group) { /* (max, sum) of this split, head threadIdx.x */
        float m = mg[0], su = sum[0];
#pragma unroll
        for (int g = 1; g < G; g++) if ((int)threadIdx.x == g) m = mg[g], su = sum[g];
        const size_t slot = ((size_t)b * heads + h0 + threadIdx.x) * zs + blockIdx.z;
        part_ml[2 * slot] = m, part_ml[2 * slot + 1] = su;
    }
    __syncthreads();
    for (int e = threadIdx.x; e < group * D; e += blockDim.x) {
        const int g = e / D, i = e % D, h = h0 + g;
        float o = 0.f;
        for (int w = 0; w < nw; w++) o += part[((size_t)w * group + g) * D + i];
        if (zs == 1) {
            float su = sum[0];
#pragma unroll
            for (int gg = 1; gg < G; gg++) if (gg == g) su = sum[gg];
            out[(size_t)b * qd + h * D + i] = __float2bfloat16(o / su);
        } else {
            part_o[(((size_t)b * heads + h) * zs + blockIdx.z) * D + i] = o; /* unnormalised */
        }
    }
    if (zs == 1) return;
    sp_attn_merge_splits(out, part_o, part_ml, arrived, b, heads, h0, group, D, (int)zs); /* the group's heads, merged together */
}

/* out = silu(g) * u over rows of h8 16-byte words (8 elements a thread); g and u rows are ld8
 * words apart (both halves of one stacked gate|up row, or two separate buffers); out is dense
 * and may be g */
__global__ void k_swiglu(bf16 *out, const bf16 *g, const bf16 *u, int rows, int h8, int ld8) {
    sp_pdl_wait();
    sp_pdl_trigger();
    const unsigned n8 = (unsigned)rows * h8;
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < n8; i += gridDim.x * blockDim.x) {
        const size_t in = (size_t)(i / h8) * ld8 + i % h8;
        uint4 a = reinterpret_cast<const uint4 *>(g)[in], b = reinterpret_cast<const uint4 *>(u)[in];
        uint32_t *pa = &a.x;
        const uint32_t *pb = &b.x;
        for (int k = 0; k < 4; k++) {
            float2 x = __bfloat1622float2(*reinterpret_cast<__nv_bfloat162 *>(pa + k));
            float2 y = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(pb + k));
            __nv_bfloat162 r = __floats2bfloat162_rn(x.x / (1.f + __expf(-x.x)) * y.x, x.y / (1.f + __expf(-x.y)) * y.y);
            pa[k] = *reinterpret_cast<uint32_t *>(&r);
        }
        reinterpret_cast<uint4 *>(out)[i] = a;
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
