/* test_cuda_model.c: the GPU model forward (src/kernels/cuda/model.cu through eval/bench_gpu.c)
 * against the CPU forward on small random models (2:4 magnitude-pruned and 60% unstructured;
 * head dims 32, 64, 128); prefill, one decode step and a batch decode, dense and sparse bindings,
 * rel err of last-token logits < 2e-2 (bf16 weights and activations). Also the device-built
 * 2:4 layout against the host-built one. Also the measured kernel table: what the sparse
 * binding measured comes back from table_get, survives a file round trip, and a table that
 * forces a kernel is obeyed and quoted in the reason. Also the two timing passes (the second
 * sparse pass on the first one's picks), the trim to the picked forms, and the NVML clock/power
 * sampler. Exits 77 (ctest SKIP)
 * without a GPU. */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "gpu_common.h"
#include "sparsity_bench.h"
#include "sparsity_cuda.h"

#define SKIP 77
#define TOL 2e-2
static int fails;
#define CHECK(c, ...) do { if (!(c)) { fails++; printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } } while (0)

static float *rand_vec(size_t n, float scale, float offset) {
    float *v = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) v[i] = offset + scale * gc_unif();
    return v;
}

/* prune in place: 2:4 magnitude (pattern 24) or each weight zero with probability sp */
static void prune(float *w, size_t n, int pattern24, double sp) {
    if (pattern24) {
        for (size_t g = 0; g < n; g += 4) {
            int i0 = 0, i1 = 1;
            if (fabsf(w[g + 1]) > fabsf(w[g])) i0 = 1, i1 = 0;
            for (int j = 2; j < 4; j++) {
                if (fabsf(w[g + j]) > fabsf(w[g + i0])) i1 = i0, i0 = j;
                else if (fabsf(w[g + j]) > fabsf(w[g + i1])) i1 = j;
            }
            for (int j = 0; j < 4; j++) if (j != i0 && j != i1) w[g + j] = 0.f;
        }
    } else {
        for (size_t i = 0; i < n; i++) if (gc_unif() * 0.5f + 0.5f < sp) w[i] = 0.f;
    }
}

static sp_model *tiny_model(int pattern24, double sp, int heads, int kv_heads, int head_dim) {
    sp_model *m = calloc(1, sizeof *m);
    const int dim = heads * head_dim;
    m->cfg = (sp_config){.arch = "llama", .dim = dim, .hidden_dim = 2 * dim, .n_layers = 2, .n_heads = heads,
                         .n_kv_heads = kv_heads, .head_dim = head_dim, .vocab_size = 300, .max_seq_len = 1024,
                         .rope_theta = 10000.f, .norm_eps = 1e-5f, .tie_embeddings = 1};
    if (sp_model_alloc_layout(m)) return NULL;
    m->embed = rand_vec((size_t)300 * dim, 1.f, 0.f);
    m->final_norm = rand_vec(dim, 0.2f, 1.f);
    m->lm_head.w = m->embed;
    for (int b = 0; b < 2; b++) {
        m->blocks[b].attn_norm = rand_vec(dim, 0.2f, 1.f);
        m->blocks[b].mlp_norm = rand_vec(dim, 0.2f, 1.f);
        for (int j = 0; j < SP_N_LINEAR; j++) {
            sp_linear *l = &m->blocks[b].lin[j];
            size_t n = (size_t)l->out * l->in;
            l->w = rand_vec(n, sqrtf(3.f / l->in) * 1.5f, 0.f);
            l->owns_w = 1;
            prune(l->w, n, pattern24, sp);
        }
    }
    return m;
}

