/* verify.c: sparsity verify MODEL [--json] [--pattern P --sparsity-ratio R --n N --m M --block-size B]
 * Per-layer fraction of zeros of every linear weight; checks N:M / block validity and the
 * target ratio, taken from the flags or else from the model's own pruning metadata. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct {
    char pattern[32];
    double ratio; /* < 0: no target */
    int n, m, block;
} target;

/* Reads the target from the safetensors "sparsity" metadata written by prune, if any. */
static void target_from_meta(cJSON *meta, target *t) {
    cJSON *cfg = meta ? cJSON_GetObjectItem(meta, "config") : NULL, *v;
    if (!cfg) return;
    if ((v = cJSON_GetObjectItem(cfg, "pattern")) && cJSON_IsString(v)) snprintf(t->pattern, sizeof t->pattern, "%s", v->valuestring);
    if ((v = cJSON_GetObjectItem(cfg, "sparsity_ratio")) && cJSON_IsNumber(v)) t->ratio = v->valuedouble;
    if ((v = cJSON_GetObjectItem(cfg, "n")) && cJSON_IsNumber(v)) t->n = v->valueint;
    if ((v = cJSON_GetObjectItem(cfg, "m")) && cJSON_IsNumber(v)) t->m = v->valueint;
    if ((v = cJSON_GetObjectItem(cfg, "block_size")) && cJSON_IsNumber(v)) t->block = v->valueint;
}

/* Per-layer target from metadata "layers": {name: {"target": r}} (OWL ratios, exclusions):
 * r, or -1 for a layer listed without a target (excluded), or dflt when not listed. */
static double layer_target(cJSON *meta, const char *name, double dflt) {
    cJSON *layers = meta ? cJSON_GetObjectItem(meta, "layers") : NULL;
    cJSON *l = layers ? cJSON_GetObjectItem(layers, name) : NULL;
    if (!l) return dflt;
    cJSON *v = cJSON_GetObjectItem(l, "target");
    return v && cJSON_IsNumber(v) ? v->valuedouble : -1.0;
}

