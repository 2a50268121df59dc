/* pack_write.c: sp_model_pack, a model folder with the block linears stored compressed
 * (names and layouts in sparsity_pack.h and docs/FORMATS.md).
 *
 * Bitmap and 2:4 are written in the compressed-tensors layouts (sparse-bitmask,
 * sparse-24-bitmask) so vLLM / transformers / llm-compressor can read them; the
 * other formats reuse our sp_<fmt> arrays as they are. Tensors are added in order
 * of decreasing element size so every tensor of the data section stays aligned to
 * its element size (we mmap f32 tensors in place). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/checkpoint_internal.h"
#include "sparsity_pack.h"

/* compressed-tensors release whose config and layouts we follow (the last one that
 * ships the sparse-bitmask / sparse-24-bitmask compressors). */
#define SP_CT_VERSION "0.14.0.1"

typedef struct {
    char name[160];
    sp_dtype dt;
    int ndim;
    int64_t shape[3];
    const void *data;
} comp;

typedef struct {
    const sp_model *m;
    const sp_pack_opts *o;
    sp_pack_report *rep;
    comp *c;
    int nc, capc;
    void **bufs;          /* owned buffers, freed after the write */
    int nb, capb;
    sp_mat *mats;         /* owned sp_mat (csr/coo/bsr/nm arrays referenced by comps) */
    int nm, capm;
    int64_t zeros, numel; /* over packed linears: global_sparsity */
} pack_ctx;

static int grow(void **arr, int *cap, int n, size_t elem) {
    if (n < *cap) return 0;
    int nc = *cap ? 2 * *cap : 64;
    void *p = realloc(*arr, (size_t)nc * elem);
    if (!p) return sp_error(SP_ERR_NOMEM, "pack: out of memory");
    *arr = p;
    *cap = nc;
    return 0;
}

static void *own(pack_ctx *x, size_t bytes) {
    if (grow((void **)&x->bufs, &x->capb, x->nb, sizeof *x->bufs)) return NULL;
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p) { sp_error(SP_ERR_NOMEM, "pack: out of memory (%zu bytes)", bytes); return NULL; }
    return x->bufs[x->nb++] = p;
}

static int add(pack_ctx *x, const char *prefix, const char *suffix, sp_dtype dt, int ndim, int64_t d0, int64_t d1,
               int64_t d2, const void *data) {
    if (grow((void **)&x->c, &x->capc, x->nc, sizeof *x->c)) return SP_ERR_NOMEM;
    comp *c = &x->c[x->nc++];
    snprintf(c->name, sizeof c->name, "%s%s%s", prefix, suffix ? "." : "", suffix ? suffix : "");
    c->dt = dt, c->ndim = ndim, c->shape[0] = d0, c->shape[1] = d1, c->shape[2] = d2, c->data = data;
    return 0;
}

/* A dense float tensor in the pack dtype (borrowed when it already is f32). */
static int add_dense(pack_ctx *x, const char *name, const float *v, int ndim, int64_t d0, int64_t d1) {
    sp_dtype dt = x->o->dtype;
    const void *data = v;
    if (dt != SP_DTYPE_F32) {
        size_t n = (size_t)d0 * (ndim > 1 ? (size_t)d1 : 1);
        void *b = own(x, n * sp_dtype_size(dt));
        if (!b) return SP_ERR_NOMEM;
        sp_convert_from_f32(dt, v, b, n);
        data = b;
    }
    return add(x, name, NULL, dt, ndim, d0, d1, 0, data);
}

static void put_val(void *v, sp_dtype dt, size_t i, float f) {
    if (dt == SP_DTYPE_F32) ((float *)v)[i] = f;
    else ((uint16_t *)v)[i] = dt == SP_DTYPE_BF16 ? sp_f32_to_bf16(f) : sp_f32_to_f16(f);
}

/* sparse-bitmask: compressed (nnz) values in row-major order, bitmask U8 (rows, ceil(cols/8))
 * with bit c%8 of byte c/8 set for a nonzero (numpy packbits, bitorder little),
 * shape I64 (2,), row_offsets I64 (rows,) = values before each row. */
