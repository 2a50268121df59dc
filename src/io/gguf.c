/* gguf.c: a validating reader of GGUF v2/v3 files (llama.cpp's model format).
 *
 * The file is mmapped read-only and checked before anything in it is trusted.
 * All numbers are little-endian; nothing in the header is aligned.
 *
 *   offset  field
 *   0       magic          u32   the bytes "GGUF" (0x46554747 read as u32)
 *   4       version        u32   2 or 3 (v1 used u32 counts: refused; v3 added
 *                                only big-endian files, which we refuse)
 *   8       n_tensors      u64   number of tensor infos
 *   16      n_kv           u64   number of metadata key/value pairs
 *   24      kv[n_kv]             each:
 *             key          gguf_string  (u64 length, then that many bytes, no NUL)
 *             value_type   u32   sp_gguf_type (0..12)
 *             value              by type: u8/i8/bool 1 byte, u16/i16 2, u32/i32/f32 4,
 *                                u64/i64/f64 8, string = gguf_string,
 *                                array = elem_type u32, n u64, then n values of
 *                                elem_type (arrays of arrays are refused)
 *   ..      tensor_info[n_tensors]   each:
 *             name         gguf_string
 *             n_dims       u32   1..4
 *             ne[n_dims]   u64   sizes, ne[0] the contiguous dimension
 *             type         u32   sp_ggml_type (block size and bytes per block in gguf_dequant.c)
 *             offset       u64   start of the data, relative to the data section,
 *                                a multiple of the alignment
 *   ..      padding to a multiple of the alignment (kv "general.alignment", a
 *           power of two, default 32)
 *   data    the data section: tensor t occupies [offset, offset + nbytes) with
 *           nbytes = ne[0]*ne[1]*ne[2]*ne[3] / block_size * block_bytes
 *
 * Checks: magic; version; counts against the bytes left (a kv takes >= 13 bytes,
 * a tensor info >= 24, an array element >= its size); every string and array
 * within the file; known value types; unique keys and tensor names; alignment;
 * n_dims <= 4; sizes without overflow; ne[0] a multiple of the block size; known
 * tensor types; each tensor inside the file. Errors are one line "FILE: problem".
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/gguf_dequant.h"
#include "sparsity.h"

#define GGUF_DEFAULT_ALIGNMENT 32

typedef struct {
    char *key;          /* NUL-terminated copy */
    uint32_t type;      /* sp_gguf_type */
    size_t off;         /* file offset of the value (strings: of their u64 length) */
    uint32_t elem_type; /* arrays: element type */
    uint64_t n;         /* arrays: element count */
    size_t *str_off;    /* string arrays: (n,) file offsets of each element */
} gguf_kv;

struct sp_gguf {
    char *path;
    const uint8_t *map;        /* (size,) the mmapped file */
    size_t size;
    uint32_t version;
    uint64_t alignment;
    size_t data_off;           /* file offset of the data section */
    int n_kv;
    gguf_kv *kv;               /* (n_kv,) */
    int n_tensors;
    sp_gguf_tensor *tensors;   /* (n_tensors,) */
    int *kv_hash, *t_hash;     /* open addressing, index+1 (0 = empty), (hash_cap,) each */
    uint32_t kv_cap, t_cap;
};

/* ------------------------------------------------------------------ bounded reader */

typedef struct {
    const char *path;
    const uint8_t *p;
    size_t size, pos;
} rd;

static int need(rd *r, uint64_t n, const char *what) {
    if (n > r->size - r->pos)
        return sp_error(SP_ERR_FORMAT, "%s: truncated: %s at offset %zu needs %llu bytes but only %zu remain",
                        r->path, what, r->pos, (unsigned long long)n, r->size - r->pos);
    return 0;
}

static int rd_u32(rd *r, uint32_t *v, const char *what) {
    if (need(r, 4, what)) return SP_ERR_FORMAT;
    memcpy(v, r->p + r->pos, 4);
    r->pos += 4;
    return 0;
}

static int rd_u64(rd *r, uint64_t *v, const char *what) {
    if (need(r, 8, what)) return SP_ERR_FORMAT;
    memcpy(v, r->p + r->pos, 8);
    r->pos += 8;
    return 0;
}

