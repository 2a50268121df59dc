/* test_formats.c: lossless round trips for every format and value dtype, byte counts,
 * from_dense errors, and validators rejecting corrupted structures. */
#include "sp_test_util.h"

static const sp_dtype dts[3] = {SP_DTYPE_F32, SP_DTYPE_BF16, SP_DTYPE_F16};

static void roundtrip(int rows, int cols, sp_fmt fmt, const sp_fmt_params *p, double d, sp_dtype dt) {
    int n = 0, m = 0;
    if (fmt == SP_FMT_NM) n = p ? p->n : 2, m = p ? p->m : 4;
    size_t sz = (size_t)rows * cols;
    float *w = malloc(sizeof(float) * sz + 4), *w2 = malloc(sizeof(float) * sz + 4);
    tu_weight(w, rows, cols, d, n, m, dt);
    sp_mat a;
    int rc = sp_mat_from_dense(w, rows, cols, fmt, dt, p, &a);
    TU_CHECK(rc == 0, "from_dense %s %dx%d: %s", sp_fmt_name(fmt), rows, cols, sp_last_error());
    if (rc == 0) {
        char desc[64];
        sp_mat_describe(&a, desc, sizeof desc);
        TU_CHECK(sp_mat_validate(&a) == 0, "%s: validate of a fresh matrix: %s", desc, sp_last_error());
        for (size_t i = 0; i < sz; i++) w2[i] = 12345.0f;
        TU_CHECK(sp_mat_to_dense(&a, w2) == 0, "to_dense");
        TU_CHECK(memcmp(w, w2, sizeof(float) * sz) == 0, "%s %dx%d: round trip not exact", desc, rows, cols);
        size_t b1 = sp_mat_bytes(&a), b2 = sp_fmt_bytes(w, rows, cols, fmt, dt, p);
        TU_CHECK(b1 == b2, "%s %dx%d: sp_mat_bytes %zu != sp_fmt_bytes %zu", desc, rows, cols, b1, b2);
        sp_mat_free(&a);
    }
    free(w), free(w2);
}

/* hand-checked 2:4 bytes: row [0 a 0 b | c 0 0 0 | 0 0 0 0 | 0 0 d e] then 0s */
static void test_24_layout(void) {
    float w[32] = {0, 1, 0, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 5};
    w[16 + 3] = 6; /* second meta word, group 4: index 3 only */
    sp_nm a;
    TU_CHECK(sp_nm_from_dense(w, 1, 32, 2, 4, SP_DTYPE_F32, &a) == 0, "2:4 from_dense: %s", sp_last_error());
    const float *v = a.vals;
    /* group0 (1,3) -> 0xD; group1 (0 plus fill 1) -> 0x4; group2 empty -> (0,1) 0x4; group3 (2,3) -> 0xE */
    TU_CHECK(a.meta[0] == 0xE44D, "meta[0] = 0x%04X, expected 0xE44D", a.meta[0]);
    /* group4 (0 fill, 3) -> 0xC; groups 5..7 empty -> 0x4 */
    TU_CHECK(a.meta[1] == 0x444C, "meta[1] = 0x%04X, expected 0x444C", a.meta[1]);
    float ev[16] = {1, 2, 3, 0, 0, 0, 4, 5, 0, 6, 0, 0, 0, 0, 0, 0};
    TU_CHECK(memcmp(v, ev, sizeof ev) == 0, "2:4 values order");
    sp_nm_free(&a);
    TU_CHECK(sp_nm_from_dense(w, 2, 16, 2, 4, SP_DTYPE_F32, &a) == 0, "2x16");
    sp_nm_free(&a);
    float bad[16] = {1, 1, 1, 0};
    TU_CHECK(sp_nm_from_dense(bad, 1, 16, 2, 4, SP_DTYPE_F32, &a) == SP_ERR_ARG, "3 nonzeros in a group must fail");
    printf("  expected error: %s\n", sp_last_error());
    TU_CHECK(sp_nm_from_dense(bad, 1, 12, 2, 4, SP_DTYPE_F32, &a) == SP_ERR_ARG, "2:4 with 12 columns must fail");
    printf("  expected error: %s\n", sp_last_error());
    TU_CHECK(sp_bsr_from_dense(bad, 1, 16, 2, 4, SP_DTYPE_F32, &(sp_bsr){0}) == SP_ERR_ARG, "bsr 1 row / 2 must fail");
    TU_CHECK(sp_csr_from_dense(bad, 1, 16, SP_DTYPE_I32, &(sp_csr){0}) == SP_ERR_ARG, "int values must fail");
}

