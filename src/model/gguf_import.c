/* gguf_import.c: a llama-architecture GGUF file -> sp_model (weights dequantized to f32).
 * llama.cpp's converter permutes the rows of q_proj/k_proj per head so that RoPE pairs
 * are adjacent (x[2i], x[2i+1]); we undo that so the weights are in Hugging Face layout
 * and RoPE pairs are (x[i], x[i + D/2]):  hf[h*D + j*D/2 + i] = gguf[h*D + 2*i + j]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sparsity.h"

static int get_int(const sp_gguf *g, const char *path, const char *key, int *out, int required) {
    int64_t v;
    if (sp_gguf_get_i64(g, key, &v) != 0) {
        if (!required) return 0;
        return sp_error(SP_ERR_FORMAT, "%s: missing metadata key '%s'", path, key);
    }
    if (v <= 0 || v > (1 << 30)) return sp_error(SP_ERR_FORMAT, "%s: '%s' = %lld is out of range", path, key, (long long)v);
    *out = (int)v;
    return 0;
}

/* Dequantizes tensor NAME, checking its shape is (rows, cols) in HF (out, in) order. */
static float *load(const sp_gguf *g, const char *path, const char *name, int64_t rows, int64_t cols) {
    int i = sp_gguf_find_tensor(g, name);
    if (i < 0) { sp_error(SP_ERR_FORMAT, "%s: missing tensor '%s'", path, name); return NULL; }
    const sp_gguf_tensor *t = sp_gguf_tensor_at(g, i);
    int64_t n = t->ne[0] * (t->n_dims > 1 ? t->ne[1] : 1);
    if (t->ne[0] != cols || (rows > 1 && (t->n_dims < 2 || t->ne[1] != rows)) || n != rows * cols) {
        sp_error(SP_ERR_FORMAT, "%s: tensor '%s' has shape [%lld, %lld], expected [%lld, %lld]", path, name,
                 (long long)t->ne[0], (long long)(t->n_dims > 1 ? t->ne[1] : 1), (long long)cols, (long long)rows);
        return NULL;
    }
    float *buf = malloc((size_t)n * sizeof(float));
    if (!buf) { sp_error(SP_ERR_NOMEM, "%s: out of memory for '%s'", path, name); return NULL; }
    if (sp_gguf_dequantize(t, buf)) { free(buf); return NULL; }
    return buf;
}

static int unpermute(float *w, int n_heads, int head_dim, int in) {
    size_t hs = (size_t)head_dim * in;
    float *tmp = malloc(hs * sizeof(float));
    if (!tmp) return sp_error(SP_ERR_NOMEM, "gguf import: out of memory");
    for (int h = 0; h < n_heads; h++) {
        float *hw = w + h * hs;
        memcpy(tmp, hw, hs * sizeof(float));
        for (int i = 0; i < head_dim / 2; i++)
            for (int j = 0; j < 2; j++)
                memcpy(hw + (size_t)(j * head_dim / 2 + i) * in, tmp + (size_t)(2 * i + j) * in, in * sizeof(float));
    }
    free(tmp);
    return 0;
}

