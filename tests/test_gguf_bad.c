/* test_gguf_bad: the GGUF reader on every truncation and on random corruptions of a
 * small valid file. Each open must either fail with a message naming the file or
 * succeed with every tensor inside the file (dequantized fully: ASan checks bounds). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sparsity.h"

typedef struct {
    uint8_t b[4096];
    size_t n;
} buf;

static void put(buf *f, const void *p, size_t n) { memcpy(f->b + f->n, p, n), f->n += n; }
static void u32(buf *f, uint32_t v) { put(f, &v, 4); }
static void u64(buf *f, uint64_t v) { put(f, &v, 8); }
static void str(buf *f, const char *s) { u64(f, strlen(s)), put(f, s, strlen(s)); }

static void tinfo(buf *f, const char *name, int nd, const uint64_t *ne, uint32_t type, uint64_t off) {
    str(f, name);
    u32(f, (uint32_t)nd);
    for (int d = 0; d < nd; d++) u64(f, ne[d]);
    u32(f, type);
    u64(f, off);
}

/* A valid v3 file: 4 kvs (string, u32, string array, f32 array), 4 tensors. */
static void build(buf *f) {
    f->n = 0;
    put(f, "GGUF", 4);
    u32(f, 3);
    u64(f, 4); /* tensors */
    u64(f, 4); /* kvs */
    str(f, "general.architecture"), u32(f, SP_GGUF_STRING), str(f, "llama");
    str(f, "general.alignment"), u32(f, SP_GGUF_UINT32), u32(f, 32);
    str(f, "tok"), u32(f, SP_GGUF_ARRAY), u32(f, SP_GGUF_STRING), u64(f, 3);
    str(f, "a"), str(f, "bc"), str(f, "");
    str(f, "w"), u32(f, SP_GGUF_ARRAY), u32(f, SP_GGUF_FLOAT32), u64(f, 2), u32(f, 0x3f800000), u32(f, 0x40000000);
    uint64_t ne_a[1] = {8}, ne_b[2] = {32, 2}, ne_c[2] = {64, 1}, ne_d[1] = {256};
    /* data: a F32 32 B @0, b Q8_0 68 B @32, c Q4_1 40 B @128, d Q6_K 210 B @192 */
    tinfo(f, "a", 1, ne_a, SP_GGML_F32, 0);
    tinfo(f, "b", 2, ne_b, SP_GGML_Q8_0, 32);
    tinfo(f, "c", 2, ne_c, SP_GGML_Q4_1, 128);
    tinfo(f, "d", 1, ne_d, SP_GGML_Q6_K, 192);
    while (f->n % 32) f->b[f->n++] = 0;
    size_t data = f->n;
    for (int i = 0; i < 402; i++) f->b[f->n++] = (uint8_t)(i * 37 + 11);
    /* keep f16 scales finite: 0x3c00 = 1.0 */
    uint16_t one = 0x3c00;
    memcpy(f->b + data + 32, &one, 2), memcpy(f->b + data + 32 + 34, &one, 2);
    memcpy(f->b + data + 128, &one, 2), memcpy(f->b + data + 130, &one, 2);
    memcpy(f->b + data + 128 + 20, &one, 2), memcpy(f->b + data + 130 + 20, &one, 2);
    memcpy(f->b + data + 192 + 208, &one, 2);
}

static char path[4200];
static int n_ok, n_fail;

