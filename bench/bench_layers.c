/* bench_layers.c: GEMV (decode, one token) time of every format at Llama-7B/8B layer
 * shapes with synthetic weights pruned to 2:4 and 50/70/90% unstructured, plus the
 * gemm (prefill) crossover between per-token gemv and panel decode + sgemm.
 * Median of reps, L3 flushed (96 MB read) before each rep so weights come from DRAM.
 * Usage: bench_layers [reps=15] [quick]   (prints a markdown report) */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sparsity_formats.h"

static uint64_t rs = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) { rs ^= rs << 13, rs ^= rs >> 7, rs ^= rs << 17; return rs; }
static float frand(void) { return (float)((double)(rnd() >> 11) / 9007199254740992.0 * 2.0 - 1.0); }

static char *flushbuf;
static size_t flushn = 96u << 20;
static volatile uint64_t sink;
static void flush(void) {
    uint64_t s = 0;
#pragma omp parallel for reduction(+ : s)
    for (size_t i = 0; i < flushn; i += 64) s += (uint8_t)flushbuf[i];
    sink += s;
}

static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double last_median;
/* min seconds over reps (cache flushed before each); median in last_median. On a
 * shared 2-core box other processes preempt us, so min is the cleaner estimate. */
static double time_gemm(const sp_mat *a, const float *x, int n, float *y, int reps) {
    double t[64];
    if (reps > 64) reps = 64;
    for (int i = 0; i < reps + 1; i++) {
        flush();
        double t0 = sp_time();
        if (n == 1) sp_gemv(a, x, y);
        else sp_gemm(a, x, n, y);
        if (i) t[i - 1] = sp_time() - t0; /* first run is warm-up */
    }
    qsort(t, (size_t)reps, sizeof *t, cmpd);
    last_median = t[reps / 2];
    return t[0];
}

/* prune w in place: 2:4 by magnitude (kind 0) or unstructured keeping density d */
static void prune(const float *src, float *w, size_t rows, size_t cols, int kind, double d) {
    memcpy(w, src, sizeof(float) * rows * cols);
    if (kind == 0) {
        for (size_t g = 0; g < rows * cols; g += 4) { /* drop the 2 smallest of 4 */
            for (int k = 0; k < 2; k++) {
                int mi = -1;
                for (int j = 0; j < 4; j++)
                    if (w[g + j] != 0 && (mi < 0 || fabsf(w[g + j]) < fabsf(w[g + mi]))) mi = j;
                w[g + mi] = 0;
            }
        }
    } else {
        uint64_t thr = (uint64_t)(d * 18446744073709551615.0);
        for (size_t i = 0; i < rows * cols; i++)
            if (rnd() > thr) w[i] = 0;
    }
}

