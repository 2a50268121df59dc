/* cusparselt.cu: 2:4 prefill GEMM through cuSPARSELt, dlopen'ed at run time
 * (SP_CUSPARSELT_LIB, else libcusparseLt.so.0 on the loader path), so the library
 * builds and runs without it. Y (n, out) = X (n, in) W^T as the column-major product
 * D (out x n) = op_T(A: in x out, 2:4 along in) B (in x n). One compressed weight,
 * one plan per token count (searched once, outside any timed call). */
#include <cusparse.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "common.cuh"

#if __has_include(<cusparseLt.h>)
#include <cusparseLt.h>
#define SP_LT_REAL_HEADER 1
#else
/* Own declarations of the few entry points used (cuSPARSELt 0.6-0.8 signatures). The
 * opaque structs are over-sized on purpose: the library writes at most its own size. */
#define SP_LT_REAL_HEADER 0
typedef struct { alignas(16) uint8_t data[16384]; } cusparseLtHandle_t;
typedef struct { alignas(16) uint8_t data[16384]; } cusparseLtMatDescriptor_t;
typedef struct { alignas(16) uint8_t data[16384]; } cusparseLtMatmulDescriptor_t;
typedef struct { alignas(16) uint8_t data[16384]; } cusparseLtMatmulAlgSelection_t;
typedef struct { alignas(16) uint8_t data[16384]; } cusparseLtMatmulPlan_t;
typedef enum { CUSPARSELT_SPARSITY_50_PERCENT } cusparseLtSparsity_t;
typedef enum { CUSPARSE_COMPUTE_32I, CUSPARSE_COMPUTE_16F, CUSPARSE_COMPUTE_32F } cusparseComputeType;
typedef enum { CUSPARSELT_MATMUL_ALG_DEFAULT } cusparseLtMatmulAlg_t;
#endif

typedef cusparseStatus_t (*lt_init_t)(cusparseLtHandle_t *);
typedef cusparseStatus_t (*lt_sdesc_t)(const cusparseLtHandle_t *, cusparseLtMatDescriptor_t *, int64_t, int64_t,
                                       int64_t, uint32_t, cudaDataType, cusparseOrder_t, cusparseLtSparsity_t);
typedef cusparseStatus_t (*lt_ddesc_t)(const cusparseLtHandle_t *, cusparseLtMatDescriptor_t *, int64_t, int64_t,
                                       int64_t, uint32_t, cudaDataType, cusparseOrder_t);
typedef cusparseStatus_t (*lt_descfree_t)(const cusparseLtMatDescriptor_t *);
typedef cusparseStatus_t (*lt_mmdesc_t)(const cusparseLtHandle_t *, cusparseLtMatmulDescriptor_t *, cusparseOperation_t,
                                        cusparseOperation_t, const cusparseLtMatDescriptor_t *,
                                        const cusparseLtMatDescriptor_t *, const cusparseLtMatDescriptor_t *,
                                        const cusparseLtMatDescriptor_t *, cusparseComputeType);
typedef cusparseStatus_t (*lt_alg_t)(const cusparseLtHandle_t *, cusparseLtMatmulAlgSelection_t *,
                                     const cusparseLtMatmulDescriptor_t *, cusparseLtMatmulAlg_t);
typedef cusparseStatus_t (*lt_algfree_t)(const cusparseLtMatmulAlgSelection_t *);
typedef cusparseStatus_t (*lt_plan_t)(const cusparseLtHandle_t *, cusparseLtMatmulPlan_t *,
                                      const cusparseLtMatmulDescriptor_t *, const cusparseLtMatmulAlgSelection_t *);
typedef cusparseStatus_t (*lt_planfree_t)(const cusparseLtMatmulPlan_t *);
typedef cusparseStatus_t (*lt_ws_t)(const cusparseLtHandle_t *, const cusparseLtMatmulPlan_t *, size_t *);
typedef cusparseStatus_t (*lt_mm_t)(const cusparseLtHandle_t *, const cusparseLtMatmulPlan_t *, const void *,
                                    const void *, const void *, const void *, const void *, void *, void *,
                                    cudaStream_t *, int32_t);
