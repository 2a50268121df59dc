/* model.cu: a Llama-style decoder on the device (API in sparsity_cuda.h): weights, KV
 * cache, the forward pass and the per-layer kernel choice.
 *
 * Kernel choice: a sparse binding gives each block linear its sparse forms; the first time a
 * (shape, pattern, sparsity decile, token count) is met, every allowed form and dense cuBLAS
 * are timed on that layer's own weights (L2 flushed, CUDA events, median) and the fastest is
 * kept for every layer with the same key; the reason printed is that measurement. Forms that
 * fail to build (no cuSPARSELt, shape not supported) are named in the reason. A table preloaded
 * with sp_cuda_model_table_set (a file from bench --calibrate-kernels) replaces the timing for
 * the keys it holds, when the form it picked is present for the layer. */
#include <cublas_v2.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_ops.cuh"

#define SP_MAX_PICKS 128
#define SP_NLIN 7
#define SP_ATT_CHUNK 512 /* prefill attention query rows per chunk */
#define SP_ATT_SPLITS 32     /* most key splits of one decode attention block row: contexts up to 32 x SP_ATT_CHUNK_MAX */
#define SP_ATT_SPLITS_HEAD 8 /* ... a q head a block (small batches): wanted splits, more only for long contexts */
#define SP_PROF_MAX 2048 /* op events of one profiled forward */

struct sp_lin {
    int out, in;
    int structured;        /* every group of 4 along the rows has <= 2 nonzeros (in % 16 == 0) */
    double sparsity;       /* zero fraction */
    sp_cuda_weight *k[SP_CUDA_KERNEL_COUNT]; /* [DENSE] always (but folded); sparse forms after bind(1) */
    int folded;            /* a part of a fused group whose rows now live only in the group's dense weight */
    char missing[SP_CUDA_KERNEL_COUNT][160];  /* why a sparse form is absent */
};

/* Groups of linears that read the same input run as one linear of stacked rows, as inference
 * engines run them: q|k|v (linears 0-2) and gate|up (4-5). The k and v projections alone are
 * the weakest shapes (1024 x 4096 on Llama-3-8B: a launch-bound 9-11 us each); stacked they
 * read like one 6144 x 4096 layer; gate|up is one 28672-row GEMM instead of two. */
enum { SP_FUSE_QKV, SP_FUSE_GU, SP_NFUSE };
static const int fuse_first[SP_NFUSE] = {0, 4}, fuse_count[SP_NFUSE] = {3, 2};
static int fuse_of(int j) { return j < 3 ? SP_FUSE_QKV : j == 4 || j == 5 ? SP_FUSE_GU : -1; }

struct sp_pick {
    int out, in, structured, decile, n;
    unsigned avail;        /* forms present (bit per kernel): a layer missing one gets its own pick */
    sp_cuda_kernel kernel;
    int off_table;         /* not a choice among all forms (made after a trim, or moved by one): not in table_get */
    double us[SP_CUDA_KERNEL_COUNT]; /* timings behind the pick (< 0: not timed), for table_get */
    char why[1536];        /* the timings and each form's path (delta rows' alone ~400 characters), then the pick */
};

struct sp_cuda_model {
    sp_cuda_model_cfg c;
    int max_ctx, max_rows, max_batch, rows_cap, qd, kvd, sparse;
    int trimmed;           /* sp_cuda_model_trim ran: only the picked forms are left, no bind again */
    int lean;              /* bind(2): no cuSPARSELt form (the own 2:4 form alone) */
    int flash;             /* prefill attention: fused kernel (1) or cuBLAS + softmax (0) */
    int dec_attn;          /* decode attention: 0 by batch size, 1 a q head a block, 2 a kv head a block */
    bf16 *embed;
    float *final_norm, *attn_norm, *mlp_norm; /* (dim), (layers, dim) x2 */
    sp_lin *lin;                              /* (layers, 7) */
    sp_lin *fused;                            /* (layers, SP_NFUSE): q|k|v and gate|up rows stacked, built by bind */
    int fuse[SP_NFUSE];                       /* 1: the group runs as one linear (SP_GPU_QKV / SP_GPU_GATEUP=separate: 0) */
    sp_lin head;
    float *x, *S, *part_o, *part_ml; /* part_*: decode attention key splits */
    bf16 *xb, *q, *kn, *vn, *qkvb, *att, *o, *h1, *h2, *P, *kc, *vc, *xl, *logits, *tx, *ty;
    float *cs, *sn;
    int *tok;
    size_t tx_elems, ty_elems;
    uint16_t *hlogits;
    sp_pick picks[SP_MAX_PICKS];
    int npicks;
    sp_cuda_table_entry *table; /* preloaded picks (table_set); outlive bind */
    int ntable;
    char table_src[160];
    int *arrived;               /* (batch, heads): decode attention splits done, for the merge */
    int *htok;                  /* host staging: pos, then the tokens (one copy to tok) */
    /* decode graphs (one per batch size): the first forward at a batch size runs op by op
     * and makes the picks; the second is captured, and every later one replays it. pos lives
     * on the device (tok[0]), so one graph serves every position. SP_GPU_GRAPH=0: none. */
    int graph_on, capturing;
    /* programmatic dependent launch (sm_90, SP_GPU_PDL=0: off): the element-wise and attention
     * kernels of both bindings and the own 2:4 decode kernel start while the kernel before
     * them finishes (common.cuh, sp_launch) */
    int pdl;
    cudaGraphExec_t *graph;     /* (max_batch) */
    int *graph_seen;            /* forwards seen a batch size */
    /* SP_GPU_PROFILE=1: an event after every op; times between them are summed per op name */
    int prof_on, prof_n, prof_fw;
    cudaEvent_t prof_ev[SP_PROF_MAX];
    const char *prof_name[SP_PROF_MAX];
    const char *prof_ops[32];
    double prof_ms[32];
    int prof_nops;
    char launch_mode[400];      /* sp_cuda_model_launch_mode */
};

static const char *const lin_names[SP_NLIN] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};

/* the decode attention for large batches built for head dim D (D / 32 dims a lane; D % 32 == 0,
 * D <= 256) */
typedef void (*attn_decode_fn)(const bf16 *, const bf16 *, const bf16 *, bf16 *, int, int, int, int, int, const int *, float,
                               float *, float *, int *);
template <int G>
static attn_decode_fn attn_decode_gqa_g(int D) {
    return D <= 32 ? k_attn_decode_gqa<1, G> : D <= 64 ? k_attn_decode_gqa<2, G> : D <= 128 ? k_attn_decode_gqa<4, G> : k_attn_decode_gqa<8, G>;
}
/* ... and GQA group: loops built for 2, 4 or 8 heads (computing 8 for a group of 4 doubled the
 * instructions, ncu run 40) */
static attn_decode_fn attn_decode_gqa(int D, int group) {
    return group <= 2 ? attn_decode_gqa_g<2>(D) : group <= 4 ? attn_decode_gqa_g<4>(D) : attn_decode_gqa_g<8>(D);
}

static unsigned grid_for(size_t n) { size_t g = (n + 255) / 256; return (unsigned)(g < 4096 ? (g ? g : 1) : 4096); }

static void lin_shape(const sp_cuda_model *g, int j, int *out, int *in) {
    const sp_cuda_model_cfg *c = &g->c;
    switch (j) {
    case 0: *out = g->qd; *in = c->dim; break;
    case 1: case 2: *out = g->kvd; *in = c->dim; break;
    case 3: *out = c->dim; *in = g->qd; break;
    case 4: case 5: *out = c->hidden_dim; *in = c->dim; break;
    default: *out = c->dim; *in = c->hidden_dim; break;
    }
}

/* a fused group runs once a bind built its stacked weight (a trim may free that dense copy since) */
static int fused_live(const sp_cuda_model *g, const sp_lin *f) { return f->k[SP_CUDA_KERNEL_DENSE] || (g->trimmed && f->out); }

/* the linear that runs for linear j of block layer: its fused group once bound */
static sp_lin *lin_run(const sp_cuda_model *g, int layer, int j) {
    const int f = fuse_of(j);
    sp_lin *l = f >= 0 && g->fuse[f] ? &g->fused[layer * SP_NFUSE + f] : NULL;
    return l && fused_live(g, l) ? l : &g->lin[layer * SP_NLIN + j];
}

static void graphs_reset(sp_cuda_model *g) {
    for (int b = 0; g->graph && b < g->max_batch; b++) {
        if (g->graph[b]) cudaGraphExecDestroy(g->graph[b]);
        g->graph[b] = NULL;
        g->graph_seen[b] = 0;
    }
}

