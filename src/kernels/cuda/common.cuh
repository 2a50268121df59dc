/* common.cuh: shared pieces of the CUDA backend: status checks, the library
 * context, the weight object, the mma wrappers, activation staging and the
 * split-K epilogue used by the own decode kernels. */
#pragma once
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>

#include "sparsity.h"
#include "sparsity_cuda.h"

/* ------------------------------------------------------------------ errors */

#define SP_CU(call)                                                                          \
    do {                                                                                     \
        cudaError_t e_ = (call);                                                             \
        if (e_ != cudaSuccess)                                                               \
            return sp_error(SP_ERR_UNSUPPORTED, "%s:%d: %s: %s", __FILE__, __LINE__, #call,  \
                            cudaGetErrorString(e_));                                         \
    } while (0)
/* a status from our own calls: returns it when non-zero */
#define SP_CHK(call) do { int rc_ = (call); if (rc_) return rc_; } while (0)
/* cuBLAS status -> sp_error (returns from the calling function) */
#define SP_CB(call)                                                                              \
    do {                                                                                         \
        cublasStatus_t s_ = (call);                                                              \
        if (s_ != CUBLAS_STATUS_SUCCESS)                                                         \
            return sp_error(SP_ERR_UNSUPPORTED, "%s:%d: %s failed (%d)", __FILE__, __LINE__, #call, (int)s_); \
    } while (0)

/* ------------------------------------------------------------------ context (context.cu) */

struct sp_cuda_ctx {
    int ok;                 /* device found and handles made */
    int sm_count;
    size_t l2_bytes;
    cudaStream_t stream;    /* the library stream (a non-blocking stream) */
    void *cublas;           /* cublasHandle_t */
    void *cublas_ws;        /* its workspace (cublasSetWorkspace), NULL: the library's default pool */
    size_t cublas_ws_bytes;
    void *cusparse;         /* cusparseHandle_t */
    float *flush;           /* (flush_n,) read before timed calls to evict L2 */
    size_t flush_n;
    int cfg_rpb, cfg_splits, cfg_pf; /* sp_cuda_set_config overrides, 0 = auto (pf: -1 = auto) */
    int cfg_cluster;        /* sp_cuda_set_decode_cluster: -1 = where it can run (sp_plan_make), 0 = off */
    int cluster_broken;     /* a cluster launch was refused: the decode kernels reduce through ws */
    int cfg_wgdec;          /* sp_cuda_set_decode_wgmma: 2:4 decode on wgmma.sp, -1 = 4..32 tokens, 0 = off, 1 = any n <= 32 */
    int cfg_gemm_tile;      /* sp_cuda_set_gemm_tile: 0 = auto, 1..3 = a fixed 2:4 GEMM tile, 4..11 = wgmma */
    int cfg_bsr_bs;         /* sp_cuda_set_bsr_block: 0 = auto, else the BSR block size (checked at upload) */
    int cc_major;           /* compute capability */
    int pdl;                /* the own decode kernels launch with programmatic dependence (set by
                               the device model around a forward's linears; while timing only in
                               sp_cuda_set_timing's mode 2) */
    int time_mode;          /* sp_cuda_set_timing: 0 host launches, 1 a graph a round, 2 + pdl */
    int cfg_a24;            /* sp_cuda_set_read_a24: 1 = the 2:4 decode kernels and mma.sp GEMM read the
                               stage-order copy (a24) even where the fragment-order one is kept (A/B) */
};
sp_cuda_ctx *sp_cuda_ctx_get(void); /* NULL + message when no device */
/* Host -> device copies and device memsets on the context's stream, finished on return. The
 * plain cudaMemcpy from pageable memory may return before its DMA has landed and cudaMemset
 * returns at once; both go to the legacy stream, which the context's non-blocking stream does
 * not wait for (run 130: a fused weight copied a part's rows before they had arrived). */
cudaError_t sp_h2d(void *d, const void *h, size_t bytes);
cudaError_t sp_dset(void *d, int v, size_t bytes);
/* A new device buffer of bytes (16 when 0) holding a copy of h (sp_h2d); *d set before the copy,
 * so a failure leaves it for the caller's free. The upload path of every device form. */
cudaError_t sp_dev_copy_raw(void **d, const void *h, size_t bytes);
template <typename T> static inline cudaError_t sp_dev_copy(T **d, const void *h, size_t bytes) {
    void *p = NULL;
    const cudaError_t e = sp_dev_copy_raw(&p, h, bytes);
    *d = (T *)p;
    return e;
}

/* ------------------------------------------------------------------ weight */

struct sp_lt_state; /* cuSPARSELt plans and the compressed weight (cusparselt.cu) */

struct sp_cuda_weight {
    sp_cuda_kernel kernel;
    sp_cuda_dtype dtype;    /* element type of the values, x and y (f16: DENSE, 24, 24_LT) */
    int out, in;            /* logical shape */
    int mp, kp;             /* padded: mp = out up to 16, kp = in up to 256 */
    size_t bytes;           /* device bytes read per call */
    /* DENSE */
    __nv_bfloat16 *w;       /* (out, in); f16 bits for an f16 weight */
    /* 24: fragment-ordered values and metadata (layout in sp24_gemv.cu) */
    uint4 *v24;             /* (mp/16, kp/32, 32) */
    uint4 *m24;             /* (mp/16, kp/256, 32) */
    uint4 *a24;             /* v24/m24 as wgmma shared-memory A stages (tiles 10-17), built on first use;
                               the only copy (v24, m24 NULL) after sp_cuda_weight_one_copy */
    /* BITMAP (layout in bitmap_gemv.cu) */
    uint32_t *bm;           /* (mp/16, kp/64, 32) per-lane 32-bit masks */
    uint32_t *boff;         /* (mp/16 * kp/64 + 1) tile value offsets in 16-byte units */
    uint4 *bvals;           /* (boff[last],) values, 8 bf16 per uint4 */
    /* BITMAP_ROWS reuses bm/boff/bvals in its own layout (bitmap_rows.cu) */
    int br_max_tile;        /* uint32 words of the largest tile's values (sizes the stage) */
    /* DELTA_ROWS reuses bvals (blocks), boff (task info), bm (part bases): delta_rows.cu */
    int dr_p;               /* parts a row group = warps a block; tasks: row groups x dr_p */
    int dr_w16;             /* 1: 2-byte entries (f16 bits rebased a row), 0: bf16 + 4-bit deltas (2.5 bytes) */
    int dr_row, dr_span;    /* the first row whose nonzeros do not fit the 2-byte form, its binades (-1: none) */
    int dr_db;              /* 2-byte form: delta bits, 4 (e4 values), 5 (e3 values) or 0 (by row) */
    int dr_row5, dr_span5;  /* the same for 5-bit deltas (7 binades) */
    int dr_ask5;            /* SP_DR_D5 at upload: 0-2, -1 the rule (the path says why 4-bit deltas stayed) */
    int dr_n5;              /* rows with nonzeros that fit 5-bit deltas */
    int dr_gt;              /* uniform tasks: blocks a task, every task alike (0: per task, boff) */
    int dr_h;               /* heads: each task's first dr_h groups at task x dr_h, the rest through boff (0: off) */
    int dr_pdl;             /* 1: launched with programmatic dependence where the caller asks (ctx pdl) */
    int dr_sort;            /* 1: rows in length order, lane l of row group rg summing row dr_ord[32 rg + l] */
    int dr_ask_sort;        /* SP_DR_SORT at upload: 1 always, 0 never, -1 the rule */
    size_t dr_bytes_alt;    /* bytes a call in the order not taken (the path says the saving; 0: not weighed) */
    uint32_t *dr_ord;       /* (row groups x 32,) the row of each lane's slot (>= out: none); NULL in weight order */
    /* CSR16 (csr16.cu): entries column | value << 16, rows padded to 4 entries */
    uint4 *c16;             /* (c16_rp[out],) */
    uint32_t *c16_rp;       /* (out+1,) first uint4 of each row */
    /* CSR, COO, BSR (cuSPARSE, 32-bit zero-based indices, built on the host; baselines.cu) */
    int *rowptr;            /* CSR: (out+1,) row offsets; BSR: (mb+1,) block-row offsets */
    int *colind;            /* CSR/COO: (nnz,) column of each nonzero; BSR: (nnz,) block column */
    int *coorow;            /* COO: (nnz,) row of each nonzero, ascending (row-sorted) */
    __nv_bfloat16 *spval;   /* CSR/COO: (nnz,) values; BSR: (nnz, bs, bs) blocks, row-major inside */
    int64_t nnz;            /* CSR/COO: nonzeros; BSR: stored blocks */
    int bsr_bs;             /* BSR: block size bs (rows and columns); mb = ceil(out / bs) */
    int bsr_spmv_off;       /* BSR: cuSPARSE refused SpMV, so n = 1 runs SpMM (set on first refusal) */
    void *sp_buf;           /* SpMV/SpMM work buffer (grows on first use) */
    size_t sp_buf_bytes;
    __nv_bfloat16 *bsr_y;   /* BSR with out % bs != 0: Y^T padded to mb*bs rows, (n, mb*bs) */
    size_t bsr_y_bytes;
    /* split-K scratch for the own kernels: zero between calls (self-cleaning) */
    float *ws;              /* (tokens, mp): 16 tokens, SP_WGDEC_MAX for 24 */
    unsigned *counters;     /* (mp/16,) */
    sp_lt_state *lt;        /* 24_LT */
};

/* Kernel launchers (return 0 or negative status). */
int sp24_upload(sp_cuda_weight *w, const uint16_t *vals, const uint16_t *meta);
/* x and y of the weight's dtype for these five (bf16 or f16) */
int sp24_run(const sp_cuda_weight *w, const void *x, int n, void *y, sp_cuda_ctx *c);
int sp24_gemm_run(const sp_cuda_weight *w, const void *x, int n, void *y, sp_cuda_ctx *c); /* any n (prefill) */
const char *sp24_gemm_path(const sp_cuda_weight *w, int n, const sp_cuda_ctx *c); /* its kernel for n */
#define SP_WGDEC_MAX 32 /* tokens a wgmma.sp decode launch takes */
int sp24_a24_make(const sp_cuda_weight *w, sp_cuda_ctx *c); /* builds w->a24 from v24/m24 where missing (a cache) */
/* 1 where the 2:4 decode kernels and the mma.sp GEMM read w->a24 (built first where missing) */
static inline int sp24_reads_a24(const sp_cuda_weight *w, const sp_cuda_ctx *c) { return !w->v24 || c->cfg_a24 > 0; }
/* How a 2:4 decode call sums its K splits: one split, a thread block cluster's shared memory,
 * global memory (ws and a counter), or a cluster that a launch with programmatic dependence (the
 * device model's decode) turns into the global plan; ERR: the plan failed; NA: not this kernel */
enum sp_split { SP_SPLIT_ERR = -2, SP_SPLIT_NA = -1, SP_SPLIT_NONE, SP_SPLIT_CLUSTER, SP_SPLIT_GLOBAL, SP_SPLIT_CLUSTER_EARLY_GLOBAL };
sp_split sp24_split(const sp_cuda_weight *w, int n, sp_cuda_ctx *c); /* the mma.sp decode's; never NA */
/* the wgmma.sp decode (sp24_wgdec.cu): run returns 1 where its plan does not fit (the mma.sp kernel
 * then runs), split NA there */
int sp24_wgdec_usable(const sp_cuda_ctx *c);
int sp24_wgdec_wanted(int n, const sp_cuda_ctx *c); /* the dispatch rule: tried for n tokens */
int sp24_wgdec_run(const sp_cuda_weight *w, const void *x, int n, void *y, sp_cuda_ctx *c);
sp_split sp24_wgdec_split(const sp_cuda_weight *w, int n, sp_cuda_ctx *c);
int sp24_wgmma_run(const sp_cuda_weight *w, const void *x, int n, void *y, sp_cuda_ctx *c,
                   int variant); /* sm_90a wgmma.sp (tiles 4..11: variant 0..7) */
int sp24_wgmma_usable(const void *x, const sp_cuda_ctx *c); /* 1: it can run here (x NULL: aligned) */
int sp24_wgmma_kparts_ok(const sp_cuda_weight *w, const void *y, int kparts); /* tiles 16-17 (y NULL: aligned) */
int spbm_upload(sp_cuda_weight *w, const uint16_t *dense);
int spbm_run(const sp_cuda_weight *w, const __nv_bfloat16 *x, int n, __nv_bfloat16 *y, sp_cuda_ctx *c);
int spbr_upload(sp_cuda_weight *w, const uint16_t *dense);
int spbr_run(const sp_cuda_weight *w, const __nv_bfloat16 *x, int n, __nv_bfloat16 *y, sp_cuda_ctx *c);
int spc16_upload(sp_cuda_weight *w, const uint16_t *dense);
int spdr_upload(sp_cuda_weight *w, const uint16_t *dense, int sms, int dry); /* dry: choices and bytes only */
const char *spdr_path(const sp_cuda_weight *w); /* the form and task layout, for sp_cuda_linear_path */
int spdr_run(const sp_cuda_weight *w, const __nv_bfloat16 *x, int n, __nv_bfloat16 *y, sp_cuda_ctx *c);
int spc16_run(const sp_cuda_weight *w, const __nv_bfloat16 *x, int n, __nv_bfloat16 *y, sp_cuda_ctx *c);
int sp_dense_run(const sp_cuda_weight *w, const void *x, int n, void *y, sp_cuda_ctx *c);
int sp_csr_upload(sp_cuda_weight *w, const uint16_t *dense);
int sp_csr_run(const sp_cuda_weight *w, const __nv_bfloat16 *x, int n, __nv_bfloat16 *y, sp_cuda_ctx *c);
int sp_coo_upload(sp_cuda_weight *w, const uint16_t *dense);
int sp_coo_run(const sp_cuda_weight *w, const __nv_bfloat16 *x, int n, __nv_bfloat16 *y, sp_cuda_ctx *c);
int sp_bsr_upload(sp_cuda_weight *w, const uint16_t *dense, int bs); /* bs 0 = automatic */
int sp_bsr_run(const sp_cuda_weight *w, const __nv_bfloat16 *x, int n, __nv_bfloat16 *y, sp_cuda_ctx *c);
int sp_sparse_upload(sp_cuda_weight *w, const uint16_t *dense); /* CSR, COO or BSR by w->kernel */
void sp_sparse_free(sp_cuda_weight *w);                         /* CSR, COO and BSR device arrays */
int sp_lt_upload(sp_cuda_weight *w, const uint16_t *dense_masked, sp_cuda_ctx *c);
int sp_lt_upload_dev(sp_cuda_weight *w, const void *dense_masked_dev, sp_cuda_ctx *c);
int sp24_upload_dev(sp_cuda_weight *w, const void *dense_masked_dev, sp_cuda_ctx *c);
int sp_lt_run(const sp_cuda_weight *w, const void *x, int n, void *y, sp_cuda_ctx *c);
void sp_lt_free(sp_cuda_weight *w);

/* Lets kernel fn take `bytes` of dynamic shared memory. *allowed (a static of the caller, one
 * per kernel instance) remembers the largest size granted, so the attribute is set once per
 * size increase, not on every launch. */
template <typename K>
static inline int sp_allow_smem(K *fn, size_t bytes, size_t *allowed) {
    if (bytes <= *allowed) return 0;
    SP_CU(cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
    *allowed = bytes;
    return 0;
}

/* Launch size of a persistent kernel that stages x of `tokens` rows of `in` bf16 once a block
 * (csr16.cu): *smem for that x, and as many blocks of `threads` as fit an SM with
 * it, at most `work`. Sets fn's shared-memory attribute (allowed: per kernel instance); refuses
 * an x that does not fit. */
template <typename K>
static inline int sp_persistent_grid(K *fn, int threads, int tokens, int in, int work, size_t *allowed, sp_cuda_ctx *c,
                                     const char *who, size_t *smem, int *blocks) {
    *smem = (size_t)tokens * in * 2;
    if (*smem > 227 * 1024)
        return sp_error(SP_ERR_UNSUPPORTED, "%s: x of %d tokens x %d columns exceeds shared memory", who, tokens, in);
    SP_CHK(sp_allow_smem(fn, *smem, allowed));
    int per_sm = 0;
    SP_CU(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, fn, threads, *smem));
    const int most = (per_sm > 1 ? per_sm : 1) * c->sm_count;
    *blocks = work < 1 ? 1 : work < most ? work : most;
    return 0;
}

/* ------------------------------------------------------------------ programmatic dependent launch

 * On sm_90 a kernel launched with sp_launch(..., pdl = 1) may start while the kernel before it
 * in the stream still runs (once all of that one's blocks have started or called
 * sp_pdl_trigger). Such a kernel must call sp_pdl_wait() before it reads anything earlier
 * kernels wrote or writes anything they read; before that it may only read constant data
 * (weights), which is the point: a decode linear streams its first weights while the small
 * kernel before it finishes. Below sm_90, and for launches without the attribute, both calls
 * return at once. */
__device__ __forceinline__ void sp_pdl_wait(void) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void sp_pdl_trigger(void) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

/* cluster_y > 1: blocks (x, y) with the same x and y in each aligned run of cluster_y form one
 * thread block cluster (sm_90; grid.y a multiple of cluster_y) */
template <typename... KArgs, typename... Args>
static inline cudaError_t sp_launch_cl(void (*k)(KArgs...), dim3 grid, dim3 block, size_t smem, cudaStream_t st, int pdl,
                                       int cluster_y, Args... args) {
    cudaLaunchAttribute at[2];
    int na = 0;
    if (pdl) {
        at[na].id = cudaLaunchAttributeProgrammaticStreamSerialization;
        at[na++].val.programmaticStreamSerializationAllowed = 1;
    }
    if (cluster_y > 1) {
        at[na].id = cudaLaunchAttributeClusterDimension;
        at[na].val.clusterDim.x = 1, at[na].val.clusterDim.y = cluster_y, at[na++].val.clusterDim.z = 1;
    }
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid, cfg.blockDim = block, cfg.dynamicSmemBytes = smem, cfg.stream = st;
    cfg.attrs = at, cfg.numAttrs = na;
    return cudaLaunchKernelEx(&cfg, k, ((KArgs)args)...);
}
/* After a decode launch: 1 when it asked for clusters and they were refused (a partitioned GPU?);
 * the K splits then go through ws and counters from now on, and the caller launches again */
static inline int sp_cluster_refused(cudaError_t e, int cluster, sp_cuda_ctx *c) {
    if (e == cudaSuccess || !cluster) return 0;
    (void)cudaGetLastError();
    c->cluster_broken = 1;
    fprintf(stderr, "sparsity: cluster launch refused (%s); decode split-K goes through global memory\n", cudaGetErrorString(e));
    return 1;
}
template <typename... KArgs, typename... Args>
static inline cudaError_t sp_launch(void (*k)(KArgs...), dim3 grid, dim3 block, size_t smem, cudaStream_t st, int pdl,
                                    Args... args) {
    return sp_launch_cl(k, grid, block, smem, st, pdl, 1, args...);
}

/* ------------------------------------------------------------------ launch plan for the own kernels */

/* Block = 8 warps = rpb row tiles (16 rows each) x (8/rpb) warps splitting K;
 * grid = (row tiles / rpb) x splits; the block's K range is sp_split_range's, at most spb
 * macro steps of 256. */
struct sp_plan {
    int rpb, splits, spb, nt;
    int cluster;            /* 1: the splits of a row block form a cluster and reduce through its
                               shared memory (sp_epilogue), 0: through ws and counters */
    int pf, pf_bitmap;      /* L2 prefetch distance in macro steps (2:4, bitmap) */
    size_t smem;            /* x staging bytes */
};
int sp_plan_make(const sp_cuda_weight *w, int n, const sp_cuda_ctx *c, sp_plan *p);
/* how a plan sums its K splits */
static inline sp_split sp_split_of(const sp_plan &p) {
    return p.splits == 1 ? SP_SPLIT_NONE : p.cluster ? SP_SPLIT_CLUSTER : SP_SPLIT_GLOBAL;
}

/* ------------------------------------------------------------------ device helpers */

/* Macro steps [m0, m1) of K split y of `splits` over KM: sizes differ by at most one, so any
 * split count is whole (6144x4096 at 16 tokens: 5 splits of 3-4 steps fill 0.91 of a wave
 * where 4 of 4 steps filled 0.73; H200 run 24: the same time, the tiled bitmap kernel 5-6%
 * faster there, run 29). */
__device__ __forceinline__ void sp_split_range(int KM, int splits, int y, int *m0, int *m1) {
    /* 32-bit: (y + 1) KM <= KM^2 < 2^32 (sp_plan_make keeps KM < 2^16); a 64-bit division is a
     * called routine in every warp's prologue, ahead of its first weight load */
    *m0 = (int)((unsigned)y * (unsigned)KM / (unsigned)splits);
    *m1 = (int)((unsigned)(y + 1) * (unsigned)KM / (unsigned)splits);
}

#define SP_WARPS 8
#define SP_THREADS (SP_WARPS * 32)

/* How many clusters of cl blocks (1 x cl) of kernel k with smem bytes can be resident at once
 * (cudaOccupancyMaxActiveClusters), remembered per (kernel, cl, smem): a launch plan whose
 * clusters do not all fit runs partly in a second wave. */
template <typename K>
static inline int sp_clusters_resident(K *k, int cl, size_t smem, sp_cuda_ctx *c) {
    static struct { const void *k; int cl, n; size_t smem; } memo[32];
    static int nmemo;
    for (int i = 0; i < nmemo; i++)
        if (memo[i].k == (const void *)k && memo[i].cl == cl && memo[i].smem == smem) return memo[i].n;
    cudaLaunchAttribute at;
    at.id = cudaLaunchAttributeClusterDimension;
    at.val.clusterDim.x = 1, at.val.clusterDim.y = cl, at.val.clusterDim.z = 1;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3(1, cl), cfg.blockDim = SP_THREADS, cfg.dynamicSmemBytes = smem, cfg.stream = c->stream;
    cfg.attrs = &at, cfg.numAttrs = 1;
    int n = 0;
    if (cudaOccupancyMaxActiveClusters(&n, (void *)k, &cfg) != cudaSuccess) n = 0, (void)cudaGetLastError();
    if (nmemo < 32) memo[nmemo].k = (const void *)k, memo[nmemo].cl = cl, memo[nmemo].n = n, memo[nmemo++].smem = smem;
    return n;
}

/* 16-byte streaming load: read once, keep out of L1. */
__device__ __forceinline__ uint4 sp_ld_stream(const uint4 *p) {
    uint4 r;
    asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
                 : "l"(p));
    return r;
}

