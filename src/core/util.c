/* util.c: time, peak RSS, progress lines, whole-file reads and atomic writes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "sparsity.h"

double sp_time(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

size_t sp_peak_rss(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (size_t)ru.ru_maxrss * 1024; /* Linux reports KiB */
}

void sp_progress_begin(sp_progress *p, const char *label, int n) {
    p->label = label;
    p->n = n;
    p->t0 = sp_time();
}

void sp_progress_step(sp_progress *p, int done) {
    double el = sp_time() - p->t0;
    double eta = done > 0 ? el * (p->n - done) / done : 0.0;
    fprintf(stderr, "%s%s %d/%d  elapsed %.1fs  ETA %.1fs%s", isatty(2) ? "\r" : "", p->label, done,
            p->n, el, eta, isatty(2) ? "   " : "\n");
    fflush(stderr);
}

void sp_progress_end(sp_progress *p) {
    if (isatty(2)) fprintf(stderr, "\n");
    (void)p;
}

int sp_read_file(const char *path, char **data, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return sp_error(SP_ERR_IO, "%s: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) { fclose(f); return sp_error(SP_ERR_IO, "%s: cannot seek", path); }
    long n = ftell(f);
    if (n < 0) { fclose(f); return sp_error(SP_ERR_IO, "%s: cannot tell size", path); }
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    if (!buf) { fclose(f); return sp_error(SP_ERR_NOMEM, "%s: out of memory (%ld bytes)", path, n); }
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        fclose(f);
        return sp_error(SP_ERR_IO, "%s: short read", path);
    }
    fclose(f);
    buf[n] = 0;
    *data = buf;
    if (len) *len = (size_t)n;
    return 0;
}

int sp_atomic_open(sp_atomic_file *af, const char *path) {
    if (strlen(path) >= sizeof af->path) return sp_error(SP_ERR_ARG, "%s: path too long", path);
    snprintf(af->path, sizeof af->path, "%s", path);
    snprintf(af->tmp, sizeof af->tmp, "%s.tmp.%d", path, (int)getpid());
    af->fp = fopen(af->tmp, "wb");
    if (!af->fp) return sp_error(SP_ERR_IO, "%s: cannot create: %s", af->tmp, strerror(errno));
    return 0;
}

int sp_atomic_commit(sp_atomic_file *af) {
    FILE *f = af->fp;
    af->fp = NULL;
    int bad = ferror(f) != 0;
    bad |= fflush(f) != 0;
    if (!bad) fsync(fileno(f));
    bad |= fclose(f) != 0;
    if (bad) {
        unlink(af->tmp);
        return sp_error(SP_ERR_IO, "%s: write failed: %s", af->path, strerror(errno));
    }
    if (rename(af->tmp, af->path) != 0) {
        unlink(af->tmp);
        return sp_error(SP_ERR_IO, "%s: rename failed: %s", af->path, strerror(errno));
    }
    return 0;
}

void sp_atomic_abort(sp_atomic_file *af) {
    if (af->fp) fclose(af->fp);
    af->fp = NULL;
    unlink(af->tmp);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double sp_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
