/* sparsity_formats.h: sparse weight formats, their CPU kernels and the kernel binder.
 *
 * A weight W has shape (rows, cols) = (out, in), row-major (see sparsity.h).
 * Every format converts losslessly from/to a dense f32 W whose values are
 * representable in the chosen value dtype (F32, F16 or BF16): from_dense then
 * to_dense returns W exactly. Zeros of W are simply not stored (except where
 * a fixed layout needs a slot: 2:4/N:M groups, BSR blocks, which store 0).
 * Byte layouts are documented field by field here and in docs/FORMATS.md; the
 * 2:4 layout is shared with the CUDA kernels (src/formats/nm.c).
 *
 * Structs own their arrays when `owns` is set (from_dense); structures built
 * around external memory (a mmapped file) set owns = 0 and must pass
 * sp_<fmt>_validate before any kernel touches them.
 *
 * Kernels: y (rows,) = W x (rows, cols)(cols,)      "gemv", one token
 *          Y (n, rows) = X (n, cols) W^T            "gemm", n tokens
 * Each has a scalar reference twin (_ref) and AVX2+FMA / AVX-512 versions
 * chosen at run time (sp_cpu_level); threads come from OpenMP.
 */
#ifndef SPARSITY_FORMATS_H
#define SPARSITY_FORMATS_H

#include "sparsity.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ formats */

typedef enum {
    SP_FMT_AUTO = -1,   /* sp_linear_bind: let select.c choose */
    SP_FMT_DENSE = 0,   /* dense values (f32, f16 or bf16) */
    SP_FMT_CSR,
    SP_FMT_COO,
    SP_FMT_BSR,
    SP_FMT_BITMAP,
    SP_FMT_NM,          /* N:M; n=2, m=4 uses the shared 2:4 layout (meta nibbles) */
    SP_FMT_COUNT
} sp_fmt;

const char *sp_fmt_name(sp_fmt f);      /* "dense", "csr", "coo", "bsr", "bitmap", "nm" */
int sp_fmt_from_name(const char *name); /* inverse (also "2:4" -> SP_FMT_NM, "auto"); negative if unknown */

/* Dense: vals (rows, cols) in dtype. */
typedef struct {
    int rows, cols;
    sp_dtype dtype;   /* F32, F16, BF16 */
    void *vals;       /* (rows, cols) */
    int owns;
} sp_dense;

/* CSR: row r holds entries row_ptr[r] .. row_ptr[r+1]-1, columns strictly increasing.
 * Column indices are uint16 when cols <= 65536 (col16 set, col32 NULL), else int32. */
typedef struct {
    int rows, cols;
    int64_t nnz;
    sp_dtype dtype;
    int64_t *row_ptr; /* (rows+1), row_ptr[0] = 0, non-decreasing, row_ptr[rows] = nnz */
    uint16_t *col16;  /* (nnz) when cols <= 65536 */
    int32_t *col32;   /* (nnz) otherwise */
    void *vals;       /* (nnz) */
    int owns;
} sp_csr;

/* COO: entries sorted by (row, col), no duplicates. */
typedef struct {
    int rows, cols;
    int64_t nnz;
    sp_dtype dtype;
    int32_t *row;     /* (nnz) */
    int32_t *col;     /* (nnz) */
    void *vals;       /* (nnz) */
    int owns;
} sp_coo;

/* BSR with br x bc dense blocks; rows % br == 0 and cols % bc == 0 required.
 * Block row R holds blocks block_ptr[R] .. block_ptr[R+1]-1, block columns strictly
 * increasing; block b covers rows R*br.., cols block_col[b]*bc.., values row-major. */
typedef struct {
    int rows, cols;
    int br, bc;       /* block shape */
    int64_t nnzb;     /* stored blocks */
    sp_dtype dtype;
    int64_t *block_ptr; /* (rows/br + 1) */
    int32_t *block_col; /* (nnzb) */
    void *vals;         /* (nnzb, br, bc) */
    int owns;
} sp_bsr;

/* Bitmap: one bit per weight, row-major; bit (r, c) is bit c%64 of
 * bits[r*row_words + c/64] (so, little-endian, bit c%8 of byte c/8 of the row);
 * padding bits past cols are 0. Nonzeros packed in row order; row r's values are
 * vals[row_off[r] .. row_off[r+1]-1], row_off[r+1]-row_off[r] = popcount of row r. */
