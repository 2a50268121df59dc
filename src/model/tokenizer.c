/* tokenizer.c: byte-level BPE (GPT-2 style).
 *
 * encode(text):
 *   1. added tokens (GGUF token_type control/user-defined, tokenizer.json
 *      added_tokens) are matched in the raw text, leftmost-longest, and emitted
 *      as single ids;
 *   2. the text between them is split into pieces by the pre-tokenizer (pretok.c);
 *   3. each piece's bytes start as one symbol per byte (the token of the byte's
 *      GPT-2 unicode stand-in, bytes_to_unicode below; a byte whose stand-in is
 *      not in the vocabulary is dropped, as Hugging Face does when there is no
 *      unk token); the adjacent pair with the lowest merge rank is merged
 *      (leftmost on ties) until no pair has a merge.
 * decode(id): the token string mapped back through bytes_to_unicode (added
 * tokens: their raw text).
 * Loaders: tokenizer_gguf.c (GGUF), tokenizer_json.c (tokenizer.json).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/tokenizer_internal.h"
#include "model/unicode.h"

/* ------------------------------------------------------------------ helpers */

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static uint64_t hash_u64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

static uint32_t pow2_at_least(size_t n) {
    uint32_t m = 16;
    while (m < 2 * n) m <<= 1;
    return m;
}

/* GPT-2 bytes_to_unicode: printable Latin-1 bytes ('!'..'~', 0xA1..0xAC,
 * 0xAE..0xFF) stand for themselves; the other 68 bytes map to U+0100.. in order. */
static void bytes_to_unicode(uint32_t cp[256]) {
    int extra = 0;
    for (int b = 0; b < 256; b++) {
        int keep = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        cp[b] = keep ? (uint32_t)b : (uint32_t)(256 + extra++);
    }
}

static const char *pre_names[SP_PRE_COUNT] = {"gpt2", "smollm", "qwen2"};

const char *sp_pre_name(sp_pre_kind k) { return k < SP_PRE_COUNT ? pre_names[k] : "?"; }

int sp_pre_from_name(const char *name, size_t n) {
    static const struct { const char *name; int kind; } names[] = {
        {"gpt2", SP_PRE_GPT2}, {"default", SP_PRE_GPT2},
        {"smollm", SP_PRE_SMOLLM}, {"starcoder", SP_PRE_SMOLLM}, {"refact", SP_PRE_SMOLLM},
        {"qwen2", SP_PRE_QWEN2},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i].name) == n && memcmp(names[i].name, name, n) == 0) return names[i].kind;
    return -1;
}

int sp_merge_split(const char *s, size_t n, sp_merge_str *m) {
    const char *sp = memchr(s, ' ', n);
    if (!sp || sp == s || sp == s + n - 1) return -1;
    m->a = s;
    m->na = (size_t)(sp - s);
    m->b = sp + 1;
    m->nb = n - m->na - 1;
    return 0;
}

int32_t sp_tokenizer_lookup(const sp_tokenizer *tk, const char *s, size_t n) {
    for (uint32_t h = (uint32_t)hash_bytes(s, n) & tk->vh_mask;; h = (h + 1) & tk->vh_mask) {
        int32_t id = tk->vh[h];
        if (id < 0) return -1;
        if (tk->tok_len[id] == n && memcmp(tk->tok + tk->tok_off[id], s, n) == 0) return id;
    }
}

/* Slot of merge (a, b) in the merge hash (empty slot if absent). */
static uint32_t merge_slot(const sp_tokenizer *tk, int32_t a, int32_t b) {
    uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
    uint32_t h = (uint32_t)hash_u64(key) & tk->mh_mask;
    while (tk->mh_key[h] && tk->mh_key[h] != key) h = (h + 1) & tk->mh_mask;
    return h;
}

/* ------------------------------------------------------------------ build */

