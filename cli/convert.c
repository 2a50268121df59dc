/* convert.c: sparsity convert MODEL.gguf OUT_DIR */
#include <stdio.h>

#include "cli.h"

int cmd_convert(int argc, char **argv) {
    cli_opt opts[] = {{0}};
    const char *pos[2];
    int np = cli_parse("convert", "sparsity convert MODEL.gguf OUT_DIR\n\n"
                       "Dequantizes a GGUF (llama/qwen2) model to f32 and writes a Hugging Face style folder:\n"
                       "config.json, model.safetensors, tokenizer.json. OUT_DIR is replaced atomically.",
                       argc, argv, opts, pos, 2);
    if (np != 2) cli_die("convert", "need MODEL.gguf and OUT_DIR (see --help)");
    double t0 = sp_time();
    sp_model *m = sp_model_from_gguf(pos[0]);
    if (!m) cli_die("convert", "%s", sp_last_error());
    if (sp_model_save(m, pos[1], NULL)) cli_die("convert", "%s", sp_last_error());
    printf("wrote %s: %s, %d layers, dim %d, vocab %d (%.1fs)\n", pos[1], m->cfg.arch, m->cfg.n_layers, m->cfg.dim,
           m->cfg.vocab_size, sp_time() - t0);
    sp_model_free(m);
    return 0;
}
