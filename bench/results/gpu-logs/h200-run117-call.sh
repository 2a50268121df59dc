#!/usr/bin/env bash
# session 24 call 4 (run 117): tile 13 with the remote release at CTA scope (no MEMBAR.ALL.GPU
# before each arrival): checked, swept against 11, the prefill target cells with tile 13 forced,
# then synccheck of tile 13
source bench/gpu/bin-env.sh
B=.gpu-stage/bin; L=$OUT/l; mkdir -p $L
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
timeout 80 $B/test_cuda --wgmma 13 > $L/test-wgmma13.txt 2>&1; echo "test_cuda --wgmma 13 rc $? $(el)"
grep -E "FAIL|fail" $L/test-wgmma13.txt | head -5; tail -1 $L/test-wgmma13.txt
SP_SWEEP_TILES=bd timeout 150 $B/sp_gpu_bench --prefill --sweep > $L/prefill-sweep.md 2>&1; echo "sweep rc $? $(el)"
grep -E "  n=" $L/prefill-sweep.md
SP_GEMM_TILE=13 SP_TARGETS=prefill timeout 150 $B/sp_gpu_bench --targets > $L/targets-prefill-t13.md 2>&1; echo "targets t13 rc $? $(el)"
grep -E "^\| 2:4|Prefill:" $L/targets-prefill-t13.md
timeout 120 compute-sanitizer --tool synccheck $B/test_cuda --wgmma 13 > $L/synccheck13.txt 2>&1; echo "synccheck rc $? $(el)"
grep -E "ERROR SUMMARY|Barrier error|hazard|passed" $L/synccheck13.txt | tail -3