/* g: bound sparse, forwards run at 1 token among others */
static void table_checks(const char *what, sp_cuda_model *g) {
    enum { MAXE = 256 };
    static sp_cuda_table_entry e[MAXE], f[MAXE];
    int n = sp_cuda_model_table_get(g, e, MAXE), nf = 0;
    CHECK(n > 0 && n <= MAXE, "%s: table_get gave %d entries: %s", what, n, sp_last_error());
    if (n <= 0 || n > MAXE) return;
    for (int i = 0; i < n; i++) {
        CHECK(e[i].pick >= 0 && e[i].pick < SP_CUDA_KERNEL_COUNT && e[i].us[e[i].pick] >= 0 && e[i].us[SP_CUDA_KERNEL_DENSE] >= 0,
              "%s: entry %d (n=%d) has no timing for its pick or for dense", what, i, e[i].n);
        if (e[i].n == 1) { f[nf] = e[i]; f[nf++].pick = SP_CUDA_KERNEL_DENSE; } /* force dense at 1 token */
    }
    CHECK(nf > 0, "%s: no 1-token keys measured", what);
    /* through the file, as bench --kernel-table does */
    char dev[256], path[256];
    sp_cuda_device_info(dev, sizeof dev, NULL, NULL, NULL);
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/sp_cuda_table_%d.json", tmp && *tmp ? tmp : "/tmp", (int)getpid());
    int rc = sp_kernel_table_write(path, dev, f, nf), nr = 0;
    if (!rc) rc = sp_kernel_table_read(path, dev, e, MAXE, &nr);
    CHECK(!rc && nr == nf, "%s: table file round trip: %s", what, sp_last_error());
    if (!rc) rc = sp_cuda_model_table_set(g, e, nr, path);
    CHECK(!rc, "%s: table_set: %s", what, sp_last_error());
    const int32_t tok[3] = {5, 17, 33};
    CHECK(sp_cuda_model_forward(g, tok, 1, 1, 0, NULL) == 0 && sp_cuda_model_forward(g, tok, 1, 3, 0, NULL) == 0,
          "%s: forward after table_set: %s", what, sp_last_error());
    for (int j = 0; j < SP_N_LINEAR; j++) {
        const char *k, *why;
        sp_cuda_model_choice(g, 0, j, 1, &k, &why);
        if (j == 0) printf("    from the table, linear 0, 1 token: %s: %s\n", k, why);
        CHECK(!strcmp(k, "dense-cublas") && strstr(why, "table ") && strstr(why, path), "%s: linear %d, 1 token: %s (%s)", what, j, k, why);
        sp_cuda_model_choice(g, 0, j, 3, &k, &why); /* 3 tokens: no such key in the table */
        if (j == 0) printf("    not in the table, linear 0, 3 tokens: %s: %s\n", k, why);
        CHECK(strstr(why, "not in table") && strstr(why, "measured"), "%s: linear %d, 3 tokens: %s (%s)", what, j, k, why);
    }
    unlink(path);
    /* a pick the layer does not have: measured instead, and said so */
    for (int i = 0; i < nf; i++) {
        f[i].pick = f[i].structured ? SP_CUDA_KERNEL_BITMAP : SP_CUDA_KERNEL_24;
        f[i].us[f[i].pick] = 1.0;
    }
    CHECK(sp_cuda_model_table_set(g, f, nf, "absent.json") == 0 && sp_cuda_model_forward(g, tok, 1, 1, 0, NULL) == 0,
          "%s: absent-kernel table: %s", what, sp_last_error());
    const char *k, *why;
    sp_cuda_model_choice(g, 0, 0, 1, &k, &why);
    printf("    table pick absent, linear 0, 1 token: %s: %s\n", k, why);
    CHECK(strstr(why, "absent for this layer") && strstr(why, "measured") && strcmp(k, sp_cuda_kernel_name(f[0].pick)),
          "%s: absent table pick: %s (%s)", what, k, why);
    CHECK(sp_cuda_model_table_set(g, NULL, 0, NULL) == 0, "%s: clearing the table: %s", what, sp_last_error());
}

/* The launch mode the report prints follows the switches and the device: expected from the
 * environment and the sm_XY in the device name, not from the model's own flags. */
