/* bench_gpu.c: whole-model TTFT/TPOT on the GPU, dense cuBLAS against the sparse binding of
 * the same weights in one process, plus last-token logits checked against the CPU forward.
 * The device model is in src/kernels/cuda/model.cu; this file only feeds and times it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sparsity_bench.h"
static double relerr(const float *a, const float *ref, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (a[i] != a[i]) return INFINITY;
        num += ((double)a[i] - ref[i]) * ((double)a[i] - ref[i]);
        den += (double)ref[i] * ref[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* Llama-3-8B shapes (32 blocks, dim 4096, MLP 14336, GQA 32/8 heads of 128, vocab 128256) */
static int synthetic_cfg(const char *name, sp_cuda_model_cfg *c) {
    if (strcmp(name, "llama3-8b")) return sp_error(SP_ERR_ARG, "bench --gpu: unknown synthetic model '%s' (known: llama3-8b)", name);
    *c = (sp_cuda_model_cfg){.dim = 4096, .hidden_dim = 14336, .n_layers = 32, .n_heads = 32, .n_kv_heads = 8,
                             .head_dim = 128, .vocab = 128256, .rope_theta = 500000.f, .norm_eps = 1e-5f};
    return 0;
}

/* Dense f32 host weights of m into g (bf16 on the device). */
static int upload_model(const sp_model *m, sp_cuda_model *g) {
    int rc = sp_cuda_model_set_vec(g, -1, 0, m->embed);
    if (!rc) rc = sp_cuda_model_set_vec(g, -1, 1, m->final_norm);
    if (!rc) rc = sp_cuda_model_set_linear(g, -1, 0, m->lm_head.w);
    for (int b = 0; b < m->cfg.n_layers && !rc; b++) {
        const sp_block *B = &m->blocks[b];
        rc = sp_cuda_model_set_vec(g, b, 0, B->attn_norm);
        if (!rc) rc = sp_cuda_model_set_vec(g, b, 1, B->mlp_norm);
        for (int j = 0; j < SP_N_LINEAR && !rc; j++) {
            if (!B->lin[j].w) return sp_error(SP_ERR_ARG, "bench --gpu: %s has no dense weight", B->lin[j].name);
            rc = sp_cuda_model_set_linear(g, b, j, B->lin[j].w);
        }
    }
    return rc;
}

/* CPU references for the check: last-token logits of a cn-token prefill with the f32 weights
 * (ref32), then, after rounding every weight to bf16 in place as the GPU holds them, of the
 * same prefill and of two decode steps (ref: (3, V)), so the GPU error vs ref is arithmetic only. */
static int cpu_refs(sp_model *m, const int32_t *ids, int cn, float *ref32, float *ref) {
    const int V = m->cfg.vocab_size;
    sp_state *s = sp_state_new(m, cn + 2, cn);
    if (!s) return SP_ERR_NOMEM;
    int rc = sp_forward(m, s, ids, cn, ref32, 0);
    for (int i = 0; i < sp_model_n_linear(m) && !rc; i++) {
        sp_linear *l = sp_model_linear(m, i);
        if (l == &m->lm_head && l->w == m->embed) continue; /* tied: rounded with embed */
        if ((rc = sp_linear_own(l))) break;
        for (size_t k = 0; k < (size_t)l->out * l->in; k++) l->w[k] = sp_bf16_to_f32(sp_f32_to_bf16(l->w[k]));
    }
    for (size_t k = 0; !rc && k < (size_t)V * m->cfg.dim; k++) m->embed[k] = sp_bf16_to_f32(sp_f32_to_bf16(m->embed[k]));
    sp_state_reset(s);
    if (!rc) rc = sp_forward(m, s, ids, cn, ref, 0);
    if (!rc) rc = sp_forward(m, s, ids + cn, 1, ref + V, 0);
    if (!rc) rc = sp_forward(m, s, ids + cn + 1, 1, ref + 2 * (size_t)V, 0);
    sp_state_free(s);
    return rc;
}