typedef struct {
    int rows, cols;
    int64_t nnz;
    sp_dtype dtype;
    int64_t row_words;  /* (cols+63)/64 */
    uint64_t *bits;     /* (rows, row_words) */
    int64_t *row_off;   /* (rows+1) */
    void *vals;         /* (nnz) */
    int owns;
} sp_bitmap;

/* N:M: in each group of m consecutive columns at most n are nonzero; exactly n
 * values are stored per group (zeros fill), in ascending column order.
 * 2:4 (n=2, m=4; cols % 16 == 0): meta (rows, cols/16) uint16, group g of a row is
 *   the nibble at bits 4*(g%4) of meta[row][g/4]: bits[1:0] first kept index,
 *   bits[3:2] second, first < second (0x4 0x8 0x9 0xC 0xD 0xE). idx is NULL.
 * Other n:m (cols % m == 0): idx (rows, cols/m*n) uint8, position within the group,
 *   strictly increasing inside a group. meta is NULL. */
typedef struct {
    int rows, cols;
    int n, m;
    sp_dtype dtype;
    void *vals;       /* (rows, cols/m*n) */
    uint16_t *meta;   /* (rows, cols/16) for 2:4 */
    uint8_t *idx;     /* (rows, cols/m*n) for other n:m */
    int owns;
} sp_nm;

/* Format parameters (block shape, n:m); zeros mean defaults (bsr 4x16, nm 2:4). */
typedef struct {
    int br, bc;
    int n, m;
} sp_fmt_params;

/* Any of the above, tagged. */
typedef struct {
    sp_fmt fmt;
    union {
        sp_dense dense;
        sp_csr csr;
        sp_coo coo;
        sp_bsr bsr;
        sp_bitmap bitmap;
        sp_nm nm;
    } u;
} sp_mat;

/* From dense f32 w (rows, cols): values rounded to dtype (F32/F16/BF16); an entry
 * is stored iff w != 0. Errors (SP_ERR_ARG) name the problem, e.g. a group with
 * more than n nonzeros for N:M, cols % 16 != 0 for 2:4. */
int sp_dense_from_dense(const float *w, int rows, int cols, sp_dtype dt, sp_dense *out);
int sp_csr_from_dense(const float *w, int rows, int cols, sp_dtype dt, sp_csr *out);
int sp_coo_from_dense(const float *w, int rows, int cols, sp_dtype dt, sp_coo *out);
int sp_bsr_from_dense(const float *w, int rows, int cols, int br, int bc, sp_dtype dt, sp_bsr *out);
int sp_bitmap_from_dense(const float *w, int rows, int cols, sp_dtype dt, sp_bitmap *out);
int sp_nm_from_dense(const float *w, int rows, int cols, int n, int m, sp_dtype dt, sp_nm *out);
/* w (rows, cols) f32 = the matrix. */
int sp_dense_to_dense(const sp_dense *a, float *w);
int sp_csr_to_dense(const sp_csr *a, float *w);
int sp_coo_to_dense(const sp_coo *a, float *w);
int sp_bsr_to_dense(const sp_bsr *a, float *w);
int sp_bitmap_to_dense(const sp_bitmap *a, float *w);
int sp_nm_to_dense(const sp_nm *a, float *w);
/* Structural checks for externally loaded data (every index read is bounds-checked
 * first): 0 or SP_ERR_FORMAT with a message naming the first problem. */
int sp_dense_validate(const sp_dense *a);
int sp_csr_validate(const sp_csr *a);
int sp_coo_validate(const sp_coo *a);
int sp_bsr_validate(const sp_bsr *a);
int sp_bitmap_validate(const sp_bitmap *a);
int sp_nm_validate(const sp_nm *a);
/* Frees owned arrays and zeroes the struct; NULL-safe. */
void sp_dense_free(sp_dense *a);
void sp_csr_free(sp_csr *a);
void sp_coo_free(sp_coo *a);
void sp_bsr_free(sp_bsr *a);
void sp_bitmap_free(sp_bitmap *a);
void sp_nm_free(sp_nm *a);

/* Tagged versions (p may be NULL for defaults). */
int sp_mat_from_dense(const float *w, int rows, int cols, sp_fmt fmt, sp_dtype dt,
                      const sp_fmt_params *p, sp_mat *out);