static void check_launch_mode(const char *what, const sp_cuda_model *g) {
    char name[256] = "";
    sp_cuda_device_info(name, sizeof name, NULL, NULL, NULL);
    const char *sm = strstr(name, "(sm_"), *gr = getenv("SP_GPU_GRAPH"), *pdl = getenv("SP_GPU_PDL");
    const int major = sm ? atoi(sm + 4) / 10 : 0;
    const char *want_graph = gr && !strcmp(gr, "0") ? "decode steps op by op (SP_GPU_GRAPH=0)"
                                                    : "decode steps as one CUDA graph per batch size";
    const char *want_pdl = major < 9 ? "early launch of the own kernels off (needs sm_90)"
                           : pdl && !strcmp(pdl, "0") ? "early launch of the own kernels off (SP_GPU_PDL=0)"
                                                      : "early launch of the own kernels on";
    const char *fr = getenv("SP_FA_ROWS"), *att = getenv("SP_GPU_ATTN");
    char want_att[120];
    if (att && !strcmp(att, "cublas")) snprintf(want_att, sizeof want_att, "prefill attention cuBLAS + softmax");
    else if (fr && (!strcmp(fr, "16") || !strcmp(fr, "32") || !strcmp(fr, "64"))) {
        const char *k = !strcmp(fr, "64") ? "wgmma" : !strcmp(fr, "32") ? "mma.sync 32 rows a warp" : "mma.sync 16 rows a warp";
        snprintf(want_att, sizeof want_att, "prefill attention fused: %s / %s / %s at", k, k, k);
    } else snprintf(want_att, sizeof want_att, "prefill attention fused: ");
    const char *mode = sp_cuda_model_launch_mode(g);
    printf("    launch: %s\n", mode);
    CHECK(strstr(mode, want_graph) && strstr(mode, want_pdl) && strstr(mode, want_att),
          "%s: launch mode '%s', want '%s', '%s' and '%s' (%s)", what, mode, want_graph, want_pdl, want_att, name);
}

/* the NVML sampler (power.cu): over ~0.2 s of forwards a plausible clock, power and temperature,
 * and the bench's TTFT sections sampled too; without NVML only the clean failure */
static void power_sampler(const sp_bench_gpu_result *r) {
    sp_cuda_power p;
    if (sp_cuda_power_start()) {
        printf("  power sampler: %s (skipped)\n", sp_last_error());
        CHECK(sp_cuda_power_stop(&p) == 0 && p.samples == 0, "power sampler: stop after a failed start");
        return;
    }
    const int32_t tok[40] = {5, 17, 33};
    const double t0 = sp_time();
    while (sp_time() - t0 < 0.2) sp_cuda_model_forward(r->model, tok, 1, 40, 0, NULL);
    CHECK(sp_cuda_power_stop(&p) == 0, "power sampler: stop: %s", sp_last_error());
    printf("  power sampler: %d samples, SM %.0f MHz, %.0f W, %.0f C\n", p.samples, p.sm_mhz, p.power_w, p.temp_c_max);
    CHECK(p.samples >= 2 && p.sm_mhz > 100 && p.sm_mhz < 5000 && p.power_w > 1 && p.power_w < 3000 && p.temp_c_max > 0 &&
              p.temp_c_max < 130, "power sampler: %d samples, %.0f MHz, %.0f W, %.0f C", p.samples, p.sm_mhz, p.power_w, p.temp_c_max);
    CHECK(r->ttft_power[0][0][0].samples > 0 && r->ttft_power[1][1][0].samples > 0 && r->ttft_power[1][1][0].sm_mhz > 100,
          "power sampler: the bench's TTFT sections were not sampled");
}

/* q|k|v and gate|up run as one stacked weight, and their parts' own copies are freed at the
 * first bind. A part set again is copied into its rows at the next bind: q set to zeros moves
 * the logits, set back to its weights gives the first logits again (at the wrong rows, or not
 * copied, one of the two fails). */
static void fold_check(const char *what, sp_cuda_model *g, const sp_model *m) {
    const int V = m->cfg.vocab_size;
    const int32_t toks[5] = {3, 1, 4, 1, 5};
    const size_t qn = (size_t)m->blocks[0].lin[0].out * m->blocks[0].lin[0].in;
    float *l0 = malloc((size_t)V * 4), *l1 = malloc((size_t)V * 4), *l2 = malloc((size_t)V * 4), *zq = calloc(qn, 4);
    int rc = sp_cuda_model_bind(g, 0);
    if (!rc) rc = sp_cuda_model_forward(g, toks, 1, 5, 0, l0);
    if (!rc) rc = sp_cuda_model_set_linear(g, 0, 0, zq);
    if (!rc) rc = sp_cuda_model_bind(g, 0);
    if (!rc) rc = sp_cuda_model_forward(g, toks, 1, 5, 0, l1);
    if (!rc) rc = sp_cuda_model_set_linear(g, 0, 0, m->blocks[0].lin[0].w);
    if (!rc) rc = sp_cuda_model_bind(g, 0);
    if (!rc) rc = sp_cuda_model_forward(g, toks, 1, 5, 0, l2);
    CHECK(rc == 0, "%s: fold check: %s", what, sp_last_error());
    double moved = 0, back = 0, big = 0;
    for (int i = 0; !rc && i < V; i++)
        moved = fmax(moved, fabs(l1[i] - l0[i])), back = fmax(back, fabs(l2[i] - l0[i])), big = fmax(big, fabs(l0[i]));
    CHECK(!rc && moved > 1e-3 * big && back <= 1e-5 * big, "%s: q of block 0 set again: logits moved %.3g with q zero, %.3g off "
          "once set back (largest %.3g)", what, moved, back, big);
    free(l0); free(l1); free(l2); free(zq);
}