static void lin_free(sp_lin *l) {
    for (int k = 0; k < SP_CUDA_KERNEL_COUNT; k++) { sp_cuda_weight_free(l->k[k]); l->k[k] = NULL; }
}

extern "C" void sp_cuda_model_free(sp_cuda_model *g) {
    if (!g) return;
    if (g->lin)
        for (int i = 0; i < g->c.n_layers * SP_NLIN; i++) lin_free(&g->lin[i]);
    if (g->fused)
        for (int i = 0; i < g->c.n_layers * SP_NFUSE; i++) lin_free(&g->fused[i]);
    free(g->fused);
    lin_free(&g->head);
    void *bufs[] = {g->embed, g->final_norm, g->attn_norm, g->mlp_norm, g->x, g->S, g->xb, g->q, g->kn, g->vn,
                    g->qkvb, g->att, g->o, g->h1, g->h2, g->P, g->kc, g->vc, g->xl, g->logits, g->tx, g->ty, g->cs, g->sn, g->tok, g->part_o, g->part_ml, g->arrived};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) cudaFree(bufs[i]);
    free(g->lin);
    graphs_reset(g);
    free(g->graph);
    free(g->graph_seen);
    free(g->hlogits);
    free(g->htok);
    free(g->table);
    for (int i = 0; g->prof_on && i < SP_PROF_MAX; i++) cudaEventDestroy(g->prof_ev[i]);
    free(g);
}

extern "C" sp_cuda_model *sp_cuda_model_new(const sp_cuda_model_cfg *cfg, int max_ctx, int max_rows, int max_batch) {
    sp_cuda_ctx *ctx = sp_cuda_ctx_get();
    if (!ctx) return NULL;
    const sp_cuda_model_cfg *c = cfg;
    if (c->dim <= 0 || c->n_layers <= 0 || c->n_heads <= 0 || c->n_kv_heads <= 0 || c->n_heads % c->n_kv_heads ||
        c->head_dim % 32 || c->head_dim > 256 || c->dim % 16 || c->hidden_dim % 16 || max_ctx < 1 || max_rows < 1 ||
        max_batch < 1 || max_rows > max_ctx || max_ctx > SP_ATT_SPLITS * SP_ATT_CHUNK_MAX) {
        sp_error(SP_ERR_ARG, "sp_cuda_model_new: unsupported shape (dim %d, heads %d/%d, head dim %d, ctx %d (at most %d), rows %d)",
                 c->dim, c->n_heads, c->n_kv_heads, c->head_dim, max_ctx, SP_ATT_SPLITS * SP_ATT_CHUNK_MAX, max_rows);
        return NULL;
    }
    sp_cuda_model *g = (sp_cuda_model *)calloc(1, sizeof *g);
    if (!g) { sp_error(SP_ERR_NOMEM, "sp_cuda_model_new: out of memory"); return NULL; }
    g->c = *c;
    g->max_ctx = max_ctx, g->max_rows = max_rows, g->max_batch = max_batch;
    g->rows_cap = max_rows > max_batch ? max_rows : max_batch;
    g->qd = c->n_heads * c->head_dim, g->kvd = c->n_kv_heads * c->head_dim;
    /* SP_GPU_ATTN=cublas keeps the unfused prefill attention (for A/B timing) */
    const char *attn = getenv("SP_GPU_ATTN");
    g->flash = (c->head_dim == 32 || c->head_dim == 64 || c->head_dim == 128) && !(attn && !strcmp(attn, "cublas"));
    /* SP_GPU_DECODE_ATTN=head|gqa fixes the decode attention kernel (tests, A/B timing) */
    const char *da = getenv("SP_GPU_DECODE_ATTN");
    g->dec_attn = da && !strcmp(da, "head") ? 1 : da && !strcmp(da, "gqa") ? 2 : 0;
    /* SP_GPU_QKV=separate keeps three q/k/v linears a block, SP_GPU_GATEUP=separate two (A/B timing) */
    const char *qkv = getenv("SP_GPU_QKV"), *gu = getenv("SP_GPU_GATEUP");
    g->fuse[SP_FUSE_QKV] = !(qkv && !strcmp(qkv, "separate"));
    g->fuse[SP_FUSE_GU] = !(gu && !strcmp(gu, "separate"));
    const char *gr = getenv("SP_GPU_GRAPH"), *prof = getenv("SP_GPU_PROFILE");
    g->prof_on = prof && !strcmp(prof, "1");
    g->graph_on = !(gr && !strcmp(gr, "0")) && !g->prof_on; /* events between ops: no graph */
    const char *pdl = getenv("SP_GPU_PDL");
    g->pdl = ctx->cc_major >= 9 && !(pdl && !strcmp(pdl, "0"));
    char fa[160];
    if (g->flash) /* which fused kernel a prompt of 512 / 2048 / 8192 tokens takes */
        snprintf(fa, sizeof fa, "fused: %s / %s / %s at 512 / 2048 / 8192 tokens",
                 sp_flash_kernel_name(sp_cuda_flash_rows(512, c->n_heads, c->head_dim)),
                 sp_flash_kernel_name(sp_cuda_flash_rows(2048, c->n_heads, c->head_dim)),
                 sp_flash_kernel_name(sp_cuda_flash_rows(8192, c->n_heads, c->head_dim)));
    else
        snprintf(fa, sizeof fa, "cuBLAS + softmax (%s)", attn ? "SP_GPU_ATTN=cublas" : "no fused kernel for this head dim");
    snprintf(g->launch_mode, sizeof g->launch_mode, "decode steps %s; early launch of the own kernels %s; prefill attention %s",
             g->graph_on ? "as one CUDA graph per batch size" : g->prof_on ? "op by op (SP_GPU_PROFILE=1)" : "op by op (SP_GPU_GRAPH=0)",
             g->pdl ? "on (programmatic dependence, sm_90)" : ctx->cc_major < 9 ? "off (needs sm_90)" : "off (SP_GPU_PDL=0)", fa);
    g->graph = (cudaGraphExec_t *)calloc((size_t)max_batch, sizeof(cudaGraphExec_t));
    g->graph_seen = (int *)calloc((size_t)max_batch, sizeof(int));
    g->htok = (int *)malloc(((size_t)(max_rows > max_batch ? max_rows : max_batch) + 1) * sizeof(int));
    g->lin = (sp_lin *)calloc((size_t)c->n_layers * SP_NLIN, sizeof(sp_lin));
    g->fused = (sp_lin *)calloc((size_t)c->n_layers * SP_NFUSE, sizeof(sp_lin));
    g->hlogits = (uint16_t *)malloc((size_t)max_batch * c->vocab * 2);
    const size_t R = g->rows_cap, D = c->dim, H = c->hidden_dim, half = c->head_dim / 2;
    size_t wide = H > D ? H : D;
    if (g->qd + 2 * g->kvd > (int)wide) wide = g->qd + 2 * g->kvd; /* the fused outputs */
    if (2 * H > wide) wide = 2 * H;
    g->tx_elems = R * wide, g->ty_elems = R * wide;
    const size_t cache = (size_t)c->n_layers * max_batch * max_ctx * g->kvd;
    const size_t sp = (size_t)c->n_kv_heads * (max_rows < SP_ATT_CHUNK ? max_rows : SP_ATT_CHUNK) * max_ctx;
    struct { void **p; size_t bytes; } al[] = {
        {(void **)&g->embed, (size_t)c->vocab * D * 2}, {(void **)&g->final_norm, D * 4},
        {(void **)&g->attn_norm, c->n_layers * D * 4}, {(void **)&g->mlp_norm, c->n_layers * D * 4},
        {(void **)&g->x, R * D * 4}, {(void **)&g->S, sp * 4}, {(void **)&g->P, sp * 2},
        {(void **)&g->xb, R * D * 2}, {(void **)&g->q, R * g->qd * 2}, {(void **)&g->kn, R * g->kvd * 2},
        {(void **)&g->vn, R * g->kvd * 2}, {(void **)&g->qkvb, R * (g->qd + 2 * g->kvd) * 2}, {(void **)&g->att, R * g->qd * 2}, {(void **)&g->o, R * D * 2},
        {(void **)&g->h1, R * 2 * H * 2}, {(void **)&g->h2, R * H * 2}, {(void **)&g->kc, cache * 2},
        {(void **)&g->vc, cache * 2}, {(void **)&g->xl, (size_t)max_batch * D * 2},
        {(void **)&g->logits, (size_t)max_batch * c->vocab * 2}, {(void **)&g->tx, g->tx_elems * 2},
        {(void **)&g->ty, g->ty_elems * 2}, {(void **)&g->cs, (size_t)max_ctx * half * 4},
        {(void **)&g->sn, (size_t)max_ctx * half * 4}, {(void **)&g->tok, (R + 1) * 4},
        {(void **)&g->arrived, (size_t)max_batch * c->n_heads * 4},
        {(void **)&g->part_o, (size_t)max_batch * c->n_heads * SP_ATT_SPLITS * c->head_dim * 4},
        {(void **)&g->part_ml, (size_t)max_batch * c->n_heads * SP_ATT_SPLITS * 2 * 4}};
    size_t total = 0;
    for (size_t i = 0; i < sizeof al / sizeof al[0]; i++) {
        total += al[i].bytes;
        if (cudaMalloc(al[i].p, al[i].bytes ? al[i].bytes : 4) != cudaSuccess) {
            cudaGetLastError();
            sp_error(SP_ERR_NOMEM, "sp_cuda_model_new: device allocation failed after %.2f GB (KV cache %.2f GB, "
                     "attention scores %.2f GB)", total / 1e9, cache * 4 / 1e9, sp * 6 / 1e9);
            sp_cuda_model_free(g);
            return NULL;
        }
    }
    if (!g->lin || !g->fused || !g->hlogits || !g->graph || !g->graph_seen || !g->htok) { sp_error(SP_ERR_NOMEM, "sp_cuda_model_new: out of memory"); sp_cuda_model_free(g); return NULL; }
    /* RoPE table in double on the host, as the CPU forward (src/model/llama.c) */
    float *hc = (float *)malloc((size_t)max_ctx * half * 4), *hs = (float *)malloc((size_t)max_ctx * half * 4);
    if (!hc || !hs) { free(hc); free(hs); sp_error(SP_ERR_NOMEM, "out of memory"); sp_cuda_model_free(g); return NULL; }
    for (int p = 0; p < max_ctx; p++)
        for (size_t i = 0; i < half; i++) {
            double a = p * pow((double)c->rope_theta, -2.0 * (double)i / c->head_dim);
            hc[p * half + i] = (float)cos(a);
            hs[p * half + i] = (float)sin(a);
        }
    int ok = sp_h2d(g->cs, hc, (size_t)max_ctx * half * 4) == cudaSuccess && sp_h2d(g->sn, hs, (size_t)max_ctx * half * 4) == cudaSuccess;
    free(hc); free(hs);
    if (sp_dset(g->arrived, 0, (size_t)max_batch * c->n_heads * 4) != cudaSuccess) ok = 0;
    for (int i = 0; g->prof_on && i < SP_PROF_MAX; i++)
        if (cudaEventCreate(&g->prof_ev[i]) != cudaSuccess) ok = 0;
    /* timing input: random, never zeros */
    k_random_bf16<><<<grid_for(g->tx_elems), 256, 0, ctx->stream>>>(g->tx, g->tx_elems, 12345, 1.f);
    /* decode attention and softmax keep a row of scores in shared memory */
    const int chunk_max = max_ctx < SP_ATT_CHUNK_MAX ? max_ctx : SP_ATT_CHUNK_MAX, grp = c->n_heads / c->n_kv_heads;
    size_t att_smem = sp_attn_decode_smem(chunk_max, c->head_dim, grp), sm_smem = (size_t)max_ctx * 4;
    if (grp <= SP_ATT_GMAX && att_smem > 48 * 1024 &&
        cudaFuncSetAttribute(attn_decode_gqa(c->head_dim, grp), cudaFuncAttributeMaxDynamicSharedMemorySize, (int)att_smem) != cudaSuccess)
        ok = 0;
    if (sm_smem > 48 * 1024 &&
        cudaFuncSetAttribute(k_softmax_causal, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm_smem) != cudaSuccess) ok = 0;
    if (!ok || cudaStreamSynchronize(ctx->stream) != cudaSuccess) {
        sp_error(SP_ERR_UNSUPPORTED, "sp_cuda_model_new: setup failed (context %d too long for decode attention?)", max_ctx);
        sp_cuda_model_free(g);
        return NULL;
    }
    return g;
}

