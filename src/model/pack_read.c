/* pack_read.c: packed linear weights (sparsity_pack.h) -> dense f32.
 *
 * Every component tensor is looked up by name and its dtype and element count are
 * checked against the layer's shape before a single element is read; our own
 * formats are then copied into aligned buffers (the file gives no alignment
 * guarantee) and pass sp_<fmt>_validate; the compressed-tensors bitmask formats are
 * decoded with every value index bounds-checked. Errors are one line naming the
 * file and the tensor (or layer). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sparsity_pack.h"

struct sp_pack_index {
    const sp_st *st;
    char path[4096];
    cJSON *meta;        /* parsed "sparsity_pack", or NULL */
    const cJSON *layers;/* its "layers" object, or NULL */
    char ct_format[24]; /* compressed-tensors sparsity format from config.json, "" if none */
};

#define DT(x) (1u << (x))
#define FLOATS (DT(SP_DTYPE_F32) | DT(SP_DTYPE_F16) | DT(SP_DTYPE_BF16))

/* Reads config.json's quantization_config.sparsity_config.format, if any. */
static int read_ct_format(sp_pack_index *ix, const char *cfg) {
    if (!cfg || access(cfg, R_OK) != 0) return 0;
    char *txt;
    int rc = sp_read_file(cfg, &txt, NULL);
    if (rc) return rc;
    cJSON *root = cJSON_Parse(txt);
    free(txt);
    if (!root) return sp_error(SP_ERR_FORMAT, "%s: not valid JSON", cfg);
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(root, "quantization_config");
    const cJSON *s = cJSON_IsObject(q) ? cJSON_GetObjectItemCaseSensitive(q, "sparsity_config") : NULL;
    const cJSON *f = cJSON_IsObject(s) ? cJSON_GetObjectItemCaseSensitive(s, "format") : NULL;
    if (f && !cJSON_IsString(f)) rc = sp_error(SP_ERR_FORMAT, "%s: quantization_config.sparsity_config.format is not a string", cfg);
    else if (f && strcmp(f->valuestring, "dense") != 0) {
        if (strcmp(f->valuestring, "sparse-bitmask") && strcmp(f->valuestring, "sparse-24-bitmask"))
            rc = sp_error(SP_ERR_UNSUPPORTED, "%s: compressed-tensors sparsity format '%s' not supported (sparse-bitmask, sparse-24-bitmask, dense)",
                          cfg, f->valuestring);
        else snprintf(ix->ct_format, sizeof ix->ct_format, "%s", f->valuestring);
    }
    cJSON_Delete(root);
    return rc;
}

sp_pack_index *sp_pack_index_open(const sp_st *st, const char *st_path, const char *config_json_path) {
    sp_pack_index *ix = calloc(1, sizeof *ix);
    if (!ix) { sp_error(SP_ERR_NOMEM, "pack: out of memory"); return NULL; }
    ix->st = st;
    snprintf(ix->path, sizeof ix->path, "%s", st_path);
    const char *txt = sp_st_meta(st, "sparsity_pack");
    if (txt) {
        ix->meta = cJSON_Parse(txt);
        ix->layers = ix->meta ? cJSON_GetObjectItemCaseSensitive(ix->meta, "layers") : NULL;
        if (!cJSON_IsObject(ix->layers)) {
            sp_error(SP_ERR_FORMAT, "%s: __metadata__ 'sparsity_pack' is not a JSON object with a 'layers' object", st_path);
            sp_pack_index_free(ix);
            return NULL;
        }
        for (const cJSON *e = ix->layers->child; e; e = e->next) {
            const cJSON *f = cJSON_GetObjectItemCaseSensitive(e, "format");
            if (!cJSON_IsObject(e) || !cJSON_IsString(f)) {
                sp_error(SP_ERR_FORMAT, "%s: __metadata__ 'sparsity_pack' layer '%s' has no format string", st_path, e->string);
                sp_pack_index_free(ix);
                return NULL;
            }
        }
    }
    if (read_ct_format(ix, config_json_path)) { sp_pack_index_free(ix); return NULL; }
    return ix;
}