static int put_bitmask(pack_ctx *x, const char *prefix, const float *w, int rows, int cols) {
    sp_dtype dt = x->o->dtype;
    size_t rb = ((size_t)cols + 7) / 8, nnz = 0;
    for (size_t i = 0; i < (size_t)rows * cols; i++) nnz += w[i] != 0.0f;
    uint8_t *mask = own(x, (size_t)rows * rb);
    int64_t *shape = own(x, 16), *offs = own(x, 8 * (size_t)rows);
    void *vals = own(x, nnz * sp_dtype_size(dt));
    if (!mask || !shape || !offs || !vals) return SP_ERR_NOMEM;
    shape[0] = rows, shape[1] = cols;
    size_t k = 0;
    for (int r = 0; r < rows; r++) {
        offs[r] = (int64_t)k;
        for (int c = 0; c < cols; c++) {
            float v = w[(size_t)r * cols + c];
            if (v == 0.0f) continue;
            mask[(size_t)r * rb + c / 8] |= (uint8_t)(1u << (c % 8));
            put_val(vals, dt, k++, v);
        }
    }
    int rc = add(x, prefix, "compressed", dt, 1, (int64_t)nnz, 0, 0, vals);
    if (!rc) rc = add(x, prefix, "bitmask", SP_DTYPE_U8, 2, rows, (int64_t)rb, 0, mask);
    if (!rc) rc = add(x, prefix, "shape", SP_DTYPE_I64, 1, 2, 0, 0, shape);
    if (!rc) rc = add(x, prefix, "row_offsets", SP_DTYPE_I64, 1, rows, 0, 0, offs);
    return rc;
}

/* sparse-24-bitmask: every group of 4 columns marks exactly 2 weights (its nonzeros,
 * then the lowest free positions, as our 2:4 format pads); compressed (rows, cols/2)
 * holds the marked values in row-major order; shape I64 (2, 1). */
static int put_24(pack_ctx *x, const char *prefix, const float *w, int rows, int cols) {
    sp_dtype dt = x->o->dtype;
    size_t rb = ((size_t)cols + 7) / 8;
    uint8_t *mask = own(x, (size_t)rows * rb);
    int64_t *shape = own(x, 16);
    void *vals = own(x, (size_t)rows * (cols / 2) * sp_dtype_size(dt));
    if (!mask || !shape || !vals) return SP_ERR_NOMEM;
    shape[0] = rows, shape[1] = cols;
    size_t k = 0;
    for (int r = 0; r < rows; r++)
        for (int g = 0; g < cols; g += 4) {
            const float *v = w + (size_t)r * cols + g;
            int keep[4] = {0, 0, 0, 0}, nk = 0;
            for (int j = 0; j < 4; j++)
                if (v[j] != 0.0f) keep[j] = 1, nk++;
            for (int j = 0; j < 4 && nk < 2; j++)
                if (!keep[j]) keep[j] = 1, nk++;
            for (int j = 0; j < 4; j++)
                if (keep[j]) {
                    mask[(size_t)r * rb + (g + j) / 8] |= (uint8_t)(1u << ((g + j) % 8));
                    put_val(vals, dt, k++, v[j]);
                }
        }
    int rc = add(x, prefix, "compressed", dt, 2, rows, cols / 2, 0, vals);
    if (!rc) rc = add(x, prefix, "bitmask", SP_DTYPE_U8, 2, rows, (int64_t)rb, 0, mask);
    if (!rc) rc = add(x, prefix, "shape", SP_DTYPE_I64, 2, 2, 1, 0, shape);
    return rc;
}

