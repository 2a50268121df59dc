/* safetensors.c: read (mmap, validate) and write (atomic) safetensors files.
 *
 * Format (https://github.com/huggingface/safetensors), all integers little-endian:
 *
 *   offset 0      u64  N            byte length of the JSON header
 *   offset 8      u8   header[N]    UTF-8 JSON object, may be right-padded with spaces
 *   offset 8+N    u8   data[...]    the data section: tensor bytes, back to back
 *
 * The header maps each tensor name to
 *     {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]}
 * where dtype is one of F32 F16 BF16 F64 I8 U8 I16 I32 I64 (the ones we handle),
 * shape is row-major with 0..4 non-negative dims (0 dims = a scalar, 1 element),
 * and [begin, end) are byte offsets relative to the start of the data section with
 * end - begin == product(shape) * sizeof(dtype). An optional key "__metadata__"
 * maps to an object of string -> string (free text, e.g. our "sparsity" JSON).
 *
 * The reader checks all of that (plus: file >= 8 bytes, N within the file and
 * < 100 MB, no duplicate names, no overlapping tensors) before handing out
 * pointers into the read-only mapping. Tensor data is only as aligned as the
 * file makes it; our writer pads the header to a multiple of 8 bytes so the data
 * section starts 8-aligned, and tensors follow in insertion order.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "sparsity.h"

#define SP_ST_MAX_HEADER (100u * 1000u * 1000u) /* 100 MB, as the reference reader */
#define SP_ST_MAX_INT ((double)(1ull << 53))    /* JSON numbers are doubles in cJSON */

struct sp_st {
    char *path;
    const uint8_t *map;     /* whole file, read-only (size bytes) */
    size_t size;
    int n;
    sp_st_tensor *t;        /* (n,) in header order; names malloc'ed */
    int *by_name;           /* (n,) indices of t sorted by name, for sp_st_find */
    int n_meta;
    char **meta_key;        /* (n_meta,) */
    char **meta_val;        /* (n_meta,) */
};

struct sp_st_writer {
    int n, cap;
    sp_st_tensor *t;        /* (cap,) data borrowed, names malloc'ed */
    int n_meta, cap_meta;
    char **meta_key;        /* (cap_meta,) */
    char **meta_val;        /* (cap_meta,) */
};

static char *dupstr(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* ------------------------------------------------------------------ reader */

void sp_st_free(sp_st *st) {
    if (!st) return;
    if (st->map) munmap((void *)st->map, st->size);
    for (int i = 0; i < st->n; i++) free((char *)st->t[i].name);
    for (int i = 0; i < st->n_meta; i++) { free(st->meta_key[i]); free(st->meta_val[i]); }
    free(st->t);
    free(st->by_name);
    free(st->meta_key);
    free(st->meta_val);
    free(st->path);
    free(st);
}

/* A JSON number that is a whole number in [0, 2^53]; 0 ok, -1 otherwise. */
static int json_u53(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= SP_ST_MAX_INT) || d != (double)(uint64_t)d) return -1;
    *out = (uint64_t)d;
    return 0;
}

static _Thread_local const sp_st *g_sort_st; /* qsort context for the comparators below */

static int cmp_name(const void *a, const void *b) {
    return strcmp(g_sort_st->t[*(const int *)a].name, g_sort_st->t[*(const int *)b].name);
}

static int cmp_begin(const void *a, const void *b) {
    const sp_st_tensor *x = &g_sort_st->t[*(const int *)a], *y = &g_sort_st->t[*(const int *)b];
    return x->data < y->data ? -1 : x->data > y->data;
}

/* Sorts idx (n,) with cmp over st's tensors. */
static void sort_idx(const sp_st *st, int *idx, int n, int (*cmp)(const void *, const void *)) {
    for (int i = 0; i < n; i++) idx[i] = i;
    g_sort_st = st;
    qsort(idx, (size_t)n, sizeof *idx, cmp);
}