void sp_pack_index_free(sp_pack_index *ix) {
    if (!ix) return;
    cJSON_Delete(ix->meta);
    free(ix);
}

int sp_pack_index_n(const sp_pack_index *ix) { return ix && ix->layers ? cJSON_GetArraySize(ix->layers) : 0; }

const char *sp_pack_index_name(const sp_pack_index *ix, int i) {
    const cJSON *e = ix && ix->layers ? cJSON_GetArrayItem(ix->layers, i) : NULL;
    return e ? e->string : NULL;
}

static const sp_st_tensor *find2(const sp_pack_index *ix, const char *prefix, const char *suffix) {
    char name[256];
    snprintf(name, sizeof name, "%s.%s", prefix, suffix);
    return sp_st_find(ix->st, name);
}

static const cJSON *entry(const sp_pack_index *ix, const char *prefix) {
    return ix->layers ? cJSON_GetObjectItemCaseSensitive(ix->layers, prefix) : NULL;
}

const char *sp_pack_format(const sp_pack_index *ix, const char *prefix) {
    const cJSON *e = entry(ix, prefix);
    if (e) return cJSON_GetObjectItemCaseSensitive(e, "format")->valuestring;
    if (find2(ix, prefix, "weight")) return "dense";
    if (!find2(ix, prefix, "compressed")) return NULL;
    if (ix->ct_format[0]) return ix->ct_format;
    /* no config: the components tell (row_offsets only exist in sparse-bitmask) */
    return find2(ix, prefix, "row_offsets") ? "sparse-bitmask" : "sparse-24-bitmask";
}

static int64_t numel(const sp_st_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

/* Element i of an integer tensor (I32/I64/U8/U16) read without alignment assumptions. */
static int64_t int_at(const sp_st_tensor *t, int64_t i) {
    const uint8_t *p = (const uint8_t *)t->data + (size_t)i * sp_dtype_size(t->dtype);
    int64_t v64; int32_t v32; uint16_t v16;
    switch (t->dtype) {
    case SP_DTYPE_I64: memcpy(&v64, p, 8); return v64;
    case SP_DTYPE_I32: memcpy(&v32, p, 4); return v32;
    case SP_DTYPE_U16: memcpy(&v16, p, 2); return v16;
    default: return *p;
    }
}

static float val_at(const sp_st_tensor *t, int64_t i) {
    const uint8_t *p = (const uint8_t *)t->data + (size_t)i * sp_dtype_size(t->dtype);
    if (t->dtype == SP_DTYPE_F32) { float f; memcpy(&f, p, 4); return f; }
    uint16_t h;
    memcpy(&h, p, 2);
    return t->dtype == SP_DTYPE_BF16 ? sp_bf16_to_f32(h) : sp_f16_to_f32(h);
}

static const char *dtype_list(unsigned mask, char *buf, size_t n) {
    buf[0] = 0;
    for (int d = 0; d < SP_DTYPE_COUNT; d++)
        if (mask & DT(d)) snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", buf[0] ? "/" : "", sp_dtype_name((sp_dtype)d));
    return buf;
}

/* The component PREFIX.SUFFIX of layer `fmt`: present, dtype in mask, want elements
 * (want < 0: any count). */
static int need(const sp_pack_index *ix, const char *prefix, const char *fmt, const char *suffix, unsigned mask,
                int64_t want, const sp_st_tensor **out) {
    const sp_st_tensor *t = find2(ix, prefix, suffix);
    char dl[64];
    if (!t) return sp_error(SP_ERR_FORMAT, "%s: layer '%s' (%s): missing tensor '%s.%s'", ix->path, prefix, fmt, prefix, suffix);
    if (!(mask & DT(t->dtype)))
        return sp_error(SP_ERR_FORMAT, "%s: tensor '%s' has dtype %s, expected %s", ix->path, t->name,
                        sp_dtype_name(t->dtype), dtype_list(mask, dl, sizeof dl));
    if (want >= 0 && numel(t) != want)
        return sp_error(SP_ERR_FORMAT, "%s: tensor '%s' has %lld elements, expected %lld for layer %s", ix->path,
                        t->name, (long long)numel(t), (long long)want, prefix);
    *out = t;
    return 0;
}

/* An aligned private copy of t's bytes (at least 8 bytes, so empty arrays are non-NULL). */
static void *copy_of(const sp_st_tensor *t) {
    void *p = malloc(t->nbytes + 8);
    if (p && t->nbytes) memcpy(p, t->data, t->nbytes);
    return p;
}

/* Re-words a format validator's message with the file and tensor it is about. */
static int wrap(const sp_pack_index *ix, const char *prefix, const char *what, int rc) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", sp_last_error());
    return sp_error(rc, "%s: layer '%s' %s: %s", ix->path, prefix, what, msg);
}