void sp_tokenizer_free(sp_tokenizer *tk) {
    if (!tk) return;
    free(tk->tok); free(tk->tok_off); free(tk->tok_len);
    free(tk->dec); free(tk->dec_off); free(tk->dec_len);
    free(tk->type); free(tk->vh);
    free(tk->merge_a); free(tk->merge_b);
    free(tk->mh_key); free(tk->mh_rank); free(tk->mh_id);
    free(tk->special);
    free(tk);
}

static int is_added(uint8_t type) { return type == SP_TOK_CONTROL || type == SP_TOK_USER; }

static int cmp_special_len(const void *x, const void *y, void *tk_) {
    const sp_tokenizer *tk = tk_;
    int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;
    if (tk->dec_len[a] != tk->dec_len[b]) return tk->dec_len[a] > tk->dec_len[b] ? -1 : 1;
    return a < b ? -1 : a > b;
}

/* Token strings, types, vocab hash, decoded bytes. */
static int build_vocab(sp_tokenizer *tk, const char *src, const char *const *tokens,
                       const size_t *lens, const uint8_t *types) {
    int n = tk->n_vocab;
    size_t total = 0;
    for (int i = 0; i < n; i++) total += lens[i] + 1;
    tk->tok = malloc(total ? total : 1);
    tk->dec = malloc(total ? total : 1); /* decoding never grows a token */
    tk->tok_off = malloc((size_t)n * sizeof *tk->tok_off);
    tk->dec_off = malloc((size_t)n * sizeof *tk->dec_off);
    tk->tok_len = malloc((size_t)n * sizeof *tk->tok_len);
    tk->dec_len = malloc((size_t)n * sizeof *tk->dec_len);
    tk->type = malloc((size_t)n);
    tk->vh_mask = pow2_at_least((size_t)n) - 1;
    tk->vh = malloc(((size_t)tk->vh_mask + 1) * sizeof *tk->vh);
    if (!tk->tok || !tk->dec || !tk->tok_off || !tk->dec_off || !tk->tok_len || !tk->dec_len ||
        !tk->type || !tk->vh)
        return sp_error(SP_ERR_NOMEM, "%s: out of memory for %d tokens", src, n);
    memset(tk->vh, 0xff, ((size_t)tk->vh_mask + 1) * sizeof *tk->vh);

    uint32_t b2u[256];
    int16_t u2b[512]; /* stand-in code point -> byte (all stand-ins are < U+0144) */
    bytes_to_unicode(b2u);
    for (int i = 0; i < 512; i++) u2b[i] = -1;
    for (int b = 0; b < 256; b++) u2b[b2u[b]] = (int16_t)b;

    size_t off = 0, doff = 0;
    for (int i = 0; i < n; i++) {
        if (lens[i] > UINT32_MAX / 2) return sp_error(SP_ERR_FORMAT, "%s: token %d too long", src, i);
        tk->type[i] = types ? types[i] : SP_TOK_NORMAL;
        tk->tok_off[i] = off;
        tk->tok_len[i] = (uint32_t)lens[i];
        memcpy(tk->tok + off, tokens[i], lens[i]);
        tk->tok[off + lens[i]] = 0;
        off += lens[i] + 1;
        /* decoded bytes */
        tk->dec_off[i] = doff;
        const unsigned char *s = (const unsigned char *)tokens[i];
        if (is_added(tk->type[i])) {
            memcpy(tk->dec + doff, s, lens[i]);
            doff += lens[i];
        } else {
            for (size_t p = 0; p < lens[i];) {
                uint32_t cp;
                int l = sp_utf8_decode(s + p, lens[i] - p, &cp);
                if (cp < 512 && u2b[cp] >= 0) tk->dec[doff++] = (char)u2b[cp];
                else { memcpy(tk->dec + doff, s + p, (size_t)l); doff += (size_t)l; }
                p += (size_t)l;
            }
        }
        tk->dec_len[i] = (uint32_t)(doff - tk->dec_off[i]);
        /* vocab hash (first of duplicate strings wins) */
        uint32_t h = (uint32_t)hash_bytes(tokens[i], lens[i]) & tk->vh_mask;
        for (;; h = (h + 1) & tk->vh_mask) {
            int32_t id = tk->vh[h];
            if (id < 0) { tk->vh[h] = i; break; }
            if (tk->tok_len[id] == lens[i] && memcmp(tk->tok + tk->tok_off[id], tokens[i], lens[i]) == 0)
                break;
        }
    }
    /* single-byte tokens */
    for (int b = 0; b < 256; b++) {
        char u[4];
        int l = sp_utf8_encode(b2u[b], u);
        tk->byte_id[b] = sp_tokenizer_lookup(tk, u, (size_t)l);
    }
    return 0;
}

