/* sparsity.h: the public C API of sageLLM-sparsity (prefix sp_).
 *
 * Conventions (stated once):
 *  - matrices are row-major; a linear weight W has shape (out, in) and computes
 *    y = W x (+ b) for x of shape (in,), or Y = X W^T for X of shape (n_tokens, in).
 *  - library calls return int status: 0 ok, negative sp_status on error, with a
 *    one-line message from sp_last_error(). Loaders return NULL on error.
 *  - *_free(NULL) is safe. Only cli/ and tests call exit().
 *
 * Other public headers by concern: sparsity_formats.h (sparse formats and
 * CPU kernels), sparsity_prune.h (pruning), sparsity_pack.h (packed checkpoints),
 * sparsity_cuda.h (GPU backend).
 */
#ifndef SPARSITY_H
#define SPARSITY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ core */

typedef enum {
    SP_OK = 0,
    SP_ERR_IO = -1,          /* open/read/write/mmap failed */
    SP_ERR_FORMAT = -2,      /* file contents malformed or inconsistent */
    SP_ERR_ARG = -3,         /* invalid argument or configuration */
    SP_ERR_NOMEM = -4,       /* allocation failed */
    SP_ERR_UNSUPPORTED = -5, /* valid but not implemented (dtype, arch, ...) */
} sp_status;

/* Records a printf-style message (thread-local) and returns code. */
int sp_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *sp_last_error(void);

typedef enum {
    SP_DTYPE_F32 = 0,
    SP_DTYPE_F16,
    SP_DTYPE_BF16,
    SP_DTYPE_F64,
    SP_DTYPE_I8,
    SP_DTYPE_U8,
    SP_DTYPE_I16,
    SP_DTYPE_I32,
    SP_DTYPE_I64,
    SP_DTYPE_U16,            /* packed index arrays (CSR columns, 2:4 meta) */
    SP_DTYPE_COUNT
} sp_dtype;

size_t sp_dtype_size(sp_dtype t);            /* bytes per element */
const char *sp_dtype_name(sp_dtype t);       /* safetensors spelling: "F32", "BF16", ... */
int sp_dtype_from_name(const char *name);    /* inverse; negative if unknown */

float sp_f16_to_f32(uint16_t h);
uint16_t sp_f32_to_f16(float f);             /* round to nearest even */
float sp_bf16_to_f32(uint16_t h);
uint16_t sp_f32_to_bf16(float f);            /* round to nearest even, NaN kept */
/* out[i] = (float)in[i] for n elements of dtype t (F32, F16, BF16, F64, ints). */
int sp_convert_to_f32(sp_dtype t, const void *in, float *out, size_t n);
/* out (n elements of dtype t) = in; only float dtypes. */
int sp_convert_from_f32(sp_dtype t, const float *in, void *out, size_t n);

/* Monotonic seconds. */
double sp_time(void);
/* Median of v[0..n) (n >= 1); sorts v in place. */
double sp_median(double *v, int n);
/* Peak resident set size of this process in bytes (0 if unknown). */
size_t sp_peak_rss(void);

/* Progress line on stderr: "label i/n  elapsed  ETA" (rewritten in place on a tty). */
typedef struct {
    const char *label;
    int n;
    double t0;
} sp_progress;
void sp_progress_begin(sp_progress *p, const char *label, int n);
void sp_progress_step(sp_progress *p, int done);
void sp_progress_end(sp_progress *p);

/* Write-then-rename helper: a file is written to PATH.tmp.PID and renamed onto
 * PATH only when complete, so a failed run never leaves a half-written PATH. */
typedef struct {
    char path[4096];
    char tmp[4120];
    void *fp; /* FILE* */
} sp_atomic_file;
int sp_atomic_open(sp_atomic_file *af, const char *path);
int sp_atomic_commit(sp_atomic_file *af); /* fclose + fsync + rename */
void sp_atomic_abort(sp_atomic_file *af); /* fclose + unlink tmp */
/* Whole file in a malloc'ed, NUL-terminated buffer. */
int sp_read_file(const char *path, char **data, size_t *len);

/* ------------------------------------------------------------------ GGUF (io/gguf.c) */

