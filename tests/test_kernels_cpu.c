/* test_kernels_cpu.c: every format's gemv/gemm at every CPU level against a naive
 * double-precision matmul of the masked weight and against the scalar _ref twin;
 * panel decoding against to_dense; sp_linear_bind end to end. */
#include "sp_test_util.h"

static const sp_dtype dts[3] = {SP_DTYPE_F32, SP_DTYPE_BF16, SP_DTYPE_F16};

/* y (n, rows) = x (n, cols) W^T in double; mag = sum |w||x| per output */
static void naive(const float *w, int rows, int cols, const float *x, int n, double *y, double *mag) {
    for (int t = 0; t < n; t++)
        for (int r = 0; r < rows; r++) {
            double s = 0, a = 0;
            for (int c = 0; c < cols; c++) {
                s += (double)w[(size_t)r * cols + c] * x[(size_t)t * cols + c];
                a += fabs((double)w[(size_t)r * cols + c] * x[(size_t)t * cols + c]);
            }
            y[(size_t)t * rows + r] = s, mag[(size_t)t * rows + r] = a;
        }
}

/* max over outputs of |y - yd| / (mag + 1e-30), should be ~1e-7 (f32 accumulation) */
static double err(const float *y, const double *yd, const double *mag, size_t n) {
    double e = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(y[i] - yd[i]) / (mag[i] + 1e-30);
        if (!(d <= e)) e = d; /* NaN propagates */
    }
    return e;
}

static void one(int rows, int cols, sp_fmt fmt, const sp_fmt_params *p, double d, sp_dtype dt) {
    int n = p && fmt == SP_FMT_NM ? p->n : 0, m = p && fmt == SP_FMT_NM ? p->m : 0;
    if (fmt == SP_FMT_NM && !p) n = 2, m = 4;
    float *w = malloc(sizeof(float) * (size_t)rows * cols + 4), *w2 = malloc(sizeof(float) * (size_t)rows * cols + 4);
    tu_weight(w, rows, cols, d, n, m, dt);
    sp_mat a;
    int rc = sp_mat_from_dense(w, rows, cols, fmt, dt, p, &a);
    char desc[64] = "?";
    if (rc == 0) sp_mat_describe(&a, desc, sizeof desc);
    TU_CHECK(rc == 0, "from_dense %s %dx%d: %s", sp_fmt_name(fmt), rows, cols, sp_last_error());
    if (rc) { free(w), free(w2); return; }
    /* panel decoder equals the matrix */
    int r0 = rows / 3, r1 = rows - rows / 4;
    TU_CHECK(sp_mat_decode_rows(&a, r0, r1, w2) == 0, "decode_rows");
    TU_CHECK(memcmp(w2, w + (size_t)r0 * cols, sizeof(float) * (size_t)(r1 - r0) * cols) == 0,
             "%s %dx%d: decode_rows differs from the weight", desc, rows, cols);

    int ns[] = {1, 3, 9};
    for (int ni = 0; ni < 3; ni++) {
        int nt = ns[ni];
        float *x = malloc(sizeof(float) * (size_t)nt * cols + 4), *y = malloc(sizeof(float) * (size_t)nt * rows + 4);
        float *yr = malloc(sizeof(float) * (size_t)nt * rows + 4);
        double *yd = malloc(sizeof(double) * (size_t)nt * rows + 4), *mag = malloc(sizeof(double) * (size_t)nt * rows + 4);
        for (size_t i = 0; i < (size_t)nt * cols; i++) x[i] = tu_val();
        naive(w, rows, cols, x, nt, yd, mag);
        TU_CHECK(sp_gemm_ref(&a, x, nt, yr) == 0, "gemm_ref");
        double eref = err(yr, yd, mag, (size_t)nt * rows);
        TU_CHECK(eref < 1e-5, "%s %dx%d n=%d: ref error %.3g", desc, rows, cols, nt, eref);
        for (int lv = SP_CPU_REF; lv <= (int)sp_cpu_best(); lv++) {
            sp_cpu_set_level((sp_cpu_level)lv);
            for (size_t i = 0; i < (size_t)nt * rows; i++) y[i] = NAN;
            rc = nt == 1 ? sp_gemv(&a, x, y) : sp_gemm(&a, x, nt, y);
            TU_CHECK(rc == 0, "gemm: %s", sp_last_error());
            double e = err(y, yd, mag, (size_t)nt * rows);
            TU_CHECK(e < 1e-5, "%s %dx%d n=%d level %s: error %.3g vs double", desc, rows, cols, nt,
                     sp_cpu_level_name((sp_cpu_level)lv), e);
            double mx = 0;
            for (size_t i = 0; i < (size_t)nt * rows; i++) {
                double q = fabs(y[i] - yr[i]) / (mag[i] + 1e-30);
                if (!(q <= mx)) mx = q;
            }
            TU_CHECK(mx < 1e-5, "%s %dx%d n=%d level %s: differs from ref by %.3g", desc, rows, cols, nt,
                     sp_cpu_level_name((sp_cpu_level)lv), mx);
        }
        sp_cpu_set_level(sp_cpu_best());
        free(x), free(y), free(yr), free(yd), free(mag);
    }
    sp_mat_free(&a);
    free(w), free(w2);
}

