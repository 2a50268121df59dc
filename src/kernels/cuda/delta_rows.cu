/* delta_rows.cu: unstructured sparse decode, y (n, out) = x (n, in) W^T for 1-4 tokens per
 * launch, on CUDA cores, with 4-bit column deltas: 2.5 bytes a nonzero and ~7 instructions
 * a nonzero with every lane busy.
 *
 * Why a fourth unstructured kernel: the row bitmap (bitmap_rows.cu) moves the fewest bytes
 * at 50-70% but walks bits word by word in lockstep (~20 instructions a value pair, lanes
 * idle while the busiest one finishes a word; issue-bound, ncu runs 10-11); CSR16 does ~6
 * instructions a nonzero but needs 4 bytes for it. Here a lane owns a row and walks its own
 * nonzeros in order; the warp advances one nonzero per lane per step, whatever the words.
 *
 * Device format ("delta rows", made at upload): the columns are cut into S chunks of C (a
 * power of two, chosen so that there are enough warps); task = (row group rg of 32 rows,
 * chunk s), tasks rg-major. Each (task, lane) has a stream of entries of the lane's row in
 * column order: value (bf16) and delta (4 bits): column = previous column + delta, the
 * first one from the chunk's first column. A gap over 15 takes filler entries (value 0,
 * delta 15). A task's streams are cut into groups of 16 entries and padded with (0, 0) to
 * the longest one; block g of a task holds group g of all 32 streams, so that a warp's three
 * loads of a group are each one contiguous run (run 55: lane-private streams, 32 lines a
 * load, ran at 1.2 TB/s):
 *   blk (bvals, DR_BLOCK uint4 a block): [0, 32) entries 0-7 of lane 0..31 (8 bf16 each),
 *     [32, 64) entries 8-15, [64, 80) deltas: lane l's uint2 at uint2 index l, entry i in
 *     bits 4(i%8).. of word i/8;
 *   off (boff): [task] = first block of the task ([tasks] = total).
 * Bytes: 2.5 per entry (nonzeros, fillers: ~20% more entries at 90%, none at <= 70%; pads to
 * the longest stream of a task and to 16).
 *
 * x of all tokens is staged once per block in shared memory (persistent blocks walk the
 * tasks); a warp loads its streams two groups ahead straight into registers. Partial rows
 * of a task go to ws with atomics; the last task of a row group writes y (sp_rows_flush). */
#include <algorithm>
#include <stdlib.h>

#include "common.cuh"

#define DR_WARPS 16 /* warps per block */
#define DR_GUARD 16 /* zero columns staged past S * C */
#define DR_BLOCK 80 /* uint4 a block: the group of each of a task's 32 streams */

/* chunk width: the widest of 2048..256 that still gives >= 24 tasks an SM (fewer, longer
 * streams idle less: a warp runs its longest stream) */
static int dr_cols(int M, int K, int sms) {
    const char *e = getenv("SP_DR_COLS"); /* experiments: a fixed chunk width */
    if (e && atoi(e) >= 256 && atoi(e) <= 65536 && !(atoi(e) & (atoi(e) - 1))) return atoi(e);
    const long RG = (M + 31) / 32;
    int C = 2048;
    while (C > 256 && RG * ((K + C - 1) / C) < 24L * sms) C /= 2;
    return C;
}

