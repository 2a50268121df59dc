/* tokenizer_json.c: Hugging Face tokenizer.json <-> sp_tokenizer.
 *
 * Fields read (others ignored):
 *   model.type          "BPE" (optional)
 *   model.vocab         {token: id}, tokens in byte-level form
 *   model.merges        ["a b", ...] or [["a", "b"], ...], by rank
 *   model.ignore_merges bool (optional)
 *   added_tokens        [{id, content, special}], matched in text; special -> control
 *   normalizer          must be null
 *   pre_tokenizer       ByteLevel(use_regex)                         -> gpt2
 *                       Sequence[Digits(individual), ByteLevel(regex)] -> smollm
 *                       Sequence[Split(Qwen2 regex), ByteLevel(no regex)] -> qwen2
 *   model.sparsity_bos_id / sparsity_eos_id  ours (tokenizer.json has no bos/eos;
 *                       Hugging Face ignores unknown model fields)
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/tokenizer_internal.h"

static int str_is(const cJSON *o, const char *key, const char *want) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && strcmp(v->valuestring, want) == 0;
}

/* bool field with default */
static int flag(const cJSON *o, const char *key, int dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

/* ByteLevel without a prefix space, with use_regex == regex. */
static int is_bytelevel(const cJSON *o, int regex) {
    return str_is(o, "type", "ByteLevel") && !flag(o, "add_prefix_space", 0) &&
           flag(o, "use_regex", 1) == regex;
}

/* pre-tokenizer kind of a tokenizer.json pre_tokenizer, -1 if not supported */
static int pre_kind(const cJSON *pt) {
    if (is_bytelevel(pt, 1)) return SP_PRE_GPT2;
    if (!str_is(pt, "type", "Sequence")) return -1;
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(pt, "pretokenizers");
    if (cJSON_GetArraySize(seq) != 2) return -1;
    const cJSON *a = cJSON_GetArrayItem(seq, 0), *b = cJSON_GetArrayItem(seq, 1);
    if (str_is(a, "type", "Digits") && flag(a, "individual_digits", 0) && is_bytelevel(b, 1))
        return SP_PRE_SMOLLM;
    if (str_is(a, "type", "Split") && is_bytelevel(b, 0) && str_is(a, "behavior", "Isolated") &&
        !flag(a, "invert", 0) &&
        str_is(cJSON_GetObjectItemCaseSensitive(a, "pattern"), "Regex", sp_pre_qwen2_regex))
        return SP_PRE_QWEN2;
    return -1;
}

static int int_field(const cJSON *o, const char *key, int dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valueint : dflt;
}

sp_tokenizer *sp_tokenizer_load(const char *path) {
    char *data = NULL;
    size_t len = 0;
    if (sp_read_file(path, &data, &len)) return NULL;
    cJSON *root = cJSON_ParseWithLength(data, len);
    free(data);
    const char **toks = NULL;
    size_t *lens = NULL;
    uint8_t *types = NULL;
    sp_merge_str *merges = NULL;
    sp_tokenizer *tk = NULL;
    if (!cJSON_IsObject(root)) { sp_error(SP_ERR_FORMAT, "%s: not a JSON object", path); goto done; }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(model)) { sp_error(SP_ERR_FORMAT, "%s: missing \"model\"", path); goto done; }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    if (type && !str_is(model, "type", "BPE")) {
        sp_error(SP_ERR_UNSUPPORTED, "%s: model.type '%s' not supported (only BPE)", path,
                 cJSON_IsString(type) ? type->valuestring : "?");
        goto done;
    }
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *mj = cJSON_GetObjectItemCaseSensitive(model, "merges");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (!cJSON_IsObject(vocab)) { sp_error(SP_ERR_FORMAT, "%s: missing model.vocab", path); goto done; }
    if (!cJSON_IsArray(mj)) { sp_error(SP_ERR_FORMAT, "%s: missing model.merges", path); goto done; }
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    if (norm && !cJSON_IsNull(norm)) {
        sp_error(SP_ERR_UNSUPPORTED, "%s: normalizer not supported (must be null)", path);
        goto done;
    }
    int pre = pre_kind(cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"));
    if (pre < 0) {
        sp_error(SP_ERR_UNSUPPORTED, "%s: pre_tokenizer not supported (ByteLevel, Digits+ByteLevel, or Qwen2 Split+ByteLevel)", path);
        goto done;
    }

    /* vocabulary size: one past the largest id of vocab and added tokens */
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab) {
        if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble >= (1 << 30)) {
            sp_error(SP_ERR_FORMAT, "%s: model.vocab['%s'] is not a valid id", path, it->string);
            goto done;
        }
        if (it->valueint + 1 > n) n = it->valueint + 1;
    }
    cJSON_ArrayForEach(it, added) {
        int id = int_field(it, "id", -1);
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(it, "content");
        if (id < 0 || id >= (1 << 30) || !cJSON_IsString(c) || !c->valuestring[0]) {
            sp_error(SP_ERR_FORMAT, "%s: added_tokens entry without valid id/content", path);
            goto done;
        }
        if (id + 1 > n) n = id + 1;
    }
    toks = calloc((size_t)n + 1, sizeof *toks);
    lens = calloc((size_t)n + 1, sizeof *lens);
    types = malloc((size_t)n + 1);
    int nm = cJSON_GetArraySize(mj);
    merges = malloc(((size_t)nm + 1) * sizeof *merges);
    if (!toks || !lens || !types || !merges) { sp_error(SP_ERR_NOMEM, "%s: out of memory", path); goto done; }
    memset(types, SP_TOK_NORMAL, (size_t)n);
    cJSON_ArrayForEach(it, vocab) {
        if (toks[it->valueint]) {
            sp_error(SP_ERR_FORMAT, "%s: id %d used by '%s' and '%s'", path, it->valueint,
                     toks[it->valueint], it->string);
            goto done;
        }
        toks[it->valueint] = it->string;
        lens[it->valueint] = strlen(it->string);
    }
    cJSON_ArrayForEach(it, added) {
        int id = int_field(it, "id", -1);
        const char *c = cJSON_GetObjectItemCaseSensitive(it, "content")->valuestring;
        if (toks[id] && strcmp(toks[id], c) != 0) {
            sp_error(SP_ERR_FORMAT, "%s: added token %d '%s' differs from vocab '%s'", path, id, c, toks[id]);
            goto done;
        }
        toks[id] = c;
        lens[id] = strlen(c);
        types[id] = flag(it, "special", 0) ? SP_TOK_CONTROL : SP_TOK_USER;
    }
    for (int i = 0; i < n; i++)
        if (!toks[i]) { sp_error(SP_ERR_FORMAT, "%s: no token has id %d (ids must be 0..%d)", path, i, n - 1); goto done; }
    int r = 0;
    cJSON_ArrayForEach(it, mj) {
        const cJSON *a = cJSON_GetArrayItem(it, 0), *b = cJSON_GetArrayItem(it, 1);
        if (cJSON_IsString(it) && sp_merge_split(it->valuestring, strlen(it->valuestring), &merges[r]) == 0) {
        } else if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2 && cJSON_IsString(a) && cJSON_IsString(b)) {
            merges[r] = (sp_merge_str){a->valuestring, b->valuestring, strlen(a->valuestring), strlen(b->valuestring)};
        } else {
            sp_error(SP_ERR_FORMAT, "%s: model.merges[%d] is not \"a b\" or [\"a\", \"b\"]", path, r);
            goto done;
        }
        r++;
    }
    tk = sp_tokenizer_build(path, n, toks, lens, types, nm, merges, (sp_pre_kind)pre,
                            flag(model, "ignore_merges", 0), int_field(model, "sparsity_bos_id", -1),
                            int_field(model, "sparsity_eos_id", -1));
