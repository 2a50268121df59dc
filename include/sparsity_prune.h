/* sparsity_prune.h: one-shot pruning of linear layers (prefix sp_prune_, sp_mask_, sp_owl_).
 *
 * Works on plain arrays: a weight W is row-major (out, in), calibration inputs X are
 * (n_tokens, in). A keep-mask is uint8 (out, in): 1 = weight kept, 0 = pruned (set to 0).
 *
 * Exact counts (one rule everywhere): a comparison group of `count` candidates prunes
 * exactly floor(ratio * count) of them, the lowest-scoring ones (Wanda's
 * sort-and-take-first-k). Ties are broken deterministically: among equal scores the
 * lower index ranks higher (is kept); indices are row-major within the group.
 * Groups:
 *   SP_PATTERN_UNSTRUCTURED  the whole layer (scope LAYER) or each output row (scope ROW)
 *   SP_PATTERN_NM            each run of m consecutive inputs in a row keeps exactly n
 *                            (prunes m-n; the ratio is ignored, it is 1 - n/m)
 *   SP_PATTERN_BLOCK         B x B tiles scored by the sum of their scores; the layer's
 *                            tiles compete, floor(ratio * n_tiles) tiles are pruned
 * SparseGPT chooses its mask per column block of `sparsegpt_blocksize` columns (all rows
 * of the block compete, as in the reference), see sparsegpt.c.
 */
#ifndef SPARSITY_PRUNE_H
#define SPARSITY_PRUNE_H

#include "sparsity.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    SP_PATTERN_UNSTRUCTURED = 0,
    SP_PATTERN_NM,
    SP_PATTERN_BLOCK,
} sp_prune_pattern;

typedef enum {
    SP_PRUNE_MAGNITUDE = 0,  /* |W| */
    SP_PRUNE_WANDA,          /* |W_ij| * ||X_j||_2 */
    SP_PRUNE_SPARSEGPT,      /* OBS with lazy batch updates (Frantar & Alistarh 2023) */
} sp_prune_method;

/* Which unstructured comparison group (N:M and block patterns fix their own). */
typedef enum {
    SP_SCOPE_DEFAULT = 0,    /* the method's own: magnitude LAYER, Wanda ROW */
    SP_SCOPE_LAYER,
    SP_SCOPE_ROW,
} sp_prune_scope;

typedef enum {
    SP_LAYERWISE_NONE = 0,   /* every layer gets sparsity_ratio */
    SP_LAYERWISE_OWL,        /* per-block ratios from outlier ratios (Yin et al. 2023) */
} sp_prune_layerwise;

/* The prune configuration (JSON names in quotes; see sp_prune_config_load). */
typedef struct {
    sp_prune_pattern pattern;      /* "pattern": "unstructured" | "n:m" | "block" */
    double sparsity_ratio;         /* "sparsity_ratio": fraction pruned, [0,1) */
    int n, m;                      /* "n", "m": N:M keeps n of every m, 1 <= n < m */
    int block_size;                /* "block_size": B for B x B tiles */
    sp_prune_method method;        /* "pruning_method": "magnitude" | "wanda" | "sparsegpt" */
    sp_prune_scope scope;          /* "scope": "default" | "layer" | "row" */
    char target_layers[1024];      /* "target_layers": comma list of name substrings; "" = all */
    char exclude_layers[1024];     /* "exclude_layers": comma list of name substrings */
    char calibration_data[4096];   /* "calibration_data": path to a text file */
    int nsamples;                  /* "nsamples": calibration sequences (default 128) */
    int seqlen;                    /* "seqlen": tokens per sequence (default 2048) */
    sp_prune_layerwise layerwise;  /* "layerwise": "none" | "owl" */
    double owl_lambda;             /* "owl_lambda": ratio spread (default 0.08) */
    double owl_m;                  /* "owl_m": outlier threshold multiple of the mean (default 5) */
    int sparsegpt_blocksize;       /* "sparsegpt_blocksize": lazy-update column block (128) */
    double percdamp;               /* "percdamp": dampening, fraction of mean diag H (0.01) */
} sp_prune_config;

/* Defaults: unstructured 0.5, 2:4, block 16, Wanda, scope default, no targets,
 * exclude "", nsamples 128, seqlen 2048, layerwise none, OWL 0.08/5, 128, 0.01. */
void sp_prune_config_default(sp_prune_config *c);
/* Checks ranges and combinations; SP_ERR_ARG with a one-line message. */
int sp_prune_config_validate(const sp_prune_config *c);
/* Defaults, then the keys present in the JSON text (origin names it in messages), then
 * validate. Unknown keys are an error (catches typos). target_layers/exclude_layers
 * take an array of strings or a comma-separated string. */
int sp_prune_config_parse(const char *json, const char *origin, sp_prune_config *c);
int sp_prune_config_load(const char *path, sp_prune_config *c);
/* The config as JSON (malloc'ed, caller frees), e.g. for checkpoint metadata; NULL on OOM. */
char *sp_prune_config_to_json(const sp_prune_config *c);
/* Does the config fit layer NAME of shape (out, in)? N:M needs m | in; block needs
 * B | out and B | in. SP_ERR_ARG naming the layer otherwise. */
int sp_prune_config_check_layer(const sp_prune_config *c, const char *name, int out, int in);
/* 1 if layer NAME is to be pruned: not matched by exclude_layers, and matched by
 * target_layers when that is non-empty; with no targets, names containing "embed" or
 * "lm_head" are left dense (they are pruned only when a target names them). */
int sp_prune_layer_selected(const sp_prune_config *c, const char *name);

