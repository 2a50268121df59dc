/* sparsity_bench.h: TTFT/TPOT of a model with kernels bound per layer (eval/bench.c).
 * The seed's report keys: ttft_ms, tpot_ms, speedup_prefill, speedup_decode,
 * memory_saving, avg_sparsity. */
#ifndef SPARSITY_BENCH_H
#define SPARSITY_BENCH_H

#include "sparsity.h"
#include "sparsity_formats.h"
#include <stdio.h>

typedef struct {
    int prompt_tokens;   /* prefill length (TTFT) */
    int gen_tokens;      /* decode steps timed after the prefill (TPOT) */
    int reps;            /* repetitions; the median is reported */
    sp_fmt fmt;          /* format for the block linears (SP_FMT_AUTO: select.c decides per layer) */
    sp_dtype vals;       /* value dtype of every bound weight (F32, F16, BF16) */
} sp_bench_opts;

typedef struct {
    double ttft_ms;      /* median time of one prefill of prompt_tokens */
    double tpot_ms;      /* median time per decoded token */
    size_t weight_bytes; /* bytes of the bound block-linear weights (lm_head/embeddings excluded) */
    double avg_sparsity; /* zeros / weights over the block linears */
} sp_bench_result;

/* Binds every block linear (fmt, vals) and lm_head (dense, vals), then times prefill
 * (kernels bound for prompt_tokens) and decode (kernels rebound for 1 token). Kernels stay
 * bound for decode afterwards, so callers can list them. */
int sp_bench_run(sp_model *m, const sp_bench_opts *o, sp_bench_result *r);


/* ------------------------------------------------------------------ GPU (eval/bench_gpu.c)
 * Whole-model prefill and decode on the device (sparsity_cuda.h), dense cuBLAS against the
 * sparse binding of the same weights, in one process. */
#include "sparsity_cuda.h"

#define SP_BENCH_GPU_MAXP 4
typedef struct {
    const char *synthetic;     /* "llama3-8b": random weights made on the device, 2:4 magnitude; else NULL */
    int prompts[SP_BENCH_GPU_MAXP], n_prompts; /* TTFT prompt lengths */
    int batches[2], n_batches; /* TPOT batch sizes (sequences decoding together) */
    int ctx_tokens;            /* prompt before the timed decode steps */
    int gen_tokens, reps;
    int check;                 /* compare logits with the CPU forward (real models) */
    int check_tokens;          /* prompt length of that check (0: 100); > 512 crosses attention chunks */
    const sp_cuda_table_entry *table; /* kernel choices for the sparse binding (--kernel-table), or NULL */
    int n_table;
    const char *table_source;  /* the table's file name, quoted in the choices' reasons */
    int passes;                /* 1: dense, then sparse; 2 (or 0): sparse, dense, dense, sparse, each
                                * mode's time the mean of its two passes' medians, so that a drift
                                * over the run (clocks as the device heats) falls on both alike */
    int lean;                  /* the sparse binding lean (sp_cuda_model_bind 2): no cuSPARSELt form */
    int trim;                  /* after the last sparse pass: 1 free the forms no pick uses (sp_cuda_model_trim),
                                * 2 the same sparse forms only (dense picks moved to their fastest sparse form);
                                * then measure what the card holds and run the check prefill again */
} sp_bench_gpu_opts;

typedef struct {
    sp_cuda_model_cfg cfg;
    double ttft_ms[2][SP_BENCH_GPU_MAXP]; /* [dense, sparse][prompt] */
    double tpot_ms[2][2];                 /* [dense, sparse][batch] */
    int passes;                           /* as run (1 or 2); the means above are over them */
    double ttft_pass_ms[2][2][SP_BENCH_GPU_MAXP], tpot_pass_ms[2][2][2]; /* [pass][mode][..] */
    /* the board over those reps (TPOT's include their untimed prefills); samples 0: not measured */
    sp_cuda_power ttft_power[2][2][SP_BENCH_GPU_MAXP], tpot_power[2][2][2];
    size_t weight_bytes[2];               /* block linears as bound for 1 token: what a decode step reads */
    /* device memory in use after each mode's first timed pass (sp_cuda_mem_in_use): the sparse
     * binding keeps the dense weights (the fallback) beside every sparse form it times and the
     * workspaces its kernels make at first use (0: not measured) */
    size_t mem_in_use[2];
    /* with o->trim: in use at the end of the run before the trim and after it, the forms freed, the
     * picks moved off dense, and the check prefill's logits after the trim against the first sparse
     * pass's (-1: not run; the check's token count is not timed, so its kernels may differ) */
    size_t mem_before_trim, mem_trimmed;
    int trim_forms, trim_moved;
    double ttft_trimmed_ms[SP_BENCH_GPU_MAXP], tpot_trimmed_ms[2]; /* the sparse binding timed again after the trim */
    double err_after_trim;
    /* rel err of last-token logits, [dense, sparse]; -1 = not run. Against the CPU forward on the
     * same bf16-rounded weights (arithmetic only), and prefill against the f32 weights too. */
    double err_prefill[2], err_decode[2], err_batch[2], err_prefill_f32w[2];
    double err_sparse_vs_dense;           /* GPU sparse vs GPU dense logits, same weights */
    sp_cuda_model *model;                 /* left bound sparse for kernel reports and
                                           * sp_cuda_model_table_get; caller frees */
} sp_bench_gpu_result;

/* m: the model (NULL with o->synthetic); with o->check its weights are rounded to bf16 in
 * place after the upload (the CPU reference then holds what the GPU holds). Prints progress
 * to log (may be NULL). */
int sp_bench_gpu(sp_model *m, const sp_bench_gpu_opts *o, sp_bench_gpu_result *r, FILE *log);


/* ------------------------------------------------------------------ kernel table (eval/kernel_table.c)
 * The measured kernel choices of one device as JSON, read and written without a GPU:
 * {"format": "sparsity-kernel-table", "version": 1, "device": "...", "date": "...",
 *  "entries": [{"out": 4096, "in": 4096, "pattern": "2:4" | "unstructured", "sparsity_decile": 5,
 *               "tokens": 1, "us": {"dense-cublas": 17.1, "24-mma.sp": 10.8}, "pick": "24-mma.sp"}]}
 * Kernel names are sp_cuda_kernel_name's; "us" holds the timed forms only, and the pick is one of them. */
#define SP_KERNEL_TABLE_VERSION 1

/* A time as the file keeps it: microseconds to 1 ns (decimal digits that read back exactly). */
double sp_kernel_table_us(double us);
/* Writes n entries to path through a temporary file in the same folder and a rename, so path
 * is either the old file or the whole new one. Checks the entries first (finite times >= 0, the
 * pick timed, shapes and deciles in range); nothing is written when one is bad. */
int sp_kernel_table_write(const char *path, const char *device, const sp_cuda_table_entry *e, int n);
/* Reads up to max entries into e (*n = how many). Untimed forms come back as us < 0. With
 * expected_device non-NULL, a table measured on another device is an error. Every problem
 * (no file, not JSON, another format or version, a missing or bad field, an unknown kernel, a
 * repeated key, more than max entries) is an error with a message naming the file. */
int sp_kernel_table_read(const char *path, const char *expected_device, sp_cuda_table_entry *e, int max, int *n);

#endif