/* ------------------------------------------------------------------ weights */

static int trimmed_error(const char *fn) {
    return sp_error(SP_ERR_ARG, "%s: the model was trimmed to its picked kernels (sp_cuda_model_trim), which freed the weights "
                    "a bind is built from; load the weights into a new model", fn);
}

static bf16 *to_bf16(const float *w, size_t n) {
    uint16_t *h = (uint16_t *)malloc(n * 2);
    if (!h) return NULL;
    for (size_t i = 0; i < n; i++) h[i] = sp_f32_to_bf16(w[i]);
    return (bf16 *)h;
}

extern "C" int sp_cuda_model_set_vec(sp_cuda_model *g, int layer, int which, const float *w) {
    const size_t D = g->c.dim;
    if (layer < -1 || layer >= g->c.n_layers || which < 0 || which > 1 || !w)
        return sp_error(SP_ERR_ARG, "sp_cuda_model_set_vec: bad layer %d / which %d", layer, which);
    if (layer == -1 && which == 0) {
        bf16 *h = to_bf16(w, (size_t)g->c.vocab * D);
        if (!h) return sp_error(SP_ERR_NOMEM, "out of memory");
        int rc = sp_cuda_upload(g->embed, h, (size_t)g->c.vocab * D * 2);
        free(h);
        return rc;
    }
    float *dst = layer == -1 ? g->final_norm : (which == 0 ? g->attn_norm : g->mlp_norm) + (size_t)layer * D;
    return sp_cuda_upload(dst, w, D * 4);
}

/* zero fraction and 2:4 test of a bf16 weight (host) */
static void classify(sp_lin *l, const uint16_t *h) {
    size_t zeros = 0, total = (size_t)l->out * l->in;
    int is24 = l->in % 16 == 0;
    for (size_t i = 0; i < total; i += 4) {
        int nz = 0;
        for (int j = 0; j < 4; j++) nz += (h[i + j] & 0x7fff) != 0;
        zeros += 4 - nz;
        if (nz > 2) is24 = 0;
    }
    l->sparsity = total ? (double)zeros / total : 0;
    l->structured = is24 && l->sparsity > 0;
}

extern "C" int sp_cuda_model_set_linear(sp_cuda_model *g, int layer, int j, const float *w) {
    sp_lin *l;
    int out, in;
    if (layer == -1 && j == 0) { l = &g->head; out = g->c.vocab; in = g->c.dim; }
    else if (layer >= 0 && layer < g->c.n_layers && j >= 0 && j < SP_NLIN) { l = &g->lin[layer * SP_NLIN + j]; lin_shape(g, j, &out, &in); }
    else return sp_error(SP_ERR_ARG, "sp_cuda_model_set_linear: bad layer %d / linear %d", layer, j);
    if (g->trimmed) return trimmed_error("sp_cuda_model_set_linear");
    bf16 *h = to_bf16(w, (size_t)out * in);
    if (!h) return sp_error(SP_ERR_NOMEM, "out of memory");
    lin_free(l);
    l->folded = 0; /* its own rows again, copied into its fused group at the next bind */
    l->out = out, l->in = in;
    classify(l, (const uint16_t *)h);
    l->k[SP_CUDA_KERNEL_DENSE] = sp_cuda_upload_dense(SP_CUDA_KERNEL_DENSE, out, in, (const uint16_t *)h);
    free(h);
    return l->k[SP_CUDA_KERNEL_DENSE] ? 0 : SP_ERR_NOMEM;
}

