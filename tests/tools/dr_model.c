/* dr_model: delta rows' device layouts for the 2-D linears of a real checkpoint, on the host (no
 * GPU): bytes by the upload rule with the rows in the weight's order (SP_DR_SORT=0) and by the
 * whole rule (rows in length order where that saves 20%), with 5-bit deltas by weight
 * (SP_DR_D5=1) and by row (SP_DR_D5=2), and sp_cuda_delta_rows_check (the layout decoded back as
 * the kernel reads it) with 5-bit deltas by row on every weight.
 *   dr_model FILE.safetensors [SMS]   (SMS: the device's SMs the plans assume, default 132)
 * Embeddings and lm_head are skipped (not linears the decode runs through delta rows); f32 and
 * f16 weights are rounded to bf16 as an upload would. One line a weight, a total line last; exit
 * 1 if a check fails or the backend is missing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sparsity.h"
#include "sparsity_cuda.h"

/* the weight as bf16 bits, or NULL for a dtype an upload does not take */
static uint16_t *as_bf16(const sp_st_tensor *t, size_t n) {
    uint16_t *d = malloc(n * 2);
    if (!d) return NULL;
    const uint16_t *h = t->data;
    const float *f = t->data;
    for (size_t i = 0; i < n; i++)
        d[i] = t->dtype == SP_DTYPE_BF16 ? h[i] : sp_f32_to_bf16(t->dtype == SP_DTYPE_F32 ? f[i] : sp_f16_to_f32(h[i]));
    return d;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: dr_model FILE.safetensors [SMS]\n"); return 2; }
    const int sms = argc > 2 ? atoi(argv[2]) : 132;
    sp_st *st = sp_st_open(argv[1]);
    if (!st) { fprintf(stderr, "dr_model: %s\n", sp_last_error()); return 1; }
    double mb[4] = {0, 0, 0, 0};
    long rows = 0, rows5 = 0;
    int n = 0, whole5 = 0, bad = 0, sorted[4] = {0, 0, 0, 0};
    printf("| weight | out x in | weight order MB | rule MB | D5=1 MB | D5=2 MB | rows 5-bit | check |\n|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < sp_st_n_tensors(st); i++) {
        const sp_st_tensor *t = sp_st_tensor_at(st, i);
        if (t->ndim != 2 || strstr(t->name, "embed") || strstr(t->name, "lm_head") ||
            (t->dtype != SP_DTYPE_F32 && t->dtype != SP_DTYPE_BF16 && t->dtype != SP_DTYPE_F16) || t->shape[1] % 16)
            continue;
        const int out = (int)t->shape[0], in = (int)t->shape[1];
        uint16_t *d = as_bf16(t, (size_t)out * in);
        if (!d) { fprintf(stderr, "dr_model: out of memory\n"); return 1; }
        size_t b[4];
        const char *p = NULL;
        int five = 0, r5 = 0, r = out, rc = 0, srt[4] = {0, 0, 0, 0};
        for (int m = 0; m < 4 && !rc; m++) { /* weight order, the rule, SP_DR_D5=1, SP_DR_D5=2 */
            if (m == 0) setenv("SP_DR_SORT", "0", 1);
            else unsetenv("SP_DR_SORT");
            if (m >= 2) setenv("SP_DR_D5", m == 2 ? "1" : "2", 1);
            p = sp_cuda_delta_rows_plan(out, in, d, sms, NULL, &b[m]);
            if (!p) rc = 1;
            else srt[m] = strstr(p, "rows in length order") != NULL;
            if (p && m == 2) five = strstr(p, ", 5-bit deltas (") != NULL;
            else if (p && m == 3 && strstr(p, ", 5-bit deltas in ")) sscanf(strstr(p, ", 5-bit deltas in "), ", 5-bit deltas in %d of %d", &r5, &r);
        }
        if (!rc) rc = sp_cuda_delta_rows_check(out, in, d, sms, NULL); /* SP_DR_D5=2 still set, the order by the rule */
        unsetenv("SP_DR_D5");
        free(d);
        if (!p) { fprintf(stderr, "dr_model: %s\n", sp_last_error()); sp_st_free(st); return 1; }
        bad += rc != 0;
        for (int m = 0; m < 4; m++) mb[m] += b[m] * 1e-6, sorted[m] += srt[m];
        n++, whole5 += five, rows += out, rows5 += r5;
        printf("| %s | %dx%d | %.2f | %.2f%s | %.2f%s%s | %.2f%s | %d of %d | %s |\n", t->name, out, in, b[0] * 1e-6, b[1] * 1e-6,
               srt[1] ? " (sorted)" : "", b[2] * 1e-6, five ? " (5-bit)" : "", srt[2] ? " (sorted)" : "", b[3] * 1e-6, srt[3] ? " (sorted)" : "",
               r5, out, rc ? sp_last_error() : "exact");
    }
    sp_st_free(st);
    printf("\n%d weights, %d SMs: weight order %.1f MB; rule %.1f MB (%d weights in length order), SP_DR_D5=1 %.1f MB (%d weights 5-bit, "
           "%d in length order), SP_DR_D5=2 %.1f MB (%ld of %ld rows 5-bit, %d weights in length order); host decode check %s\n", n, sms, mb[0],
           mb[1], sorted[1], mb[2], whole5, sorted[2], mb[3], rows5, rows, sorted[3], bad ? "FAILED" : "exact on every weight");
    return bad != 0;
}
