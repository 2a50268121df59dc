/* llama.c: the Llama/Qwen2 forward pass (RMSNorm, RoPE, grouped-query attention,
 * SwiGLU MLP, KV cache). Every projection goes through sp_linear_forward; this file
 * knows no weight formats. Attention runs per head through BLAS (S = Q K^T, O = P V). */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sparsity.h"

struct sp_state {
    int max_ctx, max_tokens, pos;
    float *k_cache, *v_cache; /* (n_layers, max_ctx, kv_dim) */
    float *x;                 /* (max_tokens, dim) residual stream */
    float *xb, *xb2;          /* (max_tokens, dim) */
    float *q;                 /* (max_tokens, dim) */
    float *k, *v;             /* (max_tokens, kv_dim) */
    float *hb, *hb2;          /* (max_tokens, hidden_dim) */
    float *att;               /* (max_tokens, max_ctx) scores of one head */
    float *rope_cos, *rope_sin; /* (max_ctx, head_dim/2) */
};

static size_t kv_dim(const sp_config *c) { return (size_t)c->n_kv_heads * c->head_dim; }

sp_state *sp_state_new(const sp_model *m, int max_ctx, int max_tokens) {
    const sp_config *c = &m->cfg;
    if (max_ctx <= 0 || max_tokens <= 0 || max_tokens > max_ctx) {
        sp_error(SP_ERR_ARG, "state: bad sizes (ctx %d, tokens %d)", max_ctx, max_tokens);
        return NULL;
    }
    sp_state *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->max_ctx = max_ctx;
    s->max_tokens = max_tokens;
    size_t T = (size_t)max_tokens, kvd = kv_dim(c), half = (size_t)c->head_dim / 2;
    s->k_cache = malloc((size_t)c->n_layers * max_ctx * kvd * sizeof(float));
    s->v_cache = malloc((size_t)c->n_layers * max_ctx * kvd * sizeof(float));
    s->x = malloc(T * c->dim * sizeof(float));
    s->xb = malloc(T * c->dim * sizeof(float));
    s->xb2 = malloc(T * c->dim * sizeof(float));
    s->q = malloc(T * c->n_heads * c->head_dim * sizeof(float));
    s->k = malloc(T * kvd * sizeof(float));
    s->v = malloc(T * kvd * sizeof(float));
    s->hb = malloc(T * c->hidden_dim * sizeof(float));
    s->hb2 = malloc(T * c->hidden_dim * sizeof(float));
    s->att = malloc(T * (size_t)max_ctx * sizeof(float));
    s->rope_cos = malloc((size_t)max_ctx * half * sizeof(float));
    s->rope_sin = malloc((size_t)max_ctx * half * sizeof(float));
    if (!s->k_cache || !s->v_cache || !s->x || !s->xb || !s->xb2 || !s->q || !s->k || !s->v || !s->hb ||
        !s->hb2 || !s->att || !s->rope_cos || !s->rope_sin) {
        sp_state_free(s);
        sp_error(SP_ERR_NOMEM, "state: out of memory (ctx %d, tokens %d)", max_ctx, max_tokens);
        return NULL;
    }
    /* HF rotate_half RoPE: pair (i, i + D/2) rotates by pos * theta^(-2i/D). */
    for (int p = 0; p < max_ctx; p++)
        for (size_t i = 0; i < half; i++) {
            double freq = pow((double)c->rope_theta, -2.0 * (double)i / c->head_dim);
            double a = p * freq;
            s->rope_cos[p * half + i] = (float)cos(a);
            s->rope_sin[p * half + i] = (float)sin(a);
        }
    return s;
}

void sp_state_free(sp_state *s) {
    if (!s) return;
    free(s->k_cache); free(s->v_cache); free(s->x); free(s->xb); free(s->xb2); free(s->q);
    free(s->k); free(s->v); free(s->hb); free(s->hb2); free(s->att); free(s->rope_cos); free(s->rope_sin);
    free(s);
}