/* csr, coo, bsr, n:m (not 2:4): our arrays, referenced from a kept sp_mat. */
static int put_mat(pack_ctx *x, const char *prefix, const float *w, int rows, int cols, sp_fmt f,
                   const sp_fmt_params *p) {
    if (grow((void **)&x->mats, &x->capm, x->nm, sizeof *x->mats)) return SP_ERR_NOMEM;
    sp_mat *a = &x->mats[x->nm];
    int rc = sp_mat_from_dense(w, rows, cols, f, x->o->dtype, p, a);
    if (rc) return rc;
    x->nm++;
    sp_dtype dt = x->o->dtype;
    switch (f) {
    case SP_FMT_CSR: {
        const sp_csr *s = &a->u.csr;
        rc = add(x, prefix, "csr_row_ptr", SP_DTYPE_I64, 1, rows + 1, 0, 0, s->row_ptr);
        if (!rc) rc = add(x, prefix, "csr_col", s->col16 ? SP_DTYPE_U16 : SP_DTYPE_I32, 1, s->nnz, 0, 0,
                          s->col16 ? (const void *)s->col16 : (const void *)s->col32);
        if (!rc) rc = add(x, prefix, "csr_values", dt, 1, s->nnz, 0, 0, s->vals);
        return rc;
    }
    case SP_FMT_COO: {
        const sp_coo *s = &a->u.coo;
        rc = add(x, prefix, "coo_row", SP_DTYPE_I32, 1, s->nnz, 0, 0, s->row);
        if (!rc) rc = add(x, prefix, "coo_col", SP_DTYPE_I32, 1, s->nnz, 0, 0, s->col);
        if (!rc) rc = add(x, prefix, "coo_values", dt, 1, s->nnz, 0, 0, s->vals);
        return rc;
    }
    case SP_FMT_BSR: {
        const sp_bsr *s = &a->u.bsr;
        rc = add(x, prefix, "bsr_block_ptr", SP_DTYPE_I64, 1, rows / s->br + 1, 0, 0, s->block_ptr);
        if (!rc) rc = add(x, prefix, "bsr_block_col", SP_DTYPE_I32, 1, s->nnzb, 0, 0, s->block_col);
        if (!rc) rc = add(x, prefix, "bsr_values", dt, 3, s->nnzb, s->br, s->bc, s->vals);
        return rc;
    }
    default: {
        const sp_nm *s = &a->u.nm;
        int64_t kept = cols / s->m * s->n;
        rc = add(x, prefix, "nm_values", dt, 2, rows, kept, 0, s->vals);
        if (!rc) rc = add(x, prefix, "nm_idx", SP_DTYPE_U8, 2, rows, kept, 0, s->idx);
        return rc;
    }
    }
}

/* n:m parameters for w: the requested ones if they hold, else 2:4, n:8, n:16 (smallest
 * n that holds). 0 if none fits. */
static int pick_nm(const float *w, int rows, int cols, const sp_fmt_params *req, int *n, int *m) {
    if (req->m > 0) {
        int mx = sp_nm_max_per_group(w, rows, cols, req->m);
        if (mx < 0 || mx > req->n) return 0;
        *n = req->n, *m = req->m;
        return 1;
    }
    if (cols % 4 == 0 && sp_nm_max_per_group(w, rows, cols, 4) <= 2) { *n = 2, *m = 4; return 1; }
    for (int mm = 8; mm <= 16; mm *= 2) {
        int mx = sp_nm_max_per_group(w, rows, cols, mm);
        if (mx >= 0 && mx < mm) { *n = mx > 0 ? mx : 1, *m = mm; return 1; }
    }
    return 0;
}

/* Bytes of the stored components of w in format f (0: cannot hold w). */
static size_t stored_bytes(const float *w, int rows, int cols, sp_fmt f, sp_dtype dt, const sp_fmt_params *p) {
    size_t R = (size_t)rows, C = (size_t)cols, v = sp_dtype_size(dt);
    if (f == SP_FMT_BITMAP) {
        size_t nnz = 0;
        for (size_t i = 0; i < R * C; i++) nnz += w[i] != 0.0f;
        return R * ((C + 7) / 8) + 8 * R + 16 + nnz * v;
    }
    if (f == SP_FMT_NM && p->n == 2 && p->m == 4) return R * (C / 2) * v + R * ((C + 7) / 8) + 16;
    return sp_fmt_bytes(w, rows, cols, f, dt, p);
}

