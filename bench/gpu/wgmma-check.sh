#!/usr/bin/env bash
# bench/gpu/wgmma-check.sh: one device call that settles the Hopper wgmma.sp GEMM variants (tiles
# 4-15, see sp24_wgmma.cu) and the automatic 2:4 prefill GEMM: their machine code (the epilogue
# reads the accumulators after the final wait: tests/check_wgmma_sass.py), test_cuda (all of it,
# or SP_WG_TESTS=--wgmma for the wgmma tiles alone), tiles SP_WG_SAN (default 14 15, the automatic
# ones since session 25; their synccheck has not been run yet) under
# compute-sanitizer synccheck (bounded by timeouts), then their speed
# against cuBLAS and cuSPARSELt (sp_gpu_bench --prefill --sweep; SP_WG_SWEEP=0: the automatic GEMM
# only, sp_gpu_bench --prefill). Logs in $OUT (default
# bench/results/logs); at most ~580 s, inside one device call.
#   SP_GPU_BIN=DIR bash bench/gpu/wgmma-check.sh     (DIR from bench/gpu/static-bins.sh; default build/)
source "$(dirname "$0")/bin-env.sh"
step() { # name, timeout, command...: log, rc, last lines
    local name=$1 t=$2; shift 2
    timeout "$t" "$@" >"$OUT/$name.log" 2>&1
    echo "== $name: rc $? ($*)"
    grep -E "FAIL|ERROR|passed|failures|hazard|Barrier error" "$OUT/$name.log" | head -8
}
LIB=$(ls "$B"/libsparsity_cuda.a build/libsparsity_cuda.a 2>/dev/null | head -1)
[ -n "$LIB" ] && step sass 30 python3 tests/check_wgmma_sass.py "$LIB"
step test_cuda 200 "$B/test_cuda" ${SP_WG_TESTS:-}
for t in ${SP_WG_SAN:-14 15}; do
    step synccheck$t 60 compute-sanitizer --tool synccheck "$B/test_cuda" --wgmma $t
done
if [ "${SP_WG_SWEEP:-1}" = 1 ]; then step prefill 180 "$B/sp_gpu_bench" --prefill --sweep
else step prefill 120 "$B/sp_gpu_bench" --prefill; grep -E '^\| [0-9]' "$OUT/prefill.log"; fi
grep -A4 "own GEMM tiles" "$OUT/prefill.log"
