/* calibrate.c: whole-model pruning, one transformer block at a time (the SparseGPT/Wanda
 * "sequential" protocol). Calibration windows are embedded once; then for each block:
 * observers on its linears collect input statistics while the block runs on every window,
 * each selected linear is pruned, and the block runs again with the pruned weights to
 * produce the next block's inputs. Memory: the activations (nsamples x seqlen x dim f32),
 * one block's statistics (X^T X per distinct input for SparseGPT), and the weights. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sparsity.h"
#include "sparsity_prune.h"

/* Linears of a block that read the same input share one statistics object. */
enum { IN_ATTN, IN_O, IN_MLP, IN_DOWN, N_INPUTS };
static const int input_of[SP_N_LINEAR] = {IN_ATTN, IN_ATTN, IN_ATTN, IN_O, IN_MLP, IN_MLP, IN_DOWN};

/* Every comma-separated item of list must match at least one linear's name. */
static int check_list_matches(sp_model *m, const char *list, const char *what) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') tok++;
        if (!*tok) continue;
        int hit = 0;
        for (int i = 0; i < sp_model_n_linear(m) && !hit; i++) hit = strstr(sp_model_linear(m, i)->name, tok) != NULL;
        if (!hit && strstr("model.embed_tokens", tok)) hit = 1;
        if (!hit) return sp_error(SP_ERR_ARG, "%s: '%s' matches no layer (e.g. self_attn.q_proj, mlp.down_proj, lm_head)", what, tok);
    }
    return 0;
}

static int selected(const sp_prune_config *c, const sp_model *m, const sp_linear *l) {
    if (l == &m->lm_head && m->lm_head.w == m->embed) return 0; /* tied: that is the embedding */
    return sp_prune_layer_selected(c, l->name);
}

int sp_prune_model_check(sp_model *m, const sp_prune_config *c) {
    int rc = sp_prune_config_validate(c);
    if (!rc) rc = check_list_matches(m, c->target_layers, "target_layers");
    if (!rc) rc = check_list_matches(m, c->exclude_layers, "exclude_layers");
    int any = 0;
    for (int i = 0; i < sp_model_n_linear(m) && !rc; i++) {
        sp_linear *l = sp_model_linear(m, i);
        if (!selected(c, m, l)) continue;
        any = 1;
        rc = sp_prune_config_check_layer(c, l->name, l->out, l->in);
    }
    if (!rc && !any) rc = sp_error(SP_ERR_ARG, "no layer selected for pruning (check target_layers / exclude_layers)");
    return rc;
}

/* Calibration windows: nsamples windows of seqlen tokens at evenly spaced offsets over the
 * whole calibration text (deterministic, covers all of it), embedded into x. */
static int calib_inputs(const sp_model *m, const sp_prune_config *c, float **xout) {
    char *text;
    size_t len;
    if (!c->calibration_data[0])
        return sp_error(SP_ERR_ARG, "%s pruning needs calibration data (--calib FILE)", sp_prune_method_name(c->method));
    if (sp_read_file(c->calibration_data, &text, &len)) return SP_ERR_IO;
    int32_t *ids;
    size_t n;
    int rc = sp_tokenizer_encode(m->tok, text, len, &ids, &n);
    free(text);
    if (rc) return rc;
    size_t need = (size_t)c->nsamples * c->seqlen;
    if (n < need) {
        free(ids);
        return sp_error(SP_ERR_ARG, "%s: %zu tokens, fewer than nsamples x seqlen = %d x %d", c->calibration_data, n,
                        c->nsamples, c->seqlen);
    }
    float *x = malloc(need * m->cfg.dim * sizeof(float));
    if (!x) { free(ids); return sp_error(SP_ERR_NOMEM, "calibration: out of memory (%zu tokens)", need); }
    size_t stride = c->nsamples > 1 ? (n - c->seqlen) / (c->nsamples - 1) : 0;
    for (int i = 0; i < c->nsamples; i++)
        sp_embed(m, ids + i * stride, c->seqlen, x + (size_t)i * c->seqlen * m->cfg.dim);
    free(ids);
    *xout = x;
    return 0;
}

