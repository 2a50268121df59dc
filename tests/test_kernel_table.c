/* test_kernel_table.c: the measured kernel table file (eval/kernel_table.c) without a GPU.
 * A table of random entries (fresh timings each run; SP_SEED repeats one) is written, read
 * back and compared field by field; then every malformed file is refused with a message, and
 * a write that fails (bad entry, no folder, a file size limit hit mid-write) leaves the old
 * file or no file, and no temporary behind. */
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include "sp_test_util.h"
#include "sparsity_bench.h"

#define MAXE 256
#define DEVICE "NVIDIA Test \"GPU\" \\ 80GB (sm_90)" /* quotes and a backslash must survive JSON */

static char dir[256];

static void path_in(char *p, size_t len, const char *name) { snprintf(p, len, "%s/%s", dir, name); }

static void put(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) { printf("cannot write %s\n", path); exit(1); }
    fputs(text, f);
    fclose(f);
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    *len = fread(b, 1, (size_t)n, f);
    b[*len] = 0;
    fclose(f);
    return b;
}

/* files in dir other than the ones named (a leftover temporary shows here) */
static int stray_files(const char *keep1, const char *keep2) {
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    while (d && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        if ((keep1 && !strcmp(de->d_name, keep1)) || (keep2 && !strcmp(de->d_name, keep2))) continue;
        printf("  stray file %s\n", de->d_name);
        n++;
    }
    if (d) closedir(d);
    return n;
}

static int random_entries(sp_cuda_table_entry *e, int max) {
    int n = 1 + (int)(tu_next() % (uint64_t)max);
    for (int i = 0; i < n; i++) {
        sp_cuda_table_entry *t = &e[i];
        int again;
        do {
            t->out = 16 * (1 + (int)(tu_next() % 1024));
            t->in = 16 * (1 + (int)(tu_next() % 1024));
            t->structured = (int)(tu_next() & 1);
            t->decile = (int)(tu_next() % 11);
            t->n = 1 + (int)(tu_next() % 8192);
            again = 0;
            for (int j = 0; j < i && !again; j++)
                again = e[j].out == t->out && e[j].in == t->in && e[j].structured == t->structured &&
                        e[j].decile == t->decile && e[j].n == t->n;
        } while (again);
        int ntimed = 0;
        for (int k = 0; k < SP_CUDA_KERNEL_COUNT; k++) {
            int timed = tu_unif() < 0.6;
            /* full-precision doubles from below 1 ns to 0.1 s, and exact zero: the file keeps 1 ns */
            double v = tu_unif() < 0.05 ? 0.0 : tu_unif() * pow(10, (double)(tu_next() % 9) - 3);
            t->us[k] = timed ? v : -1.0 - tu_unif();
            ntimed += timed;
        }
        if (!ntimed) t->us[tu_next() % SP_CUDA_KERNEL_COUNT] = 1 + tu_unif();
        do t->pick = (sp_cuda_kernel)(tu_next() % SP_CUDA_KERNEL_COUNT); while (t->us[t->pick] < 0);
    }
    return n;
}

static void compare(const sp_cuda_table_entry *a, int na, const sp_cuda_table_entry *b, int nb) {
    TU_CHECK(na == nb, "read %d entries, wrote %d", nb, na);
    for (int i = 0; i < na && i < nb; i++) {
        TU_CHECK(a[i].out == b[i].out && a[i].in == b[i].in && a[i].structured == b[i].structured &&
                 a[i].decile == b[i].decile && a[i].n == b[i].n && a[i].pick == b[i].pick,
                 "entry %d key or pick differs: %d %d %d %d %d %d vs %d %d %d %d %d %d", i, a[i].out, a[i].in,
                 a[i].structured, a[i].decile, a[i].n, (int)a[i].pick, b[i].out, b[i].in, b[i].structured,
                 b[i].decile, b[i].n, (int)b[i].pick);
        for (int k = 0; k < SP_CUDA_KERNEL_COUNT; k++) {
            /* untimed: any negative; timed: exactly the 1 ns rounding */
            double want = a[i].us[k] < 0 ? -1 : sp_kernel_table_us(a[i].us[k]);
            int ok = want < 0 ? b[i].us[k] < 0 : want == b[i].us[k] && fabs(b[i].us[k] - a[i].us[k]) <= 5e-4;
            TU_CHECK(ok, "entry %d %s: wrote %.17g, read %.17g", i, sp_cuda_kernel_name((sp_cuda_kernel)k), a[i].us[k], b[i].us[k]);
        }
    }
}

