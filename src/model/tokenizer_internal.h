/* tokenizer_internal.h: the sp_tokenizer struct, shared by tokenizer.c (build,
 * BPE encode, decode, GGUF loader) and tokenizer_json.c (tokenizer.json I/O). */
#ifndef SP_TOKENIZER_INTERNAL_H
#define SP_TOKENIZER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "model/pretok.h"
#include "sparsity.h"

/* Token types (GGUF tokenizer.ggml.token_type numbering). */
enum {
    SP_TOK_NORMAL = 1,
    SP_TOK_UNKNOWN = 2,
    SP_TOK_CONTROL = 3,      /* special added token (matched in text) */
    SP_TOK_USER = 4,         /* non-special added token (matched in text) */
    SP_TOK_UNUSED = 5,
    SP_TOK_BYTE = 6,
};

struct sp_tokenizer {
    int n_vocab;
    char *tok;               /* arena: token strings (byte-level form), each NUL-terminated */
    size_t *tok_off;         /* (n_vocab) offset of token i in tok */
    uint32_t *tok_len;       /* (n_vocab) */
    char *dec;               /* arena: decoded bytes of each token */
    size_t *dec_off;         /* (n_vocab) */
    uint32_t *dec_len;       /* (n_vocab) */
    uint8_t *type;           /* (n_vocab) SP_TOK_* */
    int32_t *vh;             /* (vh_mask+1) vocab hash: token id or -1, open addressing */
    uint32_t vh_mask;
    int n_merges;
    int32_t *merge_a, *merge_b; /* (n_merges) left/right token ids, by rank */
    uint64_t *mh_key;        /* (mh_mask+1) merge hash: (a << 32 | b) + 1, 0 = empty */
    int32_t *mh_rank;        /* (mh_mask+1) */
    int32_t *mh_id;          /* (mh_mask+1) id of the merged token */
    uint32_t mh_mask;
    int32_t byte_id[256];    /* token of each single byte, -1 if none */
    int32_t *special;        /* (n_special) added tokens matched in text, longest first */
    int n_special;
    uint8_t special_first[256]; /* 1 if some added token starts with this byte */
    sp_pre_kind pre;
    int ignore_merges;       /* HF BPE ignore_merges: a whole word in the vocab wins */
    int bos, eos;            /* -1 if unknown */
};

/* One merge "left right" as two strings (not NUL-terminated). */
typedef struct {
    const char *a, *b;
    size_t na, nb;
} sp_merge_str;

/* Builds a tokenizer from token strings (byte-level form; added tokens as raw
 * text), their types (NULL = all normal) and merges in rank order. src names the
 * file in error messages. Returns NULL + sp_last_error on failure. */
sp_tokenizer *sp_tokenizer_build(const char *src, int n_vocab, const char *const *tokens,
                                 const size_t *lens, const uint8_t *types, int n_merges,
                                 const sp_merge_str *merges, sp_pre_kind pre, int ignore_merges,
                                 int bos, int eos);
/* Token id of a byte-level string, or -1. */
int32_t sp_tokenizer_lookup(const sp_tokenizer *tk, const char *s, size_t n);
/* Splits "left right" at its first space; 0 ok, -1 if malformed. */
int sp_merge_split(const char *s, size_t n, sp_merge_str *m);
/* Pre-tokenizer names as in GGUF tokenizer.ggml.pre; NULL-safe lookup. */
int sp_pre_from_name(const char *name, size_t n);
const char *sp_pre_name(sp_pre_kind k);

#endif