/* GPU last-token logits of the cn-token prefill, of the decode step at cn (run twice: op by op,
 * then captured as a graph and replayed), of the step at cn + 1 (the graph replayed at another
 * position), and of the step at cn decoded by every sequence of a batch (after forking the
 * cache; twice, as for one sequence), against the CPU references; the worst error is kept. */
static int check_vs_cpu(sp_cuda_model *g, int V, int batch, const int32_t *ids, int cn, const float *ref32,
                        const float *ref, int mode, sp_bench_gpu_result *r) {
    float *lg = malloc((size_t)batch * V * sizeof(float));
    int32_t *bt = malloc((size_t)batch * sizeof(int32_t));
    int rc = 0;
    if (!lg || !bt) { rc = sp_error(SP_ERR_NOMEM, "bench --gpu: out of memory"); goto done; }
    if ((rc = sp_cuda_model_forward(g, ids, 1, cn, 0, lg))) goto done;
    r->err_prefill[mode] = relerr(lg, ref, V);
    r->err_prefill_f32w[mode] = relerr(lg, ref32, V);
    r->err_decode[mode] = 0;
    for (int step = 0; step < 3; step++) {
        const int p = cn + (step == 2);
        if ((rc = sp_cuda_model_forward(g, ids + p, 1, 1, p, lg))) goto done;
        double e = relerr(lg, ref + (size_t)(1 + (step == 2)) * V, V);
        if (e > r->err_decode[mode]) r->err_decode[mode] = e;
    }
    if ((rc = sp_cuda_model_fork(g, cn))) goto done;
    for (int i = 0; i < batch; i++) bt[i] = ids[cn];
    r->err_batch[mode] = 0;
    for (int rep = 0; rep < 2; rep++) {
        if ((rc = sp_cuda_model_forward(g, bt, batch, 1, cn, lg))) goto done;
        for (int i = 0; i < batch; i++) {
            double e = relerr(lg + (size_t)i * V, ref + V, V);
            if (e > r->err_batch[mode]) r->err_batch[mode] = e;
        }
    }
done:
    free(lg); free(bt);
    return rc;
}

/* Per-op means of the forwards since the last call (SP_GPU_PROFILE=1), or nothing; log NULL:
 * forget them (the warm-up forward times the kernel choices, a TPOT rep starts with a prefill). */
static void log_profile(sp_cuda_model *g, FILE *log) {
    char buf[2048];
    if (!sp_cuda_model_profile(g, buf, sizeof buf) && buf[0] && log) fprintf(log, "%s", buf);
}

/* " (pass 2; SM 1.95 GHz, 606 W, 58 C)", or the parts of it there are */
static const char *tag_of(char *b, size_t n, const sp_bench_gpu_result *r, int pass, const sp_cuda_power *p) {
    char pw[64] = "";
    if (p->samples) snprintf(pw, sizeof pw, "SM %.2f GHz, %.0f W, %.0f C", p->sm_mhz / 1e3, p->power_w, p->temp_c_max);
    if (r->passes > 1) snprintf(b, n, " (pass %d%s%s)", pass + 1, pw[0] ? "; " : "", pw);
    else if (pw[0]) snprintf(b, n, " (%s)", pw);
    else b[0] = 0;
    return b;
}

/* TTFT per prompt length and TPOT per batch size for the current binding, into pass's slots;
 * the board's clock and power sampled over the timed reps where NVML answers. */