/* The stage order a24 (sp24_wgmma.cu builds it and its tiles 10-17 bulk-copy it; the decode
 * kernels and the mma.sp GEMM below read it): stage ks of a 128-row block is 64 columns, bytes
 * WG_STAGING apart. A first: consumer warpgroup c's 64 rows at c * WG_A_HALF, k32 step sl at
 * sl * WG_A_STEP, wgmma core matrices of 8 rows x 16 bytes with row groups WG_A_SBO and K halves
 * (8 kept values) WG_A_LBO apart; then the metadata, a word per consumer thread. */
#define WG_A_STAGE 8192u
#define WG_M_STAGE 1024u
#define WG_STAGING (WG_A_STAGE + WG_M_STAGE)
#define WG_A_HALF 4096u
#define WG_A_STEP 2048u
#define WG_A_LBO 128u
#define WG_A_SBO 256u

/* Where the 2:4 decode kernels and the mma.sp GEMM find a warp's A fragment (16 rows x 32 columns)
 * and metadata: v24/m24 (sp24_gemv.cu: a lane's uint4 is its fragment, one 16-byte load) or a24,
 * the one copy a weight keeps after sp_cuda_weight_one_copy. There a row tile's k32 step is 512
 * contiguous bytes (two row groups), and a lane's four words sit at its lane index plus 0, SBO,
 * LBO and SBO + LBO (in words 0, 64, 32, 96): four 4-byte loads, each a warp's coalesced 128
 * bytes, fetch the bytes of one 16-byte load; the metadata word of step pair q of macro step m is
 * one word a lane in stage 4m + q. */
