/* perplexity.c: perplexity over non-overlapping windows (the SparseGPT/Wanda protocol).
 * The text is cut into floor(n / ctx) windows of ctx tokens, each run from an empty
 * cache; every token after the first of a window is scored:
 *   ppl = exp( sum over windows, t=1..ctx-1 of -log p(x_t | x_<t) / (windows * (ctx-1)) ). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "sparsity.h"

#define PPL_CHUNK 256 /* tokens per forward call: bounds the logits buffer to 256 x vocab */

/* -log softmax(row)[target], in double. */
static double nll_of(const float *row, int vocab, int target) {
    float mx = row[0];
    for (int i = 1; i < vocab; i++) mx = row[i] > mx ? row[i] : mx;
    double s = 0.0;
    for (int i = 0; i < vocab; i++) s += exp((double)row[i] - mx);
    return log(s) + mx - row[target];
}

int sp_eval_perplexity(const sp_model *m, const int32_t *ids, int64_t n_ids, int ctx, int64_t max_tokens,
                       int progress, sp_ppl_result *r) {
    if (ctx < 2) return sp_error(SP_ERR_ARG, "eval: ctx must be >= 2 (got %d)", ctx);
    int64_t avail = max_tokens > 0 && max_tokens < n_ids ? max_tokens : n_ids;
    int nw = (int)(avail / ctx);
    if (nw < 1)
        return sp_error(SP_ERR_ARG, "eval: %lld tokens are fewer than one window of %d (lower --ctx)", (long long)avail, ctx);
    int vocab = m->cfg.vocab_size, chunk = ctx < PPL_CHUNK ? ctx : PPL_CHUNK;
    sp_state *s = sp_state_new(m, ctx, chunk);
    float *logits = malloc((size_t)chunk * vocab * sizeof(float));
    if (!s || !logits) {
        sp_state_free(s);
        free(logits);
        return sp_error(SP_ERR_NOMEM, "eval: out of memory");
    }
    sp_progress pr;
    sp_progress_begin(&pr, "eval window", nw);
    double t0 = sp_time(), nll = 0.0;
    int rc = 0;
    for (int w = 0; w < nw && !rc; w++) {
        const int32_t *win = ids + (int64_t)w * ctx;
        sp_state_reset(s);
        for (int p = 0; p < ctx && !rc; p += chunk) {
            int n = ctx - p < chunk ? ctx - p : chunk;
            if ((rc = sp_forward(m, s, win + p, n, logits, 1))) break;
            double part = 0.0;
#pragma omp parallel for reduction(+ : part)
            for (int t = 0; t < n; t++)
                if (p + t + 1 < ctx) part += nll_of(logits + (size_t)t * vocab, vocab, win[p + t + 1]);
            nll += part;
        }
        if (progress) sp_progress_step(&pr, w + 1);
    }
    if (progress) sp_progress_end(&pr);
    sp_state_free(s);
    free(logits);
    if (rc) return rc;
    r->n_windows = nw;
    r->n_tokens = (int64_t)nw * (ctx - 1);
    r->nll = nll / (double)r->n_tokens;
    r->ppl = exp(r->nll);
    r->seconds = sp_time() - t0;
    r->tokens_per_s = (double)nw * ctx / r->seconds;
    return 0;
}