static double relerr_f(int n, const float *a, const float *b) {
    double num = 0, den = 0;
    for (int i = 0; i < n; i++) num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]), den += (double)b[i] * b[i];
    return den > 0 ? sqrt(num / den) : -1;
}

/* sp_cuda_model_trim: the forms no pick uses are freed, the picks keep their kernels and give
 * the logits they gave, a token count not met before runs on what is left (against the dense
 * binding), and a bind afterwards is refused with a message. Leaves g trimmed. */
static void trim_check(const char *what, sp_cuda_model *g, const sp_model *m) {
    const int V = m->cfg.vocab_size;
    const int32_t toks[8] = {3, 1, 4, 1, 5, 9, 2, 6};
    float *ld = malloc((size_t)V * 4), *l5 = malloc((size_t)V * 4), *l1 = malloc((size_t)V * 4), *a5 = malloc((size_t)V * 4),
          *a1 = malloc((size_t)V * 4), *l7 = malloc((size_t)V * 4);
    const char *kb[SP_N_LINEAR][2], *why;
    int rc = sp_cuda_model_bind(g, 0), same = 1;
    sp_cuda_trim_stats st = {0};
    if (!rc) rc = sp_cuda_model_forward(g, toks, 1, 7, 0, ld); /* dense, 7 tokens: the new count's reference */
    if (!rc) rc = sp_cuda_model_bind(g, 1);
    if (!rc) rc = sp_cuda_model_forward(g, toks, 1, 5, 0, l5);
    if (!rc) rc = sp_cuda_model_forward(g, toks + 5, 1, 1, 5, l1);
    for (int j = 0; j < SP_N_LINEAR && !rc; j++)
        for (int t = 0; t < 2; t++) sp_cuda_model_choice(g, 0, j, t ? 1 : 5, &kb[j][t], &why);
    if (!rc) rc = sp_cuda_model_trim(g, 0, &st);
    CHECK(rc == 0 && st.forms > 0 && st.moved == 0, "%s: trim: %s (%d forms freed, %d picks moved)", what, rc ? sp_last_error() : "",
          st.forms, st.moved);
    if (!rc) rc = sp_cuda_model_forward(g, toks, 1, 5, 0, a5);
    if (!rc) rc = sp_cuda_model_forward(g, toks + 5, 1, 1, 5, a1); /* now from the decode graph */
    CHECK(rc == 0, "%s: forward after the trim: %s", what, sp_last_error());
    for (int j = 0; j < SP_N_LINEAR && !rc; j++)
        for (int t = 0; t < 2; t++) {
            const char *k;
            sp_cuda_model_choice(g, 0, j, t ? 1 : 5, &k, &why);
            same = same && !strcmp(k, kb[j][t]);
        }
    CHECK(same, "%s: a pick changed kernel after the trim", what);
    if (!rc) {
        const double e5 = relerr_f(V, a5, l5), e1 = relerr_f(V, a1, l1);
        CHECK(e5 >= 0 && e5 < 1e-3 && e1 >= 0 && e1 < 1e-3, "%s: logits after the trim vs before: prefill %.3g, decode %.3g", what, e5, e1);
        rc = sp_cuda_model_forward(g, toks, 1, 7, 0, l7);
        const double e7 = rc ? -1 : relerr_f(V, l7, ld);
        CHECK(rc == 0 && e7 >= 0 && e7 < TOL, "%s: 7 tokens after the trim: %s, rel err vs dense %.3g", what, rc ? sp_last_error() : "", e7);
        /* the 7-token pick was made among the forms the trim left: not a measured table entry */
        sp_cuda_table_entry te[64];
        const int nt = sp_cuda_model_table_get(g, te, 64);
        int has7 = 0, has5 = 0;
        for (int i = 0; i < nt && i < 64; i++) has7 |= te[i].n == 7, has5 |= te[i].n == 5;
        CHECK(nt > 0 && has5 && !has7, "%s: table after the trim: %d keys, 5 tokens %s, 7 tokens %s", what, nt, has5 ? "in" : "missing",
              has7 ? "in (made after the trim)" : "out");
        printf("    trim: %d forms freed (%.1f MB), after vs before %.1e / %.1e, a new token count vs dense %.1e\n", st.forms,
               st.freed / 1e6, e5, e1, e7);
    }
    rc = sp_cuda_model_bind(g, 0);
    CHECK(rc != 0 && strstr(sp_last_error(), "trimmed"), "%s: bind after the trim: %d (%s)", what, rc, sp_last_error());
    free(ld); free(l5); free(l1); free(a5); free(a1); free(l7);
}