static int parse_meta(sp_st *st, const cJSON *m) {
    const char *path = st->path;
    if (!cJSON_IsObject(m)) return sp_error(SP_ERR_FORMAT, "%s: __metadata__ is not an object", path);
    int n = cJSON_GetArraySize(m);
    st->meta_key = calloc((size_t)n + 1, sizeof *st->meta_key);
    st->meta_val = calloc((size_t)n + 1, sizeof *st->meta_val);
    if (!st->meta_key || !st->meta_val) return sp_error(SP_ERR_NOMEM, "%s: out of memory", path);
    for (const cJSON *e = m->child; e; e = e->next) {
        if (!cJSON_IsString(e) || !e->valuestring)
            return sp_error(SP_ERR_FORMAT, "%s: __metadata__ value for '%s' is not a string", path,
                            e->string);
        for (int j = 0; j < st->n_meta; j++)
            if (strcmp(st->meta_key[j], e->string) == 0)
                return sp_error(SP_ERR_FORMAT, "%s: duplicate __metadata__ key '%s'", path, e->string);
        st->meta_key[st->n_meta] = dupstr(e->string);
        st->meta_val[st->n_meta] = dupstr(e->valuestring);
        st->n_meta++;
        if (!st->meta_key[st->n_meta - 1] || !st->meta_val[st->n_meta - 1])
            return sp_error(SP_ERR_NOMEM, "%s: out of memory", path);
    }
    return 0;
}

/* Fills t from one header entry e; data section is data (dsize bytes). */
static int parse_tensor(const char *path, const cJSON *e, const uint8_t *data, uint64_t dsize,
                        sp_st_tensor *t) {
    const char *name = e->string;
    if (!cJSON_IsObject(e)) return sp_error(SP_ERR_FORMAT, "%s: tensor %s is not an object", path, name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt) || !dt->valuestring)
        return sp_error(SP_ERR_FORMAT, "%s: tensor %s has no dtype string", path, name);
    int d = sp_dtype_from_name(dt->valuestring);
    if (d < 0) return sp_error(SP_ERR_FORMAT, "%s: tensor %s has unknown dtype %s", path, name, dt->valuestring);
    t->dtype = (sp_dtype)d;

    if (!cJSON_IsArray(sh)) return sp_error(SP_ERR_FORMAT, "%s: tensor %s has no shape array", path, name);
    int nd = cJSON_GetArraySize(sh);
    if (nd > SP_MAX_DIMS)
        return sp_error(SP_ERR_UNSUPPORTED, "%s: tensor %s has %d dims (max %d)", path, name, nd, SP_MAX_DIMS);
    t->ndim = nd;
    uint64_t numel = 1;
    int k = 0, overflow = 0;
    for (const cJSON *v = sh->child; v; v = v->next, k++) {
        uint64_t x;
        if (json_u53(v, &x) != 0)
            return sp_error(SP_ERR_FORMAT, "%s: tensor %s has a bad shape entry (dim %d: not a non-negative integer)",
                            path, name, k);
        t->shape[k] = (int64_t)x;
        if (x && numel > UINT64_MAX / x) overflow = 1;
        numel *= x;
    }
    for (; k < SP_MAX_DIMS; k++) t->shape[k] = 0;
    uint64_t esz = sp_dtype_size(t->dtype);
    if (overflow || (numel && numel > UINT64_MAX / esz))
        return sp_error(SP_ERR_FORMAT, "%s: tensor %s shape is too large", path, name);

    uint64_t b, en;
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 || json_u53(off->child, &b) != 0 ||
        json_u53(off->child->next, &en) != 0)
        return sp_error(SP_ERR_FORMAT, "%s: tensor %s has bad data_offsets (want [begin, end])", path, name);
    if (b > en || en > dsize)
        return sp_error(SP_ERR_FORMAT,
                        "%s: tensor %s data_offsets [%" PRIu64 ", %" PRIu64 "] outside the data section (%" PRIu64
                        " bytes)", path, name, b, en, dsize);
    if (en - b != numel * esz)
        return sp_error(SP_ERR_FORMAT,
                        "%s: tensor %s has %" PRIu64 " bytes but shape and dtype %s need %" PRIu64, path, name,
                        en - b, dt->valuestring, numel * esz);
    t->data = data + b;
    t->nbytes = (size_t)(en - b);
    return 0;
}