int spdr_upload(sp_cuda_weight *w, const uint16_t *dense, int sms) {
    const int M = w->out, K = w->in, C = dr_cols(M, K, sms), S = (K + C - 1) / C, RG = (M + 31) / 32;
    const size_t T = (size_t)RG * S;
    uint32_t *off = (uint32_t *)malloc((T + 1) * 4);
    if (!off) return sp_error(SP_ERR_NOMEM, "delta-rows: out of host memory");
    /* the entries of one (task, lane) stream: nonzeros and fillers, in column order */
    auto walk = [&](size_t task, int lane, auto &&put) {
        const int row = (int)(task / S) * 32 + lane, c0 = (int)(task % S) * C, c1 = std::min(K, c0 + C);
        for (int col = c0, prev = c0; row < M && col < c1; col++) {
            const uint16_t v = dense[(size_t)row * K + col];
            if (!(v & 0x7fff)) continue; /* +0 and -0 dropped */
            for (; col - prev > 15; prev += 15) put(0, 15);
            put(v, col - prev);
            prev = col;
        }
    };
    size_t total = 0; /* blocks */
    for (size_t task = 0; task < T; task++) {
        size_t most = 0;
        for (int lane = 0; lane < 32; lane++) {
            size_t e = 0;
            walk(task, lane, [&](uint16_t, int) { e++; });
            most = std::max(most, (e + 15) / 16);
        }
        off[task] = (uint32_t)total;
        total += most;
    }
    if (total > 0xffffffffu / DR_BLOCK) { free(off); return sp_error(SP_ERR_UNSUPPORTED, "delta-rows: weight too large"); }
    off[T] = (uint32_t)total;
    uint4 *hb = (uint4 *)calloc(std::max<size_t>(total, 1) * DR_BLOCK, 16);
    if (!hb) { free(off); return sp_error(SP_ERR_NOMEM, "delta-rows: out of host memory"); }
    for (size_t task = 0; task < T; task++)
        for (int lane = 0; lane < 32; lane++) {
            size_t e = 0;
            walk(task, lane, [&](uint16_t v, int d) {
                uint4 *blk = hb + ((size_t)off[task] + e / 16) * DR_BLOCK;
                const int i = (int)(e % 16);
                uint32_t *vw = reinterpret_cast<uint32_t *>(blk + (i < 8 ? 0 : 32) + lane) + (i % 8) / 2;
                *vw |= (uint32_t)v << (16 * (i % 2));
                uint32_t *dw = reinterpret_cast<uint32_t *>(blk + 64) + 2 * lane + i / 8;
                *dw |= (uint32_t)d << (4 * (i % 8));
                e++;
            });
        }
    int rc = 0;
    w->dr_cols = C;
    if (cudaMalloc(&w->bvals, std::max<size_t>(total, 1) * DR_BLOCK * 16) != cudaSuccess ||
        cudaMalloc(&w->boff, (T + 1) * 4) != cudaSuccess ||
        cudaMemcpy(w->bvals, hb, std::max<size_t>(total, 1) * DR_BLOCK * 16, cudaMemcpyHostToDevice) != cudaSuccess ||
        cudaMemcpy(w->boff, off, (T + 1) * 4, cudaMemcpyHostToDevice) != cudaSuccess)
        rc = sp_error(SP_ERR_NOMEM, "delta-rows: device allocation/copy failed");
    w->bytes = total * DR_BLOCK * 16 + (T + 1) * 4;
    free(off);
    free(hb);
    return rc;
}

/* one group of a stream: 16 values, 16 deltas */
struct dr_group {
    uint4 a, b;
    uint2 d;
};

