/* cuda_stub.c: the GPU backend when it is not built (no nvcc, SP_CUDA=OFF, sanitizer
 * tree): every call reports SP_ERR_UNSUPPORTED so callers fall back to the CPU. */
#include <string.h>

#include "sparsity.h"
#include "sparsity_cuda.h"
#include "kernels/cuda_names.h"

#ifndef SP_HAVE_CUDA

#define SP_NO_CUDA "CUDA backend not built (configure with nvcc and -DSP_CUDA=ON)"

int sp_cuda_available(void) { sp_error(SP_ERR_UNSUPPORTED, SP_NO_CUDA); return 0; }

int sp_cuda_device_info(char *name, size_t name_len, int *sm_count, size_t *l2, size_t *mem) {
    if (name && name_len) name[0] = 0;
    if (sm_count) *sm_count = 0;
    if (l2) *l2 = 0;
    if (mem) *mem = 0;
    return sp_error(SP_ERR_UNSUPPORTED, SP_NO_CUDA);
}

int sp_cuda_versions(char *buf, size_t len) {
    if (len) buf[0] = 0;
    return sp_error(SP_ERR_UNSUPPORTED, SP_NO_CUDA);
}

int sp_cuda_mem_in_use(size_t *bytes) {
    *bytes = 0;
    return sp_error(SP_ERR_UNSUPPORTED, SP_NO_CUDA);
}

const char *sp_cuda_kernel_name(sp_cuda_kernel k) { return sp_cuda_kernel_name_of(k); }

sp_cuda_weight *sp_cuda_upload_dense(sp_cuda_kernel k, int out, int in, const uint16_t *w) {
    (void)k; (void)out; (void)in; (void)w;
    sp_error(SP_ERR_UNSUPPORTED, SP_NO_CUDA);
    return NULL;
}

sp_cuda_weight *sp_cuda_upload_24(sp_cuda_kernel k, int out, int in, const uint16_t *v,
                                  const uint16_t *m) {
    (void)k; (void)out; (void)in; (void)v; (void)m;
    sp_error(SP_ERR_UNSUPPORTED, SP_NO_CUDA);
    return NULL;
}

sp_cuda_weight *sp_cuda_upload_device(sp_cuda_kernel k, int out, int in, const void *w) {
    (void)k; (void)out; (void)in; (void)w;
    sp_error(SP_ERR_UNSUPPORTED, SP_NO_CUDA);
    return NULL;
}

sp_cuda_weight *sp_cuda_upload_dense_t(sp_cuda_kernel k, int out, int in, const uint16_t *w, sp_cuda_dtype t) {
    (void)t;
    return sp_cuda_upload_dense(k, out, in, w);
}
sp_cuda_weight *sp_cuda_upload_24_t(sp_cuda_kernel k, int out, int in, const uint16_t *v, const uint16_t *m, sp_cuda_dtype t) {
    (void)t;
    return sp_cuda_upload_24(k, out, in, v, m);
}
sp_cuda_weight *sp_cuda_upload_device_t(sp_cuda_kernel k, int out, int in, const void *w, sp_cuda_dtype t) {
    (void)t;
    return sp_cuda_upload_device(k, out, in, w);
}

