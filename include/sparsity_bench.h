/* sparsity_bench.h: TTFT/TPOT of a model with kernels bound per layer (eval/bench.c).
 * The seed's report keys: ttft_ms, tpot_ms, speedup_prefill, speedup_decode,
 * memory_saving, avg_sparsity. */
#ifndef SPARSITY_BENCH_H
#define SPARSITY_BENCH_H

#include "sparsity.h"
#include "sparsity_formats.h"

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

#endif