extern "C" int sp_cuda_model_randomize(sp_cuda_model *g, uint64_t seed, int prune24) {
    if (g->trimmed) return trimmed_error("sp_cuda_model_randomize");
    sp_cuda_ctx *c = sp_cuda_ctx_get();
    const sp_cuda_model_cfg *cf = &g->c;
    size_t maxw = (size_t)cf->vocab * cf->dim;
    for (int j = 0; j < SP_NLIN; j++) {
        int out, in;
        lin_shape(g, j, &out, &in);
        if ((size_t)out * in > maxw) maxw = (size_t)out * in;
    }
    bf16 *tmp = NULL;
    SP_CU(cudaMalloc(&tmp, maxw * 2));
    k_random_bf16<><<<grid_for((size_t)cf->vocab * cf->dim), 256, 0, c->stream>>>(g->embed, (size_t)cf->vocab * cf->dim, seed, 1.f);
    k_fill_f32<<<grid_for(cf->dim), 256, 0, c->stream>>>(g->final_norm, cf->dim, 1.f);
    k_fill_f32<<<grid_for((size_t)cf->n_layers * cf->dim), 256, 0, c->stream>>>(g->attn_norm, (size_t)cf->n_layers * cf->dim, 1.f);
    k_fill_f32<<<grid_for((size_t)cf->n_layers * cf->dim), 256, 0, c->stream>>>(g->mlp_norm, (size_t)cf->n_layers * cf->dim, 1.f);
    int rc = 0;
    for (int i = -1; i < cf->n_layers * SP_NLIN && !rc; i++) {
        sp_lin *l = i < 0 ? &g->head : &g->lin[i];
        if (i < 0) l->out = cf->vocab, l->in = cf->dim;
        else lin_shape(g, i % SP_NLIN, &l->out, &l->in);
        size_t n = (size_t)l->out * l->in;
        lin_free(l);
        l->folded = 0;
        /* uniform(-a, a) with a = sqrt(3 / in): unit output variance for unit inputs */
        k_random_bf16<><<<grid_for(n), 256, 0, c->stream>>>(tmp, n, seed + 1 + (uint64_t)(i + 1) * 0x1000193ull,
                                                          sqrtf(3.f / l->in));
        int p = prune24 && i >= 0;
        if (p) k_prune24<<<grid_for(n / 4), 256, 0, c->stream>>>(tmp, n / 4);
        if (cudaGetLastError() != cudaSuccess) { rc = sp_error(SP_ERR_UNSUPPORTED, "randomize: launch failed"); break; }
        l->structured = p && l->in % 16 == 0;
        l->sparsity = p ? 0.5 : 0.0;
        l->k[SP_CUDA_KERNEL_DENSE] = sp_cuda_upload_device(SP_CUDA_KERNEL_DENSE, l->out, l->in, tmp);
        if (!l->k[SP_CUDA_KERNEL_DENSE]) rc = SP_ERR_NOMEM;
        else if (cudaStreamSynchronize(c->stream) != cudaSuccess) rc = sp_error(SP_ERR_UNSUPPORTED, "randomize failed");
    }
    cudaFree(tmp);
    return rc;
}

/* ------------------------------------------------------------------ binding and choice */

static void lin_unbind(sp_lin *l) {
    for (int k = 1; k < SP_CUDA_KERNEL_COUNT; k++) { sp_cuda_weight_free(l->k[k]); l->k[k] = NULL; l->missing[k][0] = 0; }
}

/* builds the sparse forms of l that fit its pattern (lean: no cuSPARSELt form); failures are
 * recorded, not fatal. The own 2:4 form keeps one device layout: on Hopper the stage order the
 * prefill tiles read (sp_cuda_weight_one_copy; the decode kernels read it as fast at 1 token and
 * the model's decode step ran 2-4% faster on it, H200 run 149), elsewhere the fragment order the
 * mma.sp GEMM reads (no other copy is made there). */
static void lin_bind_sparse(sp_lin *l, int lean) {
    const void *src = l->k[SP_CUDA_KERNEL_DENSE]->w;
    sp_cuda_kernel want[5];
    int nw = 0;
    if (l->structured) {
        want[nw++] = SP_CUDA_KERNEL_24;
        if (!lean) want[nw++] = SP_CUDA_KERNEL_24_LT;
    }
    else if (l->sparsity >= 0.2) {
        want[nw++] = SP_CUDA_KERNEL_BITMAP, want[nw++] = SP_CUDA_KERNEL_BITMAP_ROWS, want[nw++] = SP_CUDA_KERNEL_CSR;
        if (l->sparsity >= 0.6) want[nw++] = SP_CUDA_KERNEL_CSR16; /* 4 bytes a nonzero: never wins below */
        want[nw++] = SP_CUDA_KERNEL_DELTA_ROWS;
    }
    for (int i = 0; i < nw; i++) {
        l->k[want[i]] = sp_cuda_upload_device(want[i], l->out, l->in, src);
        if (want[i] == SP_CUDA_KERNEL_24 && l->k[want[i]] && sp24_wgmma_usable(NULL, sp_cuda_ctx_get()) &&
            sp_cuda_weight_one_copy(l->k[want[i]])) {
            sp_cuda_weight_free(l->k[want[i]]);
            l->k[want[i]] = NULL;
        }
        if (!l->k[want[i]]) snprintf(l->missing[want[i]], sizeof l->missing[0], "%s", sp_last_error());
    }
}

/* Fused group fi of block b: the dense device weights of its linears stacked by rows,
 * classified from its parts. The first bind copies every part in and frees the part's own
 * copy (the part is folded: one copy of those weights on the device, not two); a later bind
 * keeps that weight and copies in only parts set again since (sp_cuda_model_set_linear,
 * randomize); then the group's sparse forms are built again from it. */
static int fuse_build(sp_cuda_model *g, int b, int fi) {
    sp_lin *parts = &g->lin[b * SP_NLIN + fuse_first[fi]], *f = &g->fused[b * SP_NFUSE + fi];
    const int np = fuse_count[fi];
    lin_unbind(f);
    f->in = parts[0].in;
    f->out = 0;
    f->structured = 1;
    double zeros = 0;
    for (int j = 0; j < np; j++) {
        f->out += parts[j].out;
        f->structured = f->structured && parts[j].structured;
        zeros += parts[j].sparsity * parts[j].out;
    }
    f->sparsity = zeros / f->out;
    sp_cuda_ctx *c = sp_cuda_ctx_get();
    if (!f->k[SP_CUDA_KERNEL_DENSE]) { /* first build (no part folded yet): the weight, zeroed, then the parts below */
        bf16 *z = NULL;
        SP_CU(cudaMalloc(&z, (size_t)f->out * f->in * 2));
        if (sp_dset(z, 0, (size_t)f->out * f->in * 2) == cudaSuccess)
            f->k[SP_CUDA_KERNEL_DENSE] = sp_cuda_upload_device(SP_CUDA_KERNEL_DENSE, f->out, f->in, z);
        cudaStreamSynchronize(c->stream);
        cudaFree(z);
        if (!f->k[SP_CUDA_KERNEL_DENSE]) return sp_error(SP_ERR_NOMEM, "sp_cuda_model_bind: fused linear allocation failed");
    }
    bf16 *dst = (bf16 *)f->k[SP_CUDA_KERNEL_DENSE]->w;
    size_t off = 0;
    for (int j = 0; j < np; j++) {
        const size_t n = (size_t)parts[j].out * f->in;
        if (!parts[j].folded) {
            if (!parts[j].k[SP_CUDA_KERNEL_DENSE])
                return sp_error(SP_ERR_ARG, "sp_cuda_model_bind: layer %d %s has no weight", b, lin_names[fuse_first[fi] + j]);
            if (cudaMemcpyAsync(dst + off, parts[j].k[SP_CUDA_KERNEL_DENSE]->w, n * 2, cudaMemcpyDeviceToDevice, c->stream) != cudaSuccess ||
                cudaStreamSynchronize(c->stream) != cudaSuccess)
                return sp_error(SP_ERR_UNSUPPORTED, "sp_cuda_model_bind: copy of a fused linear failed");
            sp_cuda_weight_free(parts[j].k[SP_CUDA_KERNEL_DENSE]);
            parts[j].k[SP_CUDA_KERNEL_DENSE] = NULL;
            parts[j].folded = 1;
        }
        off += n;
    }
    if (g->sparse) lin_bind_sparse(f, g->lean);
    return cudaStreamSynchronize(c->stream) == cudaSuccess ? 0 : sp_error(SP_ERR_UNSUPPORTED, "sp_cuda_model_bind: fused linear build failed");
}

extern "C" int sp_cuda_model_bind(sp_cuda_model *g, int sparse) {
    if (g->trimmed) return trimmed_error("sp_cuda_model_bind");
    if (sparse < 0 || sparse > 2) return sp_error(SP_ERR_ARG, "sp_cuda_model_bind: binding %d (0 dense, 1 sparse, 2 sparse lean)", sparse);
    const int lean = sparse == 2;
    sparse = sparse != 0;
    for (int i = 0; i < g->c.n_layers * SP_NLIN; i++) {
        sp_lin *l = &g->lin[i];
        if (!l->k[SP_CUDA_KERNEL_DENSE] && !l->folded)
            return sp_error(SP_ERR_ARG, "sp_cuda_model_bind: layer %d %s has no weight", i / SP_NLIN, lin_names[i % SP_NLIN]);
        lin_unbind(l);
        const int f = fuse_of(i % SP_NLIN);
        if (sparse && !(f >= 0 && g->fuse[f])) lin_bind_sparse(l, lean); /* a fused group runs as one */
    }
    if (!g->head.k[SP_CUDA_KERNEL_DENSE]) return sp_error(SP_ERR_ARG, "sp_cuda_model_bind: no lm_head weight");
    g->sparse = sparse, g->lean = lean;
    g->npicks = 0;
    graphs_reset(g); /* they hold the old weights and picks */
    for (int b = 0; b < g->c.n_layers; b++)
        for (int f = 0; f < SP_NFUSE; f++)
            if (g->fuse[f]) SP_CHK(fuse_build(g, b, f)); /* fuse[] is fixed at sp_cuda_model_new: no part is folded otherwise */
    return 0;
}

