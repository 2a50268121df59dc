/* bench.c: sparsity bench --model SPARSE [--baseline DENSE] [--prompt-tokens P] [--gen-tokens G]
 * TTFT and TPOT of the sparse model against a dense baseline in the same process: the
 * baseline is --baseline bound to dense kernels, or else the same weights bound dense.
 * With --gpu the whole model runs on the GPU instead (cli/bench_gpu.c). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "sparsity_bench.h"

int cmd_bench(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--gpu")) return cmd_bench_gpu(argc, argv); /* whole model on the GPU */
    cli_opt opts[] = {
        {"--model", 1, "sparse model folder (or .gguf)", 0},
        {"--baseline", 1, "dense model to compare against (default: the same weights on dense kernels)", 0},
        {"--prompt-tokens", 1, "prefill length for TTFT (default 128)", 0},
        {"--gen-tokens", 1, "decode steps for TPOT (default 32)", 0},
        {"--reps", 1, "repetitions, median reported (default 5)", 0},
        {"--format", 1, "auto | dense | csr | coo | bsr | bitmap | nm (default auto: chosen per layer)", 0},
        {"--dtype", 1, "weight value type for both models: f32 | bf16 | f16 (default bf16)", 0},
        {"--json", 0, "print one JSON object", 0},
        {"--gpu", 0, "whole model on the GPU instead (see sparsity bench --gpu --help)", 0},
        {0}};
    cli_parse("bench", "sparsity bench --model SPARSE [--baseline DENSE] [--prompt-tokens P] [--gen-tokens G] [--reps R]\n"
              "       [--format auto|dense|csr|coo|bsr|bitmap|nm] [--dtype f32|bf16|f16] [--json]",
              argc, argv, opts, NULL, 0);
    const char *model = cli_get(opts, "--model"), *base = cli_get(opts, "--baseline");
    if (!model) cli_die("bench", "--model is required (see --help)");
    sp_bench_opts o = {
        .prompt_tokens = (int)cli_get_long("bench", opts, "--prompt-tokens", 128, 1, 8192),
        .gen_tokens = (int)cli_get_long("bench", opts, "--gen-tokens", 32, 1, 8192),
        .reps = (int)cli_get_long("bench", opts, "--reps", 5, 1, 1000),
        .fmt = SP_FMT_AUTO,
        .vals = SP_DTYPE_BF16,
    };
    const char *f = cli_get(opts, "--format"), *dt = cli_get(opts, "--dtype");
    if (f && (int)(o.fmt = (sp_fmt)sp_fmt_from_name(f)) < SP_FMT_AUTO) cli_die("bench", "--format: unknown format '%s'", f);
    if (dt) {
        if (!strcmp(dt, "f32")) o.vals = SP_DTYPE_F32;
        else if (!strcmp(dt, "bf16")) o.vals = SP_DTYPE_BF16;
        else if (!strcmp(dt, "f16")) o.vals = SP_DTYPE_F16;
        else cli_die("bench", "--dtype: '%s' is not f32, bf16 or f16", dt);
    }
    sp_model *m = sp_model_open(model);
    if (!m) cli_die("bench", "%s", sp_last_error());
    sp_bench_result rb, rs;
    sp_bench_opts ob = o;
    ob.fmt = SP_FMT_DENSE;
    if (base) {
        sp_model *b = sp_model_open(base);
        if (!b) cli_die("bench", "%s", sp_last_error());
        if (b->cfg.dim != m->cfg.dim || b->cfg.n_layers != m->cfg.n_layers || b->cfg.hidden_dim != m->cfg.hidden_dim)
            cli_die("bench", "%s and %s do not have the same shapes", base, model);
        if (sp_bench_run(b, &ob, &rb)) cli_die("bench", "%s", sp_last_error());
        sp_model_free(b);
    } else if (sp_bench_run(m, &ob, &rb)) {
        cli_die("bench", "%s", sp_last_error());
    }
    if (sp_bench_run(m, &o, &rs)) cli_die("bench", "%s", sp_last_error());

    cJSON *j = cJSON_CreateObject(), *kern = cJSON_CreateArray();
    cJSON_AddStringToObject(j, "model", model);
    cJSON_AddStringToObject(j, "baseline", base ? base : "same weights, dense kernels");
    cJSON_AddStringToObject(j, "dtype", sp_dtype_name(o.vals));
    cJSON_AddNumberToObject(j, "prompt_tokens", o.prompt_tokens);
    cJSON_AddNumberToObject(j, "gen_tokens", o.gen_tokens);
    cJSON_AddNumberToObject(j, "reps", o.reps);
    cJSON_AddNumberToObject(j, "ttft_ms", rs.ttft_ms);
    cJSON_AddNumberToObject(j, "tpot_ms", rs.tpot_ms);
    cJSON_AddNumberToObject(j, "baseline_ttft_ms", rb.ttft_ms);
    cJSON_AddNumberToObject(j, "baseline_tpot_ms", rb.tpot_ms);
    cJSON_AddNumberToObject(j, "speedup_prefill", rb.ttft_ms / rs.ttft_ms);
    cJSON_AddNumberToObject(j, "speedup_decode", rb.tpot_ms / rs.tpot_ms);
    cJSON_AddNumberToObject(j, "weight_bytes", (double)rs.weight_bytes);
    cJSON_AddNumberToObject(j, "baseline_weight_bytes", (double)rb.weight_bytes);
    cJSON_AddNumberToObject(j, "memory_saving", 1.0 - (double)rs.weight_bytes / (double)rb.weight_bytes);
    cJSON_AddNumberToObject(j, "avg_sparsity", rs.avg_sparsity);
    cJSON_AddNumberToObject(j, "peak_rss_bytes", (double)sp_peak_rss());
    for (int b = 0; b < m->cfg.n_layers; b++)
        for (int k = 0; k < SP_N_LINEAR; k++) {
            const sp_linear *l = &m->blocks[b].lin[k];
            cJSON *o2 = cJSON_CreateObject();
            cJSON_AddStringToObject(o2, "layer", l->name);
            cJSON_AddStringToObject(o2, "kernel", l->kernel_name ? l->kernel_name : "dense-f32-openblas");
            cJSON_AddStringToObject(o2, "why", l->kernel_why ? l->kernel_why : "unbound");
            cJSON_AddItemToArray(kern, o2);
        }
    cJSON_AddItemToObject(j, "kernels_decode", kern);
    if (cli_get(opts, "--json")) {
        char *txt = cJSON_Print(j);
        printf("%s\n", txt);
        cJSON_free(txt);
    } else {
        printf("%-10s %12s %12s %14s\n", "", "TTFT ms", "TPOT ms", "weights MiB");
        printf("%-10s %12.2f %12.3f %14.1f\n", "dense", rb.ttft_ms, rb.tpot_ms, rb.weight_bytes / 1048576.0);
        printf("%-10s %12.2f %12.3f %14.1f\n", "sparse", rs.ttft_ms, rs.tpot_ms, rs.weight_bytes / 1048576.0);
        printf("speedup prefill %.2fx, decode %.2fx; memory saving %.1f%%; avg sparsity %.1f%%; %s values, P=%d G=%d, "
               "median of %d\n", rb.ttft_ms / rs.ttft_ms, rb.tpot_ms / rs.tpot_ms,
               100.0 * (1.0 - (double)rs.weight_bytes / (double)rb.weight_bytes), 100 * rs.avg_sparsity,
               sp_dtype_name(o.vals), o.prompt_tokens, o.gen_tokens, o.reps);
        printf("decode kernels (first block; --json lists all):\n");
        for (int k = 0; k < SP_N_LINEAR; k++)
            printf("  %-34s %-28s %s\n", m->blocks[0].lin[k].name, m->blocks[0].lin[k].kernel_name,
                   m->blocks[0].lin[k].kernel_why);
    }
    cJSON_Delete(j);
    sp_model_free(m);
    return 0;
}
