/* baselines.cu: the measured baselines. Dense: cuBLAS GemmEx, y (n, out) = x (n, in) W^T
 * as the column-major product Y^T (out x n) = W^T(op T on the (in x out) view) X^T.
 * CSR: cuSPARSE SpMV (n = 1) / SpMM (n > 1) on the nonzeros of the bf16 weight. */
#include <cublas_v2.h>
#include <cusparse.h>
#include <stdlib.h>

#include "common.cuh"

#define SP_CS(call)                                                                              \
    do {                                                                                         \
        cusparseStatus_t s_ = (call);                                                            \
        if (s_ != CUSPARSE_STATUS_SUCCESS)                                                       \
            return sp_error(SP_ERR_UNSUPPORTED, "%s:%d: %s: %s", __FILE__, __LINE__, #call,      \
                            cusparseGetErrorString(s_));                                         \
    } while (0)

int sp_dense_run(const sp_cuda_weight *w, const __nv_bfloat16 *x, int n, __nv_bfloat16 *y, sp_cuda_ctx *c) {
    const float one = 1.f, zero = 0.f;
    SP_CB(cublasGemmEx((cublasHandle_t)c->cublas, CUBLAS_OP_T, CUBLAS_OP_N, w->out, n, w->in, &one, w->w,
                       CUDA_R_16BF, w->in, x, CUDA_R_16BF, w->in, &zero, y, CUDA_R_16BF, w->out,
                       CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return 0;
}

int sp_csr_upload(sp_cuda_weight *w, const uint16_t *dense) {
    const int M = w->out, K = w->in;
    int64_t nnz = 0;
    for (size_t i = 0; i < (size_t)M * K; i++) nnz += (dense[i] & 0x7fff) != 0;
    int *rp = (int *)malloc((M + 1) * sizeof(int));
    int *ci = (int *)malloc((nnz ? nnz : 1) * sizeof(int));
    uint16_t *vv = (uint16_t *)malloc((nnz ? nnz : 1) * 2);
    if (!rp || !ci || !vv) { free(rp); free(ci); free(vv); return sp_error(SP_ERR_NOMEM, "sp_csr_upload: out of memory"); }
    int64_t k = 0;
    for (int r = 0; r < M; r++) {
        rp[r] = (int)k;
        for (int j = 0; j < K; j++) {
            uint16_t v = dense[(size_t)r * K + j];
            if (v & 0x7fff) { ci[k] = j; vv[k] = v; k++; }
        }
    }
    rp[M] = (int)k;
    int rc = 0;
    if (cudaMalloc(&w->rowptr, (M + 1) * sizeof(int)) != cudaSuccess ||
        cudaMalloc(&w->colind, (nnz ? nnz : 1) * sizeof(int)) != cudaSuccess ||
        cudaMalloc(&w->csrval, (nnz ? nnz : 1) * 2) != cudaSuccess ||
        cudaMemcpy(w->rowptr, rp, (M + 1) * sizeof(int), cudaMemcpyHostToDevice) != cudaSuccess ||
        cudaMemcpy(w->colind, ci, (nnz ? nnz : 1) * sizeof(int), cudaMemcpyHostToDevice) != cudaSuccess ||
        cudaMemcpy(w->csrval, vv, (nnz ? nnz : 1) * 2, cudaMemcpyHostToDevice) != cudaSuccess)
        rc = sp_error(SP_ERR_NOMEM, "sp_csr_upload: device allocation/copy failed");
    w->nnz = nnz;
    w->bytes = (M + 1) * 4 + nnz * 6;
    free(rp);
    free(ci);
    free(vv);
    return rc;
}

void sp_csr_free(sp_cuda_weight *w) {
    cudaFree(w->rowptr);
    cudaFree(w->colind);
    cudaFree(w->csrval);
    cudaFree(w->csr_buf);
}

static int csr_buf(sp_cuda_weight *w, size_t need) {
    if (need <= w->csr_buf_bytes) return 0;
    cudaFree(w->csr_buf);
    w->csr_buf = NULL;
    w->csr_buf_bytes = 0;
    SP_CU(cudaMalloc(&w->csr_buf, need ? need : 16));
    w->csr_buf_bytes = need;
    return 0;
}

int sp_csr_run(const sp_cuda_weight *cw, const __nv_bfloat16 *x, int n, __nv_bfloat16 *y, sp_cuda_ctx *c) {
    sp_cuda_weight *w = (sp_cuda_weight *)cw; /* the work buffer grows on first use */
    cusparseHandle_t h = (cusparseHandle_t)c->cusparse;
    cusparseSpMatDescr_t A;
    const float one = 1.f, zero = 0.f;
    SP_CS(cusparseCreateCsr(&A, w->out, w->in, w->nnz, w->rowptr, w->colind, w->csrval, CUSPARSE_INDEX_32I,
                            CUSPARSE_INDEX_32I, CUSPARSE_INDEX_BASE_ZERO, CUDA_R_16BF));
    int rc = 0;
    size_t need = 0;
    if (n == 1) {
        cusparseDnVecDescr_t X, Y;
        cusparseCreateDnVec(&X, w->in, (void *)x, CUDA_R_16BF);
        cusparseCreateDnVec(&Y, w->out, y, CUDA_R_16BF);
        cusparseStatus_t s = cusparseSpMV_bufferSize(h, CUSPARSE_OPERATION_NON_TRANSPOSE, &one, A, X, &zero, Y,
                                                     CUDA_R_32F, CUSPARSE_SPMV_ALG_DEFAULT, &need);
        if (s == CUSPARSE_STATUS_SUCCESS) rc = csr_buf(w, need);
        if (s == CUSPARSE_STATUS_SUCCESS && !rc)
            s = cusparseSpMV(h, CUSPARSE_OPERATION_NON_TRANSPOSE, &one, A, X, &zero, Y, CUDA_R_32F,
                             CUSPARSE_SPMV_ALG_DEFAULT, w->csr_buf);
        if (s != CUSPARSE_STATUS_SUCCESS) rc = sp_error(SP_ERR_UNSUPPORTED, "cusparseSpMV: %s", cusparseGetErrorString(s));
        cusparseDestroyDnVec(X);
        cusparseDestroyDnVec(Y);
    } else {
        cusparseDnMatDescr_t X, Y; /* X^T (in x n) and Y^T (out x n), column-major */
        cusparseCreateDnMat(&X, w->in, n, w->in, (void *)x, CUDA_R_16BF, CUSPARSE_ORDER_COL);
        cusparseCreateDnMat(&Y, w->out, n, w->out, y, CUDA_R_16BF, CUSPARSE_ORDER_COL);
        cusparseStatus_t s = cusparseSpMM_bufferSize(h, CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_NON_TRANSPOSE,
                                                     &one, A, X, &zero, Y, CUDA_R_32F, CUSPARSE_SPMM_ALG_DEFAULT, &need);
        if (s == CUSPARSE_STATUS_SUCCESS) rc = csr_buf(w, need);
        if (s == CUSPARSE_STATUS_SUCCESS && !rc)
            s = cusparseSpMM(h, CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_NON_TRANSPOSE, &one, A, X, &zero, Y,
                             CUDA_R_32F, CUSPARSE_SPMM_ALG_DEFAULT, w->csr_buf);
        if (s != CUSPARSE_STATUS_SUCCESS) rc = sp_error(SP_ERR_UNSUPPORTED, "cusparseSpMM: %s", cusparseGetErrorString(s));
        cusparseDestroyDnMat(X);
        cusparseDestroyDnMat(Y);
    }
    cusparseDestroySpMat(A);
    return rc;
}
