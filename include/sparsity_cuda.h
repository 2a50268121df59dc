/* sparsity_cuda.h: the GPU backend (prefix sp_cuda_), built when SP_CUDA finds nvcc.
 *
 * Without a CUDA build (or without a device) sp_cuda_available() returns 0 and
 * every other call fails with SP_ERR_UNSUPPORTED and a message, so callers fall
 * back to the CPU kernels. Host .c files include only this header, never CUDA's.
 *
 * A weight lives on the device as an opaque sp_cuda_weight bound to one kernel.
 * Activations are device buffers of the weight's element type (bf16 unless uploaded as
 * f16): x (n, in), y (n, out), row-major, so y = x W^T exactly as sp_linear. All work goes
 * to one library stream and calls return after enqueueing (sp_cuda_download and
 * sp_cuda_sync wait).
 *
 * 2:4 input layout (shared with the CPU formats):
 *   vals (out, in/2) bf16: the two kept values of each group of 4 inputs, ascending column;
 *   meta (out, in/16) uint16: group g is the nibble at bits 4*(g%4) of meta[row][g/4];
 *   nibble bits[1:0] = first kept index, bits[3:2] = second (first < second).
 * The upload reorders these bytes into the mma.sp fragment order (see sp24_gemv.cu).
 * in must be a multiple of 16 for every kernel; out is free. */
#ifndef SPARSITY_CUDA_H
#define SPARSITY_CUDA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when the backend is built and a device answers; else 0 and sp_last_error() says why. */
int sp_cuda_available(void);
/* Device name, multiprocessor count, L2 bytes and memory bytes (any pointer may be NULL). */
int sp_cuda_device_info(char *name, size_t name_len, int *sm_count, size_t *l2_bytes, size_t *mem_bytes);
/* The versions behind every measurement, in words: the CUDA version the driver supports, the
 * runtime's and cuBLAS's with the workspace our handle gives it, e.g. "driver CUDA 13.0, runtime
 * 13.0, cuBLAS 13.1.0 with a 32 MiB workspace" (a baseline that moves between runs may be a
 * library that changed). */
int sp_cuda_versions(char *buf, size_t len);
/* Device memory in use now (total - free, cudaMemGetInfo): everything on the card, this process's
 * weights, caches, workspaces and the driver's own, and other processes' if any. */
int sp_cuda_mem_in_use(size_t *bytes);

typedef enum {
    SP_CUDA_KERNEL_DENSE = 0, /* cuBLAS GemmEx on the dense bf16 weight (the baseline) */
    SP_CUDA_KERNEL_24,        /* own mma.sp kernel, 2:4 bf16: decode kernel n <= 16 (Hopper: 32), GEMM above */
    SP_CUDA_KERNEL_24_LT,     /* cuSPARSELt (dlopen'ed at run time), 2:4 bf16 (prefill) */
    SP_CUDA_KERNEL_BITMAP,    /* own tiled-bitmap kernel, unstructured bf16 (decode) */
    SP_CUDA_KERNEL_CSR,       /* cuSPARSE CSR SpMV/SpMM (measured baseline) */
    SP_CUDA_KERNEL_BITMAP_ROWS, /* own row-bitmap kernel on CUDA cores, unstructured bf16 (1-4 tokens) */
    SP_CUDA_KERNEL_COO,       /* cuSPARSE COO SpMV/SpMM (measured baseline) */
    SP_CUDA_KERNEL_BSR,       /* cuSPARSE BSR SpMV/SpMM (block-pruned weights; measured baseline) */
    SP_CUDA_KERNEL_CSR16,     /* own CSR with 16-bit columns, a warp a row, unstructured bf16 (1-2 tokens, >= 80%) */
    SP_CUDA_KERNEL_DELTA_ROWS, /* own lane-a-row kernel over 4-bit column deltas, unstructured bf16 (1-4 tokens) */
    SP_CUDA_KERNEL_COUNT
} sp_cuda_kernel;

/* "dense-cublas", "24-mma.sp", ...; "?" out of range. Also in builds without CUDA (kernel tables). */
const char *sp_cuda_kernel_name(sp_cuda_kernel k);

