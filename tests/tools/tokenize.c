/* tokenize: drives the tokenizer for tests/py/test_tokenizer.py.
 *
 *   tokenize (--gguf FILE | --json tokenizer.json) TEXTFILE OUT.i32   token ids as raw int32
 *   tokenize (--gguf FILE | --json tokenizer.json) --decode TEXTFILE  checks decode(encode(text)) == text
 *   tokenize (--gguf FILE | --json tokenizer.json) --save OUT.json    writes tokenizer.json
 *   tokenize ... --info                                               vocab size, bos, eos
 *   tokenize ... --multi IN OUT   IN: records [u32 len][len bytes]; OUT: per record
 *                                 [u32 n][u32 roundtrip ok][n int32 ids]
 * Prints tokens, bytes and seconds of the encode on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sparsity.h"

static void die(const char *what) {
    fprintf(stderr, "tokenize: %s: %s\n", what, sp_last_error());
    exit(1);
}

/* decode(ids) == text? */
static int verbose = 1;

static int roundtrip(const sp_tokenizer *tk, const char *text, size_t len, const int32_t *ids, size_t n) {
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l;
        const char *b = sp_tokenizer_decode(tk, ids[i], &l);
        if (!b || at + l > len || memcmp(text + at, b, l) != 0) {
            if (verbose) fprintf(stderr, "tokenize: decode mismatch at token %zu (id %d, byte %zu)\n", i, ids[i], at);
            return 1;
        }
        at += l;
    }
    if (at != len) {
        if (verbose) fprintf(stderr, "tokenize: decoded %zu bytes, text has %zu\n", at, len);
        return 1;
    }
    return 0;
}

static int multi(const sp_tokenizer *tk, const char *in, const char *out) {
    char *data;
    size_t len;
    if (sp_read_file(in, &data, &len)) die("read");
    FILE *f = fopen(out, "wb");
    if (!f) { fprintf(stderr, "tokenize: %s: cannot create\n", out); return 1; }
    int rc = 0, rec = 0;
    verbose = 0;
    for (size_t at = 0; at + 4 <= len && rc == 0; rec++) {
        uint32_t n;
        memcpy(&n, data + at, 4);
        at += 4;
        if (n > len - at) { fprintf(stderr, "tokenize: %s: record %d truncated\n", in, rec); rc = 1; break; }
        int32_t *ids;
        size_t nid;
        if (sp_tokenizer_encode(tk, data + at, n, &ids, &nid)) die("encode");
        uint32_t head[2] = {(uint32_t)nid, roundtrip(tk, data + at, n, ids, nid) == 0};
        if (fwrite(head, 4, 2, f) != 2 || fwrite(ids, sizeof *ids, nid, f) != nid) rc = 1;
        free(ids);
        at += n;
    }
    if (fclose(f) != 0) rc = 1;
    free(data);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 4 || (strcmp(argv[1], "--gguf") != 0 && strcmp(argv[1], "--json") != 0)) {
        fprintf(stderr, "usage: tokenize (--gguf FILE | --json tokenizer.json) (TEXTFILE OUT.i32 | --decode TEXTFILE | --save OUT.json | --info)\n");
        return 2;
    }
    sp_tokenizer *tk = NULL;
    sp_gguf *g = NULL;
    if (strcmp(argv[1], "--gguf") == 0) {
        if (!(g = sp_gguf_open(argv[2]))) die("open");
        tk = sp_tokenizer_from_gguf(g);
    } else {
        tk = sp_tokenizer_load(argv[2]);
    }
    if (!tk) die("load");
    const char *mode = argv[3];
    int rc = 0;
    if (strcmp(mode, "--info") == 0) {
        printf("vocab %d bos %d eos %d\n", sp_tokenizer_vocab_size(tk), sp_tokenizer_bos(tk), sp_tokenizer_eos(tk));
    } else if (strcmp(mode, "--multi") == 0 && argc == 6) {
        rc = multi(tk, argv[4], argv[5]);
    } else if (strcmp(mode, "--save") == 0 && argc == 5) {
        if (sp_tokenizer_save(tk, argv[4])) die("save");
    } else if (argc == 5) {
        int decode = strcmp(mode, "--decode") == 0;
        const char *path = decode ? argv[4] : argv[3];
        char *text;
        size_t len;
        if (sp_read_file(path, &text, &len)) die("read");
        int32_t *ids;
        size_t n;
        double t0 = sp_time();
        if (sp_tokenizer_encode(tk, text, len, &ids, &n)) die("encode");
        fprintf(stderr, "tokenize: %zu tokens from %zu bytes in %.3f s\n", n, len, sp_time() - t0);
        if (decode) {
            rc = roundtrip(tk, text, len, ids, n);
            if (rc == 0) printf("roundtrip ok: %zu tokens, %zu bytes\n", n, len);
        } else {
            FILE *f = fopen(argv[4], "wb");
            if (!f || fwrite(ids, sizeof *ids, n, f) != n || fclose(f) != 0) {
                fprintf(stderr, "tokenize: %s: write failed\n", argv[4]);
                rc = 1;
            }
        }
        free(ids);
        free(text);
    } else {
        fprintf(stderr, "tokenize: bad arguments\n");
        rc = 2;
    }
    sp_tokenizer_free(tk);
    sp_gguf_free(g);
    return rc;
}