int sp_mat_to_dense(const sp_mat *a, float *w);
int sp_mat_validate(const sp_mat *a);
void sp_mat_free(sp_mat *a);
int sp_mat_rows(const sp_mat *a);
int sp_mat_cols(const sp_mat *a);
size_t sp_mat_bytes(const sp_mat *a); /* bytes of all arrays */
/* Short description, e.g. "bitmap bf16" or "nm 2:4 bf16" or "bsr 4x16 f32". */
void sp_mat_describe(const sp_mat *a, char *buf, size_t n);

/* Bytes the representation of w (rows, cols) would take in fmt with value dtype dt
 * (all arrays, as laid out above); 0 if fmt cannot hold w (e.g. not n:m, shape). */
size_t sp_fmt_bytes(const float *w, int rows, int cols, sp_fmt fmt, sp_dtype dt,
                    const sp_fmt_params *p);
/* The format (among dense, csr, coo, bsr, bitmap, nm with p's parameters) taking the
 * fewest bytes; writes its size to *bytes if non-NULL. */
sp_fmt sp_fmt_smallest(const float *w, int rows, int cols, sp_dtype dt, const sp_fmt_params *p,
                       size_t *bytes);
/* Largest number of nonzeros in any aligned group of m columns (n:m detection). */
int sp_nm_max_per_group(const float *w, int rows, int cols, int m);

/* ------------------------------------------------------------------ CPU kernels */

typedef enum {
    SP_CPU_REF = 0,    /* scalar reference twins */
    SP_CPU_AVX2 = 1,   /* AVX2 + FMA + F16C */
    SP_CPU_AVX512 = 2, /* AVX-512 F/BW/VL/VBMI2 */
} sp_cpu_level;

sp_cpu_level sp_cpu_best(void);          /* highest level this CPU supports */
sp_cpu_level sp_cpu_get_level(void);     /* level in use: SP_CPU_LEVEL env (ref/avx2/avx512) or best */
int sp_cpu_set_level(sp_cpu_level lv);   /* SP_ERR_UNSUPPORTED if the CPU lacks it */
const char *sp_cpu_level_name(sp_cpu_level lv);

/* y (rows,) = A x (cols,) */
int sp_gemv(const sp_mat *a, const float *x, float *y);
/* Y (n, rows) = X (n, cols) A^T. Few tokens: one gemv per token; more: rows are
 * decompressed to f32 panels and multiplied by cblas_sgemm. */
int sp_gemm(const sp_mat *a, const float *x, int n, float *y);
/* Scalar reference twins (plain loops over the stored entries). */
int sp_gemv_ref(const sp_mat *a, const float *x, float *y);
int sp_gemm_ref(const sp_mat *a, const float *x, int n, float *y);
/* Rows r0..r1-1 of A as dense f32 into w (r1-r0, cols) (the prefill panel decoder). */
int sp_mat_decode_rows(const sp_mat *a, int r0, int r1, float *w);
/* Name of the kernel sp_gemv runs for a at level lv, e.g. "bitmap-avx512-expand". */
const char *sp_cpu_kernel_name(const sp_mat *a, sp_cpu_level lv);
/* Token count from which sp_gemm switches from per-token gemv to panels+sgemm. */
int sp_gemm_panel_threshold(const sp_mat *a);

/* ------------------------------------------------------------------ binding to sp_linear */

/* Converts l->w (dense f32 with zeros, left untouched) into fmt (SP_FMT_AUTO: chosen per
 * layer by select.c from the zero pattern, value dtype, CPU level and n_tokens_hint) with
 * values in vals (F32/F16/BF16), and sets l->kernel, l->forward, l->kernel_name and
 * l->kernel_why. SP_FMT_NM detects the pattern (2:4 first, then n:8, n:16). */
int sp_linear_bind(sp_linear *l, sp_fmt fmt, sp_dtype vals, int n_tokens_hint);
/* As sp_linear_bind with explicit format parameters. */
int sp_linear_bind_params(sp_linear *l, sp_fmt fmt, sp_dtype vals, const sp_fmt_params *p,
                          int n_tokens_hint);
/* Frees the bound kernel; l goes back to the dense path. NULL-safe. */
void sp_linear_unbind(sp_linear *l);
/* The bound matrix, or NULL. */
const sp_mat *sp_linear_bound_mat(const sp_linear *l);

#ifdef __cplusplus
}
#endif

#endif /* SPARSITY_FORMATS_H */
