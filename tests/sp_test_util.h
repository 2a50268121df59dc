/* sp_test_util.h: random sparse weights for the format and kernel tests (static inline:
 * a test may use only some of them). */
#ifndef SP_TEST_UTIL_H
#define SP_TEST_UTIL_H
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sparsity_formats.h"

static uint64_t tu_state;
static inline void tu_seed(const char *who) {
    const char *e = getenv("SP_SEED");
    tu_state = e ? strtoull(e, NULL, 10) : (uint64_t)time(NULL) ^ ((uint64_t)clock() << 20);
    printf("%s: seed %llu (set SP_SEED to repeat)\n", who, (unsigned long long)tu_state);
    tu_state = tu_state * 2654435761u + 1;
}
static inline uint64_t tu_next(void) {
    tu_state ^= tu_state << 13, tu_state ^= tu_state >> 7, tu_state ^= tu_state << 17;
    return tu_state;
}
static inline double tu_unif(void) { return (double)(tu_next() >> 11) * (1.0 / 9007199254740992.0); }
/* nonzero value in +-[0.1, 2) */
static inline float tu_val(void) {
    float v = (float)(0.1 + 1.9 * tu_unif());
    return tu_next() & 1 ? v : -v;
}
/* v rounded to dtype dt */
static inline float tu_round(float v, sp_dtype dt) {
    if (dt == SP_DTYPE_BF16) return sp_bf16_to_f32(sp_f32_to_bf16(v));
    if (dt == SP_DTYPE_F16) return sp_f16_to_f32(sp_f32_to_f16(v));
    return v;
}

/* w (rows, cols) with density d (kept w.p. d); row 0 all zero and row 1 (if any) full
 * when rows > 2; n:m pattern if m > 0 (each group keeps a random subset of <= n);
 * values representable in dt. */
static inline void tu_weight(float *w, int rows, int cols, double d, int n, int m, sp_dtype dt) {
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            int keep = tu_unif() < d;
            if (rows > 2 && r == 0) keep = 0;
            if (rows > 2 && r == 1 && m == 0) keep = 1;
            w[(size_t)r * cols + c] = keep ? tu_round(tu_val(), dt) : 0.0f;
        }
    if (m > 0)
        for (int r = 0; r < rows; r++)
            for (int g = 0; g < cols / m; g++) {
                float *wg = w + (size_t)r * cols + (size_t)g * m;
                int want = (int)(tu_next() % (uint64_t)(n + 1)); /* 0..n nonzeros */
                if (r == 1) want = n;
                if (r == 0 && rows > 2) want = 0;
                for (int j = 0; j < m; j++) wg[j] = 0.0f;
                for (int t = 0; t < want; t++) {
                    int j;
                    do j = (int)(tu_next() % (uint64_t)m); while (wg[j] != 0.0f);
                    wg[j] = tu_round(tu_val(), dt);
                }
            }
}

static int tu_fail;
#define TU_CHECK(cond, ...)                                                                                        \
    do {                                                                                                           \
        if (!(cond)) {                                                                                             \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                            \
            printf(__VA_ARGS__);                                                                                   \
            printf("\n");                                                                                          \
            tu_fail++;                                                                                             \
        }                                                                                                          \
    } while (0)

#endif
