#!/usr/bin/env bash
# session 25 call 3 (run 122): tile 11 against tile 14 in one process with the order alternating
# (8 rounds of 25 calls, medians), then the prefill target cells with tile 14 and with tile 11
# once more; then tile 14 on a shape with more blocks than SMs (each CTA walks two) in test_cuda
source bench/gpu/bin-env.sh
B=.gpu-stage/bin; L=$OUT/l; mkdir -p $L
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
SP_SWEEP_ROUNDS=8 SP_SWEEP_TILES=be timeout 200 $B/sp_gpu_bench --prefill --sweep --iters 25 > $L/prefill-sweep-ab.md 2>&1; echo "sweep rc $? $(el)"
grep -E "^[0-9]+x[0-9]+ own|n=" $L/prefill-sweep-ab.md | sed 's/ own GEMM.*//'
SP_GEMM_TILE=14 SP_TARGETS=prefill timeout 110 $B/sp_gpu_bench --targets > $L/targets-prefill-t14.md 2>&1; echo "targets t14 rc $? $(el)"
grep -E "^\| 2:4|Prefill:" $L/targets-prefill-t14.md
SP_GEMM_TILE=11 SP_TARGETS=prefill timeout 110 $B/sp_gpu_bench --targets > $L/targets-prefill-t11.md 2>&1; echo "targets t11 rc $? $(el)"
grep -E "^\| 2:4|Prefill:" $L/targets-prefill-t11.md
timeout 100 stdbuf -oL $B/test_cuda --wgmma 14 > $L/test-wgmma14.txt 2>&1; echo "test_cuda --wgmma 14 rc $? $(el)"
grep -E "FAIL|fail|t14" $L/test-wgmma14.txt | tail -4; tail -1 $L/test-wgmma14.txt