typedef cusparseStatus_t (*lt_search_t)(const cusparseLtHandle_t *, cusparseLtMatmulPlan_t *, const void *,
                                        const void *, const void *, const void *, const void *, void *, void *,
                                        cudaStream_t *, int32_t);
typedef cusparseStatus_t (*lt_csize_t)(const cusparseLtHandle_t *, const cusparseLtMatDescriptor_t *, size_t *, size_t *);
typedef cusparseStatus_t (*lt_comp_t)(const cusparseLtHandle_t *, const cusparseLtMatDescriptor_t *, int,
                                      cusparseOperation_t, const void *, void *, void *, cudaStream_t);
typedef cusparseStatus_t (*lt_check_t)(const cusparseLtHandle_t *, const cusparseLtMatDescriptor_t *, int,
                                       cusparseOperation_t, const void *, int *, cudaStream_t);

static struct {
    int state; /* 0 untried, 1 ok, -1 failed */
    char err[512];
    void *dl;
    cusparseLtHandle_t *h;
    lt_init_t init; lt_sdesc_t sdesc; lt_ddesc_t ddesc; lt_descfree_t descfree; lt_mmdesc_t mmdesc;
    lt_alg_t alg; lt_algfree_t algfree; lt_plan_t plan; lt_planfree_t planfree; lt_ws_t ws; lt_mm_t mm;
    lt_search_t search; lt_csize_t csize; lt_comp_t comp; lt_check_t check;
} L;

static int lt_load(void) {
    if (L.state == 1) return 0;
    if (L.state == -1) return sp_error(SP_ERR_UNSUPPORTED, "%s", L.err);
    const char *env = getenv("SP_CUSPARSELT_LIB");
    const char *names[] = {env, "libcusparseLt.so.0", "libcusparseLt.so"};
    for (int i = 0; i < 3 && !L.dl; i++)
        if (names[i] && names[i][0]) L.dl = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!L.dl) {
        snprintf(L.err, sizeof L.err, "cuSPARSELt not found (set SP_CUSPARSELT_LIB to libcusparseLt.so.0): %s", dlerror());
        L.state = -1;
        return sp_error(SP_ERR_UNSUPPORTED, "%s", L.err);
    }
#define LT_SYM(f, name)                                                           \
    do {                                                                          \
        *(void **)&L.f = dlsym(L.dl, name);                                       \
        if (!L.f) {                                                               \
            snprintf(L.err, sizeof L.err, "cuSPARSELt: symbol %s missing", name); \
            L.state = -1;                                                         \
            return sp_error(SP_ERR_UNSUPPORTED, "%s", L.err);                     \
        }                                                                         \
    } while (0)
    LT_SYM(init, "cusparseLtInit");
    LT_SYM(sdesc, "cusparseLtStructuredDescriptorInit");
    LT_SYM(ddesc, "cusparseLtDenseDescriptorInit");
    LT_SYM(descfree, "cusparseLtMatDescriptorDestroy");
    LT_SYM(mmdesc, "cusparseLtMatmulDescriptorInit");
    LT_SYM(alg, "cusparseLtMatmulAlgSelectionInit");
    LT_SYM(plan, "cusparseLtMatmulPlanInit");
    LT_SYM(planfree, "cusparseLtMatmulPlanDestroy");
    LT_SYM(ws, "cusparseLtMatmulGetWorkspace");
    LT_SYM(mm, "cusparseLtMatmul");
    LT_SYM(search, "cusparseLtMatmulSearch");
    LT_SYM(csize, "cusparseLtSpMMACompressedSize2");
    LT_SYM(comp, "cusparseLtSpMMACompress2");
    LT_SYM(check, "cusparseLtSpMMAPruneCheck2");
    *(void **)&L.algfree = dlsym(L.dl, "cusparseLtMatmulAlgSelectionDestroy"); /* 0.7+ */
    L.h = (cusparseLtHandle_t *)calloc(1, sizeof(cusparseLtHandle_t));
    if (!L.h || L.init(L.h) != CUSPARSE_STATUS_SUCCESS) {
        snprintf(L.err, sizeof L.err, "cusparseLtInit failed");
        L.state = -1;
        return sp_error(SP_ERR_UNSUPPORTED, "%s", L.err);
    }
    L.state = 1;
    return 0;
}

