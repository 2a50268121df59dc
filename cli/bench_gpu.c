/* bench_gpu.c: sparsity bench --gpu (--model SPARSE | --synthetic llama3-8b)
 * Whole-model TTFT and TPOT on the GPU: dense cuBLAS against the sparse binding of the same
 * weights in one process, the kernel chosen per layer and token count with its measured
 * reason, and (real models) last-token logits checked against the CPU forward. Without a
 * usable GPU it says why and exits 1: there is no silent CPU fallback.
 * --calibrate-kernels FILE writes the sparse binding's measured choices (every key it met) as
 * a kernel table; --kernel-table FILE makes a later run take its choices from one. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "sparsity_bench.h"

static const char *const lin_short[SP_N_LINEAR] = {"q", "k", "v", "o", "gate", "up", "down"};

/* the TTFT and TPOT rows of a result table: dense from the passes, sparse as given (the passes'
 * or the timing after the trim) */
static void time_rows(const sp_bench_gpu_opts *o, const sp_bench_gpu_result *r, const double *ttft, const double *tpot) {
    for (int p = 0; p < o->n_prompts; p++)
        printf("| TTFT %d tokens (ms) | %.2f | %.2f | %.2fx |\n", o->prompts[p], r->ttft_ms[0][p], ttft[p], r->ttft_ms[0][p] / ttft[p]);
    for (int b = 0; b < o->n_batches; b++)
        printf("| TPOT batch %d, context %d (ms) | %.3f | %.3f | %.2fx |\n", o->batches[b], o->ctx_tokens, r->tpot_ms[0][b], tpot[b],
               r->tpot_ms[0][b] / tpot[b]);
}

/* "a,b,c" -> up to max ints in [lo, hi] */
static int parse_list(const char *s, int *v, int max, int lo, int hi) {
    int n = 0;
    while (s && *s) {
        char *end;
        long x = strtol(s, &end, 10);
        if (end == s || x < lo || x > hi || n == max) cli_die("bench", "bad list '%s' (at most %d values in %d..%d)", s, max, lo, hi);
        v[n++] = (int)x;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') cli_die("bench", "bad list value '%s'", end);
    }
    return n;
}

#define TABLE_MAX 4096 /* entries read from --kernel-table */

/* --calibrate-kernels: the folder must take the file before a long run, not after */
static void check_writable(const char *path) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == dir) dir[1] = 0;
    else *slash = 0;
    struct stat st;
    if (access(dir, W_OK))
        cli_die("bench", "--calibrate-kernels %s: cannot write in %s (%s); nothing was run", path, dir, strerror(errno));
    if (!stat(path, &st) && S_ISDIR(st.st_mode))
        cli_die("bench", "--calibrate-kernels %s: is a folder, give a file name; nothing was run", path);
}

/* the sparse binding's choices, measured during the run, to path */
static void write_table(const sp_cuda_model *g, const char *path, const char *dev) {
    int n = sp_cuda_model_table_get(g, NULL, 0);
    sp_cuda_table_entry *e = n > 0 ? malloc((size_t)n * sizeof *e) : NULL;
    if (n < 0 || (n > 0 && !e)) cli_die("bench", "--calibrate-kernels: %s", n < 0 ? sp_last_error() : "out of memory");
    if (n > 0) n = sp_cuda_model_table_get(g, e, n);
    if (n < 0 || sp_kernel_table_write(path, dev, e, n)) cli_die("bench", "--calibrate-kernels: %s", sp_last_error());
    printf("\nkernel table: %d measured keys (shape, pattern, sparsity decile, tokens) written to %s\n", n, path);
    free(e);
}

/* "; SM clock dense 1.95 / 1.71, sparse 1.96 / 1.93 GHz" for passes 1 / 2 (d1 d2 s1 s2), or ""
 * (no NVML) */
static const char *clocks(const sp_cuda_power *d1, const sp_cuda_power *d2, const sp_cuda_power *s1,
                          const sp_cuda_power *s2) {
    static char b[96];
    b[0] = 0;
    if (d1->samples && d2->samples && s1->samples && s2->samples)
        snprintf(b, sizeof b, "; SM clock dense %.2f / %.2f, sparse %.2f / %.2f GHz", d1->sm_mhz / 1e3, d2->sm_mhz / 1e3,
                 s1->sm_mhz / 1e3, s2->sm_mhz / 1e3);
    return b;
}

