/* checkpoint.c: a model folder on disk <-> sp_model.
 * Folder layout (Hugging Face style, loadable by transformers):
 *   config.json        sp_config (model/config.c)
 *   model.safetensors  HF tensor names, f32/f16/bf16 (f32 weights are used in place, mmapped)
 *   tokenizer.json     byte-level BPE (model/tokenizer.c)
 * Writes go to DIR.tmp.PID and are renamed onto DIR only when complete. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sparsity.h"
#include "sparsity_formats.h" /* sp_linear_unbind */
#include "model/checkpoint_internal.h"
#include "sparsity_pack.h"

static void linear_name(char *buf, size_t n, int b, int j) {
    snprintf(buf, n, "model.layers.%d.%s", b, sp_linear_suffix[j]);
}

int sp_model_n_linear(const sp_model *m) { return m->cfg.n_layers * SP_N_LINEAR + 1; }

sp_linear *sp_model_linear(sp_model *m, int i) {
    if (i < 0 || i >= sp_model_n_linear(m)) return NULL;
    if (i == m->cfg.n_layers * SP_N_LINEAR) return &m->lm_head;
    return &m->blocks[i / SP_N_LINEAR].lin[i % SP_N_LINEAR];
}

static void linear_free(sp_linear *l) {
    sp_linear_unbind(l); /* a bound kernel owns its converted copy of the weight */
    if (l->owns_w) free(l->w);
    free(l->bias);
    l->w = NULL;
    l->bias = NULL;
}

void sp_model_free(sp_model *m) {
    if (!m) return;
    if (m->blocks)
        for (int b = 0; b < m->cfg.n_layers; b++) {
            for (int j = 0; j < SP_N_LINEAR; j++) linear_free(&m->blocks[b].lin[j]);
            free(m->blocks[b].attn_norm);
            free(m->blocks[b].mlp_norm);
        }
    free(m->blocks);
    if (m->lm_head.w != m->embed) {
        linear_free(&m->lm_head);
    } else { /* tied: the weight is the embedding, freed below */
        sp_linear_unbind(&m->lm_head);
        free(m->lm_head.bias);
    }
    free(m->embed);
    free(m->final_norm);
    sp_tokenizer_free(m->tok);
    sp_st_free(m->weights_file);
    free(m);
}

/* Allocates the block array and names every linear; shapes from the config. */
int sp_model_alloc_layout(sp_model *m) {
    const sp_config *c = &m->cfg;
    m->blocks = calloc((size_t)c->n_layers, sizeof(sp_block));
    if (!m->blocks) return sp_error(SP_ERR_NOMEM, "model: out of memory");
    int qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
    int outs[SP_N_LINEAR] = {qd, kvd, kvd, c->dim, c->hidden_dim, c->hidden_dim, c->dim};
    int ins[SP_N_LINEAR] = {c->dim, c->dim, c->dim, qd, c->dim, c->dim, c->hidden_dim};
    for (int b = 0; b < c->n_layers; b++)
        for (int j = 0; j < SP_N_LINEAR; j++) {
            sp_linear *l = &m->blocks[b].lin[j];
            linear_name(l->name, sizeof l->name, b, j);
            l->out = outs[j];
            l->in = ins[j];
        }
    snprintf(m->lm_head.name, sizeof m->lm_head.name, "lm_head");
    m->lm_head.out = c->vocab_size;
    m->lm_head.in = c->dim;
    return 0;
}

/* Reads tensor NAME of exactly `numel` elements as f32: borrowed from the mmap when
 * stored as F32 (*owned = 0), converted into a fresh buffer otherwise. */
static int get_f32(const sp_model *m, const char *path, const char *name, size_t numel, float **out, int *owned) {
    const sp_st_tensor *t = sp_st_find(m->weights_file, name);
    if (!t) return sp_error(SP_ERR_FORMAT, "%s: missing tensor '%s'", path, name);
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= (size_t)t->shape[i];
    if (n != numel)
        return sp_error(SP_ERR_FORMAT, "%s: tensor '%s' has %zu elements, config implies %zu", path, name, n, numel);
    if (t->dtype == SP_DTYPE_F32 && owned) {
        *out = (float *)t->data; /* read-only mapping: writers copy first (sp_linear_own) */
        *owned = 0;
        return 0;
    }
    float *buf = malloc(numel * sizeof(float));
    if (!buf) return sp_error(SP_ERR_NOMEM, "%s: out of memory for '%s'", path, name);
    int rc = sp_convert_to_f32(t->dtype, t->data, buf, numel);
    if (rc) {
        free(buf);
        return sp_error(rc, "%s: tensor '%s': cannot read dtype %s as float", path, name, sp_dtype_name(t->dtype));
    }
    *out = buf;
    if (owned) *owned = 1;
    return 0;
}