done:
    free(toks); free(lens); free(types); free(merges);
    cJSON_Delete(root);
    return tk;
}

/* ------------------------------------------------------------------ save */

static cJSON *bytelevel(int use_regex) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "ByteLevel");
    cJSON_AddBoolToObject(o, "add_prefix_space", 0);
    cJSON_AddBoolToObject(o, "trim_offsets", 1);
    cJSON_AddBoolToObject(o, "use_regex", use_regex);
    return o;
}

static cJSON *pre_json(sp_pre_kind k) {
    if (k == SP_PRE_GPT2) return bytelevel(1);
    cJSON *o = cJSON_CreateObject(), *seq = cJSON_CreateArray(), *first = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "Sequence");
    if (k == SP_PRE_SMOLLM) {
        cJSON_AddStringToObject(first, "type", "Digits");
        cJSON_AddBoolToObject(first, "individual_digits", 1);
    } else {
        cJSON_AddStringToObject(first, "type", "Split");
        cJSON_AddStringToObject(cJSON_AddObjectToObject(first, "pattern"), "Regex", sp_pre_qwen2_regex);
        cJSON_AddStringToObject(first, "behavior", "Isolated");
        cJSON_AddBoolToObject(first, "invert", 0);
    }
    cJSON_AddItemToArray(seq, first);
    cJSON_AddItemToArray(seq, bytelevel(k != SP_PRE_QWEN2));
    cJSON_AddItemToObject(o, "pretokenizers", seq);
    return o;
}

