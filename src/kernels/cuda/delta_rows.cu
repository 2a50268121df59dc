/* delta_rows.cu: unstructured sparse decode, y (n, out) = x (n, in) W^T for 1-4 tokens per
 * launch, on CUDA cores, with 4-bit column deltas: 2.5 bytes a nonzero and ~9 instructions (SASS)
 * a nonzero with every lane busy.
 *
 * Why a fourth unstructured kernel: the row bitmap (bitmap_rows.cu) moves the fewest bytes
 * at 50-70% but walks bits word by word in lockstep (~20 instructions a value pair, lanes
 * idle while the busiest one finishes a word; issue-bound, ncu runs 10-11); CSR16 does ~6
 * instructions a nonzero but needs 4 bytes for it. Here a lane owns a row and walks its own
 * nonzeros in order; the warp advances one nonzero per lane per step, whatever the words.
 *
 * Device format ("delta rows", made at upload). A row's entries in column order: value
 * (bf16) and delta (4 bits), column = previous column + delta; a gap over 15 takes filler
 * entries (value 0, delta 15). Every row's stream is cut into parts of E entries (E a
 * multiple of 16, chosen so that there are enough warps); task = (row group rg of 32 rows,
 * part p): lane l walks part p of row 32rg + l, from the column before its first entry
 * (base). So the 32 streams of a task are equally long, except in a row group's last part,
 * padded with (0, 0) to its longest row (run 57: cutting by columns instead padded every
 * task to its longest stream, ~12% of the bytes at 50%). Block g of a task holds group g
 * (16 entries) of all 32 streams, so that a warp's three loads of a group are each one
 * contiguous run (run 55: lane-private streams, 32 lines a load, ran at 1.2 TB/s):
 *   blk (bvals, DR_BLOCK uint4 a block): [0, 32) entries 0-7 of lane 0..31 (8 bf16 each),
 *     [32, 64) entries 8-15, [64, 80) deltas: lane l's uint2 at uint2 index l, entry i in
 *     bits 4(i%8).. of word i/8;
 *   task (boff, uint4 a task): first block, blocks, row group, parts of that row group;
 *   base (bm): [task * 32 + lane] = column before the part's first entry (0 for part 0).
 * Bytes: 2.5 an entry (nonzeros and fillers: ~20% more entries at 90%, none at <= 70%) +
 * the last part's pads + 144 a task.
 *
 * x of all tokens is staged once per block in shared memory (persistent blocks walk the
 * tasks); a warp loads its groups two ahead straight into registers. Partial rows of a
 * task go to ws with atomics; the last part of a row group writes y (sp_rows_flush). */
#include <algorithm>
#include <stdlib.h>
#include <vector>

#include "common.cuh"

#define DR_WARPS 16 /* warps per block */
#define DR_BLOCK 80 /* uint4 a block: the group of each of a task's 32 streams */

