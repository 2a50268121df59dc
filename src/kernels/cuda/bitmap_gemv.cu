/* bitmap_gemv.cu: unstructured sparse decode GEMM, y (n, out) = x (n, in) W^T for
 * n <= 16 per launch, on dense tensor cores (mma m16n8k16 bf16) after rebuilding each
 * 16x64 weight tile in registers from a bitmap.
 *
 * Device format ("streamed tiled bitmap", made at upload): for each row tile rt (rows
 * 16rt..16rt+15) its column tiles kt (columns 64kt..64kt+63) follow one another in one
 * byte stream, each tile as
 *   mask[32] (uint32): lane = 4g+t owns the 32 elements of its four m16n8k16 A fragments:
 *     bit 8q+e is k16 step q, fragment element e (row 16rt+g+8*((e>>1)&1), column
 *     64kt+16q+2t+(e&1)+8*(e>>2));
 *   the tile's nonzeros (bf16): lane 0's in bit order, then lane 1's, ..., padded with
 *     zeros to a multiple of 16 bytes.
 * boff[rt*KT + kt] = the tile's start in 16-byte units (boff[RT*KT] = total). Bytes per
 * element: 1/8 (mask) + 2 x density + ~8/1024 (padding) + 4/1024 (offsets).
 *
 * Why a stream: a tile's length is only known after its mask is read, so a kernel that
 * loads tile by tile waits on that chain and keeps few bytes in flight (the previous
 * version reached 0.4-1.3 TB/s). Here each warp owns a contiguous range of tiles of one
 * row tile, i.e. a contiguous byte range, and copies it blindly with cp.async into a
 * per-warp ring in shared memory, SP_BM_D chunks of 512 bytes ahead, while it decodes
 * whatever tiles are already complete. Decoding a tile: each lane popcounts its mask, a
 * warp scan gives its value offset, and it picks its fragment elements out of the ring. */
#include <stdlib.h>
#include <string.h>

#include <algorithm>

#include "common.cuh"

#define SP_BM_CH 512            /* ring chunk: one 16-byte cp.async per lane */
#define SP_BM_S 8               /* ring chunks per warp (4 KB) */
#define SP_BM_D 3               /* chunks in flight; S >= D + 5 (a tile spans <= 6 chunks) */
#define SP_BM_RING (SP_BM_S * SP_BM_CH)

int spbm_upload(sp_cuda_weight *w, const uint16_t *dense) {
    const int M = w->out, K = w->in, RT = w->mp / 16, KT = w->kp / 64;
    const size_t ntiles = (size_t)RT * KT;
    uint32_t *hoff = (uint32_t *)malloc((ntiles + 1) * 4);
    size_t cap = 1 << 20, nb = 0; /* stream bytes written so far */
    uint8_t *hs = (uint8_t *)malloc(cap);
    if (!hoff || !hs) { free(hoff); free(hs); return sp_error(SP_ERR_NOMEM, "spbm_upload: out of host memory"); }
    for (size_t tile = 0; tile < ntiles; tile++) {
        int rt = (int)(tile / KT), kt = (int)(tile % KT);
        hoff[tile] = (uint32_t)(nb / 16);
        if (cap < nb + 128 + 2048 + 16) {
            cap *= 2;
            uint8_t *p = (uint8_t *)realloc(hs, cap);
            if (!p) { free(hoff); free(hs); return sp_error(SP_ERR_NOMEM, "spbm_upload: out of host memory"); }
            hs = p;
        }
        uint32_t *mask = (uint32_t *)(hs + nb);
        uint16_t *v = (uint16_t *)(hs + nb + 128);
        size_t nv = 0;
        for (int lane = 0; lane < 32; lane++) {
            int g = lane >> 2, t = lane & 3;
            uint32_t m = 0;
            for (int q = 0; q < 4; q++)
                for (int e = 0; e < 8; e++) {
                    int row = rt * 16 + g + 8 * ((e >> 1) & 1);
                    int col = kt * 64 + 16 * q + 2 * t + (e & 1) + 8 * (e >> 2);
                    if (row >= M || col >= K) continue;
                    uint16_t x = dense[(size_t)row * K + col];
                    if ((x & 0x7fff) == 0) continue; /* +0 and -0 are dropped */
                    m |= 1u << (8 * q + e);
                    v[nv++] = x;
                }
            mask[lane] = m;
        }
        while (nv % 8) v[nv++] = 0;
        nb += 128 + nv * 2;
    }
    hoff[ntiles] = (uint32_t)(nb / 16);
    int rc = 0;
    if (cudaMalloc(&w->bs, nb) != cudaSuccess || cudaMalloc(&w->boff, (ntiles + 1) * 4) != cudaSuccess ||
        cudaMemcpy(w->bs, hs, nb, cudaMemcpyHostToDevice) != cudaSuccess ||
        cudaMemcpy(w->boff, hoff, (ntiles + 1) * 4, cudaMemcpyHostToDevice) != cudaSuccess)
        rc = sp_error(SP_ERR_NOMEM, "spbm_upload: device allocation/copy of %zu bytes failed", nb);
    w->bytes = nb + (ntiles + 1) * 4;
    free(hoff);
    free(hs);
    return rc;
}

