/* bitmap_gemv.cu: unstructured sparse decode GEMM, y (n, out) = x (n, in) W^T for
 * n <= 16 per launch, on dense tensor cores (mma m16n8k16 bf16) after rebuilding each
 * 16x64 weight tile in registers from a bitmap.
 *
 * Device format ("tiled bitmap", made at upload):
 *   bm[rt][kt][lane] (uint32): tile = rows 16rt..16rt+15, columns 64kt..64kt+63; lane = 4g+t
 *     owns the 32 elements of its four m16n8k16 A fragments: bit 8q+e is k16 step q and
 *     fragment element e (row 16rt+g+8*((e>>1)&1), column 64kt+16q+2t+(e&1)+8*(e>>2)).
 *   bvals: the tile's nonzeros, lane 0's in bit order, then lane 1's, ...; each tile
 *     padded to a multiple of 8 values; boff[tile] = start in 16-byte units (boff[last]
 *     = total). Bytes: 2 per nonzero + 1/8 per element + 4 per 1024 elements.
 * A warp loads a tile's values with coalesced 16-byte loads (next tile prefetched into
 * registers), parks them in its shared-memory slot, and each lane picks its own with a
 * popcount prefix over the quad. */
#include <stdlib.h>
#include <string.h>

#include "common.cuh"

int spbm_upload(sp_cuda_weight *w, const uint16_t *dense) {
    const int M = w->out, K = w->in, RT = w->mp / 16, KT = w->kp / 64;
    const size_t ntiles = (size_t)RT * KT;
    uint32_t *hbm = (uint32_t *)calloc(ntiles * 32, 4);
    uint32_t *hoff = (uint32_t *)malloc((ntiles + 1) * 4);
    size_t cap = 1 << 20, nv = 0; /* values written so far (bf16 units) */
    uint16_t *hv = (uint16_t *)malloc(cap * 2);
    if (!hbm || !hoff || !hv) { free(hbm); free(hoff); free(hv); return sp_error(SP_ERR_NOMEM, "spbm_upload: out of host memory"); }
    for (size_t tile = 0; tile < ntiles; tile++) {
        int rt = (int)(tile / KT), kt = (int)(tile % KT);
        hoff[tile] = (uint32_t)(nv / 8);
        if (cap < nv + 1024 + 8) {
            cap *= 2;
            uint16_t *nvp = (uint16_t *)realloc(hv, cap * 2);
            if (!nvp) { free(hbm); free(hoff); free(hv); return sp_error(SP_ERR_NOMEM, "spbm_upload: out of host memory"); }
            hv = nvp;
        }
        for (int lane = 0; lane < 32; lane++) {
            int g = lane >> 2, t = lane & 3;
            uint32_t m = 0;
            for (int q = 0; q < 4; q++)
                for (int e = 0; e < 8; e++) {
                    int row = rt * 16 + g + 8 * ((e >> 1) & 1);
                    int col = kt * 64 + 16 * q + 2 * t + (e & 1) + 8 * (e >> 2);
                    if (row >= M || col >= K) continue;
                    uint16_t v = dense[(size_t)row * K + col];
                    if ((v & 0x7fff) == 0) continue; /* +0 and -0 are dropped */
                    m |= 1u << (8 * q + e);
                    hv[nv++] = v;
                }
            hbm[tile * 32 + lane] = m;
        }
        while (nv % 8) hv[nv++] = 0;
    }
    hoff[ntiles] = (uint32_t)(nv / 8);
    int rc = 0;
    if (sp_dev_copy(&w->bm, hbm, ntiles * 32 * 4) || sp_dev_copy(&w->boff, hoff, (ntiles + 1) * 4) ||
        sp_dev_copy(&w->bvals, hv, nv * 2))
        rc = sp_error(SP_ERR_NOMEM, "spbm_upload: device allocation/copy failed");
    w->bytes = ntiles * 32 * 4 + (ntiles + 1) * 4 + nv * 2;
    free(hbm);
    free(hoff);
    free(hv);
    return rc;
}

/* One tile's loads: lane mask word, up to 4 uint4 of the tile's values. */
struct spbm_tile {
    uint32_t mask;
    int cnt16;
    uint4 v[4];
};

