/* bench.c: time-to-first-token (one prefill of P tokens) and time-per-output-token (G
 * single-token decode steps after it) with kernels bound per layer, median of reps.
 * Token ids are synthetic: speed does not depend on them. */
#include <stdlib.h>
#include <string.h>

#include "sparsity_bench.h"

/* Binds the block linears to o->fmt and lm_head to dense, for n_tokens per call. */
static int bind_all(sp_model *m, const sp_bench_opts *o, int n_tokens) {
    for (int i = 0; i < sp_model_n_linear(m); i++) {
        sp_linear *l = sp_model_linear(m, i);
        int rc = sp_linear_bind(l, l == &m->lm_head ? SP_FMT_DENSE : o->fmt, o->vals, n_tokens);
        if (rc) return rc;
    }
    return 0;
}

int sp_bench_run(sp_model *m, const sp_bench_opts *o, sp_bench_result *r) {
    int P = o->prompt_tokens, G = o->gen_tokens, R = o->reps, V = m->cfg.vocab_size;
    if (P < 1 || G < 1 || R < 1) return sp_error(SP_ERR_ARG, "bench: prompt, gen tokens and reps must be >= 1");
    int32_t *ids = malloc((size_t)(P + G) * sizeof *ids);
    float *logits = malloc((size_t)V * sizeof(float));
    double *t = malloc((size_t)R * sizeof(double));
    sp_state *s = sp_state_new(m, P + G, P);
    int rc = 0;
    if (!ids || !logits || !t || !s) { rc = sp_error(SP_ERR_NOMEM, "bench: out of memory"); goto done; }
    for (int i = 0; i < P + G; i++) ids[i] = (int32_t)((1000 + 7919L * i) % V);

    if ((rc = bind_all(m, o, P))) goto done; /* (densifies packed weights first) */
    memset(r, 0, sizeof *r);
    int64_t zeros = 0, numel = 0;
    for (int b = 0; b < m->cfg.n_layers; b++)
        for (int j = 0; j < SP_N_LINEAR; j++) {
            const sp_linear *l = &m->blocks[b].lin[j];
            for (int64_t k = 0; k < (int64_t)l->out * l->in; k++) zeros += l->w[k] == 0.0f;
            numel += (int64_t)l->out * l->in;
        }
    r->avg_sparsity = numel ? (double)zeros / (double)numel : 0.0;

    for (int k = 0; k <= R && !rc; k++) { /* k = 0 is a warm-up */
        sp_state_reset(s);
        double t0 = sp_time();
        rc = sp_forward(m, s, ids, P, logits, 0);
        if (k) t[k - 1] = sp_time() - t0;
    }
    if (rc) goto done;
    r->ttft_ms = 1e3 * sp_median(t, R);

    if ((rc = bind_all(m, o, 1))) goto done;
    for (int k = 0; k <= R && !rc; k++) {
        sp_state_reset(s);
        if ((rc = sp_forward(m, s, ids, P, logits, 0))) break;
        double t0 = sp_time();
        for (int g = 0; g < G && !rc; g++) rc = sp_forward(m, s, ids + P + g, 1, logits, 0);
        if (k) t[k - 1] = (sp_time() - t0) / G;
    }
    if (rc) goto done;
    r->tpot_ms = 1e3 * sp_median(t, R);
    for (int b = 0; b < m->cfg.n_layers; b++)
        for (int j = 0; j < SP_N_LINEAR; j++) r->weight_bytes += sp_mat_bytes(sp_linear_bound_mat(&m->blocks[b].lin[j]));
done:
    free(ids);
    free(logits);
    free(t);
    sp_state_free(s);
    return rc;
}