static int decile(const sp_lin *l) { return (int)floor(l->sparsity * 10 + 1e-9); }
static unsigned avail(const sp_lin *l) {
    unsigned a = 0;
    for (int k = 0; k < SP_CUDA_KERNEL_COUNT; k++) a |= (l->k[k] != NULL) << k;
    return a;
}
/* p was made for l's layers (its key but the token count) */
static int same_layers_as(const sp_pick *p, const sp_lin *l) {
    return p->out == l->out && p->in == l->in && p->structured == l->structured && p->decile == decile(l) && p->avail == avail(l);
}
/* two picks of the same shape and pattern (a kernel table's key but the token count) */
static int same_shape(const sp_pick *p, const sp_pick *q) {
    return p->out == q->out && p->in == q->in && p->structured == q->structured && p->decile == q->decile;
}
/* two picks made for the same layers (same_layers_as's key) */
static int same_layers(const sp_pick *p, const sp_pick *q) { return same_shape(p, q) && p->avail == q->avail; }
static int same_key(const sp_pick *p, const sp_lin *l, int n) { return same_layers_as(p, l) && p->n == n; }
/* the pick made for l's key at n, NULL before one is made */
static const sp_pick *pick_find(const sp_cuda_model *g, const sp_lin *l, int n) {
    for (int i = 0; i < g->npicks; i++)
        if (same_key(&g->picks[i], l, n)) return &g->picks[i];
    return NULL;
}

/* which forms may serve n tokens: the bitmap decode kernel runs 16 tokens per launch, the row
 * bitmap 4 (3-4x slower than dense at 16 tokens, run 10), cuSPARSE CSR SpMM was 100x slower
 * than dense at 16 tokens (run 1), so prefill sizes skip them; the own 2:4 form has a GEMM
 * above 16 tokens and is timed at every n */
static int allowed(sp_cuda_kernel k, int n) {
    switch (k) {
    case SP_CUDA_KERNEL_24: return 1;
    case SP_CUDA_KERNEL_BITMAP: return n <= 64;
    case SP_CUDA_KERNEL_CSR: return n <= 4;
    case SP_CUDA_KERNEL_BITMAP_ROWS: return n <= 8;
    case SP_CUDA_KERNEL_CSR16: return n <= 4;
    case SP_CUDA_KERNEL_DELTA_ROWS: return n <= 8;
    default: return 1;
    }
}

/* the table entry for l's key at n whose pick l has; *near: an entry for the key whose pick it lacks */
static const sp_cuda_table_entry *table_find(const sp_cuda_model *g, const sp_lin *l, int n, const sp_cuda_table_entry **near) {
    *near = NULL;
    for (int i = 0; i < g->ntable; i++) {
        const sp_cuda_table_entry *e = &g->table[i];
        if (e->out != l->out || e->in != l->in || e->structured != l->structured || e->decile != decile(l) || e->n != n) continue;
        if (e->pick >= 0 && e->pick < SP_CUDA_KERNEL_COUNT && l->k[e->pick]) return e;
        *near = e;
    }
    return NULL;
}

/* " -> K (r.rrx dense)" after the timings */
static void why_pick(sp_pick *p, size_t len) {
    double best = p->us[p->kernel], dense = p->us[SP_CUDA_KERNEL_DENSE];
    if (len >= sizeof p->why) return;
    if (best > 0 && dense >= 0) snprintf(p->why + len, sizeof p->why - len, " -> %s (%.2fx dense)", sp_cuda_kernel_name(p->kernel), dense / best);
    else snprintf(p->why + len, sizeof p->why - len, " -> %s", sp_cuda_kernel_name(p->kernel));
}

/* appends "<sep> NAME (its kernel at n, where the form has several) US us" to p->why */
static size_t why_kernel(sp_pick *p, size_t len, const char *sep, const sp_lin *l, int k, int n, double us) {
    if (len >= sizeof p->why) return len;
    const char *path = l->k[k] ? sp_cuda_linear_path(l->k[k], n) : "";
    return len + snprintf(p->why + len, sizeof p->why - len, "%s %s%s%s%s %.1f us", sep, sp_cuda_kernel_name((sp_cuda_kernel)k),
                          *path ? " (" : "", path, *path ? ")" : "", us);
}

static sp_pick *pick_make(sp_cuda_model *g, sp_lin *l, int n) {
    if (const sp_pick *made = pick_find(g, l, n)) return &g->picks[made - g->picks];
    if (g->npicks == SP_MAX_PICKS) { sp_error(SP_ERR_UNSUPPORTED, "sp_cuda_model: more than %d layer keys", SP_MAX_PICKS); return NULL; }
    sp_pick *p = &g->picks[g->npicks];
    p->out = l->out, p->in = l->in, p->structured = l->structured, p->decile = decile(l), p->n = n, p->avail = avail(l);
    p->kernel = SP_CUDA_KERNEL_DENSE;
    p->off_table = g->trimmed;
    for (int k = 0; k < SP_CUDA_KERNEL_COUNT; k++) p->us[k] = -1;
    if (!g->sparse) { snprintf(p->why, sizeof p->why, "dense binding (the baseline)"); g->npicks++; return p; }
    size_t len = 0;
    if (g->ntable) {
        const sp_cuda_table_entry *near, *e = table_find(g, l, n, &near);
        if (e) { /* the table's pick, no timing: the reason quotes the table's numbers */
            p->kernel = e->pick;
            len += snprintf(p->why + len, sizeof p->why - len, "table %s:", g->table_src);
            const char *sep = "";
            for (int k = 0; k < SP_CUDA_KERNEL_COUNT; k++) {
                p->us[k] = e->us[k];
                if (e->us[k] < 0) continue;
                len = why_kernel(p, len, sep, l, k, n, e->us[k]);
                sep = ",";
            }
            why_pick(p, len);
            g->npicks++;
            return p;
        }
        if (near) len += snprintf(p->why + len, sizeof p->why - len, "table %s picks %s, absent for this layer; measured now: ",
                                  g->table_src, sp_cuda_kernel_name(near->pick));
        else len += snprintf(p->why + len, sizeof p->why - len, "not in table %s; measured now: ", g->table_src);
    }
    if (len < sizeof p->why)
        len += snprintf(p->why + len, sizeof p->why - len, "%s%.0f%%, n=%d measured:", l->structured ? "2:4 " : "unstructured ",
                        100 * l->sparsity, n);
    double best = 1e30;
    for (int k = 0; k < SP_CUDA_KERNEL_COUNT; k++) {
        if (l->k[k] == NULL || (k && !allowed((sp_cuda_kernel)k, n))) { /* dense too may be gone after a trim */
            if (k && l->missing[k][0] && len < sizeof p->why)
                len += snprintf(p->why + len, sizeof p->why - len, " %s unavailable (%.60s);", sp_cuda_kernel_name((sp_cuda_kernel)k), l->missing[k]);
            continue;
        }
        if ((size_t)n * l->in > g->tx_elems || (size_t)n * l->out > g->ty_elems) continue;
        double us = 0;
        const sp_cuda_weight *w = l->k[k];
        if (sp_cuda_time_linear(&w, 1, g->tx, n, g->ty, n >= 256 ? 5 : 30, 1, &us)) {
            if (len < sizeof p->why) len += snprintf(p->why + len, sizeof p->why - len, " %s failed;", sp_cuda_kernel_name((sp_cuda_kernel)k));
            continue;
        }
        p->us[k] = us;
        len = why_kernel(p, len, "", l, k, n, us);
        if (len < sizeof p->why) len += snprintf(p->why + len, sizeof p->why - len, ";");
        if (us < best) best = us, p->kernel = (sp_cuda_kernel)k;
    }
    if (best == 1e30 && !l->k[p->kernel]) {
        sp_error(SP_ERR_UNSUPPORTED, "sp_cuda_model: no form left for a %dx%d linear at n = %d (%s)", l->out, l->in, n,
                 g->trimmed ? "the model was trimmed to the forms picked before, none of which serves this token count"
                            : "no form could run");
        return NULL;
    }
    why_pick(p, len);
    g->npicks++;
    return p;
}

/* the one linear entry of the model: y (n, out) = x (n, in) W^T with the chosen kernel */
static int run_linear(sp_cuda_model *g, sp_lin *l, const bf16 *x, int n, bf16 *y) {
    sp_cuda_kernel k = SP_CUDA_KERNEL_DENSE;
    if (g->sparse && l != &g->head) {
        sp_pick *p = pick_make(g, l, n); /* may time the forms: never with early launch */
        if (!p) return SP_ERR_UNSUPPORTED;
        k = p->kernel;
        if (!l->k[k]) return sp_error(SP_ERR_UNSUPPORTED, "sp_cuda_model: %s chosen but absent (internal)", sp_cuda_kernel_name(k));
    }
    sp_cuda_ctx *c = sp_cuda_ctx_get();
    c->pdl = g->pdl;
    int rc = sp_cuda_linear(l->k[k], x, n, y);
    c->pdl = 0;
    return rc;
}