struct sp24_src {
    const uint4 *v24, *m24;
    const uint32_t *a24;
    int KS, KM; /* 32-column steps, 256-column macro steps */
};
#define SP24_W(bytes) ((int)(bytes) / 4) /* a24 offsets in 32-bit words */
/* a24: row tile rt's 128-row block, its first stage, in words from a24 */
__device__ __forceinline__ size_t sp24_a24_block(const sp24_src &w, int rt) { return (size_t)(rt >> 3) * (w.KM * 4) * SP24_W(WG_STAGING); }
template <bool A24>
__device__ __forceinline__ const void *sp24_row(const sp24_src &w, int rt, int lane) { /* row tile rt's base for this lane */
    if constexpr (A24) return w.a24 + sp24_a24_block(w, rt) + ((rt & 7) >> 2) * SP24_W(WG_A_HALF) + (rt & 3) * SP24_W(2 * WG_A_SBO) + lane;
    else return w.v24 + (size_t)rt * w.KS * 32 + lane;
}
template <bool A24>
__device__ __forceinline__ const void *sp24_meta_row(const sp24_src &w, int rt, int lane) {
    if constexpr (A24) return w.a24 + sp24_a24_block(w, rt) + SP24_W(WG_A_STAGE) + (rt & 7) * 32 + lane;
    else return w.m24 + (size_t)rt * w.KM * 32 + lane;
}
__device__ __forceinline__ uint32_t sp_ld_stream32(const uint32_t *p) {
    uint32_t r;
    asm volatile("ld.global.nc.L1::no_allocate.u32 %0, [%1];" : "=r"(r) : "l"(p));
    return r;
}
/* STREAM: kept out of L1 (the decode kernels), else through L1 (the GEMM's token warps share it) */
template <bool STREAM> __device__ __forceinline__ uint32_t sp24_ld(const uint32_t *p) {
    if constexpr (STREAM) return sp_ld_stream32(p);
    else return __ldg(p);
}
template <bool STREAM> __device__ __forceinline__ uint4 sp24_ld(const uint4 *p) {
    if constexpr (STREAM) return sp_ld_stream(p);
    else return __ldg(p);
}
/* fragment of step s (0..7) of macro step m from sp24_row's base */
template <bool A24, bool STREAM>
__device__ __forceinline__ uint4 sp24_frag(const void *row, int m, int s) {
    if constexpr (A24) {
        const uint32_t *p = (const uint32_t *)row + (size_t)(4 * m + (s >> 1)) * SP24_W(WG_STAGING) + (s & 1) * SP24_W(WG_A_STEP);
        constexpr int B = SP24_W(WG_A_SBO), L = SP24_W(WG_A_LBO);
        return make_uint4(sp24_ld<STREAM>(p), sp24_ld<STREAM>(p + B), sp24_ld<STREAM>(p + L), sp24_ld<STREAM>(p + B + L));
    } else {
        return sp24_ld<STREAM>((const uint4 *)row + ((size_t)m * 8 + s) * 32);
    }
}
/* metadata of macro step m (component q: steps 2q, 2q + 1) from sp24_meta_row's base */
template <bool A24, bool STREAM>
__device__ __forceinline__ uint4 sp24_meta(const void *row, int m) {
    if constexpr (A24) {
        constexpr int S = SP24_W(WG_STAGING);
        const uint32_t *p = (const uint32_t *)row + (size_t)4 * m * S;
        return make_uint4(sp24_ld<STREAM>(p), sp24_ld<STREAM>(p + S), sp24_ld<STREAM>(p + 2 * S), sp24_ld<STREAM>(p + 3 * S));
    } else {
        return sp24_ld<STREAM>((const uint4 *)row + (size_t)m * 32);
    }
}
static inline sp24_src sp24_src_of(const sp_cuda_weight *w) {
    return sp24_src{w->v24, w->m24, (const uint32_t *)w->a24, w->kp / 32, w->kp / 256};
}

