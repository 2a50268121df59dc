#!/usr/bin/env bash
# session 24 call 6 (run 119): tiles 9-13's consumers with the barrier addresses in registers and the
# slot counted (no S2UR SR_CgaCtaId and no division by S a stage): tile 11 checked, the prefill
# table (own tile 11 against cuSPARSELt and cuBLAS), the prefill target cells
source bench/gpu/bin-env.sh
B=.gpu-stage/bin; L=$OUT/l; mkdir -p $L
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
timeout 60 $B/test_cuda --wgmma 11 > $L/test-wgmma11.txt 2>&1; echo "test_cuda --wgmma 11 rc $? $(el)"
grep -E "FAIL|fail" $L/test-wgmma11.txt | head -5; tail -1 $L/test-wgmma11.txt
timeout 80 $B/sp_gpu_bench --prefill > $L/prefill.md 2>&1; echo "prefill rc $? $(el)"
grep -E "^\| [0-9]+x[0-9]+ \| [0-9]{4}" $L/prefill.md
SP_TARGETS=prefill timeout 95 $B/sp_gpu_bench --targets > $L/targets-prefill.md 2>&1; echo "targets rc $? $(el)"
grep -E "^\| 2:4|Prefill:" $L/targets-prefill.md