static void test_bind(void) {
    int rows = 48, cols = 64;
    sp_linear l;
    memset(&l, 0, sizeof l);
    snprintf(l.name, sizeof l.name, "test.mlp.up_proj");
    l.out = rows, l.in = cols;
    l.w = malloc(sizeof(float) * rows * cols);
    float x[3 * 64], y[3 * 48];
    double yd[3 * 48], mag[3 * 48];
    for (int i = 0; i < 3 * cols; i++) x[i] = tu_val();
    struct { double d; int n, m; sp_fmt fmt; sp_dtype dt; int ntok; } cases[] = {
        {1.0, 2, 4, SP_FMT_AUTO, SP_DTYPE_BF16, 1}, {0.3, 0, 0, SP_FMT_AUTO, SP_DTYPE_BF16, 1},
        {0.9, 0, 0, SP_FMT_AUTO, SP_DTYPE_F32, 1},  {0.01, 0, 0, SP_FMT_AUTO, SP_DTYPE_F16, 1},
        {0.5, 0, 0, SP_FMT_AUTO, SP_DTYPE_BF16, 64}, {0.5, 0, 0, SP_FMT_AUTO, SP_DTYPE_F32, 64},
        {1.0, 3, 8, SP_FMT_NM, SP_DTYPE_F32, 1},    {0.4, 0, 0, SP_FMT_BSR, SP_DTYPE_BF16, 3},
        {0.4, 0, 0, SP_FMT_COO, SP_DTYPE_F32, 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        tu_weight(l.w, rows, cols, cases[i].d, cases[i].n, cases[i].m, cases[i].dt);
        int rc = sp_linear_bind(&l, cases[i].fmt, cases[i].dt, cases[i].ntok);
        TU_CHECK(rc == 0, "bind case %zu: %s", i, sp_last_error());
        if (rc) continue;
        printf("  bind case %zu: %s -- %s\n", i, l.kernel_name, l.kernel_why);
        TU_CHECK(l.forward && l.kernel_name && l.kernel_why, "bind sets forward/name/why");
        naive(l.w, rows, cols, x, 3, yd, mag);
        for (int nt = 1; nt <= 3; nt += 2) {
            TU_CHECK(l.forward(&l, x, nt, y) == 0, "forward"); /* what sp_linear_forward calls */
            TU_CHECK(err(y, yd, mag, (size_t)nt * rows) < 1e-5, "bind case %zu n=%d: wrong result", i, nt);
        }
        sp_linear_unbind(&l);
        TU_CHECK(!l.kernel && !l.forward, "unbind clears");
    }
    /* a weight with no n:m pattern cannot bind as nm */
    tu_weight(l.w, rows, cols, 1.0, 0, 0, SP_DTYPE_F32);
    TU_CHECK(sp_linear_bind(&l, SP_FMT_NM, SP_DTYPE_F32, 1) == SP_ERR_ARG, "nm bind of dense weight must fail");
    printf("  expected error: %s\n", sp_last_error());
    sp_linear_unbind(&l);
    free(l.w);
}

int main(void) {
    tu_seed("test_kernels_cpu");
    printf("best CPU level: %s\n", sp_cpu_level_name(sp_cpu_best()));
    int shapes[][2] = {{1, 16}, {5, 48}, {17, 80}, {70, 96}, {33, 1040}, {130, 272}};
    int oddc[] = {1, 7, 31, 33, 63, 65, 100, 257};
    for (int di = 0; di < 3; di++) {
        sp_dtype dt = dts[di];
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            int r = shapes[s][0], c = shapes[s][1];
            double d = 0.05 + 0.9 * tu_unif();
            one(r, c, SP_FMT_DENSE, NULL, d, dt);
            one(r, c, SP_FMT_CSR, NULL, d, dt);
            one(r, c, SP_FMT_COO, NULL, d, dt);
            one(r, c, SP_FMT_BITMAP, NULL, d, dt);
            one(r, c, SP_FMT_NM, NULL, d, dt); /* 2:4 */
            sp_fmt_params p38 = {.n = 3, .m = 8}, p14 = {.n = 1, .m = 4}, b = {.br = 1, .bc = 16}, b2 = {.br = 1, .bc = 8};
            one(r, c, SP_FMT_NM, &p38, d, dt);
            one(r, c, SP_FMT_NM, &p14, d, dt);
            one(r, c, SP_FMT_BSR, &b, d * 0.5, dt);
            one(r, c, SP_FMT_BSR, &b2, d * 0.5, dt);
            if (r % 4 == 0) one(r, c, SP_FMT_BSR, NULL, d * 0.3, dt);
        }
        for (size_t s = 0; s < sizeof oddc / sizeof *oddc; s++) {
            int c = oddc[s], r = 3 + (int)(tu_next() % 40);
            double d = tu_unif();
            one(r, c, SP_FMT_DENSE, NULL, d, dt);
            one(r, c, SP_FMT_CSR, NULL, d, dt);
            one(r, c, SP_FMT_COO, NULL, d, dt);
            one(r, c, SP_FMT_BITMAP, NULL, d, dt);
            sp_fmt_params b = {.br = 1, .bc = c}, p = {.n = 1, .m = c > 256 ? 1 : c};
            one(r, c, SP_FMT_BSR, &b, d, dt);
            if (p.m > 1) one(r, c, SP_FMT_NM, &p, d, dt);
        }
        /* 0% and 100% dense whole matrices */
        one(9, 96, SP_FMT_BITMAP, NULL, 0.0, dt);
        one(9, 96, SP_FMT_BITMAP, NULL, 1.0, dt);
        one(9, 96, SP_FMT_CSR, NULL, 0.0, dt);
        one(9, 96, SP_FMT_CSR, NULL, 1.0, dt);
    }
    /* larger: thread split paths (>= 64 rows per gemv) */
    one(256, 512, SP_FMT_NM, NULL, 1.0, SP_DTYPE_BF16);
    one(256, 520, SP_FMT_BITMAP, NULL, 0.3, SP_DTYPE_BF16);
    one(200, 300, SP_FMT_CSR, NULL, 0.3, SP_DTYPE_F32);
    sp_fmt_params b44 = {.br = 4, .bc = 4};
    one(256, 64, SP_FMT_BSR, &b44, 0.2, SP_DTYPE_F32);
    test_bind();
    if (tu_fail) { printf("%d failures\n", tu_fail); return 1; }
    printf("ok\n");
    return 0;
}
