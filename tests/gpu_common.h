/* gpu_common.h: random 2:4 / unstructured / block-pruned bf16 (or, with gc_f16 set, f16)
 * weights and a double reference for the GPU test and bench (tests/test_cuda.c,
 * tests/tools/sp_gpu_bench.c). */
#ifndef SP_GPU_COMMON_H
#define SP_GPU_COMMON_H
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sparsity.h"

static uint64_t gc_rng = 88172645463325252ull;
static int gc_f16; /* 1: the 16-bit values made and read below are f16, else bf16 */
static inline float gc_to_f32(uint16_t h) { return gc_f16 ? sp_f16_to_f32(h) : sp_bf16_to_f32(h); }
static inline uint16_t gc_from_f32(float f) { return gc_f16 ? sp_f32_to_f16(f) : sp_f32_to_bf16(f); }

/* Fresh seed per run (SP_SEED=N repeats one), mixed into gc_rng; returns it to print. */
static inline unsigned gc_seed(void) {
    const char *e = getenv("SP_SEED");
    unsigned seed = e ? (unsigned)strtoul(e, NULL, 10) : (unsigned)time(NULL);
    gc_rng ^= (uint64_t)seed * 0x9E3779B97F4A7C15ull;
    return seed;
}
static inline uint64_t gc_next(void) {
    gc_rng ^= gc_rng << 13; gc_rng ^= gc_rng >> 7; gc_rng ^= gc_rng << 17;
    return gc_rng;
}
static inline float gc_unif(void) { return (float)((gc_next() >> 40) * (1.0 / 16777216.0)) * 2.f - 1.f; }
/* a nonzero value in +-[0.05, 1] */
static inline uint16_t gc_nz(void) {
    float v = gc_unif();
    v = v < 0 ? v - 0.05f : v + 0.05f;
    return gc_from_f32(v);
}

/* Random 2:4 weight in the shared layout: vals (out, in/2), meta (out, in/16), plus the
 * masked dense twin (out, in). */
static inline void gc_make_24(int out, int in, uint16_t *vals, uint16_t *meta, uint16_t *dense) {
    static const unsigned pats[6] = {0x4, 0x8, 0xC, 0x9, 0xD, 0xE};
    memset(dense, 0, (size_t)out * in * 2);
    memset(meta, 0, (size_t)out * (in / 16) * 2);
    for (int r = 0; r < out; r++)
        for (int g = 0; g < in / 4; g++) {
            unsigned nib = pats[gc_next() % 6];
            uint16_t a = gc_nz(), b = gc_nz();
            vals[(size_t)r * (in / 2) + 2 * g] = a;
            vals[(size_t)r * (in / 2) + 2 * g + 1] = b;
            meta[(size_t)r * (in / 16) + g / 4] |= (uint16_t)(nib << (4 * (g % 4)));
            dense[(size_t)r * in + 4 * g + (nib & 3)] = a;
            dense[(size_t)r * in + 4 * g + (nib >> 2)] = b;
        }
}

/* Random unstructured weight: each element zero with probability sparsity. */
static inline void gc_make_unstructured(int out, int in, double sparsity, uint16_t *dense) {
    uint64_t thr = (uint64_t)(sparsity * 4294967296.0);
    for (size_t i = 0; i < (size_t)out * in; i++) dense[i] = (gc_next() >> 32) < thr ? 0 : gc_nz();
}

/* Random unstructured weight whose rows differ as one threshold for a whole weight leaves them
 * (magnitude, SparseGPT): row r's sparsity drawn uniformly in [lo, hi]. */
static inline void gc_make_uneven(int out, int in, double lo, double hi, uint16_t *dense) {
    for (int r = 0; r < out; r++) {
        const double sp = lo + (hi - lo) * (double)(gc_next() >> 11) / 9007199254740992.0;
        const uint64_t thr = (uint64_t)(sp * 4294967296.0);
        for (int c = 0; c < in; c++) dense[(size_t)r * in + c] = (gc_next() >> 32) < thr ? 0 : gc_nz();
    }
}

/* Random block-pruned weight: each b x b block (cut at the edges) is zero with probability
 * sparsity, else every element in it is nonzero. */
static inline void gc_make_block(int out, int in, int b, double sparsity, uint16_t *dense) {
    uint64_t thr = (uint64_t)(sparsity * 4294967296.0);
    for (int r0 = 0; r0 < out; r0 += b)
        for (int c0 = 0; c0 < in; c0 += b) {
            int zero = (gc_next() >> 32) < thr;
            for (int r = r0; r < r0 + b && r < out; r++)
                for (int c = c0; c < c0 + b && c < in; c++) dense[(size_t)r * in + c] = zero ? 0 : gc_nz();
        }
}

/* Random N:M weight: in every group of m along a row, nk random positions are nonzero. */
static inline void gc_make_nm(int out, int in, int nk, int m, uint16_t *dense) {
    memset(dense, 0, (size_t)out * in * 2);
    for (int r = 0; r < out; r++)
        for (int g = 0; g + m <= in; g += m)
            for (int placed = 0; placed < nk;) {
                uint16_t *p = dense + (size_t)r * in + g + gc_next() % (unsigned)m;
                if (!*p) *p = gc_nz(), placed++;
            }
}

static inline void gc_make_x(size_t n, uint16_t *x) {
    for (size_t i = 0; i < n; i++) x[i] = gc_from_f32(gc_unif());
}

/* ref (n, out) = x (n, in) W^T in double. */
static inline void gc_ref(int out, int in, int n, const uint16_t *w, const uint16_t *x, double *ref) {
    float *xf = (float *)malloc((size_t)n * in * sizeof(float));
    for (size_t i = 0; i < (size_t)n * in; i++) xf[i] = gc_to_f32(x[i]);
    for (int r = 0; r < out; r++) {
        const uint16_t *wr = w + (size_t)r * in;
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int k = 0; k < in; k++)
                if (wr[k]) s += (double)gc_to_f32(wr[k]) * xf[(size_t)j * in + k];
            ref[(size_t)j * out + r] = s;
        }
    }
    free(xf);
}

/* ||y - ref|| / ||ref|| for 16-bit y; 1e30 if y holds a NaN. */
static inline double gc_relerr(size_t n, const uint16_t *y, const double *ref) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double v = gc_to_f32(y[i]);
        if (v != v) return 1e30;
        num += (v - ref[i]) * (v - ref[i]);
        den += ref[i] * ref[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}
static inline double gc_relerr16(size_t n, const uint16_t *y, const uint16_t *z) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double a = gc_to_f32(y[i]), b = gc_to_f32(z[i]);
        if (a != a || b != b) return 1e30;
        num += (a - b) * (a - b);
        den += b * b;
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}
#endif