static int parse_header(sp_st *st, const char *hdr, size_t hlen) {
    const char *path = st->path;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, hlen, &end, 0);
    if (!root) return sp_error(SP_ERR_FORMAT, "%s: header is not valid JSON", path);
    int rc = 0;
    for (const char *p = end; p < hdr + hlen; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            rc = sp_error(SP_ERR_FORMAT, "%s: header has trailing bytes after the JSON object", path);
            goto out;
        }
    if (!cJSON_IsObject(root)) { rc = sp_error(SP_ERR_FORMAT, "%s: header is not a JSON object", path); goto out; }

    int n = 0;
    for (const cJSON *e = root->child; e; e = e->next) n += strcmp(e->string, "__metadata__") != 0;
    st->t = calloc((size_t)n + 1, sizeof *st->t);
    st->by_name = calloc((size_t)n + 1, sizeof *st->by_name);
    if (!st->t || !st->by_name) { rc = sp_error(SP_ERR_NOMEM, "%s: out of memory", path); goto out; }

    const uint8_t *data = st->map + 8 + hlen;
    uint64_t dsize = st->size - 8 - hlen;
    int seen_meta = 0;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) {
            if (seen_meta++) { rc = sp_error(SP_ERR_FORMAT, "%s: duplicate __metadata__", path); goto out; }
            if ((rc = parse_meta(st, e)) != 0) goto out;
            continue;
        }
        sp_st_tensor *t = &st->t[st->n];
        if ((rc = parse_tensor(path, e, data, dsize, t)) != 0) goto out;
        if (!(t->name = dupstr(e->string))) { rc = sp_error(SP_ERR_NOMEM, "%s: out of memory", path); goto out; }
        st->n++;
    }

    /* Names unique (sorted index, kept for sp_st_find); tensors must not overlap. */
    sort_idx(st, st->by_name, st->n, cmp_name);
    for (int i = 1; i < st->n; i++)
        if (strcmp(st->t[st->by_name[i - 1]].name, st->t[st->by_name[i]].name) == 0) {
            rc = sp_error(SP_ERR_FORMAT, "%s: duplicate tensor name %s", path, st->t[st->by_name[i]].name);
            goto out;
        }
    int *ord = malloc(((size_t)st->n + 1) * sizeof *ord);
    if (!ord) { rc = sp_error(SP_ERR_NOMEM, "%s: out of memory", path); goto out; }
    sort_idx(st, ord, st->n, cmp_begin);
    const sp_st_tensor *prev = NULL;
    for (int i = 0; i < st->n && rc == 0; i++) {
        const sp_st_tensor *t = &st->t[ord[i]];
        if (t->nbytes == 0) continue;
        if (prev && (const uint8_t *)prev->data + prev->nbytes > (const uint8_t *)t->data)
            rc = sp_error(SP_ERR_FORMAT, "%s: tensors %s and %s overlap", path, prev->name, t->name);
        prev = t;
    }
    free(ord);
out:
    cJSON_Delete(root);
    return rc;
}

