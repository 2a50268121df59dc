#!/usr/bin/env bash
# bench/gpu/model-ab.sh LABEL=BINDIR[:VAR=VALUE,...] ...: the whole synthetic Llama-3-8B
# (sparsity bench --gpu, dense cuBLAS vs 2:4 in one process) once per configuration, one
# after another on the same GPU, so versions and switches (SP_GPU_GRAPH, SP_GPU_PDL,
# SP_GPU_PROFILE, ...) compare within one call. BENCH_ARGS overrides the bench flags.
# Logs: $OUT/LABEL.md; the TTFT/TPOT lines of every configuration are printed last. A
# configuration takes 60-100 s on the H100 (random weights, kernel choice, cuSPARSELt search,
# then the timings): six of them fill most of a 10-minute device call (run 27 ran out at four
# with 8192-token prompts).
#   e.g. bench/gpu/model-ab.sh old=gpubin-old new=gpubin new-nopdl=gpubin:SP_GPU_PDL=0
set -uo pipefail
OUT=${OUT:-bench/results/logs}
mkdir -p "$OUT"
ARGS=${BENCH_ARGS:---prompts 512,2048 --batches 1,16 --ctx-tokens 512 --gen-tokens 32 --reps 5}
for cfg in "$@"; do
    label=${cfg%%=*} rest=${cfg#*=}
    bin=${rest%%:*} envs=""
    [ "$rest" != "$bin" ] && envs=${rest#*:}
    bd=$(cd "$bin" 2>/dev/null && pwd) || { echo "$label: no folder $bin"; continue; }
    bin=$bd
    echo "== $label: $bin/sparsity ${envs:+($envs) }bench --gpu --synthetic llama3-8b $ARGS"
    # shellcheck disable=SC2086
    env ${envs//,/ } LD_LIBRARY_PATH="$bin:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}" \
        timeout 300 "$bin/sparsity" bench --gpu --synthetic llama3-8b $ARGS >"$OUT/$label.md" 2>&1 ||
        echo "$label FAILED (rc $?): $(tail -3 "$OUT/$label.md")"
done
for cfg in "$@"; do
    label=${cfg%%=*}
    echo "-- $label"
    [ -f "$OUT/$label.md" ] && grep -E "TTFT P=|TPOT batch" "$OUT/$label.md" | sed 's/^ */  /'
done