/* A linear weight: dense tensors as get_f32 does (f32 borrowed from the mmap), packed
 * ones (sparsity_pack.h) validated and densified into an owned buffer. */
static int get_linear(const sp_model *m, const sp_pack_index *ix, const char *path, sp_linear *l) {
    const char *f = sp_pack_format(ix, l->name);
    char name[160];
    snprintf(name, sizeof name, "%s.weight", l->name);
    if (!f || !strcmp(f, "dense")) return get_f32(m, path, name, (size_t)l->out * l->in, &l->w, &l->owns_w);
    float *w = malloc((size_t)l->out * l->in * sizeof(float));
    if (!w) return sp_error(SP_ERR_NOMEM, "%s: out of memory for '%s'", path, l->name);
    int rc = sp_pack_read(ix, l->name, l->out, l->in, w);
    if (rc) { free(w); return rc; }
    l->w = w;
    l->owns_w = 1;
    return 0;
}

sp_model *sp_model_load(const char *dir) {
    char path[4200], cfg[4200], name[160];
    sp_pack_index *ix = NULL;
    sp_model *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    snprintf(m->dir, sizeof m->dir, "%s", dir);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        sp_error(SP_ERR_IO, "%s: not a model folder (%s)", dir, stat(dir, &st) ? strerror(errno) : "not a directory");
        goto fail;
    }
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (sp_config_load(path, &m->cfg)) goto fail;
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (!(m->tok = sp_tokenizer_load(path))) goto fail;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (!(m->weights_file = sp_st_open(path))) goto fail;
    m->weights_meta = sp_st_meta(m->weights_file, "sparsity");
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    if (!(ix = sp_pack_index_open(m->weights_file, path, cfg))) goto fail;

    const sp_config *c = &m->cfg;
    if (sp_model_alloc_layout(m)) goto fail;
    if (get_f32(m, path, "model.embed_tokens.weight", (size_t)c->vocab_size * c->dim, &m->embed, NULL)) goto fail;
    if (get_f32(m, path, "model.norm.weight", (size_t)c->dim, &m->final_norm, NULL)) goto fail;
    for (int b = 0; b < c->n_layers; b++) {
        sp_block *B = &m->blocks[b];
        snprintf(name, sizeof name, "model.layers.%d.input_layernorm.weight", b);
        if (get_f32(m, path, name, (size_t)c->dim, &B->attn_norm, NULL)) goto fail;
        snprintf(name, sizeof name, "model.layers.%d.post_attention_layernorm.weight", b);
        if (get_f32(m, path, name, (size_t)c->dim, &B->mlp_norm, NULL)) goto fail;
        for (int j = 0; j < SP_N_LINEAR; j++) {
            sp_linear *l = &B->lin[j];
            if (get_linear(m, ix, path, l)) goto fail;
            if (c->qkv_bias && j <= SP_V) {
                snprintf(name, sizeof name, "%s.bias", l->name);
                if (get_f32(m, path, name, (size_t)l->out, &l->bias, NULL)) goto fail;
            }
        }
    }
    if (c->tie_embeddings || !sp_pack_format(ix, "lm_head")) {
        m->lm_head.w = m->embed;
        m->lm_head.owns_w = 0;
    } else if (get_linear(m, ix, path, &m->lm_head)) {
        goto fail;
    }
    sp_pack_index_free(ix);
    return m;
fail:
    sp_pack_index_free(ix);
    sp_model_free(m);
    return NULL;
}

/* Makes l->w a private, writable copy (pruning edits weights in place). */
int sp_linear_own(sp_linear *l) {
    if (l->owns_w) return 0;
    float *w = malloc((size_t)l->out * l->in * sizeof(float));
    if (!w) return sp_error(SP_ERR_NOMEM, "%s: out of memory", l->name);
    memcpy(w, l->w, (size_t)l->out * l->in * sizeof(float));
    l->w = w;
    l->owns_w = 1;
    return 0;
}

static int rmdir_recursive(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    struct dirent *e;
    char p[4400];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    return rmdir(dir);
}

/* DIR/NAME = json re-indented (a human-readable copy of the pruning metadata). */
static int write_pretty_json(const char *json, const char *dir, const char *name) {
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    cJSON *j = cJSON_Parse(json);
    if (!j) return sp_error(SP_ERR_ARG, "%s: metadata is not valid JSON", path);
    char *txt = cJSON_Print(j);
    cJSON_Delete(j);
    sp_atomic_file af;
    int rc = sp_atomic_open(&af, path);
    if (!rc) {
        fprintf(af.fp, "%s\n", txt);
        rc = sp_atomic_commit(&af);
    }
    cJSON_free(txt);
    return rc;
}

struct dense_ctx {
    const sp_model *m;
    char (*names)[160]; /* tensor names, alive until the writer saves */
};

