/* sparsity_pack.h: packed checkpoints, i.e. model folders whose linear weights are
 * stored compressed as component tensors in model.safetensors (docs/FORMATS.md lists
 * every tensor name, dtype and shape).
 *
 * Layer PREFIX (e.g. "model.layers.3.mlp.up_proj") is stored as one of:
 *   dense              PREFIX.weight
 *   sparse-bitmask     PREFIX.{compressed, bitmask, shape, row_offsets}  (compressed-tensors)
 *   sparse-24-bitmask  PREFIX.{compressed, bitmask, shape}               (compressed-tensors)
 *   csr                PREFIX.{csr_row_ptr, csr_col, csr_values}
 *   coo                PREFIX.{coo_row, coo_col, coo_values}
 *   bsr                PREFIX.{bsr_block_ptr, bsr_block_col, bsr_values}
 *   nm                 PREFIX.{nm_values, nm_idx}  (n:m other than 2:4)
 * The safetensors __metadata__ key "sparsity_pack" holds JSON
 *   {"version": 1, "layers": {PREFIX: {"format": F, "shape": [rows, cols], "dtype": "BF16",
 *    ...format parameters ("block": [br, bc], "n": n, "m": m)}}}.
 * A folder written by compressed-tensors has no such key: its config.json
 * quantization_config.sparsity_config.format names the format of every PREFIX that
 * has a PREFIX.compressed tensor.
 *
 * Loading (sp_model_load) densifies every packed weight into f32 after validating
 * it, so all commands run on packed folders unchanged.
 */
#ifndef SPARSITY_PACK_H
#define SPARSITY_PACK_H

#include "sparsity.h"
#include "sparsity_formats.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    sp_fmt fmt;           /* SP_FMT_AUTO: the smallest stored form per layer */
    sp_dtype dtype;       /* every stored float tensor (values, embeddings, norms): F32, F16, BF16 */
    sp_fmt_params params; /* bsr block (0: 4x16); n:m (0: detect per layer: 2:4, then n:8, n:16) */
} sp_pack_opts;

typedef struct {
    char name[96];        /* layer prefix */
    char format[24];      /* "dense", "sparse-bitmask", "sparse-24-bitmask", "csr", "coo", "bsr", "nm" */
    int rows, cols;
    int n, m, br, bc;     /* format parameters where they apply, else 0 */
    size_t bytes;         /* component tensors as written */
    size_t dense_bytes;   /* rows * cols * sizeof(dtype) */
} sp_pack_layer;

typedef struct {
    int n_layers;
    sp_pack_layer *layers;     /* (n_layers,) every linear written, lm_head last when untied */
    size_t tensor_bytes;       /* all tensors written (linears packed, the rest dense) */
    size_t dense_tensor_bytes; /* the same model with every tensor dense in dtype */
    size_t file_bytes;         /* model.safetensors on disk (header included) */
    char ct_format[24];        /* compressed-tensors format written to config.json, "" if none */
} sp_pack_report;

/* Writes m to folder DIR (atomically, as sp_model_save) with the linear weights of the
 * blocks packed as o says (lm_head and embeddings stay dense); rep (may be NULL) gets
 * the per-layer table. meta_json (may be NULL) is stored as "sparsity" metadata.
 * When every packed layer is sparse-bitmask, or every one sparse-24-bitmask, config.json
 * gets the compressed-tensors quantization_config for that format. */
int sp_model_pack(const sp_model *m, const char *dir, const sp_pack_opts *o, const char *meta_json,
                  sp_pack_report *rep);
void sp_pack_report_free(sp_pack_report *r);

/* Reading packed tensors outside a model (tools, tests). */
typedef struct sp_pack_index sp_pack_index;
/* Index of st (opened from st_path) from its "sparsity_pack" metadata and, if
 * config_json_path is non-NULL and exists, its compressed-tensors sparsity_config.
 * NULL + sp_last_error on malformed metadata. */
sp_pack_index *sp_pack_index_open(const sp_st *st, const char *st_path, const char *config_json_path);
void sp_pack_index_free(sp_pack_index *ix);
/* Number of layers listed in the metadata, and their prefixes. */
int sp_pack_index_n(const sp_pack_index *ix);
const char *sp_pack_index_name(const sp_pack_index *ix, int i);
/* Storage of PREFIX: a format name as above, or NULL if it has no weight at all. */
const char *sp_pack_format(const sp_pack_index *ix, const char *prefix);
/* Dense shape of PREFIX from the metadata or the component tensors (0 ok). */
int sp_pack_shape(const sp_pack_index *ix, const char *prefix, int *rows, int *cols);
/* out (rows, cols) f32 = weight PREFIX (dense or packed), every component checked
 * first; errors name the file and the tensor. */
int sp_pack_read(const sp_pack_index *ix, const char *prefix, int rows, int cols, float *out);

#ifdef __cplusplus
}
#endif

#endif /* SPARSITY_PACK_H */
