/* tokenizer_gguf.c: sp_tokenizer from the tokenizer.ggml.* keys of a GGUF file.
 *
 * Keys read: tokenizer.ggml.model ("gpt2" = byte-level BPE), .pre (pre-tokenizer
 * name; absent = gpt2), .tokens (strings), .token_type (int; 3 control and 4
 * user-defined are matched in text), .merges ("a b" strings, by rank),
 * .bos_token_id, .eos_token_id.
 */
#include <stdlib.h>
#include <string.h>

#include "model/tokenizer_internal.h"

#define GGUF_SRC "GGUF tokenizer"

sp_tokenizer *sp_tokenizer_from_gguf(const sp_gguf *g) {
    const char *s;
    size_t n;
    if (!g) { sp_error(SP_ERR_ARG, GGUF_SRC ": NULL file"); return NULL; }
    if (sp_gguf_get_str(g, "tokenizer.ggml.model", &s, &n)) {
        sp_error(SP_ERR_FORMAT, GGUF_SRC ": missing tokenizer.ggml.model");
        return NULL;
    }
    if (n != 4 || memcmp(s, "gpt2", 4) != 0) {
        sp_error(SP_ERR_UNSUPPORTED, GGUF_SRC ": tokenizer.ggml.model '%.*s' not supported (only gpt2 byte-level BPE)",
                 (int)n, s);
        return NULL;
    }
    int pre = SP_PRE_GPT2; /* GGUFs from before the pre key existed */
    if (sp_gguf_get_str(g, "tokenizer.ggml.pre", &s, &n) == 0) {
        pre = sp_pre_from_name(s, n);
        if (pre < 0) {
            sp_error(SP_ERR_UNSUPPORTED, GGUF_SRC ": pre-tokenizer '%.*s' not supported (gpt2, default, smollm, starcoder, refact, qwen2)",
                     (int)n, s);
            return NULL;
        }
    }
    sp_gguf_type et;
    uint64_t nv, nt = 0, nm = 0;
    if (sp_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &nv) || et != SP_GGUF_STRING || nv == 0 ||
        nv > INT32_MAX) {
        sp_error(SP_ERR_FORMAT, GGUF_SRC ": tokenizer.ggml.tokens missing or not a string array");
        return NULL;
    }
    int has_types = sp_gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &nt) == 0;
    if (has_types && nt != nv) {
        sp_error(SP_ERR_FORMAT, GGUF_SRC ": %llu token types for %llu tokens", (unsigned long long)nt,
                 (unsigned long long)nv);
        return NULL;
    }
    if (sp_gguf_get_arr(g, "tokenizer.ggml.merges", &et, &nm) || et != SP_GGUF_STRING || nm > INT32_MAX) {
        sp_error(SP_ERR_FORMAT, GGUF_SRC ": tokenizer.ggml.merges missing or not a string array");
        return NULL;
    }
    const char **toks = malloc(nv * sizeof *toks);
    size_t *lens = malloc(nv * sizeof *lens);
    uint8_t *types = malloc(nv);
    sp_merge_str *merges = malloc((nm + 1) * sizeof *merges);
    sp_tokenizer *tk = NULL;
    if (!toks || !lens || !types || !merges) { sp_error(SP_ERR_NOMEM, GGUF_SRC ": out of memory"); goto done; }
    for (uint64_t i = 0; i < nv; i++) {
        if (sp_gguf_get_arr_str(g, "tokenizer.ggml.tokens", i, &toks[i], &lens[i])) goto done;
        double t = SP_TOK_NORMAL;
        if (has_types && sp_gguf_get_arr_f64(g, "tokenizer.ggml.token_type", i, &t)) goto done;
        types[i] = t >= 1 && t <= 6 ? (uint8_t)t : SP_TOK_NORMAL;
    }
    for (uint64_t i = 0; i < nm; i++) {
        if (sp_gguf_get_arr_str(g, "tokenizer.ggml.merges", i, &s, &n)) goto done;
        if (sp_merge_split(s, n, &merges[i])) {
            sp_error(SP_ERR_FORMAT, GGUF_SRC ": merge %llu '%.*s' is not 'left right'", (unsigned long long)i,
                     (int)n, s);
            goto done;
        }
    }
    int64_t bos = -1, eos = -1;
    if (sp_gguf_get_i64(g, "tokenizer.ggml.bos_token_id", &bos)) bos = -1;
    if (sp_gguf_get_i64(g, "tokenizer.ggml.eos_token_id", &eos)) eos = -1;
    tk = sp_tokenizer_build(GGUF_SRC, (int)nv, toks, lens, types, (int)nm, merges, (sp_pre_kind)pre, 0,
                            (int)bos, (int)eos);
done:
    free(toks); free(lens); free(types); free(merges);
    return tk;
}