typedef struct sp_cuda_weight sp_cuda_weight; /* opaque: one weight on the device */

/* Element type of a weight and of the x and y it is used with. f16 is built for DENSE (cuBLAS),
 * 24 (the mma.sp decode kernel, the mma.sp GEMM tiles and the wgmma.sp tiles 5, 8 and 11)
 * and 24_LT (cuSPARSELt, its default algorithm: its f16 algorithm search broke the CUDA context
 * on the H200, see cusparselt.cu); the unstructured and cuSPARSE forms are bf16 only (their
 * upload with f16 fails and says so). */
typedef enum { SP_CUDA_BF16 = 0, SP_CUDA_F16 = 1 } sp_cuda_dtype;

/* Dense bf16 weight w (out, in) for DENSE, BITMAP(_ROWS), CSR16, DELTA_ROWS, CSR, COO or BSR (zeros are dropped by the
 * sparse ones; BSR keeps every bs x bs block holding a nonzero, see sp_cuda_set_bsr_block).
 * NULL + sp_last_error() on failure. */
sp_cuda_weight *sp_cuda_upload_dense(sp_cuda_kernel k, int out, int in, const uint16_t *w_bf16);
/* 2:4 weight in the shared layout above, for 24 or 24_LT. */
sp_cuda_weight *sp_cuda_upload_24(sp_cuda_kernel k, int out, int in, const uint16_t *vals_bf16,
                                  const uint16_t *meta);
/* The same from a masked dense bf16 weight (out, in) already on the device, for any kernel;
 * 2:4 and cuSPARSELt are built there (the 2:4 ones reject groups with > 2 nonzeros). */
sp_cuda_weight *sp_cuda_upload_device(sp_cuda_kernel k, int out, int in, const void *w_dev);
/* The three uploads above for a weight of element type t (values as 16-bit patterns of t);
 * sp_cuda_linear on the result takes x and y of type t. */
sp_cuda_weight *sp_cuda_upload_dense_t(sp_cuda_kernel k, int out, int in, const uint16_t *w, sp_cuda_dtype t);
sp_cuda_weight *sp_cuda_upload_24_t(sp_cuda_kernel k, int out, int in, const uint16_t *vals, const uint16_t *meta,
                                    sp_cuda_dtype t);
sp_cuda_weight *sp_cuda_upload_device_t(sp_cuda_kernel k, int out, int in, const void *w_dev, sp_cuda_dtype t);
void sp_cuda_weight_free(sp_cuda_weight *w);
/* A 2:4 weight (kernel 24) kept in one device layout: its copy in the wgmma.sp GEMM's stage order
 * (built here if missing), from which the decode kernels and the mma.sp GEMM then read too, and
 * the fragment-order copy freed: half the device bytes of keeping both, and every kernel of the
 * automatic choice still runs (GEMM tiles 4-9, which read the freed copy, fail and say so). 0, or
 * an error where w is not a 2:4 weight or the copy cannot be made. */
int sp_cuda_weight_one_copy(sp_cuda_weight *w);
sp_cuda_dtype sp_cuda_weight_dtype(const sp_cuda_weight *w);
sp_cuda_kernel sp_cuda_weight_kernel(const sp_cuda_weight *w);
/* Device bytes of the weight (what one decode call must read). */
size_t sp_cuda_weight_bytes(const sp_cuda_weight *w);

/* Device buffers. */
void *sp_cuda_malloc(size_t bytes); /* NULL + message on failure */
void sp_cuda_free(void *dev);
int sp_cuda_upload(void *dev, const void *host, size_t bytes);
int sp_cuda_download(void *host, const void *dev, size_t bytes);
int sp_cuda_sync(void);
/* Marks the calls a profiler records (on = 1 opens the range, 0 closes it, after a sync):
 * cudaProfilerStart/Stop, so `ncu --profile-from-start off` sees only the calls between. */
int sp_cuda_profile(int on);

/* y (n, out) = x (n, in) W^T; device buffers of the weight's element type (bf16 unless
 * uploaded as f16), fp32 accumulation. */
