#!/usr/bin/env bash
# session 25 call 1 (run 120): tile 14 (tile 11 persistent, epilogue by stmatrix + TMA stores) checked,
# then tile 11 against 14 in one process (sweep) and in the prefill target cells (interleaved, L2
# flushed), then tiles 9, 10, 12 checked after the consumer (run 119) and producer loop changes
source bench/gpu/bin-env.sh
B=.gpu-stage/bin; L=$OUT/l; mkdir -p $L
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
timeout 90 stdbuf -oL $B/test_cuda --wgmma 14 > $L/test-wgmma14.txt 2>&1; echo "test_cuda --wgmma 14 rc $? $(el)"
grep -E "FAIL|fail|t14" $L/test-wgmma14.txt | head -12; tail -1 $L/test-wgmma14.txt
SP_SWEEP_TILES=be timeout 120 $B/sp_gpu_bench --prefill --sweep > $L/prefill-sweep.md 2>&1; echo "sweep rc $? $(el)"
grep -E "^\| [0-9]+x[0-9]+ \| [0-9]{4}|n=" $L/prefill-sweep.md
SP_GEMM_TILE=14 SP_TARGETS=prefill timeout 110 $B/sp_gpu_bench --targets > $L/targets-prefill-t14.md 2>&1; echo "targets t14 rc $? $(el)"
grep -E "^\| 2:4|Prefill:" $L/targets-prefill-t14.md
SP_TARGETS=prefill timeout 110 $B/sp_gpu_bench --targets > $L/targets-prefill-t11.md 2>&1; echo "targets t11 rc $? $(el)"
grep -E "^\| 2:4|Prefill:" $L/targets-prefill-t11.md
timeout 120 stdbuf -oL $B/test_cuda --wgmma 9,10,12 > $L/test-wgmma-9-10-12.txt 2>&1; echo "test_cuda --wgmma 9,10,12 rc $? $(el)"
grep -E "FAIL|fail" $L/test-wgmma-9-10-12.txt | head -5; tail -1 $L/test-wgmma-9-10-12.txt