/* Warp (rpb_i, kwi) of block (bx, by): row tile rt = bx*rpb + rpb_i, macro steps (256
 * columns) [a, b) = its kwi-th share of the block's range [by*spb, by*spb + spb). */
template <int NT>
__global__ void __launch_bounds__(SP_THREADS, NT == 1 ? 4 : 3) /* NT 2: 64 registers spilled */
spbm_kernel(const uint4 *__restrict__ bs, const uint32_t *__restrict__ boff,
            const __nv_bfloat16 *__restrict__ x, __nv_bfloat16 *__restrict__ y, float *ws,
            unsigned *counters, int n, int M, int Mp, int K, int KM, int rpb, int spb, int splits,
            int xs_bytes) {
    extern __shared__ uint4 smem4[];
    uint32_t *xs = reinterpret_cast<uint32_t *>(smem4);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int kw = SP_WARPS / rpb, rpb_i = warp % rpb, kwi = warp / rpb;
    const int rt = blockIdx.x * rpb + rpb_i;
    const int m0 = blockIdx.y * spb, m1 = min(KM, m0 + spb);
    const int per = (m1 - m0 + kw - 1) / kw;
    const int a = min(m1, m0 + kwi * per), b = min(m1, a + per);
    const bool active = rt * 16 < Mp && a < b;
    char *ring = reinterpret_cast<char *>(smem4) + xs_bytes + warp * SP_BM_RING;
    /* lane-private fragment slot after the rings; 16-byte chunks swizzled by lane so the
     * vector read-back of 8 neighbouring lanes hits 8 different bank groups */
    char *slot = reinterpret_cast<char *>(smem4) + xs_bytes + SP_WARPS * SP_BM_RING + threadIdx.x * 64;
    const int sw = (lane >> 1) & 3;
    const uint32_t ring_s = (uint32_t)__cvta_generic_to_shared(ring);
    const int KT = KM * 4;

    /* this warp's byte range of the stream */
    uint32_t start = 0, total = 0;
    if (active) {
        start = __ldg(boff + (size_t)rt * KT + 4 * a);
        total = (__ldg(boff + (size_t)rt * KT + 4 * b) - start) * 16;
    }
    const char *src = reinterpret_cast<const char *>(bs + start);
    /* chunk c -> ring slot c % S; lanes past the range copy nothing; always one commit
     * group per chunk, so wait_group D-1 means "the oldest chunk is complete" */
    auto issue = [&](uint32_t c) {
        uint32_t off = c * SP_BM_CH + lane * 16;
        if (off < total) {
            uint32_t dst = ring_s + (c % SP_BM_S) * SP_BM_CH + lane * 16;
            asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(dst), "l"(src + off));
        }
        asm volatile("cp.async.commit_group;");
    };
    auto ring16 = [&](uint32_t o) -> uint32_t { return *reinterpret_cast<const uint16_t *>(ring + (o % SP_BM_RING)); };

    float acc[NT][4];
#pragma unroll
    for (int nt = 0; nt < NT; nt++) acc[nt][0] = acc[nt][1] = acc[nt][2] = acc[nt][3] = 0.f;

    /* x: the block's columns, one cp.async group, waited for by the whole block; the ring
     * prologue goes first so its loads overlap the x staging */
    for (int c = 0; c < SP_BM_D; c++) issue(c);
    const int steps32 = (m1 - m0) * 8;
    sp_stage_x(xs, x, n, K, m0 * 256, steps32);
    sp_stage_wait();

    uint32_t cur = 0; /* stream offset of the next tile */
    int tile = 4 * a - 4 * m0; /* its column tile, local to the block */
    for (uint32_t done = 0; active && cur < total; done++) {
        asm volatile("cp.async.wait_group %0;" ::"n"(SP_BM_D - 1));
        __syncwarp();
        const uint32_t avail = (done + 1) * SP_BM_CH;
        while (cur < total && cur + 128 <= avail) {
            uint32_t m = *reinterpret_cast<const uint32_t *>(ring + ((cur + 4 * lane) % SP_BM_RING));
            int cnt = __popc(m), incl = cnt;
#pragma unroll
            for (int d = 1; d < 32; d <<= 1) {
                int v = __shfl_up_sync(0xffffffffu, incl, d);
                if (lane >= d) incl += v;
            }
            const uint32_t len = 128 + ((uint32_t)__shfl_sync(0xffffffffu, incl, 31) * 2 + 15) / 16 * 16;
            if (cur + len > avail) break; /* values not all in yet */
            /* scatter this lane's nonzeros into its private 64-byte slot (the 32 fragment
             * halves, zeroed first), one loop turn per nonzero, then read the 16 fragment
             * registers back with 4 vector loads; costs ~12 instructions a nonzero instead
             * of ~6 an element (ncu: the per-element version issued ~400 a tile) */
#pragma unroll
            for (int q = 0; q < 4; q++) *reinterpret_cast<uint4 *>(slot + ((q ^ sw) << 4)) = make_uint4(0, 0, 0, 0);
            uint32_t o = cur + 128 + 2 * (incl - cnt);
            for (uint32_t mm = m; mm; mm &= mm - 1, o += 2) {
                int e = __ffs(mm) - 1;
                *reinterpret_cast<uint16_t *>(slot + (((e >> 3) ^ sw) << 4) + ((e & 7) << 1)) = (uint16_t)ring16(o);
            }
            uint32_t fr[16];
#pragma unroll
            for (int q = 0; q < 4; q++) {
                uint4 r = *reinterpret_cast<const uint4 *>(slot + ((q ^ sw) << 4));
                fr[4 * q] = r.x, fr[4 * q + 1] = r.y, fr[4 * q + 2] = r.z, fr[4 * q + 3] = r.w;
            }
#pragma unroll
            for (int h = 0; h < 2; h++)
#pragma unroll
                for (int nt = 0; nt < NT; nt++) {
                    uint32_t bb[4];
                    sp_load_b(bb, xs, tile * 2 + h, n, nt, steps32);
                    sp_mma_dense(acc[nt], fr[8 * h + 0], fr[8 * h + 1], fr[8 * h + 2], fr[8 * h + 3], bb[0], bb[1]);
                    sp_mma_dense(acc[nt], fr[8 * h + 4], fr[8 * h + 5], fr[8 * h + 6], fr[8 * h + 7], bb[2], bb[3]);
                }
            cur += len;
            tile++;
        }
        __syncwarp(); /* every lane is done with the slot the next chunk overwrites */
        issue(done + SP_BM_D);
    }
    asm volatile("cp.async.wait_group 0;");
    sp_epilogue<NT>(acc, reinterpret_cast<float *>(smem4), rt, kwi, kw, rpb_i, M, Mp, n, y, ws, counters,
                    splits);
}