int sp_cuda_linear(const sp_cuda_weight *w, const void *x, int n, void *y);
/* The concrete kernel sp_cuda_linear(w, ..., n, ...) runs where a form has several (2:4 own:
 * "mma.sp decode" or, on Hopper from 4 tokens, "wgmma.sp decode" up to 32 tokens, with ",
 * cluster split-K" or ", global split-K" where its K splits add up in a thread block cluster's
 * shared memory or through global memory, and in parentheses why the wgmma.sp decode was asked
 * for and not taken; then an mma.sp GEMM tile, or from 256 tokens on Hopper the wgmma.sp GEMM),
 * for an x that is 16-byte aligned as cudaMalloc'd buffers are (an unaligned x takes an mma.sp
 * tile); for DELTA_ROWS its entry form ("2-byte entries ..." or "2.5-byte entries (why)"), task
 * layout, warps a row group and whether it launches early where the device model asks (its
 * decode graph: programmatic dependence); "" for single-kernel forms. The string lives until the next call. */
const char *sp_cuda_linear_path(const sp_cuda_weight *w, int n);
/* What a delta-rows upload of the bf16 weight dense (out x in) would choose on a device of sms SMs
 * (host work only, no device needed): the path sp_cuda_linear_path would give, warps a block,
 * device bytes. NULL + message on bad arguments or without the CUDA backend. */
const char *sp_cuda_delta_rows_plan(int out, int in, const uint16_t *dense, int sms, int *warps, size_t *bytes);
/* The same upload built on the host and decoded back as the kernel reads it (its entry decode
 * compiled for the host, its block addressing mirrored): 0 where that gives dense exactly, else a
 * message naming the first difference. *path (if path): the form and layout taken. No device needed. */
int sp_cuda_delta_rows_check(int out, int in, const uint16_t *dense, int sms, const char **path);

/* Median microseconds of one sp_cuda_linear call, after warm-up, CUDA events.
 * flush_l2 = 1: a 2x-L2 read before each call (cold L2), one call per event pair, cycling
 *   through the n_w weights.
 * flush_l2 = 0: the n_w weights (same shape; give enough that they exceed L2) run back to
 *   back, as layers of a decode step do; time per round / n_w.
 * iters = calls (flush) or rounds (rotate). */
int sp_cuda_time_linear(const sp_cuda_weight *const *w, int n_w, const void *x, int n, void *y,
                        int iters, int flush_l2, double *median_us);
/* How the rotated (flush_l2 = 0) timings launch a round of calls: 0 = one by one from the host
 * (default); 1 = captured once as a CUDA graph and replayed, as the device model's decode step
 * runs (no host launch time, graph launch gaps); 2 = the same with the own decode kernels (2:4,
 * delta rows) launched with programmatic dependence (each may start loading its weight while the one before
 * finishes), as in the model. A call that cannot be captured fails the timing and says why. */
void sp_cuda_set_timing(int mode);
/* The same two methods for a plain 16-byte streaming read of bytes (the bandwidth floor). */
int sp_cuda_time_read(size_t bytes, int iters, int flush_l2, double *median_us);
/* The same rotated timing (host launches or a graph, by sp_cuda_set_timing) of a kernel that does
 * nothing, blocks x threads: the fixed cost of any call before it moves a byte. */
int sp_cuda_time_empty(int blocks, int threads, int iters, double *median_us);

/* The device model's fused causal prefill attention alone, on random q, k, v: n query rows at
 * positions pos..pos+n-1 over pos+n cached keys (head_dim 32, 64 or 128); rope 1: q rotated by
 * the kernel from RoPE tables (as the model runs it), the reference rotating in f32; rows: the
 * kernel as sp_cuda_flash_rows names it (16, 32, 64), 0 the automatic choice. Median us per call (back
 * to back, K and V warm in L2 as after the model's KV store) and the relative error (2-norm)
 * against a naive f32 reference kernel. */