/* Runs block b over every window: in place when out == NULL, else into a scratch copy
 * (statistics pass that must not advance the inputs). */
static int run_block(const sp_model *m, sp_state *s, int b, float *x, const sp_prune_config *c, float *scratch) {
    size_t w = (size_t)c->seqlen * m->cfg.dim;
    for (int i = 0; i < c->nsamples; i++) {
        float *xi = x + i * w;
        if (scratch) { memcpy(scratch, xi, w * sizeof(float)); xi = scratch; }
        int rc = sp_block_forward(m, s, b, xi, c->seqlen);
        if (rc) return rc;
    }
    return 0;
}

static void observers(sp_block *B, sp_prune_stats **st, int on) {
    for (int j = 0; j < SP_N_LINEAR; j++) {
        B->lin[j].observe = on ? sp_prune_stats_observe : NULL;
        B->lin[j].observe_ctx = on ? st[input_of[j]] : NULL;
    }
}

static void free_stats(sp_prune_stats **st) {
    for (int k = 0; k < N_INPUTS; k++) { sp_prune_stats_free(st[k]); st[k] = NULL; }
}

static int new_stats(const sp_block *B, int hessian, sp_prune_stats **st) {
    for (int j = 0; j < SP_N_LINEAR; j++)
        if (!st[input_of[j]] && !(st[input_of[j]] = sp_prune_stats_new(B->lin[j].in, hessian))) return SP_ERR_NOMEM;
    return 0;
}

static int stats_status(sp_prune_stats **st) {
    for (int k = 0; k < N_INPUTS; k++)
        if (st[k] && st[k]->status) return st[k]->status;
    return 0;
}

/* OWL pass: dense model, Wanda statistics per block, outlier ratio per block -> ratios. */
static int owl_ratios(sp_model *m, const sp_prune_config *c, sp_state *s, float *x, float *scratch, double *ratios) {
    int L = m->cfg.n_layers, rc = 0;
    double *outlier = calloc((size_t)L, sizeof(double));
    if (!outlier) return sp_error(SP_ERR_NOMEM, "owl: out of memory");
    sp_progress pr;
    sp_progress_begin(&pr, "owl outlier pass, block", L);
    for (int b = 0; b < L && !rc; b++) {
        sp_block *B = &m->blocks[b];
        sp_prune_stats *st[N_INPUTS] = {0};
        if ((rc = new_stats(B, 0, st))) break;
        observers(B, st, 1);
        rc = run_block(m, s, b, x, c, NULL); /* dense outputs feed the next block */
        observers(B, st, 0);
        if (!rc) rc = stats_status(st);
        if (!rc) {
            const float *W[SP_N_LINEAR];
            int out[SP_N_LINEAR], in[SP_N_LINEAR];
            const sp_prune_stats *ls[SP_N_LINEAR];
            for (int j = 0; j < SP_N_LINEAR; j++) {
                W[j] = B->lin[j].w; out[j] = B->lin[j].out; in[j] = B->lin[j].in; ls[j] = st[input_of[j]];
            }
            rc = sp_owl_outlier_ratio(SP_N_LINEAR, W, out, in, ls, c->owl_m, &outlier[b]);
        }
        free_stats(st);
        sp_progress_step(&pr, b + 1);
    }
    sp_progress_end(&pr);
    (void)scratch;
    if (!rc) rc = sp_owl_ratios(outlier, L, c->sparsity_ratio, c->owl_lambda, ratios);
    free(outlier);
    return rc;
}

/* Adds {name: {"target": r, "sparsity": s}} to layers (r < 0: excluded, no target). */
static void record_layer(cJSON *layers, const sp_linear *l, double target) {
    int64_t z = 0, n = (int64_t)l->out * l->in;
    for (int64_t i = 0; i < n; i++) z += l->w[i] == 0.0f;
    cJSON *o = cJSON_CreateObject();
    if (target >= 0) cJSON_AddNumberToObject(o, "target", target);
    cJSON_AddNumberToObject(o, "sparsity", (double)z / (double)n);
    cJSON_AddItemToObject(layers, l->name, o);
}

