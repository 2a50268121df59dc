/* dump_logits MODEL OUT.f32 CHUNK ID...  runs the ids through the model CHUNK tokens per
 * forward call (1 = the decode path through the KV cache) and writes (n, vocab) f32 logits. */
#include <stdio.h>
#include <stdlib.h>

#include "sparsity.h"

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: dump_logits MODEL OUT.f32 CHUNK ID...\n"); return 2; }
    int n = argc - 4, chunk = atoi(argv[3]);
    sp_model *m = sp_model_open(argv[1]);
    if (!m) { fprintf(stderr, "dump_logits: %s\n", sp_last_error()); return 1; }
    int32_t *ids = malloc(n * sizeof *ids);
    float *lg = malloc((size_t)n * m->cfg.vocab_size * sizeof(float));
    for (int i = 0; i < n; i++) ids[i] = atoi(argv[4 + i]);
    sp_state *s = sp_state_new(m, n, chunk);
    if (!s) { fprintf(stderr, "dump_logits: %s\n", sp_last_error()); return 1; }
    for (int p = 0; p < n; p += chunk) {
        int k = n - p < chunk ? n - p : chunk;
        if (sp_forward(m, s, ids + p, k, lg + (size_t)p * m->cfg.vocab_size, 1)) {
            fprintf(stderr, "dump_logits: %s\n", sp_last_error());
            return 1;
        }
    }
    FILE *f = fopen(argv[2], "wb");
    fwrite(lg, sizeof(float), (size_t)n * m->cfg.vocab_size, f);
    fclose(f);
    free(ids); free(lg);
    sp_state_free(s);
    sp_model_free(m);
    return 0;
}
