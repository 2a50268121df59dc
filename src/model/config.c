/* config.c: sp_config <-> Hugging Face config.json (Llama and Qwen2 families).
 *
 * Keys read (HF spelling -> sp_config field):
 *   model_type "llama" | "qwen2"        -> arch (qwen2 => qkv_bias = 1)
 *   hidden_size                         -> dim           required
 *   intermediate_size                   -> hidden_dim    required
 *   num_hidden_layers                   -> n_layers      required
 *   num_attention_heads                 -> n_heads       required
 *   num_key_value_heads                 -> n_kv_heads    default n_heads
 *   head_dim                            -> head_dim      default dim / n_heads
 *   vocab_size                          -> vocab_size    required
 *   max_position_embeddings             -> max_seq_len   required
 *   rope_theta                          -> rope_theta    default 10000
 *   rms_norm_eps                        -> norm_eps      default 1e-6
 *   tie_word_embeddings                 -> tie_embeddings default false
 *   attention_bias (bool)               -> qkv_bias      default false (llama)
 *   bos_token_id, eos_token_id          -> bos_id, eos_id default -1 (first entry if a list)
 * Rejected as unsupported: a hidden_act other than "silu", a non-null rope_scaling.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "sparsity.h"

/* Integer key: *out = value; 1 if absent (out untouched), 0 ok, <0 error. */
static int get_int(const char *path, const cJSON *root, const char *key, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return 1;
    if (cJSON_IsArray(v) && cJSON_GetArraySize(v) > 0) v = v->child; /* eos_token_id: [a, b, ...] */
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!(d >= -2147483648.0 && d <= 2147483647.0) || d != floor(d))
        return sp_error(SP_ERR_FORMAT, "%s: key '%s' is not an integer", path, key);
    *out = (int)d;
    return 0;
}

static int need_int(const char *path, const cJSON *root, const char *key, int *out) {
    int rc = get_int(path, root, key, out);
    if (rc == 1) return sp_error(SP_ERR_FORMAT, "%s: missing key '%s'", path, key);
    if (rc == 0 && *out <= 0) return sp_error(SP_ERR_FORMAT, "%s: key '%s' must be positive (got %d)", path, key, *out);
    return rc;
}

static int get_float(const char *path, const cJSON *root, const char *key, float *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return 1;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || !(v->valuedouble > 0))
        return sp_error(SP_ERR_FORMAT, "%s: key '%s' must be a positive number", path, key);
    *out = (float)v->valuedouble;
    return 0;
}

static int get_bool(const char *path, const cJSON *root, const char *key, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return 1;
    if (!cJSON_IsBool(v)) return sp_error(SP_ERR_FORMAT, "%s: key '%s' is not true/false", path, key);
    *out = cJSON_IsTrue(v);
    return 0;
}

static int check(const char *path, const sp_config *c) {
    if (c->n_kv_heads <= 0 || c->head_dim <= 0)
        return sp_error(SP_ERR_FORMAT, "%s: num_key_value_heads and head_dim must be positive", path);
    if (c->dim % c->n_heads != 0)
        return sp_error(SP_ERR_FORMAT, "%s: num_attention_heads %d does not divide hidden_size %d", path,
                        c->n_heads, c->dim);
    if (c->n_heads % c->n_kv_heads != 0)
        return sp_error(SP_ERR_FORMAT, "%s: num_key_value_heads %d does not divide num_attention_heads %d", path,
                        c->n_kv_heads, c->n_heads);
    if (c->head_dim % 2 != 0)
        return sp_error(SP_ERR_FORMAT, "%s: head_dim %d must be even for RoPE", path, c->head_dim);
    if (c->bos_id >= c->vocab_size || c->eos_id >= c->vocab_size)
        return sp_error(SP_ERR_FORMAT, "%s: bos/eos token id (%d/%d) outside vocab_size %d", path, c->bos_id,
                        c->eos_id, c->vocab_size);
    if (!(c->rope_theta > 0) || !(c->norm_eps > 0))
        return sp_error(SP_ERR_FORMAT, "%s: rope_theta and rms_norm_eps must be positive", path);
    return 0;
}