/* How the operands are described to cuSPARSELt (SP_LT_LAYOUT, read once): 0 the weight as a
 * column-major in x out A under op T, 1 as a row-major out x in A, 2 the transposed product
 * with the weight as the structured B. Same bytes, same result; the library picks its
 * kernels per layout, so the bench times all three. */
static int lt_mode(void) {
    static int m = -1;
    if (m < 0) {
        const char *e = getenv("SP_LT_LAYOUT");
        m = e && e[0] >= '0' && e[0] <= '2' && !e[1] ? e[0] - '0' : 0;
    }
    return m;
}

#define LT(call)                                                                                     \
    do {                                                                                             \
        cusparseStatus_t s_ = (call);                                                                \
        if (s_ != CUSPARSE_STATUS_SUCCESS)                                                           \
            return sp_error(SP_ERR_UNSUPPORTED, "%s:%d: %s failed (status %d)", __FILE__, __LINE__, #call, (int)s_); \
    } while (0)

struct sp_lt_plan {
    int n, made;                 /* token count (a multiple of 8); plan fully initialized */
    cusparseLtMatDescriptor_t B, C;
    cusparseLtMatmulDescriptor_t mm;
    cusparseLtMatmulAlgSelection_t alg;
    cusparseLtMatmulPlan_t plan;
    void *work;
    size_t work_bytes;
};

#define SP_LT_PLANS 8
struct sp_lt_state {
    int mode;                    /* operand layout (lt_mode) the weight was compressed for */
    cusparseLtMatDescriptor_t A; /* the structured weight (A, or B in mode 2) */
    void *comp;                  /* compressed weight */
    void *xpad, *ypad;           /* token counts not a multiple of 8 run padded */
    size_t xpad_bytes, ypad_bytes;
    sp_lt_plan *plans[SP_LT_PLANS];
    int nplans;
};

int sp_lt_upload(sp_cuda_weight *w, const uint16_t *dense, sp_cuda_ctx *c) {
    size_t db = (size_t)w->out * w->in * 2;
    void *d = NULL;
    if (sp_dev_copy(&d, dense, db) != cudaSuccess) {
        cudaFree(d);
        return sp_error(SP_ERR_NOMEM, "cuSPARSELt: device allocation/copy of %zu bytes failed", db);
    }
    int rc = sp_lt_upload_dev(w, d, c);
    cudaFree(d);
    return rc;
}

/* d: the masked dense weight on the device (read only). */
static cudaDataType lt_type(const sp_cuda_weight *w) { return w->dtype == SP_CUDA_F16 ? CUDA_R_16F : CUDA_R_16BF; }

int sp_lt_upload_dev(sp_cuda_weight *w, const void *d, sp_cuda_ctx *c) {
    int rc = lt_load();
    if (rc) return rc;
    if (w->out % 16 || w->in % 16)
        return sp_error(SP_ERR_UNSUPPORTED, "cuSPARSELt: shape (%d, %d) needs multiples of 16", w->out, w->in);
    sp_lt_state *s = (sp_lt_state *)calloc(1, sizeof *s);
    if (!s) return sp_error(SP_ERR_NOMEM, "cuSPARSELt: out of memory");
    w->lt = s;
    s->mode = lt_mode();
    /* the same bytes (W row-major, out x in) described three ways */
    const cusparseOperation_t op = s->mode == 0 ? CUSPARSE_OPERATION_TRANSPOSE : CUSPARSE_OPERATION_NON_TRANSPOSE;
    const cudaDataType ty = lt_type(w);
    if (s->mode == 1) LT(L.sdesc(L.h, &s->A, w->out, w->in, w->in, 16, ty, CUSPARSE_ORDER_ROW, CUSPARSELT_SPARSITY_50_PERCENT));
    else LT(L.sdesc(L.h, &s->A, w->in, w->out, w->in, 16, ty, CUSPARSE_ORDER_COL, CUSPARSELT_SPARSITY_50_PERCENT));
    void *buf = NULL;
    int *valid = NULL;
    size_t csz = 0, cbuf = 0;
    SP_CU(cudaMalloc(&valid, sizeof(int)));
    int hvalid = 1;
    LT(L.check(L.h, &s->A, s->mode != 2, op, d, valid, c->stream));
    SP_CU(cudaMemcpyAsync(&hvalid, valid, sizeof(int), cudaMemcpyDeviceToHost, c->stream));
    SP_CU(cudaStreamSynchronize(c->stream));
    cudaFree(valid);
    if (hvalid != 0)
        return sp_error(SP_ERR_FORMAT, "cuSPARSELt: the weight is not 2:4 along its rows in this layout (check = %d)", hvalid);
    LT(L.csize(L.h, &s->A, &csz, &cbuf));
    SP_CU(cudaMalloc(&s->comp, csz));
    if (cbuf) SP_CU(cudaMalloc(&buf, cbuf));
    LT(L.comp(L.h, &s->A, s->mode != 2, op, d, s->comp, buf, c->stream));
    SP_CU(cudaStreamSynchronize(c->stream));
    cudaFree(buf);
    w->bytes = csz;
    return 0;
}

/* the product's A and B: the compressed weight and x, swapped in mode 2 */
static void lt_operands(const sp_lt_state *s, const void *x, const void **a, const void **b) {
    *a = s->mode == 2 ? x : s->comp;
    *b = s->mode == 2 ? s->comp : x;
}

static int lt_plan_for(sp_cuda_weight *w, int n, sp_cuda_ctx *c, sp_lt_plan **out) {
    sp_lt_state *s = w->lt;
    for (int i = 0; i < s->nplans; i++)
        if (s->plans[i]->n == n) { *out = s->plans[i]; return 0; }
    if (s->nplans == SP_LT_PLANS) return sp_error(SP_ERR_UNSUPPORTED, "cuSPARSELt: more than %d token counts on one weight", SP_LT_PLANS);
    sp_lt_plan *p = (sp_lt_plan *)calloc(1, sizeof *p);
    if (!p) return sp_error(SP_ERR_NOMEM, "cuSPARSELt: out of memory");
    s->plans[s->nplans++] = p; /* freed with the weight, even half made */
    p->n = n;
    const int M = w->out, K = w->in;
    const cusparseOperation_t N = CUSPARSE_OPERATION_NON_TRANSPOSE;
    const cudaDataType ty = lt_type(w);
    if (s->mode == 2) { /* D (n x M, row-major) = X (n x K, row-major) W^T (K x M column-major, structured) */
        LT(L.ddesc(L.h, &p->B, n, K, K, 16, ty, CUSPARSE_ORDER_ROW));
        LT(L.ddesc(L.h, &p->C, n, M, M, 16, ty, CUSPARSE_ORDER_ROW));
        LT(L.mmdesc(L.h, &p->mm, N, N, &p->B, &s->A, &p->C, &p->C, CUSPARSE_COMPUTE_32F));
    } else { /* D (M x n, column-major) = op(W) (M x K) X^T (K x n, column-major) */
        LT(L.ddesc(L.h, &p->B, K, n, K, 16, ty, CUSPARSE_ORDER_COL));
        LT(L.ddesc(L.h, &p->C, M, n, M, 16, ty, CUSPARSE_ORDER_COL));
        LT(L.mmdesc(L.h, &p->mm, s->mode ? N : CUSPARSE_OPERATION_TRANSPOSE, N, &s->A, &p->B, &p->C, &p->C, CUSPARSE_COMPUTE_32F));
    }
    LT(L.alg(L.h, &p->alg, &p->mm, CUSPARSELT_MATMUL_ALG_DEFAULT));
    LT(L.plan(L.h, &p->plan, &p->mm, &p->alg));
    LT(L.ws(L.h, &p->plan, &p->work_bytes));
    if (p->work_bytes) SP_CU(cudaMalloc(&p->work, p->work_bytes));
    /* No search for f16: on the H200 (run 30, PyTorch's cuSPARSELt, every layout) the f16 search
     * returned an internal error and left an illegal instruction behind, which ends the CUDA
     * context; the default algorithm is correct but measured 0.49-0.65x cuBLAS f16 at 2048-8192
     * tokens, so the selector leaves it to the own wgmma.sp GEMM (1.17-1.25x). SP_LT_SEARCH=0 skips
     * the search for bf16 too (A/B, diagnosis). */
    const char *se = getenv("SP_LT_SEARCH");
    if (w->dtype == SP_CUDA_F16 || (se && !strcmp(se, "0"))) {
        p->made = 1;
        *out = p;
        return 0;
    }
    /* search once on scratch buffers (it runs many kernels and accumulates into D) */
    void *xb = NULL, *yb = NULL;
    SP_CU(cudaMalloc(&xb, (size_t)K * n * 2));
    SP_CU(cudaMalloc(&yb, (size_t)M * n * 2));
    /* zeros time unlike data; for f16 the same bits read as f16 lie within +-2 */
    k_random_bf16<><<<256, 256, 0, c->stream>>>((__nv_bfloat16 *)xb, (size_t)K * n, 977, 1.f);
    const float one = 1.f, zero = 0.f;
    const void *da, *db;
    lt_operands(s, xb, &da, &db);
    cusparseStatus_t st = L.search(L.h, &p->plan, &one, da, db, &zero, yb, yb, p->work, &c->stream, 1);
    cudaStreamSynchronize(c->stream);
    cudaFree(xb);
    cudaFree(yb);
    if (st != CUSPARSE_STATUS_SUCCESS) return sp_error(SP_ERR_UNSUPPORTED, "cusparseLtMatmulSearch failed (%d)", (int)st);
    size_t need = 0; /* the chosen algorithm may want more workspace */
    LT(L.ws(L.h, &p->plan, &need));
    if (need > p->work_bytes) {
        cudaFree(p->work);
        p->work = NULL;
        SP_CU(cudaMalloc(&p->work, need));
        p->work_bytes = need;
    }
    p->made = 1;
    *out = p;
    return 0;
}

static int grow(void **p, size_t *have, size_t need) {
    if (need <= *have) return 0;
    cudaFree(*p);
    *p = NULL;
    *have = 0;
    SP_CU(cudaMalloc(p, need));
    *have = need;
    return 0;
}

/* cuSPARSELt refuses token counts that are not a multiple of 8 (seen: status 10 at n = 1
 * and 3 on 0.8): those run on a zero-padded copy of x. */
int sp_lt_run(const sp_cuda_weight *cw, const void *x, int n, void *y, sp_cuda_ctx *c) {
    sp_cuda_weight *w = (sp_cuda_weight *)cw;
    sp_lt_state *s = w->lt;
    const int n8 = (n + 7) / 8 * 8;
    sp_lt_plan *p = NULL;
    int rc = lt_plan_for(w, n8, c, &p);
    if (rc) return rc;
    const void *xb = x;
    void *yb = y;
    if (n8 != n) {
        size_t xb_need = (size_t)n8 * w->in * 2, yb_need = (size_t)n8 * w->out * 2;
        if ((rc = grow(&s->xpad, &s->xpad_bytes, xb_need)) || (rc = grow(&s->ypad, &s->ypad_bytes, yb_need))) return rc;
        SP_CU(cudaMemcpyAsync(s->xpad, x, (size_t)n * w->in * 2, cudaMemcpyDeviceToDevice, c->stream));
        SP_CU(cudaMemsetAsync((char *)s->xpad + (size_t)n * w->in * 2, 0, (size_t)(n8 - n) * w->in * 2, c->stream));
        xb = s->xpad;
        yb = s->ypad;
    }
    const float one = 1.f, zero = 0.f;
    const void *da, *db;
    lt_operands(s, xb, &da, &db);
    LT(L.mm(L.h, &p->plan, &one, da, db, &zero, yb, yb, p->work, &c->stream, 1));
    if (n8 != n) SP_CU(cudaMemcpyAsync(y, yb, (size_t)n * w->out * 2, cudaMemcpyDeviceToDevice, c->stream));
    return 0;
}

void sp_lt_free(sp_cuda_weight *w) {
    sp_lt_state *s = w->lt;
    if (!s) return;
    for (int i = 0; i < s->nplans; i++) {
        sp_lt_plan *p = s->plans[i];
        if (p->made) {
            L.planfree(&p->plan);
            if (L.algfree) L.algfree(&p->alg);
            L.descfree(&p->B);
            L.descfree(&p->C);
        }
        cudaFree(p->work);
        free(p);
    }
    if (s->comp) L.descfree(&s->A);
    cudaFree(s->comp);
    cudaFree(s->xpad);
    cudaFree(s->ypad);
    free(s);
    w->lt = NULL;
}