void sp_state_reset(sp_state *s) { s->pos = 0; }
int sp_state_pos(const sp_state *s) { return s->pos; }

/* out (n, d) = x / sqrt(mean(x^2) + eps) * w, row by row. */
static void rmsnorm(float *out, const float *x, const float *w, int n, int d, float eps) {
#pragma omp parallel for if (n > 16)
    for (int t = 0; t < n; t++) {
        const float *xt = x + (size_t)t * d;
        float *ot = out + (size_t)t * d;
        double ss = 0.0;
        for (int i = 0; i < d; i++) ss += (double)xt[i] * xt[i];
        float r = (float)(1.0 / sqrt(ss / d + eps));
        for (int i = 0; i < d; i++) ot[i] = xt[i] * r * w[i];
    }
}

/* Rotates n_heads heads of head_dim in each of n rows (stride ld) at positions pos0.. */
static void rope(const sp_state *s, float *v, int n, int ld, int n_heads, int head_dim, int pos0) {
    int half = head_dim / 2;
    for (int t = 0; t < n; t++) {
        const float *cs = s->rope_cos + (size_t)(pos0 + t) * half, *sn = s->rope_sin + (size_t)(pos0 + t) * half;
        for (int h = 0; h < n_heads; h++) {
            float *hv = v + (size_t)t * ld + (size_t)h * head_dim;
            for (int i = 0; i < half; i++) {
                float a = hv[i], b = hv[i + half];
                hv[i] = a * cs[i] - b * sn[i];
                hv[i + half] = b * cs[i] + a * sn[i];
            }
        }
    }
}

/* Causal attention of n new queries at positions pos..pos+n-1 over the cache 0..pos+n-1.
 * q (n, n_heads*D), caches (max_ctx, kv_dim) for this layer -> out (n, n_heads*D). */