typedef struct {
    int n, pos, heads, kv_heads, head_dim, rope, rows;
} sp_cuda_attn_case;
int sp_cuda_time_attention(const sp_cuda_attn_case *a, int iters, double *median_us, double *rel_err);
/* The prefill attention kernel n rows of the heads take: 64 the wgmma kernel (64 query rows a
 * warpgroup; head dims 64 and 128 on sm_90a), 16 or 32 the mma.sync kernels (query rows a warp);
 * SP_FA_ROWS=16|32|64 forces one. 0 without a device. */
int sp_cuda_flash_rows(int n, int heads, int head_dim);

/* The board's mean SM clock, mean power draw (NVML's reading) and peak temperature over a timed
 * section, sampled every 20 ms in a thread between start and stop (src/kernels/cuda/power.cu;
 * NVML dlopen'ed: without it start fails and sp_last_error says why, and stop gives samples 0
 * without an error). One section at a time. */
typedef struct {
    double sm_mhz, power_w, temp_c_max;
    int samples; /* 0: nothing sampled, the fields are 0 */
} sp_cuda_power;
int sp_cuda_power_start(void);
int sp_cuda_power_stop(sp_cuda_power *p);

/* Kernel choice from the measured table in bench/results/gpu-h100.md:
 * structured = 1 for a 2:4 weight, else sparsity is the zero fraction. *why says why. */
sp_cuda_kernel sp_cuda_select(int structured, double sparsity, int out, int in, int n_tokens,
                              const char **why);

/* Tuning knobs for the own decode kernels (bench sweeps; the 2:4 GEMM above 16 tokens ignores
 * them): row tiles per block (1,2,4,8), K splits (0 = automatic) and L2 prefetch distance in
 * 256-column steps (0..8, -1 = automatic). The row-bitmap kernel reads splits as column chunks
 * per row group; CSR16 takes none of them. Applies to later
 * sp_cuda_linear calls. */
void sp_cuda_set_config(int row_tiles_per_block, int k_splits, int prefetch);
/* How the 2:4 decode kernel sums its K splits: -1 = automatic (on sm_90 the 2-8 splits of a
 * row block run as one thread block cluster and add up in its shared memory), 0 = always
 * through global memory (atomics and a counter a row tile), 1 = the same as automatic. */
void sp_cuda_set_decode_cluster(int mode);
/* The 2:4 decode (1-16 tokens) on Hopper's warpgroup instruction wgmma.sp (sm_90a; x read by the
 * tensor cores from shared memory once a warpgroup) instead of mma.sp: -1 = automatic (default:
 * from 4 to 16 tokens, where it measured faster), 0 = off, 1 = at any token count up to 32 (17-32
 * instead of the GEMM: 1.22-1.43x cuBLAS at 24-32 tokens on three of the four 8B shapes, H200 run
 * 154; not yet automatic, its run in the whole model is pending); either way only where it can
 * run (an sm_90 device, a launch plan of 4 or 8 row tiles a block, no GEMM tile forced); elsewhere
 * the mma.sp kernel or the GEMM runs and sp_cuda_linear_path says so. */
void sp_cuda_set_decode_wgmma(int mode);
/* 1: the 2:4 decode kernels and the mma.sp GEMM read the stage-order copy (built at first use)
 * even where the fragment-order one is kept, as a one-copy weight makes them; 0 (default): the
 * fragment-order copy where present. For A/B timing and tests. */
void sp_cuda_set_read_a24(int mode);
/* Block tile of the own 2:4 GEMM (above 16 tokens): 0 = automatic (an mma.sp tile), 1 = 128
 * rows x 128 tokens, 2 = 128 x 64,
 * 3 = 64 x 64 (mma.sp), 4 = the wgmma.sp kernel (128 x 128, weight loaded into registers),
 * 5 = weight through a per-thread shared-memory ring, 6 = CTA pairs multicasting x (slower, kept
 * for A/B), 7 = 5 with 192-row blocks, 8 = 5 with 128 x 256 blocks, 9 = 8 with the weight as a
 * shared-memory A operand (experiment, slower), 10 and 11 = 9 with that A stored at first use
 * in the stage layout and bulk-copied (4 and 5 stages; a second device copy of the weight);
 * 12 = 11 with two wgmma groups in flight a consumer, 13 = 11 in CTA pairs multicasting x
 * (experiments), 14 = 11 persistent with TMA stores, 15 = 14 with 128-token blocks, 16 and 17 =
 * 14 and 15 with K in two parts added into y (rows of y a multiple of 8); the automatic choice on
 * Hopper above 16 tokens is one of 14-17 (K parts up to 2048 tokens); 4-17 are sm_90 only: elsewhere the call fails and says why
 * (tests and bench sweeps). */
