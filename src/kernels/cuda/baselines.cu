/* baselines.cu: the measured baselines. Dense: cuBLAS GemmEx, y (n, out) = x (n, in) W^T
 * as the column-major product Y^T (out x n) = W^T(op T on the (in x out) view) X^T.
 * CSR, COO, BSR: cuSPARSE SpMV (n = 1) / SpMM (n > 1), bf16 values in and out, fp32 compute,
 * on the same column-major view: Y^T (out x n) = W (out x in) X^T (in x n), where X^T and Y^T
 * column-major are x and y as they are. The sparse arrays are built on the host from the dense
 * bf16 weight: CSR and COO keep the nonzeros, BSR every bs x bs block holding one. */
#include <cublas_v2.h>
#include <cusparse.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.cuh"

#define SP_CS(call)                                                                              \
    do {                                                                                         \
        cusparseStatus_t s_ = (call);                                                            \
        if (s_ != CUSPARSE_STATUS_SUCCESS)                                                       \
            return sp_error(SP_ERR_UNSUPPORTED, "%s:%d: %s: %s", __FILE__, __LINE__, #call,      \
                            cusparseGetErrorString(s_));                                         \
    } while (0)

int sp_dense_run(const sp_cuda_weight *w, const void *x, int n, void *y, sp_cuda_ctx *c) {
    const float one = 1.f, zero = 0.f;
    const cudaDataType t = w->dtype == SP_CUDA_F16 ? CUDA_R_16F : CUDA_R_16BF;
    SP_CB(cublasGemmEx((cublasHandle_t)c->cublas, CUBLAS_OP_T, CUBLAS_OP_N, w->out, n, w->in, &one, w->w, t, w->in, x, t,
                       w->in, &zero, y, t, w->out, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return 0;
}

/* ------------------------------------------------------------------ host build */

static inline int nz(uint16_t v) { return (v & 0x7fff) != 0; } /* -0 counts as zero */

/* CSR (ri = row offsets, out + 1) or COO (ri = row of each nonzero) of the nonzeros, row by
 * row in ascending column order, so the COO comes out row-sorted. */
static int csr_coo_upload(sp_cuda_weight *w, const uint16_t *dense, int coo) {
    const int M = w->out, K = w->in;
    const char *name = coo ? "coo-cusparse" : "csr-cusparse";
    int64_t nnz = 0;
    for (size_t i = 0; i < (size_t)M * K; i++) nnz += nz(dense[i]);
    if (nnz > INT32_MAX)
        return sp_error(SP_ERR_ARG, "%s upload: %lld nonzeros exceed 32-bit indices", name, (long long)nnz);
    const size_t nr = coo ? (size_t)nnz : (size_t)M + 1;
    int *ri = (int *)malloc((nr ? nr : 1) * sizeof(int));
    int *ci = (int *)malloc((nnz ? nnz : 1) * sizeof(int));
    uint16_t *vv = (uint16_t *)malloc((nnz ? nnz : 1) * 2);
    if (!ri || !ci || !vv) { free(ri); free(ci); free(vv); return sp_error(SP_ERR_NOMEM, "%s upload: out of memory", name); }
    int64_t k = 0;
    for (int r = 0; r < M; r++) {
        if (!coo) ri[r] = (int)k;
        for (int j = 0; j < K; j++) {
            uint16_t v = dense[(size_t)r * K + j];
            if (!nz(v)) continue;
            if (coo) ri[k] = r;
            ci[k] = j;
            vv[k] = v;
            k++;
        }
    }
    if (!coo) ri[M] = (int)k;
    int rc = 0;
    if (sp_dev_copy(coo ? &w->coorow : &w->rowptr, ri, nr * sizeof(int)) ||
        sp_dev_copy(&w->colind, ci, nnz * sizeof(int)) || sp_dev_copy(&w->spval, vv, nnz * 2))
        rc = sp_error(SP_ERR_NOMEM, "%s upload: device allocation/copy failed", name);
    w->nnz = nnz;
    w->bytes = nr * 4 + nnz * 6; /* row offsets or row indices, column indices, values */
    free(ri);
    free(ci);
    free(vv);
    return rc;
}

int sp_csr_upload(sp_cuda_weight *w, const uint16_t *dense) { return csr_coo_upload(w, dense, 0); }
int sp_coo_upload(sp_cuda_weight *w, const uint16_t *dense) { return csr_coo_upload(w, dense, 1); }

/* Device bytes of a BSR: block-row offsets, then per stored block its column and bs*bs values. */
static size_t bsr_bytes(int mb, int64_t nb, int bs) { return (size_t)(mb + 1) * 4 + (size_t)nb * (4 + 2 * (size_t)bs * bs); }

/* The automatic block size (documented at sp_cuda_set_bsr_block): of 32, 16, 8 and 4 (those
 * dividing K), the largest whose BSR bytes are within 10% of the fewest among them. The
 * candidates' stored blocks are counted on a grid of 4x4 tile flags (one pass over W). */
static int bsr_auto(const uint16_t *d, int M, int K) {
    const int gr = (M + 3) / 4, gc = K / 4; /* K % 16 == 0 */
    uint8_t *f = (uint8_t *)calloc((size_t)gr * gc, 1);
    if (!f) return 16;
    for (int r = 0; r < M; r++) {
        uint8_t *fr = f + (size_t)(r / 4) * gc;
        const uint16_t *row = d + (size_t)r * K;
        for (int j = 0; j < K; j++) fr[j >> 2] |= (uint8_t)nz(row[j]);
    }
    static const int cand[4] = {4, 8, 16, 32};
    double bytes[4], fewest = 0;
    for (int i = 0; i < 4; i++) {
        const int bs = cand[i], t = bs / 4, mb = (M + bs - 1) / bs;
        bytes[i] = -1;
        if (K % bs) continue;
        int64_t nb = 0;
        for (int R = 0; R < mb; R++)
            for (int C = 0; C < K / bs; C++) {
                int any = 0;
                for (int a = R * t; a < R * t + t && a < gr && !any; a++)
                    for (int b = C * t; b < C * t + t; b++) any |= f[(size_t)a * gc + b];
                nb += any;
            }
        bytes[i] = (double)bsr_bytes(mb, nb, bs);
        if (fewest == 0 || bytes[i] < fewest) fewest = bytes[i];
    }
    free(f);
    int pick = 4;
    for (int i = 0; i < 4; i++)
        if (bytes[i] >= 0 && bytes[i] <= 1.1 * fewest) pick = cand[i];
    return pick;
}

int sp_bsr_upload(sp_cuda_weight *w, const uint16_t *dense, int bs) {
    const int M = w->out, K = w->in;
    if (bs == 0) bs = bsr_auto(dense, M, K);
    else if ((bs != 2 && bs != 4 && bs != 8 && bs != 16 && bs != 32) || K % bs)
        return sp_error(SP_ERR_ARG, "bsr-cusparse upload: block size %d invalid for in = %d: give 0 (automatic) or "
                        "one of 2, 4, 8, 16, 32 that divides in (sp_cuda_set_bsr_block)", bs, K);
    const int mb = (M + bs - 1) / bs, kb = K / bs; /* rows past out: zero padding */
    int *rp = (int *)malloc((size_t)(mb + 1) * sizeof(int)), *slot = (int *)malloc((size_t)kb * sizeof(int));
    uint8_t *mark = (uint8_t *)calloc((size_t)mb * kb, 1); /* block (R, C) holds a nonzero */
    if (!rp || !slot || !mark) { free(rp); free(slot); free(mark); return sp_error(SP_ERR_NOMEM, "bsr-cusparse upload: out of memory"); }
    for (int r = 0; r < M; r++) {
        uint8_t *mr = mark + (size_t)(r / bs) * kb;
        const uint16_t *row = dense + (size_t)r * K;
        for (int C = 0; C < kb; C++) {
            int any = 0;
            for (int t = 0; t < bs; t++) any |= nz(row[C * bs + t]);
            mr[C] |= (uint8_t)any;
        }
    }
    int64_t nb = 0;
    for (int R = 0; R < mb; R++) {
        rp[R] = (int)(nb < INT32_MAX ? nb : INT32_MAX);
        for (int C = 0; C < kb; C++) nb += mark[(size_t)R * kb + C];
    }
    if (nb > INT32_MAX) {
        free(rp); free(slot); free(mark);
        return sp_error(SP_ERR_ARG, "bsr-cusparse upload: %lld blocks exceed 32-bit indices", (long long)nb);
    }
    rp[mb] = (int)nb;
    const size_t nv = (size_t)nb * bs * bs;
    int *ci = (int *)malloc((nb ? nb : 1) * sizeof(int));
    uint16_t *vv = (uint16_t *)calloc(nv ? nv : 1, 2);
    if (!ci || !vv) { free(rp); free(slot); free(mark); free(ci); free(vv); return sp_error(SP_ERR_NOMEM, "bsr-cusparse upload: out of memory"); }
    for (int R = 0; R < mb; R++) {
        const uint8_t *mr = mark + (size_t)R * kb;
        for (int C = 0, b = rp[R]; C < kb; C++) {
            slot[C] = mr[C] ? b : -1;
            if (mr[C]) ci[b++] = C;
        }
        for (int r = R * bs; r < R * bs + bs && r < M; r++) {
            const uint16_t *row = dense + (size_t)r * K;
            for (int C = 0; C < kb; C++)
                if (slot[C] >= 0) memcpy(vv + ((size_t)slot[C] * bs + (r - R * bs)) * bs, row + (size_t)C * bs, (size_t)bs * 2);
        }
    }
    int rc = 0;
    if (sp_dev_copy(&w->rowptr, rp, (size_t)(mb + 1) * sizeof(int)) ||
        sp_dev_copy(&w->colind, ci, (size_t)nb * sizeof(int)) || sp_dev_copy(&w->spval, vv, nv * 2))
        rc = sp_error(SP_ERR_NOMEM, "bsr-cusparse upload: device allocation/copy failed");
    w->bsr_bs = bs;
    w->nnz = nb;
    w->bytes = bsr_bytes(mb, nb, bs);
    free(rp); free(slot); free(mark); free(ci); free(vv);
    return rc;
}

int sp_sparse_upload(sp_cuda_weight *w, const uint16_t *dense) {
    switch (w->kernel) {
    case SP_CUDA_KERNEL_CSR: return sp_csr_upload(w, dense);
    case SP_CUDA_KERNEL_COO: return sp_coo_upload(w, dense);
    case SP_CUDA_KERNEL_BSR: {
        sp_cuda_ctx *c = sp_cuda_ctx_get();
        return sp_bsr_upload(w, dense, c ? c->cfg_bsr_bs : 0);
    }
    default: return sp_error(SP_ERR_ARG, "sp_sparse_upload: %s is not a cuSPARSE kernel", sp_cuda_kernel_name(w->kernel));
    }
}

void sp_sparse_free(sp_cuda_weight *w) {
    cudaFree(w->rowptr);
    cudaFree(w->colind);
    cudaFree(w->coorow);
    cudaFree(w->spval);
    cudaFree(w->sp_buf);
    cudaFree(w->bsr_y);
}

/* ------------------------------------------------------------------ run */

/* Grows the device buffer *p (*have bytes) to need bytes; kept when large enough. */
static int grow(void **p, size_t *have, size_t need) {
    if (need <= *have) return 0;
    cudaFree(*p);
    *p = NULL;
    *have = 0;
    SP_CU(cudaMalloc(p, need ? need : 16));
    *have = need;
    return 0;
}

/* Y^T (rows x n, leading dimension ldy) = A (rows x cols) X^T (cols x n), column-major, on the
 * library stream: SpMV with valg when spmv (n = 1), else SpMM with malg. Returns 0, a negative
 * status with the message set, or 1 (nothing set) when cuSPARSE answers NOT_SUPPORTED and
 * soft_unsupported asks for that. */
static int sparse_mul(sp_cuda_weight *w, cusparseSpMatDescr_t A, int64_t rows, int64_t cols, const __nv_bfloat16 *x,
                      int n, __nv_bfloat16 *y, int64_t ldy, int spmv, cusparseSpMVAlg_t valg, cusparseSpMMAlg_t malg,
                      int soft_unsupported, sp_cuda_ctx *c) {
    cusparseHandle_t h = (cusparseHandle_t)c->cusparse;
    const cusparseOperation_t N = CUSPARSE_OPERATION_NON_TRANSPOSE;
    const float one = 1.f, zero = 0.f;
    size_t need = 0;
    int rc = 0;
    cusparseStatus_t s;
    if (spmv) {
        cusparseDnVecDescr_t X = NULL, Y = NULL;
        s = cusparseCreateDnVec(&X, cols, (void *)x, CUDA_R_16BF);
        if (s == CUSPARSE_STATUS_SUCCESS) s = cusparseCreateDnVec(&Y, rows, y, CUDA_R_16BF);
        if (s == CUSPARSE_STATUS_SUCCESS) s = cusparseSpMV_bufferSize(h, N, &one, A, X, &zero, Y, CUDA_R_32F, valg, &need);
        if (s == CUSPARSE_STATUS_SUCCESS && !(rc = grow(&w->sp_buf, &w->sp_buf_bytes, need)))
            s = cusparseSpMV(h, N, &one, A, X, &zero, Y, CUDA_R_32F, valg, w->sp_buf);
        if (X) cusparseDestroyDnVec(X);
        if (Y) cusparseDestroyDnVec(Y);
    } else {
        cusparseDnMatDescr_t X = NULL, Y = NULL; /* X^T (cols x n) and Y^T (rows x n), column-major */
        s = cusparseCreateDnMat(&X, cols, n, cols, (void *)x, CUDA_R_16BF, CUSPARSE_ORDER_COL);
        if (s == CUSPARSE_STATUS_SUCCESS) s = cusparseCreateDnMat(&Y, rows, n, ldy, y, CUDA_R_16BF, CUSPARSE_ORDER_COL);
        if (s == CUSPARSE_STATUS_SUCCESS)
            s = cusparseSpMM_bufferSize(h, N, N, &one, A, X, &zero, Y, CUDA_R_32F, malg, &need);
        if (s == CUSPARSE_STATUS_SUCCESS && !(rc = grow(&w->sp_buf, &w->sp_buf_bytes, need)))
            s = cusparseSpMM(h, N, N, &one, A, X, &zero, Y, CUDA_R_32F, malg, w->sp_buf);
        if (X) cusparseDestroyDnMat(X);
        if (Y) cusparseDestroyDnMat(Y);
    }
    if (rc) return rc;
    if (s == CUSPARSE_STATUS_SUCCESS) return 0;
    if (soft_unsupported && s == CUSPARSE_STATUS_NOT_SUPPORTED) return 1;
    return sp_error(SP_ERR_UNSUPPORTED, "%s (%s, n = %d): %s", spmv ? "cusparseSpMV" : "cusparseSpMM",
                    sp_cuda_kernel_name(w->kernel), n, cusparseGetErrorString(s));
}

/* An all-zero weight: y = 0 without cuSPARSE (empty matrices are not worth its corner cases). */
static int zero_y(const sp_cuda_weight *w, int n, __nv_bfloat16 *y, sp_cuda_ctx *c) {
    SP_CU(cudaMemsetAsync(y, 0, (size_t)n * w->out * 2, c->stream));
    return 0;
}

/* CSR and COO differ only in the descriptor (the work buffer grows on first use) */
static int csr_coo_run(sp_cuda_weight *w, int coo, const __nv_bfloat16 *x, int n, __nv_bfloat16 *y, sp_cuda_ctx *c) {
    if (!w->nnz) return zero_y(w, n, y, c);
    cusparseSpMatDescr_t A;
    if (coo)
        SP_CS(cusparseCreateCoo(&A, w->out, w->in, w->nnz, w->coorow, w->colind, w->spval, CUSPARSE_INDEX_32I,
                                CUSPARSE_INDEX_BASE_ZERO, CUDA_R_16BF));
    else
        SP_CS(cusparseCreateCsr(&A, w->out, w->in, w->nnz, w->rowptr, w->colind, w->spval, CUSPARSE_INDEX_32I,
                                CUSPARSE_INDEX_32I, CUSPARSE_INDEX_BASE_ZERO, CUDA_R_16BF));
    int rc = sparse_mul(w, A, w->out, w->in, x, n, y, w->out, n == 1, CUSPARSE_SPMV_ALG_DEFAULT,
                        CUSPARSE_SPMM_ALG_DEFAULT, 0, c);
    cusparseDestroySpMat(A);
    return rc;
}

int sp_csr_run(const sp_cuda_weight *w, const __nv_bfloat16 *x, int n, __nv_bfloat16 *y, sp_cuda_ctx *c) {
    return csr_coo_run((sp_cuda_weight *)w, 0, x, n, y, c);
}

int sp_coo_run(const sp_cuda_weight *w, const __nv_bfloat16 *x, int n, __nv_bfloat16 *y, sp_cuda_ctx *c) {
    return csr_coo_run((sp_cuda_weight *)w, 1, x, n, y, c);
}

/* BSR: blocks row-major inside (CUSPARSE_SPMM_BSR_ALG1 takes no other order), SpMV with
 * CUSPARSE_SPMV_BSR_ALG1 for one token (SpMM with n = 1 if cuSPARSE refuses it), SpMM with
 * CUSPARSE_SPMM_BSR_ALG1 above. The product has mb*bs rows: when out is not a multiple of bs
 * it goes to a padded scratch Y^T and the first out rows of each column are copied to y. */
int sp_bsr_run(const sp_cuda_weight *cw, const __nv_bfloat16 *x, int n, __nv_bfloat16 *y, sp_cuda_ctx *c) {
    sp_cuda_weight *w = (sp_cuda_weight *)cw;
    if (!w->nnz) return zero_y(w, n, y, c);
    const int bs = w->bsr_bs, mb = (w->out + bs - 1) / bs;
    const int64_t rows = (int64_t)mb * bs;
    __nv_bfloat16 *yt = y;
    int rc = 0;
    if (rows != w->out) {
        if ((rc = grow((void **)&w->bsr_y, &w->bsr_y_bytes, (size_t)rows * n * 2))) return rc;
        yt = w->bsr_y;
    }
    cusparseSpMatDescr_t A;
    SP_CS(cusparseCreateBsr(&A, mb, w->in / bs, w->nnz, bs, bs, w->rowptr, w->colind, w->spval, CUSPARSE_INDEX_32I,
                            CUSPARSE_INDEX_32I, CUSPARSE_INDEX_BASE_ZERO, CUDA_R_16BF, CUSPARSE_ORDER_ROW));
    rc = 1;
    if (n == 1 && !w->bsr_spmv_off) {
        rc = sparse_mul(w, A, rows, w->in, x, 1, yt, rows, 1, CUSPARSE_SPMV_BSR_ALG1, CUSPARSE_SPMM_BSR_ALG1, 1, c);
        if (rc == 1) w->bsr_spmv_off = 1; /* not supported here: SpMM with n = 1 from now on */
    }
    if (rc == 1)
        rc = sparse_mul(w, A, rows, w->in, x, n, yt, rows, 0, CUSPARSE_SPMV_BSR_ALG1, CUSPARSE_SPMM_BSR_ALG1, 0, c);
    cusparseDestroySpMat(A);
    if (!rc && yt != y)
        SP_CU(cudaMemcpy2DAsync(y, (size_t)w->out * 2, yt, (size_t)rows * 2, (size_t)w->out * 2, n,
                                cudaMemcpyDeviceToDevice, c->stream));
    return rc;
}
