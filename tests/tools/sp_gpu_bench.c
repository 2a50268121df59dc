/* sp_gpu_bench.c: times every GPU kernel against cuBLAS dense bf16 on Llama-8B layer
 * shapes (L2 flushed before each call, CUDA events, median) and prints markdown tables.
 *   sp_gpu_bench [--decode] [--unstructured] [--prefill] [--block] [--sweep] [--delta-sweep] [--graph-ab] [--targets] [--cluster-ab]
 *                [--wgdec-ab] [--a24-ab] [--wgdec] [--prefill-ab] [--prefill-steady] [--iters N] [--attention [--attn-n N]] [--profile] [--profile-gemm TILE] [--f16]
 * --unstructured: own bitmap kernels, CSR16, delta rows, cuSPARSE CSR and COO; --delta-sweep: delta
 * rows' knobs (see delta_sweep); --graph-ab: host-launched against CUDA-graph timing (see graph_ab); --targets: issue 5's
 * target cells, met or missed, with floors (see targets; SP_TARGETS=prefill / decode: those cells only; SP_TARGETS_SHAPE=i: shape i only); --cluster-ab, --wgdec-ab: same-process A/B of the 2:4 decode's split-K sums and of its
 * two kernels (see decode_ab); --a24-ab: the 2:4 decode (1-16 tokens) and mma.sp GEMM (32-200)
 * reading the weight's fragment-order copy vs its stage-order one (what a one-copy weight reads); --wgdec: every 2:4 decode of the run on wgmma.sp; --prefill-ab:
 * cuBLAS and cuSPARSELt prefill with their calls interleaved; --prefill-steady: each in its own
 * steady state (both: see prefill_study); --block: block-pruned weights
 * (16x16 and 32x32 blocks) through cuSPARSE BSR and CSR at 1, 16 and 2048 tokens.
 * SP_ONE_COPY=1: the rotated 2:4 weights (decode tables, --targets) as one copy in stage order, as the model keeps them.
 * SP_TIME_GRAPH=1 (2): the rotated timings as one CUDA graph a round (with the own decode kernels
 * launched early), as the device model's decode step runs; unset: launched one by one from the host.
 * --attention: the model's fused prefill attention, both kernels (16 and 32 query rows a warp; 8B
 * heads: 32 q, 8 kv, dim 128 at 512, 1000, 2048, 4096 and 8192 tokens; SmolLM2 heads at dim 64;
 * dim 32) against a naive f32 reference.
 * With no section flag all but --attention run; --sweep with --prefill adds the own 2:4 GEMM per block tile
 * (tiles 4-17: the sm_90a wgmma.sp kernel's variants; SP_SWEEP_TILES limits them, SP_SWEEP_N sets the
 * token counts, SP_SWEEP_ROUNDS alternates them over rounds). --profile and
 * --profile-gemm TILE: a few plain calls for ncu (decode and unstructured kernels; the own 2:4 GEMM
 * with TILE at 4096x4096, 2048 and 8192 tokens; TILE 0: cuSPARSELt at 8192). --f16: weights, x and cuBLAS in f16 (--decode and
 * --prefill only: the forms built for f16).
 * Exit 77 when no GPU. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gpu_common.h"
#include "sparsity_cuda.h"

static const int shapes[][2] = {{4096, 4096}, {6144, 4096}, {14336, 4096}, {4096, 14336}};
#define NSHAPES 4
static int iters = 200;
static sp_cuda_dtype bench_dt = SP_CUDA_BF16; /* --f16: every weight and x of the run */
#define DT_NAME (bench_dt == SP_CUDA_F16 ? "f16" : "bf16")

/* weights rotated: copies so the set exceeds 3x the 50 MB L2 */
#define MAXCOPY 16
static int copies_for(size_t bytes) {
    int c = (int)((150u << 20) / (bytes ? bytes : 1)) + 1;
    return c < 2 ? 2 : c > MAXCOPY ? MAXCOPY : c;
}
static double time_w(sp_cuda_weight **w, int nw, const void *x, int n, void *y, int flush) {
    double us = -1;
    if (sp_cuda_time_linear((const sp_cuda_weight *const *)w, nw, x, n, y, flush ? iters : iters / 4 + 1, flush, &us)) {
        fprintf(stderr, "timing %s failed: %s\n", sp_cuda_kernel_name(sp_cuda_weight_kernel(w[0])), sp_last_error());
        return -1;
    }
    return us;
}
static double time_read(size_t bytes, int flush) {
    double us = -1;
    if (sp_cuda_time_read(bytes, flush ? iters : iters / 4 + 1, flush, &us)) fprintf(stderr, "read probe: %s\n", sp_last_error());
    return us;
}
static void free_all(sp_cuda_weight **w, int n) { for (int i = 0; i < n; i++) { sp_cuda_weight_free(w[i]); w[i] = NULL; } }
static int one_copy; /* SP_ONE_COPY */
/* one weight: vals/meta as the 2:4 form when vals is set (one copy with SP_ONE_COPY), else dense uploaded as kernel k */
static sp_cuda_weight *upload_one(sp_cuda_kernel k, int out, int in, const uint16_t *dense, const uint16_t *vals,
                                  const uint16_t *meta) {
    if (!vals) return sp_cuda_upload_dense_t(k, out, in, dense, bench_dt);
    sp_cuda_weight *w = sp_cuda_upload_24_t(SP_CUDA_KERNEL_24, out, in, vals, meta, bench_dt);
    if (w && one_copy && sp_cuda_weight_one_copy(w)) { sp_cuda_weight_free(w); return NULL; }
    return w;
}
/* w[0..c) = copies of that weight, c = copies_for(the form's bytes) so the rotated set exceeds 3x
 * L2; 0 when an upload fails (the copies made are freed) */
static int upload_copies(sp_cuda_kernel k, int out, int in, const uint16_t *dense, const uint16_t *vals,
                         const uint16_t *meta, sp_cuda_weight **w) {
    if (!(w[0] = upload_one(k, out, in, dense, vals, meta))) return 0;
    const int c = copies_for(sp_cuda_weight_bytes(w[0]));
    for (int i = 1; i < c; i++)
        if (!(w[i] = upload_one(k, out, in, dense, vals, meta))) { free_all(w, i); return 0; }
    return c;
}
static int upload_rot(sp_cuda_kernel k, int out, int in, const uint16_t *dense, sp_cuda_weight **w) {
    return upload_copies(k, out, in, dense, NULL, NULL, w);
}
static int upload_rot24(int out, int in, const uint16_t *vals, const uint16_t *meta, sp_cuda_weight **w) {
    return upload_copies(SP_CUDA_KERNEL_24, out, in, NULL, vals, meta, w);
}

/* A random 2:4 weight of out x in with its rotated dense (cuBLAS) and 2:4 copies, as the decode
 * tables time them; rot24_make returns 0 (after saying why) when an upload fails. */
typedef struct {
    uint16_t *vals, *meta, *dense;
    sp_cuda_weight *wd[MAXCOPY], *w4[MAXCOPY];
    int cd, c4;
} rot24;
static void rot24_free(rot24 *r) {
    free_all(r->wd, r->cd);
    free_all(r->w4, r->c4);
    free(r->vals); free(r->meta); free(r->dense);
}
static int rot24_make(int out, int in, rot24 *r) {
    memset(r, 0, sizeof *r);
    r->vals = malloc((size_t)out * in), r->meta = malloc((size_t)out * (in / 16) * 2);
    r->dense = malloc((size_t)out * in * 2);
    gc_make_24(out, in, r->vals, r->meta, r->dense);
    r->cd = upload_rot(SP_CUDA_KERNEL_DENSE, out, in, r->dense, r->wd);
    r->c4 = upload_rot24(out, in, r->vals, r->meta, r->w4);
    if (r->cd && r->c4) return 1;
    printf("upload failed: %s\n", sp_last_error());
    rot24_free(r);
    return 0;
}

/* rel err of w's output against the dense weight's (cuBLAS) on the same x */
static double check_vs(sp_cuda_weight *w, sp_cuda_weight *wd, int out, const void *x, int n, void *y, void *yd) {
    uint16_t *a = malloc((size_t)n * out * 2), *b = malloc((size_t)n * out * 2);
    sp_cuda_linear(w, x, n, y);
    sp_cuda_linear(wd, x, n, yd);
    sp_cuda_download(a, y, (size_t)n * out * 2);
    sp_cuda_download(b, yd, (size_t)n * out * 2);
    double e = gc_relerr16((size_t)n * out, a, b);
    free(a); free(b);
    return e;
}

/* causal prefill attention: 4 D flops for each visible (query, key) pair of each head */
static int attention(int only_n) {
    static const int cfg[][4] = {/* n, heads, kv heads, head dim */
                                 {512, 32, 8, 128}, {2048, 32, 8, 128}, {4096, 32, 8, 128}, {8192, 32, 8, 128}, {1000, 32, 8, 128},
                                 {512, 9, 3, 64}, {2048, 9, 3, 64}, {300, 4, 2, 32}};
    int bad = 0;
    printf("\n## fused causal prefill attention (pos 0, q rotated in the kernel) against a naive f32 reference: "
           "mma.sync 16 and 32 query rows a warp, wgmma (head dims 64 and 128 on sm_90a)\n\n"
           "| n | heads (kv) | dim | auto | us 16 | TFLOP/s 16 | us 32 | TFLOP/s 32 | us wgmma | TFLOP/s wgmma | 32 vs 16 | "
           "wgmma vs 16 | rel err 16 / 32 / wgmma |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < (int)(sizeof cfg / sizeof cfg[0]); i++) {
        const int n = cfg[i][0], h = cfg[i][1], kv = cfg[i][2], D = cfg[i][3];
        if (only_n && n != only_n) continue;
        double us[3] = {-1, -1, -1}, err[3] = {-1, -1, -1}, tf[3] = {0, 0, 0};
        const double flop = 4.0 * D * h * ((double)n * (n + 1) / 2);
        int ok = 1;
        for (int k = 0; k < 3; k++) {
            const sp_cuda_attn_case a = {n, 0, h, kv, D, 1, 16 << k};
            if (k == 2 && D == 32) continue; /* the wgmma kernel: head dims 64 and 128 */
            if (sp_cuda_time_attention(&a, iters, &us[k], &err[k])) {
                printf("| %d | %d (%d) | %d | failed (%d): %s |\n", n, h, kv, D, 16 << k, sp_last_error());
                bad = 1, ok = 0;
            }
            tf[k] = flop / us[k] * 1e-6;
            bad |= !(err[k] < 1e-2);
        }
        if (!ok) continue;
        printf("| %d | %d (%d) | %d | %d | %.1f | %.0f | %.1f | %.0f | %.1f | %.0f | %.2fx | %.2fx | %.1e / %.1e / %.1e%s |\n", n,
               h, kv, D, sp_cuda_flash_rows(n, h, D), us[0], tf[0], us[1], tf[1], us[2], tf[2], us[0] / us[1],
               us[2] > 0 ? us[0] / us[2] : 0, err[0], err[1], err[2],
               err[0] < 1e-2 && err[1] < 1e-2 && (D == 32 || err[2] < 1e-2) ? "" : " FAIL");
    }
    return bad;
}

