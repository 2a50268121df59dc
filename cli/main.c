/* main.c: the sparsity CLI dispatcher and the flag helpers every subcommand uses. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"convert", cmd_convert, "GGUF file -> model folder (config.json, model.safetensors, tokenizer.json)"},
    {"generate", cmd_generate, "greedy text generation"},
    {"eval", cmd_eval, "perplexity over non-overlapping windows of a text file"},
    {"prune", cmd_prune, "prune a model (magnitude, Wanda, SparseGPT; unstructured, N:M, block; OWL)"},
    {"bench", cmd_bench, "TTFT/TPOT of a sparse model against dense kernels, memory, kernels chosen"},
    {"verify", cmd_verify, "per-layer sparsity of every linear weight"},
};
#define N_COMMANDS (int)(sizeof commands / sizeof commands[0])

static void usage(FILE *f) {
    fprintf(f, "usage: sparsity COMMAND [options]   (sparsity COMMAND --help for details)\n\ncommands:\n");
    for (int i = 0; i < N_COMMANDS; i++) fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    for (int i = 0; i < N_COMMANDS; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "sparsity: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}

void cli_die(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "sparsity %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static void print_usage(FILE *f, const char *usage_line, const cli_opt *opts) {
    fprintf(f, "usage: %s\n\noptions:\n", usage_line);
    for (const cli_opt *o = opts; o->name; o++)
        fprintf(f, "  %-22s %s\n", o->has_arg ? o->name : o->name, o->help);
    fprintf(f, "  %-22s %s\n", "--help", "show this help");
}

int cli_parse(const char *cmd, const char *usage_line, int argc, char **argv, cli_opt *opts,
              const char **pos, int max_pos) {
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            print_usage(stdout, usage_line, opts);
            exit(0);
        }
        if (a[0] == '-' && a[1] != 0 && !(a[1] >= '0' && a[1] <= '9') && a[1] != '.') {
            cli_opt *o = opts;
            while (o->name && strcmp(o->name, a)) o++;
            if (!o->name) {
                fprintf(stderr, "sparsity %s: unknown option '%s'\n", cmd, a);
                print_usage(stderr, usage_line, opts);
                exit(2);
            }
            if (o->has_arg) {
                if (i + 1 >= argc) {
                    fprintf(stderr, "sparsity %s: option '%s' needs a value\n", cmd, a);
                    exit(2);
                }
                o->value = argv[++i];
            } else {
                o->value = "1";
            }
        } else {
            if (npos >= max_pos) {
                fprintf(stderr, "sparsity %s: unexpected argument '%s'\n", cmd, a);
                print_usage(stderr, usage_line, opts);
                exit(2);
            }
            pos[npos++] = a;
        }
    }
    return npos;
}

const char *cli_get(const cli_opt *opts, const char *name) {
    for (const cli_opt *o = opts; o->name; o++)
        if (!strcmp(o->name, name)) return o->value;
    return NULL;
}

long cli_get_long(const char *cmd, const cli_opt *opts, const char *name, long def, long lo, long hi) {
    const char *v = cli_get(opts, name);
    if (!v) return def;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || end == v) cli_die(cmd, "%s: '%s' is not an integer", name, v);
    if (x < lo || x > hi) cli_die(cmd, "%s: %ld is outside [%ld, %ld]", name, x, lo, hi);
    return x;
}

double cli_get_double(const char *cmd, const cli_opt *opts, const char *name, double def, double lo, double hi) {
    const char *v = cli_get(opts, name);
    if (!v) return def;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || *end || end == v) cli_die(cmd, "%s: '%s' is not a number", name, v);
    if (!(x >= lo && x <= hi)) cli_die(cmd, "%s: %g is outside [%g, %g]", name, x, lo, hi);
    return x;
}