static cJSON *to_json(const sp_tokenizer *tk) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "version", "1.0");
    cJSON_AddNullToObject(root, "truncation");
    cJSON_AddNullToObject(root, "padding");
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
    for (int i = 0; i < tk->n_vocab; i++) {
        if (tk->type[i] != SP_TOK_CONTROL && tk->type[i] != SP_TOK_USER) continue;
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "id", i);
        cJSON_AddStringToObject(a, "content", tk->tok + tk->tok_off[i]);
        cJSON_AddBoolToObject(a, "single_word", 0);
        cJSON_AddBoolToObject(a, "lstrip", 0);
        cJSON_AddBoolToObject(a, "rstrip", 0);
        cJSON_AddBoolToObject(a, "normalized", 0);
        cJSON_AddBoolToObject(a, "special", tk->type[i] == SP_TOK_CONTROL);
        cJSON_AddItemToArray(added, a);
    }
    cJSON_AddNullToObject(root, "normalizer");
    cJSON_AddItemToObject(root, "pre_tokenizer", pre_json(tk->pre));
    cJSON_AddNullToObject(root, "post_processor");
    cJSON_AddItemToObject(root, "decoder", bytelevel(1));
    cJSON *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddNullToObject(model, "dropout");
    cJSON_AddNullToObject(model, "unk_token");
    cJSON_AddNullToObject(model, "continuing_subword_prefix");
    cJSON_AddNullToObject(model, "end_of_word_suffix");
    cJSON_AddBoolToObject(model, "fuse_unk", 0);
    cJSON_AddBoolToObject(model, "byte_fallback", 0);
    cJSON_AddBoolToObject(model, "ignore_merges", tk->ignore_merges);
    cJSON_AddNumberToObject(model, "sparsity_bos_id", tk->bos);
    cJSON_AddNumberToObject(model, "sparsity_eos_id", tk->eos);
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    for (int i = 0; i < tk->n_vocab; i++) {
        const char *s = tk->tok + tk->tok_off[i];
        if (sp_tokenizer_lookup(tk, s, tk->tok_len[i]) != i) continue; /* duplicate string */
        cJSON_AddItemToObject(vocab, s, cJSON_CreateNumber(i));
    }
    cJSON *merges = cJSON_AddArrayToObject(model, "merges");
    char *buf = NULL;
    size_t cap = 0;
    for (int r = 0; r < tk->n_merges; r++) {
        int32_t a = tk->merge_a[r], b = tk->merge_b[r];
        size_t need = tk->tok_len[a] + tk->tok_len[b] + 2;
        if (need > cap) {
            char *nb = realloc(buf, 2 * need);
            if (!nb) { free(buf); cJSON_Delete(root); return NULL; }
            buf = nb;
            cap = 2 * need;
        }
        snprintf(buf, cap, "%s %s", tk->tok + tk->tok_off[a], tk->tok + tk->tok_off[b]);
        cJSON_AddItemToArray(merges, cJSON_CreateString(buf));
    }
    free(buf);
    return root;
}

int sp_tokenizer_save(const sp_tokenizer *tk, const char *path) {
    if (!tk || !path) return sp_error(SP_ERR_ARG, "tokenizer_save: NULL argument");
    cJSON *root = to_json(tk);
    char *text = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!text) return sp_error(SP_ERR_NOMEM, "%s: out of memory building JSON", path);
    sp_atomic_file af;
    int rc = sp_atomic_open(&af, path);
    if (rc) { free(text); return rc; }
    size_t n = strlen(text);
    if (fwrite(text, 1, n, af.fp) != n) {
        free(text);
        sp_atomic_abort(&af);
        return sp_error(SP_ERR_IO, "%s: write failed", path);
    }
    free(text);
    return sp_atomic_commit(&af);
}