static int build_merges(sp_tokenizer *tk, const char *src, int n_merges, const sp_merge_str *merges) {
    tk->n_merges = n_merges;
    size_t cap = (size_t)pow2_at_least((size_t)n_merges);
    tk->mh_mask = (uint32_t)cap - 1;
    tk->merge_a = malloc(((size_t)n_merges + 1) * sizeof *tk->merge_a);
    tk->merge_b = malloc(((size_t)n_merges + 1) * sizeof *tk->merge_b);
    tk->mh_key = calloc(cap, sizeof *tk->mh_key);
    tk->mh_rank = malloc(cap * sizeof *tk->mh_rank);
    tk->mh_id = malloc(cap * sizeof *tk->mh_id);
    char *cat = NULL;
    size_t cat_cap = 0;
    if (!tk->merge_a || !tk->merge_b || !tk->mh_key || !tk->mh_rank || !tk->mh_id)
        return sp_error(SP_ERR_NOMEM, "%s: out of memory for %d merges", src, n_merges);
    for (int r = 0; r < n_merges; r++) {
        const sp_merge_str *m = &merges[r];
        int32_t a = sp_tokenizer_lookup(tk, m->a, m->na), b = sp_tokenizer_lookup(tk, m->b, m->nb);
        if (a < 0 || b < 0) {
            free(cat);
            return sp_error(SP_ERR_FORMAT, "%s: merge %d '%.*s %.*s': token not in vocab", src, r,
                            (int)m->na, m->a, (int)m->nb, m->b);
        }
        if (m->na + m->nb > cat_cap) {
            cat_cap = 2 * (m->na + m->nb);
            char *c2 = realloc(cat, cat_cap);
            if (!c2) { free(cat); return sp_error(SP_ERR_NOMEM, "%s: out of memory", src); }
            cat = c2;
        }
        memcpy(cat, m->a, m->na);
        memcpy(cat + m->na, m->b, m->nb);
        int32_t ab = sp_tokenizer_lookup(tk, cat, m->na + m->nb);
        if (ab < 0) {
            free(cat);
            return sp_error(SP_ERR_FORMAT, "%s: merge %d '%.*s %.*s': merged token not in vocab", src,
                            r, (int)m->na, m->a, (int)m->nb, m->b);
        }
        tk->merge_a[r] = a;
        tk->merge_b[r] = b;
        /* a repeated pair takes its last rank, as Hugging Face tokenizers does */
        uint32_t h = merge_slot(tk, a, b);
        tk->mh_key[h] = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
        tk->mh_rank[h] = r;
        tk->mh_id[h] = ab;
    }
    free(cat);
    return 0;
}