int sp_prune_model(sp_model *m, const sp_prune_config *c, char **meta_json) {
    int rc = sp_prune_model_check(m, c);
    if (rc) return rc;
    int L = m->cfg.n_layers;
    int need_calib = c->method != SP_PRUNE_MAGNITUDE || c->layerwise == SP_LAYERWISE_OWL;
    double t0 = sp_time();
    double *ratios = malloc((size_t)L * sizeof(double));
    float *x = NULL, *scratch = NULL;
    sp_state *s = NULL;
    if (!ratios) return sp_error(SP_ERR_NOMEM, "prune: out of memory");
    for (int b = 0; b < L; b++) ratios[b] = c->sparsity_ratio;
    if (need_calib) {
        if ((rc = calib_inputs(m, c, &x))) goto done;
        scratch = malloc((size_t)c->seqlen * m->cfg.dim * sizeof(float));
        s = sp_state_new(m, c->seqlen, c->seqlen);
        if (!scratch || !s) { rc = sp_error(SP_ERR_NOMEM, "prune: out of memory"); goto done; }
    }
    if (c->layerwise == SP_LAYERWISE_OWL) {
        if ((rc = owl_ratios(m, c, s, x, scratch, ratios))) goto done;
        free(x); /* the OWL pass advanced the inputs through the dense model: start again */
        x = NULL;
        if ((rc = calib_inputs(m, c, &x))) goto done;
    }
    sp_progress pr;
    sp_progress_begin(&pr, "prune block", L);
    for (int b = 0; b < L && !rc; b++) {
        sp_block *B = &m->blocks[b];
        sp_prune_stats *st[N_INPUTS] = {0};
        if (need_calib) {
            if ((rc = new_stats(B, c->method == SP_PRUNE_SPARSEGPT, st))) break;
            observers(B, st, 1);
            rc = run_block(m, s, b, x, c, scratch);
            observers(B, st, 0);
            if (!rc) rc = stats_status(st);
        }
        for (int j = 0; j < SP_N_LINEAR && !rc; j++) {
            sp_linear *l = &B->lin[j];
            if (!selected(c, m, l)) continue;
            if (!(rc = sp_linear_own(l))) rc = sp_prune_layer(c, l->w, l->out, l->in, st[input_of[j]], ratios[b], NULL);
        }
        free_stats(st);
        if (!rc && need_calib && b + 1 < L) rc = run_block(m, s, b, x, c, NULL); /* pruned outputs feed block b+1 */
        sp_progress_step(&pr, b + 1);
    }
    sp_progress_end(&pr);
    if (!rc && selected(c, m, &m->lm_head)) { /* lm_head only when a target names it: magnitude/Wanda-free */
        sp_linear *l = &m->lm_head;
        if (!(rc = sp_linear_own(l))) rc = sp_prune_magnitude(c, l->w, l->out, l->in, c->sparsity_ratio, NULL);
    }
    if (rc) goto done;
    if (meta_json) {
        cJSON *meta = cJSON_CreateObject(), *layers = cJSON_CreateObject();
        char *cj = sp_prune_config_to_json(c);
        cJSON_AddItemToObject(meta, "config", cj ? cJSON_Parse(cj) : cJSON_CreateNull());
        free(cj);
        for (int i = 0; i < sp_model_n_linear(m); i++) {
            sp_linear *l = sp_model_linear(m, i);
            if (l == &m->lm_head && m->lm_head.w == m->embed) continue;
            double tgt = -1.0;
            if (selected(c, m, l))
                tgt = c->pattern == SP_PATTERN_NM ? 1.0 - (double)c->n / c->m
                      : l == &m->lm_head            ? c->sparsity_ratio
                                                    : ratios[i / SP_N_LINEAR];
            record_layer(layers, l, tgt);
        }
        cJSON_AddItemToObject(meta, "layers", layers);
        cJSON_AddNumberToObject(meta, "prune_seconds", sp_time() - t0);
        cJSON_AddNumberToObject(meta, "peak_rss_bytes", (double)sp_peak_rss());
        *meta_json = cJSON_PrintUnformatted(meta);
        cJSON_Delete(meta);
    }
done:
    free(ratios);
    free(x);
    free(scratch);
    sp_state_free(s);
    return rc;
}