static int parse(const char *path, const cJSON *root, sp_config *c) {
    if (!cJSON_IsObject(root)) return sp_error(SP_ERR_FORMAT, "%s: not a JSON object", path);
    memset(c, 0, sizeof *c);
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (!mt) return sp_error(SP_ERR_FORMAT, "%s: missing key 'model_type'", path);
    if (!cJSON_IsString(mt) || !mt->valuestring)
        return sp_error(SP_ERR_FORMAT, "%s: key 'model_type' is not a string", path);
    if (strcmp(mt->valuestring, "llama") != 0 && strcmp(mt->valuestring, "qwen2") != 0)
        return sp_error(SP_ERR_UNSUPPORTED, "%s: model_type '%s' not supported (llama, qwen2)", path,
                        mt->valuestring);
    snprintf(c->arch, sizeof c->arch, "%s", mt->valuestring);
    c->qkv_bias = strcmp(c->arch, "qwen2") == 0;

    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "hidden_act");
    if (act && !(cJSON_IsString(act) && strcmp(act->valuestring, "silu") == 0))
        return sp_error(SP_ERR_UNSUPPORTED, "%s: hidden_act must be \"silu\"", path);
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
    if (rs && !cJSON_IsNull(rs)) return sp_error(SP_ERR_UNSUPPORTED, "%s: rope_scaling is not supported", path);

    int rc;
    if ((rc = need_int(path, root, "hidden_size", &c->dim)) != 0) return rc;
    if ((rc = need_int(path, root, "intermediate_size", &c->hidden_dim)) != 0) return rc;
    if ((rc = need_int(path, root, "num_hidden_layers", &c->n_layers)) != 0) return rc;
    if ((rc = need_int(path, root, "num_attention_heads", &c->n_heads)) != 0) return rc;
    if ((rc = need_int(path, root, "vocab_size", &c->vocab_size)) != 0) return rc;
    if ((rc = need_int(path, root, "max_position_embeddings", &c->max_seq_len)) != 0) return rc;
    c->n_kv_heads = c->n_heads;
    c->head_dim = c->dim / c->n_heads;
    c->rope_theta = 10000.0f;
    c->norm_eps = 1e-6f;
    c->bos_id = c->eos_id = -1;
    if ((rc = get_int(path, root, "num_key_value_heads", &c->n_kv_heads)) < 0) return rc;
    if ((rc = get_int(path, root, "head_dim", &c->head_dim)) < 0) return rc;
    if ((rc = get_int(path, root, "bos_token_id", &c->bos_id)) < 0) return rc;
    if ((rc = get_int(path, root, "eos_token_id", &c->eos_id)) < 0) return rc;
    if ((rc = get_float(path, root, "rope_theta", &c->rope_theta)) < 0) return rc;
    if ((rc = get_float(path, root, "rms_norm_eps", &c->norm_eps)) < 0) return rc;
    if ((rc = get_bool(path, root, "tie_word_embeddings", &c->tie_embeddings)) < 0) return rc;
    int bias = 0;
    if ((rc = get_bool(path, root, "attention_bias", &bias)) < 0) return rc;
    c->qkv_bias |= bias;
    return check(path, c);
}

int sp_config_load(const char *path, sp_config *c) {
    char *txt;
    int rc = sp_read_file(path, &txt, NULL);
    if (rc != 0) return rc;
    cJSON *root = cJSON_ParseWithOpts(txt, NULL, 1); /* no trailing garbage */
    free(txt);
    if (!root) return sp_error(SP_ERR_FORMAT, "%s: not valid JSON", path);
    sp_config tmp;
    rc = parse(path, root, &tmp);
    cJSON_Delete(root);
    if (rc == 0) *c = tmp;
    return rc;
}

