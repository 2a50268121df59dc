/* checkpoint_internal.h: the model-folder writer shared by save (dense) and pack. */
#ifndef SP_CHECKPOINT_INTERNAL_H
#define SP_CHECKPOINT_INTERNAL_H

#include "sparsity.h"

/* Adds the weight tensors to w; tmpdir is the folder being written (config.json and
 * tokenizer.json are already in it, so a callback may amend config.json). */
typedef int (*sp_add_tensors_fn)(void *ctx, sp_st_writer *w, const char *tmpdir);

/* Writes DIR.tmp.PID/{config.json, tokenizer.json, model.safetensors (tensors from add,
 * __metadata__ "format": "pt" and "sparsity": meta_json), sparsity.json}, then swaps it
 * onto DIR, so DIR is either the old folder or the whole new one. */
int sp_model_write_folder(const sp_model *m, const char *dir, const char *meta_json, sp_add_tensors_fn add,
                          void *ctx);

#endif