static int time_mode(sp_cuda_model *g, const sp_bench_gpu_opts *o, const int32_t *ids, int mode, int pass,
                     sp_bench_gpu_result *r, FILE *log) {
    char tag[96];
    double *t = malloc((size_t)o->reps * sizeof(double));
    int32_t *bt = malloc((size_t)o->batches[o->n_batches - 1] * sizeof(int32_t) + 64 * sizeof(int32_t));
    int rc = 0;
    if (!t || !bt) { free(t); free(bt); return sp_error(SP_ERR_NOMEM, "bench --gpu: out of memory"); }
    for (int p = 0; p < o->n_prompts && !rc; p++) {
        int P = o->prompts[p];
        for (int k = 0; k <= o->reps && !rc; k++) { /* k = 0 warms up (and measures the kernel choice) */
            double t0 = sp_time();
            rc = sp_cuda_model_forward(g, ids, 1, P, 0, NULL);
            if (k) t[k - 1] = sp_time() - t0;
            else log_profile(g, NULL), sp_cuda_power_start();
        }
        sp_cuda_power *pw = &r->ttft_power[pass][mode][p];
        sp_cuda_power_stop(pw); /* fails (samples 0) where start did */
        if (!rc) r->ttft_pass_ms[pass][mode][p] = 1e3 * sp_median(t, o->reps);
        if (log && !rc)
            fprintf(log, "  %s TTFT P=%d: %.2f ms%s\n", mode ? "sparse" : "dense", P, r->ttft_pass_ms[pass][mode][p],
                    tag_of(tag, sizeof tag, r, pass, pw));
        if (log && !rc) log_profile(g, log);
    }
    const int C = o->ctx_tokens, G = o->gen_tokens;
    for (int bi = 0; bi < o->n_batches && !rc; bi++) {
        int B = o->batches[bi];
        for (int k = 0; k <= o->reps && !rc; k++) {
            if ((rc = sp_cuda_model_forward(g, ids, 1, C, 0, NULL))) break;
            if (B > 1 && (rc = sp_cuda_model_fork(g, C))) break;
            log_profile(g, NULL); /* the profile printed below: the last rep's decode steps */
            double t0 = sp_time();
            for (int s = 0; s < G && !rc; s++) {
                for (int i = 0; i < B; i++) bt[i] = ids[(C + s + 31 * i) % (C + G)];
                rc = sp_cuda_model_forward(g, bt, B, 1, C + s, NULL);
            }
            if (k) t[k - 1] = (sp_time() - t0) / G;
            else sp_cuda_power_start();
        }
        sp_cuda_power *pw = &r->tpot_power[pass][mode][bi];
        sp_cuda_power_stop(pw);
        if (!rc) r->tpot_pass_ms[pass][mode][bi] = 1e3 * sp_median(t, o->reps);
        if (log && !rc)
            fprintf(log, "  %s TPOT batch %d (context %d): %.3f ms%s\n", mode ? "sparse" : "dense", B, C,
                    r->tpot_pass_ms[pass][mode][bi], tag_of(tag, sizeof tag, r, pass, pw));
        if (log && !rc) log_profile(g, log);
    }
    free(t);
    free(bt);
    return rc;
}