/* one-entry file with the fields that the error cases vary */
static void small_table(char *buf, size_t len, const char *format, const char *version, const char *pattern,
                        const char *dense_us, const char *other, const char *pick, const char *extra) {
    snprintf(buf, len,
             "{\"format\": \"%s\", \"version\": %s, \"device\": \"dev A\", \"date\": \"2025-01-01T00:00:00Z\",\n"
             " \"entries\": [{\"out\": 64, \"in\": 128, \"pattern\": \"%s\", \"sparsity_decile\": 5, \"tokens\": 1,\n"
             "  \"us\": {\"dense-cublas\": %s, \"%s\": 3.5}, \"pick\": \"%s\"}%s]}\n",
             format, version, pattern, dense_us, other, pick, extra);
}

/* the table at path is refused, with a message naming it and holding want */
static void refused(const char *what, const char *path, const char *device, const char *want) {
    sp_cuda_table_entry e[4];
    int n = -1;
    int rc = sp_kernel_table_read(path, device, e, 4, &n);
    const char *msg = sp_last_error();
    TU_CHECK(rc != 0, "%s: accepted", what);
    TU_CHECK(n == 0, "%s: n = %d after an error", what, n);
    TU_CHECK(rc == 0 || (strstr(msg, path) && strstr(msg, want)), "%s: message '%s' lacks the path or '%s'", what, msg, want);
    if (rc) printf("  %-22s -> %s\n", what, msg);
}

