/* select.c: binds a kernel to an sp_linear: converts l->w into a format (given, or
 * chosen per layer from the zero pattern, value dtype, CPU level and token count),
 * and records which kernel runs and why.
 *
 * Crossovers (SP_FMT_AUTO) were measured with bench/bench_layers on the 2-core EPYC
 * (Zen 5, AVX-512) at Llama-7B/8B layer shapes, see bench/results/cpu.md:
 *  - decode, 2:4 pattern: the 2:4 expand kernel beats dense of the same value type
 *  - decode, unstructured: bitmap (expand) beats dense below SEL_BITMAP_MAX density;
 *    CSR (gather) beats bitmap only below SEL_CSR_MAX density
 *  - prefill (n_tokens_hint >= SEL_PREFILL_TOKENS): f32 values stay dense (sgemm,
 *    no decode); 16-bit values take the smallest decodable format. */
#include <stdio.h>
#include <stdlib.h>

#include "kernels/cpu/cpu_kernels.h"

#define SEL_BITMAP_MAX 0.60   /* measured: bitmap bf16 < dense bf16 up to at least 50% density */
#define SEL_CSR_MAX 0.02      /* measured: CSR loses to bitmap down to 10% density */
#define SEL_PREFILL_TOKENS 16

typedef struct {
    sp_mat mat;
    char name[64];
    char why[256];
} sp_bound;

/* y (n, out) = x (n, in) W^T through the bound format */
static int bound_forward(const sp_linear *l, const float *x, int n, float *y) {
    const sp_bound *b = l->kernel;
    return n == 1 ? sp_gemv(&b->mat, x, y) : sp_gemm(&b->mat, x, n, y);
}

static const char *dt_name(sp_dtype dt) { return dt == SP_DTYPE_F32 ? "f32" : dt == SP_DTYPE_BF16 ? "bf16" : "f16"; }

/* n:m pattern of w: 2:4 first, then the smallest n for m = 8, 16; 0 if none */
static int detect_nm(const float *w, int rows, int cols, int *n, int *m) {
    if (cols % 16 == 0 && sp_nm_max_per_group(w, rows, cols, 4) <= 2) { *n = 2, *m = 4; return 1; }
    for (int mm = 8; mm <= 16; mm *= 2) {
        int k = sp_nm_max_per_group(w, rows, cols, mm);
        if (k >= 0 && k < mm && 2 * k <= mm) { *n = k > 0 ? k : 1, *m = mm; return 1; }
    }
    return 0;
}

static sp_fmt choose(const sp_linear *l, sp_dtype vt, int n_tokens, sp_fmt_params *p, char *why, size_t nwhy) {
    size_t total = (size_t)l->out * l->in, nnz = 0;
    for (size_t i = 0; i < total; i++) nnz += l->w[i] != 0.0f;
    double d = total ? (double)nnz / (double)total : 1.0;
    int is24 = l->in % 16 == 0 && sp_nm_max_per_group(l->w, l->out, l->in, 4) <= 2;
    sp_cpu_level lv = sp_cpu_get_level();
    if (n_tokens >= SEL_PREFILL_TOKENS) {
        if (vt == SP_DTYPE_F32) {
            snprintf(why, nwhy, "prefill (%d tokens), f32 values: dense sgemm needs no decode; sparse formats only add "
                     "panel decoding (density %.2f)", n_tokens, d);
            return SP_FMT_DENSE;
        }
        sp_fmt f = sp_fmt_smallest(l->w, l->out, l->in, vt, p, NULL);
        if (f == SP_FMT_COO || f == SP_FMT_BSR) f = SP_FMT_CSR;
        snprintf(why, nwhy, "prefill (%d tokens), %s values: every format decodes to f32 panels for sgemm, so the "
                 "smallest (%s, density %.2f) reads least", n_tokens, dt_name(vt), sp_fmt_name(f), d);
        return f;
    }
    if (lv == SP_CPU_REF) {
        snprintf(why, nwhy, "no AVX2/AVX-512: scalar kernels; dense is the fastest scalar loop");
        return SP_FMT_DENSE;
    }
    if (is24 && nnz) {
        p->n = 2, p->m = 4;
        snprintf(why, nwhy, "2:4 pattern: reads %.2f of the dense %s bytes (measured faster than dense at every "
                 "Llama layer shape)", vt == SP_DTYPE_F32 ? 2.125 / 4.0 : 1.125 / 2.0, dt_name(vt));
        return SP_FMT_NM;
    }
    if (d <= SEL_CSR_MAX) {
        snprintf(why, nwhy, "density %.3f <= %.2f: CSR reads fewest bytes and gathers are few", d, SEL_CSR_MAX);
        return SP_FMT_CSR;
    }
    if (d <= SEL_BITMAP_MAX) {
        snprintf(why, nwhy, "density %.2f <= %.2f: bitmap expand kernel measured faster than dense %s", d,
                 SEL_BITMAP_MAX, dt_name(vt));
        return SP_FMT_BITMAP;
    }
    snprintf(why, nwhy, "density %.2f > %.2f: sparse kernels measured slower than dense %s here", d, SEL_BITMAP_MAX,
             dt_name(vt));
    return SP_FMT_DENSE;
}

