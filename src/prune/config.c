/* config.c: the prune configuration: defaults, JSON parsing (cJSON), validation,
 * per-layer shape checks and target/exclude name matching. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "sparsity_prune.h"

static const char *const method_names[] = {"magnitude", "wanda", "sparsegpt"};
static const char *const pattern_names[] = {"unstructured", "n:m", "block"};
static const char *const scope_names[] = {"default", "layer", "row"};
static const char *const layerwise_names[] = {"none", "owl"};

const char *sp_prune_method_name(sp_prune_method m) {
    return (unsigned)m < 3 ? method_names[m] : "?";
}

const char *sp_prune_pattern_name(sp_prune_pattern p) {
    return (unsigned)p < 3 ? pattern_names[p] : "?";
}

void sp_prune_config_default(sp_prune_config *c) {
    memset(c, 0, sizeof *c);
    c->pattern = SP_PATTERN_UNSTRUCTURED;
    c->sparsity_ratio = 0.5;
    c->n = 2;
    c->m = 4;
    c->block_size = 16;
    c->method = SP_PRUNE_WANDA;
    c->scope = SP_SCOPE_DEFAULT;
    c->nsamples = 128;
    c->seqlen = 2048;
    c->layerwise = SP_LAYERWISE_NONE;
    c->owl_lambda = 0.08;
    c->owl_m = 5.0;
    c->sparsegpt_blocksize = 128;
    c->percdamp = 0.01;
}

int sp_prune_config_validate(const sp_prune_config *c) {
    if ((unsigned)c->method > SP_PRUNE_SPARSEGPT)
        return sp_error(SP_ERR_ARG, "prune config: unknown pruning_method %d", (int)c->method);
    if ((unsigned)c->pattern > SP_PATTERN_BLOCK)
        return sp_error(SP_ERR_ARG, "prune config: unknown pattern %d", (int)c->pattern);
    if ((unsigned)c->scope > SP_SCOPE_ROW)
        return sp_error(SP_ERR_ARG, "prune config: unknown scope %d", (int)c->scope);
    if ((unsigned)c->layerwise > SP_LAYERWISE_OWL)
        return sp_error(SP_ERR_ARG, "prune config: unknown layerwise %d", (int)c->layerwise);
    if (c->pattern != SP_PATTERN_NM && !(c->sparsity_ratio >= 0.0 && c->sparsity_ratio < 1.0))
        return sp_error(SP_ERR_ARG, "prune config: sparsity_ratio %g must be in [0, 1)", c->sparsity_ratio);
    if (c->pattern == SP_PATTERN_NM && !(c->n >= 1 && c->n < c->m))
        return sp_error(SP_ERR_ARG, "prune config: N:M needs 1 <= n < m (got n=%d, m=%d)", c->n, c->m);
    if (c->pattern == SP_PATTERN_BLOCK && c->block_size < 1)
        return sp_error(SP_ERR_ARG, "prune config: block_size %d must be >= 1", c->block_size);
    if (c->nsamples < 1 || c->seqlen < 1)
        return sp_error(SP_ERR_ARG, "prune config: nsamples %d and seqlen %d must be >= 1", c->nsamples, c->seqlen);
    if (c->sparsegpt_blocksize < 1)
        return sp_error(SP_ERR_ARG, "prune config: sparsegpt_blocksize %d must be >= 1", c->sparsegpt_blocksize);
    if (!(c->percdamp > 0.0 && c->percdamp < 10.0))
        return sp_error(SP_ERR_ARG, "prune config: percdamp %g must be in (0, 10)", c->percdamp);
    if (c->layerwise == SP_LAYERWISE_OWL) {
        if (c->pattern == SP_PATTERN_NM)
            return sp_error(SP_ERR_ARG, "prune config: layerwise \"owl\" needs a ratio-driven pattern "
                                        "(unstructured or block), not n:m");
        if (!(c->owl_lambda >= 0.0 && c->owl_lambda < 0.5))
            return sp_error(SP_ERR_ARG, "prune config: owl_lambda %g must be in [0, 0.5)", c->owl_lambda);
        if (!(c->owl_m > 0.0))
            return sp_error(SP_ERR_ARG, "prune config: owl_m %g must be > 0", c->owl_m);
    }
    return 0;
}

static int lookup(const char *s, const char *const *names, int n) {
    for (int i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0) return i;
    return -1;
}

/* "a, b" or ["a","b"] -> "a,b" into dst (size cap) */
static int parse_list(const cJSON *v, const char *key, const char *origin, char *dst, size_t cap) {
    size_t used = 0;
    dst[0] = 0;
    if (cJSON_IsString(v)) {
        if (strlen(v->valuestring) >= cap)
            return sp_error(SP_ERR_ARG, "%s: %s too long", origin, key);
        snprintf(dst, cap, "%s", v->valuestring);
        return 0;
    }
    if (!cJSON_IsArray(v))
        return sp_error(SP_ERR_ARG, "%s: %s must be an array of strings or a comma-separated string", origin, key);
    const cJSON *it;
    cJSON_ArrayForEach(it, v) {
        if (!cJSON_IsString(it))
            return sp_error(SP_ERR_ARG, "%s: %s must contain only strings", origin, key);
        size_t len = strlen(it->valuestring);
        if (used + len + 2 > cap) return sp_error(SP_ERR_ARG, "%s: %s too long", origin, key);
        if (used) dst[used++] = ',';
        memcpy(dst + used, it->valuestring, len);
        used += len;
        dst[used] = 0;
    }
    return 0;
}