/* compressed-tensors shape tensor (2 integers, any layout such as (2,) or (2,1)). */
static int check_shape_tensor(const sp_pack_index *ix, const char *prefix, const char *fmt, int rows, int cols) {
    const sp_st_tensor *s;
    int rc = need(ix, prefix, fmt, "shape", DT(SP_DTYPE_I64) | DT(SP_DTYPE_I32), 2, &s);
    if (rc) return rc;
    if (int_at(s, 0) != rows || int_at(s, 1) != cols)
        return sp_error(SP_ERR_FORMAT, "%s: tensor '%s' says shape [%lld, %lld], layer %s is [%d, %d]", ix->path,
                        s->name, (long long)int_at(s, 0), (long long)int_at(s, 1), prefix, rows, cols);
    return 0;
}

/* sparse-bitmask / sparse-24-bitmask: bit c%8 of byte c/8 of row r marks weight
 * (r, c) (numpy packbits, bitorder little); the marked weights take the values of
 * `compressed` in row-major order. */
static int read_ct(const sp_pack_index *ix, const char *prefix, const char *fmt, int is24, int rows, int cols,
                   unsigned vmask, float *out) {
    int64_t rb = ((int64_t)cols + 7) / 8;
    const sp_st_tensor *mask, *vals, *offs = NULL;
    int rc = check_shape_tensor(ix, prefix, fmt, rows, cols);
    if (!rc) rc = need(ix, prefix, fmt, "bitmask", DT(SP_DTYPE_U8), (int64_t)rows * rb, &mask);
    if (!rc) rc = need(ix, prefix, fmt, "compressed", vmask, is24 ? (int64_t)rows * (cols / 2) : -1, &vals);
    if (!rc && !is24) rc = need(ix, prefix, fmt, "row_offsets", DT(SP_DTYPE_I64) | DT(SP_DTYPE_I32), rows, &offs);
    if (rc) return rc;
    if (is24 && cols % 4)
        return sp_error(SP_ERR_FORMAT, "%s: layer '%s' (%s): %d columns is not a multiple of 4", ix->path, prefix, fmt, cols);
    const uint8_t *mb = mask->data;
    int64_t nv = numel(vals), k = 0;
    for (int r = 0; r < rows; r++) {
        const uint8_t *row = mb + (size_t)r * rb;
        if (offs && int_at(offs, r) != k)
            return sp_error(SP_ERR_FORMAT, "%s: tensor '%s' row %d = %lld, but the bitmask has %lld bits before row %d",
                            ix->path, offs->name, r, (long long)int_at(offs, r), (long long)k, r);
        if (cols % 8 && (row[rb - 1] >> (cols % 8)))
            return sp_error(SP_ERR_FORMAT, "%s: tensor '%s' row %d has bits set past column %d", ix->path, mask->name, r, cols);
        float *o = out + (size_t)r * cols;
        for (int c = 0; c < cols; c++) {
            if (!((row[c >> 3] >> (c & 7)) & 1)) { o[c] = 0.0f; continue; }
            if (k >= nv)
                return sp_error(SP_ERR_FORMAT, "%s: tensor '%s' marks more weights than the %lld values of '%s' (row %d)",
                                ix->path, mask->name, (long long)nv, vals->name, r);
            o[c] = val_at(vals, k++);
        }
    }
    if (k != nv)
        return sp_error(SP_ERR_FORMAT, "%s: tensor '%s' marks %lld weights but '%s' has %lld values", ix->path,
                        mask->name, (long long)k, vals->name, (long long)nv);
    return 0;
}