sp_tokenizer *sp_tokenizer_build(const char *src, int n_vocab, const char *const *tokens,
                                 const size_t *lens, const uint8_t *types, int n_merges,
                                 const sp_merge_str *merges, sp_pre_kind pre, int ignore_merges,
                                 int bos, int eos) {
    if (n_vocab <= 0 || n_merges < 0) {
        sp_error(SP_ERR_FORMAT, "%s: empty vocabulary", src);
        return NULL;
    }
    sp_tokenizer *tk = calloc(1, sizeof *tk);
    if (!tk) { sp_error(SP_ERR_NOMEM, "%s: out of memory", src); return NULL; }
    tk->n_vocab = n_vocab;
    tk->pre = pre;
    tk->ignore_merges = ignore_merges;
    tk->bos = bos >= 0 && bos < n_vocab ? bos : -1;
    tk->eos = eos >= 0 && eos < n_vocab ? eos : -1;
    if (build_vocab(tk, src, tokens, lens, types) || build_merges(tk, src, n_merges, merges)) {
        sp_tokenizer_free(tk);
        return NULL;
    }
    for (int i = 0; i < n_vocab; i++)
        if (is_added(tk->type[i]) && tk->dec_len[i] > 0) tk->n_special++;
    tk->special = malloc(((size_t)tk->n_special + 1) * sizeof *tk->special);
    if (!tk->special) { sp_error(SP_ERR_NOMEM, "%s: out of memory", src); sp_tokenizer_free(tk); return NULL; }
    int k = 0;
    for (int i = 0; i < n_vocab; i++)
        if (is_added(tk->type[i]) && tk->dec_len[i] > 0) {
            tk->special[k++] = i;
            tk->special_first[(unsigned char)tk->dec[tk->dec_off[i]]] = 1;
        }
    qsort_r(tk->special, (size_t)tk->n_special, sizeof *tk->special, cmp_special_len, tk);
    return tk;
}

/* ------------------------------------------------------------------ accessors */

int sp_tokenizer_vocab_size(const sp_tokenizer *tk) { return tk ? tk->n_vocab : 0; }
int sp_tokenizer_bos(const sp_tokenizer *tk) { return tk ? tk->bos : -1; }
int sp_tokenizer_eos(const sp_tokenizer *tk) { return tk ? tk->eos : -1; }

const char *sp_tokenizer_decode(const sp_tokenizer *tk, int32_t id, size_t *len) {
    if (!tk || id < 0 || id >= tk->n_vocab) return NULL;
    if (len) *len = tk->dec_len[id];
    return tk->dec + tk->dec_off[id];
}

/* ------------------------------------------------------------------ encode */

typedef struct { int32_t rank, left, right, la, ra, id; } bpe_pair; /* candidate merge */

typedef struct {
    uint64_t hash;
    size_t off;              /* piece = text[off .. off+len) */
    uint32_t len;
    uint32_t ids_off, n_ids; /* into enc.pool */
} cache_slot;

typedef struct {
    const sp_tokenizer *tk;
    const char *text;
    size_t base;                                  /* pieces are relative to text + base */
    int32_t *out; size_t n_out, cap_out;          /* result ids */
    int32_t *sym, *prev, *next; size_t cap_sym;   /* (cap_sym) BPE symbols of one piece */
    bpe_pair *heap; size_t n_heap, cap_heap;      /* min-heap on (rank, left) */
    cache_slot *cache; uint32_t cache_mask; size_t n_cache; /* word cache (len 0 = empty) */
    int32_t *pool; size_t n_pool, cap_pool;       /* cached ids */
} enc;

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return sp_error(SP_ERR_NOMEM, "tokenizer: out of memory");
    *p = q;
    *cap = c;
    return 0;
}

static int push_ids(enc *e, const int32_t *ids, size_t n) {
    if (n == 0) return 0;
    if (grow((void **)&e->out, &e->cap_out, e->n_out + n, sizeof *e->out)) return SP_ERR_NOMEM;
    memcpy(e->out + e->n_out, ids, n * sizeof *ids);
    e->n_out += n;
    return 0;
}

static int pair_less(const bpe_pair *x, const bpe_pair *y) {
    return x->rank < y->rank || (x->rank == y->rank && x->left < y->left);
}

static void heap_push(enc *e, bpe_pair p) {
    size_t i = e->n_heap++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!pair_less(&p, &e->heap[up])) break;
        e->heap[i] = e->heap[up];
        i = up;
    }
    e->heap[i] = p;
}

static bpe_pair heap_pop(enc *e) {
    bpe_pair top = e->heap[0], last = e->heap[--e->n_heap];
    size_t i = 0, n = e->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && pair_less(&e->heap[c + 1], &e->heap[c])) c++;
        if (!pair_less(&e->heap[c], &last)) break;
        e->heap[i] = e->heap[c];
        i = c;
    }
    if (n) e->heap[i] = last;
    return top;
}

