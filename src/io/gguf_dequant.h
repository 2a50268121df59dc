/* gguf_dequant.h: ggml tensor type traits and dequantizers (private to src/io). */
#ifndef SP_GGUF_DEQUANT_H
#define SP_GGUF_DEQUANT_H

#include <stdint.h>

/* One ggml type: blck elements are stored in size bytes. */
typedef struct {
    const char *name; /* "Q4_1", ... */
    int blck;         /* elements per block */
    int size;         /* bytes per block */
    int dequant;      /* 1 if sp_ggml_dequant supports it */
} sp_ggml_traits;

/* Traits of a ggml type, NULL if the type number is unknown. */
const sp_ggml_traits *sp_ggml_traits_of(uint32_t type);

/* dst (n,) = dequant(src); n a multiple of the block size.
 * Returns 0, or SP_ERR_UNSUPPORTED / SP_ERR_ARG (message set). */
int sp_ggml_dequant(uint32_t type, const void *src, float *dst, int64_t n);

#endif