int sp_bench_gpu(sp_model *m, const sp_bench_gpu_opts *o, sp_bench_gpu_result *r, FILE *log) {
    memset(r, 0, sizeof *r);
    for (int i = 0; i < 2; i++) r->err_prefill[i] = r->err_prefill_f32w[i] = r->err_decode[i] = r->err_batch[i] = -1;
    r->err_sparse_vs_dense = r->err_after_trim = -1;
    if (o->n_prompts < 1 || o->n_prompts > SP_BENCH_GPU_MAXP || o->n_batches < 1 || o->n_batches > 2 ||
        o->gen_tokens < 1 || o->reps < 1 || o->ctx_tokens < 1)
        return sp_error(SP_ERR_ARG, "bench --gpu: bad options");
    if (!sp_cuda_available()) return SP_ERR_UNSUPPORTED; /* sp_last_error says why */
    sp_cuda_model_cfg *c = &r->cfg;
    if (o->synthetic) {
        int rc = synthetic_cfg(o->synthetic, c);
        if (rc) return rc;
    } else {
        if (!m) return sp_error(SP_ERR_ARG, "bench --gpu: no model");
        if (m->cfg.qkv_bias) return sp_error(SP_ERR_UNSUPPORTED, "bench --gpu: q/k/v biases (qwen2) are not in the GPU model");
        *c = (sp_cuda_model_cfg){.dim = m->cfg.dim, .hidden_dim = m->cfg.hidden_dim, .n_layers = m->cfg.n_layers,
                                 .n_heads = m->cfg.n_heads, .n_kv_heads = m->cfg.n_kv_heads, .head_dim = m->cfg.head_dim,
                                 .vocab = m->cfg.vocab_size, .rope_theta = m->cfg.rope_theta, .norm_eps = m->cfg.norm_eps};
    }
    const int cn = o->check_tokens > 0 ? o->check_tokens : 100;
    int maxP = cn + 1, maxB = 1;
    for (int i = 0; i < o->n_prompts; i++) maxP = o->prompts[i] > maxP ? o->prompts[i] : maxP;
    for (int i = 0; i < o->n_batches; i++) maxB = o->batches[i] > maxB ? o->batches[i] : maxB;
    if (o->ctx_tokens > maxP) maxP = o->ctx_tokens;
    int ctx = maxP > o->ctx_tokens + o->gen_tokens ? maxP : o->ctx_tokens + o->gen_tokens;
    ctx += 1;
    int32_t *ids = malloc((size_t)ctx * sizeof(int32_t));
    if (!ids) return sp_error(SP_ERR_NOMEM, "bench --gpu: out of memory");
    for (int i = 0; i < ctx; i++) ids[i] = (int32_t)((1000 + 7919L * i) % c->vocab); /* speed does not depend on them */
    float *logits[2] = {NULL, NULL}, *ref32 = NULL, *ref = NULL;
    sp_cuda_table_entry *snap = NULL;
    int nsnap = 0;
    int rc = 0;
    double t0 = sp_time();
    sp_cuda_model *g = sp_cuda_model_new(c, ctx, maxP, maxB);
    if (!g) { rc = SP_ERR_NOMEM; goto done; }
    rc = o->synthetic ? sp_cuda_model_randomize(g, 0x5EED, 1) : upload_model(m, g);
    if (rc) goto done;
    if (log) fprintf(log, "  weights on the device in %.1f s\n", sp_time() - t0);
    if (o->table && (rc = sp_cuda_model_table_set(g, o->table, o->n_table, o->table_source))) goto done;
    if (o->check && m) { /* after the upload: the references round the host weights to bf16 */
        ref32 = malloc((size_t)c->vocab * sizeof(float));
        ref = malloc((size_t)3 * c->vocab * sizeof(float));
        if (!ref32 || !ref) { rc = sp_error(SP_ERR_NOMEM, "bench --gpu: out of memory"); goto done; }
        if ((rc = cpu_refs(m, ids, cn, ref32, ref))) goto done;
    }
    /* passes 2 run sparse, dense, dense, sparse and end sparse (the caller reports its picks) */
    static const int order1[2] = {0, 1}, order2[4] = {1, 0, 0, 1};
    r->passes = o->passes == 1 ? 1 : 2;
    const int *order = r->passes == 1 ? order1 : order2;
    for (int s = 0; s < 2 * r->passes && !rc; s++) {
        const int mode = order[s], pass = s / 2;
        if (s == 0 || order[s - 1] != mode) {
            t0 = sp_time();
            if ((rc = sp_cuda_model_bind(g, mode ? 1 + (o->lean != 0) : 0))) break;
            if (log) fprintf(log, "  %s binding in %.1f s\n", mode ? "sparse" : "dense", sp_time() - t0);
            if (mode && pass && snap && (rc = sp_cuda_model_table_set(g, snap, nsnap, "the first sparse pass"))) break;
        }
        if (!pass) {
            if (ref && (rc = check_vs_cpu(g, c->vocab, maxB, ids, cn, ref32, ref, mode, r))) break;
            /* sparse vs dense on the same prefill, for every model */
            if (!(logits[mode] = malloc((size_t)c->vocab * sizeof(float)))) { rc = sp_error(SP_ERR_NOMEM, "out of memory"); break; }
            if ((rc = sp_cuda_model_forward(g, ids, 1, cn, 0, logits[mode]))) break;
            if (logits[0] && logits[1]) r->err_sparse_vs_dense = relerr(logits[1], logits[0], (size_t)c->vocab);
        }
        if ((rc = time_mode(g, o, ids, mode, pass, r, log))) break;
        r->weight_bytes[mode] = sp_cuda_model_weight_bytes(g, 1);
        if (!pass && (rc = sp_cuda_mem_in_use(&r->mem_in_use[mode]))) break;
        /* the second sparse pass runs the first one's picks, not a new measurement of them */
        if (mode && !pass && r->passes > 1 && !o->table && (nsnap = sp_cuda_model_table_get(g, NULL, 0)) > 0) {
            if (!(snap = malloc((size_t)nsnap * sizeof *snap))) { rc = sp_error(SP_ERR_NOMEM, "out of memory"); break; }
            if ((nsnap = sp_cuda_model_table_get(g, snap, nsnap)) < 0) rc = nsnap;
        }
    }
    if (!rc && o->trim && logits[1]) { /* what a server keeps: the forms the timed token counts picked */
        sp_cuda_trim_stats st = {0};
        float *lt = malloc((size_t)c->vocab * sizeof(float));
        if (!lt) rc = sp_error(SP_ERR_NOMEM, "out of memory");
        if (!rc) rc = sp_cuda_model_trim(g, o->trim == 2, &st);
        if (!rc) rc = sp_cuda_mem_in_use(&r->mem_trimmed);
        r->mem_before_trim = r->mem_trimmed + st.freed, r->trim_forms = st.forms, r->trim_moved = st.moved;
        /* the check prefill's count was not timed: on what is left it may take another kernel */
        if (!rc) rc = sp_cuda_model_forward(g, ids, 1, cn, 0, lt);
        if (!rc) r->err_after_trim = relerr(lt, logits[1], (size_t)c->vocab);
        if (log && !rc)
            fprintf(log, "  trimmed to the picked forms: %d freed, %d picks moved off dense, %.2f -> %.2f GB in use; the %d-token "
                    "prefill after it vs before %.2e\n", r->trim_forms, r->trim_moved, r->mem_before_trim / 1e9, r->mem_trimmed / 1e9,
                    cn, r->err_after_trim);
        free(lt);
        /* and timed once more on what is left, into a scratch result (the passes' slots stay theirs) */
        sp_bench_gpu_result *tr = rc ? NULL : malloc(sizeof *tr);
        if (!rc && !tr) rc = sp_error(SP_ERR_NOMEM, "out of memory");
        if (!rc) {
            *tr = *r;
            tr->passes = 1;
            if (!(rc = time_mode(g, o, ids, 1, 0, tr, NULL))) {
                memcpy(r->ttft_trimmed_ms, tr->ttft_pass_ms[0][1], sizeof r->ttft_trimmed_ms);
                memcpy(r->tpot_trimmed_ms, tr->tpot_pass_ms[0][1], sizeof r->tpot_trimmed_ms);
            }
        }
        free(tr);
    }
    for (int m2 = 0; m2 < 2 && !rc; m2++) {
        for (int p = 0; p < o->n_prompts; p++) {
            double t = 0;
            for (int pass = 0; pass < r->passes; pass++) t += r->ttft_pass_ms[pass][m2][p];
            r->ttft_ms[m2][p] = t / r->passes;
        }
        for (int b = 0; b < o->n_batches; b++) {
            double t = 0;
            for (int pass = 0; pass < r->passes; pass++) t += r->tpot_pass_ms[pass][m2][b];
            r->tpot_ms[m2][b] = t / r->passes;
        }
    }
done:
    free(ids);
    free(ref32);
    free(ref);
    free(logits[0]);
    free(logits[1]);
    free(snap);
    if (rc) sp_cuda_model_free(g);
    else r->model = g;
    return rc;
}