static void attention(const sp_model *m, sp_state *s, const float *kc, const float *vc, int n, int pos, float *out) {
    const sp_config *c = &m->cfg;
    int D = c->head_dim, kvd = (int)kv_dim(c), qd = c->n_heads * D, L = pos + n;
    int group = c->n_heads / c->n_kv_heads;
    float scale = 1.0f / sqrtf((float)D);
    for (int h = 0; h < c->n_heads; h++) {
        int hk = h / group;
        /* S (n, L) = scale * Q_h (n, D) K_h^T (D, L) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, L, D, scale, s->q + (size_t)h * D, qd,
                    kc + (size_t)hk * D, kvd, 0.0f, s->att, L);
#pragma omp parallel for if (n > 16)
        for (int t = 0; t < n; t++) {
            float *row = s->att + (size_t)t * L;
            int last = pos + t; /* causal: keys 0..last */
            float mx = row[0];
            for (int j = 1; j <= last; j++) mx = row[j] > mx ? row[j] : mx;
            double sum = 0.0;
            for (int j = 0; j <= last; j++) {
                row[j] = expf(row[j] - mx);
                sum += row[j];
            }
            float inv = (float)(1.0 / sum);
            for (int j = 0; j <= last; j++) row[j] *= inv;
            for (int j = last + 1; j < L; j++) row[j] = 0.0f;
        }
        /* O_h (n, D) = P (n, L) V_h (L, D) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, D, L, 1.0f, s->att, L, vc + (size_t)hk * D, kvd,
                    0.0f, out + (size_t)h * D, qd);
    }
}

/* One transformer block on x (n, dim) at positions pos..; writes this layer's K/V into
 * the cache rows pos..pos+n-1. */
static int block(const sp_model *m, sp_state *s, int b, float *x, int n, int pos) {
    const sp_config *c = &m->cfg;
    const sp_block *B = &m->blocks[b];
    int kvd = (int)kv_dim(c), dim = c->dim, hd = c->hidden_dim;
    float *kc = s->k_cache + (size_t)b * s->max_ctx * kvd, *vc = s->v_cache + (size_t)b * s->max_ctx * kvd;
    int rc = 0;
    rmsnorm(s->xb, x, B->attn_norm, n, dim, c->norm_eps);
    rc |= sp_linear_forward(&B->lin[SP_Q], s->xb, n, s->q);
    rc |= sp_linear_forward(&B->lin[SP_K], s->xb, n, kc + (size_t)pos * kvd);
    rc |= sp_linear_forward(&B->lin[SP_V], s->xb, n, vc + (size_t)pos * kvd);
    if (rc) return rc;
    rope(s, s->q, n, c->n_heads * c->head_dim, c->n_heads, c->head_dim, pos);
    rope(s, kc + (size_t)pos * kvd, n, kvd, c->n_kv_heads, c->head_dim, pos);
    attention(m, s, kc, vc, n, pos, s->xb2);
    if ((rc = sp_linear_forward(&B->lin[SP_O], s->xb2, n, s->xb))) return rc;
    for (size_t i = 0; i < (size_t)n * dim; i++) x[i] += s->xb[i];

    rmsnorm(s->xb, x, B->mlp_norm, n, dim, c->norm_eps);
    rc |= sp_linear_forward(&B->lin[SP_GATE], s->xb, n, s->hb);
    rc |= sp_linear_forward(&B->lin[SP_UP], s->xb, n, s->hb2);
    if (rc) return rc;
#pragma omp parallel for if (n > 16)
    for (size_t i = 0; i < (size_t)n * hd; i++) {
        float g = s->hb[i];
        s->hb[i] = g / (1.0f + expf(-g)) * s->hb2[i]; /* silu(gate) * up */
    }
    if ((rc = sp_linear_forward(&B->lin[SP_DOWN], s->hb, n, s->xb))) return rc;
    for (size_t i = 0; i < (size_t)n * dim; i++) x[i] += s->xb[i];
    return 0;
}

void sp_embed(const sp_model *m, const int32_t *tokens, int n, float *x) {
    int dim = m->cfg.dim;
    for (int t = 0; t < n; t++) memcpy(x + (size_t)t * dim, m->embed + (size_t)tokens[t] * dim, dim * sizeof(float));
}

int sp_forward(const sp_model *m, sp_state *s, const int32_t *tokens, int n, float *logits, int all_logits) {
    const sp_config *c = &m->cfg;
    if (n <= 0 || n > s->max_tokens) return sp_error(SP_ERR_ARG, "forward: %d tokens (max %d per call)", n, s->max_tokens);
    if (s->pos + n > s->max_ctx) return sp_error(SP_ERR_ARG, "forward: context full (%d + %d > %d)", s->pos, n, s->max_ctx);
    for (int t = 0; t < n; t++)
        if (tokens[t] < 0 || tokens[t] >= c->vocab_size)
            return sp_error(SP_ERR_ARG, "forward: token id %d outside vocabulary (%d)", tokens[t], c->vocab_size);
    sp_embed(m, tokens, n, s->x);
    for (int b = 0; b < c->n_layers; b++) {
        int rc = block(m, s, b, s->x, n, s->pos);
        if (rc) return rc;
    }
    s->pos += n;
    if (!logits) return 0;
    int first = all_logits ? 0 : n - 1, cnt = all_logits ? n : 1;
    rmsnorm(s->xb, s->x + (size_t)first * c->dim, m->final_norm, cnt, c->dim, c->norm_eps);
    return sp_linear_forward(&m->lm_head, s->xb, cnt, logits);
}

int sp_block_forward(const sp_model *m, sp_state *s, int b, float *x, int n) {
    if (n <= 0 || n > s->max_tokens) return sp_error(SP_ERR_ARG, "block forward: %d tokens (max %d)", n, s->max_tokens);
    return block(m, s, b, x, n, 0);
}