int spdr_upload(sp_cuda_weight *w, const uint16_t *dense, int sms) {
    const int M = w->out, K = w->in, RG = (M + 31) / 32;
    /* the entries of row r (nonzeros and fillers), in column order: put(value, delta, column) */
    auto walk = [&](int r, auto &&put) {
        for (int col = 0, prev = 0; r < M && col < K; col++) {
            const uint16_t v = dense[(size_t)r * K + col];
            if (!(v & 0x7fff)) continue; /* +0 and -0 dropped */
            for (; col - prev > 15; prev += 15) put(0, 15, prev + 15);
            put(v, col - prev, col);
            prev = col;
        }
    };
    size_t *len = (size_t *)calloc((size_t)RG * 32, sizeof(size_t)), all = 0;
    if (!len) return sp_error(SP_ERR_NOMEM, "delta-rows: out of host memory");
    for (int r = 0; r < M; r++) {
        walk(r, [&](uint16_t, int, int) { len[r]++; });
        all += len[r];
    }
    /* E: about 16 tasks an SM (RG x parts), >= 64. Run 59 at 1 token: 16 and 24 alike, 32
     * slower by 5-20% (more flushes, more last-part pads); runs 56-57 (column chunks): 2-4x
     * longer tasks were slower, too few warps */
    const char *ee = getenv("SP_DR_TASKS"), *me = getenv("SP_DR_MIN_E"); /* experiments (sp_gpu_bench --delta-sweep) */
    const size_t per_sm = ee && atoi(ee) > 0 ? (size_t)atoi(ee) : 16; /* tasks an SM */
    const size_t min_e = me && atoi(me) >= 16 ? (size_t)atoi(me) / 16 * 16 : 64; /* least entries a task; run 17: 32, 48 no faster */
    size_t E = all / M * RG / std::max<size_t>(1, per_sm * (size_t)sms);
    E = std::max<size_t>(min_e, E / 16 * 16);
    std::vector<size_t> most(RG); /* a row group's longest row */
    for (int rg = 0; rg < RG; rg++) most[rg] = *std::max_element(len + rg * 32, len + rg * 32 + 32);
    /* Experiment (SP_DR_P): a block a row group, P parts of E entries (one a warp), summed in
     * shared memory: no partials through global memory. P: enough warps for ~16 an SM. */
    const char *pe = getenv("SP_DR_P");
    int P = pe ? atoi(pe) : -1;
    if (P < 0) {
        P = 4;
        while (P < 32 && (size_t)RG * P < (size_t)16 * sms) P *= 2;
    }
    if (P > 32) P = 32;
    if (P > 0) {
        E = 16;
        for (int rg = 0; rg < RG; rg++) E = std::max<size_t>(E, (most[rg] + P - 1) / P);
        E = (E + 15) / 16 * 16;
    }
    w->dr_p = P;
    size_t T = 0, total = 0;      /* tasks, blocks */
    for (int rg = 0; rg < RG; rg++) {
        T += P ? (size_t)P : std::max<size_t>(1, (most[rg] + E - 1) / E);
        total += (most[rg] + 15) / 16;
    }
    uint32_t *task = (uint32_t *)malloc(T * 16), *base = (uint32_t *)calloc(T * 32, 4);
    uint4 *hb = (uint4 *)calloc(std::max<size_t>(total, 1) * DR_BLOCK, 16);
    if (!task || !base || !hb || total > 0xffffffffu) {
        free(len); free(task); free(base); free(hb);
        return sp_error(SP_ERR_NOMEM, "delta-rows: out of host memory");
    }
    for (size_t rg = 0, t = 0, b = 0; rg < (size_t)RG; rg++) {
        const size_t parts = P ? (size_t)P : std::max<size_t>(1, (most[rg] + E - 1) / E);
        for (size_t p = 0; p < parts; p++) {
            const size_t nb = p * E < most[rg] ? (std::min(most[rg], (p + 1) * E) - p * E + 15) / 16 : 0;
            uint32_t *ti = task + 4 * (t + p);
            ti[0] = (uint32_t)(b + p * (E / 16)), ti[1] = (uint32_t)nb, ti[2] = (uint32_t)rg, ti[3] = (uint32_t)parts;
        }
        for (int lane = 0; lane < 32; lane++) {
            size_t e = 0;
            walk((int)rg * 32 + lane, [&](uint16_t v, int d, int col) {
                const size_t p = e / E, i = e % 16; /* E % 16 == 0 */
                if (e % E == 0 && p) base[(t + p) * 32 + lane] = (uint32_t)(col - d); /* the previous column */
                uint4 *blk = hb + (b + e / 16) * DR_BLOCK;
                uint32_t *vw = reinterpret_cast<uint32_t *>(blk + (i < 8 ? 0 : 32) + lane) + (i % 8) / 2;
                *vw |= (uint32_t)v << (16 * (i % 2));
                uint32_t *dw = reinterpret_cast<uint32_t *>(blk + 64) + 2 * lane + i / 8;
                *dw |= (uint32_t)d << (4 * (i % 8));
                e++;
            });
        }
        t += parts;
        b += (most[rg] + 15) / 16;
    }
    int rc = 0;
    w->dr_tasks = (int)T;
    if (cudaMalloc(&w->bvals, std::max<size_t>(total, 1) * DR_BLOCK * 16) != cudaSuccess ||
        cudaMalloc(&w->boff, T * 16) != cudaSuccess || cudaMalloc(&w->bm, T * 32 * 4) != cudaSuccess ||
        cudaMemcpy(w->bvals, hb, std::max<size_t>(total, 1) * DR_BLOCK * 16, cudaMemcpyHostToDevice) != cudaSuccess ||
        cudaMemcpy(w->boff, task, T * 16, cudaMemcpyHostToDevice) != cudaSuccess ||
        cudaMemcpy(w->bm, base, T * 32 * 4, cudaMemcpyHostToDevice) != cudaSuccess)
        rc = sp_error(SP_ERR_NOMEM, "delta-rows: device allocation/copy failed");
    w->bytes = total * DR_BLOCK * 16 + T * (16 + 32 * 4);
    free(len);
    free(task);
    free(base);
    free(hb);
    return rc;
}