static int read_csr(const sp_pack_index *ix, const char *prefix, int rows, int cols, unsigned vmask, float *out) {
    const sp_st_tensor *rp, *ci, *v;
    unsigned cmask = cols <= 65536 ? DT(SP_DTYPE_U16) | DT(SP_DTYPE_I32) : DT(SP_DTYPE_I32);
    int rc = need(ix, prefix, "csr", "csr_row_ptr", DT(SP_DTYPE_I64), (int64_t)rows + 1, &rp);
    if (!rc) rc = need(ix, prefix, "csr", "csr_values", vmask, -1, &v);
    if (!rc) rc = need(ix, prefix, "csr", "csr_col", cmask, numel(v), &ci);
    if (rc) return rc;
    sp_csr a = {rows, cols, numel(v), v->dtype, copy_of(rp), NULL, NULL, copy_of(v), 0};
    void *col = copy_of(ci);
    if (ci->dtype == SP_DTYPE_U16) a.col16 = col;
    else a.col32 = col;
    if (!a.row_ptr || !a.vals || !col) rc = sp_error(SP_ERR_NOMEM, "%s: out of memory for layer '%s'", ix->path, prefix);
    else if ((rc = sp_csr_validate(&a))) rc = wrap(ix, prefix, "(csr)", rc);
    else rc = sp_csr_to_dense(&a, out);
    free(a.row_ptr), free(col), free(a.vals);
    return rc;
}

static int read_coo(const sp_pack_index *ix, const char *prefix, int rows, int cols, unsigned vmask, float *out) {
    const sp_st_tensor *ri, *ci, *v;
    int rc = need(ix, prefix, "coo", "coo_values", vmask, -1, &v);
    if (!rc) rc = need(ix, prefix, "coo", "coo_row", DT(SP_DTYPE_I32), numel(v), &ri);
    if (!rc) rc = need(ix, prefix, "coo", "coo_col", DT(SP_DTYPE_I32), numel(v), &ci);
    if (rc) return rc;
    sp_coo a = {rows, cols, numel(v), v->dtype, copy_of(ri), copy_of(ci), copy_of(v), 0};
    if (!a.row || !a.col || !a.vals) rc = sp_error(SP_ERR_NOMEM, "%s: out of memory for layer '%s'", ix->path, prefix);
    else if ((rc = sp_coo_validate(&a))) rc = wrap(ix, prefix, "(coo)", rc);
    else rc = sp_coo_to_dense(&a, out);
    free(a.row), free(a.col), free(a.vals);
    return rc;
}