/* Writes len bytes of b to path, opens it, checks the contract. */
static void try_open(const uint8_t *b, size_t len, int must_fail, const char *what) {
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(b, 1, len, fp) != len || fclose(fp) != 0) {
        fprintf(stderr, "test_gguf_bad: cannot write %s\n", path);
        exit(1);
    }
    sp_gguf *g = sp_gguf_open(path);
    if (!g) {
        const char *msg = sp_last_error();
        if (strncmp(msg, path, strlen(path)) != 0 || strchr(msg, '\n')) {
            fprintf(stderr, "FAIL %s: message does not start with the path or has a newline: %s\n", what, msg);
            exit(1);
        }
        n_fail++;
        return;
    }
    if (must_fail) {
        fprintf(stderr, "FAIL %s: opened a broken file\n", what);
        exit(1);
    }
    n_ok++;
    for (int i = 0; i < sp_gguf_n_tensors(g); i++) {
        const sp_gguf_tensor *t = sp_gguf_tensor_at(g, i);
        if (t->offset > len || t->nbytes > len - t->offset || !t->data) {
            fprintf(stderr, "FAIL %s: tensor %s at %llu of %zu bytes in a %zu-byte file\n", what, t->name,
                    (unsigned long long)t->offset, t->nbytes, len);
            exit(1);
        }
        int64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
        if (n > (1 << 20)) continue; /* allowed only if inside the file; skip the work */
        float *out = malloc((size_t)(n ? n : 1) * sizeof *out);
        if (sp_gguf_dequantize(t, out) == 0 && n > 0) {
            volatile float sink = out[n - 1];
            (void)sink;
        }
        free(out);
    }
    /* getters on whatever keys survived */
    for (int i = 0; i < sp_gguf_n_kv(g); i++) {
        const char *k = sp_gguf_kv_key(g, i), *s;
        size_t sl;
        int64_t iv;
        double dv;
        sp_gguf_type et;
        uint64_t an;
        sp_gguf_get_i64(g, k, &iv), sp_gguf_get_f64(g, k, &dv), sp_gguf_get_str(g, k, &s, &sl);
        if (sp_gguf_get_arr(g, k, &et, &an) == 0)
            for (uint64_t j = 0; j < an && j < 8; j++) sp_gguf_get_arr_str(g, k, j, &s, &sl), sp_gguf_get_arr_f64(g, k, j, &dv);
    }
    sp_gguf_free(g);
}

int main(void) {
    unsigned seed = getenv("SP_SEED") ? (unsigned)atoi(getenv("SP_SEED")) : (unsigned)time(NULL);
    printf("test_gguf_bad seed %u\n", seed);
    srand(seed);
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(path, sizeof path, "%s/test_gguf_bad.%d.gguf", tmp, (int)getpid());

    static buf f;
    build(&f);
    try_open(f.b, f.n, 0, "valid file");
    if (n_ok != 1) {
        fprintf(stderr, "FAIL: the valid file did not open: %s\n", sp_last_error());
        return 1;
    }
    sp_gguf *g = sp_gguf_open(path);
    int64_t al;
    const char *s;
    size_t sl;
    if (!g || sp_gguf_n_tensors(g) != 4 || sp_gguf_get_i64(g, "general.alignment", &al) || al != 32 ||
        sp_gguf_get_arr_str(g, "tok", 1, &s, &sl) || sl != 2 || memcmp(s, "bc", 2) ||
        sp_gguf_find_tensor(g, "d") != 3 || sp_gguf_find_tensor(g, "zz") != -1 || sp_gguf_find_key(g, "w") != 3) {
        fprintf(stderr, "FAIL: valid file reads back wrong\n");
        return 1;
    }
    sp_gguf_free(g);
    sp_gguf_free(NULL);

    char what[64];
    for (size_t cut = 0; cut < f.n; cut++) { /* every truncation */
        snprintf(what, sizeof what, "cut at %zu", cut);
        try_open(f.b, cut, 1, what);
    }
    static uint8_t m[sizeof f.b];
    for (int it = 0; it < 4000; it++) { /* 1..4 random bytes replaced */
        memcpy(m, f.b, f.n);
        int k = 1 + rand() % 4;
        for (int j = 0; j < k; j++) {
            size_t at = (size_t)rand() % f.n;
            int r = rand() % 4;
            m[at] = r == 0 ? 0xff : r == 1 ? 0 : r == 2 ? (uint8_t)(m[at] ^ (1u << (rand() % 8))) : (uint8_t)rand();
        }
        snprintf(what, sizeof what, "corruption %d", it);
        try_open(m, f.n, 0, what);
    }
    unlink(path);
    printf("test_gguf_bad: %d opened, %d refused with a message: ok\n", n_ok, n_fail);
    return 0;
}