/* gguf_string: u64 length then bytes; *s points into the map. */
static int rd_str(rd *r, const char **s, uint64_t *len, const char *what) {
    char w[160];
    snprintf(w, sizeof w, "%s length", what);
    if (rd_u64(r, len, w)) return SP_ERR_FORMAT;
    if (*len > r->size - r->pos)
        return sp_error(SP_ERR_FORMAT, "%s: %s has length %llu at offset %zu, past the end of the file (%zu bytes)",
                        r->path, what, (unsigned long long)*len, r->pos - 8, r->size);
    *s = (const char *)r->p + r->pos;
    r->pos += *len;
    return 0;
}

/* NUL-terminated copy of a name from the file (which must hold no NUL). */
static char *dup_name(rd *r, const char *s, uint64_t len, const char *what) {
    if (memchr(s, 0, len)) {
        sp_error(SP_ERR_FORMAT, "%s: %s contains a NUL byte", r->path, what);
        return NULL;
    }
    char *c = malloc(len + 1);
    if (!c) {
        sp_error(SP_ERR_NOMEM, "%s: out of memory", r->path);
        return NULL;
    }
    memcpy(c, s, len);
    c[len] = 0;
    return c;
}

/* Bytes of one scalar value of type t; 0 for string/array, -1 if unknown. */
static int scalar_size(uint32_t t) {
    switch (t) {
    case SP_GGUF_UINT8: case SP_GGUF_INT8: case SP_GGUF_BOOL: return 1;
    case SP_GGUF_UINT16: case SP_GGUF_INT16: return 2;
    case SP_GGUF_UINT32: case SP_GGUF_INT32: case SP_GGUF_FLOAT32: return 4;
    case SP_GGUF_UINT64: case SP_GGUF_INT64: case SP_GGUF_FLOAT64: return 8;
    case SP_GGUF_STRING: case SP_GGUF_ARRAY: return 0;
    default: return -1;
    }
}

/* ------------------------------------------------------------------ name hash */

