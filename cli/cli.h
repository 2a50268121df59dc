/* cli.h: the subcommands of the sparsity CLI (one file each) and shared flag helpers. */
#ifndef SP_CLI_H
#define SP_CLI_H

#include "sparsity.h"

int cmd_convert(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_prune(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_pack(int argc, char **argv);
int cmd_bench_gpu(int argc, char **argv); /* bench --gpu (cli/bench_gpu.c) */

/* Flag parsing: "--name VALUE" pairs; die with a clear message otherwise. */
typedef struct {
    const char *name;   /* "--ctx" */
    int has_arg;        /* 1: takes a value, 0: boolean switch */
    const char *help;
    const char *value;  /* filled by cli_parse: the value, or "1" for a switch */
} cli_opt;

/* Parses argv[1..] against opts; positional arguments go to pos (at most max_pos).
 * Returns 0, or exits 2 with "sparsity CMD: ..." on an unknown option or missing value.
 * Exits 0 after printing usage on --help. */
int cli_parse(const char *cmd, const char *usage, int argc, char **argv, cli_opt *opts,
              const char **pos, int max_pos);
const char *cli_get(const cli_opt *opts, const char *name);
long cli_get_long(const char *cmd, const cli_opt *opts, const char *name, long def, long lo, long hi);
double cli_get_double(const char *cmd, const cli_opt *opts, const char *name, double def, double lo, double hi);
/* Prints "sparsity CMD: MESSAGE" to stderr and exits 1. */
void cli_die(const char *cmd, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));

#endif