sp_st *sp_st_open(const char *path) {
    sp_st *st = calloc(1, sizeof *st);
    if (!st || !(st->path = dupstr(path))) {
        sp_error(SP_ERR_NOMEM, "%s: out of memory", path);
        free(st);
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        sp_error(SP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        sp_st_free(st);
        return NULL;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        sp_error(SP_ERR_IO, "%s: not a regular file", path);
        close(fd);
        sp_st_free(st);
        return NULL;
    }
    if (sb.st_size < 8) {
        sp_error(SP_ERR_FORMAT, "%s: too short for a safetensors file (%lld bytes, need >= 8)", path,
                 (long long)sb.st_size);
        close(fd);
        sp_st_free(st);
        return NULL;
    }
    st->size = (size_t)sb.st_size;
    void *m = mmap(NULL, st->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        sp_error(SP_ERR_IO, "%s: mmap failed: %s", path, strerror(errno));
        sp_st_free(st);
        return NULL;
    }
    st->map = m;

    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | st->map[i];
    if (hlen > st->size - 8) {
        sp_error(SP_ERR_FORMAT, "%s: header length %" PRIu64 " runs past the end of the file (%zu bytes)", path,
                 hlen, st->size);
        sp_st_free(st);
        return NULL;
    }
    if (hlen >= SP_ST_MAX_HEADER) {
        sp_error(SP_ERR_FORMAT, "%s: header length %" PRIu64 " is too large (limit 100 MB)", path, hlen);
        sp_st_free(st);
        return NULL;
    }
    /* cJSON wants a NUL-terminated buffer: parse a copy. */
    char *hdr = malloc(hlen + 1);
    if (!hdr) {
        sp_error(SP_ERR_NOMEM, "%s: out of memory", path);
        sp_st_free(st);
        return NULL;
    }
    memcpy(hdr, st->map + 8, hlen);
    hdr[hlen] = 0;
    int rc = parse_header(st, hdr, (size_t)hlen);
    free(hdr);
    if (rc != 0) {
        sp_st_free(st);
        return NULL;
    }
    return st;
}

int sp_st_n_tensors(const sp_st *st) { return st ? st->n : 0; }

const sp_st_tensor *sp_st_tensor_at(const sp_st *st, int i) {
    return st && i >= 0 && i < st->n ? &st->t[i] : NULL;
}

const sp_st_tensor *sp_st_find(const sp_st *st, const char *name) {
    if (!st || !name) return NULL;
    int lo = 0, hi = st->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(st->t[st->by_name[mid]].name, name);
        if (c == 0) return &st->t[st->by_name[mid]];
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

const char *sp_st_meta(const sp_st *st, const char *key) {
    if (!st || !key) return NULL;
    for (int i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta_key[i], key) == 0) return st->meta_val[i];
    return NULL;
}

int sp_st_n_meta(const sp_st *st) { return st ? st->n_meta : 0; }

const char *sp_st_meta_key(const sp_st *st, int i) {
    return st && i >= 0 && i < st->n_meta ? st->meta_key[i] : NULL;
}

/* ------------------------------------------------------------------ writer */

sp_st_writer *sp_st_writer_new(void) {
    sp_st_writer *w = calloc(1, sizeof *w);
    if (!w) sp_error(SP_ERR_NOMEM, "safetensors writer: out of memory");
    return w;
}

void sp_st_writer_free(sp_st_writer *w) {
    if (!w) return;
    for (int i = 0; i < w->n; i++) free((char *)w->t[i].name);
    for (int i = 0; i < w->n_meta; i++) { free(w->meta_key[i]); free(w->meta_val[i]); }
    free(w->t);
    free(w->meta_key);
    free(w->meta_val);
    free(w);
}

int sp_st_writer_add(sp_st_writer *w, const char *name, sp_dtype dtype, int ndim, const int64_t *shape,
                     const void *data) {
    if (!w || !name || !*name) return sp_error(SP_ERR_ARG, "safetensors writer: missing tensor name");
    if (strcmp(name, "__metadata__") == 0)
        return sp_error(SP_ERR_ARG, "safetensors writer: '__metadata__' is not a tensor name");
    if ((unsigned)dtype >= SP_DTYPE_COUNT)
        return sp_error(SP_ERR_ARG, "safetensors writer: tensor %s has bad dtype %d", name, (int)dtype);
    if (ndim < 0 || ndim > SP_MAX_DIMS || (ndim > 0 && !shape))
        return sp_error(SP_ERR_ARG, "safetensors writer: tensor %s has bad ndim %d", name, ndim);
    uint64_t numel = 1;
    for (int k = 0; k < ndim; k++) {
        if (shape[k] < 0 || (uint64_t)shape[k] > (uint64_t)SP_ST_MAX_INT)
            return sp_error(SP_ERR_ARG, "safetensors writer: tensor %s has bad dim %d = %" PRId64, name, k,
                            shape[k]);
        if (shape[k] && numel > UINT64_MAX / (uint64_t)shape[k])
            return sp_error(SP_ERR_ARG, "safetensors writer: tensor %s is too large", name);
        numel *= (uint64_t)shape[k];
    }
    uint64_t nbytes = numel * sp_dtype_size(dtype);
    if (numel && nbytes / numel != sp_dtype_size(dtype))
        return sp_error(SP_ERR_ARG, "safetensors writer: tensor %s is too large", name);
    if (!data && nbytes)
        return sp_error(SP_ERR_ARG, "safetensors writer: tensor %s has NULL data", name);
    for (int i = 0; i < w->n; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return sp_error(SP_ERR_ARG, "safetensors writer: duplicate tensor name %s", name);
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 64;
        sp_st_tensor *t = realloc(w->t, (size_t)cap * sizeof *t);
        if (!t) return sp_error(SP_ERR_NOMEM, "safetensors writer: out of memory");
        w->t = t;
        w->cap = cap;
    }
    sp_st_tensor *t = &w->t[w->n];
    memset(t, 0, sizeof *t);
    if (!(t->name = dupstr(name))) return sp_error(SP_ERR_NOMEM, "safetensors writer: out of memory");
    t->dtype = dtype;
    t->ndim = ndim;
    for (int k = 0; k < ndim; k++) t->shape[k] = shape[k];
    t->data = data;
    t->nbytes = (size_t)nbytes;
    w->n++;
    return 0;
}

/* Sets key to value (a later call for the same key replaces the value). */
int sp_st_writer_meta(sp_st_writer *w, const char *key, const char *value) {
    if (!w || !key || !value) return sp_error(SP_ERR_ARG, "safetensors writer: NULL metadata key or value");
    char *v = dupstr(value);
    if (!v) return sp_error(SP_ERR_NOMEM, "safetensors writer: out of memory");
    for (int i = 0; i < w->n_meta; i++)
        if (strcmp(w->meta_key[i], key) == 0) {
            free(w->meta_val[i]);
            w->meta_val[i] = v;
            return 0;
        }
    if (w->n_meta == w->cap_meta) {
        int cap = w->cap_meta ? 2 * w->cap_meta : 8;
        char **k = realloc(w->meta_key, (size_t)cap * sizeof *k);
        if (k) w->meta_key = k;
        char **vv = k ? realloc(w->meta_val, (size_t)cap * sizeof *vv) : NULL;
        if (!vv) { free(v); return sp_error(SP_ERR_NOMEM, "safetensors writer: out of memory"); }
        w->meta_val = vv;
        w->cap_meta = cap;
    }
    char *k = dupstr(key);
    if (!k) { free(v); return sp_error(SP_ERR_NOMEM, "safetensors writer: out of memory"); }
    w->meta_key[w->n_meta] = k;
    w->meta_val[w->n_meta] = v;
    w->n_meta++;
    return 0;
}

/* Exact integer JSON (cJSON numbers are doubles; print u64 ourselves). */
static cJSON *raw_u64_list(const uint64_t *v, int n) {
    char buf[4 * 24 + 8], *p = buf;
    *p++ = '[';
    for (int i = 0; i < n; i++) p += sprintf(p, "%s%" PRIu64, i ? "," : "", v[i]);
    *p++ = ']';
    *p = 0;
    return cJSON_CreateRaw(buf);
}

/* JSON header with offsets, printed unformatted; NULL + sp_error on failure. */
static char *build_header(const sp_st_writer *w) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    if (w->n_meta) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        for (int i = 0; m && i < w->n_meta; i++)
            if (!cJSON_AddStringToObject(m, w->meta_key[i], w->meta_val[i])) m = NULL;
        if (!m) goto fail;
    }
    uint64_t off = 0;
    for (int i = 0; i < w->n; i++) {
        const sp_st_tensor *t = &w->t[i];
        cJSON *e = cJSON_AddObjectToObject(root, t->name);
        uint64_t shape[SP_MAX_DIMS], range[2] = {off, off + t->nbytes};
        for (int k = 0; k < t->ndim; k++) shape[k] = (uint64_t)t->shape[k];
        cJSON *s = raw_u64_list(shape, t->ndim), *r = raw_u64_list(range, 2);
        if (!e || !s || !r || !cJSON_AddStringToObject(e, "dtype", sp_dtype_name(t->dtype))) {
            cJSON_Delete(s);
            cJSON_Delete(r);
            goto fail;
        }
        cJSON_AddItemToObject(e, "shape", s);
        cJSON_AddItemToObject(e, "data_offsets", r);
        off += t->nbytes;
    }
    char *txt = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return txt;
