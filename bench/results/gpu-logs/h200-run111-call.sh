#!/usr/bin/env bash
# session 23 call 2 (run 111): tile 11 automatic (bf16 and f16): test_cuda --wgmma (tiles 4-12,
# the picks), --f16; the prefill target cells (own automatic = tile 11, cuSPARSELt, cuBLAS
# interleaved); each kernel in its own steady state, own and cuSPARSELt; tile 12 (11 persistent)
# checked and swept against 11
source bench/gpu/bin-env.sh
B=.gpu-stage/bin; L=$OUT/l; mkdir -p $L
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
nvidia-smi --query-gpu=name,clocks.max.sm,power.limit,driver_version --format=csv
timeout 240 $B/test_cuda --wgmma > $L/test-wgmma.txt 2>&1; echo "test_cuda --wgmma rc $? $(el)"
grep -E "FAIL|fail" $L/test-wgmma.txt | head -5; tail -2 $L/test-wgmma.txt
timeout 120 $B/test_cuda --f16 > $L/test-f16.txt 2>&1; echo "test_cuda --f16 rc $? $(el)"
grep -E "FAIL|fail" $L/test-f16.txt | head -5; tail -2 $L/test-f16.txt
SP_SWEEP_TILES=0bc timeout 200 $B/sp_gpu_bench --prefill --sweep > $L/prefill-sweep.md 2>&1; echo "sweep rc $? $(el)"
grep -E "^\| [0-9]|n=" $L/prefill-sweep.md
SP_TARGETS=prefill timeout 150 $B/sp_gpu_bench --targets > $L/targets-prefill.md 2>&1; echo "targets rc $? $(el)"
grep -E "^\| 2:4|Prefill:" $L/targets-prefill.md
SP_PREFILL_B=own timeout 100 $B/sp_gpu_bench --prefill-steady > $L/steady-own.md 2>&1; echo "steady own rc $? $(el)"
grep -E "^\| [0-9]" $L/steady-own.md
timeout 100 $B/sp_gpu_bench --prefill-steady > $L/steady-lt.md 2>&1; echo "steady lt rc $? $(el)"
grep -E "^\| [0-9]" $L/steady-lt.md