static int pack_linear(pack_ctx *x, const sp_linear *l, cJSON *layers, sp_pack_layer *row) {
    const sp_pack_opts *o = x->o;
    const float *w = l->w;
    int rows = l->out, cols = l->in, n = 0, m = 0, has_nm;
    sp_fmt_params p = o->params;
    if (p.br <= 0 || p.bc <= 0) p.br = 4, p.bc = 16;
    has_nm = pick_nm(w, rows, cols, &o->params, &n, &m);
    p.n = n, p.m = m;
    sp_fmt f = o->fmt;
    if (f == SP_FMT_NM && !has_nm)
        return sp_error(SP_ERR_ARG, "pack: layer %s is not n:m sparse%s (use --format auto)", l->name,
                        o->params.m > 0 ? " with the requested n:m" : " (tried 2:4, n:8, n:16)");
    if (f == SP_FMT_BSR && (rows % p.br || cols % p.bc))
        return sp_error(SP_ERR_ARG, "pack: layer %s shape %dx%d is not divisible by block %dx%d", l->name, rows, cols, p.br, p.bc);
    if (f == SP_FMT_AUTO) {
        size_t best = stored_bytes(w, rows, cols, SP_FMT_DENSE, o->dtype, &p);
        f = SP_FMT_DENSE;
        for (int c = SP_FMT_CSR; c < SP_FMT_COUNT; c++) {
            if (c == SP_FMT_NM && !has_nm) continue;
            size_t b = stored_bytes(w, rows, cols, (sp_fmt)c, o->dtype, &p);
            if (b && b < best) best = b, f = (sp_fmt)c;
        }
    }
    int is24 = f == SP_FMT_NM && n == 2 && m == 4;
    const char *fname = f == SP_FMT_BITMAP ? "sparse-bitmask" : is24 ? "sparse-24-bitmask" : sp_fmt_name(f);
    int c0 = x->nc, rc;
    if (f == SP_FMT_DENSE) {
        char name[160];
        snprintf(name, sizeof name, "%s.weight", l->name);
        rc = add_dense(x, name, w, 2, rows, cols);
    } else if (f == SP_FMT_BITMAP) rc = put_bitmask(x, l->name, w, rows, cols);
    else if (is24) rc = put_24(x, l->name, w, rows, cols);
    else rc = put_mat(x, l->name, w, rows, cols, f, &p);
    if (rc) return rc;

    memset(row, 0, sizeof *row);
    snprintf(row->name, sizeof row->name, "%s", l->name);
    snprintf(row->format, sizeof row->format, "%s", fname);
    row->rows = rows, row->cols = cols;
    row->dense_bytes = (size_t)rows * cols * sp_dtype_size(o->dtype);
    for (int i = c0; i < x->nc; i++) {
        size_t e = sp_dtype_size(x->c[i].dt);
        for (int k = 0; k < x->c[i].ndim; k++) e *= (size_t)x->c[i].shape[k];
        row->bytes += e;
    }
    cJSON *e = cJSON_AddObjectToObject(layers, l->name);
    cJSON_AddStringToObject(e, "format", fname);
    int shp[2] = {rows, cols};
    cJSON_AddItemToObject(e, "shape", cJSON_CreateIntArray(shp, 2));
    cJSON_AddStringToObject(e, "dtype", sp_dtype_name(o->dtype));
    if (f == SP_FMT_BSR) {
        int blk[2] = {p.br, p.bc};
        cJSON_AddItemToObject(e, "block", cJSON_CreateIntArray(blk, 2));
        row->br = p.br, row->bc = p.bc;
    }
    if (f == SP_FMT_NM) {
        cJSON_AddNumberToObject(e, "n", n);
        cJSON_AddNumberToObject(e, "m", m);
        row->n = n, row->m = m;
    }
    for (size_t i = 0; i < (size_t)rows * cols; i++) x->zeros += w[i] == 0.0f;
    x->numel += (int64_t)rows * cols;
    return 0;
}

/* config.json: torch_dtype = the stored dtype; with fmt, quantization_config as
 * compressed-tensors' ModelCompressor.update_config writes it. */