typedef enum {
    SP_GGUF_UINT8 = 0, SP_GGUF_INT8 = 1, SP_GGUF_UINT16 = 2, SP_GGUF_INT16 = 3,
    SP_GGUF_UINT32 = 4, SP_GGUF_INT32 = 5, SP_GGUF_FLOAT32 = 6, SP_GGUF_BOOL = 7,
    SP_GGUF_STRING = 8, SP_GGUF_ARRAY = 9, SP_GGUF_UINT64 = 10, SP_GGUF_INT64 = 11,
    SP_GGUF_FLOAT64 = 12,
} sp_gguf_type;

/* ggml tensor types (numbering as in the GGUF spec). */
typedef enum {
    SP_GGML_F32 = 0, SP_GGML_F16 = 1, SP_GGML_Q4_0 = 2, SP_GGML_Q4_1 = 3,
    SP_GGML_Q5_0 = 6, SP_GGML_Q5_1 = 7, SP_GGML_Q8_0 = 8,
    SP_GGML_Q2_K = 10, SP_GGML_Q3_K = 11, SP_GGML_Q4_K = 12, SP_GGML_Q5_K = 13,
    SP_GGML_Q6_K = 14, SP_GGML_Q8_K = 15, SP_GGML_BF16 = 30,
} sp_ggml_type;

typedef struct {
    const char *name;     /* NUL-terminated, owned by the sp_gguf */
    uint32_t type;        /* sp_ggml_type */
    int n_dims;
    int64_t ne[4];        /* ggml order: ne[0] is the contiguous (innermost) dim */
    uint64_t offset;      /* relative to the data section */
    const void *data;     /* into the mmapped file */
    size_t nbytes;
} sp_gguf_tensor;

typedef struct sp_gguf sp_gguf; /* opaque: an mmapped, validated GGUF file */

sp_gguf *sp_gguf_open(const char *path); /* NULL + sp_last_error on failure */
void sp_gguf_free(sp_gguf *g);
uint32_t sp_gguf_version(const sp_gguf *g);

int sp_gguf_n_kv(const sp_gguf *g);
const char *sp_gguf_kv_key(const sp_gguf *g, int i);
int sp_gguf_find_key(const sp_gguf *g, const char *key); /* index or -1 */
sp_gguf_type sp_gguf_kv_type(const sp_gguf *g, int i);
/* Scalar getters convert any integer/float/bool type; return SP_ERR_FORMAT if the
 * key is missing or not numeric. */
int sp_gguf_get_i64(const sp_gguf *g, const char *key, int64_t *out);
int sp_gguf_get_f64(const sp_gguf *g, const char *key, double *out);
/* String value (not NUL-terminated in the file: returns pointer + length). */
int sp_gguf_get_str(const sp_gguf *g, const char *key, const char **s, size_t *len);
/* Arrays: element type and count; element i as number or string. */
int sp_gguf_get_arr(const sp_gguf *g, const char *key, sp_gguf_type *elem_type, uint64_t *n);
int sp_gguf_get_arr_str(const sp_gguf *g, const char *key, uint64_t i, const char **s, size_t *len);
int sp_gguf_get_arr_f64(const sp_gguf *g, const char *key, uint64_t i, double *out);

int sp_gguf_n_tensors(const sp_gguf *g);
const sp_gguf_tensor *sp_gguf_tensor_at(const sp_gguf *g, int i);
int sp_gguf_find_tensor(const sp_gguf *g, const char *name); /* index or -1 */
/* Dequantize a whole tensor to f32; out holds ne[0]*ne[1]*ne[2]*ne[3] floats. */
int sp_gguf_dequantize(const sp_gguf_tensor *t, float *out);
/* Bytes taken by n elements of ggml type (n a multiple of the block size), 0 if unknown. */
size_t sp_ggml_nbytes(uint32_t type, int64_t n);
const char *sp_ggml_type_name(uint32_t type);

/* ------------------------------------------------------------------ safetensors (io/safetensors.c) */

#define SP_MAX_DIMS 4

typedef struct {
    const char *name;        /* owned by the file handle */
    sp_dtype dtype;
    int ndim;
    int64_t shape[SP_MAX_DIMS];
    const void *data;        /* into the mmapped file (read-only) */
    size_t nbytes;
} sp_st_tensor;

typedef struct sp_st sp_st; /* opaque: an mmapped, validated safetensors file */

sp_st *sp_st_open(const char *path);
void sp_st_free(sp_st *st);
int sp_st_n_tensors(const sp_st *st);
const sp_st_tensor *sp_st_tensor_at(const sp_st *st, int i);
const sp_st_tensor *sp_st_find(const sp_st *st, const char *name); /* NULL if absent */
/* __metadata__ string value for key, NULL if absent. */
const char *sp_st_meta(const sp_st *st, const char *key);
int sp_st_n_meta(const sp_st *st);
const char *sp_st_meta_key(const sp_st *st, int i);