/* Launch plan: all blocks in one wave (4 resident per SM for n <= 8, else 2, by shared
 * memory), as many warps as that allows, x staged once per block (fewer row tiles per
 * block for few tokens, more when x is large). */
static void spbm_plan(const sp_cuda_weight *w, int n, const sp_cuda_ctx *c, sp_plan *p) {
    const int KM = w->kp / 256, RT = w->mp / 16;
    const int slots = (n <= 8 ? 4 : 2) * c->sm_count;
    p->nt = n <= 8 ? 1 : 2;
    p->rpb = c->cfg_rpb;
    if (!p->rpb)
        for (p->rpb = n <= 4 ? 1 : n <= 8 ? 2 : 4; p->rpb < 8 && (RT + p->rpb - 1) / p->rpb > slots; p->rpb *= 2) {}
    p->kw = SP_WARPS / p->rpb;
    const int row_blocks = (RT + p->rpb - 1) / p->rpb;
    const int spb_cap = std::max(1, (64 * 1024) / ((n + 1) * 512)); /* x staging <= 64 KB */
    int splits = c->cfg_splits ? c->cfg_splits : std::min(slots / row_blocks, KM / p->kw); /* >= 1 macro step a warp */
    splits = std::max(1, splits);
    p->spb = (KM + splits - 1) / splits;
    if (p->spb > spb_cap) p->spb = spb_cap;
    p->splits = (KM + p->spb - 1) / p->spb;
    size_t xs = (size_t)(n + 1) * (p->spb * 512 + 16), red = (size_t)SP_WARPS * p->nt * 4 * 32 * 4;
    p->smem = (std::max(xs, red) + 15) / 16 * 16;
    p->pf = 0;
}

int spbm_run(const sp_cuda_weight *w, const __nv_bfloat16 *x, int n, __nv_bfloat16 *y, sp_cuda_ctx *c) {
    if (n < 1 || n > 16) return sp_error(SP_ERR_ARG, "bitmap kernel: n = %d outside 1..16", n);
    sp_plan p;
    spbm_plan(w, n, c, &p);
    const int KM = w->kp / 256, RT = w->mp / 16;
    const size_t smem = p.smem + (size_t)SP_WARPS * SP_BM_RING + SP_THREADS * 64; /* + slots */
    dim3 grid((RT + p.rpb - 1) / p.rpb, p.splits);
    if (p.nt == 1) {
        SP_CU(cudaFuncSetAttribute(spbm_kernel<1>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
        spbm_kernel<1><<<grid, SP_THREADS, smem, c->stream>>>(w->bs, w->boff, x, y, w->ws, w->counters, n, w->out,
                                                            w->mp, w->in, KM, p.rpb, p.spb, p.splits, (int)p.smem);
    } else {
        SP_CU(cudaFuncSetAttribute(spbm_kernel<2>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
        spbm_kernel<2><<<grid, SP_THREADS, smem, c->stream>>>(w->bs, w->boff, x, y, w->ws, w->counters, n, w->out,
                                                            w->mp, w->in, KM, p.rpb, p.spb, p.splits, (int)p.smem);
    }
    SP_CU(cudaGetLastError());
    return 0;
}