/* ------------------------------------------------------------------ forward */

/* Causal attention of n queries at positions pos.. in chunks of SP_ATT_CHUNK rows: chunk c
 * only multiplies against the keys it can see (pos + its last row + 1), which halves the
 * score GEMMs and the f32 score traffic of a long prompt against one full n x L pass. */
static int attention_prefill(sp_cuda_model *g, int layer, int n, int pos, sp_cuda_ctx *c) {
    const sp_cuda_model_cfg *cf = &g->c;
    const int D = cf->head_dim, group = cf->n_heads / cf->n_kv_heads;
    const size_t seq0 = (size_t)layer * g->max_batch * g->max_ctx * g->kvd;
    const bf16 *kc = g->kc + seq0, *vc = g->vc + seq0;
    const float scale = 1.f / sqrtf((float)D), one = 1.f, zero = 0.f;
    cublasHandle_t hb = (cublasHandle_t)c->cublas;
    for (int t0 = 0; t0 < n; t0 += SP_ATT_CHUNK) {
        const int nr = n - t0 < SP_ATT_CHUNK ? n - t0 : SP_ATT_CHUNK, L = pos + t0 + nr;
        const bf16 *q = g->q + (size_t)t0 * g->qd;
        bf16 *att = g->att + (size_t)t0 * g->qd;
        for (int s = 0; s < group; s++) { /* heads hk*group + s, batched over the kv heads hk */
            /* S_hk (nr, L) = scale Q_h K_hk^T, row-major = column-major S^T (L x nr) = K Q^T */
            SP_CB(cublasGemmStridedBatchedEx(hb, CUBLAS_OP_T, CUBLAS_OP_N, L, nr, D, &scale, kc, CUDA_R_16BF, g->kvd, D,
                                             q + (size_t)s * D, CUDA_R_16BF, g->qd, (long long)group * D, &zero, g->S,
                                             CUDA_R_32F, L, (long long)nr * L, cf->n_kv_heads, CUBLAS_COMPUTE_32F,
                                             CUBLAS_GEMM_DEFAULT));
            k_softmax_causal<<<dim3(nr, cf->n_kv_heads), 256, (size_t)L * 4, c->stream>>>(g->S, g->P, nr, L, pos + t0);
            /* O_h (nr, D) = P V_hk: column-major O^T (D x nr) = V^T P^T */
            SP_CB(cublasGemmStridedBatchedEx(hb, CUBLAS_OP_N, CUBLAS_OP_N, D, nr, L, &one, vc, CUDA_R_16BF, g->kvd, D, g->P,
                                             CUDA_R_16BF, L, (long long)nr * L, &zero, att + (size_t)s * D, CUDA_R_16BF,
                                             g->qd, (long long)group * D, cf->n_kv_heads, CUBLAS_COMPUTE_32F,
                                             CUBLAS_GEMM_DEFAULT));
        }
    }
    return 0;
}

/* profile mark: the time since the previous mark is charged to op (SP_GPU_PROFILE=1) */
static void mark(sp_cuda_model *g, sp_cuda_ctx *c, const char *op) {
    if (!g->prof_on || g->prof_n >= SP_PROF_MAX) return;
    cudaEventRecord(g->prof_ev[g->prof_n], c->stream);
    g->prof_name[g->prof_n++] = op;
}

/* run_linear, then a profile mark with the op's name */
static int lin_op(sp_cuda_model *g, sp_lin *l, const bf16 *x, int n, bf16 *y, sp_cuda_ctx *c, const char *op) {
    int rc = run_linear(g, l, x, n, y);
    mark(g, c, op);
    return rc;
}

/* the norm kernel for rows rows (sp_norm_r: registers a thread) */
typedef void (*norm_fn)(float *, const bf16 *, const float *, bf16 *, int, float, int, int);
static norm_fn norm_kernel(bool add, int rows) {
    if (sp_norm_r(rows) == 4) return add ? k_rmsnorm<true, 4> : k_rmsnorm<false, 4>;
    return add ? k_rmsnorm<true, 1> : k_rmsnorm<false, 1>;
}

static int block_forward(sp_cuda_model *g, int b, int rows, int batch, int n, int pos, sp_cuda_ctx *c) {
    const sp_cuda_model_cfg *cf = &g->c;
    sp_lin *L = &g->lin[b * SP_NLIN];
    const size_t D = cf->dim;
    const int bm = batch > 1, group = cf->n_heads / cf->n_kv_heads;
    const size_t seq0 = (size_t)b * g->max_batch * g->max_ctx * g->kvd;
    const unsigned nt = sp_norm_threads(cf->dim, rows);
    if (b == 0) SP_CU(sp_launch(norm_kernel(false, rows), rows, nt, 0, c->stream, g->pdl, g->x, (const bf16 *)nullptr,
                                (const float *)g->attn_norm, g->xb, cf->dim, cf->norm_eps, 0, 1));
    else SP_CU(sp_launch(norm_kernel(true, rows), rows, nt, 0, c->stream, g->pdl, g->x, (const bf16 *)g->o,
                         (const float *)(g->attn_norm + b * D), g->xb, cf->dim, cf->norm_eps, 0, 1));
    mark(g, c, "norm");
    const bf16 *qs = g->q, *ks = g->kn, *vs = g->vn; /* rows of q, k, v and their strides */
    int lq = g->qd, lkv = g->kvd;
    if (lin_run(g, b, 0) != &L[0]) {
        SP_CHK(lin_op(g, lin_run(g, b, 0), g->xb, rows, g->qkvb, c, "linear q|k|v"));
        qs = g->qkvb, ks = qs + g->qd, vs = ks + g->kvd, lq = lkv = g->qd + 2 * g->kvd;
    } else {
        SP_CHK(lin_op(g, &L[0], g->xb, rows, g->q, c, "linear q|k|v"));
        SP_CHK(lin_op(g, &L[1], g->xb, rows, g->kn, c, "linear q|k|v"));
        SP_CHK(lin_op(g, &L[2], g->xb, rows, g->vn, c, "linear q|k|v"));
    }
    const int fq = n > 1 && g->flash; /* the flash prefill rotates q as it loads it */
    SP_CU(sp_launch(k_rope_kv, rows, sp_rope_threads(fq ? 0 : cf->n_heads, cf->n_kv_heads, cf->head_dim), 0, c->stream,
                    g->pdl, qs, lq, g->q, g->qd, ks, vs, lkv, g->kc + seq0, g->vc + seq0, rows, cf->n_heads,
                    cf->n_kv_heads, cf->head_dim, g->cs, g->sn, g->tok, bm, g->max_ctx, fq));
    mark(g, c, "rope + kv store");
    if (fq)
        SP_CHK(sp_flash_prefill(qs, lq, g->kc + seq0, g->vc + seq0, g->att, n, pos, cf->n_heads, group, cf->head_dim,
                                g->kvd, g->cs, g->sn, 1.f / sqrtf((float)cf->head_dim), c->stream));
    else if (n > 1) SP_CHK(attention_prefill(g, b, n, pos, c));
    else {
        /* a block a q head for small batches; for large ones a block a kv head takes its group of q
         * heads (groups up to SP_ATT_GMAX), so each K/V row is read once for all of them (8B
         * model: TPOT batch 16 -0.8 ms; at batch 1 it made too few blocks, +0.3 ms; runs 35-44).
         * Keys split when the blocks would leave most SMs idle, and so that a block's scores fit
         * its shared memory; a captured graph serves every position, so it sizes the splits for
         * the longest context, op by op for this one (>= 64 keys a split) */
        const int gqa = group <= SP_ATT_GMAX && (g->dec_attn ? g->dec_attn == 2 : group > 1 && 2 * cf->n_kv_heads * batch >= c->sm_count);
        const int blocks = (gqa ? cf->n_kv_heads : cf->n_heads) * batch, Lmax = g->capturing ? g->max_ctx : pos + 1;
        const int most = gqa ? SP_ATT_SPLITS : SP_ATT_SPLITS_HEAD;
        const int per_sm = gqa ? 8 : 2; /* blocks an SM wanted: the kv-head kernel is latency-bound (run 43: 5 splits beat 3) */
        int splits = (per_sm * c->sm_count + blocks - 1) / blocks, need = (Lmax + SP_ATT_CHUNK_MAX - 1) / SP_ATT_CHUNK_MAX;
        splits = splits < most ? splits : most;
        splits = splits > need ? splits : need;
        splits = splits < (Lmax + 63) / 64 ? splits : (Lmax + 63) / 64;
        SP_CU(sp_launch(gqa ? attn_decode_gqa(cf->head_dim, group) : k_attn_decode, dim3(blocks / batch, batch, splits), 256,
                        sp_attn_decode_smem((Lmax + splits - 1) / splits, cf->head_dim, gqa ? group : 1), c->stream, g->pdl,
                        g->q, g->kc + seq0, g->vc + seq0, g->att, cf->n_heads, group, cf->head_dim, g->kvd, g->max_ctx, g->tok,
                        1.f / sqrtf((float)cf->head_dim), g->part_o, g->part_ml, g->arrived));
    }
    mark(g, c, "attention");
    SP_CHK(lin_op(g, &L[3], g->att, rows, g->o, c, "linear o"));
    SP_CU(sp_launch(norm_kernel(true, rows), rows, nt, 0, c->stream, g->pdl, g->x, (const bf16 *)g->o,
                    (const float *)(g->mlp_norm + b * D), g->xb, cf->dim, cf->norm_eps, 0, 1));
    mark(g, c, "norm");
    const int H = cf->hidden_dim, h8 = H / 8; /* hidden_dim % 16 == 0 */
    bf16 *hid = g->h1; /* the down linear's input */
    if (lin_run(g, b, 4) != &L[4]) { /* rows of [gate | up] in h1, the product in h2 */
        SP_CHK(lin_op(g, lin_run(g, b, 4), g->xb, rows, g->h1, c, "linear gate|up"));
        SP_CU(sp_launch(k_swiglu, grid_for((size_t)rows * h8), 256, 0, c->stream, g->pdl, g->h2, g->h1, g->h1 + H, rows, h8, 2 * h8));
        hid = g->h2;
    } else {
        SP_CHK(lin_op(g, &L[4], g->xb, rows, g->h1, c, "linear gate"));
        SP_CHK(lin_op(g, &L[5], g->xb, rows, g->h2, c, "linear up"));
        SP_CU(sp_launch(k_swiglu, grid_for((size_t)rows * h8), 256, 0, c->stream, g->pdl, g->h1, g->h1, g->h2, rows, h8, h8));
    }
    mark(g, c, "swiglu");
    SP_CHK(lin_op(g, &L[6], hid, rows, g->o, c, "linear down")); /* added into x by the next block's norm (or below) */
    SP_CU(cudaGetLastError());
    return 0;
}

