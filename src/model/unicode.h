/* unicode.h: UTF-8 decoding and the code point classes the pre-tokenizer needs. */
#ifndef SP_UNICODE_H
#define SP_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/* Classes as used by the GPT-2 style regexes: \s, \p{L}, \p{N}, anything else. */
typedef enum {
    SP_UC_OTHER = 0,
    SP_UC_LETTER = 1,  /* general category L* */
    SP_UC_NUMBER = 2,  /* general category N* */
    SP_UC_SPACE = 3,   /* White_Space property */
} sp_uc_class;

typedef struct {
    uint32_t first, last; /* inclusive */
    uint8_t cls;          /* sp_uc_class */
} sp_uc_range;

/* Generated tables (unicode_tables.c). */
extern const char sp_unicode_version[];
extern const sp_uc_range sp_uc_ranges[]; /* letter/number ranges, sorted */
extern const int sp_uc_n_ranges;
extern const sp_uc_range sp_uc_space[];  /* White_Space ranges, sorted */
extern const int sp_uc_n_space;

/* Decodes one code point from s[0..n) (n >= 1) into *cp; returns its byte length.
 * An invalid or truncated sequence yields 1 byte and cp = 0xFFFD | 0x80000000
 * (marked so callers can tell it from a real U+FFFD; its class is SP_UC_OTHER). */
int sp_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);
/* Encodes cp (<= 0x10FFFF) into out (4 bytes room); returns the length. */
int sp_utf8_encode(uint32_t cp, char *out);
sp_uc_class sp_uc_classify(uint32_t cp);

#endif