/* --delta-sweep: delta rows' knobs (SP_DR_P, warps a row-group block; SP_DR_W16, the entry
 * form; SP_DR_U, uniform tasks; SP_DR_HEAD, heads; SP_DR_D5, 5-bit deltas; SP_DR_SORT, row order; all read at upload) at 50, 70 and 90% on the four shapes, 1 and 4 tokens, weights
 * rotated, against cuBLAS and CSR16 in the same process. floor = a plain read of the delta
 * bytes, same method. SP_DSWEEP_SAME=1 gives every row row 0's columns (a diagnosis: x's gathers
 * without bank conflicts, run 95). (Run 17 also swept 4 groups in flight instead of 3: slower everywhere,
 * removed; runs 17-59 swept the persistent blocks' task length, a form removed after run 61.) */
static int delta_sweep(const void *xd, void *yd, void *yd2, int sms) {
    /* warps a row-group block, entry form (SP_DR_W16: 1 = 2 bytes where the weight fits, 0 = 2.5
     * bytes) and uniform tasks, -1 = the rule: the rule, 16 warps on 2 bytes, the 2.5-byte form,
     * the rule again (an A/B/C/A), then the other warps on 2 bytes */
    static const char *cfg0[][6] = {{"-1", "-1", "-1", "-1"}, {"16", "1", "-1", "-1"}, {"-1", "0", "-1", "-1"}, {"-1", "-1", "-1", "-1"},
                                    {"-1", "1", "-1", "-1"},  {"8", "1", "-1", "-1"},  {"32", "1", "-1", "-1"}, {"4", "1", "-1", "-1"}};
    /* SP_DSWEEP_U=1: uniform tasks (SP_DR_U) by the rule, off and on, twice (A/B/C/A/B/C), then on
     * with the 2-byte form and with 16 warps; SP_DSWEEP_U=2: the rule against heads (SP_DR_HEAD),
     * A/B/A/B, then heads on each entry form */
    static const char *cfgu[][6] = {{"-1", "-1", "-1", "0"}, {"-1", "-1", "0", "0"}, {"-1", "-1", "1", "0"}, {"-1", "-1", "-1", "0"},
                                    {"-1", "-1", "0", "0"},  {"-1", "-1", "1", "0"}, {"-1", "1", "1", "0"},  {"16", "-1", "1", "0"}};
    static const char *cfgh[][6] = {{"-1", "-1", "-1", "0"}, {"-1", "-1", "-1", "1"}, {"-1", "-1", "-1", "0"}, {"-1", "-1", "-1", "1"},
                                    {"-1", "1", "-1", "1"},  {"-1", "0", "-1", "1"},  {"16", "-1", "-1", "1"}, {"8", "-1", "-1", "1"}};
    /* SP_DSWEEP_U=3: warps a block that cut 4096-row tasks into whole groups against the rule's 16
     * (at 90% with 16 warps E rounds up to 48 entries and 4 of 16 parts are empty; 18 warps: E = 32),
     * A/B/C/D twice, then the 2-byte form with more warps (16 warps on 2 bytes was 0-1 us slower at
     * 4096 rows, run 65: does a warp more an SM pay for its instruction an entry?) */
    static const char *cfgp[][6] = {{"-1", "-1", "-1", "-1"}, {"18", "-1", "-1", "-1"}, {"20", "-1", "-1", "-1"}, {"28", "-1", "-1", "-1"},
                                    {"-1", "-1", "-1", "-1"}, {"18", "-1", "-1", "-1"}, {"20", "-1", "-1", "-1"}, {"28", "-1", "-1", "-1"},
                                    {"20", "1", "-1", "-1"},  {"24", "1", "-1", "-1"},  {"28", "1", "-1", "-1"},  {"32", "1", "-1", "-1"}};
    /* SP_DSWEEP_U=4: the rule (18 warps less the empty parts where one block an SM runs 2.5-byte
     * entries, run 77) against 16, A/B three times, then 20 and 24 */
    static const char *cfgr[][6] = {{"-1", "-1", "-1", "-1"}, {"16", "-1", "-1", "-1"}, {"-1", "-1", "-1", "-1"}, {"16", "-1", "-1", "-1"},
                                    {"-1", "-1", "-1", "-1"}, {"16", "-1", "-1", "-1"}, {"20", "-1", "-1", "-1"}, {"24", "-1", "-1", "-1"}};
    /* SP_DSWEEP_U=5: the rule against uniform tasks and the plain layout forced (4096x4096, 17
     * warps at 70%: heads pay 0.2 MB), twice; SP_DSWEEP_U=6: the rule's 8 warps against 10, 12 and
     * 14 (the row groups outnumber the SMs: more warps an SM, as 17 against 14 working warps took
     * 0.3 us off 4096x4096 at 70%), twice */
    static const char *cfgv[][6] = {{"-1", "-1", "-1", "-1"}, {"-1", "-1", "1", "-1"}, {"-1", "-1", "-1", "0"}, {"-1", "-1", "-1", "-1"},
                                    {"-1", "-1", "1", "-1"},  {"-1", "-1", "-1", "0"}, {"-1", "-1", "-1", "-1"}, {"-1", "-1", "1", "-1"}};
    static const char *cfgw[][6] = {{"-1", "-1", "-1", "-1"}, {"10", "-1", "-1", "-1"}, {"12", "-1", "-1", "-1"}, {"14", "-1", "-1", "-1"},
                                    {"-1", "-1", "-1", "-1"}, {"10", "-1", "-1", "-1"}, {"12", "-1", "-1", "-1"}, {"14", "-1", "-1", "-1"}};
    /* SP_DSWEEP_U=7: the rule against 5-bit deltas (SP_DR_D5=1: the 2-byte form with the rule's
     * layout and warps, fewer fillers), A/B three times, then 5-bit deltas with heads, uniform
     * tasks, 18, 24 and 32 warps, and the width by row (SP_DR_D5=2: every row 5-bit on these
     * weights, so its cost against 1 is the per-lane width alone) */
    static const char *cfgd[][6] = {{"-1", "-1", "-1", "-1", "0"}, {"-1", "-1", "-1", "-1", "1"}, {"-1", "-1", "-1", "-1", "0"},
                                    {"-1", "-1", "-1", "-1", "1"}, {"-1", "-1", "-1", "-1", "0"}, {"-1", "-1", "-1", "-1", "1"},
                                    {"-1", "-1", "0", "1", "1"},   {"-1", "-1", "1", "0", "1"},   {"18", "-1", "-1", "-1", "1"},
                                    {"24", "-1", "-1", "-1", "1"}, {"32", "-1", "-1", "-1", "1"}, {"-1", "-1", "-1", "-1", "2"}};
    /* SP_DSWEEP_U=8: the rule's row order against length order (SP_DR_SORT=1) with 4-bit deltas, A/B
     * twice, then weight order against length order with 5-bit deltas, twice, and length order with
     * 5-bit deltas and heads, and by row. With
     * SP_DSWEEP_UNEVEN=1 the rows' sparsity varies (as one threshold for a whole weight leaves it),
     * where the rule itself takes length order; on random rows it mostly does not (0.86-0.98x). */
    static const char *cfgs[][6] = {{"-1", "-1", "-1", "-1", "0", "-1"}, {"-1", "-1", "-1", "-1", "0", "1"},
                                    {"-1", "-1", "-1", "-1", "0", "-1"}, {"-1", "-1", "-1", "-1", "0", "1"},
                                    {"-1", "-1", "-1", "-1", "1", "0"},  {"-1", "-1", "-1", "-1", "1", "1"},
                                    {"-1", "-1", "-1", "-1", "1", "0"},  {"-1", "-1", "-1", "-1", "1", "1"},
                                    {"-1", "-1", "0", "1", "1", "1"},    {"-1", "-1", "-1", "-1", "2", "1"}};
#define DSET(c) {c, (int)(sizeof c / sizeof c[0])}
    static const struct { const char *(*cfg)[6]; int n; } sets[] = {DSET(cfg0), DSET(cfgu), DSET(cfgh), DSET(cfgp), DSET(cfgr),
                                                                    DSET(cfgv), DSET(cfgw), DSET(cfgd), DSET(cfgs)}; /* by SP_DSWEEP_U */
#undef DSET
    const int uni = getenv("SP_DSWEEP_U") ? atoi(getenv("SP_DSWEEP_U")) : 0;
    const int same = getenv("SP_DSWEEP_SAME") && atoi(getenv("SP_DSWEEP_SAME")) == 1;
    const int set = uni > 0 && uni < (int)(sizeof sets / sizeof sets[0]) ? uni : 0;
    /* a missing fifth (SP_DR_D5) is 0, 4-bit deltas, as sets 0-6 ran before 5-bit deltas became the
     * rule (H200 run 156); a missing sixth (SP_DR_SORT) the rule */
    const char *(*cfg)[6] = sets[set].cfg;
    const int uneven = getenv("SP_DSWEEP_UNEVEN") && atoi(getenv("SP_DSWEEP_UNEVEN")) == 1;
    const char *nc = getenv("SP_DSWEEP_N"), *sf = getenv("SP_DSWEEP_FROM"), *st = getenv("SP_DSWEEP_TO"); /* the first N configs; shapes [from, to) */
    const int all = sets[set].n, ncfg = nc && atoi(nc) > 0 && atoi(nc) < all ? atoi(nc) : all;
    printf("\n## delta rows sweep (rotated): warps a row-group block, entry form, uniform tasks (SP_DR_U %s; -1: the rule; the form that "
           "ran: 2B, 2B d5 (5-bit deltas), 2B d5r (by row) or 2.5B, u: uniform tasks, h: heads, s: rows in length order)\n\n", uni == 1 ? "-1, 0, 1, -1, 0, 1, 1, 1" : "-1");
    printf("| out x in | pattern | config | cuBLAS n=1 us | delta n=1 us | speedup | cuBLAS n=4 us | delta n=4 us | speedup "
           "| MB | floor us | TB/s n=1 | csr16 n=1 us | rel err n=1 / 4 |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    const double sps[] = {0.5, 0.7, 0.9};
    const char *se = getenv("SP_DSWEEP_SP"); /* one of the three sparsities alone (0.5, 0.7, 0.9) */
    const int p0 = se ? (atof(se) > 0.8 ? 2 : atof(se) > 0.6 ? 1 : 0) : 0, p1 = se ? p0 + 1 : 3;
    const int s_end = st && atoi(st) > 0 && atoi(st) < NSHAPES ? atoi(st) : NSHAPES;
    for (int s = sf && atoi(sf) > 0 && atoi(sf) < NSHAPES ? atoi(sf) : 0; s < s_end; s++) {
        int out = shapes[s][0], in = shapes[s][1];
        uint16_t *dense = malloc((size_t)out * in * 2);
        for (int p = p0; p < p1; p++) {
            if (uneven) gc_make_uneven(out, in, sps[p] - 0.09, sps[p] + 0.09, dense); /* rows of sp +-9% */
            else gc_make_unstructured(out, in, sps[p], dense);
            if (same) /* SP_DSWEEP_SAME=1: row 0's columns in every row (values kept or made nonzero): x's
                         gathers hit one word a step, no bank conflicts; a diagnosis, not a weight */
                for (int r = 1; r < out; r++)
                    for (int c = 0; c < in; c++) {
                        uint16_t *v = dense + (size_t)r * in + c;
                        *v = !dense[c] ? 0 : *v ? *v : (uint16_t)(0x3f80 | ((r + c) & 0x7f));
                    }
            sp_cuda_weight *wd[MAXCOPY] = {0}, *w6[MAXCOPY] = {0};
            const int cd = upload_rot(SP_CUDA_KERNEL_DENSE, out, in, dense, wd);
            const int c6 = upload_rot(SP_CUDA_KERNEL_CSR16, out, in, dense, w6);
            if (!cd || !c6) { printf("upload failed: %s\n", sp_last_error()); return 1; }
            double td1 = time_w(wd, cd, xd, 1, yd, 0), td4 = time_w(wd, cd, xd, 4, yd, 0), t6 = time_w(w6, c6, xd, 1, yd, 0);
            free_all(w6, c6);
            for (int a = 0; a < ncfg; a++) {
                setenv("SP_DR_P", cfg[a][0], 1);
                setenv("SP_DR_W16", cfg[a][1], 1);
                setenv("SP_DR_U", cfg[a][2], 1);
                setenv("SP_DR_HEAD", cfg[a][3], 1);
                setenv("SP_DR_D5", cfg[a][4] ? cfg[a][4] : "0", 1);
                setenv("SP_DR_SORT", cfg[a][5] ? cfg[a][5] : "-1", 1);
                sp_cuda_weight *wl[MAXCOPY] = {0};
                const int cl = upload_rot(SP_CUDA_KERNEL_DELTA_ROWS, out, in, dense, wl);
                if (!cl) { printf("upload failed: %s\n", sp_last_error()); return 1; }
                double t1 = time_w(wl, cl, xd, 1, yd, 0), t4 = time_w(wl, cl, xd, 4, yd, 0);
                double e1 = check_vs(wl[0], wd[0], out, xd, 1, yd, yd2), e4 = check_vs(wl[0], wd[0], out, xd, 4, yd, yd2);
                double b = (double)sp_cuda_weight_bytes(wl[0]);
                const char *path = sp_cuda_linear_path(wl[0], 1);
                const char *form = !strncmp(path, "2-byte", 6) ? (strstr(path, ", 5-bit deltas in") ? "2B d5r" : strstr(path, ", 5-bit deltas") ? "2B d5" : "2B") : "2.5B";
                int warps = -1; /* the upload's choice under the same settings (-1: the plan failed) */
                sp_cuda_delta_rows_plan(out, in, dense, sms, &warps, NULL);
                printf("| %dx%d | %.0f%%%s | %s(%d) %s%s%s | %.2f | %.2f | %.2fx | %.2f | %.2f | %.2fx | %.1f | %.2f | %.2f | %.2f | %.1e / %.1e |\n",
                       out, in, sps[p] * 100, uneven ? " +-9% by row" : "", cfg[a][0], warps, form,
                       strstr(path, "uniform tasks") ? " u" : strstr(path, ", heads") ? " h" : "", strstr(path, "rows in length order") ? " s" : "",
                       td1, t1, td1 / t1, td4, t4, td4 / t4, b * 1e-6,
                       time_read((size_t)b, 0), b / t1 * 1e-6, t6, e1, e4);
                fflush(stdout);
                free_all(wl, cl);
            }
            unsetenv("SP_DR_P");
            unsetenv("SP_DR_W16");
            unsetenv("SP_DR_U");
            unsetenv("SP_DR_HEAD");
            unsetenv("SP_DR_D5");
            unsetenv("SP_DR_SORT");
            free_all(wd, cd);
        }
        free(dense);
    }
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* cuBLAS (wd) and the sparse weights (w; NULL: a plain read of rb bytes), rotated, under each
 * timing mode modes[0..nm) (sp_cuda_set_timing, nm <= 3), the modes alternated three times;
 * medians of the three into md[m] (cuBLAS) and ms[m]. Leaves the timing at host launches. */
static void time_modes(const int *modes, int nm, sp_cuda_weight **wd, int cd, sp_cuda_weight **w, int cw, size_t rb,
                       const void *xd, int n, void *yd, double *md, double *ms) {
    double t[3][2][3];
    for (int a = 0; a < 3; a++)
        for (int m = 0; m < nm; m++) {
            sp_cuda_set_timing(modes[m]);
            t[m][0][a] = time_w(wd, cd, xd, n, yd, 0);
            t[m][1][a] = w ? time_w(w, cw, xd, n, yd, 0) : time_read(rb, 0);
        }
    sp_cuda_set_timing(0);
    for (int m = 0; m < nm; m++) {
        qsort(t[m][0], 3, sizeof(double), cmp_double), qsort(t[m][1], 3, sizeof(double), cmp_double);
        md[m] = t[m][0][1], ms[m] = t[m][1][1];
    }
}

/* --graph-ab: the rotated timings of the decode tables three ways, alternated three times each
 * (median of three): the calls launched one by one from the host (how every table here times),
 * a round captured as one CUDA graph (as the device model runs a decode step), and that graph
 * with the own decode kernels (2:4, delta rows) launched with programmatic dependence (the
 * model's setting; cuBLAS does not use it). Ratios against cuBLAS timed the same way in the same
 * process; the plain read of delta rows' bytes as the floor of each way. */
static int graph_ab(const void *xd, void *yd) {
    printf("\n## timing method A/B (rotated, 1 and 16 tokens): host launches / one CUDA graph a round / graph with the own "
           "decode kernels under programmatic dependence\n\n"
           "| out x in | weight | n | cuBLAS us (host / graph / graph+pdl) | sparse us | ratio host | ratio graph | ratio graph+pdl | path |\n"
           "|---|---|---|---|---|---|---|---|---|\n");
    const double sps[] = {0.5, 0.7, 0.9};
    for (int s = 0; s < NSHAPES; s++) {
        const int out = shapes[s][0], in = shapes[s][1];
        rot24 r;
        if (!rot24_make(out, in, &r)) return 1;
        for (int k = 0; k < 6; k++) { /* 2:4 at 1 and 16 tokens, delta rows at 50/70/90% (1 token), its bytes' read */
            const int n = k == 1 ? 16 : 1;
            const double sp = k >= 2 ? sps[k == 5 ? 1 : k - 2] : 0; /* the read is of the 70% weight */
            sp_cuda_weight *wl[MAXCOPY] = {0}, **w = r.w4;
            int cw = r.c4;
            size_t rb = 0;
            if (k >= 2) {
                gc_make_unstructured(out, in, sp, r.dense);
                if (!(cw = upload_rot(SP_CUDA_KERNEL_DELTA_ROWS, out, in, r.dense, wl))) { printf("upload failed: %s\n", sp_last_error()); return 1; }
                w = wl, rb = sp_cuda_weight_bytes(wl[0]);
            }
            static const int modes[3] = {0, 1, 2};
            double md[3], mt[3];
            time_modes(modes, 3, r.wd, r.cd, k == 5 ? NULL : w, cw, rb, xd, n, yd, md, mt);
            char what[48];
            if (k < 2) snprintf(what, sizeof what, "2:4");
            else snprintf(what, sizeof what, "%s %.0f%%", k == 5 ? "read of delta" : "delta", sp * 100);
            printf("| %dx%d | %s | %d | %.2f / %.2f / %.2f | %.2f / %.2f / %.2f | %.2fx | %.2fx | %.2fx | %s |\n", out, in, what, n,
                   md[0], md[1], md[2], mt[0], mt[1], mt[2], md[0] / mt[0], md[1] / mt[1], md[2] / mt[2],
                   k == 5 ? "plain read" : sp_cuda_linear_path(w[0], n));
            fflush(stdout);
            free_all(wl, k >= 2 ? cw : 0);
        }
        rot24_free(&r);
    }
    return 0;
}

/* --targets: issue 5's target cells on the four 8B shapes in one table, each against cuBLAS dense
 * in the same process, with its goal, met or missed, and what bounds the call.
 * Decode (2:4 at 1 and 16 tokens; unstructured 50/70/90% at 1 token through delta rows, and at 4
 * tokens without a goal): rotated weights timed as one CUDA graph a round (how a decode step runs:
 * no host launch time in either kernel; this decides met or missed) and launched from the host,
 * the two alternated three times, medians. Beside them, in the graph method: "needed", the sparse
 * time the goal asks for, and the read floor, a plain read of the sparse form's bytes; the empty
 * kernel above the table is what any call costs before it moves a byte. TB/s: the bytes each
 * kernel's weight form holds over its graph time, against a plain read of 256 MB (the ceiling).
 * Prefill (2:4 at 2048 and 8192 tokens): cuBLAS, cuSPARSELt and the own wgmma.sp GEMM interleaved,
 * L2 flushed before each call, 6 rounds, medians; the faster sparse one counts, as the selector
 * takes it; TFLOP/s count dense-equivalent work (2 out in n), against cuBLAS's best cell (the
 * dense ceiling). Whole-model targets: sparsity bench --gpu (bench/gpu/run.sh). */
static int targets(const void *xd, void *yd, void *yd2, int sms) {
    static const struct { const char *what; double sp; int n; double goal; } dec[] = {
        {"2:4 decode, 1 token", 0, 1, 1.6}, {"2:4 decode, 16 tokens", 0, 16, 1.4},
        {"unstructured 50%, 1 token", 0.5, 1, 1.3}, {"unstructured 70%, 1 token", 0.7, 1, 2.0},
        {"unstructured 90%, 1 token", 0.9, 1, 3.5}, {"unstructured 50%, 4 tokens", 0.5, 4, 0},
        {"unstructured 70%, 4 tokens", 0.7, 4, 0}, {"unstructured 90%, 4 tokens", 0.9, 4, 0}};
    const int ndec = (int)(sizeof dec / sizeof dec[0]);
    double eg = -1, eh = -1;
    sp_cuda_set_timing(1);
    const int bad_e = sp_cuda_time_empty(sms, 512, iters / 4 + 1, &eg);
    const double big = 256.0 * (1 << 20), cr = time_read((size_t)big, 0); /* the read ceiling */
    sp_cuda_set_timing(0);
    if (bad_e || sp_cuda_time_empty(sms, 512, iters / 4 + 1, &eh)) { printf("empty kernel: %s\n", sp_last_error()); return 1; }
    printf("\n## issue 5 targets (ratio = cuBLAS dense %s us / sparse us, same process)\n\n"
           "Decode: rotated weights as one CUDA graph a round (decides met), host-launched beside it. "
           "An empty kernel (%d x 512 threads) costs %.2f us a call as a graph, %.2f us host-launched; "
           "a plain read of 256 MB runs at %.2f TB/s (the ceiling of the TB/s column).\n\n"
           "| target | out x in | goal | cuBLAS us graph / host | sparse us graph / host | ratio graph | ratio host | needed us | "
           "read floor us | TB/s cuBLAS / sparse | status | rel err | kernel |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
           DT_NAME, sms, eg, eh, cr > 0 ? big / cr * 1e-6 : -1.0);
    int met = 0, cells = 0;
    const char *only = getenv("SP_TARGETS"), *se = getenv("SP_TARGETS_SHAPE");
    const int dec_off = only && !strcmp(only, "prefill"), pre_off = only && !strcmp(only, "decode");
    const int s_only = se && *se ? atoi(se) : -1; /* one shape (index into shapes) */
    if (s_only >= NSHAPES || (se && *se && s_only < 0)) { printf("SP_TARGETS_SHAPE=%s: a shape index 0-%d\n", se, NSHAPES - 1); return 1; }
    for (int s = 0; s < NSHAPES && !dec_off; s++) {
        if (s_only >= 0 && s != s_only) continue;
        const int out = shapes[s][0], in = shapes[s][1];
        rot24 r;
        if (!rot24_make(out, in, &r)) return 1;
        for (int k = 0; k < ndec; k++) {
            sp_cuda_weight *wl[MAXCOPY] = {0}, **w = r.w4;
            int cw = r.c4;
            if (dec[k].sp > 0) {
                gc_make_unstructured(out, in, dec[k].sp, r.dense);
                if (!(cw = upload_rot(SP_CUDA_KERNEL_DELTA_ROWS, out, in, r.dense, wl))) { printf("upload failed: %s\n", sp_last_error()); return 1; }
                sp_cuda_weight_free(r.wd[0]); /* the reference of the rel err: the same masked weight */
                if (!(r.wd[0] = sp_cuda_upload_dense(SP_CUDA_KERNEL_DENSE, out, in, r.dense))) { printf("upload failed: %s\n", sp_last_error()); return 1; }
                w = wl;
            }
            const int n = dec[k].n;
            double md[2], ms[2], fl = -1;
            static const int modes[2] = {1, 0}; /* [0] graph, [1] host */
            time_modes(modes, 2, r.wd, r.cd, w, cw, 0, xd, n, yd, md, ms);
            sp_cuda_set_timing(1);
            fl = time_read(sp_cuda_weight_bytes(w[0]), 0);
            sp_cuda_set_timing(0);
            const double e = check_vs(w[0], r.wd[0], out, xd, n, yd, yd2), g = md[0] / ms[0];
            const int ok = g >= dec[k].goal && e < 1e-2;
            if (dec[k].goal > 0) met += ok, cells++;
            char need[24] = "-", goal[24] = "-";
            if (dec[k].goal > 0) snprintf(need, sizeof need, "%.2f", md[0] / dec[k].goal), snprintf(goal, sizeof goal, ">= %.1fx", dec[k].goal);
            const double bd = (double)out * in * 2, bs = (double)sp_cuda_weight_bytes(w[0]); /* each form's bytes */
            printf("| %s | %dx%d | %s | %.2f / %.2f | %.2f / %.2f | **%.2fx** | %.2fx | %s | %.2f | %.2f / %.2f | %s | %.1e | %s: %s |\n",
                   dec[k].what, out, in, goal, md[0], md[1], ms[0], ms[1], g, md[1] / ms[1],
                   need, fl, bd / md[0] * 1e-6, bs / ms[0] * 1e-6, dec[k].goal > 0 ? (ok ? "met" : "**missed**") : "no goal", e,
                   sp_cuda_kernel_name(sp_cuda_weight_kernel(w[0])), sp_cuda_linear_path(w[0], n));
            fflush(stdout);
            free_all(wl, dec[k].sp > 0 ? cw : 0);
        }
        rot24_free(&r);
    }
    if (!dec_off) printf("\nDecode: %d of %d cells met as graphs.\n", met, cells);
    if (pre_off) return 0;
    printf("\nPrefill: L2 flushed before each call, the three interleaved, 6 rounds, medians; the faster sparse kernel counts.\n\n"
           "| target | out x in | goal | cuBLAS us | cuSPARSELt us | own wgmma.sp us | ratio | TFLOP/s cuBLAS / sparse | status | "
           "rel err (the faster) |\n|---|---|---|---|---|---|---|---|---|---|\n");
    const int save = iters;
    iters = 5;
    int pmet = 0, pcells = 0;
    double best = 0; /* cuBLAS's best TFLOP/s: the dense ceiling */
    for (int s = 0; s < NSHAPES; s++) {
        if (s_only >= 0 && s != s_only) continue;
        const int out = shapes[s][0], in = shapes[s][1];
        uint16_t *vals = malloc((size_t)out * in), *meta = malloc((size_t)out * (in / 16) * 2), *dense = malloc((size_t)out * in * 2);
        gc_make_24(out, in, vals, meta, dense);
        sp_cuda_weight *w3[3] = {sp_cuda_upload_dense(SP_CUDA_KERNEL_DENSE, out, in, dense),
                                 sp_cuda_upload_24(SP_CUDA_KERNEL_24_LT, out, in, vals, meta),
                                 sp_cuda_upload_24(SP_CUDA_KERNEL_24, out, in, vals, meta)};
        if (!w3[0] || !w3[2]) { printf("upload failed: %s\n", sp_last_error()); return 1; }
        const int pn[] = {2048, 8192};
        const double pg[] = {1.3, 1.5};
        for (int i = 0; i < 2; i++) {
            const int n = pn[i];
            double t[3][6];
            for (int rr = 0; rr < 6; rr++)
                for (int j = 0; j < 3; j++) {
                    const int q = (j + rr) % 3; /* each kernel first in two rounds */
                    t[q][rr] = w3[q] ? time_w(&w3[q], 1, xd, n, yd, 1) : -1;
                }
            double m[3];
            for (int q = 0; q < 3; q++) qsort(t[q], 6, sizeof(double), cmp_double), m[q] = 0.5 * (t[q][2] + t[q][3]);
            const int bi = w3[1] && m[1] < m[2] ? 1 : 2; /* the sparse kernel that counts */
            const double ratio = m[0] / m[bi], e = check_vs(w3[bi], w3[0], out, xd, n, yd, yd2), fl2 = 2.0 * out * in * n * 1e-6;
            best = fl2 / m[0] > best ? fl2 / m[0] : best;
            const int ok = ratio >= pg[i] && e < 1e-2;
            pmet += ok, pcells++;
            char lt[32];
            if (w3[1]) snprintf(lt, sizeof lt, "%.1f", m[1]);
            else snprintf(lt, sizeof lt, "unavailable");
            printf("| 2:4 prefill, %d tokens | %dx%d | >= %.1fx | %.1f | %s | %.1f | **%.2fx** | %.0f / %.0f | %s | %.1e |\n", n, out, in,
                   pg[i], m[0], lt, m[2], ratio, fl2 / m[0], fl2 / m[bi], ok ? "met" : "**missed**", e);
            fflush(stdout);
        }
        for (int q = 0; q < 3; q++) sp_cuda_weight_free(w3[q]);
        free(vals); free(meta); free(dense);
    }
    iters = save;
    printf("\nPrefill: %d of %d cells met. Dense ceiling: cuBLAS's best cell, %.0f TFLOP/s; 2:4 can reach 2x it in dense-equivalent "
           "TFLOP/s.\n", pmet, pcells, best);
    return 0;
}

/* Same-process A/B of two settings of the 2:4 decode (set(0) = A, set(1) = B; set(-1) restores
 * the default): alternated three times each (median of the three), weights rotated, cuBLAS dense
 * alongside; rel err of both against it. --cluster-ab: K splits summed through global memory (ws,
 * counters) vs a cluster's shared memory. --wgdec-ab: the mma.sp kernel vs the wgmma.sp one. */
static void set_cluster(int m) { sp_cuda_set_decode_cluster(m == 0 ? 0 : -1); }
static void set_wgdec(int m) { sp_cuda_set_decode_wgmma(m < 0 ? -1 : m); } /* -1: automatic */
static void set_a24(int m) { sp_cuda_set_read_a24(m == 1); }
static int decode_ab(const char *title, const char *a, const char *b, void (*set)(int), const void *xd, void *yd, void *yd2,
                     const int *ns, int nn) {
    printf("\n## 2:4 decode: %s (rotated, %s)\n\n"
           "| out x in | n | cuBLAS us | %s us | %s us | B - A | speedup A | speedup B | rel err A / B | path B |\n"
           "|---|---|---|---|---|---|---|---|---|---|\n", title, DT_NAME, a, b);
    for (int s = 0; s < NSHAPES; s++) {
        const int out = shapes[s][0], in = shapes[s][1];
        rot24 r;
        if (!rot24_make(out, in, &r)) return 1;
        sp_cuda_weight **wd = r.wd, **w4 = r.w4;
        const int cd = r.cd, c4 = r.c4;
        for (int m = 0; m < 2; m++) { /* one untimed call of each copy in both settings (a copy a setting makes, made here) */
            set(m);
            for (int j = 0; j < c4; j++) sp_cuda_linear(w4[j], xd, 1, yd);
        }
        sp_cuda_sync();
        for (int i = 0; i < nn; i++) {
            const int n = ns[i];
            double t[2][3], e[2];
            for (int m = 0; m < 2; m++) set(m), e[m] = check_vs(w4[0], wd[0], out, xd, n, yd, yd2);
            const char *path = sp_cuda_linear_path(w4[0], n); /* with set(1) */
            for (int r = 0; r < 3; r++)
                for (int m = 0; m < 2; m++) set(m), t[m][r] = time_w(w4, c4, xd, n, yd, 0);
            set(-1);
            const double td = time_w(wd, cd, xd, n, yd, 0);
            double med[2];
            for (int m = 0; m < 2; m++) qsort(t[m], 3, sizeof(double), cmp_double), med[m] = t[m][1]; /* median of three */
            printf("| %dx%d | %d | %.2f | %.2f | %.2f | %+.2f us | %.2fx | %.2fx | %.1e / %.1e | %s |\n", out, in, n, td, med[0],
                   med[1], med[1] - med[0], td / med[0], td / med[1], e[0], e[1], path);
            fflush(stdout);
        }
        rot24_free(&r);
    }
    return 0;
}

/* Two ways to time cuBLAS dense against cuSPARSELt at 2048 and 8192 tokens (the prefill table
 * times dense first, then cuSPARSELt, and at 8192 tokens the order of the calls moves a kernel's
 * time by up to 14%, runs 12-15):
 * --prefill-ab: their calls interleaved, 8 rounds of 5 calls each (L2 flushed before every call,
 *   the order inside a round alternating), median of the rounds; SP_PREFILL_AB_NULL=1 makes B a
 *   second dense copy, the method's null test (ratios ~1.00). Run 42: cuBLAS is 10-15% slower
 *   right after cuSPARSELt calls than after its own, so this favours sparse.
 * --prefill-steady: each kernel timed after ~200 ms of its own back-to-back calls, as a
 *   deployment runs only one of them; dense first, then the other order. SP_STEADY_MS sets the
 *   warm-up (default 200); 2 s of it bring either kernel to the board's power limit, and the
 *   8192-token ratio stayed 1.40-1.50x (run 52; the whole model differs, runs 50-51).
 * SP_PREFILL_B=own: in both studies the sparse side is the own automatic 2:4 GEMM, not cuSPARSELt. */
static double steady_ms(void) {
    const char *e = getenv("SP_STEADY_MS");
    const double v = e ? atof(e) : 200;
    return v >= 1 && v <= 60000 ? v : 200;
}
static double steady_us(sp_cuda_weight *w, const void *xd, int n, void *yd) {
    const double est = time_w(&w, 1, xd, n, yd, 1);
    const int warm = est > 0 ? (int)(steady_ms() * 1e3 / est) + 1 : 1;
    for (int i = 0; i < warm; i++)
        if (sp_cuda_linear(w, xd, n, yd)) return -1;
    return time_w(&w, 1, xd, n, yd, 1);
}
static int prefill_study(const void *xd, void *yd, int steady) {
    const int null_ab = !steady && getenv("SP_PREFILL_AB_NULL") && atoi(getenv("SP_PREFILL_AB_NULL")) == 1;
    const int own = getenv("SP_PREFILL_B") && !strcmp(getenv("SP_PREFILL_B"), "own");
    const char *bn = own ? "own 2:4 GEMM" : "cuSPARSELt";
    if (steady)
        printf("\n## 2:4 prefill, each kernel in its own steady state (~%.0f ms of its calls first): cuBLAS dense %s vs %s\n\n"
               "| out x in | n | dense first: cuBLAS us | %s us | speedup | %s first: %s us | cuBLAS us | speedup |\n"
               "|---|---|---|---|---|---|---|---|\n", steady_ms(), DT_NAME, bn, bn, bn, bn);
    else
        printf("\n## 2:4 prefill, interleaved A/B: cuBLAS dense %s vs %s (8 rounds of 5 calls, median of rounds)\n\n%s"
               "| out x in | n | cuBLAS us | %s us | speedup | round ratios min-max |\n|---|---|---|---|---|---|\n", DT_NAME, bn,
               null_ab ? "(SP_PREFILL_AB_NULL=1: the B column is a second cuBLAS dense copy)\n\n" : "", bn);
    const int save = iters;
    iters = steady ? 20 : 5;
    for (int s = 0; s <= NSHAPES; s++) {
        const int out = s < NSHAPES ? shapes[s][0] : 2 * 14336, in = s < NSHAPES ? shapes[s][1] : 4096;
        uint16_t *vals = malloc((size_t)out * in), *meta = malloc((size_t)out * (in / 16) * 2), *dense = malloc((size_t)out * in * 2);
        gc_make_24(out, in, vals, meta, dense);
        sp_cuda_weight *wd = sp_cuda_upload_dense_t(SP_CUDA_KERNEL_DENSE, out, in, dense, bench_dt);
        sp_cuda_weight *wl = null_ab ? sp_cuda_upload_dense_t(SP_CUDA_KERNEL_DENSE, out, in, dense, bench_dt)
                                     : sp_cuda_upload_24_t(own ? SP_CUDA_KERNEL_24 : SP_CUDA_KERNEL_24_LT, out, in, vals, meta, bench_dt);
        const int pn[] = {2048, 8192};
        for (int i = 0; i < 2 && wd && wl; i++) {
            const int n = pn[i];
            if (steady) {
                const double d1 = steady_us(wd, xd, n, yd), l1 = steady_us(wl, xd, n, yd);
                const double l2 = steady_us(wl, xd, n, yd), d2 = steady_us(wd, xd, n, yd);
                printf("| %dx%d | %d | %.1f | %.1f | %.2fx | %.1f | %.1f | %.2fx |\n", out, in, n, d1, l1, d1 / l1, l2, d2, d2 / l2);
            } else {
                double td[8], tl[8], q[8];
                for (int r = 0; r < 8; r++) {
                    if (r & 1) tl[r] = time_w(&wl, 1, xd, n, yd, 1), td[r] = time_w(&wd, 1, xd, n, yd, 1);
                    else td[r] = time_w(&wd, 1, xd, n, yd, 1), tl[r] = time_w(&wl, 1, xd, n, yd, 1);
                    q[r] = td[r] / tl[r];
                }
                qsort(td, 8, sizeof(double), cmp_double), qsort(tl, 8, sizeof(double), cmp_double);
                qsort(q, 8, sizeof(double), cmp_double);
                const double md = 0.5 * (td[3] + td[4]), ml = 0.5 * (tl[3] + tl[4]);
                printf("| %dx%d | %d | %.1f | %.1f | %.2fx | %.2f-%.2f |\n", out, in, n, md, ml, md / ml, q[0], q[7]);
            }
            fflush(stdout);
        }
        if (!wl) printf("| %dx%d | - | %s unavailable: %s |\n", out, in, bn, sp_last_error());
        sp_cuda_weight_free(wd); sp_cuda_weight_free(wl);
        free(vals); free(meta); free(dense);
    }
    iters = save;
    return 0;
}

static int sweep_rounds(void) {
    const int r = getenv("SP_SWEEP_ROUNDS") ? atoi(getenv("SP_SWEEP_ROUNDS")) : 1;
    return r >= 2 && r <= 16 ? r : 1;
}

/* SP_PROF_SHAPE=OUTxIN: the shape --profile and --profile-gemm call instead of their own */
static int prof_shape(int *out, int *in) {
    const char *shape = getenv("SP_PROF_SHAPE");
    if (shape && (sscanf(shape, "%dx%d", out, in) != 2 || *out < 16 || *in < 256 || *in % 256)) {
        fprintf(stderr, "SP_PROF_SHAPE=%s: want OUTxIN, OUT >= 16, IN a multiple of 256\n", shape);
        return 1;
    }
    return 0;
}

/* --profile with SP_PROF_TARGETS=1: the scoreboard's decode calls at one shape (4096x4096 or
 * SP_PROF_SHAPE) for `ncu --profile-from-start off`: cuBLAS dense at 1 and 16 tokens, the 2:4
 * kernel at 1 and 16, delta rows 90% at 1; two rounds to warm up, then one inside the range */
static int profile_targets(void) {
    int out = 4096, in = 4096;
    if (prof_shape(&out, &in)) return 2;
    uint16_t *vals = malloc((size_t)out * in), *meta = malloc((size_t)out * (in / 16) * 2);
    uint16_t *dense = malloc((size_t)out * in * 2), *x = malloc((size_t)16 * in * 2);
    gc_make_24(out, in, vals, meta, dense);
    gc_make_x((size_t)16 * in, x);
    sp_cuda_weight *w[3] = {sp_cuda_upload_dense(SP_CUDA_KERNEL_DENSE, out, in, dense),
                            sp_cuda_upload_24(SP_CUDA_KERNEL_24, out, in, vals, meta), NULL};
    gc_make_unstructured(out, in, 0.9, dense);
    w[2] = sp_cuda_upload_dense(SP_CUDA_KERNEL_DELTA_ROWS, out, in, dense);
    void *xd = sp_cuda_malloc((size_t)16 * in * 2), *yd = sp_cuda_malloc((size_t)16 * out * 2);
    if (!w[0] || !w[1] || !w[2] || !xd || !yd) { printf("upload failed: %s\n", sp_last_error()); return 1; }
    sp_cuda_upload(xd, x, (size_t)16 * in * 2);
    static const struct { int w, n; } calls[] = {{0, 1}, {0, 16}, {1, 1}, {1, 16}, {2, 1}}; /* weight, tokens */
    int rc = 0;
    for (int r = 0; r < 3 && !rc; r++) {
        if (r == 2) rc = sp_cuda_profile(1);
        for (int i = 0; i < 5 && !rc; i++) rc = sp_cuda_linear(w[calls[i].w], xd, calls[i].n, yd);
    }
    if (!rc) rc = sp_cuda_profile(0);
    printf("%dx%d, profiled calls: %s\n", out, in, rc ? sp_last_error() : "ok");
    printf("  2:4 at 1 token: %s\n", sp_cuda_linear_path(w[1], 1)); /* the path string lives until the next call */
    printf("  2:4 at 16 tokens: %s\n", sp_cuda_linear_path(w[1], 16));
    printf("  delta rows 90%% at 1 token: %s\n", sp_cuda_linear_path(w[2], 1));
    for (int i = 0; i < 3; i++) sp_cuda_weight_free(w[i]);
    sp_cuda_free(xd); sp_cuda_free(yd);
    free(vals); free(meta); free(dense); free(x);
    return rc != 0;
}

int main(int argc, char **argv) {
    int tgt = 0, gab = 0, dec = 0, uns = 0, pre = 0, blk = 0, sweep = 0, dsweep = 0, clab = 0, wgab = 0, a24ab = 0, preab = 0, presteady = 0, prof = 0, att = 0, att_n = 0, prof_tile = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--decode")) dec = 1;
        else if (!strcmp(argv[i], "--unstructured")) uns = 1;
        else if (!strcmp(argv[i], "--prefill")) pre = 1;
        else if (!strcmp(argv[i], "--block")) blk = 1;
        else if (!strcmp(argv[i], "--sweep")) sweep = 1;
        else if (!strcmp(argv[i], "--delta-sweep")) dsweep = 1;
        else if (!strcmp(argv[i], "--graph-ab")) gab = 1;
        else if (!strcmp(argv[i], "--targets")) tgt = 1;
        else if (!strcmp(argv[i], "--cluster-ab")) clab = 1;
        else if (!strcmp(argv[i], "--wgdec-ab")) wgab = 1;
        else if (!strcmp(argv[i], "--a24-ab")) a24ab = 1;
        else if (!strcmp(argv[i], "--prefill-ab")) preab = 1;
        else if (!strcmp(argv[i], "--prefill-steady")) presteady = 1;
        else if (!strcmp(argv[i], "--wgdec")) sp_cuda_set_decode_wgmma(1); /* every 2:4 decode of the run */
        else if (!strcmp(argv[i], "--profile")) prof = 1;
        else if (!strcmp(argv[i], "--profile-gemm") && i + 1 < argc) prof_tile = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--attention")) att = 1;
        else if (!strcmp(argv[i], "--attn-n") && i + 1 < argc) att_n = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--iters") && i + 1 < argc) iters = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--f16")) bench_dt = SP_CUDA_F16, gc_f16 = 1;
        else {
            fprintf(stderr, "usage: %s [--decode] [--unstructured] [--prefill] [--block] [--sweep] [--delta-sweep] [--graph-ab] [--targets] [--cluster-ab] [--wgdec-ab] [--a24-ab] [--wgdec] [--prefill-ab] [--prefill-steady] [--iters N] "
                            "[--attention [--attn-n N]] [--profile] [--profile-gemm TILE] [--f16]\n", argv[0]);
            return 2;
        }
    }
    if (!dec && !uns && !pre && !blk && !sweep && !dsweep && !gab && !tgt && !clab && !wgab && !a24ab && !preab && !presteady && !prof && !att && prof_tile < 0) {
        dec = pre = 1;
        uns = blk = bench_dt == SP_CUDA_BF16;
    }
    if (bench_dt == SP_CUDA_F16 && (uns || blk || sweep || dsweep || gab || tgt || clab || prof || att || prof_tile >= 0)) {
        fprintf(stderr, "--f16 goes with --decode and --prefill only (the other forms are built for bf16)\n");
        return 2;
    }
    if (!sp_cuda_available()) { printf("skipped: %s\n", sp_last_error()); return 77; }
    if (att) return attention(att_n);
    if (prof_tile >= 0) { /* for ncu: the own 2:4 GEMM with block tile prof_tile at 4096x4096 (or SP_PROF_SHAPE), 3 calls at 2048 tokens, 3 at 8192 (0: cuSPARSELt) */
        int out = 4096, in = 4096;
        const int nmax = 8192;
        if (prof_shape(&out, &in)) return 2;
        uint16_t *vals = malloc((size_t)out * in), *meta = malloc((size_t)out * (in / 16) * 2);
        uint16_t *dense = malloc((size_t)out * in * 2), *x = malloc((size_t)nmax * in * 2);
        gc_make_24(out, in, vals, meta, dense);
        gc_make_x((size_t)nmax * in, x);
        /* TILE 0: cuSPARSELt instead, 60 calls at 8192 tokens. Its plan search at the first call
         * launches kernels too, more than 40 of them (run 115: ncu -s 40 caught a search
         * candidate, 473 us), so the skip count must reach past them */
        sp_cuda_weight *w4 = sp_cuda_upload_24(prof_tile ? SP_CUDA_KERNEL_24 : SP_CUDA_KERNEL_24_LT, out, in, vals, meta);
        void *xd = sp_cuda_malloc((size_t)nmax * in * 2), *yd = sp_cuda_malloc((size_t)nmax * out * 2);
        if (!w4 || !xd || !yd) { printf("upload failed: %s\n", sp_last_error()); return 1; }
        sp_cuda_upload(xd, x, (size_t)nmax * in * 2);
        sp_cuda_set_gemm_tile(prof_tile);
        int rc = 0;
        for (int r = 0; r < (prof_tile ? 6 : 60) && !rc; r++) rc = sp_cuda_linear(w4, xd, r < 3 && prof_tile ? 2048 : 8192, yd);
        if (!rc) rc = sp_cuda_sync(); /* a kernel fault shows here, not at the launch */
        printf("gemm calls (tile %d): %s\n", prof_tile, rc ? sp_last_error() : "ok");
        return rc != 0;
    }
    if (prof && getenv("SP_PROF_TARGETS") && atoi(getenv("SP_PROF_TARGETS")) == 1) return profile_targets();
    if (prof) { /* a few plain calls for ncu: 2:4 and bitmap 70% at 4096x14336 (or SP_PROF_SHAPE), n = 1 and 16; bitmap 90%, n = 1; rows 50/70/90%,
                 * csr16 90% and delta rows 50/70/90%, n = 1; delta rows 50% at 4096x4096 */
        int out = 4096, in = 14336;
        if (prof_shape(&out, &in)) return 2; /* SP_PROF_SHAPE instead of 4096x14336 */
        uint16_t *vals = malloc((size_t)out * in), *meta = malloc((size_t)out * (in / 16) * 2);
        uint16_t *dense = malloc((size_t)out * in * 2), *x = malloc((size_t)16 * in * 2);
        gc_make_24(out, in, vals, meta, dense);
        gc_make_x((size_t)16 * in, x);
        sp_cuda_weight *w4 = sp_cuda_upload_24(SP_CUDA_KERNEL_24, out, in, vals, meta);
        gc_make_unstructured(out, in, 0.7, dense);
        sp_cuda_weight *wb = sp_cuda_upload_dense(SP_CUDA_KERNEL_BITMAP, out, in, dense);
        sp_cuda_weight *wr = sp_cuda_upload_dense(SP_CUDA_KERNEL_BITMAP_ROWS, out, in, dense);
        gc_make_unstructured(out, in, 0.9, dense);
        sp_cuda_weight *wb9 = sp_cuda_upload_dense(SP_CUDA_KERNEL_BITMAP, out, in, dense);
        sp_cuda_weight *wr9 = sp_cuda_upload_dense(SP_CUDA_KERNEL_BITMAP_ROWS, out, in, dense);
        sp_cuda_weight *wc9 = sp_cuda_upload_dense(SP_CUDA_KERNEL_CSR16, out, in, dense);
        sp_cuda_weight *wl9 = sp_cuda_upload_dense(SP_CUDA_KERNEL_DELTA_ROWS, out, in, dense);
        gc_make_unstructured(out, in, 0.5, dense);
        sp_cuda_weight *wr5 = sp_cuda_upload_dense(SP_CUDA_KERNEL_BITMAP_ROWS, out, in, dense);
        sp_cuda_weight *wl5 = sp_cuda_upload_dense(SP_CUDA_KERNEL_DELTA_ROWS, out, in, dense);
        gc_make_unstructured(out, in, 0.7, dense);
        sp_cuda_weight *wl7 = sp_cuda_upload_dense(SP_CUDA_KERNEL_DELTA_ROWS, out, in, dense);
        gc_make_unstructured(4096, 4096, 0.5, dense); /* the small shape */
        sp_cuda_weight *ws5 = sp_cuda_upload_dense(SP_CUDA_KERNEL_DELTA_ROWS, 4096, 4096, dense);
        void *xd = sp_cuda_malloc((size_t)16 * in * 2), *yd = sp_cuda_malloc((size_t)16 * out * 2);
        sp_cuda_upload(xd, x, (size_t)16 * in * 2);
        for (int r = 0; r < 2; r++) {
            sp_cuda_linear(w4, xd, 1, yd); sp_cuda_linear(w4, xd, 16, yd);
            sp_cuda_linear(wb, xd, 1, yd); sp_cuda_linear(wb, xd, 16, yd);
            sp_cuda_linear(wb9, xd, 1, yd);
            sp_cuda_linear(wr5, xd, 1, yd); sp_cuda_linear(wr, xd, 1, yd); sp_cuda_linear(wr9, xd, 1, yd);
            sp_cuda_linear(wc9, xd, 1, yd);
            sp_cuda_linear(wl5, xd, 1, yd); sp_cuda_linear(wl7, xd, 1, yd); sp_cuda_linear(ws5, xd, 1, yd);
            sp_cuda_linear(wl9, xd, 1, yd);
        }
        printf("profile calls done: %s\n", sp_cuda_sync() ? sp_last_error() : "ok");
        return 0;
    }
    char name[256];
    int sms;
    size_t l2;
    sp_cuda_device_info(name, sizeof name, &sms, &l2, NULL);
    time_t now = time(NULL);
    /* SP_TIME_GRAPH=1|2: every rotated timing of the run as a CUDA graph a round (2: the own decode
     * kernels under programmatic dependence; sp_cuda_set_timing); --graph-ab sets its own */
    const int tg = getenv("SP_TIME_GRAPH") ? atoi(getenv("SP_TIME_GRAPH")) : 0;
    sp_cuda_set_timing(tg);
    /* SP_GEMM_TILE=T: the own 2:4 GEMM's block tile for every timing but --sweep's (A/B of a tile
     * against the automatic one in --targets, --prefill-ab) */
    const int gemm_tile = getenv("SP_GEMM_TILE") ? atoi(getenv("SP_GEMM_TILE")) : 0;
    sp_cuda_set_gemm_tile(gemm_tile);
    printf("# device %s, %d SMs, L2 %zu MB, iters %d, element type %s, rotated timings %s, %s", name, sms, l2 >> 20, iters, DT_NAME,
           tg == 1 ? "as one CUDA graph a round" : tg == 2 ? "as one CUDA graph a round, own decode kernels launched early"
                                                          : "launched from the host", ctime(&now));
    char ver[160];
    if (!sp_cuda_versions(ver, sizeof ver)) printf("# %s\n", ver);
    if (gemm_tile) printf("# own 2:4 GEMM: tile %d (SP_GEMM_TILE)\n", gemm_tile);
    /* SP_ONE_COPY=1: the rotated 2:4 weights uploaded as one copy (sp_cuda_weight_one_copy), as the
     * device model keeps them on Hopper; --a24-ab compares the two layouts itself */
    one_copy = getenv("SP_ONE_COPY") && atoi(getenv("SP_ONE_COPY")) == 1;
    if (one_copy) printf("# rotated 2:4 weights as one copy, stage order (SP_ONE_COPY=1)\n");

    const int pfx = pre || preab || presteady || tgt; /* prefill sizes */
    const int maxn = pfx ? 8192 : blk ? 2048 : a24ab ? 256 : wgab ? 64 : 16, maxk = 14336, maxm = pfx ? 2 * 14336 : 14336;
    uint16_t *xh = malloc((size_t)maxn * maxk * 2);
    gc_make_x((size_t)maxn * maxk, xh);
    void *xd = sp_cuda_malloc((size_t)maxn * maxk * 2);
    void *yd = sp_cuda_malloc((size_t)maxn * maxm * 2), *yd2 = sp_cuda_malloc((size_t)maxn * maxm * 2);
    if (!xd || !yd || !yd2) { printf("device allocation failed: %s\n", sp_last_error()); return 1; }
    sp_cuda_upload(xd, xh, (size_t)maxn * maxk * 2);
    const int ns[] = {1, 2, 4, 8, 16};
    double dense_us[NSHAPES][5];

    if (dec || uns || sweep) {
        printf("\n## 2:4 decode (own kernel: mma.sp, on Hopper wgmma.sp from 4 tokens) vs cuBLAS dense %s\n\n", DT_NAME);
        printf("rot = weights rotated back to back (decode-like); cold = L2 flushed before each call. "
               "floor = plain read of the 2:4 bytes, same method.\n\n");
        printf("| out x in | n | cuBLAS rot us | 2:4 rot us | speedup rot | 2:4 TB/s rot | floor rot us | cuBLAS cold us | 2:4 cold us | speedup cold | rel err |\n"
               "|---|---|---|---|---|---|---|---|---|---|---|\n");
    }
    for (int s = 0; s < NSHAPES && (dec || uns || sweep); s++) {
        int out = shapes[s][0], in = shapes[s][1];
        rot24 r;
        if (!rot24_make(out, in, &r)) return 1;
        sp_cuda_weight **wd = r.wd, **w4 = r.w4;
        const int cd = r.cd, c4 = r.c4;
        double floor_rot = time_read(sp_cuda_weight_bytes(w4[0]), 0);
        for (int i = 0; i < 5; i++) {
            int n = ns[i];
            double tdr = time_w(wd, cd, xd, n, yd, 0), t4r = time_w(w4, c4, xd, n, yd, 0);
            double tdc = time_w(wd, cd, xd, n, yd, 1), t4c = time_w(w4, c4, xd, n, yd, 1);
            dense_us[s][i] = tdr;
            double e = check_vs(w4[0], wd[0], out, xd, n, yd, yd2);
            if (dec || sweep)
                printf("| %dx%d | %d | %.2f | %.2f | %.2fx | %.2f | %.2f | %.2f | %.2f | %.2fx | %.1e |\n", out, in, n, tdr,
                       t4r, tdr / t4r, sp_cuda_weight_bytes(w4[0]) / t4r * 1e-6, floor_rot, tdc, t4c, tdc / t4c, e);
        }
        if (sweep) {
            printf("\n### launch-config sweep %dx%d, rotated (row tiles per block / K splits / prefetch: us)\n\n", out, in);
            const int cfg[][3] = {{0, 0, -1}, {0, 0, 2}, {1, 0, -1}, {1, 1, -1}, {1, 2, -1}, {2, 0, -1}, {2, 1, -1},
                                  {2, 2, -1}, {2, 3, -1}, {4, 0, -1}, {4, 1, -1}, {4, 2, -1}, {4, 3, -1}, {4, 4, -1},
                                  {8, 0, -1}, {8, 1, -1}, {8, 2, -1}, {8, 3, -1}, {8, 4, -1}, {8, 6, -1}, {8, 8, -1},
                                  {8, 16, -1}};
            printf("(after each time: the kernel that ran, m = mma.sp, w = wgmma.sp; how its K splits add up, c =\n"
                   "cluster, g = global memory, nothing = one split)\n\n");
            for (int ni = 0; ni < 5; ni += 2) {
                int n = ns[ni];
                printf("n=%d:", n);
                for (int a = 0; a < (int)(sizeof cfg / sizeof cfg[0]); a++) {
                    sp_cuda_set_config(cfg[a][0], cfg[a][1], cfg[a][2]);
                    const double us = time_w(w4, c4, xd, n, yd, 0);
                    const char *path = sp_cuda_linear_path(w4[0], n);
                    printf(" %d/%d/%d:%.2f%c%s", cfg[a][0], cfg[a][1], cfg[a][2], us, path[0] == 'w' ? 'w' : 'm',
                           strstr(path, "cluster") ? "c" : strstr(path, "global") ? "g" : "");
                }
                printf("\n");
                sp_cuda_set_config(0, 0, -1);
            }
            printf("\n");
        }
        rot24_free(&r);
    }

    if (uns) {
        printf("\n## unstructured decode (rotated): own bitmap kernels (tensor-core tiles; CUDA-core rows) and cuSPARSE CSR/COO vs cuBLAS dense bf16\n\n");
        printf("Byte ceiling = dense bytes / the form's bytes (what a purely memory-bound kernel could reach). CSR/COO at <= 4 tokens only.\n\n");
        printf("| out x in | pattern | n | cuBLAS us | bitmap us | speedup | byte ceiling | bitmap TB/s | rows us | speedup | byte ceiling | rows TB/s | csr16 us | speedup | byte ceiling | csr16 TB/s | CSR us | CSR speedup | COO us | COO speedup | rel err bitmap / rows / csr16 | delta us | speedup | byte ceiling | delta TB/s | rel err delta |\n"
               "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        const double sps[] = {0.5, 0.7, 0.9, -1}; /* -1: 4:8 (general N:M goes through the bitmap kernel) */
        const int uns_n[] = {0, 2, 4}; /* indices into ns: 1, 4 and 16 tokens */
        for (int s = 0; s < NSHAPES; s++) {
            int out = shapes[s][0], in = shapes[s][1];
            uint16_t *dense = malloc((size_t)out * in * 2);
            for (int p = 0; p < 4; p++) {
                char pat[16];
                if (sps[p] < 0) gc_make_nm(out, in, 4, 8, dense), snprintf(pat, sizeof pat, "4:8");
                else gc_make_unstructured(out, in, sps[p], dense), snprintf(pat, sizeof pat, "%.0f%%", sps[p] * 100);
                sp_cuda_weight *wd = sp_cuda_upload_dense(SP_CUDA_KERNEL_DENSE, out, in, dense);
                sp_cuda_weight *wb[MAXCOPY] = {0}, *wr[MAXCOPY] = {0}, *wc[MAXCOPY] = {0}, *wo[MAXCOPY] = {0}, *w6[MAXCOPY] = {0}, *wl[MAXCOPY] = {0};
                const int c6 = upload_rot(SP_CUDA_KERNEL_CSR16, out, in, dense, w6);
                const int cl = upload_rot(SP_CUDA_KERNEL_DELTA_ROWS, out, in, dense, wl);
                const int cb = upload_rot(SP_CUDA_KERNEL_BITMAP, out, in, dense, wb);
                const int cr = upload_rot(SP_CUDA_KERNEL_BITMAP_ROWS, out, in, dense, wr);
                const int cc = upload_rot(SP_CUDA_KERNEL_CSR, out, in, dense, wc);
                const int co = upload_rot(SP_CUDA_KERNEL_COO, out, in, dense, wo);
                if (!wd || !cb || !cr || !cc || !co || !c6 || !cl) { printf("upload failed: %s\n", sp_last_error()); return 1; }
                for (int q = 0; q < 3; q++) {
                    int n = ns[uns_n[q]];
                    double td = dense_us[s][uns_n[q]];
                    double tb = time_w(wb, cb, xd, n, yd, 0), tr = time_w(wr, cr, xd, n, yd, 0);
                    double tc = n <= 4 ? time_w(wc, cc, xd, n, yd, 0) : -1, to = n <= 4 ? time_w(wo, co, xd, n, yd, 0) : -1;
                    double t6 = n <= 4 ? time_w(w6, c6, xd, n, yd, 0) : -1, tl = time_w(wl, cl, xd, n, yd, 0);
                    double el = check_vs(wl[0], wd, out, xd, n, yd, yd2), bl = (double)sp_cuda_weight_bytes(wl[0]);
                    double e = check_vs(wb[0], wd, out, xd, n, yd, yd2), er = check_vs(wr[0], wd, out, xd, n, yd, yd2);
                    double e6 = check_vs(w6[0], wd, out, xd, n, yd, yd2);
                    double bb = (double)sp_cuda_weight_bytes(wb[0]), br = (double)sp_cuda_weight_bytes(wr[0]);
                    double b6 = (double)sp_cuda_weight_bytes(w6[0]);
                    printf("| %dx%d | %s | %d | %.2f | %.2f | %.2fx | %.2fx | %.2f | %.2f | %.2fx | %.2fx | %.2f | %.2f | %.2fx | %.2fx | %.2f "
                           "| %.2f | %.2fx | %.2f | %.2fx | %.1e / %.1e / %.1e | %.2f | %.2fx | %.2fx | %.2f | %.1e |\n",
                           out, in, pat, n, td, tb, td / tb, 2.0 * out * in / bb, bb / tb * 1e-6, tr, td / tr,
                           2.0 * out * in / br, br / tr * 1e-6, t6, t6 > 0 ? td / t6 : 0, 2.0 * out * in / b6,
                           t6 > 0 ? b6 / t6 * 1e-6 : 0, tc, tc > 0 ? td / tc : 0, to, to > 0 ? td / to : 0, e, er, e6, tl, td / tl,
                           2.0 * out * in / bl, bl / tl * 1e-6, el);
                }
                if (sweep && p < 3) { /* rows kernel: column chunks per row group (0 = automatic) */
                    printf("rows sweep %dx%d %s n=1 (chunks:us):", out, in, pat);
                    const int ch[] = {0, 2, 4, 8, 16, 32};
                    for (int a = 0; a < 6; a++) {
                        sp_cuda_set_config(0, ch[a], -1);
                        printf(" %d:%.2f", ch[a], time_w(wr, cr, xd, 1, yd, 0));
                    }
                    printf("\n");
                    sp_cuda_set_config(0, 0, -1);
                }
                if (sweep && (p == 1 || p == 2)) { /* bitmap launch plans: row tiles per block / K splits */
                    const int cfg[][2] = {{0, 0}, {1, 1}, {1, 2}, {1, 4}, {1, 8}, {2, 0}, {2, 2}, {4, 0}, {4, 2}, {8, 0}};
                    for (int q = 0; q < 2; q++) {
                        int n = ns[uns_n[q]];
                        printf("bitmap sweep %dx%d %s n=%d:", out, in, pat, n);
                        for (int a = 0; a < (int)(sizeof cfg / sizeof cfg[0]); a++) {
                            sp_cuda_set_config(cfg[a][0], cfg[a][1], -1);
                            printf(" %d/%d:%.2f", cfg[a][0], cfg[a][1], time_w(wb, cb, xd, n, yd, 0));
                        }
                        printf("\n");
                        sp_cuda_set_config(0, 0, -1);
                    }
                }
                sp_cuda_weight_free(wd);
                free_all(wb, cb);
                free_all(wr, cr);
                free_all(w6, c6);
                free_all(wl, cl);
                free_all(wc, cc);
                free_all(wo, co);
            }
            free(dense);
        }
    }

    if (dsweep && delta_sweep(xd, yd, yd2, sms)) return 1;
    if (gab && graph_ab(xd, yd)) return 1;
    if (tgt && targets(xd, yd, yd2, sms)) return 1;
    static const int ab_ns[] = {1, 2, 4, 8, 12, 16}, a24_ns[] = {1, 2, 4, 8, 16, 32, 64, 128, 200},
                     wg_ns[] = {1, 2, 4, 8, 12, 16, 24, 32, 48, 64};
    if (a24ab && decode_ab("the 2:4 weight read from its fragment-order copy (A) vs its stage-order copy, as a one-copy weight (B)",
                           "v24", "a24", set_a24, xd, yd, yd2, a24_ns, 9))
        return 1;
    if (clab && decode_ab("split-K through global memory (A) vs a cluster's shared memory (B)", "global", "cluster",
                          set_cluster, xd, yd, yd2, ab_ns, 6))
        return 1;
    if (wgab && decode_ab("mma.sp kernel, above 16 tokens the GEMM (A) vs wgmma.sp decode kernel (B)", "mma.sp / GEMM", "wgmma.sp", set_wgdec, xd, yd, yd2, wg_ns, 10)) return 1;
    if (preab && prefill_study(xd, yd, 0)) return 1;
    if (presteady && prefill_study(xd, yd, 1)) return 1;

    if (blk) {
        printf("\n## block-pruned weights: cuSPARSE BSR (block = the pruning block) and CSR vs cuBLAS dense bf16\n\n");
        printf("Each 16x16 or 32x32 block zero with probability = sparsity. 1 and 16 tokens: weights rotated (decode-like); "
               "2048: L2 flushed, one weight. TB/s = device bytes of the weight per call / time. "
               "rel err: BSR vs cuBLAS on the same x.\n\n");
        printf("| out x in | block | sparsity | n | cuBLAS us | BSR us | BSR vs dense | BSR TB/s | CSR us | CSR vs dense | CSR TB/s | "
               "dense/BSR bytes | rel err |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        const int bn[] = {1, 16, 2048}, blocks[] = {16, 32};
        const double bsp[] = {0.5, 0.7, 0.9};
        for (int s = 0; s < NSHAPES; s++) {
            int out = shapes[s][0], in = shapes[s][1];
            uint16_t *dense = malloc((size_t)out * in * 2);
            gc_make_x((size_t)out * in, dense); /* dense timing: values do not matter */
            sp_cuda_weight *wdr[MAXCOPY] = {0};
            const int cd = upload_rot(SP_CUDA_KERNEL_DENSE, out, in, dense, wdr);
            if (!cd) { printf("upload failed: %s\n", sp_last_error()); return 1; }
            double td[3];
            for (int q = 0; q < 3; q++) {
                int save = iters;
                if (bn[q] > 16) iters = 20;
                td[q] = time_w(wdr, bn[q] > 16 ? 1 : cd, xd, bn[q], yd, bn[q] > 16);
                iters = save;
            }
            free_all(wdr, cd);
            for (int bi = 0; bi < 2; bi++)
                for (int p = 0; p < 3; p++) {
                    gc_make_block(out, in, blocks[bi], bsp[p], dense);
                    sp_cuda_set_bsr_block(blocks[bi]);
                    sp_cuda_weight *wd = sp_cuda_upload_dense(SP_CUDA_KERNEL_DENSE, out, in, dense);
                    sp_cuda_weight *wr[MAXCOPY] = {0}, *wc[MAXCOPY] = {0};
                    const int cr = upload_rot(SP_CUDA_KERNEL_BSR, out, in, dense, wr);
                    const int cc = upload_rot(SP_CUDA_KERNEL_CSR, out, in, dense, wc);
                    if (!wd || !cr || !cc) { printf("upload failed: %s\n", sp_last_error()); return 1; }
                    sp_cuda_set_bsr_block(0);
                    double br = sp_cuda_weight_bytes(wr[0]), bc = sp_cuda_weight_bytes(wc[0]);
                    for (int q = 0; q < 3; q++) {
                        int n = bn[q], flush = n > 16, save = iters;
                        if (flush) iters = 5; /* BSR SpMM takes milliseconds at 2048 tokens (run 12) */
                        double tr = time_w(wr, flush ? 1 : cr, xd, n, yd, flush);
                        /* CSR SpMM took 1.4-880 ms at 16 and 2048 tokens in run 12: timed at 1 token only */
                        double tc = n == 1 ? time_w(wc, cc, xd, n, yd, flush) : -1;
                        iters = save;
                        double e = check_vs(wr[0], wd, out, xd, n, yd, yd2);
                        printf("| %dx%d | %d | %.0f%% | %d | %.2f | %.2f | %.2fx | %.2f | %.2f | %.2fx | %.2f | %.2fx | %.1e |\n", out,
                               in, blocks[bi], bsp[p] * 100, n, td[q], tr, tr > 0 ? td[q] / tr : 0, tr > 0 ? br / tr * 1e-6 : 0,
                               tc, tc > 0 ? td[q] / tc : 0, tc > 0 ? bc / tc * 1e-6 : 0, 2.0 * out * in / br, e);
                    }
                    sp_cuda_weight_free(wd);
                    free_all(wr, cr);
                    free_all(wc, cc);
                }
            free(dense);
        }
    }

    if (pre) {
        printf("\n## 2:4 prefill: cuSPARSELt (dlopen), the own mma.sp GEMM and the own automatic GEMM (wgmma.sp tile 5 or 11 on sm_90a)"
               " vs cuBLAS dense %s\n\n", DT_NAME);
        printf("TFLOP/s count dense-equivalent work, 2*out*in*n.\n\n");
        printf("| out x in | n | cuBLAS us | cuBLAS TFLOP/s | cuSPARSELt us | speedup | rel err | mma.sp GEMM us | speedup | mma.sp TFLOP/s | rel err"
               " | own auto us | speedup | own auto TFLOP/s | rel err |\n"
               "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        int save = iters;
        iters = 20;
        for (int s = 0; s <= NSHAPES; s++) { /* the last: gate and up stacked (28672 x 4096), as the model runs them */
            int out = s < NSHAPES ? shapes[s][0] : 2 * 14336, in = s < NSHAPES ? shapes[s][1] : 4096;
            uint16_t *vals = malloc((size_t)out * in), *meta = malloc((size_t)out * (in / 16) * 2);
            uint16_t *dense = malloc((size_t)out * in * 2);
            gc_make_24(out, in, vals, meta, dense);
            sp_cuda_weight *wd = sp_cuda_upload_dense_t(SP_CUDA_KERNEL_DENSE, out, in, dense, bench_dt);
            sp_cuda_weight *wl = sp_cuda_upload_24_t(SP_CUDA_KERNEL_24_LT, out, in, vals, meta, bench_dt);
            sp_cuda_weight *w4 = sp_cuda_upload_24_t(SP_CUDA_KERNEL_24, out, in, vals, meta, bench_dt);
            if (!wl) printf("| %dx%d | - | cuSPARSELt unavailable: %s |\n", out, in, sp_last_error());
            if (!w4) printf("| %dx%d | - | own 2:4 upload failed: %s |\n", out, in, sp_last_error());
            const int pn[] = {2048, 8192};
            for (int i = 0; i < 2 && wd; i++) {
                int n = pn[i];
                double flop = 2.0 * out * in * n;
                double td = time_w(&wd, 1, xd, n, yd, 1);
                double tl = wl ? time_w(&wl, 1, xd, n, yd, 1) : -1;
                double e = wl ? check_vs(wl, wd, out, xd, n, yd, yd2) : -1;
                sp_cuda_set_gemm_tile(2); /* the mma.sp GEMM's 128x64 tile, its pick at these sizes */
                double t4 = w4 ? time_w(&w4, 1, xd, n, yd, 1) : -1;
                double e4 = w4 ? check_vs(w4, wd, out, xd, n, yd, yd2) : -1;
                sp_cuda_set_gemm_tile(0); /* the automatic own GEMM: wgmma (tile 5 or 11) on sm_90a */
                double t5 = w4 ? time_w(&w4, 1, xd, n, yd, 1) : -1;
                double e5 = t5 > 0 ? check_vs(w4, wd, out, xd, n, yd, yd2) : -1;
                printf("| %dx%d | %d | %.1f | %.0f | %.1f | %.2fx | %.1e | %.1f | %.2fx | %.0f | %.1e | %.1f | %.2fx | %.0f | %.1e |\n",
                       out, in, n, td, flop / td * 1e-6, tl, tl > 0 ? td / tl : 0, e, t4, t4 > 0 ? td / t4 : 0,
                       t4 > 0 ? flop / t4 * 1e-6 : 0, e4, t5, t5 > 0 ? td / t5 : 0, t5 > 0 ? flop / t5 * 1e-6 : 0, e5);
            }
            if (sweep && w4) { /* own GEMM per block tile (1 = 128x128, 2 = 128x64, 3 = 64x64 mma.sp;
                                  4 = wgmma, 5..15 its variants v1..v11; 0 = automatic) */
                printf("\n%dx%d own GEMM tiles, us (dense-equivalent TFLOP/s): auto/128x128/128x64/64x64 mma.sp, "
                       "wgmma default/v1 (weight via smem)/v2 (CTA pair)/v3 (192 rows)/v4 (128 x 256)/v5 (v4, weight as "
                       "shared-memory A)/v6, v7 (v5's A bulk-copied, 4 / 5 stages)/v8 (v7, 2 groups in flight)/v9 (v7 in CTA pairs)/v10 (v7 persistent, TMA-stored)/v11 (v10 with 128 tokens)/v12, v13 (v10, v11 with K in 2 parts); SP_SWEEP_TILES (e.g. 089ab; a = 10, b = 11, c = 12, d = 13, e = 14, f = 15, g = 16, h = 17) limits the tiles\n", out, in);
                const char *only_tiles = getenv("SP_SWEEP_TILES");
                /* SP_SWEEP_ROUNDS=R (2-16): R rounds of --iters calls a tile, the tile order
                 * reversed every other round, medians: later tiles otherwise run on a hotter board */
                const int rounds = sweep_rounds();
                int sn[8] = {256, 2048, 8192}, nsn = 3; /* SP_SWEEP_N=256,512,...: other token counts (up to 8) */
                if (getenv("SP_SWEEP_N")) {
                    nsn = 0;
                    for (char *q = getenv("SP_SWEEP_N"), *e; *q && nsn < 8; q = e + strspn(e, ",")) {
                        const long v = strtol(q, &e, 10);
                        if (e == q) break;
                        if (v >= 17 && v <= maxn) sn[nsn++] = (int)v;
                    }
                }
                for (int i = 0; i < nsn; i++) {
                    int list[18], nl = 0;
                    for (int tile = 0; tile <= 17; tile++) {
                        if (sn[i] > 2048 && tile >= 1 && tile <= 3) continue; /* measured in run 8 */
                        if (only_tiles && !strchr(only_tiles, "0123456789abcdefgh"[tile])) continue;
                        list[nl++] = tile;
                    }
                    double tr[18][16];
                    for (int r = 0; r < rounds; r++)
                        for (int k = 0; k < nl; k++) {
                            const int kk = r & 1 ? nl - 1 - k : k;
                            sp_cuda_set_gemm_tile(list[kk]);
                            tr[kk][r] = time_w(&w4, 1, xd, sn[i], yd, 1);
                        }
                    /* the two other forms a linear of the model times at this n, same method */
                    const double tdn = time_w(&wd, 1, xd, sn[i], yd, 1), tln = wl ? time_w(&wl, 1, xd, sn[i], yd, 1) : -1;
                    printf("  n=%d: cuBLAS %.1f, cuSPARSELt %.1f;", sn[i], tdn, tln);
                    for (int k = 0; k < nl; k++) {
                        qsort(tr[k], rounds, sizeof(double), cmp_double);
                        const double t = rounds & 1 ? tr[k][rounds / 2] : 0.5 * (tr[k][rounds / 2 - 1] + tr[k][rounds / 2]);
                        if (only_tiles) printf(" t%d:", list[k]);
                        printf(" %s%.1f (%.0f)", list[k] == 4 && !only_tiles ? "| " : "", t, t > 0 ? 2.0 * out * in * sn[i] / t * 1e-6 : 0);
                    }
                    printf("\n");
                }
                sp_cuda_set_gemm_tile(gemm_tile);
                printf("\n");
            }
            sp_cuda_weight_free(wd); sp_cuda_weight_free(wl); sp_cuda_weight_free(w4);
            free(vals); free(meta); free(dense);
        }
        iters = save;
    }
    sp_cuda_free(xd); sp_cuda_free(yd); sp_cuda_free(yd2);
    free(xh);
    return 0;
}