static int read_bsr(const sp_pack_index *ix, const char *prefix, int rows, int cols, unsigned vmask, float *out) {
    const sp_st_tensor *bp, *bcol, *v;
    int rc = need(ix, prefix, "bsr", "bsr_values", vmask, -1, &v);
    if (rc) return rc;
    if (v->ndim != 3 || v->shape[1] <= 0 || v->shape[2] <= 0 || v->shape[1] > rows || v->shape[2] > cols ||
        rows % v->shape[1] || cols % v->shape[2])
        return sp_error(SP_ERR_FORMAT, "%s: tensor '%s' must have shape (blocks, br, bc) with br | %d and bc | %d",
                        ix->path, v->name, rows, cols);
    int br = (int)v->shape[1], bc = (int)v->shape[2];
    const cJSON *e = entry(ix, prefix), *b = e ? cJSON_GetObjectItemCaseSensitive(e, "block") : NULL;
    if (b && !(cJSON_GetArraySize(b) == 2 && cJSON_GetArrayItem(b, 0)->valuedouble == br &&
               cJSON_GetArrayItem(b, 1)->valuedouble == bc))
        return sp_error(SP_ERR_FORMAT, "%s: layer '%s': metadata block shape disagrees with tensor '%s' (%dx%d)",
                        ix->path, prefix, v->name, br, bc);
    rc = need(ix, prefix, "bsr", "bsr_block_ptr", DT(SP_DTYPE_I64), (int64_t)rows / br + 1, &bp);
    if (!rc) rc = need(ix, prefix, "bsr", "bsr_block_col", DT(SP_DTYPE_I32), v->shape[0], &bcol);
    if (rc) return rc;
    sp_bsr a = {rows, cols, br, bc, v->shape[0], v->dtype, copy_of(bp), copy_of(bcol), copy_of(v), 0};
    if (!a.block_ptr || !a.block_col || !a.vals) rc = sp_error(SP_ERR_NOMEM, "%s: out of memory for layer '%s'", ix->path, prefix);
    else if ((rc = sp_bsr_validate(&a))) rc = wrap(ix, prefix, "(bsr)", rc);
    else rc = sp_bsr_to_dense(&a, out);
    free(a.block_ptr), free(a.block_col), free(a.vals);
    return rc;
}

static int meta_int(const cJSON *e, const char *key, int lo, int hi, int *out) {
    const cJSON *v = e ? cJSON_GetObjectItemCaseSensitive(e, key) : NULL;
    if (!cJSON_IsNumber(v) || v->valuedouble != (int)v->valuedouble || v->valuedouble < lo || v->valuedouble > hi) return -1;
    *out = (int)v->valuedouble;
    return 0;
}

static int read_nm(const sp_pack_index *ix, const char *prefix, int rows, int cols, unsigned vmask, float *out) {
    const cJSON *e = entry(ix, prefix);
    int n, m;
    if (meta_int(e, "m", 2, 256, &m) || meta_int(e, "n", 1, m - 1, &n))
        return sp_error(SP_ERR_FORMAT, "%s: layer '%s' (nm): metadata needs integers 1 <= n < m <= 256", ix->path, prefix);
    if (n == 2 && m == 4)
        return sp_error(SP_ERR_FORMAT, "%s: layer '%s': 2:4 is stored as sparse-24-bitmask, not nm", ix->path, prefix);
    if (cols % m) return sp_error(SP_ERR_FORMAT, "%s: layer '%s' (nm %d:%d): %d columns not divisible by m", ix->path, prefix, n, m, cols);
    int64_t kept = (int64_t)rows * (cols / m * n);
    const sp_st_tensor *v, *id;
    int rc = need(ix, prefix, "nm", "nm_values", vmask, kept, &v);
    if (!rc) rc = need(ix, prefix, "nm", "nm_idx", DT(SP_DTYPE_U8), kept, &id);
    if (rc) return rc;
    sp_nm a = {rows, cols, n, m, v->dtype, copy_of(v), NULL, copy_of(id), 0};
    if (!a.vals || !a.idx) rc = sp_error(SP_ERR_NOMEM, "%s: out of memory for layer '%s'", ix->path, prefix);
    else if ((rc = sp_nm_validate(&a))) rc = wrap(ix, prefix, "(nm)", rc);
    else rc = sp_nm_to_dense(&a, out);
    free(a.vals), free(a.idx);
    return rc;
}

static int read_dense(const sp_pack_index *ix, const char *prefix, int rows, int cols, float *out) {
    const sp_st_tensor *t;
    int rc = need(ix, prefix, "dense", "weight", FLOATS, (int64_t)rows * cols, &t);
    if (rc) return rc;
    for (int64_t i = 0; i < (int64_t)rows * cols; i++) out[i] = val_at(t, i);
    return 0;
}