static void expect_bad(int rc, const char *what) {
    TU_CHECK(rc == SP_ERR_FORMAT, "validator accepted %s", what);
    printf("  %-34s -> %s\n", what, sp_last_error());
}

static void test_validators(void) {
    int rows = 6, cols = 80;
    float *w = malloc(sizeof(float) * rows * cols);
    tu_weight(w, rows, cols, 0.4, 0, 0, SP_DTYPE_F32);
    sp_csr c;
    sp_csr_from_dense(w, rows, cols, SP_DTYPE_F32, &c);
    c.col16[c.row_ptr[2]] = (uint16_t)cols;
    expect_bad(sp_csr_validate(&c), "csr column out of range");
    sp_csr_free(&c), sp_csr_from_dense(w, rows, cols, SP_DTYPE_F32, &c);
    int64_t t = c.row_ptr[3]; c.row_ptr[3] = c.row_ptr[4] + 1; c.row_ptr[4] = t;
    expect_bad(sp_csr_validate(&c), "csr row_ptr not monotone");
    sp_csr_free(&c), sp_csr_from_dense(w, rows, cols, SP_DTYPE_F32, &c);
    c.row_ptr[rows] = c.nnz + 5;
    expect_bad(sp_csr_validate(&c), "csr row_ptr past nnz");
    c.row_ptr[rows] = c.nnz, c.nnz += 1;
    expect_bad(sp_csr_validate(&c), "csr nnz inconsistent");
    sp_csr_free(&c), sp_csr_from_dense(w, rows, cols, SP_DTYPE_F32, &c);
    if (c.row_ptr[2] - c.row_ptr[1] >= 2) {
        c.col16[c.row_ptr[1] + 1] = c.col16[c.row_ptr[1]];
        expect_bad(sp_csr_validate(&c), "csr duplicate column");
    }
    sp_csr_free(&c);

    sp_coo o;
    sp_coo_from_dense(w, rows, cols, SP_DTYPE_BF16, &o);
    o.row[3] = rows;
    expect_bad(sp_coo_validate(&o), "coo row out of range");
    sp_coo_free(&o), sp_coo_from_dense(w, rows, cols, SP_DTYPE_BF16, &o);
    int32_t tc = o.col[1]; o.col[1] = o.col[2]; o.col[2] = tc;
    if (o.row[1] == o.row[2]) expect_bad(sp_coo_validate(&o), "coo unsorted");
    sp_coo_free(&o);

    sp_bsr b;
    sp_bsr_from_dense(w, rows, cols, 2, 16, SP_DTYPE_F32, &b);
    b.block_col[0] = cols / 16;
    expect_bad(sp_bsr_validate(&b), "bsr block column out of range");
    sp_bsr_free(&b), sp_bsr_from_dense(w, rows, cols, 2, 16, SP_DTYPE_F32, &b);
    b.block_ptr[1] = b.nnzb + 1;
    expect_bad(sp_bsr_validate(&b), "bsr block_ptr past nnzb");
    sp_bsr_free(&b);

    sp_bitmap m;
    sp_bitmap_from_dense(w, rows, cols, SP_DTYPE_F16, &m);
    m.bits[2 * m.row_words] ^= 1; /* row 2 gains or loses a bit */
    expect_bad(sp_bitmap_validate(&m), "bitmap popcount != row values");
    sp_bitmap_free(&m), sp_bitmap_from_dense(w, rows, cols, SP_DTYPE_F16, &m);
    m.bits[m.row_words - 1] |= 1ull << 63; /* past column 80 */
    expect_bad(sp_bitmap_validate(&m), "bitmap padding bit set");
    sp_bitmap_free(&m), sp_bitmap_from_dense(w, rows, cols, SP_DTYPE_F16, &m);
    m.row_off[rows] = m.nnz + 100;
    expect_bad(sp_bitmap_validate(&m), "bitmap row_off past nnz");
    sp_bitmap_free(&m);

    tu_weight(w, rows, cols, 1.0, 2, 4, SP_DTYPE_F32);
    sp_nm q;
    sp_nm_from_dense(w, rows, cols, 2, 4, SP_DTYPE_F32, &q);
    unsigned bads[] = {0x0, 0x5, 0x1, 0x7, 0xF, 0x6};
    for (int i = 0; i < 6; i++) {
        uint16_t keep = q.meta[7];
        q.meta[7] = (uint16_t)((keep & ~0xF0u) | bads[i] << 4);
        char what[64];
        snprintf(what, sizeof what, "2:4 bad nibble 0x%X", bads[i]);
        expect_bad(sp_nm_validate(&q), what);
        q.meta[7] = keep;
    }
    TU_CHECK(sp_nm_validate(&q) == 0, "restored 2:4 validates");
    q.cols = 72;
    expect_bad(sp_nm_validate(&q), "2:4 cols % 16 != 0");
    sp_nm_free(&q);
    tu_weight(w, rows, cols, 1.0, 3, 8, SP_DTYPE_F32);
    sp_nm_from_dense(w, rows, cols, 3, 8, SP_DTYPE_F32, &q);
    q.idx[4] = 8;
    expect_bad(sp_nm_validate(&q), "3:8 index out of range");
    q.idx[4] = q.idx[3];
    expect_bad(sp_nm_validate(&q), "3:8 index not increasing");
    sp_nm_free(&q);
    free(w);
}

