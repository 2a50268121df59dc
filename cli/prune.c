/* prune.c: sparsity prune --model DIR --out DIR [pattern/method flags] [--config FILE.json]
 * Flags and the JSON config share names (dashes vs underscores); flags override the file.
 * Both are merged into one JSON object and parsed once, so validation lives in one place. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "sparsity_prune.h"

int cmd_prune(int argc, char **argv) {
    cli_opt opts[] = {
        {"--model", 1, "input model folder or .gguf", 0},
        {"--out", 1, "output model folder (written atomically)", 0},
        {"--pattern", 1, "unstructured | n:m | block (default unstructured)", 0},
        {"--sparsity-ratio", 1, "fraction of weights pruned, [0,1) (default 0.5; n:m implies 1-n/m)", 0},
        {"--n", 1, "N of N:M: kept per group (default 2)", 0},
        {"--m", 1, "M of N:M: group size (default 4)", 0},
        {"--block-size", 1, "B of the B x B block pattern (default 16)", 0},
        {"--method", 1, "magnitude | wanda | sparsegpt (default wanda)", 0},
        {"--target-layers", 1, "comma list of layer name patterns to prune (default: all linears but lm_head)", 0},
        {"--exclude-layers", 1, "comma list of layer name patterns to keep dense", 0},
        {"--calib", 1, "calibration text file (wanda, sparsegpt, owl)", 0},
        {"--nsamples", 1, "calibration windows (default 128)", 0},
        {"--seqlen", 1, "tokens per calibration window (default 2048)", 0},
        {"--layerwise", 1, "none | owl (outlier-weighted per-block ratios)", 0},
        {"--config", 1, "JSON config file with the same names (underscores); flags override it", 0},
        {0}};
    cli_parse("prune", "sparsity prune --model DIR --out DIR --pattern unstructured|n:m|block --sparsity-ratio R\n"
              "       --n N --m M --block-size B --method magnitude|wanda|sparsegpt --target-layers LIST\n"
              "       --exclude-layers LIST --calib FILE --nsamples K --seqlen L [--layerwise owl] [--config FILE.json]",
              argc, argv, opts, NULL, 0);
    const char *model = cli_get(opts, "--model"), *out = cli_get(opts, "--out");
    if (!model || !out) cli_die("prune", "--model and --out are required (see --help)");

    cJSON *j = NULL;
    const char *cfgpath = cli_get(opts, "--config");
    if (cfgpath) {
        char *txt;
        if (sp_read_file(cfgpath, &txt, NULL)) cli_die("prune", "%s", sp_last_error());
        j = cJSON_Parse(txt);
        free(txt);
        if (!cJSON_IsObject(j)) cli_die("prune", "%s: not a JSON object", cfgpath);
    } else {
        j = cJSON_CreateObject();
    }
    static const struct { const char *flag, *key; int num; } map[] = {
        {"--pattern", "pattern", 0}, {"--sparsity-ratio", "sparsity_ratio", 1}, {"--n", "n", 1}, {"--m", "m", 1},
        {"--block-size", "block_size", 1}, {"--method", "pruning_method", 0}, {"--target-layers", "target_layers", 0},
        {"--exclude-layers", "exclude_layers", 0}, {"--calib", "calibration_data", 0}, {"--nsamples", "nsamples", 1},
        {"--seqlen", "seqlen", 1}, {"--layerwise", "layerwise", 0}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        const char *v = cli_get(opts, map[i].flag);
        if (!v) continue;
        cJSON_DeleteItemFromObject(j, map[i].key);
        if (map[i].num) cJSON_AddNumberToObject(j, map[i].key, cli_get_double("prune", opts, map[i].flag, 0, -1e9, 1e9));
        else cJSON_AddStringToObject(j, map[i].key, v);
    }
    /* n:m given without an explicit ratio: the ratio is implied. */
    cJSON *pat = cJSON_GetObjectItem(j, "pattern");
    if (pat && cJSON_IsString(pat) && !strcmp(pat->valuestring, "n:m") && !cJSON_GetObjectItem(j, "sparsity_ratio")) {
        cJSON *n = cJSON_GetObjectItem(j, "n"), *m = cJSON_GetObjectItem(j, "m");
        double nn = n ? n->valuedouble : 2, mm = m ? m->valuedouble : 4;
        if (mm > 0 && nn >= 0 && nn < mm) cJSON_AddNumberToObject(j, "sparsity_ratio", 1.0 - nn / mm);
    }
    char *merged = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    sp_prune_config c;
    if (sp_prune_config_parse(merged, cfgpath ? cfgpath : "command line", &c)) cli_die("prune", "%s", sp_last_error());
    free(merged);
    if (c.calibration_data[0] && access(c.calibration_data, R_OK) != 0)
        cli_die("prune", "%s: calibration file not readable", c.calibration_data);

    double t0 = sp_time();
    sp_model *m = sp_model_open(model);
    if (!m) cli_die("prune", "%s", sp_last_error());
    if (sp_prune_model_check(m, &c)) cli_die("prune", "%s", sp_last_error());
    fprintf(stderr, "pruning %s: %s %s ratio %.3f%s\n", model, sp_prune_method_name(c.method), sp_prune_pattern_name(c.pattern),
            c.sparsity_ratio, c.layerwise == SP_LAYERWISE_OWL ? " (OWL per-block ratios)" : "");
    char *meta = NULL;
    if (sp_prune_model(m, &c, &meta)) cli_die("prune", "%s", sp_last_error());
    double t_prune = sp_time() - t0;
    if (sp_model_save(m, out, meta)) cli_die("prune", "%s", sp_last_error());
    printf("wrote %s: pruned in %.1fs, peak RSS %.0f MiB (details in %s/sparsity.json)\n", out, t_prune,
           sp_peak_rss() / 1048576.0, out);
    free(meta);
    sp_model_free(m);
    return 0;
}
