#!/usr/bin/env bash
# session 24 call 5 (run 118): all of test_cuda (the wgmma GEMM's automatic tiles 5 and 11 in the
# full run now), then tile 6 (CTA pairs, 128 x 128) against tile 5 with the CTA-scope remote release
source bench/gpu/bin-env.sh
B=.gpu-stage/bin; L=$OUT/l; mkdir -p $L
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
timeout 330 $B/test_cuda > $L/test-all.txt 2>&1; echo "test_cuda rc $? $(el)"
grep -E "FAIL|fail" $L/test-all.txt | head -8; tail -2 $L/test-all.txt
SP_SWEEP_TILES=56b timeout 120 $B/sp_gpu_bench --prefill --sweep > $L/prefill-sweep.md 2>&1; echo "sweep rc $? $(el)"
grep -E "  n=" $L/prefill-sweep.md