static void run_model(const char *what, int pattern24, double sp, int heads, int kv_heads, int head_dim) {
    sp_model *m = tiny_model(pattern24, sp, heads, kv_heads, head_dim);
    CHECK(m != NULL, "model layout: %s", sp_last_error());
    if (!m) return;
    sp_bench_gpu_opts o = {.prompts = {24, 40}, .n_prompts = 2, .batches = {1, 5}, .n_batches = 2, .ctx_tokens = 20,
                           .gen_tokens = 3, .reps = 1, .check = 1,
                           .check_tokens = 600}; /* 2 prefill attention chunks, 8 decode key splits */
    sp_bench_gpu_result r;
    int rc = sp_bench_gpu(m, &o, &r, NULL);
    CHECK(rc == 0, "%s: sp_bench_gpu: %s", what, sp_last_error());
    if (!rc) {
        printf("  %-14s rel err vs CPU (bf16 weights): dense prefill %.2e decode %.2e batch %.2e; sparse %.2e %.2e %.2e; "
               "prefill vs CPU f32 weights %.2e; sparse vs dense %.2e\n", what, r.err_prefill[0], r.err_decode[0],
               r.err_batch[0], r.err_prefill[1], r.err_decode[1], r.err_batch[1], r.err_prefill_f32w[0], r.err_sparse_vs_dense);
        for (int k = 0; k < 2; k++)
            CHECK(r.err_prefill[k] >= 0 && r.err_prefill[k] < TOL && r.err_decode[k] >= 0 && r.err_decode[k] < TOL &&
                  r.err_batch[k] >= 0 && r.err_batch[k] < TOL, "%s: %s binding off the CPU forward", what, k ? "sparse" : "dense");
        CHECK(r.err_sparse_vs_dense >= 0 && r.err_sparse_vs_dense < TOL, "%s: sparse vs dense %.3g", what, r.err_sparse_vs_dense);
        CHECK(r.ttft_ms[0][0] > 0 && r.tpot_ms[1][1] > 0, "%s: no timings", what);
        /* the sparse binding holds the dense weights and its sparse forms: never less (pages may round a tiny model's
         * difference away) */
        CHECK(r.mem_in_use[0] > 0 && r.mem_in_use[1] >= r.mem_in_use[0], "%s: device memory in use dense %zu, sparse %zu bytes",
              what, r.mem_in_use[0], r.mem_in_use[1]);
        CHECK(r.passes == 2 && r.ttft_pass_ms[1][1][1] > 0 && r.ttft_pass_ms[1][0][0] > 0 && r.tpot_pass_ms[1][1][1] > 0 &&
              fabs(r.ttft_ms[1][0] - 0.5 * (r.ttft_pass_ms[0][1][0] + r.ttft_pass_ms[1][1][0])) < 1e-9,
              "%s: passes %d, second-pass times missing or the mean not theirs", what, r.passes);
        const char *k0, *why0; /* the second sparse pass ran the first one's picks */
        sp_cuda_model_choice(r.model, 0, 0, 1, &k0, &why0);
        CHECK(strstr(why0, "the first sparse pass") != NULL, "%s: second sparse pass pick: %s (%s)", what, k0, why0);
        check_launch_mode(what, r.model);
        for (int j = 0; j < SP_N_LINEAR; j++) {
            const char *k, *why;
            sp_cuda_model_choice(r.model, 0, j, 1, &k, &why);
            if (j == 0 || j == 6) printf("    linear %d, 1 token: %s: %s\n", j, k, why);
            CHECK(strcmp(k, "?") != 0, "%s: linear %d has no measured choice", what, j);
        }
        table_checks(what, r.model);
        fold_check(what, r.model, m);
        trim_check(what, r.model, m);
        static int power_done;
        if (!power_done++) power_sampler(&r);
        sp_cuda_model_free(r.model);
    }
    sp_model_free(m);
}

