/* Temporary: subcommands not yet written (removed as each lands). */
#include <stdio.h>
#include "cli.h"
static int todo(const char *c) { fprintf(stderr, "sparsity %s: not implemented yet\n", c); return 1; }
int cmd_convert(int argc, char **argv) { (void)argc; (void)argv; return todo("convert"); }
int cmd_generate(int argc, char **argv) { (void)argc; (void)argv; return todo("generate"); }
int cmd_eval(int argc, char **argv) { (void)argc; (void)argv; return todo("eval"); }
int cmd_verify(int argc, char **argv) { (void)argc; (void)argv; return todo("verify"); }
