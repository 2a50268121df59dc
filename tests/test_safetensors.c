/* test_safetensors.c: writer -> reader round trip (every dtype, shapes from scalar
 * to 4-D and 0-size, metadata), writer argument errors, atomic failure, and
 * randomly corrupted headers (must fail cleanly or stay within the file). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sparsity.h"

static int fails;
#define CHECK(c)                                                                   \
    do {                                                                           \
        if (!(c)) {                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); \
            fails++;                                                               \
        }                                                                          \
    } while (0)

static uint64_t rng;
static uint64_t next_u64(void) { /* splitmix64 */
    uint64_t z = (rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void fill_random(uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)next_u64();
    if (n) p[0] |= 1; /* never all zero */
}

typedef struct {
    char name[64];
    sp_dtype dt;
    int ndim;
    int64_t shape[SP_MAX_DIMS];
    uint8_t *data;
    size_t nbytes;
} case_t;

static char dir[256];

static void test_round_trip(void) {
    static const int shapes[][5] = { /* ndim, dims */
        {0, 0, 0, 0, 0}, {1, 1, 0, 0, 0}, {1, 0, 0, 0, 0}, {1, 37, 0, 0, 0},
        {2, 5, 7, 0, 0}, {2, 3, 0, 0, 0}, {3, 2, 3, 4, 0}, {4, 2, 1, 3, 5},
    };
    int nshape = (int)(sizeof shapes / sizeof shapes[0]);
    int n = SP_DTYPE_COUNT * nshape;
    case_t *cs = calloc((size_t)n, sizeof *cs);
    sp_st_writer *w = sp_st_writer_new();
    CHECK(w != NULL);
    int k = 0;
    for (int d = 0; d < SP_DTYPE_COUNT; d++)
        for (int s = 0; s < nshape; s++, k++) {
            case_t *c = &cs[k];
            /* vary the insertion order relative to the name order */
            snprintf(c->name, sizeof c->name, "t%02d.%s.shape%d", (k * 7) % n, sp_dtype_name((sp_dtype)d), s);
            c->dt = (sp_dtype)d;
            c->ndim = shapes[s][0];
            size_t numel = 1;
            for (int j = 0; j < c->ndim; j++) numel *= (size_t)(c->shape[j] = shapes[s][1 + j]);
            c->nbytes = numel * sp_dtype_size(c->dt);
            c->data = malloc(c->nbytes + 1);
            fill_random(c->data, c->nbytes);
            CHECK(sp_st_writer_add(w, c->name, c->dt, c->ndim, c->shape, c->data) == 0);
        }
    const char *mk[] = {"format", "sparsity", "empty", "unicode"};
    const char *mv[] = {"pt", "{\"method\": \"wanda\",\n \"ratio\": 0.5}", "", "h\xc3\xa9llo \\ \"q\" \t"};
    for (int i = 0; i < 4; i++) CHECK(sp_st_writer_meta(w, mk[i], i == 0 ? "np" : mv[i]) == 0);
    CHECK(sp_st_writer_meta(w, "format", "pt") == 0); /* replaces */

    char path[512];
    snprintf(path, sizeof path, "%s/rt.safetensors", dir);
    CHECK(sp_st_writer_save(w, path) == 0);
    sp_st_writer_free(w);

    sp_st *st = sp_st_open(path);
    if (!st) { fprintf(stderr, "open: %s\n", sp_last_error()); fails++; return; }
    CHECK(sp_st_n_tensors(st) == n);
    CHECK(sp_st_n_meta(st) == 4);
    for (int i = 0; i < 4; i++) {
        const char *v = sp_st_meta(st, mk[i]);
        CHECK(v && strcmp(v, mv[i]) == 0);
        CHECK(sp_st_meta_key(st, i) && strcmp(sp_st_meta_key(st, i), mk[i]) == 0);
    }
    CHECK(sp_st_meta(st, "absent") == NULL);
    CHECK(sp_st_meta_key(st, 4) == NULL);
    for (int i = 0; i < n; i++) {
        const case_t *c = &cs[i];
        const sp_st_tensor *t = sp_st_find(st, c->name);
        CHECK(t != NULL);
        CHECK(sp_st_tensor_at(st, i) == t); /* header keeps insertion order */
        if (!t) continue;
        CHECK(strcmp(t->name, c->name) == 0);
        CHECK(t->dtype == c->dt && t->ndim == c->ndim && t->nbytes == c->nbytes);
        for (int j = 0; j < c->ndim; j++) CHECK(t->shape[j] == c->shape[j]);
        CHECK(c->nbytes == 0 || memcmp(t->data, c->data, c->nbytes) == 0);
    }
    CHECK(sp_st_find(st, "nope") == NULL);
    CHECK(sp_st_tensor_at(st, n) == NULL && sp_st_tensor_at(st, -1) == NULL);
    sp_st_free(st);

    /* header padded to 8 bytes: the data section starts 8-aligned */
    FILE *f = fopen(path, "rb");
    uint8_t h[8];
    CHECK(f && fread(h, 1, 8, f) == 8);
    if (f) fclose(f);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | h[i];
    CHECK(hl % 8 == 0);

    for (int i = 0; i < n; i++) free(cs[i].data);
    free(cs);
}