template <int N>
__global__ void __launch_bounds__(DR_WARPS * 32)
spdr_kernel(const uint4 *__restrict__ blk, const uint32_t *__restrict__ off,
            const __nv_bfloat16 *__restrict__ x, __nv_bfloat16 *__restrict__ y, float *ws, unsigned *counters,
            int n, int M, int K, int RG, int S, int C) {
    extern __shared__ uint4 smem4[];
    uint16_t *xs = reinterpret_cast<uint16_t *>(smem4);
    const int Kx = S * C + DR_GUARD; /* a token's row of x in xs */
    { /* 16-byte copies in flight together (in % 16 == 0); tokens >= n and columns >= K read 0 */
        const uint32_t sb = (uint32_t)__cvta_generic_to_shared(xs);
        for (int i = threadIdx.x; i < N * Kx / 8; i += blockDim.x) {
            const int t = i / (Kx / 8), col = (i % (Kx / 8)) * 8;
            const bool in = t < n && col < K;
            asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(sb + i * 16),
                         "l"(in ? x + (size_t)t * K + col : x), "r"(in ? 16 : 0));
        }
        asm volatile("cp.async.wait_all;");
    }
    __syncthreads();
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int tasks = RG * S;
    /* tasks dealt block by block, so that every block (and SM) gets its share */
    for (int task = warp * gridDim.x + blockIdx.x; task < tasks; task += gridDim.x * DR_WARPS) {
        const int rg = task / S, s = task % S;
        const uint32_t b0 = __ldg(off + task);
        const int it = (int)(__ldg(off + task + 1) - b0); /* groups: the task's longest stream */
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
        uint32_t col = (uint32_t)s * C; /* column of the last entry */
        auto step = [&](const dr_group &q) { /* the 16 entries of a group */
            const uint32_t v[8] = {q.a.x, q.a.y, q.a.z, q.a.w, q.b.x, q.b.y, q.b.z, q.b.w};
#pragma unroll
            for (int i = 0; i < 16; i++) {
                col += ((i < 8 ? q.d.x : q.d.y) >> (4 * (i % 8))) & 15u;
                const float wv = __uint_as_float(i & 1 ? v[i / 2] & 0xffff0000u : v[i / 2] << 16);
#pragma unroll
                for (int t = 0; t < N; t++) acc[t] = fmaf(wv, __uint_as_float((uint32_t)xs[t * Kx + col] << 16), acc[t]);
            }
        };
        /* three groups in registers, each refilled three groups ahead once used (no copies) */
        dr_group q0, q1, q2;
        load(q0, 0);
        load(q1, 1);
        load(q2, 2);
        for (int g = 0; g < it; g += 3) {
            step(q0);
            load(q0, g + 3);
            if (g + 1 >= it) break;
            step(q1);
            load(q1, g + 4);
            if (g + 2 >= it) break;
            step(q2);
            load(q2, g + 5);
        }
        sp_rows_flush<N>(acc, rg * 32 + lane, rg, S, n, M, RG * 32, y, ws, counters, lane);
    }
}

/* Persistent blocks (x staged once a block), as many as fit an SM, tasks spread over all. */
template <int N>
static int spdr_launch(const sp_cuda_weight *w, const __nv_bfloat16 *x, int n, __nv_bfloat16 *y, sp_cuda_ctx *c) {
    const int C = w->dr_cols, S = (w->in + C - 1) / C, RG = (w->out + 31) / 32;
    const size_t smem = (size_t)N * (S * C + DR_GUARD) * 2;
    if (smem > 227 * 1024)
        return sp_error(SP_ERR_UNSUPPORTED, "delta-rows: x of %d tokens x %d columns exceeds shared memory", N, w->in);
    static size_t allowed = 0; /* per template instance */
    SP_CHK(sp_allow_smem(spdr_kernel<N>, smem, &allowed));
    int per_sm = 0;
    SP_CU(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, spdr_kernel<N>, DR_WARPS * 32, smem));
    const int blocks = std::max(1, std::min(std::max(1, per_sm) * c->sm_count, RG * S));
    spdr_kernel<N><<<blocks, DR_WARPS * 32, smem, c->stream>>>(w->bvals, w->boff, x, y, w->ws, w->counters, n, w->out,
                                                                w->in, RG, S, C);
    SP_CU(cudaGetLastError());
    return 0;
}

int spdr_run(const sp_cuda_weight *w, const __nv_bfloat16 *x, int n, __nv_bfloat16 *y, sp_cuda_ctx *c) {
    for (int i = 0; i < n; i += 4) { /* 4 tokens a launch */
        const int m = std::min(4, n - i);
        const __nv_bfloat16 *xi = x + (size_t)i * w->in;
        __nv_bfloat16 *yi = y + (size_t)i * w->out;
        int rc = m == 1 ? spdr_launch<1>(w, xi, m, yi, c) : m == 2 ? spdr_launch<2>(w, xi, m, yi, c)
                                                                   : spdr_launch<4>(w, xi, m, yi, c);
        if (rc) return rc;
    }
    return 0;
}