void sp_cuda_weight_free(sp_cuda_weight *w) { (void)w; }
int sp_cuda_weight_one_copy(sp_cuda_weight *w) { (void)w; return sp_error(SP_ERR_UNSUPPORTED, SP_NO_CUDA); }
sp_cuda_dtype sp_cuda_weight_dtype(const sp_cuda_weight *w) { (void)w; return SP_CUDA_BF16; }
sp_cuda_kernel sp_cuda_weight_kernel(const sp_cuda_weight *w) { (void)w; return SP_CUDA_KERNEL_DENSE; }
size_t sp_cuda_weight_bytes(const sp_cuda_weight *w) { (void)w; return 0; }
void *sp_cuda_malloc(size_t b) { (void)b; sp_error(SP_ERR_UNSUPPORTED, SP_NO_CUDA); return NULL; }
void sp_cuda_free(void *d) { (void)d; }
int sp_cuda_upload(void *d, const void *h, size_t b) { (void)d; (void)h; (void)b; return sp_error(SP_ERR_UNSUPPORTED, SP_NO_CUDA); }
int sp_cuda_download(void *h, const void *d, size_t b) { (void)d; (void)h; (void)b; return sp_error(SP_ERR_UNSUPPORTED, SP_NO_CUDA); }
int sp_cuda_sync(void) { return sp_error(SP_ERR_UNSUPPORTED, SP_NO_CUDA); }
int sp_cuda_profile(int on) { (void)on; return sp_error(SP_ERR_UNSUPPORTED, SP_NO_CUDA); }

int sp_cuda_linear(const sp_cuda_weight *w, const void *x, int n, void *y) {
    (void)w; (void)x; (void)n; (void)y;
    return sp_error(SP_ERR_UNSUPPORTED, SP_NO_CUDA);
}
const char *sp_cuda_linear_path(const sp_cuda_weight *w, int n) { (void)w; (void)n; return ""; }

int sp_cuda_time_linear(const sp_cuda_weight *const *w, int n_w, const void *x, int n, void *y,
                        int iters, int flush, double *us) {
    (void)w; (void)n_w; (void)x; (void)n; (void)y; (void)iters; (void)flush;
    if (us) *us = 0;
    return sp_error(SP_ERR_UNSUPPORTED, SP_NO_CUDA);
}

int sp_cuda_time_read(size_t bytes, int iters, int flush, double *us) {
    (void)bytes; (void)iters; (void)flush;
    if (us) *us = 0;
    return sp_error(SP_ERR_UNSUPPORTED, SP_NO_CUDA);
}

int sp_cuda_time_empty(int blocks, int threads, int iters, double *us) {
    (void)blocks; (void)threads; (void)iters;
    if (us) *us = 0;
    return sp_error(SP_ERR_UNSUPPORTED, SP_NO_CUDA);
}

int sp_cuda_time_attention(const sp_cuda_attn_case *a, int iters, double *us, double *err) {
    (void)a; (void)iters;
    if (us) *us = 0;
    if (err) *err = 0;
    return sp_error(SP_ERR_UNSUPPORTED, SP_NO_CUDA);
}

int sp_cuda_flash_rows(int n, int heads, int head_dim) {
    (void)n; (void)heads; (void)head_dim;
    return 0;
}

int sp_cuda_power_start(void) { return sp_error(SP_ERR_UNSUPPORTED, SP_NO_CUDA); }

int sp_cuda_power_stop(sp_cuda_power *p) {
    if (p) memset(p, 0, sizeof *p);
    return sp_error(SP_ERR_UNSUPPORTED, SP_NO_CUDA);
}

sp_cuda_kernel sp_cuda_select(int structured, double sparsity, int out, int in, int n, const char **why) {
    (void)structured; (void)sparsity; (void)out; (void)in; (void)n;
    if (why) *why = SP_NO_CUDA;
    return SP_CUDA_KERNEL_DENSE;
}

int sp_cuda_delta_rows_check(int out, int in, const uint16_t *dense, int sms, const char **path) {
    (void)out; (void)in; (void)dense; (void)sms;
    if (path) *path = NULL;
    return sp_error(SP_ERR_UNSUPPORTED, SP_NO_CUDA);
}

const char *sp_cuda_delta_rows_plan(int out, int in, const uint16_t *dense, int sms, int *warps, size_t *bytes) {
    (void)out; (void)in; (void)dense; (void)sms; (void)warps; (void)bytes;
    sp_error(SP_ERR_UNSUPPORTED, SP_NO_CUDA);
    return NULL;
}