/* Every op of a forward on the stream (tokens and pos already in tok). */
static int forward_ops(sp_cuda_model *g, int batch, int n, int pos, sp_cuda_ctx *c) {
    const int rows = batch * n;
    k_embed<<<rows, 256, 0, c->stream>>>(g->tok + 1, g->embed, g->x, g->c.dim);
    mark(g, c, "embed");
    for (int b = 0; b < g->c.n_layers; b++) SP_CHK(block_forward(g, b, rows, batch, n, pos, c));
    /* the last block's residual add and the final norm, for the last token of each sequence
     * only: row n-1 (prefill) or every row (batch decode) */
    norm_kernel(true, batch)<<<batch, sp_norm_threads(g->c.dim, batch), 0, c->stream>>>(
        g->x, g->o, g->final_norm, g->xl, g->c.dim, g->c.norm_eps, batch > 1 ? 0 : n - 1, 1);
    mark(g, c, "norm");
    return lin_op(g, &g->head, g->xl, batch, g->logits, c, "lm_head");
}

/* One decode step of batch sequences through its graph (see graph_on): run, capture or replay. */
static int decode_graph(sp_cuda_model *g, int batch, int pos, sp_cuda_ctx *c) {
    cudaGraphExec_t *ex = &g->graph[batch - 1];
    if (!*ex && g->graph_seen[batch - 1]++ == 0) return forward_ops(g, batch, 1, pos, c); /* makes the picks */
    if (!*ex) {
        cudaGraph_t gr = NULL;
        SP_CU(cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal));
        g->capturing = 1;
        int rc = forward_ops(g, batch, 1, pos, c);
        g->capturing = 0;
        cudaError_t e = cudaStreamEndCapture(c->stream, &gr);
        if (!rc && e == cudaSuccess) e = cudaGraphInstantiate(ex, gr, 0);
        if (gr) cudaGraphDestroy(gr);
        if (rc || e != cudaSuccess) {
            *ex = NULL;
            cudaGetLastError();
            return rc ? rc : sp_error(SP_ERR_UNSUPPORTED, "sp_cuda_model_forward: decode graph capture failed: %s (SP_GPU_GRAPH=0 runs op by op)",
                                      cudaGetErrorString(e));
        }
    }
    SP_CU(cudaGraphLaunch(*ex, c->stream));
    return 0;
}

extern "C" int sp_cuda_model_forward(sp_cuda_model *g, const int32_t *tokens, int batch, int n, int pos, float *logits) {
    sp_cuda_ctx *c = sp_cuda_ctx_get();
    if (!c) return SP_ERR_UNSUPPORTED;
    if (batch < 1 || n < 1 || (batch > 1 && n > 1) || batch > g->max_batch || n > g->max_rows || pos < 0 ||
        pos + n > g->max_ctx)
        return sp_error(SP_ERR_ARG, "sp_cuda_model_forward: batch %d x %d tokens at %d outside (batch %d, rows %d, ctx %d)",
                        batch, n, pos, g->max_batch, g->max_rows, g->max_ctx);
    const int rows = batch * n;
    for (int i = 0; i < rows; i++)
        if (tokens[i] < 0 || tokens[i] >= g->c.vocab) return sp_error(SP_ERR_ARG, "sp_cuda_model_forward: token %d outside vocabulary", tokens[i]);
    g->htok[0] = pos;
    memcpy(g->htok + 1, tokens, (size_t)rows * 4);
    SP_CU(cudaMemcpyAsync(g->tok, g->htok, (size_t)(rows + 1) * 4, cudaMemcpyHostToDevice, c->stream));
    g->prof_n = 0;
    mark(g, c, "start");
    if (n == 1 && g->graph_on) SP_CHK(decode_graph(g, batch, pos, c));
    else SP_CHK(forward_ops(g, batch, n, pos, c));
    if (logits) {
        size_t nl = (size_t)batch * g->c.vocab;
        SP_CU(cudaMemcpyAsync(g->hlogits, g->logits, nl * 2, cudaMemcpyDeviceToHost, c->stream));
        SP_CU(cudaStreamSynchronize(c->stream));
        for (size_t i = 0; i < nl; i++) logits[i] = sp_bf16_to_f32(g->hlogits[i]);
    }
    SP_CU(cudaStreamSynchronize(c->stream));
    if (g->prof_on) { /* charge each interval to the op that ended it */
        for (int i = 1; i < g->prof_n; i++) {
            float ms = 0;
            cudaEventElapsedTime(&ms, g->prof_ev[i - 1], g->prof_ev[i]);
            int k = 0;
            while (k < g->prof_nops && strcmp(g->prof_ops[k], g->prof_name[i])) k++;
            if (k == g->prof_nops && k < 32) g->prof_ops[g->prof_nops++] = g->prof_name[i], g->prof_ms[k] = 0;
            if (k < 32) g->prof_ms[k] += ms;
        }
        g->prof_fw++;
    }
    return 0;
}

extern "C" const char *sp_cuda_model_launch_mode(const sp_cuda_model *g) { return g ? g->launch_mode : ""; }

extern "C" int sp_cuda_model_profile(sp_cuda_model *g, char *buf, size_t len) {
    if (!g || !buf || !len) return sp_error(SP_ERR_ARG, "sp_cuda_model_profile: bad arguments");
    buf[0] = 0;
    if (!g->prof_on) return 0;
    double total = 0;
    for (int k = 0; k < g->prof_nops; k++) total += g->prof_ms[k];
    size_t o = 0;
    for (int k = 0; k < g->prof_nops && o < len; k++)
        o += snprintf(buf + o, len - o, "    %-16s %8.3f ms a forward (%4.1f%%)\n", g->prof_ops[k],
                      g->prof_ms[k] / (g->prof_fw ? g->prof_fw : 1), total > 0 ? 100 * g->prof_ms[k] / total : 0.0);
    g->prof_nops = 0, g->prof_fw = 0;
    return 0;
}