sp_model *sp_model_from_gguf(const char *path) {
    sp_gguf *g = sp_gguf_open(path);
    if (!g) return NULL;
    sp_model *m = calloc(1, sizeof *m);
    if (!m) { sp_gguf_free(g); return NULL; }
    sp_config *c = &m->cfg;
    const char *arch;
    size_t alen;
    char key[128];
    if (sp_gguf_get_str(g, "general.architecture", &arch, &alen)) {
        sp_error(SP_ERR_FORMAT, "%s: missing metadata key 'general.architecture'", path);
        goto fail;
    }
    if (!((alen == 5 && !memcmp(arch, "llama", 5)) || (alen == 5 && !memcmp(arch, "qwen2", 5)))) {
        sp_error(SP_ERR_UNSUPPORTED, "%s: architecture '%.*s' is not supported (llama, qwen2)", path, (int)alen, arch);
        goto fail;
    }
    snprintf(c->arch, sizeof c->arch, "%.*s", (int)alen, arch);
#define KEY(k) (snprintf(key, sizeof key, "%s.%s", c->arch, k), key)
    if (get_int(g, path, KEY("embedding_length"), &c->dim, 1) || get_int(g, path, KEY("feed_forward_length"), &c->hidden_dim, 1) ||
        get_int(g, path, KEY("block_count"), &c->n_layers, 1) || get_int(g, path, KEY("attention.head_count"), &c->n_heads, 1))
        goto fail;
    c->n_kv_heads = c->n_heads;
    c->max_seq_len = 2048;
    if (get_int(g, path, KEY("attention.head_count_kv"), &c->n_kv_heads, 0) || get_int(g, path, KEY("context_length"), &c->max_seq_len, 0))
        goto fail;
    double v;
    c->rope_theta = sp_gguf_get_f64(g, KEY("rope.freq_base"), &v) == 0 ? (float)v : 10000.0f;
    c->norm_eps = sp_gguf_get_f64(g, KEY("attention.layer_norm_rms_epsilon"), &v) == 0 ? (float)v : 1e-6f;
#undef KEY
    if (c->dim % c->n_heads || c->n_heads % c->n_kv_heads) {
        sp_error(SP_ERR_FORMAT, "%s: %d heads do not divide dim %d / are not a multiple of %d kv heads", path, c->n_heads, c->dim, c->n_kv_heads);
        goto fail;
    }
    c->head_dim = c->dim / c->n_heads;
    c->qkv_bias = !strcmp(c->arch, "qwen2") || sp_gguf_find_tensor(g, "blk.0.attn_q.bias") >= 0;
    if (!(m->tok = sp_tokenizer_from_gguf(g))) goto fail;
    c->vocab_size = sp_tokenizer_vocab_size(m->tok);
    c->bos_id = sp_tokenizer_bos(m->tok);
    c->eos_id = sp_tokenizer_eos(m->tok);
    c->tie_embeddings = sp_gguf_find_tensor(g, "output.weight") < 0;
    if (sp_model_alloc_layout(m)) goto fail;

    if (!(m->embed = load(g, path, "token_embd.weight", c->vocab_size, c->dim))) goto fail;
    if (!(m->final_norm = load(g, path, "output_norm.weight", 1, c->dim))) goto fail;
    static const char *gguf_lin[SP_N_LINEAR] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
    for (int b = 0; b < c->n_layers; b++) {
        sp_block *B = &m->blocks[b];
        snprintf(key, sizeof key, "blk.%d.attn_norm.weight", b);
        if (!(B->attn_norm = load(g, path, key, 1, c->dim))) goto fail;
        snprintf(key, sizeof key, "blk.%d.ffn_norm.weight", b);
        if (!(B->mlp_norm = load(g, path, key, 1, c->dim))) goto fail;
        for (int j = 0; j < SP_N_LINEAR; j++) {
            sp_linear *l = &B->lin[j];
            snprintf(key, sizeof key, "blk.%d.%s.weight", b, gguf_lin[j]);
            if (!(l->w = load(g, path, key, l->out, l->in))) goto fail;
            l->owns_w = 1;
            if (c->qkv_bias && j <= SP_V) {
                snprintf(key, sizeof key, "blk.%d.%s.bias", b, gguf_lin[j]);
                if (!(l->bias = load(g, path, key, 1, l->out))) goto fail;
            }
            /* Qwen2 GGUF files are written without the permutation; llama files with it. */
            if (!strcmp(c->arch, "llama") && (j == SP_Q || j == SP_K)) {
                int nh = j == SP_Q ? c->n_heads : c->n_kv_heads;
                if (unpermute(l->w, nh, c->head_dim, l->in)) goto fail;
                if (l->bias) unpermute(l->bias, nh, c->head_dim, 1);
            }
        }
    }
    if (c->tie_embeddings) {
        m->lm_head.w = m->embed;
    } else {
        if (!(m->lm_head.w = load(g, path, "output.weight", c->vocab_size, c->dim))) goto fail;
        m->lm_head.owns_w = 1;
    }
    sp_gguf_free(g);
    return m;
fail:
    sp_gguf_free(g);
    sp_model_free(m);
    return NULL;
}