static void err_cell(char *b, size_t n, double e) {
    if (e < 0) snprintf(b, n, "-");
    else snprintf(b, n, "%.2e", e);
}

int cmd_bench_gpu(int argc, char **argv) {
    cli_opt opts[] = {
        {"--gpu", 0, "run on the GPU (CUDA backend)", 0},
        {"--model", 1, "sparse model folder (or .gguf); its dense baseline is the same weights on cuBLAS", 0},
        {"--synthetic", 1, "llama3-8b: Llama-3-8B shapes, random weights made on the device, 2:4 magnitude-pruned", 0},
        {"--prompts", 1, "TTFT prompt lengths (default 512,2048,8192)", 0},
        {"--batches", 1, "TPOT batch sizes, at most two (default 1,16)", 0},
        {"--ctx-tokens", 1, "prompt before the timed decode steps (default 512)", 0},
        {"--gen-tokens", 1, "decode steps timed (default 32)", 0},
        {"--reps", 1, "repetitions, median reported (default 3)", 0},
        {"--passes", 1, "1: dense, then sparse; 2: sparse, dense, dense, sparse, the mean of each mode's passes (default 2)", 0},
        {"--no-check", 0, "skip the logits check against the CPU forward", 0},
        {"--lean", 0, "no cuSPARSELt form: the own 2:4 kernels alone (one device copy of each 2:4 weight either way)", 0},
        {"--trim", 1, "after the run: picks (default) frees the forms no pick uses, then times the sparse binding again; sparse also "
                      "moves dense picks to their fastest sparse form, so no dense copy stays; none keeps all", 0},
        {"--check-tokens", 1, "prompt length of that check (default 100)", 0},
        {"--calibrate-kernels", 1, "FILE: after the run, write the kernel choices measured (per shape, pattern, sparsity, tokens)", 0},
        {"--kernel-table", 1, "FILE: take kernel choices from a --calibrate-kernels table of this device (other keys measured)", 0},
        {0}};
    cli_parse("bench", "sparsity bench --gpu (--model SPARSE | --synthetic llama3-8b) [--prompts 512,2048,8192]\n"
              "       [--batches 1,16] [--ctx-tokens C] [--gen-tokens G] [--reps R] [--passes 1|2] [--no-check]\n"
              "       [--check-tokens N] [--lean] [--trim picks|sparse|none]\n"
              "       [--calibrate-kernels FILE | --kernel-table FILE]",
              argc, argv, opts, NULL, 0);
    const char *model = cli_get(opts, "--model"), *syn = cli_get(opts, "--synthetic");
    if (!model == !syn) cli_die("bench", "--gpu needs exactly one of --model and --synthetic");
    sp_bench_gpu_opts o = {.synthetic = syn, .prompts = {512, 2048, 8192}, .n_prompts = 3, .batches = {1, 16}, .n_batches = 2,
                           .check = !cli_get(opts, "--no-check"), .lean = cli_get(opts, "--lean") != NULL};
    const char *trim = cli_get(opts, "--trim");
    if (!trim || !strcmp(trim, "picks")) o.trim = 1;
    else if (!strcmp(trim, "sparse")) o.trim = 2;
    else if (strcmp(trim, "none")) cli_die("bench", "--trim %s: expected picks, sparse or none", trim);
    if (cli_get(opts, "--prompts")) o.n_prompts = parse_list(cli_get(opts, "--prompts"), o.prompts, SP_BENCH_GPU_MAXP, 1, 65536);
    if (cli_get(opts, "--batches")) o.n_batches = parse_list(cli_get(opts, "--batches"), o.batches, 2, 1, 256);
    o.ctx_tokens = (int)cli_get_long("bench", opts, "--ctx-tokens", 512, 1, 65536);
    o.gen_tokens = (int)cli_get_long("bench", opts, "--gen-tokens", 32, 1, 4096);
    o.reps = (int)cli_get_long("bench", opts, "--reps", 3, 1, 1000);
    o.passes = (int)cli_get_long("bench", opts, "--passes", 2, 1, 2);
    o.check_tokens = (int)cli_get_long("bench", opts, "--check-tokens", 100, 1, 65536);
    const char *calib = cli_get(opts, "--calibrate-kernels"), *tpath = cli_get(opts, "--kernel-table");
    if (calib && tpath)
        cli_die("bench", "--calibrate-kernels measures every kernel choice; it does not take --kernel-table");
    if (calib && o.trim == 2)
        cli_die("bench", "--calibrate-kernels records the measured choices; --trim sparse overrides some of them");
    sp_cuda_table_entry *table = NULL;
    int ntable = 0;
    if (tpath) { /* the file first, so a bad one is reported with or without a GPU */
        if (!(table = malloc(TABLE_MAX * sizeof *table))) cli_die("bench", "out of memory");
        if (sp_kernel_table_read(tpath, NULL, table, TABLE_MAX, &ntable))
            cli_die("bench", "--kernel-table: %s; nothing was run", sp_last_error());
    }
    if (calib) check_writable(calib);
    if (!sp_cuda_available())
        cli_die("bench", "--gpu: no usable GPU (%s); nothing was run (the CPU benchmark is `sparsity bench` without --gpu)",
                sp_last_error());
    char dev[256];
    sp_cuda_device_info(dev, sizeof dev, NULL, NULL, NULL);
    if (tpath && sp_kernel_table_read(tpath, dev, table, TABLE_MAX, &ntable))
        cli_die("bench", "--kernel-table: %s; nothing was run", sp_last_error());
    o.table = table, o.n_table = ntable, o.table_source = tpath;
    sp_model *m = NULL;
    if (model && !(m = sp_model_open(model))) cli_die("bench", "%s", sp_last_error());
    const char *label = syn ? "synthetic llama3-8b (random weights, 2:4 magnitude)" : model;
    char ver[160];
    sp_cuda_versions(ver, sizeof ver);
    printf("# sparsity bench --gpu: %s on %s%s%s\n", label, dev, *ver ? ", " : "", ver);
    if (tpath) printf("# kernel choices from %s (%d keys); keys not in it are measured\n", tpath, ntable);
    if (o.lean) printf("# lean sparse binding: no cuSPARSELt form, the own 2:4 kernels alone\n");
    sp_bench_gpu_result r;
    if (sp_bench_gpu(m, &o, &r, stdout)) cli_die("bench", "--gpu: %s", sp_last_error());

    const int ns[] = {1, o.batches[o.n_batches - 1]};
    printf("\nlaunch: %s\n", sp_cuda_model_launch_mode(r.model));
    printf("\n## kernel per linear of block 0 (all blocks with the same shape and pattern share the choice)\n\n");
    for (int j = 0; j < SP_N_LINEAR; j++) {
        for (int t = 0; t < 2 + o.n_prompts; t++) {
            int n = t < 2 ? ns[t] : o.prompts[t - 2];
            if (t == 1 && n == 1) continue;
            const char *k, *why;
            sp_cuda_model_choice(r.model, 0, j, n, &k, &why);
            printf("  %-5s n=%-5d %-14s %s\n", lin_short[j], n, k, why);
        }
    }
    /* every layer: kernel counts per token count, and reasons of layers unlike block 0 */
    for (int t = 0; t < 2 + o.n_prompts; t++) {
        int n = t < 2 ? ns[t] : o.prompts[t - 2], count[SP_CUDA_KERNEL_COUNT] = {0}, nseen = 0;
        const char *seen[64];
        if (t == 1 && n == 1) continue;
        printf("%s n=%d over all %d block linears:", t ? "" : "\n", n, r.cfg.n_layers * SP_N_LINEAR);
        for (int b = 0; b < r.cfg.n_layers; b++)
            for (int j = 0; j < SP_N_LINEAR; j++) {
                const char *k, *why, *k0, *why0;
                sp_cuda_model_choice(r.model, b, j, n, &k, &why);
                sp_cuda_model_choice(r.model, 0, j, n, &k0, &why0);
                for (int i = 0; i < SP_CUDA_KERNEL_COUNT; i++) count[i] += !strcmp(k, sp_cuda_kernel_name((sp_cuda_kernel)i));
                int dup = why == why0;
                for (int i = 0; i < nseen && !dup; i++) dup = seen[i] == why;
                if (!dup && nseen < 64) { seen[nseen++] = why; printf("\n    (from block %d) %s: %s %s", b, lin_short[j], k, why); }
            }
        for (int i = 0; i < SP_CUDA_KERNEL_COUNT; i++)
            if (count[i]) printf(" %s %d", sp_cuda_kernel_name((sp_cuda_kernel)i), count[i]);
        printf("\n");
    }
    char e[8][16];
    err_cell(e[0], 16, r.err_prefill[0]); err_cell(e[1], 16, r.err_decode[0]); err_cell(e[2], 16, r.err_batch[0]);
    err_cell(e[3], 16, r.err_prefill[1]); err_cell(e[4], 16, r.err_decode[1]); err_cell(e[5], 16, r.err_batch[1]);
    err_cell(e[6], 16, r.err_prefill_f32w[0]); err_cell(e[7], 16, r.err_prefill_f32w[1]);
    printf("\nlogits rel err vs the CPU forward on the same bf16 weights (prefill %d tok / decode / batch decode): "
           "dense %s %s %s, sparse %s %s %s; prefill vs CPU on f32 weights: dense %s, sparse %s; "
           "GPU sparse vs GPU dense %.2e\n", o.check_tokens, e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7],
           r.err_sparse_vs_dense);

    printf("\n| %s | dense (cuBLAS) | sparse%s | speedup |\n|---|---|---|---|\n", syn ? "synthetic llama3-8b" : "model",
           o.lean ? " (lean)" : "");
    time_rows(&o, &r, r.ttft_ms[1], r.tpot_ms[1]);
    printf("| block-linear weights a decode step reads (GB) | %.2f | %.2f | %.2fx |\n", r.weight_bytes[0] / 1e9,
           r.weight_bytes[1] / 1e9, (double)r.weight_bytes[0] / (double)(r.weight_bytes[1] ? r.weight_bytes[1] : 1));
    /* what the card holds is another matter: while measuring, the sparse binding keeps the dense
     * weights and every form it times, so it needs more memory than dense; the trim row is what
     * a server would keep */
    printf("| device memory in use, whole card, while measuring (GB) | %.2f | %.2f | %.2fx |\n", r.mem_in_use[0] / 1e9, r.mem_in_use[1] / 1e9,
           (double)r.mem_in_use[0] / (double)(r.mem_in_use[1] ? r.mem_in_use[1] : 1));
    printf("(device memory while measuring: the sparse binding keeps the dense weights as its fallback beside every sparse "
           "form it times, and workspaces its kernels make at first use)\n");
    if (o.trim) { /* what a server would keep, timed again */
        printf("\n| after the trim (%s) | dense (cuBLAS) | sparse trimmed | speedup |\n|---|---|---|---|\n",
               o.trim == 2 ? "sparse forms only" : "the forms the picks use");
        time_rows(&o, &r, r.ttft_trimmed_ms, r.tpot_trimmed_ms);
        printf("| device memory in use, whole card (GB) | %.2f | %.2f | %.2fx |\n", r.mem_in_use[0] / 1e9, r.mem_trimmed / 1e9,
               (double)r.mem_in_use[0] / (double)(r.mem_trimmed ? r.mem_trimmed : 1));
        printf("(the trim freed %d device forms, %.2f -> %.2f GB, and moved %d picks off dense; sparse times from one pass after "
               "it, dense from the passes above; the %d-token check prefill after it vs the first sparse pass: rel err %.2e)\n",
               r.trim_forms, r.mem_before_trim / 1e9, r.mem_trimmed / 1e9, r.trim_moved, o.check_tokens, r.err_after_trim);
    }
    if (r.passes > 1) { /* what the means are made of */
        printf("\ntimes are means of two passes run sparse, dense, dense, sparse (medians of %d reps each):\n", o.reps);
        for (int p = 0; p < o.n_prompts; p++)
            printf("  TTFT %d: dense %.2f / %.2f ms, sparse %.2f / %.2f ms%s\n", o.prompts[p], r.ttft_pass_ms[0][0][p],
                   r.ttft_pass_ms[1][0][p], r.ttft_pass_ms[0][1][p], r.ttft_pass_ms[1][1][p],
                   clocks(&r.ttft_power[0][0][p], &r.ttft_power[1][0][p], &r.ttft_power[0][1][p], &r.ttft_power[1][1][p]));
        for (int b = 0; b < o.n_batches; b++)
            printf("  TPOT batch %d: dense %.3f / %.3f ms, sparse %.3f / %.3f ms%s\n", o.batches[b], r.tpot_pass_ms[0][0][b],
                   r.tpot_pass_ms[1][0][b], r.tpot_pass_ms[0][1][b], r.tpot_pass_ms[1][1][b],
                   clocks(&r.tpot_power[0][0][b], &r.tpot_power[1][0][b], &r.tpot_power[0][1][b], &r.tpot_power[1][1][b]));
    }
    if (calib) write_table(r.model, calib, dev);
    sp_cuda_model_free(r.model);
    sp_model_free(m);
    free(table);
    return 0;
}
