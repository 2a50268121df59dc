/* prune_tool: drives the pruners on raw files for tests/py/test_prune.py.
 *   prune_tool prune w=W.f32 out=O in=I [x=X.f32 ntok=T] method=M pattern=P ratio=R
 *              [n= m= block= scope= blocksize= percdamp= override=] wout=OUT.f32 mask=MASK.u8
 *   prune_tool outlier owlm=5 layer=W.f32:X.f32:out:in:ntok [layer=...]   -> prints D
 *   prune_tool owl target=0.5 lambda=0.08 d=D0 [d=D1 ...]                  -> prints ratios
 * W is raw f32 (out, in), X raw f32 (ntok, in); the mask is raw uint8 (1 = kept). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sparsity_prune.h"

static void die(const char *msg) {
    fprintf(stderr, "prune_tool: %s\n", msg);
    exit(1);
}

static const char *arg(int argc, char **argv, const char *key, const char *def) {
    size_t k = strlen(key);
    for (int i = 2; i < argc; i++)
        if (!strncmp(argv[i], key, k) && argv[i][k] == '=') return argv[i] + k + 1;
    if (!def) {
        fprintf(stderr, "prune_tool: missing %s=\n", key);
        exit(2);
    }
    return def;
}

static float *read_f32(const char *path, size_t n) {
    char *data;
    size_t len;
    if (sp_read_file(path, &data, &len)) die(sp_last_error());
    if (len != n * sizeof(float)) {
        fprintf(stderr, "prune_tool: %s has %zu bytes, expected %zu\n", path, len, n * sizeof(float));
        exit(1);
    }
    float *f = malloc(len);
    memcpy(f, data, len);
    free(data);
    return f;
}

static void write_raw(const char *path, const void *p, size_t bytes) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, bytes, f) != bytes || fclose(f)) die("cannot write output");
}

/* stats from X (ntok, in), fed through the observer in uneven batches */
static sp_prune_stats *stats_from(const float *X, int ntok, int in, int hessian) {
    sp_prune_stats *s = sp_prune_stats_new(in, hessian);
    if (!s) die(sp_last_error());
    for (int t = 0, b = 37; t < ntok; t += b, b = b * 2 + 1) {
        int nb = ntok - t < b ? ntok - t : b;
        sp_prune_stats_observe(s, X + (size_t)t * in, nb, in);
    }
    if (s->status) die(sp_last_error());
    return s;
}

static int lookup(const char *s, const char *const *names, int n) {
    for (int i = 0; i < n; i++)
        if (!strcmp(s, names[i])) return i;
    fprintf(stderr, "prune_tool: unknown value %s\n", s);
    exit(2);
}

static int cmd_prune(int argc, char **argv) {
    static const char *const methods[] = {"magnitude", "wanda", "sparsegpt"};
    static const char *const patterns[] = {"unstructured", "nm", "block"};
    static const char *const scopes[] = {"default", "layer", "row"};
    sp_prune_config c;
    sp_prune_config_default(&c);
    int out = atoi(arg(argc, argv, "out", NULL)), in = atoi(arg(argc, argv, "in", NULL));
    c.method = (sp_prune_method)lookup(arg(argc, argv, "method", NULL), methods, 3);
    c.pattern = (sp_prune_pattern)lookup(arg(argc, argv, "pattern", NULL), patterns, 3);
    c.scope = (sp_prune_scope)lookup(arg(argc, argv, "scope", "default"), scopes, 3);
    c.sparsity_ratio = atof(arg(argc, argv, "ratio", "0.5"));
    c.n = atoi(arg(argc, argv, "n", "2"));
    c.m = atoi(arg(argc, argv, "m", "4"));
    c.block_size = atoi(arg(argc, argv, "block", "16"));
    c.sparsegpt_blocksize = atoi(arg(argc, argv, "blocksize", "128"));
    c.percdamp = atof(arg(argc, argv, "percdamp", "0.01"));
    float *W = read_f32(arg(argc, argv, "w", NULL), (size_t)out * in);
    sp_prune_stats *s = NULL;
    const char *xp = arg(argc, argv, "x", "");
    if (*xp) {
        int ntok = atoi(arg(argc, argv, "ntok", NULL));
        float *X = read_f32(xp, (size_t)ntok * in);
        s = stats_from(X, ntok, in, c.method == SP_PRUNE_SPARSEGPT);
        free(X);
    }
    uint8_t *keep = malloc((size_t)out * in);
    int rc = sp_prune_layer(&c, W, out, in, s, atof(arg(argc, argv, "override", "-1")), keep);
    if (rc) die(sp_last_error());
    write_raw(arg(argc, argv, "wout", NULL), W, (size_t)out * in * sizeof *W);
    write_raw(arg(argc, argv, "mask", NULL), keep, (size_t)out * in);
    free(W), free(keep);
    sp_prune_stats_free(s);
    return 0;
}

static int cmd_outlier(int argc, char **argv) {
    double owlm = atof(arg(argc, argv, "owlm", "5"));
    enum { MAXL = 16 };
    const float *Ws[MAXL];
    int outs[MAXL], ins[MAXL], nl = 0;
    const sp_prune_stats *ss[MAXL];
    for (int i = 2; i < argc && nl < MAXL; i++) {
        if (strncmp(argv[i], "layer=", 6)) continue;
        char wp[1024], xp[1024];
        int o, n, t;
        if (sscanf(argv[i] + 6, "%1023[^:]:%1023[^:]:%d:%d:%d", wp, xp, &o, &n, &t) != 5) die("bad layer=");
        float *X = read_f32(xp, (size_t)t * n);
        Ws[nl] = read_f32(wp, (size_t)o * n);
        ss[nl] = stats_from(X, t, n, 0);
        outs[nl] = o, ins[nl] = n;
        free(X);
        nl++;
    }
    double d;
    if (sp_owl_outlier_ratio(nl, Ws, outs, ins, ss, owlm, &d)) die(sp_last_error());
    printf("%.17g\n", d);
    for (int l = 0; l < nl; l++) {
        free((void *)Ws[l]);
        sp_prune_stats_free((sp_prune_stats *)ss[l]);
    }
    return 0;
}

static int cmd_owl(int argc, char **argv) {
    double target = atof(arg(argc, argv, "target", NULL)), lambda = atof(arg(argc, argv, "lambda", "0.08"));
    double d[256], r[256];
    int nb = 0;
    for (int i = 2; i < argc && nb < 256; i++)
        if (!strncmp(argv[i], "d=", 2)) d[nb++] = atof(argv[i] + 2);
    if (sp_owl_ratios(d, nb, target, lambda, r)) die(sp_last_error());
    for (int i = 0; i < nb; i++) printf("%.17g\n", r[i]);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) die("usage: prune_tool prune|outlier|owl key=value ...");
    if (!strcmp(argv[1], "prune")) return cmd_prune(argc, argv);
    if (!strcmp(argv[1], "outlier")) return cmd_outlier(argc, argv);
    if (!strcmp(argv[1], "owl")) return cmd_owl(argc, argv);
    die("unknown command");
    return 1;
}