/* Warp-collective L2 prefetch of bytes at p (16-byte aligned): one bulk prefetch on
 * sm_90, one prefetch per 128-byte line otherwise. Raises the bytes in flight without
 * registers; the register loads that follow then hit L2. */
__device__ __forceinline__ void sp_prefetch_l2(const void *p, uint32_t bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    if ((threadIdx.x & 31) == 0 && bytes)
        asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(p), "r"(bytes & ~15u) : "memory");
#else
    for (uint32_t o = (threadIdx.x & 31) * 128; o < bytes; o += 32 * 128)
        asm volatile("prefetch.global.L2 [%0];" ::"l"((const char *)p + o));
#endif
}

/* The two element types of the 2:4 and dense paths: T is __nv_bfloat16 or __half. */
template <typename T> struct sp_is_f16 { static constexpr bool v = false; };
template <> struct sp_is_f16<__half> { static constexpr bool v = true; };
template <typename T> __device__ __forceinline__ T sp_from_f32(float v);
template <> __device__ __forceinline__ __nv_bfloat16 sp_from_f32<__nv_bfloat16>(float v) { return __float2bfloat16(v); }
template <> __device__ __forceinline__ __half sp_from_f32<__half>(float v) { return __float2half_rn(v); }
/* two f32 as one 32-bit pair of T (lo first) */
template <typename T> __device__ __forceinline__ uint32_t sp_pack2(float lo, float hi) {
    const T a = sp_from_f32<T>(lo), b = sp_from_f32<T>(hi);
    return (uint32_t)*reinterpret_cast<const uint16_t *>(&a) | ((uint32_t)*reinterpret_cast<const uint16_t *>(&b) << 16);
}

