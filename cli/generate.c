/* generate.c: sparsity generate --model M --prompt TEXT [-n N]  (greedy decoding) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_generate(int argc, char **argv) {
    cli_opt opts[] = {
        {"--model", 1, "model folder or .gguf file", 0},
        {"--prompt", 1, "prompt text", 0},
        {"-n", 1, "tokens to generate (default 64)", 0},
        {"--chat", 0, "wrap the prompt in the model's chat template (<|im_start|>user ...)", 0},
        {0}};
    cli_parse("generate", "sparsity generate --model M --prompt TEXT [-n N] [--chat]\n\nGreedy generation; "
              "prefill and decode speed go to stderr.", argc, argv, opts, NULL, 0);
    const char *model = cli_get(opts, "--model"), *prompt = cli_get(opts, "--prompt");
    if (!model || !prompt) cli_die("generate", "--model and --prompt are required (see --help)");
    int ngen = (int)cli_get_long("generate", opts, "-n", 64, 0, 1 << 20);
    sp_model *m = sp_model_open(model);
    if (!m) cli_die("generate", "%s", sp_last_error());
    char *text = NULL;
    if (cli_get(opts, "--chat")) {
        size_t L = strlen(prompt) + 128;
        text = malloc(L);
        snprintf(text, L, "<|im_start|>user\n%s<|im_end|>\n<|im_start|>assistant\n", prompt);
    } else {
        text = strdup(prompt);
    }
    int32_t *ids;
    size_t n;
    if (sp_tokenizer_encode(m->tok, text, strlen(text), &ids, &n)) cli_die("generate", "%s", sp_last_error());
    if (n == 0) cli_die("generate", "the prompt encodes to no tokens");
    int max_ctx = (int)n + ngen;
    sp_state *s = sp_state_new(m, max_ctx, (int)n);
    float *logits = malloc((size_t)m->cfg.vocab_size * sizeof(float));
    if (!s || !logits) cli_die("generate", "%s", sp_last_error());
    fwrite(text, 1, strlen(text), stdout);
    double t0 = sp_time();
    if (sp_forward(m, s, ids, (int)n, logits, 0)) cli_die("generate", "%s", sp_last_error());
    double t_prefill = sp_time() - t0, t1 = sp_time();
    int produced = 0;
    for (; produced < ngen; produced++) {
        int32_t best = 0;
        for (int i = 1; i < m->cfg.vocab_size; i++)
            if (logits[i] > logits[best]) best = i;
        if (best == m->cfg.eos_id) break;
        size_t len;
        const char *piece = sp_tokenizer_decode(m->tok, best, &len);
        if (piece) fwrite(piece, 1, len, stdout);
        fflush(stdout);
        if (produced + 1 < ngen && sp_forward(m, s, &best, 1, logits, 0)) cli_die("generate", "%s", sp_last_error());
    }
    double t_dec = sp_time() - t1;
    printf("\n");
    fprintf(stderr, "prompt %zu tokens: prefill %.1f ms (%.1f tok/s); generated %d tokens: %.1f tok/s (%.2f ms/token)\n",
            n, t_prefill * 1e3, n / t_prefill, produced, produced / (t_dec > 0 ? t_dec : 1), produced ? t_dec * 1e3 / produced : 0.0);
    free(logits);
    free(ids);
    free(text);
    sp_state_free(s);
    sp_model_free(m);
    return 0;
}