static void bad_files(const sp_cuda_table_entry *good, int ngood, const char *goodpath) {
    char p[512], t[2048];
    path_in(p, sizeof p, "bad.json");

    small_table(t, sizeof t, "sparsity-kernel-table", "1", "2:4", "17.25", "24-mma.sp", "24-mma.sp", "");
    put(p, t);
    sp_cuda_table_entry e[4];
    int n = 0;
    TU_CHECK(sp_kernel_table_read(p, "dev A", e, 4, &n) == 0 && n == 1 && e[0].us[0] == 17.25 && e[0].us[1] == 3.5 &&
                 e[0].pick == SP_CUDA_KERNEL_24 && e[0].structured == 1 && e[0].us[SP_CUDA_KERNEL_CSR] < 0,
             "the hand-written template table: %s", sp_last_error());
    refused("other device", p, "dev B", "\"dev B\"");
    TU_CHECK(strstr(sp_last_error(), "\"dev A\"") && strstr(sp_last_error(), "--calibrate-kernels"),
             "device message: %s", sp_last_error());

    size_t len;
    char *full = slurp(goodpath, &len);
    for (int cut = 1; cut < 4 && full; cut++) { /* cut short anywhere: never a table */
        size_t at = (size_t)(tu_unif() * (double)(len - 2)) + 1;
        if (cut == 1) at = len / 2;
        full[at] = 0;
        put(p, full);
        char what[64];
        snprintf(what, sizeof what, "truncated at %zu/%zu", at, len);
        refused(what, p, NULL, "");
        free(full);
        full = slurp(goodpath, &len);
    }
    free(full);
    put(p, "");
    refused("empty file", p, NULL, "not JSON");
    put(p, "kernel table, honest\n");
    refused("not JSON", p, NULL, "not JSON");
    put(p, "[1, 2, 3]");
    refused("JSON array", p, NULL, "not a JSON object");

    static const struct { const char *what, *format, *version, *pattern, *dense, *other, *pick, *extra, *want; } cases[] = {
        {"other format", "sparsity-pack", "1", "2:4", "17", "24-mma.sp", "24-mma.sp", "", "format"},
        {"version 2", "sparsity-kernel-table", "2", "2:4", "17", "24-mma.sp", "24-mma.sp", "", "version 2"},
        {"version string", "sparsity-kernel-table", "\"1\"", "2:4", "17", "24-mma.sp", "24-mma.sp", "", "version"},
        {"unknown kernel in us", "sparsity-kernel-table", "1", "2:4", "17", "24-mma.sparse", "dense-cublas", "", "24-mma.sparse"},
        {"unknown pick", "sparsity-kernel-table", "1", "2:4", "17", "24-mma.sp", "cutlass", "", "cutlass"},
        {"pick not timed", "sparsity-kernel-table", "1", "2:4", "17", "24-mma.sp", "bitmap-mma", "", "no time"},
        {"negative time", "sparsity-kernel-table", "1", "2:4", "-17", "24-mma.sp", "24-mma.sp", "", "dense-cublas"},
        {"NaN time", "sparsity-kernel-table", "1", "2:4", "NaN", "24-mma.sp", "24-mma.sp", "", "not JSON"},
        {"null time", "sparsity-kernel-table", "1", "2:4", "null", "24-mma.sp", "24-mma.sp", "", "dense-cublas"},
        {"infinite time", "sparsity-kernel-table", "1", "2:4", "1e999", "24-mma.sp", "24-mma.sp", "", "dense-cublas"},
        {"string time", "sparsity-kernel-table", "1", "2:4", "\"17\"", "24-mma.sp", "24-mma.sp", "", "dense-cublas"},
        {"bad pattern", "sparsity-kernel-table", "1", "4:8", "17", "24-mma.sp", "24-mma.sp", "", "pattern"},
        {"kernel timed twice", "sparsity-kernel-table", "1", "2:4", "17", "dense-cublas", "dense-cublas", "", "twice"},
        {"repeated key", "sparsity-kernel-table", "1", "2:4", "17", "24-mma.sp", "24-mma.sp",
         ", {\"out\": 64, \"in\": 128, \"pattern\": \"2:4\", \"sparsity_decile\": 5, \"tokens\": 1, \"us\": "
         "{\"dense-cublas\": 1}, \"pick\": \"dense-cublas\"}", "repeats"},
        {"entry without tokens", "sparsity-kernel-table", "1", "2:4", "17", "24-mma.sp", "24-mma.sp",
         ", {\"out\": 64, \"in\": 128, \"pattern\": \"2:4\", \"sparsity_decile\": 5, \"us\": {\"dense-cublas\": 1}, "
         "\"pick\": \"dense-cublas\"}", "\"tokens\""},
        {"decile 11", "sparsity-kernel-table", "1", "2:4", "17", "24-mma.sp", "24-mma.sp",
         ", {\"out\": 64, \"in\": 128, \"pattern\": \"2:4\", \"sparsity_decile\": 11, \"tokens\": 1, \"us\": "
         "{\"dense-cublas\": 1}, \"pick\": \"dense-cublas\"}", "sparsity_decile"},
        {"fractional out", "sparsity-kernel-table", "1", "2:4", "17", "24-mma.sp", "24-mma.sp",
         ", {\"out\": 64.5, \"in\": 128, \"pattern\": \"2:4\", \"sparsity_decile\": 1, \"tokens\": 1, \"us\": "
         "{\"dense-cublas\": 1}, \"pick\": \"dense-cublas\"}", "\"out\""},
        {"entry not an object", "sparsity-kernel-table", "1", "2:4", "17", "24-mma.sp", "24-mma.sp", ", 7", "not an object"},
        {"text after the JSON", "sparsity-kernel-table", "1", "2:4", "17", "24-mma.sp", "24-mma.sp", "]} {", "after the JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        small_table(t, sizeof t, cases[i].format, cases[i].version, cases[i].pattern, cases[i].dense, cases[i].other,
                    cases[i].pick, cases[i].extra);
        put(p, t);
        refused(cases[i].what, p, "dev A", cases[i].want);
    }
    put(p, "{\"format\": \"sparsity-kernel-table\", \"version\": 1, \"device\": \"dev A\"}");
    refused("no entries", p, NULL, "entries");
    put(p, "{\"format\": \"sparsity-kernel-table\", \"version\": 1, \"entries\": []}");
    refused("no device", p, NULL, "device");

    char missing[512];
    path_in(missing, sizeof missing, "no-such-table.json");
    refused("missing file", missing, NULL, "no such file");

    /* more entries than the caller has room for */
    if (ngood > 1) {
        sp_cuda_table_entry *few = malloc((size_t)ngood * sizeof *few);
        n = -1;
        TU_CHECK(sp_kernel_table_read(goodpath, NULL, few, ngood - 1, &n) != 0 && n == 0, "%d entries read into %d", ngood, ngood - 1);
        free(few);
    }
    (void)good;
    unlink(p);
}

