/* pack.c: sparsity pack MODEL OUT --format auto|csr|coo|bsr|nm|bitmap|dense [--dtype f32|bf16|f16] [--json]
 * Writes a packed checkpoint (sparsity_pack.h) and prints per layer the stored format,
 * its bytes and the ratio to the same layer dense in the same dtype. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "sparsity_pack.h"

static sp_dtype parse_dtype(const char *s) {
    if (!s || !strcmp(s, "f32")) return SP_DTYPE_F32;
    if (!strcmp(s, "bf16")) return SP_DTYPE_BF16;
    if (!strcmp(s, "f16")) return SP_DTYPE_F16;
    cli_die("pack", "--dtype: '%s' is not f32, bf16 or f16", s);
}

static void parse_block(const char *s, sp_fmt_params *p) {
    if (!s) return;
    char x;
    if (sscanf(s, "%d%c%d", &p->br, &x, &p->bc) != 3 || x != 'x' || p->br <= 0 || p->bc <= 0 || p->br > 4096 || p->bc > 4096)
        cli_die("pack", "--block: '%s' is not ROWSxCOLS (e.g. 4x16)", s);
}

int cmd_pack(int argc, char **argv) {
    cli_opt opts[] = {
        {"--format", 1, "auto (smallest per layer) | csr | coo | bsr | nm | 2:4 | bitmap | dense (default auto)", 0},
        {"--dtype", 1, "value dtype of every stored tensor: f32 | bf16 | f16 (default f32)", 0},
        {"--block", 1, "BSR block ROWSxCOLS (default 4x16)", 0},
        {"--n", 1, "N of N:M for --format nm (default: detected per layer: 2:4, then n:8, n:16)", 0},
        {"--m", 1, "M of N:M", 0},
        {"--json", 0, "print one JSON object", 0},
        {0}};
    const char *pos[2];
    int np = cli_parse("pack", "sparsity pack MODEL OUT [--format auto|csr|coo|bsr|nm|bitmap|dense] [--dtype f32|bf16|f16] [--json]\n\n"
                       "Stores every block linear weight compressed (bitmap and 2:4 in the compressed-tensors\n"
                       "sparse-bitmask / sparse-24-bitmask layouts); embeddings, norms and lm_head stay dense.\n"
                       "Every command loads the result like any model folder.", argc, argv, opts, pos, 2);
    if (np != 2) cli_die("pack", "need MODEL and OUT (see --help)");
    sp_pack_opts o = {SP_FMT_AUTO, parse_dtype(cli_get(opts, "--dtype")), {0, 0, 0, 0}};
    const char *fs = cli_get(opts, "--format");
    if (fs) {
        int f = strcmp(fs, "auto") ? sp_fmt_from_name(fs) : SP_FMT_AUTO;
        if (f < SP_FMT_AUTO) cli_die("pack", "--format: %s", sp_last_error());
        o.fmt = (sp_fmt)f;
        if (!strcmp(fs, "2:4") || !strcmp(fs, "24")) o.params.n = 2, o.params.m = 4;
    }
    parse_block(cli_get(opts, "--block"), &o.params);
    if (cli_get(opts, "--n") || cli_get(opts, "--m")) {
        o.params.n = (int)cli_get_long("pack", opts, "--n", 0, 1, 255);
        o.params.m = (int)cli_get_long("pack", opts, "--m", 0, 2, 256);
        if (o.params.n >= o.params.m) cli_die("pack", "--n %d --m %d: need n < m", o.params.n, o.params.m);
    }
    sp_model *m = sp_model_open(pos[0]);
    if (!m) cli_die("pack", "%s", sp_last_error());
    sp_pack_report r;
    if (sp_model_pack(m, pos[1], &o, m->weights_meta, &r)) cli_die("pack", "%s", sp_last_error());

    const char *dt = o.dtype == SP_DTYPE_F32 ? "f32" : o.dtype == SP_DTYPE_BF16 ? "bf16" : "f16";
    if (cli_get(opts, "--json")) {
        cJSON *j = cJSON_CreateObject(), *ls = cJSON_CreateArray();
        cJSON_AddStringToObject(j, "model", pos[0]);
        cJSON_AddStringToObject(j, "out", pos[1]);
        cJSON_AddStringToObject(j, "format", fs ? fs : "auto");
        cJSON_AddStringToObject(j, "dtype", dt);
        cJSON_AddItemToObject(j, "layers", ls);
        for (int i = 0; i < r.n_layers; i++) {
            const sp_pack_layer *l = &r.layers[i];
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "name", l->name);
            cJSON_AddStringToObject(e, "format", l->format);
            int shp[2] = {l->rows, l->cols};
            cJSON_AddItemToObject(e, "shape", cJSON_CreateIntArray(shp, 2));
            cJSON_AddNumberToObject(e, "bytes", (double)l->bytes);
            cJSON_AddNumberToObject(e, "dense_bytes", (double)l->dense_bytes);
            cJSON_AddNumberToObject(e, "ratio", (double)l->bytes / (double)l->dense_bytes);
            cJSON_AddItemToArray(ls, e);
        }
        cJSON_AddNumberToObject(j, "tensor_bytes", (double)r.tensor_bytes);
        cJSON_AddNumberToObject(j, "dense_tensor_bytes", (double)r.dense_tensor_bytes);
        cJSON_AddNumberToObject(j, "file_bytes", (double)r.file_bytes);
        cJSON_AddNumberToObject(j, "ratio", (double)r.tensor_bytes / (double)r.dense_tensor_bytes);
        if (r.ct_format[0]) cJSON_AddStringToObject(j, "compressed_tensors_format", r.ct_format);
        else cJSON_AddNullToObject(j, "compressed_tensors_format");
        char *txt = cJSON_Print(j);
        printf("%s\n", txt);
        cJSON_free(txt);
        cJSON_Delete(j);
    } else {
        printf("%-40s %-18s %12s %12s %7s\n", "layer", "format", "bytes", "dense", "ratio");
        for (int i = 0; i < r.n_layers; i++) {
            const sp_pack_layer *l = &r.layers[i];
            char f[40];
            if (l->m) snprintf(f, sizeof f, "%s %d:%d", l->format, l->n, l->m);
            else if (l->br) snprintf(f, sizeof f, "%s %dx%d", l->format, l->br, l->bc);
            else snprintf(f, sizeof f, "%s", l->format);
            printf("%-40s %-18s %12zu %12zu %7.3f\n", l->name, f, l->bytes, l->dense_bytes,
                   (double)l->bytes / (double)l->dense_bytes);
        }
        printf("all tensors: %zu bytes vs %zu dense %s (%.3f); model.safetensors %zu bytes\n", r.tensor_bytes,
               r.dense_tensor_bytes, dt, (double)r.tensor_bytes / (double)r.dense_tensor_bytes, r.file_bytes);
        if (r.ct_format[0]) printf("config.json: compressed-tensors %s\n", r.ct_format);
    }
    sp_pack_report_free(&r);
    sp_model_free(m);
    return 0;
}