template <int NT>
__global__ void __launch_bounds__(SP_THREADS, 2)
spbm_kernel(const uint32_t *__restrict__ bm, const uint32_t *__restrict__ boff,
            const uint4 *__restrict__ bvals, const __nv_bfloat16 *__restrict__ x,
            __nv_bfloat16 *__restrict__ y, float *ws, unsigned *counters, int n, int M, int Mp, int K,
            int KM, int rpb, int splits, int xs_words, int pf) {
    extern __shared__ uint4 smem4[];
    uint32_t *xs = reinterpret_cast<uint32_t *>(smem4);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    uint4 *wbuf = smem4 + xs_words / 4 + warp * 128; /* this warp's 2 KB tile slot */
    const uint16_t *wv = reinterpret_cast<const uint16_t *>(wbuf);
    const int kw = SP_WARPS / rpb, rpb_i = warp % rpb, kwi = warp / rpb;
    const int rt = blockIdx.x * rpb + rpb_i;
    int m0, m1;
    sp_split_range(KM, splits, blockIdx.y, &m0, &m1);
    const bool active = rt * 16 < Mp;
    const int KT = KM * 4;
    /* this warp's tiles: macro steps m0+kwi, +kw, ...; 4 tiles each */
    const int nms = m1 > m0 + kwi ? (m1 - m0 - kwi + kw - 1) / kw : 0;
    const int ntile = active ? nms * 4 : 0;
    auto tile_of = [&](int it) { return (m0 + kwi + (it >> 2) * kw) * 4 + (it & 3); };

    float acc[NT][4];
#pragma unroll
    for (int nt = 0; nt < NT; nt++) acc[nt][0] = acc[nt][1] = acc[nt][2] = acc[nt][3] = 0.f;

    const int steps32 = (m1 - m0) * 8;
    /* tile offsets: lane j <= 4 holds boff of tile 4*ms + j for the current (oc) and the
     * next (on) macro step, so value loads never wait on an offset load */
    auto load_off = [&](int it) -> uint32_t {
        if (it >= ntile || lane > 4) return 0;
        return __ldg(boff + (size_t)rt * KT + tile_of(it) + lane);
    };
    uint32_t oc = load_off(0), on = load_off(4), onn = load_off(8);
    /* L2 prefetch of a macro step's masks (512 B) and values, given its offsets o */
    auto prefetch = [&](int it, uint32_t o) {
        if (it >= ntile) return;
        uint32_t a = __shfl_sync(0xffffffffu, o, 0), b = __shfl_sync(0xffffffffu, o, 4);
        sp_prefetch_l2(bm + ((size_t)rt * KT + tile_of(it)) * 32, 512);
        sp_prefetch_l2(bvals + a, (b - a) * 16);
    };
    if (pf) prefetch(4, on);
    auto load = [&](spbm_tile &d, int it, uint32_t ocur) {
        size_t tile = (size_t)rt * KT + tile_of(it);
        int j = it & 3;
        uint32_t o0 = __shfl_sync(0xffffffffu, ocur, j), o1 = __shfl_sync(0xffffffffu, ocur, j + 1);
        d.cnt16 = (int)(o1 - o0);
        d.mask = __ldg(bm + tile * 32 + lane);
#pragma unroll
        for (int i = 0; i < 4; i++)
            d.v[i] = (i * 32 + lane < d.cnt16) ? sp_ld_stream(bvals + o0 + i * 32 + lane) : make_uint4(0, 0, 0, 0);
    };
    auto compute = [&](const spbm_tile &d, int it) {
        __syncwarp();
#pragma unroll
        for (int i = 0; i < 4; i++)
            if (i * 32 + lane < d.cnt16) wbuf[i * 32 + lane] = d.v[i];
        __syncwarp();
        uint32_t m = d.mask;
        int cnt = __popc(m), incl = cnt;
#pragma unroll
        for (int dd = 1; dd < 32; dd <<= 1) {
            int v = __shfl_up_sync(0xffffffffu, incl, dd);
            if (lane >= dd) incl += v;
        }
        int off = incl - cnt;
        uint32_t fr[16];
#pragma unroll
        for (int p = 0; p < 16; p++) {
            uint32_t lo = 0, hi = 0;
            if ((m >> (2 * p)) & 1) lo = wv[off++];
            if ((m >> (2 * p + 1)) & 1) hi = wv[off++];
            fr[p] = lo | (hi << 16);
        }
        const int sl = (tile_of(it) - m0 * 4) * 2; /* local 32-column step of the tile */
#pragma unroll
        for (int h = 0; h < 2; h++)
#pragma unroll
            for (int nt = 0; nt < NT; nt++) {
                uint32_t b[4];
                sp_load_b(b, xs, sl + h, n, nt, steps32);
                sp_mma_dense(acc[nt], fr[8 * h + 0], fr[8 * h + 1], fr[8 * h + 2], fr[8 * h + 3], b[0], b[1]);
                sp_mma_dense(acc[nt], fr[8 * h + 4], fr[8 * h + 5], fr[8 * h + 6], fr[8 * h + 7], b[2], b[3]);
            }
    };
    spbm_tile A, B;
    if (ntile > 0) load(A, 0, oc);
    sp_stage_x(xs, x, n, K, m0 * 256, steps32);
    sp_stage_wait();
    /* tile it+1 is loaded while tile it is decoded; offsets roll every 4 tiles */
    for (int it = 0; it < ntile; it++) {
        int nx = it + 1;
        if ((nx & 3) == 0) {
            oc = on;
            on = onn;
            onn = load_off(nx + 8);
            if (pf) prefetch(nx + 4, on);
        }
        if (it & 1) {
            if (nx < ntile) load(A, nx, oc);
            compute(B, it);
        } else {
            if (nx < ntile) load(B, nx, oc);
            compute(A, it);
        }
    }
    sp_epilogue<NT>(acc, reinterpret_cast<float *>(smem4), rt, kwi, kw, rpb_i, M, Mp, n, y, ws, counters,
                    splits);
}

int spbm_run(const sp_cuda_weight *w, const __nv_bfloat16 *x, int n, __nv_bfloat16 *y, sp_cuda_ctx *c) {
    sp_plan p;
    int rc = sp_plan_make(w, n, c, &p);
    if (rc) return rc;
    const int KM = w->kp / 256, RT = w->mp / 16;
    const int xs_words = (int)(((p.smem + 15) / 16) * 4); /* x staging, 16-byte aligned */
    const size_t smem = (size_t)xs_words * 4 + SP_WARPS * 2048;
    dim3 grid((RT + p.rpb - 1) / p.rpb, p.splits);
    static size_t allowed[2];
    auto k = p.nt == 1 ? spbm_kernel<1> : spbm_kernel<2>;
    SP_CHK(sp_allow_smem(k, smem, &allowed[p.nt - 1]));
    k<<<grid, SP_THREADS, smem, c->stream>>>(w->bm, w->boff, w->bvals, x, y, w->ws, w->counters, n, w->out, w->mp, w->in, KM,
                                             p.rpb, p.splits, xs_words, p.pf_bitmap);
    SP_CU(cudaGetLastError());
    return 0;
}