/* the bench's trim (bench --gpu's default): forms freed, memory measured, the check prefill
 * again, the binding timed again. Lean (with the sparse-only trim): no cuSPARSELt form, a
 * 300-token prefill (the wgmma.sp GEMM's range on sm_90) on the one 2:4 copy (stage order, which
 * the decode kernels read too), checked against the CPU forward, and no dense pick left. */
static void bench_trim(int pattern24, double sp, int lean) {
    sp_model *m = tiny_model(pattern24, sp, 4, 2, 64);
    CHECK(m != NULL, "model layout: %s", sp_last_error());
    if (!m) return;
    sp_bench_gpu_opts o = {.prompts = {24}, .n_prompts = 1, .batches = {1, 3}, .n_batches = 2, .ctx_tokens = 20,
                           .gen_tokens = 3, .reps = 1, .passes = 1, .check = 1, .check_tokens = lean ? 300 : 0, .trim = 1 + lean,
                           .lean = lean};
    sp_bench_gpu_result r;
    int rc = sp_bench_gpu(m, &o, &r, NULL);
    CHECK(rc == 0, "bench with trim: %s", sp_last_error());
    if (!rc) {
        CHECK(r.trim_forms > 0 && r.mem_trimmed > 0 && r.mem_trimmed <= r.mem_before_trim && r.err_after_trim >= 0 &&
                  r.err_after_trim < TOL && r.ttft_trimmed_ms[0] > 0 && r.tpot_trimmed_ms[1] > 0,
              "bench with trim (%s): %d forms, %zu -> %zu bytes, prefill after vs before %.3g, timed again %.3g / %.3g ms",
              pattern24 ? "2:4" : "unstructured", r.trim_forms, r.mem_before_trim, r.mem_trimmed, r.err_after_trim,
              r.ttft_trimmed_ms[0], r.tpot_trimmed_ms[1]);
        printf("  bench trim (%s%s): %d forms freed, %.1f -> %.1f MB, prefill after vs before %.1e, sparse vs CPU %.1e\n",
               pattern24 ? "2:4" : "60%", lean ? ", lean" : "", r.trim_forms, r.mem_before_trim / 1e6, r.mem_trimmed / 1e6,
               r.err_after_trim, r.err_prefill[1]);
        CHECK(r.err_prefill[1] >= 0 && r.err_prefill[1] < TOL, "bench with trim: sparse prefill off the CPU forward: %.3g",
              r.err_prefill[1]);
        static const int ns[4] = {300, 24, 1, 3};
        for (int j = 0; lean && j < SP_N_LINEAR; j++)
            for (int t = 0; t < 4; t++) {
                const char *k, *why;
                sp_cuda_model_choice(r.model, 0, j, ns[t], &k, &why);
                CHECK(strcmp(k, "24-cusparselt") && !strstr(why, "cusparselt") && strcmp(k, "dense-cublas") && strcmp(k, "?"),
                      "lean binding trimmed to sparse forms, linear %d at %d tokens: %s: %s", j, ns[t], k, why);
                if (j == 0 && t == 0) printf("    lean, linear 0 at 300 tokens: %s: %s\n", k, why);
            }
        sp_cuda_model_free(r.model);
    }
    sp_model_free(m);
}

