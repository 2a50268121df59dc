/* kernel_table.c: the measured kernel table (sparsity_bench.h) as a JSON file. The device
 * model (model.cu) only fills and consumes sp_cuda_table_entry; this file owns the format, so
 * it builds and is tested without CUDA (the kernel names come from cuda_names.h either way). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "sparsity_bench.h"

#define FORMAT_NAME "sparsity-kernel-table"
#define MAX_DIM (1 << 24)            /* larger shapes or token counts mean a corrupt file */
#define MAX_FILE ((size_t)64 << 20)  /* a table of every key of many models is well below this */

double sp_kernel_table_us(double us) { return round(us * 1000) / 1000; }

static int kernel_of(const char *name) {
    for (int k = 0; k < SP_CUDA_KERNEL_COUNT; k++)
        if (!strcmp(name, sp_cuda_kernel_name((sp_cuda_kernel)k))) return k;
    return -1;
}

static const char *known_kernels(void) {
    static char list[160];
    if (!list[0])
        for (int k = 0; k < SP_CUDA_KERNEL_COUNT; k++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", k ? ", " : "", sp_cuda_kernel_name((sp_cuda_kernel)k));
    return list;
}

/* What both directions require of an entry; NULL when fine, else why (in buf). */
static const char *entry_problem(const sp_cuda_table_entry *e, char *buf, size_t len) {
    if (e->out < 1 || e->out > MAX_DIM || e->in < 1 || e->in > MAX_DIM)
        snprintf(buf, len, "shape %d x %d out of range", e->out, e->in);
    else if (e->structured != 0 && e->structured != 1) snprintf(buf, len, "structured is %d, want 0 or 1", e->structured);
    else if (e->decile < 0 || e->decile > 10) snprintf(buf, len, "sparsity decile %d, want 0..10", e->decile);
    else if (e->n < 1 || e->n > MAX_DIM) snprintf(buf, len, "token count %d out of range", e->n);
    else if ((int)e->pick < 0 || (int)e->pick >= SP_CUDA_KERNEL_COUNT) snprintf(buf, len, "pick %d is no kernel", (int)e->pick);
    else {
        for (int k = 0; k < SP_CUDA_KERNEL_COUNT; k++)
            if (!isfinite(e->us[k])) {
                snprintf(buf, len, "time of %s is %g", sp_cuda_kernel_name((sp_cuda_kernel)k), e->us[k]);
                return buf;
            }
        if (e->us[e->pick] >= 0) return NULL;
        snprintf(buf, len, "pick %s has no time", sp_cuda_kernel_name(e->pick));
    }
    return buf;
}

static int same_key(const sp_cuda_table_entry *a, const sp_cuda_table_entry *b) {
    return a->out == b->out && a->in == b->in && a->structured == b->structured && a->decile == b->decile && a->n == b->n;
}

/* index of an earlier entry with e[i]'s key, or -1 */
static int earlier_key(const sp_cuda_table_entry *e, int i) {
    for (int j = 0; j < i; j++)
        if (same_key(&e[j], &e[i])) return j;
    return -1;
}

/* ------------------------------------------------------------------ write */

static cJSON *entry_json(const sp_cuda_table_entry *e) {
    cJSON *o = cJSON_CreateObject(), *us = cJSON_CreateObject();
    int ok = o && us;
    for (int k = 0; k < SP_CUDA_KERNEL_COUNT && ok; k++)
        ok = e->us[k] < 0 || cJSON_AddNumberToObject(us, sp_cuda_kernel_name((sp_cuda_kernel)k), sp_kernel_table_us(e->us[k]));
    ok = ok && cJSON_AddNumberToObject(o, "out", e->out) && cJSON_AddNumberToObject(o, "in", e->in) &&
         cJSON_AddStringToObject(o, "pattern", e->structured ? "2:4" : "unstructured") &&
         cJSON_AddNumberToObject(o, "sparsity_decile", e->decile) && cJSON_AddNumberToObject(o, "tokens", e->n);
    if (ok && cJSON_AddItemToObject(o, "us", us)) us = NULL; /* o owns it now */
    else ok = 0;
    ok = ok && cJSON_AddStringToObject(o, "pick", sp_cuda_kernel_name(e->pick));
    cJSON_Delete(us);
    if (!ok) { cJSON_Delete(o); return NULL; }
    return o;
}

static char *table_text(const char *device, const sp_cuda_table_entry *e, int n) {
    char date[32] = "";
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm)) strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    int ok = root && arr;
    for (int i = 0; i < n && ok; i++) {
        cJSON *o = entry_json(&e[i]);
        ok = o && cJSON_AddItemToArray(arr, o);
        if (!ok) cJSON_Delete(o);
    }
    ok = ok && cJSON_AddStringToObject(root, "format", FORMAT_NAME) &&
         cJSON_AddNumberToObject(root, "version", SP_KERNEL_TABLE_VERSION) && cJSON_AddStringToObject(root, "device", device) &&
         cJSON_AddStringToObject(root, "date", date);
    if (ok && cJSON_AddItemToObject(root, "entries", arr)) arr = NULL;
    else ok = 0;
    char *text = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(arr);
    cJSON_Delete(root);
    return text;
}