/* Queues the merge of symbols l and r if the pair has one. */
static void try_pair(enc *e, int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    const sp_tokenizer *tk = e->tk;
    uint32_t h = merge_slot(tk, e->sym[l], e->sym[r]);
    if (!tk->mh_key[h]) return;
    bpe_pair p = {tk->mh_rank[h], l, r, e->sym[l], e->sym[r], tk->mh_id[h]};
    heap_push(e, p);
}

/* Room for n symbols in sym, prev, next. */
static int ensure_sym(enc *e, size_t n) {
    if (n <= e->cap_sym) return 0;
    size_t c = e->cap_sym ? e->cap_sym : 64;
    while (c < n) c *= 2;
    int32_t *a = realloc(e->sym, c * sizeof *a);
    if (a) e->sym = a;
    int32_t *b = realloc(e->prev, c * sizeof *b);
    if (b) e->prev = b;
    int32_t *d = realloc(e->next, c * sizeof *d);
    if (d) e->next = d;
    if (!a || !b || !d) return sp_error(SP_ERR_NOMEM, "tokenizer: out of memory");
    e->cap_sym = c;
    return 0;
}

/* BPE over the bytes of one piece; appends the ids to e->out. */
static int bpe_piece(enc *e, const char *s, size_t n) {
    const sp_tokenizer *tk = e->tk;
    if (tk->ignore_merges) { /* the whole piece as one token if the vocab has it */
        char *bl = malloc(2 * n + 1);
        if (!bl) return sp_error(SP_ERR_NOMEM, "tokenizer: out of memory");
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            int32_t b = tk->byte_id[(unsigned char)s[i]];
            if (b >= 0) { memcpy(bl + m, tk->tok + tk->tok_off[b], tk->tok_len[b]); m += tk->tok_len[b]; }
        }
        int32_t id = sp_tokenizer_lookup(tk, bl, m);
        free(bl);
        if (id >= 0) return push_ids(e, &id, 1);
    }
    if (ensure_sym(e, n)) return SP_ERR_NOMEM;
    size_t m = 0; /* bytes without a token are dropped (as Hugging Face does without unk) */
    for (size_t i = 0; i < n; i++) {
        int32_t b = tk->byte_id[(unsigned char)s[i]];
        if (b < 0) continue;
        e->sym[m] = b;
        e->prev[m] = (int32_t)m - 1;
        e->next[m] = (int32_t)m + 1;
        m++;
    }
    if (m == 0) return 0;
    e->next[m - 1] = -1;
    n = m;
    /* every merge removes one symbol and queues at most two pairs */
    if (grow((void **)&e->heap, &e->cap_heap, 3 * n, sizeof *e->heap)) return SP_ERR_NOMEM;
    e->n_heap = 0;
    for (size_t i = 0; i + 1 < n; i++) try_pair(e, (int32_t)i, (int32_t)i + 1);
    while (e->n_heap) {
        bpe_pair p = heap_pop(e);
        if (e->sym[p.left] != p.la || e->next[p.left] != p.right || e->sym[p.right] != p.ra) continue;
        e->sym[p.left] = p.id;
        e->sym[p.right] = -1;
        int32_t nr = e->next[p.right];
        e->next[p.left] = nr;
        if (nr >= 0) e->prev[nr] = p.left;
        try_pair(e, e->prev[p.left], p.left);
        try_pair(e, p.left, nr);
    }
    for (int32_t i = 0; i >= 0; i = e->next[i])
        if (push_ids(e, &e->sym[i], 1)) return SP_ERR_NOMEM;
    return 0;
}

