/* sp24_build.cu: the 2:4 fragment layout (see sp24_gemv.cu) made on the device from a
 * masked dense bf16 weight already there, so multi-GB models (the synthetic 8B) never
 * round-trip through the host. Same kept-index rule as the host path: the nonzeros of
 * each group of 4, padded with zero values to two ascending indices. */
#include "common.cuh"

/* kept indices i0 < i1 of the 4 raw bf16 at g; returns the number of nonzeros */
__device__ __forceinline__ int sp24_pick(const uint16_t *g, int &i0, int &i1) {
    int nz[4], c = 0;
    for (int j = 0; j < 4; j++)
        if (g[j] & 0x7fff) nz[c < 4 ? c : 3] = j, c++;
    if (c >= 2) { i0 = nz[0]; i1 = nz[1]; }
    else if (c == 1) { i0 = nz[0] < 3 ? nz[0] : 2; i1 = 3; } /* pad with a zero slot */
    else { i0 = 0; i1 = 1; }
    return c;
}

__global__ void sp24_build_vals(const uint16_t *__restrict__ d, uint4 *__restrict__ v, int M, int K, int KS,
                                size_t total, int *bad) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= total) return;
    int lane = (int)(i % 32), s = (int)((i / 32) % KS), rt = (int)(i / 32 / KS);
    int g = lane >> 2, t = lane & 3;
    uint32_t out[4];
    for (int q = 0; q < 4; q++) {
        int r = rt * 16 + g + (q & 1) * 8, grp = 8 * s + t + (q >> 1) * 4;
        out[q] = 0;
        if (r >= M || grp * 4 >= K) continue;
        const uint16_t *p = d + (size_t)r * K + 4 * grp;
        int i0, i1;
        if (sp24_pick(p, i0, i1) > 2) atomicExch(bad, 1);
        out[q] = (uint32_t)p[i0] | ((uint32_t)p[i1] << 16);
    }
    v[i] = make_uint4(out[0], out[1], out[2], out[3]);
}

__device__ __forceinline__ uint32_t sp24_meta16(const uint16_t *d, int M, int K, int r, int blk) {
    if (r >= M || blk * 16 >= K) return 0x4444;
    uint32_t m = 0;
    for (int j = 0; j < 4; j++) {
        int i0, i1;
        sp24_pick(d + (size_t)r * K + 16 * blk + 4 * j, i0, i1);
        m |= (uint32_t)(i0 | (i1 << 2)) << (4 * j);
    }
    return m;
}

__global__ void sp24_build_meta(const uint16_t *__restrict__ d, uint4 *__restrict__ m, int M, int K, int KM,
                                size_t total) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= total) return;
    int lane = (int)(i % 32), ms = (int)((i / 32) % KM), rt = (int)(i / 32 / KM);
    int g = lane >> 2, t = lane & 3, r0 = rt * 16 + g;
    uint32_t out[4];
    for (int q = 0; q < 4; q++) {
        int step = 8 * ms + 2 * q + (t >> 1), blk = 2 * step + (t & 1);
        out[q] = sp24_meta16(d, M, K, r0, blk) | (sp24_meta16(d, M, K, r0 + 8, blk) << 16);
    }
    m[i] = make_uint4(out[0], out[1], out[2], out[3]);
}

int sp24_upload_dev(sp_cuda_weight *w, const void *dense_dev, sp_cuda_ctx *c) {
    const int RT = w->mp / 16, KS = w->kp / 32, KM = w->kp / 256;
    const size_t nv = (size_t)RT * KS * 32, nm = (size_t)RT * KM * 32;
    int *bad = NULL, hbad = 0;
    SP_CU(cudaMalloc(&w->v24, nv * 16));
    SP_CU(cudaMalloc(&w->m24, nm * 16));
    SP_CU(cudaMalloc(&bad, sizeof(int)));
    SP_CU(cudaMemsetAsync(bad, 0, sizeof(int), c->stream));
    const uint16_t *d = (const uint16_t *)dense_dev;
    sp24_build_vals<<<(unsigned)((nv + 255) / 256), 256, 0, c->stream>>>(d, w->v24, w->out, w->in, KS, nv, bad);
    sp24_build_meta<<<(unsigned)((nm + 255) / 256), 256, 0, c->stream>>>(d, w->m24, w->out, w->in, KM, nm);
    SP_CU(cudaGetLastError());
    SP_CU(cudaMemcpyAsync(&hbad, bad, sizeof(int), cudaMemcpyDeviceToHost, c->stream));
    SP_CU(cudaStreamSynchronize(c->stream));
    cudaFree(bad);
    w->bytes = (nv + nm) * 16;
    if (hbad) return sp_error(SP_ERR_FORMAT, "sp_cuda 2:4 upload: a group of 4 holds more than 2 nonzeros");
    return 0;
}