/* Shortest decimal that reads back as the same float (1e-05, not 9.99999975e-06). */
static cJSON *raw_float(float x) {
    char buf[48];
    if (x == floorf(x) && fabsf(x) < 1e9f) {
        snprintf(buf, sizeof buf, "%.1f", (double)x);
        return cJSON_CreateRaw(buf);
    }
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)x);
        if (strtof(buf, NULL) == x) break;
    }
    if (!strpbrk(buf, ".eE")) strcat(buf, ".0"); /* keep it a float in Python */
    return cJSON_CreateRaw(buf);
}

int sp_config_save(const sp_config *c, const char *path) {
    if (!c || !path) return sp_error(SP_ERR_ARG, "config save: NULL argument");
    int qwen = strcmp(c->arch, "qwen2") == 0;
    if (!qwen && strcmp(c->arch, "llama") != 0)
        return sp_error(SP_ERR_UNSUPPORTED, "%s: arch '%s' not supported (llama, qwen2)", path, c->arch);
    if (c->dim <= 0 || c->hidden_dim <= 0 || c->n_layers <= 0 || c->n_heads <= 0 || c->vocab_size <= 0 ||
        c->max_seq_len <= 0)
        return sp_error(SP_ERR_ARG, "%s: config has non-positive sizes", path);
    int rc = check(path, c);
    if (rc != 0) return SP_ERR_ARG; /* message set by check() */

    cJSON *r = cJSON_CreateObject();
    cJSON *arch = cJSON_AddArrayToObject(r, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString(qwen ? "Qwen2ForCausalLM" : "LlamaForCausalLM"));
    cJSON_AddStringToObject(r, "model_type", c->arch);
    cJSON_AddNumberToObject(r, "hidden_size", c->dim);
    cJSON_AddNumberToObject(r, "intermediate_size", c->hidden_dim);
    cJSON_AddNumberToObject(r, "num_hidden_layers", c->n_layers);
    cJSON_AddNumberToObject(r, "num_attention_heads", c->n_heads);
    cJSON_AddNumberToObject(r, "num_key_value_heads", c->n_kv_heads);
    cJSON_AddNumberToObject(r, "head_dim", c->head_dim);
    cJSON_AddNumberToObject(r, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(r, "max_position_embeddings", c->max_seq_len);
    cJSON_AddItemToObject(r, "rope_theta", raw_float(c->rope_theta));
    cJSON_AddItemToObject(r, "rms_norm_eps", raw_float(c->norm_eps));
    cJSON_AddBoolToObject(r, "tie_word_embeddings", c->tie_embeddings != 0);
    if (!qwen) cJSON_AddBoolToObject(r, "attention_bias", c->qkv_bias != 0);
    if (c->bos_id >= 0) cJSON_AddNumberToObject(r, "bos_token_id", c->bos_id);
    else cJSON_AddNullToObject(r, "bos_token_id");
    if (c->eos_id >= 0) cJSON_AddNumberToObject(r, "eos_token_id", c->eos_id);
    else cJSON_AddNullToObject(r, "eos_token_id");
    cJSON_AddStringToObject(r, "hidden_act", "silu");
    cJSON_AddNullToObject(r, "rope_scaling");
    cJSON_AddStringToObject(r, "torch_dtype", "float32");
    cJSON_AddBoolToObject(r, "use_cache", 1);
    char *txt = cJSON_Print(r);
    cJSON_Delete(r);
    if (!txt) return sp_error(SP_ERR_NOMEM, "%s: out of memory", path);

    sp_atomic_file af;
    rc = sp_atomic_open(&af, path);
    if (rc == 0) {
        if (fputs(txt, af.fp) == EOF || fputc('\n', af.fp) == EOF) {
            sp_atomic_abort(&af);
            rc = sp_error(SP_ERR_IO, "%s: write failed", path);
        } else {
            rc = sp_atomic_commit(&af);
        }
    }
    free(txt);
    return rc;
}