/* one group of a stream: 16 values, 16 deltas */
struct dr_group {
    uint4 a, b;
    uint2 d;
};

template <int N, bool RGB, bool EARLY = false> /* EARLY (RGB only, experiment): a warp's first groups loaded before x is waited for */
__global__ void __launch_bounds__(RGB ? 1024 : DR_WARPS * 32)
spdr_kernel(const uint4 *__restrict__ blk, const uint4 *__restrict__ tinfo, const uint32_t *__restrict__ base,
            const __nv_bfloat16 *__restrict__ x, __nv_bfloat16 *__restrict__ y, float *ws, unsigned *counters,
            int n, int M, int K, int RG, int tasks) {
    extern __shared__ uint4 smem4[];
    const uint16_t *xs = reinterpret_cast<const uint16_t *>(smem4); /* (N, K) */
    { /* 16-byte copies in flight together (in % 16 == 0); tokens >= n read 0 */
        const uint32_t sb = (uint32_t)__cvta_generic_to_shared(smem4);
        for (int i = threadIdx.x; i < N * K / 8; i += blockDim.x) {
            const bool in = i / (K / 8) < n;
            asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(sb + i * 16), "l"(in ? x + (size_t)i * 8 : x),
                         "r"(in ? 16 : 0));
        }
        if constexpr (!EARLY) asm volatile("cp.async.wait_all;");
    }
    if constexpr (!EARLY) __syncthreads();
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    /* tasks dealt block by block, so that every block (and SM) gets its share; RGB: a block a row group */
    for (int task = RGB ? blockIdx.x * (blockDim.x >> 5) + warp : warp * gridDim.x + blockIdx.x; task < tasks;
         task += RGB ? tasks : gridDim.x * DR_WARPS) {
        const uint4 ti = __ldg(tinfo + task);
        const uint32_t b0 = ti.x;
        const int it = (int)ti.y;
        auto load = [&](dr_group &q, int g) { /* past the task: zeros (value 0, delta 0) */
            if (g < it) {
                const uint4 *p = blk + (size_t)(b0 + g) * DR_BLOCK;
                q.a = sp_ld_stream(p + lane);
                q.b = sp_ld_stream(p + 32 + lane);
                q.d = __ldg(reinterpret_cast<const uint2 *>(p + 64) + lane);
            } else {
                q.a = q.b = make_uint4(0, 0, 0, 0);
                q.d = make_uint2(0, 0);
            }
        };
        float acc[N];
#pragma unroll
        for (int t = 0; t < N; t++) acc[t] = 0.f;
        uint32_t col = __ldg(base + (size_t)task * 32 + lane); /* column of the last entry */
        /* The 16 entries of a group. The columns of 8 entries come from one word of deltas as
         * prefix sums in bytes, not a chain of 8 adds: a chain made each nonzero wait ~4 cycles
         * for the one before, and with 16 warps an SM that was the limit (ncu run 62: ~4
         * nonzeros a cycle an SM, warps waiting on their x gathers). Deltas doubled (byte
         * offsets into bf16 x): the even and odd nibbles as bytes, times 0x01010101 = their
         * running sums (<= 120 a byte); S(2k+1) = E_k + O_k, S(2k) = E_k + O_(k-1). */
        auto step = [&](const dr_group &q) {
            const uint32_t v[8] = {q.a.x, q.a.y, q.a.z, q.a.w, q.b.x, q.b.y, q.b.z, q.b.w};
#pragma unroll
            for (int h = 0; h < 2; h++) {
                const uint32_t dw = h ? q.d.y : q.d.x;
                const uint32_t pe = ((dw << 1) & 0x1E1E1E1Eu) * 0x01010101u, po = ((dw >> 3) & 0x1E1E1E1Eu) * 0x01010101u;
                const uint32_t odd = pe + po, even = pe + (po << 8);
                const uint32_t row0 = 2 * col; /* byte offset of the last column before these 8 */
#pragma unroll
                for (int i = 0; i < 8; i++) {
                    const uint32_t off = row0 + __byte_perm(i & 1 ? odd : even, 0, 0x4440 | (i >> 1));
                    const uint32_t u = v[4 * h + i / 2];
                    const float wv = __uint_as_float(i & 1 ? u & 0xffff0000u : u << 16);
#pragma unroll
                    for (int t = 0; t < N; t++)
                        acc[t] = fmaf(wv, __uint_as_float((uint32_t)*reinterpret_cast<const uint16_t *>(
                                                              reinterpret_cast<const char *>(xs + t * K) + off) << 16),
                                      acc[t]);
                }
                col += __byte_perm(odd, 0, 0x4443) >> 1; /* S(7) */
            }
        };
        /* D groups in registers, each refilled D groups ahead once used (no copies). H200 run 17:
         * D = 4 5-10% slower than 3 at 1 token on every shape, tasks of 4 groups included */
        constexpr int D = 3;
        dr_group q[D];
#pragma unroll
        for (int k = 0; k < D; k++) load(q[k], k);
        if constexpr (EARLY) { /* one task a warp: every warp gets here once */
            asm volatile("cp.async.wait_all;");
            __syncthreads();
        }
        for (int g = 0; g < it; g += D) {
#pragma unroll
            for (int k = 0; k < D; k++) {
                if (g + k >= it) break;
                step(q[k]);
                load(q[k], g + k + D);
            }
        }
        if constexpr (RGB) { /* the parts' sums through shared memory, after x: (warps, N, 32) */
            float *red = reinterpret_cast<float *>(smem4 + N * K / 8);
            const int P = blockDim.x >> 5;
#pragma unroll
            for (int t = 0; t < N; t++) red[(warp * N + t) * 32 + lane] = acc[t];
            __syncthreads();
            const int row = blockIdx.x * 32 + lane;
            if (warp < N && warp < n && row < M) {
                float v = 0.f;
                for (int p = 0; p < P; p++) v += red[(p * N + warp) * 32 + lane];
                y[(size_t)warp * M + row] = __float2bfloat16(v);
            }
        } else
            sp_rows_flush<N>(acc, (int)ti.z * 32 + lane, (int)ti.z, (int)ti.w, n, M, RG * 32, y, ws, counters, lane);
    }
}

