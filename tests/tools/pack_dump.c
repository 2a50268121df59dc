/* pack_dump: decodes every weight of a (packed) safetensors file with our loader.
 *   pack_dump IN.safetensors CONFIG.json|- OUT.safetensors
 * A layer is every PREFIX with a PREFIX.weight (2-D) or packed components
 * (PREFIX.compressed, .csr_row_ptr, .coo_row, .bsr_block_ptr, .nm_idx) or an entry
 * in the "sparsity_pack" metadata; OUT gets PREFIX.weight as dense f32 for each.
 * On error prints sp_last_error() (one line) to stderr and exits 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sparsity_pack.h"

static const char *const marks[] = {".weight", ".compressed", ".csr_row_ptr", ".coo_row", ".bsr_block_ptr", ".nm_idx"};

static int die(void) {
    fprintf(stderr, "%s\n", sp_last_error());
    return 1;
}

typedef struct {
    char name[160]; /* PREFIX.weight */
    int64_t shape[2];
    float *w;
} layer;

/* PREFIX of tensor name if it marks a layer, else 0. */
static size_t prefix_len(const sp_st_tensor *t) {
    size_t ln = strlen(t->name);
    for (size_t k = 0; k < sizeof marks / sizeof *marks; k++) {
        size_t lm = strlen(marks[k]);
        if (ln > lm && !strcmp(t->name + ln - lm, marks[k]) && (k || t->ndim == 2)) return ln - lm;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: pack_dump IN.safetensors CONFIG.json|- OUT.safetensors\n");
        return 2;
    }
    sp_st *st = sp_st_open(argv[1]);
    if (!st) return die();
    sp_pack_index *ix = sp_pack_index_open(st, argv[1], strcmp(argv[2], "-") ? argv[2] : NULL);
    if (!ix) { sp_st_free(st); return die(); }
    int nt = sp_st_n_tensors(st), n = nt + sp_pack_index_n(ix), nl = 0, rc = 0;
    layer *L = calloc((size_t)n + 1, sizeof *L);
    for (int i = 0; i < n && !rc; i++) {
        const char *p = i < nt ? sp_st_tensor_at(st, i)->name : sp_pack_index_name(ix, i - nt);
        size_t plen = i < nt ? prefix_len(sp_st_tensor_at(st, i)) : strlen(p);
        if (!plen || plen >= 150) continue;
        char prefix[150];
        memcpy(prefix, p, plen);
        prefix[plen] = 0;
        layer *l = &L[nl];
        snprintf(l->name, sizeof l->name, "%s.weight", prefix);
        int dup = 0;
        for (int j = 0; j < nl; j++) dup |= !strcmp(L[j].name, l->name);
        if (dup) continue;
        int rows, cols;
        if ((rc = sp_pack_shape(ix, prefix, &rows, &cols))) break;
        l->shape[0] = rows, l->shape[1] = cols;
        l->w = malloc((size_t)rows * cols * sizeof(float) + 4);
        nl++;
        if (!l->w) rc = sp_error(SP_ERR_NOMEM, "out of memory");
        else rc = sp_pack_read(ix, prefix, rows, cols, l->w);
    }
    if (!rc) {
        sp_st_writer *w = sp_st_writer_new();
        for (int i = 0; i < nl && !rc; i++) rc = sp_st_writer_add(w, L[i].name, SP_DTYPE_F32, 2, L[i].shape, L[i].w);
        if (!rc) rc = sp_st_writer_save(w, argv[3]);
        sp_st_writer_free(w);
    }
    for (int i = 0; i < nl; i++) free(L[i].w);
    free(L);
    sp_pack_index_free(ix);
    sp_st_free(st);
    return rc ? die() : 0;
}