/* D (16x8 f32) += A (16x32 2:4, 4 regs + metadata e) * B (32x8), A and B bf16 or (F16) f16;
 * SEL picks the lanes (t in {0,1} or {2,3}) whose e is read. */
#define SP_MMA_SP(TY)                                                                          \
    asm("mma.sp::ordered_metadata.sync.aligned.m16n8k32.row.col.f32." TY "." TY ".f32 "      \
        "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9,%10,%11}, {%0,%1,%2,%3}, %12, %13;"             \
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])                                      \
        : "r"(a.x), "r"(a.y), "r"(a.z), "r"(a.w), "r"(b[0]), "r"(b[1]), "r"(b[2]), "r"(b[3]), \
          "r"(e), "n"(SEL))
template <int SEL, bool F16 = false>
__device__ __forceinline__ void sp_mma_sp(float *d, const uint4 &a, const uint32_t *b, uint32_t e) {
    if constexpr (F16) SP_MMA_SP("f16");
    else SP_MMA_SP("bf16");
}
#undef SP_MMA_SP

/* ------------------------------------------------------------------ random fill, attention */

__device__ __forceinline__ uint64_t sp_mix64(uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* w[i] = scale * uniform(-1, 1), from (seed, i). A template so that every .cu that launches
 * it may include this header (one instantiation, no duplicate kernel symbols). */
template <int = 0>
__global__ void k_random_bf16(__nv_bfloat16 *w, size_t n, uint64_t seed, float scale) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float u = (float)(sp_mix64(seed ^ sp_mix64(i)) >> 40) * (2.f / 16777216.f) - 1.f;
        w[i] = __float2bfloat16(u * scale);
    }
}