fail:
    cJSON_Delete(root);
    return NULL;
}

int sp_st_writer_save(sp_st_writer *w, const char *path) {
    if (!w || !path) return sp_error(SP_ERR_ARG, "safetensors writer: NULL writer or path");
    char *hdr = build_header(w);
    if (!hdr) return sp_error(SP_ERR_NOMEM, "%s: out of memory building the header", path);
    size_t hlen = strlen(hdr), padded = (hlen + 7) / 8 * 8;
    if (padded >= SP_ST_MAX_HEADER) {
        free(hdr);
        return sp_error(SP_ERR_ARG, "%s: header would be %zu bytes (limit 100 MB)", path, padded);
    }
    sp_atomic_file af;
    int rc = sp_atomic_open(&af, path);
    if (rc != 0) { free(hdr); return rc; }
    FILE *f = af.fp;
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(hdr, 1, hlen, f) == hlen;
    for (size_t i = hlen; ok && i < padded; i++) ok = fputc(' ', f) != EOF;
    for (int i = 0; ok && i < w->n; i++)
        ok = w->t[i].nbytes == 0 || fwrite(w->t[i].data, 1, w->t[i].nbytes, f) == w->t[i].nbytes;
    free(hdr);
    if (!ok) {
        int e = errno;
        sp_atomic_abort(&af);
        return sp_error(SP_ERR_IO, "%s: write failed: %s", path, strerror(e));
    }
    return sp_atomic_commit(&af);
}