/* Checks a metadata entry against the layer: shape, and the value dtype it names. */
static int check_entry(const sp_pack_index *ix, const char *prefix, int rows, int cols, unsigned *vmask) {
    const cJSON *e = entry(ix, prefix);
    if (!e) return 0;
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(e, "shape"), *d = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    if (!cJSON_IsArray(s) || cJSON_GetArraySize(s) != 2 || !cJSON_IsNumber(s->child) || !cJSON_IsNumber(s->child->next) ||
        s->child->valuedouble != rows || s->child->next->valuedouble != cols)
        return sp_error(SP_ERR_FORMAT, "%s: __metadata__ 'sparsity_pack' layer '%s': shape is not [%d, %d]", ix->path,
                        prefix, rows, cols);
    int dt = cJSON_IsString(d) ? sp_dtype_from_name(d->valuestring) : -1;
    if (dt < 0 || !(FLOATS & DT(dt)))
        return sp_error(SP_ERR_FORMAT, "%s: __metadata__ 'sparsity_pack' layer '%s': dtype is not F32, F16 or BF16",
                        ix->path, prefix);
    *vmask = DT(dt);
    return 0;
}

int sp_pack_read(const sp_pack_index *ix, const char *prefix, int rows, int cols, float *out) {
    const char *f = sp_pack_format(ix, prefix);
    if (!f) return sp_error(SP_ERR_FORMAT, "%s: missing tensor '%s.weight'", ix->path, prefix);
    if (rows < 0 || cols < 0) return sp_error(SP_ERR_ARG, "pack: negative shape for '%s'", prefix);
    unsigned vmask = FLOATS;
    int rc = check_entry(ix, prefix, rows, cols, &vmask);
    if (rc) return rc;
    if (!strcmp(f, "dense")) return read_dense(ix, prefix, rows, cols, out);
    if (!strcmp(f, "sparse-bitmask")) return read_ct(ix, prefix, f, 0, rows, cols, vmask, out);
    if (!strcmp(f, "sparse-24-bitmask")) return read_ct(ix, prefix, f, 1, rows, cols, vmask, out);
    if (!strcmp(f, "csr")) return read_csr(ix, prefix, rows, cols, vmask, out);
    if (!strcmp(f, "coo")) return read_coo(ix, prefix, rows, cols, vmask, out);
    if (!strcmp(f, "bsr")) return read_bsr(ix, prefix, rows, cols, vmask, out);
    if (!strcmp(f, "nm")) return read_nm(ix, prefix, rows, cols, vmask, out);
    return sp_error(SP_ERR_FORMAT, "%s: layer '%s' has unknown format '%s' (dense, sparse-bitmask, sparse-24-bitmask, csr, coo, bsr, nm)",
                    ix->path, prefix, f);
}

int sp_pack_shape(const sp_pack_index *ix, const char *prefix, int *rows, int *cols) {
    const cJSON *e = entry(ix, prefix), *s = e ? cJSON_GetObjectItemCaseSensitive(e, "shape") : NULL;
    const sp_st_tensor *t;
    if (cJSON_GetArraySize(s) == 2 && cJSON_IsNumber(s->child) && cJSON_IsNumber(s->child->next)) {
        *rows = (int)s->child->valuedouble, *cols = (int)s->child->next->valuedouble;
    } else if ((t = find2(ix, prefix, "weight")) && t->ndim == 2) {
        *rows = (int)t->shape[0], *cols = (int)t->shape[1];
    } else if ((t = find2(ix, prefix, "shape")) && numel(t) == 2 && (t->dtype == SP_DTYPE_I64 || t->dtype == SP_DTYPE_I32)) {
        *rows = (int)int_at(t, 0), *cols = (int)int_at(t, 1);
    } else {
        return sp_error(SP_ERR_FORMAT, "%s: cannot tell the shape of layer '%s'", ix->path, prefix);
    }
    if (*rows < 0 || *cols < 0 || (int64_t)*rows * *cols > ((int64_t)1 << 40))
        return sp_error(SP_ERR_FORMAT, "%s: layer '%s' has a bad shape [%d, %d]", ix->path, prefix, *rows, *cols);
    return 0;
}