int cmd_verify(int argc, char **argv) {
    cli_opt opts[] = {
        {"--json", 0, "print one JSON object", 0},
        {"--pattern", 1, "expected pattern: unstructured | n:m | block (default: from the model's metadata)", 0},
        {"--sparsity-ratio", 1, "expected fraction of zeros per pruned layer", 0},
        {"--n", 1, "N of N:M", 0},
        {"--m", 1, "M of N:M", 0},
        {"--block-size", 1, "block size of the block pattern", 0},
        {0}};
    const char *pos[1];
    int np = cli_parse("verify", "sparsity verify MODEL [--json] [--pattern P --sparsity-ratio R --n N --m M --block-size B]\n\n"
                       "Per-layer sparsity of every linear weight; exits 1 if a pruned layer misses its target\n"
                       "or breaks its N:M / block pattern.", argc, argv, opts, pos, 1);
    if (np != 1) cli_die("verify", "need MODEL (see --help)");
    sp_model *m = sp_model_open(pos[0]);
    if (!m) cli_die("verify", "%s", sp_last_error());
    cJSON *meta = m->weights_meta ? cJSON_Parse(m->weights_meta) : NULL;
    target t = {"", -1.0, 0, 0, 0};
    target_from_meta(meta, &t);
    int flags = cli_get(opts, "--pattern") || cli_get(opts, "--sparsity-ratio");
    if (cli_get(opts, "--pattern")) snprintf(t.pattern, sizeof t.pattern, "%s", cli_get(opts, "--pattern"));
    t.ratio = cli_get_double("verify", opts, "--sparsity-ratio", t.ratio, -1.0, 0.999999);
    t.n = (int)cli_get_long("verify", opts, "--n", t.n, 0, 1 << 16);
    t.m = (int)cli_get_long("verify", opts, "--m", t.m, 0, 1 << 16);
    t.block = (int)cli_get_long("verify", opts, "--block-size", t.block, 0, 1 << 16);
    int is_nm = !strcmp(t.pattern, "n:m"), is_block = !strcmp(t.pattern, "block");
    if (t.pattern[0] && !is_nm && !is_block && strcmp(t.pattern, "unstructured"))
        cli_die("verify", "unknown pattern '%s' (unstructured, n:m, block)", t.pattern);
    if (is_nm && !(t.m > 0 && t.n >= 1 && t.n < t.m)) cli_die("verify", "pattern n:m needs 1 <= n < m (got %d:%d)", t.n, t.m);
    if (is_block && t.block <= 0) cli_die("verify", "pattern block needs --block-size > 0");
    if (is_nm && t.ratio < 0) t.ratio = 1.0 - (double)t.n / t.m;

    int json = cli_get(opts, "--json") != NULL, failures = 0, nl = sp_model_n_linear(m);
    int64_t tz = 0, tn = 0;
    cJSON *jout = cJSON_CreateObject(), *jlayers = cJSON_CreateArray();
    cJSON_AddStringToObject(jout, "model", pos[0]);
    cJSON_AddStringToObject(jout, "pattern", t.pattern);
    cJSON_AddItemToObject(jout, "layers", jlayers);
    if (!json) printf("%-44s %12s %9s %8s  %s\n", "layer", "params", "sparsity", "target", "check");
    for (int i = 0; i < nl; i++) {
        sp_linear *l = sp_model_linear(m, i);
        if (l == &m->lm_head && m->lm_head.w == m->embed) continue; /* tied: the embedding, never pruned */
        sp_layer_stats st;
        sp_layer_stats_compute(l->w, l->out, l->in, is_nm ? t.n : 0, is_nm ? t.m : 0, is_block ? t.block : 0, &st);
        /* Flags override per-layer metadata; lm_head has no target unless the metadata lists one. */
        double tgt = flags ? t.ratio : layer_target(meta, l->name, l == &m->lm_head ? -1.0 : t.ratio);
        const char *why = "-";
        if (tgt >= 0) {
            double nblocks = is_block ? (double)(l->out / t.block) * (l->in / t.block) : 1.0;
            if (is_nm && !st.nm_ok) why = "FAIL: N:M groups exceed n non-zeros";
            else if (is_block && st.block_zero_frac + 1.0 / nblocks + 1e-9 < tgt) why = "FAIL: too few all-zero blocks";
            /* pruners prune floor(ratio * group) per group (at most a row): allow one weight a row */
            else if (st.sparsity + 1.0 / l->in + 1e-9 < tgt) why = "FAIL: below target sparsity";
            else why = "ok";
        }
        failures += why[0] == 'F';
        tz += st.zeros;
        tn += st.numel;
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", l->name);
            int shape[2] = {l->out, l->in};
            cJSON_AddItemToObject(o, "shape", cJSON_CreateIntArray(shape, 2));
            cJSON_AddNumberToObject(o, "zeros", (double)st.zeros);
            cJSON_AddNumberToObject(o, "sparsity", st.sparsity);
            if (tgt >= 0) cJSON_AddNumberToObject(o, "target", tgt);
            else cJSON_AddNullToObject(o, "target");
            if (is_nm) cJSON_AddNumberToObject(o, "nm_bad_groups", (double)st.nm_bad_groups);
            if (is_block) cJSON_AddNumberToObject(o, "block_zero_frac", st.block_zero_frac);
            cJSON_AddBoolToObject(o, "ok", why[0] != 'F');
            cJSON_AddItemToArray(jlayers, o);
        } else if (tgt >= 0) {
            printf("%-44s %12lld %8.2f%% %7.2f%%  %s\n", l->name, (long long)st.numel, 100 * st.sparsity, 100 * tgt, why);
        } else {
            printf("%-44s %12lld %8.2f%% %8s  %s\n", l->name, (long long)st.numel, 100 * st.sparsity, "-", why);
        }
    }
    double avg = tn ? (double)tz / (double)tn : 0.0;
    if (json) {
        cJSON_AddNumberToObject(jout, "avg_sparsity", avg);
        cJSON_AddNumberToObject(jout, "failures", failures);
        cJSON_AddBoolToObject(jout, "ok", failures == 0);
        char *txt = cJSON_Print(jout);
        printf("%s\n", txt);
        cJSON_free(txt);
    } else {
        printf("average sparsity of linear weights: %.2f%%; %d layer(s) failed\n", 100 * avg, failures);
    }
    cJSON_Delete(jout);
    cJSON_Delete(meta);
    sp_model_free(m);
    return failures ? 1 : 0;
}