/* Adds the tensors of m as they are in memory (f32) to w. */
static int add_dense(void *ctx, sp_st_writer *w, const char *tmpdir) {
    (void)tmpdir;
    struct dense_ctx *dc = ctx;
    const sp_model *m = dc->m;
    const sp_config *c = &m->cfg;
    char name[160];
    int64_t shp[2];
    int nnames = 4 + c->n_layers * (2 + 2 * SP_N_LINEAR), k = 0, rc;
    char (*names)[160] = dc->names = calloc((size_t)nnames, sizeof *names);
    if (!names) return sp_error(SP_ERR_NOMEM, "save: out of memory");
#define ADD(nm, data, nd, d0, d1)                                                     \
    do {                                                                              \
        snprintf(names[k], sizeof names[k], "%s", nm);                                \
        shp[0] = (d0); shp[1] = (d1);                                                 \
        if ((rc = sp_st_writer_add(w, names[k++], SP_DTYPE_F32, nd, shp, data))) return rc; \
    } while (0)
    ADD("model.embed_tokens.weight", m->embed, 2, c->vocab_size, c->dim);
    ADD("model.norm.weight", m->final_norm, 1, c->dim, 0);
    if (m->lm_head.w != m->embed) ADD("lm_head.weight", m->lm_head.w, 2, c->vocab_size, c->dim);
    for (int b = 0; b < c->n_layers; b++) {
        const sp_block *B = &m->blocks[b];
        snprintf(name, sizeof name, "model.layers.%d.input_layernorm.weight", b);
        ADD(name, B->attn_norm, 1, c->dim, 0);
        snprintf(name, sizeof name, "model.layers.%d.post_attention_layernorm.weight", b);
        ADD(name, B->mlp_norm, 1, c->dim, 0);
        for (int j = 0; j < SP_N_LINEAR; j++) {
            const sp_linear *l = &B->lin[j];
            snprintf(name, sizeof name, "%s.weight", l->name);
            ADD(name, l->w, 2, l->out, l->in);
            if (l->bias) {
                snprintf(name, sizeof name, "%s.bias", l->name);
                ADD(name, l->bias, 1, l->out, 0);
            }
        }
    }
#undef ADD
    return 0;
}

int sp_model_save(const sp_model *m, const char *dir, const char *meta_json) {
    struct dense_ctx dc = {m, NULL};
    int rc = sp_model_write_folder(m, dir, meta_json, add_dense, &dc);
    free(dc.names);
    return rc;
}

int sp_model_write_folder(const sp_model *m, const char *dir, const char *meta_json, sp_add_tensors_fn add,
                          void *ctx) {
    const sp_config *c = &m->cfg;
    char tmp[4200], path[4400];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", dir, (int)getpid());
    rmdir_recursive(tmp);
    if (mkdir(tmp, 0755) != 0) return sp_error(SP_ERR_IO, "%s: cannot create folder: %s", tmp, strerror(errno));
    int rc;
    snprintf(path, sizeof path, "%s/config.json", tmp);
    if ((rc = sp_config_save(c, path))) goto fail;
    snprintf(path, sizeof path, "%s/tokenizer.json", tmp);
    if ((rc = sp_tokenizer_save(m->tok, path))) goto fail;

    sp_st_writer *w = sp_st_writer_new();
    if (!w) { rc = sp_error(SP_ERR_NOMEM, "save: out of memory"); goto fail; }
    if ((rc = add(ctx, w, tmp))) goto fail_w;
    sp_st_writer_meta(w, "format", "pt");
    if (meta_json && (rc = sp_st_writer_meta(w, "sparsity", meta_json))) goto fail_w;
    snprintf(path, sizeof path, "%s/model.safetensors", tmp);
    rc = sp_st_writer_save(w, path);
    if (!rc && meta_json) rc = write_pretty_json(meta_json, tmp, "sparsity.json");
fail_w:
    sp_st_writer_free(w);
    if (rc) goto fail;
    /* Replace DIR: move an old one aside first so a crash leaves one whole folder. */
    char old[4300];
    snprintf(old, sizeof old, "%s.old.%d", dir, (int)getpid());
    struct stat st;
    int had = stat(dir, &st) == 0;
    if (had && rename(dir, old) != 0) { rc = sp_error(SP_ERR_IO, "%s: cannot replace: %s", dir, strerror(errno)); goto fail; }
    if (rename(tmp, dir) != 0) {
        rc = sp_error(SP_ERR_IO, "%s: cannot rename into place: %s", dir, strerror(errno));
        if (had) rename(old, dir);
        goto fail;
    }
    if (had) rmdir_recursive(old);
    return 0;
fail:
    rmdir_recursive(tmp);
    return rc;
}

sp_model *sp_model_open(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) {
        sp_error(SP_ERR_IO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    return S_ISDIR(st.st_mode) ? sp_model_load(path) : sp_model_from_gguf(path);
}