/* text + "\n" to path through the project's write-then-rename file */
static int write_atomic(const char *path, const char *text) {
    sp_atomic_file af;
    int rc = sp_atomic_open(&af, path);
    if (rc) return rc;
    if (fputs(text, af.fp) < 0 || fputc('\n', af.fp) == EOF) { /* commit sees ferror too; abort says it plainly */
        int err = errno;
        sp_atomic_abort(&af);
        return sp_error(SP_ERR_IO, "kernel table %s: write failed: %s", path, strerror(err));
    }
    return sp_atomic_commit(&af);
}

int sp_kernel_table_write(const char *path, const char *device, const sp_cuda_table_entry *e, int n) {
    if (!path || !*path || !device || n < 0 || (n && !e)) return sp_error(SP_ERR_ARG, "sp_kernel_table_write: bad arguments");
    char why[160];
    for (int i = 0; i < n; i++) {
        int j = earlier_key(e, i);
        if (entry_problem(&e[i], why, sizeof why))
            return sp_error(SP_ERR_ARG, "kernel table %s: entry %d: %s; nothing written", path, i, why);
        if (j >= 0) return sp_error(SP_ERR_ARG, "kernel table %s: entry %d repeats the key of entry %d; nothing written", path, i, j);
    }
    char *text = table_text(device, e, n);
    if (!text) return sp_error(SP_ERR_NOMEM, "kernel table %s: out of memory", path);
    int rc = write_atomic(path, text);
    cJSON_free(text);
    return rc;
}

/* ------------------------------------------------------------------ read */

/* the whole file, NUL-terminated (sp_read_file), with the hint for a missing table */
static int read_all(const char *path, char **buf, size_t *len) {
    if (access(path, F_OK))
        return sp_error(SP_ERR_IO, "kernel table %s: no such file (make one with sparsity bench --gpu --calibrate-kernels %s)", path, path);
    int rc = sp_read_file(path, buf, len);
    if (rc) return rc;
    if (*len > MAX_FILE) {
        free(*buf);
        return sp_error(SP_ERR_FORMAT, "kernel table %s: larger than %zu MB", path, MAX_FILE >> 20);
    }
    return 0;
}

/* a message about entry i (i < 0: the file) of path */
static int bad(const char *path, int i, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(const char *path, int i, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (i < 0) return sp_error(SP_ERR_FORMAT, "kernel table %s: %s", path, msg);
    return sp_error(SP_ERR_FORMAT, "kernel table %s: entry %d: %s", path, i, msg);
}

/* integer field key of o in [lo, hi] */
static int get_int(const char *path, int i, const cJSON *o, const char *key, int lo, int hi, int *v) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!x) return bad(path, i, "no \"%s\"", key);
    double d = x->valuedouble;
    if (!cJSON_IsNumber(x) || !isfinite(d) || d != floor(d) || d < lo || d > hi)
        return bad(path, i, "\"%s\" is not an integer in %d..%d", key, lo, hi);
    *v = (int)d;
    return 0;
}