static void test_writer_errors(void) {
    sp_st_writer *w = sp_st_writer_new();
    float x[6] = {1, 2, 3, 4, 5, 6};
    int64_t s2[2] = {2, 3}, neg[1] = {-1}, s5[5] = {1, 1, 1, 1, 6};
    CHECK(sp_st_writer_add(w, "a", SP_DTYPE_F32, 2, s2, x) == 0);
    CHECK(sp_st_writer_add(w, "a", SP_DTYPE_F32, 2, s2, x) == SP_ERR_ARG);
    CHECK(strstr(sp_last_error(), "duplicate") && strstr(sp_last_error(), "a"));
    CHECK(sp_st_writer_add(w, "b", SP_DTYPE_F32, 2, s2, NULL) == SP_ERR_ARG);
    CHECK(strstr(sp_last_error(), "NULL data") != NULL);
    CHECK(sp_st_writer_add(w, "c", (sp_dtype)99, 2, s2, x) == SP_ERR_ARG);
    CHECK(sp_st_writer_add(w, "d", SP_DTYPE_COUNT, 2, s2, x) == SP_ERR_ARG);
    CHECK(sp_st_writer_add(w, "e", SP_DTYPE_F32, 1, neg, x) == SP_ERR_ARG);
    CHECK(sp_st_writer_add(w, "f", SP_DTYPE_F32, 5, s5, x) == SP_ERR_ARG);
    CHECK(sp_st_writer_add(w, "__metadata__", SP_DTYPE_F32, 2, s2, x) == SP_ERR_ARG);
    CHECK(sp_st_writer_add(w, "", SP_DTYPE_F32, 2, s2, x) == SP_ERR_ARG);
    CHECK(sp_st_writer_add(w, NULL, SP_DTYPE_F32, 2, s2, x) == SP_ERR_ARG);
    CHECK(sp_st_writer_meta(w, "k", NULL) == SP_ERR_ARG);

    /* failure to create the file leaves nothing behind */
    char bad[512];
    snprintf(bad, sizeof bad, "%s/no/such/dir/x.safetensors", dir);
    CHECK(sp_st_writer_save(w, bad) == SP_ERR_IO);
    CHECK(access(bad, F_OK) != 0);
    /* the writer still works after errors: only "a" is in */
    char ok[512];
    snprintf(ok, sizeof ok, "%s/ok.safetensors", dir);
    CHECK(sp_st_writer_save(w, ok) == 0);
    sp_st *st = sp_st_open(ok);
    CHECK(st && sp_st_n_tensors(st) == 1 && sp_st_n_meta(st) == 0);
    sp_st_free(st);
    sp_st_writer_free(w);
    sp_st_writer_free(NULL);
    sp_st_free(NULL);
    CHECK(sp_st_n_tensors(NULL) == 0 && sp_st_find(NULL, "a") == NULL);

    CHECK(sp_st_open("/nonexistent/x.safetensors") == NULL);
    CHECK(strstr(sp_last_error(), "/nonexistent/x.safetensors") != NULL);
}

/* Random byte corruptions of a small valid file: open either fails with a
 * message or returns tensors that lie inside the file (ASan checks the reads). */
static void test_corruption(void) {
    sp_st_writer *w = sp_st_writer_new();
    float a[12];
    int16_t b[5];
    fill_random((uint8_t *)a, sizeof a);
    fill_random((uint8_t *)b, sizeof b);
    int64_t sa[2] = {3, 4}, sb[1] = {5};
    sp_st_writer_add(w, "alpha", SP_DTYPE_F32, 2, sa, a);
    sp_st_writer_add(w, "beta", SP_DTYPE_I16, 1, sb, b);
    sp_st_writer_meta(w, "k", "v");
    char path[512], bad[512];
    snprintf(path, sizeof path, "%s/small.safetensors", dir);
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
    CHECK(sp_st_writer_save(w, path) == 0);
    sp_st_writer_free(w);
    char *orig;
    size_t len;
    CHECK(sp_read_file(path, &orig, &len) == 0);
    int n_ok = 0, n_bad = 0;
    for (int it = 0; it < 400; it++) {
        char *buf = malloc(len);
        memcpy(buf, orig, len);
        size_t cut = len;
        int nflip = 1 + (int)(next_u64() % 3);
        for (int j = 0; j < nflip; j++) {
            size_t pos = next_u64() % (len < 120 ? len : 120); /* mostly the header */
            static const char pick[] = "{}[]\",:0123456789-eE. aF\x00\xff";
            buf[pos] = (next_u64() & 1) ? pick[next_u64() % (sizeof pick - 1)] : (char)next_u64();
        }
        if (next_u64() % 5 == 0) cut = next_u64() % len;
        FILE *f = fopen(bad, "wb");
        fwrite(buf, 1, cut, f);
        fclose(f);
        free(buf);
        sp_st *st = sp_st_open(bad);
        if (!st) {
            const char *e = sp_last_error();
            CHECK(strstr(e, bad) == e && strchr(e, '\n') == NULL);
            n_bad++;
            continue;
        }
        n_ok++;
        double sum = 0;
        for (int i = 0; i < sp_st_n_tensors(st); i++) {
            const sp_st_tensor *t = sp_st_tensor_at(st, i);
            for (size_t j = 0; j < t->nbytes; j++) sum += ((const uint8_t *)t->data)[j];
        }
        (void)sum;
        sp_st_free(st);
    }
    printf("corruption: %d rejected, %d still valid\n", n_bad, n_ok);
    CHECK(n_bad > 0);
    free(orig);
}

int main(void) {
    unsigned long long seed = (unsigned long long)time(NULL) ^ ((unsigned long long)getpid() << 20);
    if (getenv("SP_SEED")) seed = strtoull(getenv("SP_SEED"), NULL, 10);
    rng = seed;
    printf("seed %llu\n", seed);
    snprintf(dir, sizeof dir, "/tmp/sp_test_st_XXXXXX");
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    test_round_trip();
    test_writer_errors();
    test_corruption();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", dir);
    if (fails) { printf("FAILED: %d checks\n", fails); return 1; }
    printf("ok\n");
    return 0;
}