static int get_num(const cJSON *v, const char *origin, double *out) {
    if (!cJSON_IsNumber(v)) return sp_error(SP_ERR_ARG, "%s: \"%s\" must be a number", origin, v->string);
    *out = v->valuedouble;
    return 0;
}

static int get_int(const cJSON *v, const char *origin, int *out) {
    double d = 0.0;
    int rc = get_num(v, origin, &d);
    if (rc) return rc;
    if (d != floor(d) || fabs(d) > 1e9) return sp_error(SP_ERR_ARG, "%s: \"%s\" must be an integer (got %g)", origin, v->string, d);
    *out = (int)d;
    return 0;
}

static int get_enum(const cJSON *v, const char *origin, const char *const *names, int n, int *out) {
    if (!cJSON_IsString(v)) return sp_error(SP_ERR_ARG, "%s: \"%s\" must be a string", origin, v->string);
    int i = lookup(v->valuestring, names, n);
    if (i < 0) {
        char opts[256] = "";
        for (int k = 0; k < n; k++)
            snprintf(opts + strlen(opts), sizeof opts - strlen(opts), "%s\"%s\"", k ? ", " : "", names[k]);
        return sp_error(SP_ERR_ARG, "%s: unknown %s \"%s\" (expected one of %s)", origin, v->string, v->valuestring, opts);
    }
    *out = i;
    return 0;
}

int sp_prune_config_parse(const char *json, const char *origin, sp_prune_config *c) {
    if (!origin) origin = "prune config";
    sp_prune_config_default(c);
    cJSON *root = cJSON_Parse(json);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        return sp_error(SP_ERR_FORMAT, "%s: invalid JSON (malformed or truncated at byte %ld)", origin,
                        at ? (long)(at - json) : -1L);
    }
    int rc = 0;
    if (!cJSON_IsObject(root)) rc = sp_error(SP_ERR_FORMAT, "%s: top level must be a JSON object", origin);
    const cJSON *v;
    for (v = root->child; v && !rc; v = v->next) {
        const char *k = v->string;
        int e;
        if (!strcmp(k, "pattern")) {
            /* "2:4" style is accepted too: it sets n and m */
            int nn, mm;
            char tail;
            if (cJSON_IsString(v) && sscanf(v->valuestring, "%d:%d%c", &nn, &mm, &tail) == 2) {
                c->pattern = SP_PATTERN_NM, c->n = nn, c->m = mm;
            } else if (!(rc = get_enum(v, origin, pattern_names, 3, &e))) {
                c->pattern = (sp_prune_pattern)e;
            }
        } else if (!strcmp(k, "sparsity_ratio")) rc = get_num(v, origin, &c->sparsity_ratio);
        else if (!strcmp(k, "n")) rc = get_int(v, origin, &c->n);
        else if (!strcmp(k, "m")) rc = get_int(v, origin, &c->m);
        else if (!strcmp(k, "block_size")) rc = get_int(v, origin, &c->block_size);
        else if (!strcmp(k, "pruning_method")) {
            if (!(rc = get_enum(v, origin, method_names, 3, &e))) c->method = (sp_prune_method)e;
        } else if (!strcmp(k, "scope")) {
            if (!(rc = get_enum(v, origin, scope_names, 3, &e))) c->scope = (sp_prune_scope)e;
        } else if (!strcmp(k, "layerwise")) {
            if (cJSON_IsNull(v)) c->layerwise = SP_LAYERWISE_NONE;
            else if (!(rc = get_enum(v, origin, layerwise_names, 2, &e))) c->layerwise = (sp_prune_layerwise)e;
        } else if (!strcmp(k, "target_layers")) rc = parse_list(v, k, origin, c->target_layers, sizeof c->target_layers);
        else if (!strcmp(k, "exclude_layers")) rc = parse_list(v, k, origin, c->exclude_layers, sizeof c->exclude_layers);
        else if (!strcmp(k, "calibration_data")) {
            if (cJSON_IsNull(v)) c->calibration_data[0] = 0;
            else if (!cJSON_IsString(v) || strlen(v->valuestring) >= sizeof c->calibration_data)
                rc = sp_error(SP_ERR_ARG, "%s: calibration_data must be a path string", origin);
            else snprintf(c->calibration_data, sizeof c->calibration_data, "%s", v->valuestring);
        } else if (!strcmp(k, "nsamples")) rc = get_int(v, origin, &c->nsamples);
        else if (!strcmp(k, "seqlen")) rc = get_int(v, origin, &c->seqlen);
        else if (!strcmp(k, "owl_lambda")) rc = get_num(v, origin, &c->owl_lambda);
        else if (!strcmp(k, "owl_m")) rc = get_num(v, origin, &c->owl_m);
        else if (!strcmp(k, "sparsegpt_blocksize")) rc = get_int(v, origin, &c->sparsegpt_blocksize);
        else if (!strcmp(k, "percdamp")) rc = get_num(v, origin, &c->percdamp);
        else rc = sp_error(SP_ERR_ARG, "%s: unknown key \"%s\"", origin, k);
    }
    cJSON_Delete(root);
    if (rc) return rc;
    rc = sp_prune_config_validate(c);
    if (rc) {
        char msg[1024];
        const char *e = sp_last_error();
        if (!strncmp(e, "prune config: ", 14)) e += 14;
        snprintf(msg, sizeof msg, "%s", e);
        return sp_error(rc, "%s: %s", origin, msg);
    }
    return 0;
}