static int get_entry(const char *path, int i, const cJSON *o, sp_cuda_table_entry *e) {
    if (!cJSON_IsObject(o)) return bad(path, i, "not an object");
    int rc;
    if ((rc = get_int(path, i, o, "out", 1, MAX_DIM, &e->out)) || (rc = get_int(path, i, o, "in", 1, MAX_DIM, &e->in)) ||
        (rc = get_int(path, i, o, "sparsity_decile", 0, 10, &e->decile)) || (rc = get_int(path, i, o, "tokens", 1, MAX_DIM, &e->n)))
        return rc;
    const cJSON *pat = cJSON_GetObjectItemCaseSensitive(o, "pattern");
    const char *ps = cJSON_GetStringValue(pat);
    if (!ps || (strcmp(ps, "2:4") && strcmp(ps, "unstructured"))) return bad(path, i, "\"pattern\" is not \"2:4\" or \"unstructured\"");
    e->structured = !strcmp(ps, "2:4");
    const cJSON *us = cJSON_GetObjectItemCaseSensitive(o, "us"), *t;
    if (!cJSON_IsObject(us) || !us->child) return bad(path, i, "no \"us\" object of kernel timings");
    for (int k = 0; k < SP_CUDA_KERNEL_COUNT; k++) e->us[k] = -1;
    cJSON_ArrayForEach(t, us) {
        int k = kernel_of(t->string);
        if (k < 0) return bad(path, i, "unknown kernel \"%s\" in \"us\" (known: %s)", t->string, known_kernels());
        if (e->us[k] >= 0) return bad(path, i, "kernel %s timed twice", t->string);
        if (!cJSON_IsNumber(t) || !isfinite(t->valuedouble) || t->valuedouble < 0)
            return bad(path, i, "time of %s is not a number >= 0 (microseconds)", t->string);
        e->us[k] = t->valuedouble;
    }
    const char *pk = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "pick"));
    if (!pk) return bad(path, i, "no \"pick\" string");
    int k = kernel_of(pk);
    if (k < 0) return bad(path, i, "unknown kernel \"%s\" in \"pick\" (known: %s)", pk, known_kernels());
    e->pick = (sp_cuda_kernel)k;
    char why[160];
    if (entry_problem(e, why, sizeof why)) return bad(path, i, "%s", why);
    return 0;
}

static int parse_table(const char *path, const cJSON *root, const char *expected_device, sp_cuda_table_entry *e, int max, int *n) {
    if (!cJSON_IsObject(root)) return bad(path, -1, "not a JSON object");
    const char *fmt = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "format"));
    if (!fmt || strcmp(fmt, FORMAT_NAME)) return bad(path, -1, "\"format\" is not \"%s\": not a kernel table", FORMAT_NAME);
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (!cJSON_IsNumber(ver)) return bad(path, -1, "no \"version\" number");
    if (ver->valuedouble != SP_KERNEL_TABLE_VERSION)
        return bad(path, -1, "version %g; this build reads version %d (re-run sparsity bench --gpu --calibrate-kernels)",
                   ver->valuedouble, SP_KERNEL_TABLE_VERSION);
    const char *dev = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "device"));
    if (!dev || !*dev) return bad(path, -1, "no \"device\" name");
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "entries"), *o;
    if (!cJSON_IsArray(arr)) return bad(path, -1, "no \"entries\" array");
    int count = cJSON_GetArraySize(arr), i = 0, rc;
    if (count > max) return bad(path, -1, "%d entries, more than the %d expected", count, max);
    cJSON_ArrayForEach(o, arr) {
        if ((rc = get_entry(path, i, o, &e[i]))) return rc;
        int j = earlier_key(e, i);
        if (j >= 0) return bad(path, i, "repeats the key of entry %d", j);
        i++;
    }
    if (expected_device && strcmp(dev, expected_device))
        return sp_error(SP_ERR_ARG, "kernel table %s was measured on \"%s\", this device is \"%s\": re-run "
                        "sparsity bench --gpu --calibrate-kernels %s here", path, dev, expected_device, path);
    *n = i;
    return 0;
}

int sp_kernel_table_read(const char *path, const char *expected_device, sp_cuda_table_entry *e, int max, int *n) {
    if (n) *n = 0;
    if (!path || !*path || !n || max < 0 || (max && !e)) return sp_error(SP_ERR_ARG, "sp_kernel_table_read: bad arguments");
    char *buf = NULL;
    size_t len = 0;
    int rc = read_all(path, &buf, &len);
    if (rc) return rc;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    if (!root) {
        rc = bad(path, -1, "not JSON (or cut short) at byte %td of %zu", end ? end - buf : (ptrdiff_t)0, len);
    } else {
        while (end && *end && strchr(" \t\r\n", *end)) end++;
        rc = end && *end ? bad(path, -1, "text after the JSON at byte %td", end - buf)
                         : parse_table(path, root, expected_device, e, max, n);
    }
    cJSON_Delete(root);
    free(buf);
    return rc;
}
