/* pretok.c: the pre-tokenizer regexes, as hand-written matchers over code point
 * classes (unicode.h). Each matcher returns the length in code points of the
 * leftmost match at position i of the span [i, end), trying the alternatives in
 * order with the backtracking result the regex engine would give.
 *
 * GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * Qwen2: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * SmolLM (HF: Sequence[Digits(individual_digits), ByteLevel]): every \p{N} code
 * point is its own piece; the text between goes through the GPT-2 regex.
 */
#include <stdint.h>
#include <stdlib.h>

#include "model/pretok.h"
#include "model/unicode.h"
#include "sparsity.h"

const char sp_pre_gpt2_regex[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const char sp_pre_qwen2_regex[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

typedef struct {
    const uint32_t *cp; /* (n) code points */
    const uint8_t *cls; /* (n) sp_uc_class */
} cps;

/* End of the run of class c starting at i. */
static size_t run_end(const cps *s, size_t i, size_t end, int c) {
    while (i < end && s->cls[i] == c) i++;
    return i;
}

/* 's 't 're 've 'm 'll 'd at i; fold: also upper case (and U+017F for s). */
static size_t contraction(const cps *s, size_t i, size_t end, int fold) {
    if (s->cp[i] != '\'' || i + 1 >= end) return 0;
    uint32_t a = s->cp[i + 1], b = i + 2 < end ? s->cp[i + 2] : 0;
    if (fold) {
        if (a == 0x17F) a = 's';
        if (a >= 'A' && a <= 'Z') a += 32;
        if (b >= 'A' && b <= 'Z') b += 32;
    }
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

/* \s+(?!\S)|\s+ at i (cls[i] is space). */
static size_t spaces(const cps *s, size_t i, size_t end) {
    size_t e = run_end(s, i, end, SP_UC_SPACE);
    if (e == end || e - i < 2) return e - i; /* lookahead holds at end; else plain \s+ */
    return e - 1 - i;                        /* leave one space for the next word */
}

static size_t match_gpt2(const cps *s, size_t i, size_t end) {
    size_t n = contraction(s, i, end, 0);
    if (n) return n;
    size_t k = i + (s->cp[i] == ' ' && i + 1 < end);
    int c = s->cls[k];
    if (c != SP_UC_SPACE) return run_end(s, k, end, c) - i; /* ' ?' + L+, N+ or other+ */
    return spaces(s, i, end);
}

static int is_crlf(uint32_t c) { return c == '\r' || c == '\n'; }

static size_t match_qwen2(const cps *s, size_t i, size_t end) {
    size_t n = contraction(s, i, end, 1);
    if (n) return n;
    int c = s->cls[i];
    if (c == SP_UC_LETTER) return run_end(s, i, end, SP_UC_LETTER) - i;
    if (c != SP_UC_NUMBER && !is_crlf(s->cp[i]) && i + 1 < end && s->cls[i + 1] == SP_UC_LETTER)
        return run_end(s, i + 1, end, SP_UC_LETTER) - i;
    if (c == SP_UC_NUMBER) return 1;
    size_t k = i + (s->cp[i] == ' ' && i + 1 < end);
    if (s->cls[k] == SP_UC_OTHER) {
        size_t e = run_end(s, k, end, SP_UC_OTHER);
        while (e < end && is_crlf(s->cp[e])) e++;
        return e - i;
    }
    /* c is space: \s*[\r\n]+ ends after the last CR/LF of the space run */
    size_t e = run_end(s, i, end, SP_UC_SPACE), last = end;
    for (size_t p = i; p < e; p++)
        if (is_crlf(s->cp[p])) last = p;
    if (last != end) return last + 1 - i;
    return spaces(s, i, end);
}

/* Runs the regex of kind over code points [i, end) and emits the pieces. */
static int split_span(sp_pre_kind kind, const cps *s, const size_t *off, size_t i, size_t end,
                      sp_pretok_emit emit, void *ctx) {
    while (i < end) {
        size_t n = kind == SP_PRE_QWEN2 ? match_qwen2(s, i, end) : match_gpt2(s, i, end);
        int rc = emit(ctx, off[i], off[i + n] - off[i]);
        if (rc) return rc;
        i += n;
    }
    return 0;
}

int sp_pretok_split(sp_pre_kind kind, const char *text, size_t len, sp_pretok_emit emit, void *ctx) {
    if (len == 0) return 0;
    uint32_t *cp = malloc(len * sizeof *cp);
    uint8_t *cls = malloc(len);
    size_t *off = malloc((len + 1) * sizeof *off); /* byte offset of code point i */
    if (!cp || !cls || !off) {
        free(cp); free(cls); free(off);
        return sp_error(SP_ERR_NOMEM, "pre-tokenizer: out of memory (%zu bytes of text)", len);
    }
    size_t n = 0;
    for (size_t b = 0; b < len;) {
        int l = sp_utf8_decode((const unsigned char *)text + b, len - b, &cp[n]);
        cls[n] = (uint8_t)sp_uc_classify(cp[n]);
        off[n++] = b;
        b += (size_t)l;
    }
    off[n] = len;
    cps s = {cp, cls};
    int rc = 0;
    if (kind == SP_PRE_SMOLLM) {
        size_t i = 0;
        while (i < n && !rc) {
            if (cls[i] == SP_UC_NUMBER) {
                rc = emit(ctx, off[i], off[i + 1] - off[i]);
                i++;
                continue;
            }
            size_t e = i;
            while (e < n && cls[e] != SP_UC_NUMBER) e++;
            rc = split_span(SP_PRE_GPT2, &s, off, i, e, emit, ctx);
            i = e;
        }
    } else {
        rc = split_span(kind, &s, off, 0, n, emit, ctx);
    }
    free(cp); free(cls); free(off);
    return rc;
}