/* Writer: collects tensors (data borrowed until sp_st_writer_save returns) and
 * metadata, then writes PATH atomically (temp file + rename). */
typedef struct sp_st_writer sp_st_writer;
sp_st_writer *sp_st_writer_new(void);
int sp_st_writer_add(sp_st_writer *w, const char *name, sp_dtype dtype, int ndim,
                     const int64_t *shape, const void *data);
int sp_st_writer_meta(sp_st_writer *w, const char *key, const char *value);
int sp_st_writer_save(sp_st_writer *w, const char *path);
void sp_st_writer_free(sp_st_writer *w);

/* ------------------------------------------------------------------ tokenizer (model/tokenizer.c) */

/* Byte-level BPE (GPT-2 style) with the pre-tokenizer named by the model
 * (GGUF tokenizer.ggml.pre / tokenizer.json pre_tokenizer). */
typedef struct sp_tokenizer sp_tokenizer;

sp_tokenizer *sp_tokenizer_from_gguf(const sp_gguf *g);
sp_tokenizer *sp_tokenizer_load(const char *tokenizer_json_path);
/* Writes a Hugging Face tokenizer.json (model BPE, vocab, merges, added tokens,
 * pre_tokenizer, decoder) atomically. */
int sp_tokenizer_save(const sp_tokenizer *tk, const char *path);
void sp_tokenizer_free(sp_tokenizer *tk);
int sp_tokenizer_vocab_size(const sp_tokenizer *tk);
int sp_tokenizer_bos(const sp_tokenizer *tk);
int sp_tokenizer_eos(const sp_tokenizer *tk);
/* Encodes UTF-8 text (no BOS added; special tokens in text are matched).
 * *ids is malloc'ed, caller frees. */
int sp_tokenizer_encode(const sp_tokenizer *tk, const char *text, size_t len,
                        int32_t **ids, size_t *n_ids);
/* Raw bytes of one token (byte-level decoded), NULL if id out of range. */
const char *sp_tokenizer_decode(const sp_tokenizer *tk, int32_t id, size_t *len);

/* ------------------------------------------------------------------ model (model/) */

typedef struct {
    char arch[32];          /* "llama" or "qwen2" */
    int dim;                /* hidden size */
    int hidden_dim;         /* MLP intermediate size */
    int n_layers;
    int n_heads;
    int n_kv_heads;
    int head_dim;           /* dim / n_heads */
    int vocab_size;
    int max_seq_len;
    float rope_theta;
    float norm_eps;
    int tie_embeddings;     /* lm_head shares embed_tokens */
    int qkv_bias;           /* Qwen2: q/k/v projections carry a bias */
    int bos_id, eos_id;
} sp_config;

int sp_config_load(const char *config_json_path, sp_config *c);
int sp_config_save(const sp_config *c, const char *config_json_path);

/* Observer: sees every input batch of a linear (calibration statistics). */
typedef void (*sp_observer_fn)(void *ctx, const float *x, int n_tokens, int in);

/* The one door between the model and every kernel.
 * y (n_tokens, out) = x (n_tokens, in) W^T + b. */
typedef struct sp_linear {
    char name[96];          /* e.g. "model.layers.3.mlp.up_proj" */
    int out, in;
    float *w;               /* dense f32 (out, in), owned unless borrowed */
    float *bias;            /* (out,) or NULL */
    int owns_w;
    void *kernel;           /* bound sparse kernel state (formats/, later), NULL = dense */
    int (*forward)(const struct sp_linear *l, const float *x, int n_tokens, float *y);
    const char *kernel_name;/* which kernel runs, for reports */
    const char *kernel_why; /* why it was chosen */
    sp_observer_fn observe; /* optional */
    void *observe_ctx;
} sp_linear;

/* Runs the observer (if any), then l->forward (or dense BLAS when NULL), then adds
 * the bias: a bound forward computes x W^T only. */
int sp_linear_forward(const sp_linear *l, const float *x, int n_tokens, float *y);

/* Per transformer block: 7 linears (q,k,v,o,gate,up,down) and 2 norms. */
enum { SP_Q, SP_K, SP_V, SP_O, SP_GATE, SP_UP, SP_DOWN, SP_N_LINEAR };
extern const char *const sp_linear_suffix[SP_N_LINEAR]; /* "self_attn.q_proj", ... */