/* the device-built 2:4 layout computes what the host-built one does */
static void device_layout(int out, int in) {
    uint16_t *vals = malloc((size_t)out * in), *meta = malloc((size_t)out * (in / 16) * 2), *dense = malloc((size_t)out * in * 2);
    gc_make_24(out, in, vals, meta, dense);
    for (int i = 0; i < out * in; i += 37) dense[i] = 0; /* some groups with fewer than 2 nonzeros */
    void *dd = sp_cuda_malloc((size_t)out * in * 2);
    sp_cuda_upload(dd, dense, (size_t)out * in * 2);
    sp_cuda_weight *wdev = sp_cuda_upload_device(SP_CUDA_KERNEL_24, out, in, dd);
    sp_cuda_weight *wd = sp_cuda_upload_dense(SP_CUDA_KERNEL_DENSE, out, in, dense);
    CHECK(wdev && wd, "device 2:4 upload %dx%d: %s", out, in, sp_last_error());
    int n = 5;
    uint16_t *x = malloc((size_t)n * in * 2), *a = malloc((size_t)n * out * 2), *b = malloc((size_t)n * out * 2);
    gc_make_x((size_t)n * in, x);
    void *xd = sp_cuda_malloc((size_t)n * in * 2), *yd = sp_cuda_malloc((size_t)n * out * 2);
    sp_cuda_upload(xd, x, (size_t)n * in * 2);
    if (wdev && wd) {
        sp_cuda_linear(wdev, xd, n, yd);
        sp_cuda_download(a, yd, (size_t)n * out * 2);
        sp_cuda_linear(wd, xd, n, yd);
        sp_cuda_download(b, yd, (size_t)n * out * 2);
        double e = gc_relerr16((size_t)n * out, a, b);
        CHECK(e < 1e-2, "device-built 2:4 %dx%d off cuBLAS: %.3g", out, in, e);
        printf("  device-built 2:4 %dx%d: rel err vs cuBLAS %.2e\n", out, in, e);
    }
    dense[1] = dense[2] = dense[3] = dense[0] = sp_f32_to_bf16(1.f); /* 4 nonzeros in one group */
    sp_cuda_upload(dd, dense, (size_t)out * in * 2);
    sp_cuda_weight *bad = sp_cuda_upload_device(SP_CUDA_KERNEL_24, out, in, dd);
    CHECK(!bad, "a dense group accepted as 2:4");
    sp_cuda_weight_free(bad); sp_cuda_weight_free(wdev); sp_cuda_weight_free(wd);
    sp_cuda_free(dd); sp_cuda_free(xd); sp_cuda_free(yd);
    free(vals); free(meta); free(dense); free(x); free(a); free(b);
}

int main(void) {
    if (!sp_cuda_available()) {
        printf("skipped: %s\n", sp_last_error());
        return SKIP;
    }
    unsigned seed = gc_seed();
    printf("seed %u\n", seed);
    device_layout(37, 112);
    device_layout(300, 528);
    bench_trim(1, 0.5, 0);
    bench_trim(0, 0.6, 0);
    bench_trim(1, 0.5, 1);
    run_model("2:4, D 32", 1, 0.5, 4, 2, 32); /* head dims: each fused-attention instance */
    run_model("60%, D 32", 0, 0.6, 4, 2, 32);
    run_model("2:4, D 64", 1, 0.5, 4, 2, 64);
    run_model("2:4, D 128", 1, 0.5, 2, 1, 128);
    run_model("2:4, D 64, 3 q heads a kv head", 1, 0.5, 6, 2, 64); /* GQA groups of the decode attention */
    setenv("SP_GPU_DECODE_ATTN", "gqa", 1); /* the large-batch decode attention at every batch size */
    run_model("2:4, D 64, 3 q heads a kv head, kv-head decode attention", 1, 0.5, 6, 2, 64);
    run_model("2:4, D 32, 8 q heads a kv head, kv-head decode attention", 1, 0.5, 8, 1, 32);
    run_model("60%, D 128, kv-head decode attention", 0, 0.6, 4, 2, 128);
    setenv("SP_GPU_DECODE_ATTN", "head", 1);
    run_model("2:4, D 64, 3 q heads a kv head, q-head decode attention", 1, 0.5, 6, 2, 64);
    setenv("SP_GPU_DECODE_ATTN", "gqa", 1); /* a group above SP_ATT_GMAX keeps the q-head kernel */
    run_model("2:4, D 32, 16 q heads a kv head", 1, 0.5, 16, 1, 32);
    unsetenv("SP_GPU_DECODE_ATTN");
    setenv("SP_GPU_QKV", "separate", 1); /* three q/k/v linears instead of the fused one */
    setenv("SP_GPU_GATEUP", "separate", 1); /* gate and up apart */
    run_model("2:4 qkv and gate/up apart", 1, 0.5, 4, 2, 32);
    unsetenv("SP_GPU_GATEUP");
    setenv("SP_GPU_GRAPH", "0", 1); /* every decode step op by op, no early launch */
    setenv("SP_GPU_PDL", "0", 1);
    run_model("60% qkv apart, op by op", 0, 0.6, 4, 2, 64);
    unsetenv("SP_GPU_GRAPH");
    unsetenv("SP_GPU_PDL");
    unsetenv("SP_GPU_QKV");
    if (fails) { printf("%d failures\n", fails); return 1; }
    printf("all GPU model checks passed\n");
    return 0;
}