/* Fused causal prefill attention (flash_attn.cu); head dims 32, 64, 128. q (n rows lq apart,
 * heads*D) at positions pos..pos+n-1, rotate-half RoPE applied to q on the fly when cs/sn (tables
 * (positions, D/2) f32) are not NULL; caches (.., kvd) hold rows 0..pos+n-1 (keys rotated), out
 * (n, heads*D). */
int sp_flash_prefill(const __nv_bfloat16 *q, int lq, const __nv_bfloat16 *kc, const __nv_bfloat16 *vc,
                     __nv_bfloat16 *out, int n, int pos, int heads, int group, int D, int kvd, const float *cs,
                     const float *sn, float scale, cudaStream_t st);
/* the override of sp_cuda_flash_rows (16, 32, 64; anything else: automatic; SP_FA_ROWS sets it
 * at first use); returns the previous one */
int sp_flash_set_rows(int rows);
/* the kernel a value of sp_cuda_flash_rows names, in words */
const char *sp_flash_kernel_name(int rows);
/* the same attention by a naive f32 kernel (one warp a query row and head), out f32 */
int sp_attn_reference(const __nv_bfloat16 *q, const __nv_bfloat16 *kc, const __nv_bfloat16 *vc, float *out, int n,
                      int pos, int heads, int group, int D, int kvd, const float *cs, const float *sn, float scale,
                      cudaStream_t st);

/* D (16x8 f32) += A (16x16 bf16, 4 regs) * B (16x8 bf16, 2 regs). */
__device__ __forceinline__ void sp_mma_dense(float *d, uint32_t a0, uint32_t a1, uint32_t a2,
                                             uint32_t a3, uint32_t b0, uint32_t b1) {
    asm(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
        "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

/* Stages x[:, k0 : k0 + 32*steps32] (n tokens) into shared memory with cp.async, in its
 * natural layout: token j at xs + j*stride (stride = 64*steps32 + 16 bytes, the 16-byte
 * pad keeps the 8 rows of an ldmatrix on distinct banks), then a zero row at j = n for
 * the unused token lanes. Columns past K read as 0. Waited for with sp_stage_wait. */
__device__ __forceinline__ int sp_stage_stride(int steps32) { return steps32 * 64 + 16; }

/* Local 32-column steps [lo, hi) of every token, then commits one cp.async group. */
__device__ __forceinline__ void sp_stage_x_range(uint32_t *xs, const __nv_bfloat16 *x, int n, int K, int k0,
                                                 int steps32, int lo, int hi) {
    const int stride = sp_stage_stride(steps32), chunks = (hi - lo) * 4; /* 16-byte chunks per token */
    char *base = reinterpret_cast<char *>(xs);
    for (int i = threadIdx.x; i < n * chunks; i += blockDim.x) {
        int j = i / chunks, c = lo * 4 + i % chunks, col = k0 + c * 8;
        const __nv_bfloat16 *src = col < K ? x + (size_t)j * K + col : x;
        uint32_t dst = (uint32_t)__cvta_generic_to_shared(base + j * stride + c * 16);
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(src), "r"(col < K ? 16 : 0));
    }
    asm volatile("cp.async.commit_group;");
}

/* The zero row (token n) that unused B lanes read. */
__device__ __forceinline__ void sp_stage_zero(uint32_t *xs, int n, int steps32) {
    char *base = reinterpret_cast<char *>(xs) + n * sp_stage_stride(steps32);
    for (int i = threadIdx.x; i < steps32 * 4; i += blockDim.x)
        *reinterpret_cast<uint4 *>(base + i * 16) = make_uint4(0, 0, 0, 0);
}

__device__ __forceinline__ void sp_stage_x(uint32_t *xs, const __nv_bfloat16 *x, int n, int K, int k0,
                                           int steps32) {
    sp_stage_x_range(xs, x, n, K, k0, steps32, 0, steps32);
    sp_stage_zero(xs, n, steps32);
}

__device__ __forceinline__ void sp_stage_wait(void) {
    asm volatile("cp.async.wait_group 0;");
    __syncthreads();
}

/* B fragments of the 32-column step s for tokens 8nt..8nt+7 (rows >= n read the zero row):
 * ldmatrix.x4, matrix m = columns 8m..8m+7, so b[m] holds k = 8m + 2t, +1 of token g. */
__device__ __forceinline__ void sp_load_b(uint32_t *b, const uint32_t *xs, int s, int n, int nt, int steps32) {
    const int lane = threadIdx.x & 31, row = nt * 8 + (lane & 7), m = lane >> 3;
    const char *p = reinterpret_cast<const char *>(xs) + (row < n ? row : n) * sp_stage_stride(steps32) +
                    s * 64 + m * 16;
    uint32_t a = (uint32_t)__cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(b[0]), "=r"(b[1]), "=r"(b[2]), "=r"(b[3])
                 : "r"(a));
}