typedef struct {
    float *attn_norm;       /* (dim,) */
    float *mlp_norm;        /* (dim,) */
    sp_linear lin[SP_N_LINEAR];
} sp_block;

typedef struct sp_model {
    sp_config cfg;
    float *embed;           /* (vocab, dim) */
    float *final_norm;      /* (dim,) */
    sp_linear lm_head;      /* (vocab, dim), borrows embed when tied */
    sp_block *blocks;       /* (n_layers,) */
    sp_tokenizer *tok;
    sp_st *weights_file;    /* mmapped model.safetensors that unowned weights point into, or NULL */
    char dir[4096];
    const char *weights_meta; /* safetensors __metadata__ "sparsity" (JSON), NULL if none; owned by weights_file */
} sp_model;

/* Loads a model folder (config.json + model.safetensors + tokenizer.json). */
sp_model *sp_model_load(const char *dir);
void sp_model_free(sp_model *m);
/* A model folder or a .gguf file, whichever PATH is. */
sp_model *sp_model_open(const char *path);
/* Builds a model from a GGUF file (dequantized to f32; Q/K un-permuted to HF layout). */
sp_model *sp_model_from_gguf(const char *path);
/* Writes a model folder atomically (OUT.tmp then rename); meta_json (may be NULL)
 * goes into the safetensors __metadata__ under "sparsity". */
int sp_model_save(const sp_model *m, const char *dir, const char *meta_json);
/* Allocates m->blocks for m->cfg and names/sizes every linear (no weights). */
int sp_model_alloc_layout(sp_model *m);
/* Makes l->w a private writable copy if it points into the mmapped file. */
int sp_linear_own(sp_linear *l);
/* Number of linear layers and the i-th one (blocks in order, then lm_head). */
int sp_model_n_linear(const sp_model *m);
sp_linear *sp_model_linear(sp_model *m, int i);

/* Inference state: KV cache and scratch for up to max_tokens per forward call. */
typedef struct sp_state sp_state;
sp_state *sp_state_new(const sp_model *m, int max_ctx, int max_tokens);
void sp_state_free(sp_state *s);
void sp_state_reset(sp_state *s);
int sp_state_pos(const sp_state *s);
/* Runs n tokens at positions pos..pos+n-1 and appends them to the cache.
 * logits (n, vocab) if all_logits, else (1, vocab) for the last token; NULL = none. */
int sp_forward(const sp_model *m, sp_state *s, const int32_t *tokens, int n,
               float *logits, int all_logits);

/* Block-level pieces, used by calibration (prune/calibrate.c):
 * x (n, dim) = embed[tokens]; block b applied in place to x (n, dim) as a fresh sequence
 * at positions 0..n-1 (s is scratch: n <= its max_tokens; its position is untouched). */
void sp_embed(const sp_model *m, const int32_t *tokens, int n, float *x);
int sp_block_forward(const sp_model *m, sp_state *s, int b, float *x, int n);

/* ------------------------------------------------------------------ eval (eval/) */

typedef struct {
    int64_t n_tokens;       /* tokens scored */
    int n_windows;
    double nll;             /* mean negative log-likelihood (nats) */
    double ppl;             /* exp(nll) */
    double seconds;
    double tokens_per_s;
} sp_ppl_result;

/* Perplexity over non-overlapping windows of ctx tokens (the SparseGPT/Wanda
 * protocol: every token after the first of each window is scored).
 * max_tokens <= 0 means the whole text. */
int sp_eval_perplexity(const sp_model *m, const int32_t *ids, int64_t n_ids, int ctx,
                       int64_t max_tokens, int progress, sp_ppl_result *r);

/* Sparsity of one linear weight (eval/verify.c). */
typedef struct {
    int64_t numel, zeros;
    double sparsity;        /* zeros / numel */
    int nm_ok;              /* 1 if every group of m consecutive inputs has <= n non-zeros (when m > 0) */
    int64_t nm_bad_groups;
    double block_zero_frac; /* fraction of block x block tiles that are entirely zero (when block > 0) */
} sp_layer_stats;
/* Zeros of w (out, in); checks n:m groups when m > 0 and blocks when block > 0. */
void sp_layer_stats_compute(const float *w, int out, int in, int n, int m, int block, sp_layer_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* SPARSITY_H */
