/* st_tool: drives the safetensors reader/writer for the Python tests.
 *   st_tool dump FILE      one line per metadata entry and per tensor:
 *                            meta KEY=VALUE
 *                            NAME DTYPE [d0,d1,...] NBYTES SUM FNV
 *                          SUM: float dtypes summed in double (%.17g), integer dtypes
 *                          summed in int64 with wrap-around; FNV: FNV-1a 64 of the bytes.
 *   st_tool copy IN OUT    read IN with sp_st_open, write OUT with sp_st_writer (tensors
 *                          in the same order, same metadata).
 * On error prints sp_last_error() (one line) to stderr and exits 1. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sparsity.h"

static void sum_tensor(const sp_st_tensor *t, double *fsum, int64_t *isum) {
    size_t n = t->nbytes / sp_dtype_size(t->dtype);
    const uint8_t *p = t->data;
    double f = 0;
    uint64_t u = 0; /* wrap-around sum */
    for (size_t i = 0; i < n; i++) {
        const uint8_t *e = p + i * sp_dtype_size(t->dtype);
        union { float f; double d; int8_t i8; uint8_t u8; int16_t i16; uint16_t u16; int32_t i32; int64_t i64; } v;
        memcpy(&v, e, sp_dtype_size(t->dtype));
        switch (t->dtype) {
        case SP_DTYPE_F32: f += v.f; break;
        case SP_DTYPE_F64: f += v.d; break;
        case SP_DTYPE_F16: f += sp_f16_to_f32(v.u16); break;
        case SP_DTYPE_BF16: f += sp_bf16_to_f32(v.u16); break;
        case SP_DTYPE_I8: u += (uint64_t)(int64_t)v.i8; break;
        case SP_DTYPE_U8: u += v.u8; break;
        case SP_DTYPE_I16: u += (uint64_t)(int64_t)v.i16; break;
        case SP_DTYPE_I32: u += (uint64_t)(int64_t)v.i32; break;
        case SP_DTYPE_I64: u += (uint64_t)v.i64; break;
        default: break;
        }
    }
    *fsum = f;
    *isum = (int64_t)u;
}

static int dump(const char *path) {
    sp_st *st = sp_st_open(path);
    if (!st) return 1;
    for (int i = 0; i < sp_st_n_meta(st); i++)
        printf("meta %s=%s\n", sp_st_meta_key(st, i), sp_st_meta(st, sp_st_meta_key(st, i)));
    for (int i = 0; i < sp_st_n_tensors(st); i++) {
        const sp_st_tensor *t = sp_st_tensor_at(st, i);
        printf("%s %s [", t->name, sp_dtype_name(t->dtype));
        for (int k = 0; k < t->ndim; k++) printf("%s%" PRId64, k ? "," : "", t->shape[k]);
        uint64_t h = 0xcbf29ce484222325ull;
        for (size_t j = 0; j < t->nbytes; j++) h = (h ^ ((const uint8_t *)t->data)[j]) * 0x100000001b3ull;
        double fs;
        int64_t is;
        sum_tensor(t, &fs, &is);
        int isfloat = t->dtype == SP_DTYPE_F32 || t->dtype == SP_DTYPE_F64 || t->dtype == SP_DTYPE_F16 ||
                      t->dtype == SP_DTYPE_BF16;
        if (isfloat) printf("] %zu %.17g %016" PRIx64 "\n", t->nbytes, fs, h);
        else printf("] %zu %" PRId64 " %016" PRIx64 "\n", t->nbytes, is, h);
    }
    sp_st_free(st);
    return 0;
}

static int copy(const char *in, const char *out) {
    sp_st *st = sp_st_open(in);
    if (!st) return 1;
    sp_st_writer *w = sp_st_writer_new();
    int rc = w ? 0 : 1;
    for (int i = 0; rc == 0 && i < sp_st_n_tensors(st); i++) {
        const sp_st_tensor *t = sp_st_tensor_at(st, i);
        rc = sp_st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data);
    }
    for (int i = 0; rc == 0 && i < sp_st_n_meta(st); i++)
        rc = sp_st_writer_meta(w, sp_st_meta_key(st, i), sp_st_meta(st, sp_st_meta_key(st, i)));
    if (rc == 0) rc = sp_st_writer_save(w, out);
    sp_st_writer_free(w);
    sp_st_free(st);
    return rc != 0;
}

int main(int argc, char **argv) {
    int rc;
    if (argc == 3 && strcmp(argv[1], "dump") == 0) rc = dump(argv[2]);
    else if (argc == 4 && strcmp(argv[1], "copy") == 0) rc = copy(argv[2], argv[3]);
    else {
        fprintf(stderr, "usage: st_tool dump FILE | st_tool copy IN OUT\n");
        return 2;
    }
    if (rc) fprintf(stderr, "%s\n", sp_last_error());
    return rc ? 1 : 0;
}