/* The split-K hand-over (partials into ws, then a counter; the last one reads ws) is message
 * passing: a release fence before the counter, an acquire fence after it. acq_rel is enough;
 * __threadfence() is the stronger sequentially consistent fence (MEMBAR.SC). H200 run 20, same
 * process A/B: delta rows 0-0.4 us faster, 2:4 decode the same. */
__device__ __forceinline__ void sp_fence_gpu(void) { asm volatile("fence.acq_rel.gpu;" ::: "memory"); }

/* 4 rows (row..row+3) of token tok of y from f32: one 8-byte store where the 4 are in y and aligned */
template <typename T>
__device__ __forceinline__ void sp_store_y4(T *y, int tok, int row, int M, const float *v) {
    T *p = y + (size_t)tok * M + row;
    if (row + 3 < M && !(reinterpret_cast<uintptr_t>(p) & 7)) {
        *reinterpret_cast<uint2 *>(p) = make_uint2(sp_pack2<T>(v[0], v[1]), sp_pack2<T>(v[2], v[3]));
        return;
    }
#pragma unroll
    for (int e = 0; e < 4; e++)
        if (row + e < M) p[e] = sp_from_f32<T>(v[e]);
}

/* ws[0..3] += v[0..3] (16-byte aligned): one vector reduction on sm_90, four before */
__device__ __forceinline__ void sp_red4(float *ws, const float *v) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("red.global.add.v4.f32 [%0], {%1, %2, %3, %4};" ::"l"(ws), "f"(v[0]), "f"(v[1]), "f"(v[2]), "f"(v[3])
                 : "memory");
#else
#pragma unroll
    for (int e = 0; e < 4; e++) atomicAdd(ws + e, v[e]);
#endif
}

/* Thread block clusters (sm_90): a barrier over every thread of the cluster (release/acquire:
 * shared-memory writes before it are seen by the other blocks after it), the block's rank,
 * and a 16-byte load from the same shared offset in block `rank`. */
__device__ __forceinline__ void sp_cluster_sync(void) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("barrier.cluster.arrive.release.aligned;\nbarrier.cluster.wait.acquire.aligned;" ::: "memory");
#endif
}
__device__ __forceinline__ unsigned sp_cluster_rank(void) {
    unsigned r = 0;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("mov.u32 %0, %%cluster_ctarank;" : "=r"(r));
#endif
    return r;
}
__device__ __forceinline__ float4 sp_ld_cluster4(const float4 *local, unsigned rank) {
    float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    uint32_t a = (uint32_t)__cvta_generic_to_shared(local), ra;
    asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(ra) : "r"(a), "r"(rank));
    asm volatile("ld.shared::cluster.v4.f32 {%0,%1,%2,%3}, [%4];" : "=f"(v.x), "=f"(v.y), "=f"(v.z), "=f"(v.w) : "r"(ra) : "memory");
#else
    (void)local, (void)rank;
#endif
    return v;
}

/* The cluster's split-K sum: quads[rpb_i * 64 + i] (quad i = 4 tok + q of row tile rpb_i of the
 * block) holds each block's partial; block `rank` sums its share of the quads over the `splits`
 * blocks in rank order (deterministic) and writes y. Against ws + counters this is two cluster
 * barriers and one round of independent shared-memory loads instead of reductions, a fence, a
 * counter and a dependent L2 read. */