static void loadavg(const char *when) {
    char buf[128] = "?";
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) { if (!fgets(buf, sizeof buf, f)) buf[0] = 0; fclose(f); }
    buf[strcspn(buf, "\n")] = 0;
    printf("load average %s: %s\n", when, buf);
}

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 15;
    int quick = argc > 2 && !strcmp(argv[2], "quick");
    if (getenv("SP_FLUSH_MB")) flushn = (size_t)atoi(getenv("SP_FLUSH_MB")) << 20;
    flushbuf = malloc(flushn);
    loadavg("at start");
    memset(flushbuf, 1, flushn);
    int shapes[][2] = {{4096, 4096}, {11008, 4096}, {4096, 11008}, {14336, 4096}};
    int nshapes = quick ? 1 : 4;
    struct { const char *name; int kind; double d; } pats[] = {{"2:4", 0, 0.5}, {"50%", 1, 0.5}, {"70%", 1, 0.3}, {"90%", 1, 0.1}};
    printf("threads %d, cpu level %s, reps %d: min (median) ms, L3 flushed before each rep\n\n", omp_get_max_threads(),
           sp_cpu_level_name(sp_cpu_get_level()), reps);
    printf("## Decode GEMV (one token): ms, ratio = dense time (same value type) / format time, GB/s of format bytes\n\n");
    printf("| shape (out x in) | pattern | format | kernel | MB | ms min (median) | vs dense | GB/s |\n|---|---|---|---|---|---|---|---|\n");
    for (int s = 0; s < nshapes; s++) {
        size_t rows = (size_t)shapes[s][0], cols = (size_t)shapes[s][1];
        float *w0 = malloc(sizeof(float) * rows * cols), *w = malloc(sizeof(float) * rows * cols);
        float *x = malloc(sizeof(float) * cols * 256), *y = malloc(sizeof(float) * rows * 256);
        for (size_t i = 0; i < rows * cols; i++) w0[i] = frand();
        for (size_t i = 0; i < cols * 256; i++) x[i] = frand();
        double dense_t[3] = {0};
        sp_dtype dts[2] = {SP_DTYPE_F32, SP_DTYPE_BF16};
        for (int di = 0; di < 2; di++) {
            sp_mat a;
            sp_mat_from_dense(w0, (int)rows, (int)cols, SP_FMT_DENSE, dts[di], NULL, &a);
            double t = time_gemm(&a, x, 1, y, reps);
            dense_t[dts[di] == SP_DTYPE_BF16] = t;
            printf("| %zux%zu | dense | dense %s | %s | %.1f | %.3f (%.3f) | 1.00 | %.1f |\n", rows, cols, di ? "bf16" : "f32",
                   sp_cpu_kernel_name(&a, sp_cpu_get_level()), sp_mat_bytes(&a) / 1e6, t * 1e3, last_median * 1e3, sp_mat_bytes(&a) / t / 1e9);
            sp_mat_free(&a);
        }
        for (int p = 0; p < 4; p++) {
            prune(w0, w, rows, cols, pats[p].kind, pats[p].d);
            sp_fmt fm[] = {SP_FMT_NM, SP_FMT_BITMAP, SP_FMT_CSR, SP_FMT_COO};
            for (int f = 0; f < 4; f++) {
                if (fm[f] == SP_FMT_NM && pats[p].kind != 0) continue;
                if (fm[f] == SP_FMT_COO && (p != 1 || s != 0)) continue; /* one COO point: it is a storage format */
                for (int di = 0; di < 2; di++) {
                    sp_mat a;
                    if (sp_mat_from_dense(w, (int)rows, (int)cols, fm[f], dts[di], NULL, &a)) {
                        printf("error: %s\n", sp_last_error());
                        continue;
                    }
                    char desc[64];
                    sp_mat_describe(&a, desc, sizeof desc);
                    double t = time_gemm(&a, x, 1, y, reps);
                    printf("| %zux%zu | %s | %s | %s | %.1f | %.3f (%.3f) | %.2f | %.1f |\n", rows, cols, pats[p].name, desc,
                           sp_cpu_kernel_name(&a, sp_cpu_get_level()), sp_mat_bytes(&a) / 1e6, t * 1e3, last_median * 1e3,
                           dense_t[dts[di] == SP_DTYPE_BF16] / t, sp_mat_bytes(&a) / t / 1e9);
                    fflush(stdout);
                    sp_mat_free(&a);
                }
            }
        }
        if (s == 0) {
            /* prefill crossover at 4096x4096 */
            printf("\n## Prefill 4096x4096: min ms for n tokens; per-token = n gemv calls, panel = decode rows to f32 + cblas_sgemm\n\n");
            printf("| format | n | per-token ms | panel ms | dense f32 sgemm ms |\n|---|---|---|---|---|\n");
            sp_mat dense;
            sp_mat_from_dense(w0, (int)rows, (int)cols, SP_FMT_DENSE, SP_DTYPE_F32, NULL, &dense);
            struct { int kind; double d; sp_fmt f; sp_dtype dt; } pc[] = {
                {0, 0.5, SP_FMT_NM, SP_DTYPE_BF16}, {1, 0.5, SP_FMT_BITMAP, SP_DTYPE_BF16},
                {1, 0.1, SP_FMT_CSR, SP_DTYPE_BF16}, {1, 1.0, SP_FMT_DENSE, SP_DTYPE_BF16}};
            int ns[] = {2, 4, 8, 16, 64, 256};
            for (int c = 0; c < 4; c++) {
                prune(w0, w, rows, cols, pc[c].kind, pc[c].d);
                sp_mat a;
                sp_mat_from_dense(w, (int)rows, (int)cols, pc[c].f, pc[c].dt, NULL, &a);
                char desc[64];
                sp_mat_describe(&a, desc, sizeof desc);
                for (int k = 0; k < 6; k++) {
                    int n = ns[k], r = reps < 5 ? reps : 5;
                    setenv("SP_PANEL_MIN", "100000", 1);
                    double tt = n <= 16 ? time_gemm(&a, x, n, y, r) : NAN;
                    setenv("SP_PANEL_MIN", "1", 1);
                    double tp = time_gemm(&a, x, n, y, r);
                    double td = time_gemm(&dense, x, n, y, r);
                    unsetenv("SP_PANEL_MIN");
                    printf("| %s | %d | %.2f | %.2f | %.2f |\n", desc, n, tt * 1e3, tp * 1e3, td * 1e3);
                    fflush(stdout);
                }
                sp_mat_free(&a);
            }
            sp_mat_free(&dense);
            printf("\n## Decode GEMV, other shapes\n\n| shape (out x in) | pattern | format | kernel | MB | ms min (median) | vs dense | GB/s |\n|---|---|---|---|---|---|---|---|\n");
        }
        free(w0), free(w), free(x), free(y);
    }
    loadavg("at end");
    return 0;
}
