/* eval.c: sparsity eval --model M --data FILE [--ctx 2048] [--max-tokens N] [--json] */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

int cmd_eval(int argc, char **argv) {
    cli_opt opts[] = {
        {"--model", 1, "model folder or .gguf file", 0},
        {"--data", 1, "UTF-8 text file to score", 0},
        {"--ctx", 1, "window length in tokens (default 2048)", 0},
        {"--max-tokens", 1, "score only the first N tokens of the text (default: all)", 0},
        {"--json", 0, "print one JSON object instead of text", 0},
        {0}};
    cli_parse("eval", "sparsity eval --model M --data FILE [--ctx 2048] [--max-tokens N] [--json]\n\n"
              "Perplexity over non-overlapping windows of --ctx tokens (the SparseGPT/Wanda protocol).",
              argc, argv, opts, NULL, 0);
    const char *model = cli_get(opts, "--model"), *data = cli_get(opts, "--data");
    if (!model || !data) cli_die("eval", "--model and --data are required (see --help)");
    int ctx = (int)cli_get_long("eval", opts, "--ctx", 2048, 2, 1 << 20);
    long max_tokens = cli_get_long("eval", opts, "--max-tokens", 0, 0, 1L << 40);
    char *text;
    size_t len;
    if (sp_read_file(data, &text, &len)) cli_die("eval", "%s", sp_last_error());
    if (len == 0) cli_die("eval", "%s: file is empty", data);
    sp_model *m = sp_model_open(model);
    if (!m) cli_die("eval", "%s", sp_last_error());
    if (ctx > m->cfg.max_seq_len)
        fprintf(stderr, "sparsity eval: warning: ctx %d exceeds the model's trained context %d\n", ctx, m->cfg.max_seq_len);
    int32_t *ids;
    size_t n;
    double t0 = sp_time();
    if (sp_tokenizer_encode(m->tok, text, len, &ids, &n)) cli_die("eval", "%s: %s", data, sp_last_error());
    double t_tok = sp_time() - t0;
    free(text);
    sp_ppl_result r;
    if (sp_eval_perplexity(m, ids, (int64_t)n, ctx, max_tokens, 1, &r)) cli_die("eval", "%s", sp_last_error());
    if (cli_get(opts, "--json"))
        printf("{\"model\": \"%s\", \"data\": \"%s\", \"ctx\": %d, \"text_tokens\": %zu, \"windows\": %d, "
               "\"scored_tokens\": %lld, \"nll\": %.6f, \"ppl\": %.6f, \"seconds\": %.3f, \"tokens_per_s\": %.2f, "
               "\"peak_rss_bytes\": %zu}\n",
               model, data, ctx, n, r.n_windows, (long long)r.n_tokens, r.nll, r.ppl, r.seconds, r.tokens_per_s,
               sp_peak_rss());
    else
        printf("text tokens %zu (tokenized in %.2fs)\nwindows %d x %d tokens, scored %lld\nppl %.4f  (nll %.5f)\n"
               "%.1f tokens/s, %.1fs, peak RSS %.0f MiB\n",
               n, t_tok, r.n_windows, ctx, (long long)r.n_tokens, r.ppl, r.nll, r.tokens_per_s, r.seconds,
               sp_peak_rss() / 1048576.0);
    free(ids);
    sp_model_free(m);
    return 0;
}