int sp_linear_bind_params(sp_linear *l, sp_fmt fmt, sp_dtype vals, const sp_fmt_params *params, int n_tokens_hint) {
    if (!l || !l->w) return sp_error(SP_ERR_ARG, "bind: linear %s has no dense weight", l ? l->name : "(null)");
    if (vals != SP_DTYPE_F32 && vals != SP_DTYPE_F16 && vals != SP_DTYPE_BF16)
        return sp_error(SP_ERR_ARG, "bind %s: value dtype %s not supported (F32, F16, BF16)", l->name, sp_dtype_name(vals));
    sp_linear_unbind(l);
    sp_fmt_params p = params ? *params : (sp_fmt_params){0};
    char why[256] = "";
    if (fmt == SP_FMT_AUTO) {
        fmt = choose(l, vals, n_tokens_hint, &p, why, sizeof why);
    } else {
        snprintf(why, sizeof why, "format %s requested", sp_fmt_name(fmt));
        if (fmt == SP_FMT_NM && !(p.n > 0 && p.m > 0) && !detect_nm(l->w, l->out, l->in, &p.n, &p.m))
            return sp_error(SP_ERR_ARG, "bind %s: weight has no 2:4, n:8 or n:16 pattern", l->name);
    }
    sp_bound *b = calloc(1, sizeof *b);
    if (!b) return sp_error(SP_ERR_NOMEM, "bind %s: out of memory", l->name);
    int rc;
    if (fmt == SP_FMT_DENSE && vals == SP_DTYPE_F32) { /* borrow l->w */
        b->mat.fmt = SP_FMT_DENSE;
        b->mat.u.dense = (sp_dense){.rows = l->out, .cols = l->in, .dtype = SP_DTYPE_F32, .vals = l->w, .owns = 0};
        rc = 0;
    } else {
        rc = sp_mat_from_dense(l->w, l->out, l->in, fmt, vals, &p, &b->mat);
    }
    if (rc) {
        free(b);
        char msg[512];
        snprintf(msg, sizeof msg, "%s", sp_last_error());
        return sp_error(rc, "bind %s: %s", l->name, msg);
    }
    sp_cpu_level lv = sp_cpu_get_level();
    char desc[48];
    sp_mat_describe(&b->mat, desc, sizeof desc);
    snprintf(b->name, sizeof b->name, "%s%s", sp_cpu_kernel_name(&b->mat, lv),
             n_tokens_hint >= sp_gemm_panel_threshold(&b->mat) ? "+panel-sgemm" : "");
    snprintf(b->why, sizeof b->why, "%.190s [%.40s, %zu bytes]", why, desc, sp_mat_bytes(&b->mat));
    l->kernel = b;
    l->forward = bound_forward;
    l->kernel_name = b->name;
    l->kernel_why = b->why;
    return 0;
}

int sp_linear_bind(sp_linear *l, sp_fmt fmt, sp_dtype vals, int n_tokens_hint) {
    return sp_linear_bind_params(l, fmt, vals, NULL, n_tokens_hint);
}

void sp_linear_unbind(sp_linear *l) {
    if (!l || !l->kernel) return;
    sp_bound *b = l->kernel;
    sp_mat_free(&b->mat);
    free(b);
    l->kernel = NULL;
    l->forward = NULL;
    l->kernel_name = NULL;
    l->kernel_why = NULL;
}

const sp_mat *sp_linear_bound_mat(const sp_linear *l) {
    return l && l->kernel && l->forward == bound_forward ? &((const sp_bound *)l->kernel)->mat : NULL;
}