static int patch_config(const char *tmpdir, sp_dtype dt, const char *fmt, double global_sparsity) {
    char path[4400], *txt;
    snprintf(path, sizeof path, "%s/config.json", tmpdir);
    int rc = sp_read_file(path, &txt, NULL);
    if (rc) return rc;
    cJSON *root = cJSON_Parse(txt);
    free(txt);
    if (!root) return sp_error(SP_ERR_FORMAT, "%s: not valid JSON", path);
    const char *tdt = dt == SP_DTYPE_BF16 ? "bfloat16" : dt == SP_DTYPE_F16 ? "float16" : "float32";
    cJSON_DeleteItemFromObjectCaseSensitive(root, "torch_dtype");
    cJSON_AddStringToObject(root, "torch_dtype", tdt);
    if (!fmt) goto write;
    cJSON *q = cJSON_AddObjectToObject(root, "quantization_config");
    cJSON_AddStringToObject(q, "quant_method", "compressed-tensors");
    cJSON *s = cJSON_AddObjectToObject(q, "sparsity_config");
    cJSON_AddStringToObject(s, "format", fmt);
    cJSON_AddNumberToObject(s, "global_sparsity", global_sparsity);
    cJSON *ign = cJSON_AddArrayToObject(s, "ignore");
    cJSON_AddItemToArray(ign, cJSON_CreateString("lm_head"));
    cJSON_AddFalseToObject(s, "registry_requires_subclass");
    cJSON_AddStringToObject(s, "sparsity_structure", strcmp(fmt, "sparse-24-bitmask") ? "unstructured" : "2:4");
    cJSON *tg = cJSON_AddArrayToObject(s, "targets");
    cJSON_AddItemToArray(tg, cJSON_CreateString("Linear"));
    cJSON_AddObjectToObject(q, "transform_config");
    cJSON_AddStringToObject(q, "version", SP_CT_VERSION);
write:;
    char *out = cJSON_Print(root);
    cJSON_Delete(root);
    if (!out) return sp_error(SP_ERR_NOMEM, "pack: out of memory");
    sp_atomic_file af;
    rc = sp_atomic_open(&af, path);
    if (!rc) {
        fprintf(af.fp, "%s\n", out);
        rc = sp_atomic_commit(&af);
    }
    cJSON_free(out);
    return rc;
}

static int cmp_size_desc(const void *a, const void *b) {
    size_t x = sp_dtype_size(((const comp *)a)->dt), y = sp_dtype_size(((const comp *)b)->dt);
    return x < y ? 1 : x > y ? -1 : 0;
}

