/* status.c: the thread-local error message behind every negative sp_status. */
#include <stdarg.h>
#include <stdio.h>

#include "sparsity.h"

static _Thread_local char sp_errbuf[1024];

int sp_error(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sp_errbuf, sizeof sp_errbuf, fmt, ap);
    va_end(ap);
    /* Names quoted from corrupt files may hold control bytes: keep the
     * message one printable line. */
    for (char *c = sp_errbuf; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
    return code;
}

const char *sp_last_error(void) { return sp_errbuf[0] ? sp_errbuf : "unknown error"; }