extern "C" int sp_cuda_model_fork(sp_cuda_model *g, int len) {
    sp_cuda_ctx *c = sp_cuda_ctx_get();
    if (!c) return SP_ERR_UNSUPPORTED;
    if (len < 0 || len > g->max_ctx) return sp_error(SP_ERR_ARG, "sp_cuda_model_fork: length %d", len);
    const size_t seq = (size_t)g->max_ctx * g->kvd, bytes = (size_t)len * g->kvd * 2;
    for (int b = 0; b < g->c.n_layers; b++)
        for (int s = 1; s < g->max_batch; s++) {
            size_t src = (size_t)b * g->max_batch * seq, dst = src + s * seq;
            SP_CU(cudaMemcpyAsync(g->kc + dst, g->kc + src, bytes, cudaMemcpyDeviceToDevice, c->stream));
            SP_CU(cudaMemcpyAsync(g->vc + dst, g->vc + src, bytes, cudaMemcpyDeviceToDevice, c->stream));
        }
    SP_CU(cudaStreamSynchronize(c->stream));
    return 0;
}

extern "C" int sp_cuda_model_choice(const sp_cuda_model *g, int layer, int j, int n, const char **kernel, const char **why) {
    if (layer < 0 || layer >= g->c.n_layers || j < 0 || j >= SP_NLIN) return sp_error(SP_ERR_ARG, "sp_cuda_model_choice: bad layer");
    if (const sp_pick *p = pick_find(g, lin_run(g, layer, j), n)) {
        *kernel = sp_cuda_kernel_name(p->kernel);
        *why = p->why;
        return 0;
    }
    *kernel = g->sparse ? "?" : sp_cuda_kernel_name(SP_CUDA_KERNEL_DENSE);
    *why = g->sparse ? "not measured (no forward ran with this token count)" : "dense binding (the baseline)";
    return 0;
}

/* a pick worth a table entry: its kernel was timed (measured now or by the table) */
static int timed(const sp_pick *p) { return p->us[p->kernel] >= 0; }
static int same_table_key(const sp_pick *p, const sp_pick *q) { return same_shape(p, q) && p->n == q->n; }

extern "C" int sp_cuda_model_table_get(const sp_cuda_model *g, sp_cuda_table_entry *e, int max) {
    if (!g || max < 0 || (max && !e)) return sp_error(SP_ERR_ARG, "sp_cuda_model_table_get: bad arguments");
    int n = 0;
    for (int i = 0; g->sparse && i < g->npicks; i++) {
        const sp_pick *p = &g->picks[i];
        int dup = !timed(p) || p->off_table; /* a key met by layers with different forms: the first one speaks for it */
        for (int j = 0; j < i && !dup; j++) dup = timed(&g->picks[j]) && same_table_key(&g->picks[j], p);
        if (dup) continue;
        if (n < max) {
            sp_cuda_table_entry *t = &e[n];
            t->out = p->out, t->in = p->in, t->structured = p->structured, t->decile = p->decile, t->n = p->n;
            memcpy(t->us, p->us, sizeof t->us);
            t->pick = p->kernel;
        }
        n++;
    }
    return n;
}

extern "C" int sp_cuda_model_table_set(sp_cuda_model *g, const sp_cuda_table_entry *e, int n, const char *source) {
    if (!g || n < 0 || (n && !e)) return sp_error(SP_ERR_ARG, "sp_cuda_model_table_set: bad arguments");
    for (int i = 0; i < n; i++)
        if (e[i].pick < 0 || e[i].pick >= SP_CUDA_KERNEL_COUNT)
            return sp_error(SP_ERR_ARG, "sp_cuda_model_table_set: entry %d picks kernel %d", i, (int)e[i].pick);
    sp_cuda_table_entry *t = NULL;
    if (n) {
        if (!(t = (sp_cuda_table_entry *)malloc((size_t)n * sizeof *t))) return sp_error(SP_ERR_NOMEM, "sp_cuda_model_table_set: out of memory");
        memcpy(t, e, (size_t)n * sizeof *t);
    }
    free(g->table);
    g->table = t, g->ntable = n;
    snprintf(g->table_src, sizeof g->table_src, "%s", source && *source ? source : "(in memory)");
    g->npicks = 0; /* keys already picked are picked again, from the table */
    graphs_reset(g);
    return 0;
}

extern "C" size_t sp_cuda_model_weight_bytes(const sp_cuda_model *g, int n) {
    size_t b = 0;
    for (int layer = 0; layer < g->c.n_layers; layer++)
        for (int j = 0; j < SP_NLIN; j++) {
            const sp_lin *l = lin_run(g, layer, j);
            if (j > 0 && l == lin_run(g, layer, j - 1)) continue; /* a fused group counts once */
            const sp_pick *p = g->sparse ? pick_find(g, l, n) : NULL;
            b += sp_cuda_weight_bytes(l->k[p ? p->kernel : SP_CUDA_KERNEL_DENSE]);
        }
    return b;
}

/* ------------------------------------------------------------------ trim */

/* the linears a forward runs: fused groups and the parts outside them (the head is dense) */
template <typename F> static void each_run_linear(sp_cuda_model *g, F &&f) {
    for (int i = 0; i < g->c.n_layers * SP_NLIN; i++)
        if (!g->lin[i].folded && g->lin[i].k[SP_CUDA_KERNEL_DENSE]) f(&g->lin[i]);
    for (int i = 0; g->fused && i < g->c.n_layers * SP_NFUSE; i++)
        if (fused_live(g, &g->fused[i])) f(&g->fused[i]);
}

/* Keeps, of every block linear a pick reached, the forms its key's picks chose; frees the rest,
 * the dense copy included. Picks are keyed by the forms present, so each pick's key is narrowed
 * the same way and the graphs, which only hold picked forms, stay valid. sparse_only: first moves
 * every dense pick to its fastest timed sparse form, for keys where each pick timed one. */
extern "C" int sp_cuda_model_trim(sp_cuda_model *g, int sparse_only, sp_cuda_trim_stats *st) {
    sp_cuda_trim_stats z = {};
    if (!st) st = &z;
    *st = z;
    if (!g || !g->sparse) return sp_error(SP_ERR_ARG, "sp_cuda_model_trim: %s", g ? "the dense binding has nothing to trim" : "no model");
    size_t before = 0, after = 0;
    SP_CHK(sp_cuda_mem_in_use(&before)); /* fails, with a message, without a device */
    auto fastest_sparse = [&](const sp_pick *p) { /* -1: no sparse form timed */
        int best = -1;
        for (int k = 1; k < SP_CUDA_KERNEL_COUNT; k++)
            if (p->us[k] >= 0 && (p->avail >> k & 1) && (best < 0 || p->us[k] < p->us[best])) best = k;
        return best;
    };
    for (int i = 0; sparse_only && i < g->npicks; i++) {
        sp_pick *p = &g->picks[i];
        if (p->kernel != SP_CUDA_KERNEL_DENSE) continue;
        int all = 1; /* every count met on these layers timed a sparse form */
        for (int j = 0; j < g->npicks && all; j++) all = !same_layers(p, &g->picks[j]) || fastest_sparse(&g->picks[j]) >= 0;
        if (!all) continue;
        const int k = fastest_sparse(p);
        const double dense = p->us[SP_CUDA_KERNEL_DENSE];
        p->kernel = (sp_cuda_kernel)k;
        p->off_table = 1;
        const size_t len = strlen(p->why);
        snprintf(p->why + len, sizeof p->why - len, "; trimmed to sparse forms only: %s (%.2fx dense)", sp_cuda_kernel_name(p->kernel),
                 dense > 0 ? dense / p->us[k] : 0.0);
        st->moved++;
    }
    unsigned keep[SP_MAX_PICKS]; /* the forms picked for those layers */
    for (int i = 0; i < g->npicks; i++) {
        keep[i] = 0;
        for (int j = 0; j < g->npicks; j++)
            if (same_layers(&g->picks[i], &g->picks[j])) keep[i] |= 1u << g->picks[j].kernel;
    }
    each_run_linear(g, [&](sp_lin *l) {
        const sp_pick *p = NULL;
        for (int i = 0; i < g->npicks && !p; i++)
            if (same_layers_as(&g->picks[i], l)) p = &g->picks[i];
        if (!p) return; /* no forward reached it: all kept */
        const int i = (int)(p - g->picks);
        for (int k = 0; k < SP_CUDA_KERNEL_COUNT; k++)
            if (l->k[k] && !(keep[i] >> k & 1)) { sp_cuda_weight_free(l->k[k]); l->k[k] = NULL; st->forms++; }
    });
    for (int i = 0; i < g->npicks; i++) g->picks[i].avail &= keep[i]; /* the key of what is left */
    g->trimmed = 1;
    if (st->moved) graphs_reset(g); /* they hold the old choices */
    SP_CHK(sp_cuda_mem_in_use(&after));
    st->freed = before > after ? before - after : 0;
    return 0;
}