static uint32_t fnv1a(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static uint32_t hash_cap_for(int n) {
    uint32_t c = 16;
    while (c < 2u * (uint32_t)n) c <<= 1;
    return c;
}

/* Inserts item i named name; returns the index of an existing equal name, or -1. */
static int hash_insert(int *tab, uint32_t cap, const char *name, int i, const char *(*name_of)(const sp_gguf *, int),
                       const sp_gguf *g) {
    for (uint32_t h = fnv1a(name) & (cap - 1);; h = (h + 1) & (cap - 1)) {
        if (!tab[h]) {
            tab[h] = i + 1;
            return -1;
        }
        if (strcmp(name_of(g, tab[h] - 1), name) == 0) return tab[h] - 1;
    }
}

static int hash_find(const int *tab, uint32_t cap, const char *name, const char *(*name_of)(const sp_gguf *, int),
                     const sp_gguf *g) {
    if (!tab) return -1;
    for (uint32_t h = fnv1a(name) & (cap - 1); tab[h]; h = (h + 1) & (cap - 1))
        if (strcmp(name_of(g, tab[h] - 1), name) == 0) return tab[h] - 1;
    return -1;
}

static const char *kv_name(const sp_gguf *g, int i) { return g->kv[i].key; }
static const char *t_name(const sp_gguf *g, int i) { return g->tensors[i].name; }

/* ------------------------------------------------------------------ parsing */

static int parse_kv(sp_gguf *g, rd *r, int i) {
    gguf_kv *kv = &g->kv[i];
    char what[160];
    const char *s;
    uint64_t len;
    snprintf(what, sizeof what, "key of kv %d", i);
    if (rd_str(r, &s, &len, what)) return SP_ERR_FORMAT;
    if (!(kv->key = dup_name(r, s, len, what))) return SP_ERR_FORMAT;
    snprintf(what, sizeof what, "value type of key '%.80s'", kv->key);
    if (rd_u32(r, &kv->type, what)) return SP_ERR_FORMAT;
    if (scalar_size(kv->type) < 0)
        return sp_error(SP_ERR_FORMAT, "%s: key '%s' has unknown value type %u", r->path, kv->key, kv->type);
    kv->off = r->pos;
    snprintf(what, sizeof what, "value of key '%.80s'", kv->key);
    if (kv->type == SP_GGUF_STRING) return rd_str(r, &s, &len, what);
    if (kv->type != SP_GGUF_ARRAY) {
        if (need(r, (uint64_t)scalar_size(kv->type), what)) return SP_ERR_FORMAT;
        r->pos += (size_t)scalar_size(kv->type);
        return 0;
    }
    /* array */
    if (rd_u32(r, &kv->elem_type, what) || rd_u64(r, &kv->n, what)) return SP_ERR_FORMAT;
    kv->off = r->pos;
    int es = scalar_size(kv->elem_type);
    if (es < 0)
        return sp_error(SP_ERR_FORMAT, "%s: array '%s' has unknown element type %u", r->path, kv->key, kv->elem_type);
    if (kv->elem_type == SP_GGUF_ARRAY)
        return sp_error(SP_ERR_FORMAT, "%s: array '%s' holds arrays (nested arrays are not supported)", r->path, kv->key);
    uint64_t min_each = es ? (uint64_t)es : 8; /* a string takes at least its u64 length */
    if (kv->n > (r->size - r->pos) / min_each)
        return sp_error(SP_ERR_FORMAT, "%s: truncated or corrupt: array '%s' has %llu elements at offset %zu but only %zu bytes remain",
                        r->path, kv->key, (unsigned long long)kv->n, r->pos, r->size - r->pos);
    if (es) {
        r->pos += (size_t)(kv->n * min_each);
        return 0;
    }
    if (!(kv->str_off = malloc((kv->n ? kv->n : 1) * sizeof *kv->str_off)))
        return sp_error(SP_ERR_NOMEM, "%s: out of memory for array '%s'", r->path, kv->key);
    for (uint64_t j = 0; j < kv->n; j++) {
        kv->str_off[j] = r->pos;
        snprintf(what, sizeof what, "element %llu of array '%.80s'", (unsigned long long)j, kv->key);
        if (rd_str(r, &s, &len, what)) return SP_ERR_FORMAT;
    }
    return 0;
}

static int parse_tensor_info(sp_gguf *g, rd *r, int i) {
    sp_gguf_tensor *t = &g->tensors[i];
    char what[160];
    const char *s;
    uint64_t len;
    snprintf(what, sizeof what, "name of tensor %d", i);
    if (rd_str(r, &s, &len, what)) return SP_ERR_FORMAT;
    if (!(t->name = dup_name(r, s, len, what))) return SP_ERR_FORMAT;
    snprintf(what, sizeof what, "info of tensor '%.80s'", t->name);
    uint32_t nd;
    if (rd_u32(r, &nd, what)) return SP_ERR_FORMAT;
    if (nd < 1 || nd > 4)
        return sp_error(SP_ERR_FORMAT, "%s: tensor %s has n_dims %u (must be 1..4)", r->path, t->name, nd);
    t->n_dims = (int)nd;
    int64_t nel = 1;
    for (int d = 0; d < 4; d++) {
        uint64_t ne = 1;
        if (d < t->n_dims && rd_u64(r, &ne, what)) return SP_ERR_FORMAT;
        if (ne > (uint64_t)INT64_MAX || __builtin_mul_overflow(nel, (int64_t)ne, &nel))
            return sp_error(SP_ERR_FORMAT, "%s: tensor %s has too many elements (dimension %d is %llu)", r->path,
                            t->name, d, (unsigned long long)ne);
        t->ne[d] = (int64_t)ne;
    }
    if (rd_u32(r, &t->type, what) || rd_u64(r, &t->offset, what)) return SP_ERR_FORMAT;
    const sp_ggml_traits *tr = sp_ggml_traits_of(t->type);
    if (!tr) return sp_error(SP_ERR_FORMAT, "%s: tensor %s has unknown type %u", r->path, t->name, t->type);
    if (t->ne[0] % tr->blck)
        return sp_error(SP_ERR_FORMAT, "%s: tensor %s: row length %lld is not a multiple of the %s block size %d",
                        r->path, t->name, (long long)t->ne[0], tr->name, tr->blck);
    if ((uint64_t)(nel / tr->blck) > SIZE_MAX / (uint64_t)tr->size)
        return sp_error(SP_ERR_FORMAT, "%s: tensor %s is too large", r->path, t->name);
    t->nbytes = sp_ggml_nbytes(t->type, nel);
    if (t->offset % g->alignment)
        return sp_error(SP_ERR_FORMAT, "%s: tensor %s offset %llu is not a multiple of the alignment %llu", r->path,
                        t->name, (unsigned long long)t->offset, (unsigned long long)g->alignment);
    return 0;
}

static int read_alignment(sp_gguf *g) {
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    int i = sp_gguf_find_key(g, "general.alignment");
    if (i < 0) return 0;
    int64_t a;
    uint32_t ty = g->kv[i].type;
    if (ty == SP_GGUF_FLOAT32 || ty == SP_GGUF_FLOAT64 || ty == SP_GGUF_BOOL || sp_gguf_get_i64(g, "general.alignment", &a))
        return sp_error(SP_ERR_FORMAT, "%s: general.alignment is not an integer", g->path);
    if (a <= 0 || (a & (a - 1)) || a > (1 << 30))
        return sp_error(SP_ERR_FORMAT, "%s: general.alignment %lld is not a power of two", g->path, (long long)a);
    g->alignment = (uint64_t)a;
    return 0;
}

static int parse(sp_gguf *g) {
    rd r = {g->path, g->map, g->size, 0};
    uint32_t magic;
    if (rd_u32(&r, &magic, "magic")) return SP_ERR_FORMAT;
    if (memcmp(g->map, "GGUF", 4) != 0)
        return sp_error(SP_ERR_FORMAT, "%s: bad magic 0x%08x (expected \"GGUF\"): not a GGUF file", g->path, magic);
    if (rd_u32(&r, &g->version, "version")) return SP_ERR_FORMAT;
    if (g->version != 2 && g->version != 3) {
        if ((g->version & 0xffff) == 0 && (g->version >> 16) != 0)
            return sp_error(SP_ERR_UNSUPPORTED, "%s: big-endian GGUF files are not supported", g->path);
        return sp_error(SP_ERR_UNSUPPORTED, "%s: GGUF version %u is not supported (need 2 or 3)", g->path, g->version);
    }
    uint64_t nt, nkv;
    if (rd_u64(&r, &nt, "tensor count") || rd_u64(&r, &nkv, "kv count")) return SP_ERR_FORMAT;
    /* a kv takes >= 13 bytes (key length 8, type 4, value 1), a tensor info >= 24 */
    if (nkv > (r.size - r.pos) / 13 || nkv > INT_MAX)
        return sp_error(SP_ERR_FORMAT, "%s: truncated or corrupt: kv count %llu but only %zu bytes remain", g->path,
                        (unsigned long long)nkv, r.size - r.pos);
    if (nt > (r.size - r.pos) / 24 || nt > INT_MAX)
        return sp_error(SP_ERR_FORMAT, "%s: truncated or corrupt: tensor count %llu but only %zu bytes remain", g->path,
                        (unsigned long long)nt, r.size - r.pos);
    g->kv = calloc(nkv ? nkv : 1, sizeof *g->kv);
    g->tensors = calloc(nt ? nt : 1, sizeof *g->tensors);
    g->kv_cap = hash_cap_for((int)nkv);
    g->t_cap = hash_cap_for((int)nt);
    g->kv_hash = calloc(g->kv_cap, sizeof *g->kv_hash);
    g->t_hash = calloc(g->t_cap, sizeof *g->t_hash);
    if (!g->kv || !g->tensors || !g->kv_hash || !g->t_hash) return sp_error(SP_ERR_NOMEM, "%s: out of memory", g->path);

    for (int i = 0; i < (int)nkv; i++) {
        g->n_kv = i + 1; /* so free() sees what was allocated */
        if (parse_kv(g, &r, i)) return SP_ERR_FORMAT;
        if (hash_insert(g->kv_hash, g->kv_cap, g->kv[i].key, i, kv_name, g) >= 0)
            return sp_error(SP_ERR_FORMAT, "%s: duplicate key '%s'", g->path, g->kv[i].key);
    }
    if (read_alignment(g)) return SP_ERR_FORMAT;
    for (int i = 0; i < (int)nt; i++) {
        g->n_tensors = i + 1;
        if (parse_tensor_info(g, &r, i)) return SP_ERR_FORMAT;
        if (hash_insert(g->t_hash, g->t_cap, g->tensors[i].name, i, t_name, g) >= 0)
            return sp_error(SP_ERR_FORMAT, "%s: duplicate tensor name '%s'", g->path, g->tensors[i].name);
    }
    /* data section: after padding to the alignment */
    size_t pad = (size_t)((g->alignment - r.pos % g->alignment) % g->alignment);
    if (nt > 0 && pad > r.size - r.pos)
        return sp_error(SP_ERR_FORMAT, "%s: truncated: data section at offset %zu is past the end of the file (%zu bytes)",
                        g->path, r.pos + pad, g->size);
    g->data_off = r.pos + pad;
    size_t data_len = g->size > g->data_off ? g->size - g->data_off : 0;
    for (int i = 0; i < g->n_tensors; i++) {
        sp_gguf_tensor *t = &g->tensors[i];
        if (t->offset > data_len || t->nbytes > data_len - t->offset)
            return sp_error(SP_ERR_FORMAT,
                            "%s: tensor %s data at offset %llu (%zu bytes) runs past the end of the file (data section holds %zu bytes)",
                            g->path, t->name, (unsigned long long)t->offset, t->nbytes, data_len);
        t->data = g->map + g->data_off + t->offset;
    }
    return 0;
}

/* ------------------------------------------------------------------ open / free */

sp_gguf *sp_gguf_open(const char *path) {
    sp_gguf *g = calloc(1, sizeof *g);
    if (!g || !(g->path = strdup(path))) {
        free(g);
        sp_error(SP_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        sp_error(SP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        sp_error(SP_ERR_IO, "%s: not a regular file", path);
        close(fd);
        goto fail;
    }
    if (st.st_size == 0) {
        sp_error(SP_ERR_FORMAT, "%s: empty file, not a GGUF file", path);
        close(fd);
        goto fail;
    }
    g->size = (size_t)st.st_size;
    void *m = mmap(NULL, g->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        sp_error(SP_ERR_IO, "%s: mmap failed: %s", path, strerror(errno));
        goto fail;
    }
    g->map = m;
    if (parse(g) == 0) return g;
fail:
    sp_gguf_free(g);
    return NULL;
}

void sp_gguf_free(sp_gguf *g) {
    if (!g) return;
    for (int i = 0; i < g->n_kv; i++) {
        free(g->kv[i].key);
        free(g->kv[i].str_off);
    }
    for (int i = 0; i < g->n_tensors; i++) free((char *)g->tensors[i].name);
    free(g->kv);
    free(g->tensors);
    free(g->kv_hash);
    free(g->t_hash);
    if (g->map) munmap((void *)g->map, g->size);
    free(g->path);
    free(g);
}

uint32_t sp_gguf_version(const sp_gguf *g) { return g->version; }

/* ------------------------------------------------------------------ metadata */

int sp_gguf_n_kv(const sp_gguf *g) { return g->n_kv; }

const char *sp_gguf_kv_key(const sp_gguf *g, int i) { return i >= 0 && i < g->n_kv ? g->kv[i].key : NULL; }

int sp_gguf_find_key(const sp_gguf *g, const char *key) { return hash_find(g->kv_hash, g->kv_cap, key, kv_name, g); }

sp_gguf_type sp_gguf_kv_type(const sp_gguf *g, int i) {
    return i >= 0 && i < g->n_kv ? (sp_gguf_type)g->kv[i].type : (sp_gguf_type)-1;
}

/* Scalar of type t at p as double and (when exact) int64; returns 0 if t is numeric. */
static int load_num(uint32_t t, const uint8_t *p, double *d, int64_t *i, int *i_ok) {
    union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32; float f32;
            uint64_t u64; int64_t i64; double f64; } v;
    int sz = scalar_size(t);
    if (sz <= 0) return -1;
    memcpy(&v, p, (size_t)sz);
    *i_ok = 1;
    switch (t) {
    case SP_GGUF_UINT8: case SP_GGUF_BOOL: *i = v.u8; break;
    case SP_GGUF_INT8: *i = v.i8; break;
    case SP_GGUF_UINT16: *i = v.u16; break;
    case SP_GGUF_INT16: *i = v.i16; break;
    case SP_GGUF_UINT32: *i = v.u32; break;
    case SP_GGUF_INT32: *i = v.i32; break;
    case SP_GGUF_INT64: *i = v.i64; break;
    case SP_GGUF_UINT64: *i = (int64_t)v.u64; *i_ok = v.u64 <= (uint64_t)INT64_MAX; *d = (double)v.u64; return 0;
    case SP_GGUF_FLOAT32: case SP_GGUF_FLOAT64: {
        double x = t == SP_GGUF_FLOAT32 ? (double)v.f32 : v.f64;
        *d = x;
        *i_ok = x >= -9.2233720368547758e18 && x < 9.2233720368547758e18; /* also false for NaN */
        *i = *i_ok ? (int64_t)x : 0;
        return 0;
    }
    default: return -1;
    }
    *d = (double)*i;
    return 0;
}

static const gguf_kv *get_kv(const sp_gguf *g, const char *key) {
    int i = sp_gguf_find_key(g, key);
    if (i < 0) {
        sp_error(SP_ERR_FORMAT, "%s: key '%s' not found", g->path, key);
        return NULL;
    }
    return &g->kv[i];
}

int sp_gguf_get_i64(const sp_gguf *g, const char *key, int64_t *out) {
    const gguf_kv *kv = get_kv(g, key);
    if (!kv) return SP_ERR_FORMAT;
    double d;
    int ok;
    if (load_num(kv->type, g->map + kv->off, &d, out, &ok))
        return sp_error(SP_ERR_FORMAT, "%s: key '%s' is not a number", g->path, key);
    if (!ok) return sp_error(SP_ERR_FORMAT, "%s: key '%s' value %g does not fit in int64", g->path, key, d);
    return 0;
}

int sp_gguf_get_f64(const sp_gguf *g, const char *key, double *out) {
    const gguf_kv *kv = get_kv(g, key);
    if (!kv) return SP_ERR_FORMAT;
    int64_t i;
    int ok;
    if (load_num(kv->type, g->map + kv->off, out, &i, &ok))
        return sp_error(SP_ERR_FORMAT, "%s: key '%s' is not a number", g->path, key);
    return 0;
}

static void load_str(const sp_gguf *g, size_t off, const char **s, size_t *len) {
    uint64_t n;
    memcpy(&n, g->map + off, 8);
    *s = (const char *)g->map + off + 8;
    *len = (size_t)n;
}

int sp_gguf_get_str(const sp_gguf *g, const char *key, const char **s, size_t *len) {
    const gguf_kv *kv = get_kv(g, key);
    if (!kv) return SP_ERR_FORMAT;
    if (kv->type != SP_GGUF_STRING) return sp_error(SP_ERR_FORMAT, "%s: key '%s' is not a string", g->path, key);
    load_str(g, kv->off, s, len);
    return 0;
}

int sp_gguf_get_arr(const sp_gguf *g, const char *key, sp_gguf_type *elem_type, uint64_t *n) {
    const gguf_kv *kv = get_kv(g, key);
    if (!kv) return SP_ERR_FORMAT;
    if (kv->type != SP_GGUF_ARRAY) return sp_error(SP_ERR_FORMAT, "%s: key '%s' is not an array", g->path, key);
    if (elem_type) *elem_type = (sp_gguf_type)kv->elem_type;
    if (n) *n = kv->n;
    return 0;
}

static const gguf_kv *get_elem(const sp_gguf *g, const char *key, uint64_t i) {
    const gguf_kv *kv = get_kv(g, key);
    if (!kv) return NULL;
    if (kv->type != SP_GGUF_ARRAY) {
        sp_error(SP_ERR_FORMAT, "%s: key '%s' is not an array", g->path, key);
        return NULL;
    }
    if (i >= kv->n) {
        sp_error(SP_ERR_ARG, "%s: index %llu out of range for array '%s' of %llu elements", g->path,
                 (unsigned long long)i, key, (unsigned long long)kv->n);
        return NULL;
    }
    return kv;
}

int sp_gguf_get_arr_str(const sp_gguf *g, const char *key, uint64_t i, const char **s, size_t *len) {
    const gguf_kv *kv = get_elem(g, key, i);
    if (!kv) return SP_ERR_FORMAT;
    if (kv->elem_type != SP_GGUF_STRING)
        return sp_error(SP_ERR_FORMAT, "%s: array '%s' does not hold strings", g->path, key);
    load_str(g, kv->str_off[i], s, len);
    return 0;
}

int sp_gguf_get_arr_f64(const sp_gguf *g, const char *key, uint64_t i, double *out) {
    const gguf_kv *kv = get_elem(g, key, i);
    if (!kv) return SP_ERR_FORMAT;
    int64_t iv;
    int ok, es = scalar_size(kv->elem_type);
    if (es <= 0 || load_num(kv->elem_type, g->map + kv->off + (size_t)i * (size_t)es, out, &iv, &ok))
        return sp_error(SP_ERR_FORMAT, "%s: array '%s' does not hold numbers", g->path, key);
    return 0;
}

/* ------------------------------------------------------------------ tensors */

int sp_gguf_n_tensors(const sp_gguf *g) { return g->n_tensors; }

const sp_gguf_tensor *sp_gguf_tensor_at(const sp_gguf *g, int i) {
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

int sp_gguf_find_tensor(const sp_gguf *g, const char *name) { return hash_find(g->t_hash, g->t_cap, name, t_name, g); }

int sp_gguf_dequantize(const sp_gguf_tensor *t, float *out) {
    int64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    int rc = sp_ggml_dequant(t->type, t->data, out, n);
    if (rc) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", sp_last_error());
        return sp_error(rc, "tensor %s: %s", t->name, msg);
    }
    return 0;
}
