/* gguf_dump: prints a GGUF file's metadata and tensor infos through the sp_gguf API,
 * one tab-separated record per line, for tests/py/test_gguf*.py:
 *
 *   version  V
 *   kv       KEY  TYPE  VALUE            (strings C-escaped: \\ \t \n \r \xHH)
 *   kv       KEY  ARRAY[ELEM]  N         arrays: element type and count
 *   elem     KEY  I  VALUE               with --full: every array element
 *   tensor   NAME  TYPE  ne0,ne1,..  OFFSET  NBYTES
 *
 * usage: gguf_dump FILE [--full] [--quiet] [--tensor NAME OUT.f32]...
 * --tensor writes the dequantized tensor as raw little-endian float32. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sparsity.h"

static const char *vt_name(int t) {
    static const char *n[] = {"UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32",
                              "BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64"};
    return t >= 0 && t <= 12 ? n[t] : "?";
}

static void put_str(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\') fputs("\\\\", stdout);
        else if (c == '\t') fputs("\\t", stdout);
        else if (c == '\n') fputs("\\n", stdout);
        else if (c == '\r') fputs("\\r", stdout);
        else if (c < 0x20 || c == 0x7f) printf("\\x%02x", c);
        else putchar(c);
    }
}

static int fail(void) {
    fprintf(stderr, "gguf_dump: %s\n", sp_last_error());
    return 1;
}

static int print_kv(const sp_gguf *g, int i, int full) {
    const char *key = sp_gguf_kv_key(g, i);
    int t = (int)sp_gguf_kv_type(g, i);
    printf("kv\t%s\t", key);
    if (t == SP_GGUF_ARRAY) {
        sp_gguf_type et;
        uint64_t n;
        if (sp_gguf_get_arr(g, key, &et, &n)) return -1;
        printf("ARRAY[%s]\t%llu\n", vt_name((int)et), (unsigned long long)n);
        for (uint64_t j = 0; full && j < n; j++) {
            printf("elem\t%s\t%llu\t", key, (unsigned long long)j);
            if (et == SP_GGUF_STRING) {
                const char *s;
                size_t len;
                if (sp_gguf_get_arr_str(g, key, j, &s, &len)) return -1;
                put_str(s, len);
            } else {
                double d;
                if (sp_gguf_get_arr_f64(g, key, j, &d)) return -1;
                printf("%.17g", d);
            }
            putchar('\n');
        }
        return 0;
    }
    printf("%s\t", vt_name(t));
    if (t == SP_GGUF_STRING) {
        const char *s;
        size_t len;
        if (sp_gguf_get_str(g, key, &s, &len)) return -1;
        put_str(s, len);
    } else if (t == SP_GGUF_FLOAT32 || t == SP_GGUF_FLOAT64) {
        double d;
        if (sp_gguf_get_f64(g, key, &d)) return -1;
        printf("%.17g", d);
    } else {
        int64_t v;
        double d;
        if (sp_gguf_get_i64(g, key, &v) == 0) printf("%lld", (long long)v);
        else if (sp_gguf_get_f64(g, key, &d) == 0) printf("%.17g", d); /* UINT64 above INT64_MAX */
        else return -1;
    }
    putchar('\n');
    return 0;
}

static int dump_tensor(const sp_gguf *g, const char *name, const char *out) {
    int i = sp_gguf_find_tensor(g, name);
    if (i < 0) {
        fprintf(stderr, "gguf_dump: no tensor named %s\n", name);
        return 1;
    }
    const sp_gguf_tensor *t = sp_gguf_tensor_at(g, i);
    size_t n = (size_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
    float *buf = malloc((n ? n : 1) * sizeof *buf);
    if (!buf) return fprintf(stderr, "gguf_dump: out of memory\n"), 1;
    if (sp_gguf_dequantize(t, buf)) {
        free(buf);
        return fail();
    }
    FILE *f = fopen(out, "wb");
    int bad = !f || fwrite(buf, sizeof *buf, n, f) != n;
    if (f) bad |= fclose(f) != 0;
    free(buf);
    if (bad) fprintf(stderr, "gguf_dump: %s: cannot write\n", out);
    return bad;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: gguf_dump FILE [--full] [--quiet] [--tensor NAME OUT.f32]...\n");
        return 2;
    }
    int full = 0, quiet = 0;
    for (int a = 2; a < argc; a++) {
        if (!strcmp(argv[a], "--full")) full = 1;
        else if (!strcmp(argv[a], "--quiet")) quiet = 1;
        else if (!strcmp(argv[a], "--tensor") && a + 2 < argc) a += 2;
        else return fprintf(stderr, "gguf_dump: bad argument %s\n", argv[a]), 2;
    }
    sp_gguf *g = sp_gguf_open(argv[1]);
    if (!g) return fail();
    int rc = 0;
    if (!quiet) {
        printf("version\t%u\n", sp_gguf_version(g));
        for (int i = 0; i < sp_gguf_n_kv(g) && !rc; i++)
            if (print_kv(g, i, full)) rc = fail();
        for (int i = 0; i < sp_gguf_n_tensors(g) && !rc; i++) {
            const sp_gguf_tensor *t = sp_gguf_tensor_at(g, i);
            printf("tensor\t%s\t%s\t", t->name, sp_ggml_type_name(t->type));
            for (int d = 0; d < t->n_dims; d++) printf(d ? ",%lld" : "%lld", (long long)t->ne[d]);
            printf("\t%llu\t%zu\n", (unsigned long long)t->offset, t->nbytes);
        }
    }
    for (int a = 2; a < argc && !rc; a++)
        if (!strcmp(argv[a], "--tensor")) rc = dump_tensor(g, argv[a + 1], argv[a + 2]), a += 2;
    sp_gguf_free(g);
    return rc;
}