int sp_prune_config_load(const char *path, sp_prune_config *c) {
    char *text = NULL;
    int rc = sp_read_file(path, &text, NULL);
    if (rc) return rc;
    rc = sp_prune_config_parse(text, path, c);
    free(text);
    return rc;
}

char *sp_prune_config_to_json(const sp_prune_config *c) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "pattern", sp_prune_pattern_name(c->pattern));
    cJSON_AddNumberToObject(o, "sparsity_ratio", c->pattern == SP_PATTERN_NM ? 1.0 - (double)c->n / c->m : c->sparsity_ratio);
    if (c->pattern == SP_PATTERN_NM) {
        cJSON_AddNumberToObject(o, "n", c->n);
        cJSON_AddNumberToObject(o, "m", c->m);
    }
    if (c->pattern == SP_PATTERN_BLOCK) cJSON_AddNumberToObject(o, "block_size", c->block_size);
    cJSON_AddStringToObject(o, "pruning_method", sp_prune_method_name(c->method));
    cJSON_AddStringToObject(o, "scope", (unsigned)c->scope < 3 ? scope_names[c->scope] : "?");
    cJSON_AddStringToObject(o, "target_layers", c->target_layers);
    cJSON_AddStringToObject(o, "exclude_layers", c->exclude_layers);
    if (c->method != SP_PRUNE_MAGNITUDE || c->layerwise == SP_LAYERWISE_OWL) {
        cJSON_AddStringToObject(o, "calibration_data", c->calibration_data);
        cJSON_AddNumberToObject(o, "nsamples", c->nsamples);
        cJSON_AddNumberToObject(o, "seqlen", c->seqlen);
    }
    cJSON_AddStringToObject(o, "layerwise", (unsigned)c->layerwise < 2 ? layerwise_names[c->layerwise] : "?");
    if (c->layerwise == SP_LAYERWISE_OWL) {
        cJSON_AddNumberToObject(o, "owl_lambda", c->owl_lambda);
        cJSON_AddNumberToObject(o, "owl_m", c->owl_m);
    }
    if (c->method == SP_PRUNE_SPARSEGPT) {
        cJSON_AddNumberToObject(o, "sparsegpt_blocksize", c->sparsegpt_blocksize);
        cJSON_AddNumberToObject(o, "percdamp", c->percdamp);
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

int sp_prune_config_check_layer(const sp_prune_config *c, const char *name, int out, int in) {
    if (!name) name = "(unnamed)";
    if (out <= 0 || in <= 0) return sp_error(SP_ERR_ARG, "layer %s: bad shape (%d, %d)", name, out, in);
    if (c->pattern == SP_PATTERN_NM && in % c->m)
        return sp_error(SP_ERR_ARG, "layer %s: N:M group size m=%d does not divide its %d inputs", name, c->m, in);
    if (c->pattern == SP_PATTERN_BLOCK && (out % c->block_size || in % c->block_size))
        return sp_error(SP_ERR_ARG, "layer %s: block_size %d does not divide its shape (%d, %d)", name,
                        c->block_size, out, in);
    return 0;
}

/* Does any comma-separated item of list (spaces trimmed) occur in name? */
static int list_matches(const char *list, const char *name) {
    const char *p = list;
    while (*p) {
        while (*p == ',' || isspace((unsigned char)*p)) p++;
        const char *e = p;
        while (*e && *e != ',') e++;
        const char *t = e;
        while (t > p && isspace((unsigned char)t[-1])) t--;
        size_t len = (size_t)(t - p);
        if (len) {
            for (const char *s = name; *s; s++)
                if (strncmp(s, p, len) == 0) return 1;
        }
        p = e;
    }
    return 0;
}

int sp_prune_layer_selected(const sp_prune_config *c, const char *name) {
    if (!name) return 0;
    if (list_matches(c->exclude_layers, name)) return 0;
    if (c->target_layers[0] && list_matches(c->target_layers, name)) return 1;
    int has_targets = 0;
    for (const char *p = c->target_layers; *p; p++)
        if (*p != ',' && !isspace((unsigned char)*p)) has_targets = 1;
    if (has_targets) return 0;
    return !(strstr(name, "embed") || strstr(name, "lm_head"));
}