void sp_cuda_set_gemm_tile(int tile);
/* Block size bs of later BSR uploads (bs x bs blocks; rows past out are zero padding):
 * 0 = automatic, else 2, 4, 8, 16 or 32 dividing in (an upload with any other value fails and
 * says why). Automatic: of 32, 16, 8 and 4 (those dividing in), the largest whose device bytes
 * (bs*bs values and a column index per stored block, plus block-row offsets) are within 10% of
 * the fewest among them: the pruning block on block-pruned weights, 32 where nearly every block
 * holds a nonzero anyway (low sparsity), small blocks on sparse unstructured weights. */
void sp_cuda_set_bsr_block(int bs);


/* ------------------------------------------------------------------ whole model (model.cu)
 * A Llama-style decoder on the device: bf16 weights and activations, f32 residual stream,
 * HF rotate-half RoPE, GQA attention (a fused flash-style kernel for prefill, or cuBLAS
 * batched GEMMs + causal softmax with SP_GPU_ATTN=cublas; one kernel for decode), SwiGLU. Every projection goes through one linear entry that runs
 * dense cuBLAS, or (sparse binding) the kernel measured fastest for that layer shape, pattern
 * and token count; lm_head stays dense. Up to max_batch sequences decode together. */
typedef struct sp_cuda_model sp_cuda_model;
typedef struct {
    int dim, hidden_dim, n_layers, n_heads, n_kv_heads, head_dim, vocab;
    float rope_theta, norm_eps;
} sp_cuda_model_cfg;

/* max_ctx positions per sequence, max_rows tokens per prefill call, max_batch sequences. */
sp_cuda_model *sp_cuda_model_new(const sp_cuda_model_cfg *cfg, int max_ctx, int max_rows, int max_batch);
void sp_cuda_model_free(sp_cuda_model *g);
/* Host f32 weights, converted to bf16 on upload. layer -1 = the model-level tensors.
 * which: 0 = embed (vocab, dim) / attn_norm, 1 = final norm / mlp_norm. */
int sp_cuda_model_set_vec(sp_cuda_model *g, int layer, int which, const float *w);
/* Linear j (0..6 = q,k,v,o,gate,up,down; layer -1, j 0 = lm_head) from dense f32 (zeros kept). */
int sp_cuda_model_set_linear(sp_cuda_model *g, int layer, int j, const float *w);
/* Synthetic weights generated on the device (seeded), block linears pruned 2:4 by magnitude
 * when prune24 (lm_head stays dense). */
int sp_cuda_model_randomize(sp_cuda_model *g, uint64_t seed, int prune24);
/* sparse = 0: every linear on dense cuBLAS. 1: each block linear gets its sparse forms (2:4
 * pattern: own mma.sp + cuSPARSELt; unstructured: both bitmap kernels, CSR16 from 60% + cuSPARSE CSR) and runs whichever
 * was measured fastest, dense included, per shape/pattern/token count (measured on first use).
 * Both bindings stack q, k and v into one linear per block, and gate and up into another (the
 * choice is reported for each part); SP_GPU_QKV=separate / SP_GPU_GATEUP=separate in the
 * environment at sp_cuda_model_new keep them apart. The first bind frees the parts' own device
 * copies (their rows live only in the stack); a part set again later is copied into its rows
 * at the next bind. Each own 2:4 form is one device copy (sp_cuda_weight_one_copy on Hopper).
 * sparse = 2: lean, no cuSPARSELt form (the own 2:4 one alone); with sp_cuda_model_trim the
 * model then holds less than its dense binding. */