static int cache_grow(enc *e) {
    uint32_t cap = e->cache ? 2 * (e->cache_mask + 1) : 4096;
    cache_slot *c = calloc(cap, sizeof *c);
    if (!c) return sp_error(SP_ERR_NOMEM, "tokenizer: out of memory");
    for (uint32_t i = 0; e->cache && i <= e->cache_mask; i++) {
        if (!e->cache[i].len) continue;
        uint32_t h = (uint32_t)e->cache[i].hash & (cap - 1);
        while (c[h].len) h = (h + 1) & (cap - 1);
        c[h] = e->cache[i];
    }
    free(e->cache);
    e->cache = c;
    e->cache_mask = cap - 1;
    return 0;
}

/* Pre-tokenizer callback: one piece text[off .. off+len). */
static int encode_piece(void *ctx, size_t off, size_t len) {
    enc *e = ctx;
    off += e->base;
    const char *s = e->text + off;
    if (len == 1) {
        int32_t b = e->tk->byte_id[(unsigned char)s[0]];
        return b < 0 ? 0 : push_ids(e, &b, 1);
    }
    if (2 * (e->n_cache + 1) > (size_t)e->cache_mask + 1 && cache_grow(e)) return SP_ERR_NOMEM;
    uint64_t hash = hash_bytes(s, len);
    uint32_t h = (uint32_t)hash & e->cache_mask;
    for (; e->cache[h].len; h = (h + 1) & e->cache_mask) {
        cache_slot *c = &e->cache[h];
        if (c->hash == hash && c->len == len && memcmp(e->text + c->off, s, len) == 0)
            return push_ids(e, e->pool + c->ids_off, c->n_ids);
    }
    size_t start = e->n_out;
    int rc = bpe_piece(e, s, len);
    if (rc) return rc;
    size_t n = e->n_out - start;
    if (len > UINT32_MAX || e->n_pool + n > UINT32_MAX) return 0; /* too big to cache */
    if (grow((void **)&e->pool, &e->cap_pool, e->n_pool + n, sizeof *e->pool)) return SP_ERR_NOMEM;
    if (n) memcpy(e->pool + e->n_pool, e->out + start, n * sizeof *e->pool);
    e->cache[h] = (cache_slot){hash, off, (uint32_t)len, (uint32_t)e->n_pool, (uint32_t)n};
    e->n_pool += n;
    e->n_cache++;
    return 0;
}

/* Longest added token at text[pos..len), or -1. */
static int32_t match_special(const sp_tokenizer *tk, const char *text, size_t pos, size_t len) {
    for (int k = 0; k < tk->n_special; k++) {
        int32_t id = tk->special[k];
        size_t n = tk->dec_len[id];
        if (n <= len - pos && memcmp(text + pos, tk->dec + tk->dec_off[id], n) == 0) return id;
    }
    return -1;
}

int sp_tokenizer_encode(const sp_tokenizer *tk, const char *text, size_t len, int32_t **ids,
                        size_t *n_ids) {
    *ids = NULL;
    *n_ids = 0;
    if (!tk || (!text && len)) return sp_error(SP_ERR_ARG, "tokenizer_encode: NULL argument");
    enc e = {.tk = tk, .text = text};
    int rc = 0;
    size_t seg = 0; /* start of the text not yet encoded */
    for (size_t pos = 0; pos < len && !rc; pos++) {
        if (!tk->special_first[(unsigned char)text[pos]]) continue;
        int32_t id = match_special(tk, text, pos, len);
        if (id < 0) continue;
        e.base = seg;
        rc = sp_pretok_split(tk->pre, text + seg, pos - seg, encode_piece, &e);
        if (!rc) rc = push_ids(&e, &id, 1);
        pos += tk->dec_len[id] - 1;
        seg = pos + 1;
    }
    e.base = seg;
    if (!rc) rc = sp_pretok_split(tk->pre, text + seg, len - seg, encode_piece, &e);
    free(e.sym); free(e.prev); free(e.next); free(e.heap); free(e.cache); free(e.pool);
    if (rc) { free(e.out); return rc; }
    if (!e.out) e.out = malloc(sizeof *e.out); /* a valid pointer even for no tokens */
    if (!e.out) return sp_error(SP_ERR_NOMEM, "tokenizer: out of memory");
    *ids = e.out;
    *n_ids = e.n_out;
    return 0;
}
