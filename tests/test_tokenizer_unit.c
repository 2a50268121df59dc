/* test_tokenizer_unit: hand-checked cases (splits confirmed with HF tokenizers) for UTF-8 decoding, code point classes
 * and the pre-tokenizer splits (the full tokenizer is checked against Hugging Face
 * in tests/py/test_tokenizer.py). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/pretok.h"
#include "model/unicode.h"
#include "sparsity.h"

static int fails = 0;
#define CHECK(c, ...) do { if (!(c)) { fails++; fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
    fprintf(stderr, __VA_ARGS__); fprintf(stderr, "\n"); } } while (0)

typedef struct { char buf[1024]; size_t n; const char *text; } joined;

/* Pieces joined with '|' */
static int emit(void *ctx, size_t off, size_t len) {
    joined *j = ctx;
    if (j->n) j->buf[j->n++] = '|';
    memcpy(j->buf + j->n, j->text + off, len);
    j->n += len;
    j->buf[j->n] = 0;
    return 0;
}

static void split_is(sp_pre_kind k, const char *text, const char *want) {
    joined j = {.text = text};
    j.buf[0] = 0;
    int rc = sp_pretok_split(k, text, strlen(text), emit, &j);
    CHECK(rc == 0 && strcmp(j.buf, want) == 0, "%s split of [%s]: got [%s] want [%s]", k == SP_PRE_QWEN2 ? "qwen2" : k == SP_PRE_SMOLLM ? "smollm" : "gpt2", text,
          j.buf, want);
}

int main(void) {
    uint32_t cp;
    CHECK(sp_utf8_decode((const unsigned char *)"A", 1, &cp) == 1 && cp == 'A', "ascii");
    CHECK(sp_utf8_decode((const unsigned char *)"\xc3\xa9", 2, &cp) == 2 && cp == 0xE9, "e acute");
    CHECK(sp_utf8_decode((const unsigned char *)"\xe6\x97\xa5", 3, &cp) == 3 && cp == 0x65E5, "CJK");
    CHECK(sp_utf8_decode((const unsigned char *)"\xf0\x9f\x98\x80", 4, &cp) == 4 && cp == 0x1F600, "emoji");
    CHECK(sp_utf8_decode((const unsigned char *)"\xe6\x97", 2, &cp) == 1 && (cp & 0x80000000u), "truncated");
    CHECK(sp_utf8_decode((const unsigned char *)"\xc0\xaf", 2, &cp) == 1 && (cp & 0x80000000u), "overlong");
    CHECK(sp_utf8_decode((const unsigned char *)"\xed\xa0\x80", 3, &cp) == 1 && (cp & 0x80000000u), "surrogate");
    char b[4];
    CHECK(sp_utf8_encode(0x1F600, b) == 4 && memcmp(b, "\xf0\x9f\x98\x80", 4) == 0, "encode emoji");

    CHECK(sp_uc_classify('a') == SP_UC_LETTER && sp_uc_classify(0xE9) == SP_UC_LETTER, "latin letters");
    CHECK(sp_uc_classify(0x65E5) == SP_UC_LETTER && sp_uc_classify(0x3042) == SP_UC_LETTER, "CJK/kana Lo");
    CHECK(sp_uc_classify('7') == SP_UC_NUMBER && sp_uc_classify(0xB2) == SP_UC_NUMBER, "digit, superscript two");
    CHECK(sp_uc_classify(0x216B) == SP_UC_NUMBER && sp_uc_classify(0x663) == SP_UC_NUMBER, "roman XII, arabic 3");
    CHECK(sp_uc_classify(' ') == SP_UC_SPACE && sp_uc_classify(0x85) == SP_UC_SPACE, "space, NEL");
    CHECK(sp_uc_classify(0x3000) == SP_UC_SPACE && sp_uc_classify(0x2028) == SP_UC_SPACE, "ideographic sp, LS");
    CHECK(sp_uc_classify(0x1C) == SP_UC_OTHER && sp_uc_classify(0x200B) == SP_UC_OTHER, "FS and ZWSP not White_Space");
    CHECK(sp_uc_classify(0x180E) == SP_UC_OTHER, "mongolian vowel separator is Cf since 6.3");
    CHECK(sp_uc_classify(0x301) == SP_UC_OTHER && sp_uc_classify(0x1F600) == SP_UC_OTHER, "combining mark, emoji");
    CHECK(sp_uc_classify(0x10FFFF + 1) == SP_UC_OTHER, "out of range");

    split_is(SP_PRE_GPT2, "Hello world's  end", "Hello| world|'s| | end");
    split_is(SP_PRE_GPT2, "a 123 b", "a| 123| b");
    split_is(SP_PRE_SMOLLM, "a 123 b", "a| |1|2|3| b");
    split_is(SP_PRE_GPT2, "x\n\n  y  ", "x|\n\n | y|  ");
    split_is(SP_PRE_GPT2, "hi!!  ?", "hi|!!| | ?");
    split_is(SP_PRE_GPT2, "'s'S'll", "'s|'|S|'ll");
    split_is(SP_PRE_QWEN2, "'S (foo) 12\r\n\r\n  x", "'S| (|foo|)| |1|2|\r\n\r\n| | x");
    split_is(SP_PRE_QWEN2, "a\tb  ?!\n\nc", "a|\tb| | ?!\n\n|c");
    split_is(SP_PRE_SMOLLM, "", "");
    if (fails) fprintf(stderr, "%d failures\n", fails);
    else printf("tokenizer unit: ok\n");
    return fails != 0;
}
