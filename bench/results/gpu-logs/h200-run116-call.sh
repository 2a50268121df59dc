#!/usr/bin/env bash
# session 24 call 3 (run 116): tile 13 (tile 11 in CTA pairs, x multicast) checked, swept against
# 11, then the prefill target cells with the automatic tile (11) and with tile 13 forced
source bench/gpu/bin-env.sh
B=.gpu-stage/bin; L=$OUT/l; mkdir -p $L
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
timeout 80 $B/test_cuda --wgmma 13 > $L/test-wgmma13.txt 2>&1; echo "test_cuda --wgmma 13 rc $? $(el)"
grep -E "FAIL|fail" $L/test-wgmma13.txt | head -5; tail -1 $L/test-wgmma13.txt
SP_SWEEP_TILES=bd timeout 150 $B/sp_gpu_bench --prefill --sweep > $L/prefill-sweep.md 2>&1; echo "sweep rc $? $(el)"
grep -E "n=" $L/prefill-sweep.md
SP_TARGETS=prefill timeout 150 $B/sp_gpu_bench --targets > $L/targets-prefill-t11.md 2>&1; echo "targets t11 rc $? $(el)"
grep -E "^\| 2:4|Prefill:" $L/targets-prefill-t11.md
SP_GEMM_TILE=13 SP_TARGETS=prefill timeout 150 $B/sp_gpu_bench --targets > $L/targets-prefill-t13.md 2>&1; echo "targets t13 rc $? $(el)"
grep -E "^\| 2:4|Prefill:" $L/targets-prefill-t13.md