void sp_cuda_set_config(int rpb, int ks, int pf) { (void)rpb; (void)ks; (void)pf; }
void sp_cuda_set_decode_cluster(int mode) { (void)mode; }
void sp_cuda_set_decode_wgmma(int mode) { (void)mode; }
void sp_cuda_set_read_a24(int mode) { (void)mode; }
void sp_cuda_set_timing(int mode) { (void)mode; }
void sp_cuda_set_gemm_tile(int tile) { (void)tile; }
void sp_cuda_set_bsr_block(int bs) { (void)bs; }

sp_cuda_model *sp_cuda_model_new(const sp_cuda_model_cfg *c, int ctx, int rows, int batch) {
    (void)c; (void)ctx; (void)rows; (void)batch;
    sp_error(SP_ERR_UNSUPPORTED, SP_NO_CUDA);
    return NULL;
}
void sp_cuda_model_free(sp_cuda_model *g) { (void)g; }
int sp_cuda_model_set_vec(sp_cuda_model *g, int l, int w, const float *v) { (void)g; (void)l; (void)w; (void)v; return sp_error(SP_ERR_UNSUPPORTED, SP_NO_CUDA); }
int sp_cuda_model_set_linear(sp_cuda_model *g, int l, int j, const float *w) { (void)g; (void)l; (void)j; (void)w; return sp_error(SP_ERR_UNSUPPORTED, SP_NO_CUDA); }
int sp_cuda_model_randomize(sp_cuda_model *g, uint64_t s, int p) { (void)g; (void)s; (void)p; return sp_error(SP_ERR_UNSUPPORTED, SP_NO_CUDA); }
int sp_cuda_model_bind(sp_cuda_model *g, int s) { (void)g; (void)s; return sp_error(SP_ERR_UNSUPPORTED, SP_NO_CUDA); }
int sp_cuda_model_forward(sp_cuda_model *g, const int32_t *t, int b, int n, int pos, float *lg) {
    (void)g; (void)t; (void)b; (void)n; (void)pos; (void)lg;
    return sp_error(SP_ERR_UNSUPPORTED, SP_NO_CUDA);
}
const char *sp_cuda_model_launch_mode(const sp_cuda_model *g) { (void)g; return SP_NO_CUDA; }
int sp_cuda_model_profile(sp_cuda_model *g, char *buf, size_t len) {
    (void)g;
    if (buf && len) buf[0] = 0;
    return sp_error(SP_ERR_UNSUPPORTED, SP_NO_CUDA);
}
int sp_cuda_model_fork(sp_cuda_model *g, int len) { (void)g; (void)len; return sp_error(SP_ERR_UNSUPPORTED, SP_NO_CUDA); }
int sp_cuda_model_choice(const sp_cuda_model *g, int l, int j, int n, const char **k, const char **why) {
    (void)g; (void)l; (void)j; (void)n;
    *k = "none";
    *why = SP_NO_CUDA;
    return sp_error(SP_ERR_UNSUPPORTED, SP_NO_CUDA);
}
size_t sp_cuda_model_weight_bytes(const sp_cuda_model *g, int n) { (void)g; (void)n; return 0; }
int sp_cuda_model_trim(sp_cuda_model *g, int sparse_only, sp_cuda_trim_stats *st) {
    (void)g; (void)sparse_only;
    if (st) *st = (sp_cuda_trim_stats){0};
    return sp_error(SP_ERR_UNSUPPORTED, SP_NO_CUDA);
}
int sp_cuda_model_table_get(const sp_cuda_model *g, sp_cuda_table_entry *e, int max) {
    (void)g; (void)e; (void)max;
    return sp_error(SP_ERR_UNSUPPORTED, SP_NO_CUDA);
}
int sp_cuda_model_table_set(sp_cuda_model *g, const sp_cuda_table_entry *e, int n, const char *src) {
    (void)g; (void)e; (void)n; (void)src;
    return sp_error(SP_ERR_UNSUPPORTED, SP_NO_CUDA);
}

#else
typedef int sp_cuda_stub_unused; /* the real backend is in src/kernels/cuda/ */
#endif