const char *sp_prune_method_name(sp_prune_method m);   /* "magnitude", ... */
const char *sp_prune_pattern_name(sp_prune_pattern p); /* "unstructured", "n:m", "block" */

/* ------------------------------------------------------------------ mask core (mask.c) */

typedef enum {
    SP_GROUP_LAYER = 0,      /* all out*in scores compete */
    SP_GROUP_ROW,            /* each row's in scores compete */
    SP_GROUP_NM,             /* each run of m in a row keeps n */
    SP_GROUP_BLOCK,          /* B x B tile sums compete layer-wide */
} sp_mask_group;

/* keep (out, in) = top-scoring entries of score (out, in) per group: each group prunes
 * floor(ratio * count) (NM: m - n), ties to the lower index. NaN scores are an error. */
int sp_mask_select(const double *score, int out, int in, sp_mask_group g, double ratio,
                   int n, int m, int block, uint8_t *keep);
int sp_mask_select_f32(const float *score, int out, int in, sp_mask_group g, double ratio,
                       int n, int m, int block, uint8_t *keep);
/* The mask the config's pattern asks for, given the method's default unstructured scope. */
int sp_mask_for_config(const sp_prune_config *c, const double *score, int out, int in,
                       double ratio, sp_prune_scope method_default, uint8_t *keep);

/* ------------------------------------------------------------------ calibration statistics */

/* Per-layer input statistics, fed token batches by the model's observer. */
typedef struct {
    int in;                  /* input features */
    int64_t n_tokens;        /* tokens seen */
    double *col_sq;          /* (in,) sum over tokens of x_j^2 (Wanda: ||X_j||_2^2) */
    double *xtx;             /* (in, in) sum over tokens of x x^T, upper triangle (j >= i)
                                only; NULL unless need_hessian (SparseGPT) */
    int status;              /* first error seen by sp_prune_stats_observe, 0 if none */
} sp_prune_stats;

sp_prune_stats *sp_prune_stats_new(int in, int need_hessian); /* NULL + message on failure */
void sp_prune_stats_free(sp_prune_stats *s);
void sp_prune_stats_reset(sp_prune_stats *s);
/* Accumulates x (n_tokens, in) in double. */
int sp_prune_stats_add(sp_prune_stats *s, const float *x, int n_tokens);
/* sp_observer_fn adapter (ctx = sp_prune_stats*); errors land in s->status. */
void sp_prune_stats_observe(void *ctx, const float *x, int n_tokens, int in);

/* ------------------------------------------------------------------ pruners */

/* Prunes W (out, in) in place: pruned weights become 0 (SparseGPT also updates the kept
 * ones). stats: column norms and/or X^T X (NULL for magnitude). ratio_override < 0 uses
 * c->sparsity_ratio (OWL passes its per-block ratio); N:M ignores it. keep (out, in) or
 * NULL receives the mask. */
int sp_prune_layer(const sp_prune_config *c, float *W, int out, int in,
                   const sp_prune_stats *stats, double ratio_override, uint8_t *keep);

/* score (out, in) = |W| */
int sp_prune_magnitude_score(const float *W, int out, int in, double *score);
/* score (out, in) = |W_ij| * sqrt(col_sq_j) */
int sp_prune_wanda_score(const float *W, int out, int in, const sp_prune_stats *s, double *score);

int sp_prune_magnitude(const sp_prune_config *c, float *W, int out, int in, double ratio,
                       uint8_t *keep);
int sp_prune_wanda(const sp_prune_config *c, float *W, int out, int in,
                   const sp_prune_stats *s, double ratio, uint8_t *keep);
/* H = 2/n_tokens * sum x x^T (the reference's running average, summed then scaled).
 * Statistics and the weight update in double; W is rounded to float at the end. */
int sp_prune_sparsegpt(const sp_prune_config *c, float *W, int out, int in,
                       const sp_prune_stats *s, double ratio, uint8_t *keep);

/* ------------------------------------------------------------------ OWL (owl.c) */

/* Outlier ratio of one transformer block: the fraction of Wanda scores over all n_lin
 * linears (concatenated) that exceed owl_m times their mean. W[i] is (out[i], in[i]). */
int sp_owl_outlier_ratio(int n_lin, const float *const *W, const int *out, const int *in,
                         const sp_prune_stats *const *stats, double owl_m, double *ratio);
/* Per-block sparsity ratios (luuyin/OWL): d = (D - min D) / (max D - min D) * 2 lambda,
 * ratio_i = target - (d_i - mean d). Mean equals target; more outliers -> less pruning.
 * All D equal -> target everywhere. SP_ERR_ARG if a ratio falls outside [0, 1). */
int sp_owl_ratios(const double *outlier, int n_blocks, double target, double lambda,
                  double *ratios);

/* ------------------------------------------------------------------ whole model (calibrate.c) */

/* Checks the config against the model before any work: values, that every target/exclude
 * pattern matches a layer, and every selected layer's shape (N:M m | in, block B | dims). */
int sp_prune_model_check(sp_model *m, const sp_prune_config *c);
/* Prunes every selected linear of m in place, one transformer block at a time (sequential
 * calibration: each block's statistics come from the already-pruned previous blocks).
 * *meta_json (malloc'ed, may be NULL) receives {"config", "layers": {name: {target,
 * sparsity}}, "prune_seconds", "peak_rss_bytes"} for the checkpoint metadata. */
int sp_prune_model(sp_model *m, const sp_prune_config *c, char **meta_json);

#ifdef __cplusplus
}
#endif

#endif /* SPARSITY_PRUNE_H */