/* a write that fails keeps the old file (or none) and leaves no temporary */
static void failed_writes(const sp_cuda_table_entry *good, int ngood) {
    char p[512], q[512];
    path_in(p, sizeof p, "t.json");
    sp_cuda_table_entry bad = good[0];
    bad.us[bad.pick] = NAN;
    TU_CHECK(sp_kernel_table_write(p, DEVICE, &bad, 1) != 0, "NaN time written");
    TU_CHECK(access(p, F_OK) != 0 && stray_files("table.json", NULL) == 0, "a refused write left a file");
    bad.us[bad.pick] = INFINITY;
    TU_CHECK(sp_kernel_table_write(p, DEVICE, &bad, 1) != 0, "infinite time written");
    bad = good[0];
    bad.us[bad.pick] = -1;
    TU_CHECK(sp_kernel_table_write(p, DEVICE, &bad, 1) != 0 && strstr(sp_last_error(), "no time"), "untimed pick written");
    bad = good[0];
    bad.decile = 12;
    TU_CHECK(sp_kernel_table_write(p, DEVICE, &bad, 1) != 0, "decile 12 written");
    if (ngood > 1) {
        sp_cuda_table_entry two[2] = {good[0], good[1]};
        two[1].out = two[0].out, two[1].in = two[0].in, two[1].structured = two[0].structured;
        two[1].decile = two[0].decile, two[1].n = two[0].n;
        TU_CHECK(sp_kernel_table_write(p, DEVICE, two, 2) != 0 && strstr(sp_last_error(), "repeats"), "repeated key written");
    }
    TU_CHECK(access(p, F_OK) != 0 && stray_files("table.json", NULL) == 0, "refused writes left a file");
    path_in(q, sizeof q, "no-such-folder/t.json");
    TU_CHECK(sp_kernel_table_write(q, DEVICE, good, ngood) != 0, "write into a missing folder succeeded");
    printf("  missing folder         -> %s\n", sp_last_error());

    /* the file system refuses mid-write (size limit): the old table must survive whole */
    TU_CHECK(sp_kernel_table_write(p, DEVICE, good, 1) == 0, "one-entry write: %s", sp_last_error());
    size_t len0, len1;
    char *before = slurp(p, &len0);
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 64;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN); /* get EFBIG instead of the signal */
    int rc = setrlimit(RLIMIT_FSIZE, &lim) ? -1 : sp_kernel_table_write(p, DEVICE, good, ngood);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);
    TU_CHECK(rc != 0, "write past the file size limit succeeded");
    printf("  size limit mid-write   -> %s\n", sp_last_error());
    char *after = slurp(p, &len1);
    TU_CHECK(before && after && len0 == len1 && !memcmp(before, after, len0), "the old table changed after a failed write");
    TU_CHECK(stray_files("t.json", "table.json") == 0, "a failed write left a temporary");
    free(before);
    free(after);
    unlink(p);
}

int main(void) {
    tu_seed("test_kernel_table");
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/sp_kernel_table_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) { printf("mkdtemp failed\n"); return 1; }

    /* the kernel names are the file format: fixed, distinct, present without CUDA */
    for (int k = 0; k < SP_CUDA_KERNEL_COUNT; k++) {
        const char *a = sp_cuda_kernel_name((sp_cuda_kernel)k);
        TU_CHECK(a && strcmp(a, "?") && strcmp(a, "none"), "kernel %d has no name", k);
        for (int j = 0; j < k; j++) TU_CHECK(strcmp(a, sp_cuda_kernel_name((sp_cuda_kernel)j)), "kernels %d and %d share a name", j, k);
    }
    TU_CHECK(!strcmp(sp_cuda_kernel_name(SP_CUDA_KERNEL_DENSE), "dense-cublas") &&
                 !strcmp(sp_cuda_kernel_name(SP_CUDA_KERNEL_24), "24-mma.sp"), "kernel names changed (the table format uses them)");

    static sp_cuda_table_entry w[MAXE], r[MAXE];
    int nw = random_entries(w, 120), nr = -1;
    char p[512];
    path_in(p, sizeof p, "table.json");
    TU_CHECK(sp_kernel_table_write(p, DEVICE, w, nw) == 0, "write: %s", sp_last_error());
    TU_CHECK(sp_kernel_table_read(p, DEVICE, r, MAXE, &nr) == 0, "read: %s", sp_last_error());
    compare(w, nw, r, nr);
    nr = -1;
    TU_CHECK(sp_kernel_table_read(p, NULL, r, MAXE, &nr) == 0 && nr == nw, "read without a device check: %s", sp_last_error());
    TU_CHECK(stray_files("table.json", NULL) == 0, "the write left a temporary");
    printf("  %d random entries written and read back\n", nw);

    /* an empty table is a table; a second write replaces the first whole */
    TU_CHECK(sp_kernel_table_write(p, DEVICE, NULL, 0) == 0, "empty write: %s", sp_last_error());
    nr = -1;
    TU_CHECK(sp_kernel_table_read(p, DEVICE, r, MAXE, &nr) == 0 && nr == 0, "empty read: %s", sp_last_error());
    TU_CHECK(sp_kernel_table_write(p, DEVICE, w, nw) == 0, "rewrite: %s", sp_last_error());

    bad_files(w, nw, p);
    failed_writes(w, nw);
    unlink(p);
    TU_CHECK(stray_files(NULL, NULL) == 0, "files left in %s", dir);
    rmdir(dir);
    if (tu_fail) { printf("%d failures\n", tu_fail); return 1; }
    printf("all kernel table checks passed\n");
    return 0;
}