static void test_smallest(void) {
    int rows = 32, cols = 256;
    float *w = malloc(sizeof(float) * rows * cols);
    size_t b;
    tu_weight(w, rows, cols, 1.0, 0, 0, SP_DTYPE_BF16);
    TU_CHECK(sp_fmt_smallest(w, rows, cols, SP_DTYPE_BF16, NULL, &b) == SP_FMT_DENSE, "dense weight -> dense");
    tu_weight(w, rows, cols, 1.0, 2, 4, SP_DTYPE_BF16);
    for (int r = 0; r < rows; r++) /* every group exactly 2 */
        for (int g = 0; g < cols / 4; g++) w[r * cols + 4 * g] = w[r * cols + 4 * g] != 0 ? w[r * cols + 4 * g] : 0;
    sp_fmt f = sp_fmt_smallest(w, rows, cols, SP_DTYPE_BF16, NULL, &b);
    TU_CHECK(f == SP_FMT_NM || f == SP_FMT_BITMAP, "2:4 weight -> nm or bitmap (got %s)", sp_fmt_name(f));
    tu_weight(w, rows, cols, 0.02, 0, 0, SP_DTYPE_BF16);
    f = sp_fmt_smallest(w, rows, cols, SP_DTYPE_BF16, NULL, &b);
    TU_CHECK(f == SP_FMT_CSR, "2%% density -> csr (got %s)", sp_fmt_name(f));
    TU_CHECK(sp_fmt_from_name("2:4") == SP_FMT_NM && sp_fmt_from_name("bitmap") == SP_FMT_BITMAP &&
             sp_fmt_from_name("auto") == SP_FMT_AUTO && sp_fmt_from_name("zip") < 0 && sp_fmt_from_name("zip") != SP_FMT_AUTO,
             "format names");
    free(w);
}

int main(void) {
    tu_seed("test_formats");
    int shapes[][2] = {{1, 16}, {3, 32}, {7, 48}, {16, 64}, {5, 1040}, {40, 96}};
    for (int di = 0; di < 3; di++)
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            int r = shapes[s][0], c = shapes[s][1];
            sp_dtype dt = dts[di];
            double d = tu_unif();
            for (int f = SP_FMT_DENSE; f <= SP_FMT_BITMAP; f++) {
                sp_fmt_params bp = {.br = 1, .bc = 16};
                roundtrip(r, c, (sp_fmt)f, f == SP_FMT_BSR ? &bp : NULL, d, dt);
            }
            roundtrip(r, c, SP_FMT_NM, NULL, d, dt);
            sp_fmt_params p = {.n = 5, .m = 16}, p2 = {.n = 1, .m = 2};
            roundtrip(r, c, SP_FMT_NM, &p, d, dt);
            roundtrip(r, c, SP_FMT_NM, &p2, d, dt);
            for (int k = 0; k < 3; k++) { /* odd shapes */
                int rr = 1 + (int)(tu_next() % 20), cc = 1 + (int)(tu_next() % 150);
                for (int f = SP_FMT_DENSE; f <= SP_FMT_BITMAP; f++) {
                    sp_fmt_params bp = {.br = rr, .bc = cc};
                    roundtrip(rr, cc, (sp_fmt)f, f == SP_FMT_BSR ? &bp : NULL, tu_unif(), dt);
                }
            }
            roundtrip(4, 70000, SP_FMT_CSR, NULL, 0.001, dt); /* int32 column indices */
        }
    roundtrip(8, 64, SP_FMT_BITMAP, NULL, 0.0, SP_DTYPE_BF16);
    roundtrip(8, 64, SP_FMT_CSR, NULL, 1.0, SP_DTYPE_BF16);
    test_24_layout();
    test_validators();
    test_smallest();
    if (tu_fail) { printf("%d failures\n", tu_fail); return 1; }
    printf("ok\n");
    return 0;
}
