/* pretok.h: pre-tokenizers (text -> pieces that BPE encodes one by one). */
#ifndef SP_PRETOK_H
#define SP_PRETOK_H

#include <stddef.h>

typedef enum {
    SP_PRE_GPT2 = 0, /* GPT-2 regex (HF ByteLevel use_regex=true) */
    SP_PRE_SMOLLM,   /* every \p{N} alone (HF Digits individual), then the GPT-2 regex */
    SP_PRE_QWEN2,    /* Qwen2 / cl100k-like regex, single digits */
    SP_PRE_COUNT
} sp_pre_kind;

/* The regexes, spelled as in Hugging Face tokenizer.json. */
extern const char sp_pre_gpt2_regex[];
extern const char sp_pre_qwen2_regex[];

/* Called once per piece: text[off .. off+len). Returns 0 or a negative status (stops). */
typedef int (*sp_pretok_emit)(void *ctx, size_t off, size_t len);

/* Splits text[0..len) (UTF-8; invalid bytes count as single "other" characters). */
int sp_pretok_split(sp_pre_kind kind, const char *text, size_t len, sp_pretok_emit emit, void *ctx);

#endif