/* Persistent blocks (x staged once a block), as many as fit an SM, tasks spread over all. */
template <int N>
static int spdr_launch(const sp_cuda_weight *w, const __nv_bfloat16 *x, int n, __nv_bfloat16 *y, sp_cuda_ctx *c) {
    const int RG = (w->out + 31) / 32;
    static size_t allowed = 0, allowed_rgb = 0; /* per template instance */
    size_t smem = 0;
    int blocks = 0;
    if (w->dr_p) {
        smem = (size_t)N * w->in * 2 + (size_t)w->dr_p * N * 32 * 4;
        if (smem > 227 * 1024) return sp_error(SP_ERR_UNSUPPORTED, "delta-rows: x of %d tokens x %d columns exceeds shared memory", N, w->in);
        static size_t allowed_early = 0;
        const char *ee = getenv("SP_DR_EARLY"); /* experiment */
        if (ee && atoi(ee) > 0) {
            SP_CHK(sp_allow_smem(spdr_kernel<N, true, true>, smem, &allowed_early));
            spdr_kernel<N, true, true><<<RG, w->dr_p * 32, smem, c->stream>>>(w->bvals, (const uint4 *)w->boff, w->bm, x, y, w->ws,
                                                                              w->counters, n, w->out, w->in, RG, w->dr_tasks);
        } else {
            SP_CHK(sp_allow_smem(spdr_kernel<N, true>, smem, &allowed_rgb));
            spdr_kernel<N, true><<<RG, w->dr_p * 32, smem, c->stream>>>(w->bvals, (const uint4 *)w->boff, w->bm, x, y, w->ws,
                                                                        w->counters, n, w->out, w->in, RG, w->dr_tasks);
        }
        SP_CU(cudaGetLastError());
        return 0;
    }
    SP_CHK(sp_persistent_grid(spdr_kernel<N, false>, DR_WARPS * 32, N, w->in, w->dr_tasks, &allowed, c, "delta-rows", &smem, &blocks));
    spdr_kernel<N, false><<<blocks, DR_WARPS * 32, smem, c->stream>>>(w->bvals, (const uint4 *)w->boff, w->bm, x, y, w->ws,
                                                                w->counters, n, w->out, w->in, RG, w->dr_tasks);
    SP_CU(cudaGetLastError());
    return 0;
}

int spdr_run(const sp_cuda_weight *w, const __nv_bfloat16 *x, int n, __nv_bfloat16 *y, sp_cuda_ctx *c) {
    return sp_run_by4(w, x, n, y, [&](int m, const __nv_bfloat16 *xi, __nv_bfloat16 *yi) {
        return m == 1 ? spdr_launch<1>(w, xi, m, yi, c) : m == 2 ? spdr_launch<2>(w, xi, m, yi, c) : spdr_launch<4>(w, xi, m, yi, c);
    });
}