template <typename T>
__device__ __forceinline__ void sp_cluster_reduce(const float4 *quads, int rt0, int rpb, int splits, int M, int Mp,
                                                  int n, T *y) {
    sp_cluster_sync(); /* every block's quads are written */
    const unsigned rank = sp_cluster_rank();
    for (int Q = rank * blockDim.x + threadIdx.x; Q < rpb * 64; Q += splits * blockDim.x) {
        const int i = Q & 63, tok = i >> 2, rt = rt0 + (Q >> 6);
        if (tok >= n || rt * 16 >= Mp) continue;
        float4 p[8];
#pragma unroll
        for (int r = 0; r < 8; r++)
            if (r < splits) p[r] = sp_ld_cluster4(quads + Q, r);
        float v[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
        for (int r = 0; r < 8; r++)
            if (r < splits) v[0] += p[r].x, v[1] += p[r].y, v[2] += p[r].z, v[3] += p[r].w;
        sp_store_y4(y, tok, rt * 16 + 4 * (i & 3), M, v);
    }
    sp_cluster_sync(); /* no block leaves while another still reads its shared memory */
}

/* Epilogue shared by the own kernels: sums the kw partial accumulators of each row
 * tile, then writes y (splits == 1), or (cluster) leaves its partial quads in shared memory
 * for sp_cluster_reduce, or adds into ws and lets the last block of the row tile convert ws
 * to y and zero it again.
 * acc[nt][i]: i = 0,1 -> row g, tokens 8nt+2t, +1; i = 2,3 -> row g+8.
 * After the exchange in shared memory a lane owns quads: 4 rows (4q..4q+3 of the tile) of one
 * token, quad i = lane + 32j (token i/4, q = i%4), j < NT; so y, ws and the last block's pass
 * move 4 values an access. Why: the last block's pass was one atomic exchange a value, each
 * waited for before the next (SASS), 8 L2 round trips a lane at 16 tokens. */
template <int NT, typename T = __nv_bfloat16>
__device__ __forceinline__ void sp_epilogue(float (*acc)[4], float *red, int rt, int kwi, int kw,
                                            int rpb_i, int M, int Mp, int n,
                                            T *y, float *ws, unsigned *counters,
                                            int splits, int cluster = 0, int rpb = 1) {
    /* cluster: the splits reduce through shared memory (sp_cluster_reduce), quads after red */
    float4 *quads = reinterpret_cast<float4 *>(red + SP_WARPS * NT * 4 * 32);
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    __syncthreads(); /* x staging area is reused as red */
#pragma unroll
    for (int nt = 0; nt < NT; nt++)
#pragma unroll
        for (int i = 0; i < 4; i++) red[(warp * NT * 4 + nt * 4 + i) * 32 + lane] = acc[nt][i];
    __syncthreads();
    const bool valid_rt = rt * 16 < Mp;
    if (kwi == 0 && valid_rt) {
        float *mine = red + warp * NT * 4 * 32;
        if (kw > 1) { /* the row tile's kw partials, summed in fragment layout (independent loads), back into mine */
            for (int w2 = 1; w2 < kw; w2++) {
                const int ow = w2 * (SP_WARPS / kw) + rpb_i; /* warp of the same row tile */
#pragma unroll
                for (int nt = 0; nt < NT; nt++)
#pragma unroll
                    for (int i = 0; i < 4; i++) acc[nt][i] += red[(ow * NT * 4 + nt * 4 + i) * 32 + lane];
            }
#pragma unroll
            for (int nt = 0; nt < NT; nt++)
#pragma unroll
                for (int i = 0; i < 4; i++) mine[(nt * 4 + i) * 32 + lane] = acc[nt][i];
            __syncwarp();
        }
#pragma unroll
        for (int j = 0; j < NT; j++) {
            const int i = lane + 32 * j, tok = i >> 2, r0 = 4 * (i & 3);
            if (tok >= n) continue;
            float v[4];
#pragma unroll
            for (int e = 0; e < 4; e++) { /* row g = r0 + e of token tok sits in lane 4(g%8) + (tok%8)/2 */
                const int g = r0 + e;
                v[e] = mine[((tok >> 3) * 4 + ((g >> 3) << 1) + (tok & 1)) * 32 + 4 * (g & 7) + ((tok & 7) >> 1)];
            }
            if (splits == 1) sp_store_y4(y, tok, rt * 16 + r0, M, v);
            else if (cluster) quads[rpb_i * 64 + i] = make_float4(v[0], v[1], v[2], v[3]);
            else sp_red4(ws + (size_t)tok * Mp + rt * 16 + r0, v);
        }
    }
    if (splits == 1) return;
    if (cluster) { sp_cluster_reduce(quads, rt - rpb_i, rpb, splits, M, Mp, n, y); return; }
    /* The hand-over as a split-K semaphore: the barrier puts every warp's reductions before the
     * one counter update, whose release covers them (cumulativity); its acquire, then the second
     * barrier, put the last block's reads after every block's partials. No fence a thread: ncu
     * run 39 had the per-thread fence (ERRBAR + L1 invalidate) at 6.5% of the 16-token call's
     * stall samples. */
    __syncthreads();
    __shared__ unsigned last[SP_WARPS];
    if (kwi == 0 && lane == 0) {
        unsigned prev = 0;
        if (valid_rt) asm volatile("atom.acq_rel.gpu.global.add.u32 %0, [%1], 1;" : "=r"(prev) : "l"(counters + rt) : "memory");
        last[rpb_i] = (prev == (unsigned)splits - 1);
    }
    __syncthreads();
    if (kwi == 0 && last[rpb_i]) {
        float4 v[NT]; /* every load issued before the first store waits */
#pragma unroll
        for (int j = 0; j < NT; j++) {
            const int i = lane + 32 * j, tok = i >> 2;
            if (tok < n) v[j] = __ldcg(reinterpret_cast<const float4 *>(ws + (size_t)tok * Mp + rt * 16 + 4 * (i & 3)));
        }
#pragma unroll
        for (int j = 0; j < NT; j++) {
            const int i = lane + 32 * j, tok = i >> 2, row = rt * 16 + 4 * (i & 3);
            if (tok >= n) continue;
            __stcg(reinterpret_cast<float4 *>(ws + (size_t)tok * Mp + row), make_float4(0.f, 0.f, 0.f, 0.f));
            const float f[4] = {v[j].x, v[j].y, v[j].z, v[j].w};
            sp_store_y4(y, tok, row, M, f);
        }
        if (lane == 0) counters[rt] = 0;
    }
}

/* n tokens as launches of at most 4 (the lane-a-row kernels are built for 1, 2 and 4):
 * launch(m, x rows, y rows) for each slice of m tokens. */
template <typename F>
static inline int sp_run_by4(const sp_cuda_weight *w, const __nv_bfloat16 *x, int n, __nv_bfloat16 *y, F launch) {
    for (int i = 0; i < n; i += 4) {
        const int m = n - i < 4 ? n - i : 4;
        const int rc = launch(m, x + (size_t)i * w->in, y + (size_t)i * w->out);
        if (rc) return rc;
    }
    return 0;
}

/* The end of a lane-a-row task (bitmap_rows.cu): acc[t] is the lane's partial
 * sum of row `row` of token t over one of `chunks` column chunks of row group rg (32 rows, Mp
 * = 32 x row groups). One chunk: straight to y; else atomics into ws, and the warp that
 * brings the last chunk of the group writes y and zeroes ws and the counter (self-cleaning).
 * Warp-uniform: every lane of the warp calls it. */
template <int N>
__device__ __forceinline__ void sp_rows_flush(const float *acc, int row, int rg, int chunks, int n, int M, int Mp,
                                              __nv_bfloat16 *y, float *ws, unsigned *counters, int lane) {
    if (chunks == 1) {
#pragma unroll
        for (int t = 0; t < N; t++)
            if (t < n && row < M) y[(size_t)t * M + row] = __float2bfloat16(acc[t]);
        return;
    }
#pragma unroll
    for (int t = 0; t < N; t++)
        if (t < n) atomicAdd(ws + (size_t)t * Mp + row, acc[t]);
    sp_fence_gpu();
    unsigned prev = 0;
    if (lane == 0) prev = atomicAdd(counters + rg, 1u);
    prev = __shfl_sync(0xffffffffu, prev, 0);
    if (prev != (unsigned)chunks - 1) return;
    sp_fence_gpu(); /* the last warp of the row group: every partial is in ws */
    float v[N];      /* loads first, then stores: not N atomic exchanges waited for one by one */
#pragma unroll
    for (int t = 0; t < N; t++)
        if (t < n) v[t] = __ldcg(ws + (size_t)t * Mp + row);
#pragma unroll
    for (int t = 0; t < N; t++)
        if (t < n) {
            __stcg(ws + (size_t)t * Mp + row, 0.0f);
            if (row < M) y[(size_t)t * M + row] = __float2bfloat16(v[t]);
        }
    if (lane == 0) counters[rg] = 0;
}