/* The writer callback: every tensor of the model, linears of the blocks packed. */
static int fill(void *ctx, sp_st_writer *w, const char *tmpdir) {
    pack_ctx *x = ctx;
    const sp_model *m = x->m;
    const sp_config *c = &m->cfg;
    sp_pack_report *rep = x->rep;
    char name[160];
    int rc = 0, nl = c->n_layers * SP_N_LINEAR;
    rep->layers = calloc((size_t)nl + 1, sizeof *rep->layers);
    cJSON *meta = cJSON_CreateObject(), *layers = NULL;
    if (meta) cJSON_AddNumberToObject(meta, "version", 1);
    if (meta) layers = cJSON_AddObjectToObject(meta, "layers");
    if (!rep->layers || !layers) { rc = sp_error(SP_ERR_NOMEM, "pack: out of memory"); goto out; }

    if ((rc = add_dense(x, "model.embed_tokens.weight", m->embed, 2, c->vocab_size, c->dim))) goto out;
    if ((rc = add_dense(x, "model.norm.weight", m->final_norm, 1, c->dim, 0))) goto out;
    if (m->lm_head.w != m->embed && (rc = add_dense(x, "lm_head.weight", m->lm_head.w, 2, c->vocab_size, c->dim))) goto out;
    sp_progress pg;
    sp_progress_begin(&pg, "pack", c->n_layers);
    for (int b = 0; b < c->n_layers && !rc; b++) {
        const sp_block *B = &m->blocks[b];
        snprintf(name, sizeof name, "model.layers.%d.input_layernorm.weight", b);
        if ((rc = add_dense(x, name, B->attn_norm, 1, c->dim, 0))) break;
        snprintf(name, sizeof name, "model.layers.%d.post_attention_layernorm.weight", b);
        if ((rc = add_dense(x, name, B->mlp_norm, 1, c->dim, 0))) break;
        for (int j = 0; j < SP_N_LINEAR && !rc; j++) {
            const sp_linear *l = &B->lin[j];
            rc = pack_linear(x, l, layers, &rep->layers[rep->n_layers]);
            if (!rc) rep->n_layers++;
            if (!rc && l->bias) {
                snprintf(name, sizeof name, "%s.bias", l->name);
                rc = add_dense(x, name, l->bias, 1, l->out, 0);
            }
        }
        sp_progress_step(&pg, b + 1);
    }
    sp_progress_end(&pg);
    if (rc) goto out;

    /* compressed-tensors config only when one of its formats covers every packed layer */
    const char *ct = NULL;
    for (int i = 0; i < rep->n_layers; i++) {
        const char *f = rep->layers[i].format;
        if (!strcmp(f, "dense")) continue;
        if (strncmp(f, "sparse-", 7) || (ct && strcmp(ct, f))) { ct = ""; break; }
        ct = f;
    }
    if (ct && ct[0]) snprintf(rep->ct_format, sizeof rep->ct_format, "%s", ct);
    rc = patch_config(tmpdir, x->o->dtype, rep->ct_format[0] ? rep->ct_format : NULL,
                      x->numel ? (double)x->zeros / (double)x->numel : 0.0);
    if (rc) goto out;
    char *mj = cJSON_PrintUnformatted(meta);
    rc = mj ? sp_st_writer_meta(w, "sparsity_pack", mj) : sp_error(SP_ERR_NOMEM, "pack: out of memory");
    cJSON_free(mj);
    if (rc) goto out;

    qsort(x->c, (size_t)x->nc, sizeof *x->c, cmp_size_desc);
    for (int i = 0; i < x->nc && !rc; i++) {
        const comp *t = &x->c[i];
        size_t e = sp_dtype_size(t->dt);
        for (int k = 0; k < t->ndim; k++) e *= (size_t)t->shape[k];
        rep->tensor_bytes += e;
        rc = sp_st_writer_add(w, t->name, t->dt, t->ndim, t->shape, t->data);
    }
    /* the same model all dense in dtype: the packed linears' share is replaced by rows*cols */
    rep->dense_tensor_bytes = rep->tensor_bytes;
    for (int i = 0; i < rep->n_layers; i++)
        rep->dense_tensor_bytes += rep->layers[i].dense_bytes - rep->layers[i].bytes;
out:
    cJSON_Delete(meta);
    return rc;
}

int sp_model_pack(const sp_model *m, const char *dir, const sp_pack_opts *o, const char *meta_json,
                  sp_pack_report *rep) {
    if (!m || !dir || !o) return sp_error(SP_ERR_ARG, "pack: NULL argument");
    if (o->dtype != SP_DTYPE_F32 && o->dtype != SP_DTYPE_F16 && o->dtype != SP_DTYPE_BF16)
        return sp_error(SP_ERR_ARG, "pack: value dtype %s not supported (F32, F16, BF16)", sp_dtype_name(o->dtype));
    if (o->fmt != SP_FMT_AUTO && ((unsigned)o->fmt >= SP_FMT_COUNT))
        return sp_error(SP_ERR_ARG, "pack: unknown format %d", (int)o->fmt);
    if (o->params.m > 0 && !(o->params.n >= 1 && o->params.n < o->params.m && o->params.m <= 256))
        return sp_error(SP_ERR_ARG, "pack: n:m needs 1 <= n < m <= 256 (got %d:%d)", o->params.n, o->params.m);
    sp_pack_report local;
    if (!rep) rep = &local;
    memset(rep, 0, sizeof *rep);
    pack_ctx x = {.m = m, .o = o, .rep = rep};
    int rc = sp_model_write_folder(m, dir, meta_json, fill, &x);
    for (int i = 0; i < x.nb; i++) free(x.bufs[i]);
    for (int i = 0; i < x.nm; i++) sp_mat_free(&x.mats[i]);
    free(x.bufs), free(x.mats), free(x.c);
    if (!rc) {
        char path[4400];
        struct stat st;
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        if (stat(path, &st) == 0) rep->file_bytes = (size_t)st.st_size;
    }
    if (rc || rep == &local) sp_pack_report_free(rep);
    return rc;
}

void sp_pack_report_free(sp_pack_report *r) {
    if (!r) return;
    free(r->layers);
    memset(r, 0, sizeof *r);
}