int sp_cuda_model_bind(sp_cuda_model *g, int sparse);
/* batch = 1: n tokens of one sequence at positions pos..; n = 1: one token for each of batch
 * sequences at position pos. logits (batch, vocab) f32 of each sequence's last token, or NULL.
 * Returns after the device finished. Decode steps (n = 1) run as a CUDA graph per batch size
 * from the second step of that size on (captured once, replayed at every position);
 * SP_GPU_GRAPH=0 in the environment at sp_cuda_model_new launches op by op. */
int sp_cuda_model_forward(sp_cuda_model *g, const int32_t *tokens, int batch, int n, int pos, float *logits);
/* With SP_GPU_PROFILE=1 at sp_cuda_model_new (no graphs then), every forward records an event
 * after each op; this writes the mean time a forward per op (norm, linear q|k|v, attention,
 * ...) since the last call into buf and starts over. buf is "" when profiling is off. */
int sp_cuda_model_profile(sp_cuda_model *g, char *buf, size_t len);
/* How this model's forwards launch, in words: decode graph or op by op, early launch
 * (programmatic dependence, sm_90) on or off and why; for reports. */
const char *sp_cuda_model_launch_mode(const sp_cuda_model *g);
/* Copies sequence 0's cache positions [0, len) to every other sequence (same prompt). */
int sp_cuda_model_fork(sp_cuda_model *g, int len);
/* Kernel and reason of linear j of block layer for n tokens under the current binding
 * ("not measured" until a forward ran that n). */
int sp_cuda_model_choice(const sp_cuda_model *g, int layer, int j, int n, const char **kernel, const char **why);
/* Frees every device form of the sparse binding that no pick made so far uses: the dense copy
 * of a linear that runs sparse at every token count met and the forms that lost. For serving once the token counts it
 * will see have each run (a warm-up): a later, new count picks among the kept forms, and fails
 * with a message where none serves it. The model cannot be bound again (its dense weights are
 * gone). sparse_only: first moves each pick of dense to the fastest sparse form timed for it
 * (on layers where every count met timed one), so their dense copies go too; the reasons say so. */
typedef struct {
    size_t freed; /* device memory in use before minus after (whole card) */
    int forms;    /* device forms freed */
    int moved;    /* picks moved off dense (sparse_only) */
} sp_cuda_trim_stats;
int sp_cuda_model_trim(sp_cuda_model *g, int sparse_only, sp_cuda_trim_stats *st);
/* Device bytes of the block linears' weights as bound (for n tokens). */
size_t sp_cuda_model_weight_bytes(const sp_cuda_model *g, int n);

/* The measured kernel table: one key (block linear shape, pattern, sparsity decile, token
 * count) with the median microseconds of every form timed on it and the form picked. Written
 * by sparsity bench --gpu --calibrate-kernels FILE, read back with --kernel-table FILE
 * (sp_kernel_table_write/read in sparsity_bench.h). */
typedef struct {
    int out, in;
    int structured;                  /* 1: 2:4 pattern, 0: unstructured */
    int decile;                      /* floor(10 x zero fraction), 0..10 */
    int n;                           /* tokens per call */
    double us[SP_CUDA_KERNEL_COUNT]; /* < 0: not timed */
    sp_cuda_kernel pick;
} sp_cuda_table_entry;

/* The keys picked so far under a sparse binding with their timings (measured now, or taken
 * from a table); one entry per key; not the picks a trim moved or made among the forms it left. Writes at most max into e and returns how many keys there
 * are (e may be NULL with max 0 to count); 0 under the dense binding; negative on error. */
int sp_cuda_model_table_get(const sp_cuda_model *g, sp_cuda_table_entry *e, int max);
/* Preloads picks (copied; n = 0 clears): a key met later that matches an entry's (out, in,
 * structured, decile, n) runs that entry's pick without timing when the layer has that form;
 * otherwise it is measured as without a table. source (a file name) is quoted in the reasons.
 * The table outlives sp_cuda_model_bind; picks made before this call are forgotten. */
int sp_cuda_model_table_set(sp_cuda_model *g, const sp_cuda_table_entry *e, int n, const char *source);

#ifdef __cplusplus
}
#endif

#endif /* SPARSITY_CUDA_H */
