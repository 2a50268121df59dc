/* linear.c: the one door between the model and every kernel.
 * The model calls sp_linear_forward and never asks what representation is inside;
 * dense f32 goes through OpenBLAS, a bound kernel (formats/, cuda/) through l->forward. */
#include <cblas.h>
#include <string.h>

#include "sparsity.h"

const char *const sp_linear_suffix[SP_N_LINEAR] = {
    "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
    "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj",
};

/* y (n, out) = x (n, in) W^T + b, W dense f32 (out, in). */
static int dense_forward(const sp_linear *l, const float *x, int n, float *y) {
    if (n == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, l->out, l->in, 1.0f, l->w, l->in, x, 1, 0.0f, y, 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, l->out, l->in, 1.0f, x, l->in, l->w,
                    l->in, 0.0f, y, l->out);
    return 0;
}

int sp_linear_forward(const sp_linear *l, const float *x, int n_tokens, float *y) {
    if (l->observe) l->observe(l->observe_ctx, x, n_tokens, l->in);
    int rc = l->forward ? l->forward(l, x, n_tokens, y) : dense_forward(l, x, n_tokens, y);
    if (rc) return rc;
    if (l->bias)
        for (int t = 0; t < n_tokens; t++)
            for (int o = 0; o < l->out; o++) y[(size_t)t * l->out + o] += l->bias[o];
    return 0;
}
