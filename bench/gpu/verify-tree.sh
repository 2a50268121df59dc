#!/usr/bin/env bash
# bench/gpu/verify-tree.sh: the first device call after sessions without a GPU. The tree's checks
# (test_cuda, test_cuda_model), then issue 5's decode scoreboard on the layout the device model
# keeps on Hopper (one copy, SP_ONE_COPY=1) with the split-K plans beside it, to see the plan rule
# of session 31 (one-copy weights at 9-16 tokens no longer switch to the 4-row-tile cluster plan;
# predicted from run 151: 6144x4096 at 16 tokens 13.09 -> ~11.8 us as graphs, ~1.36x). Then
# bench/gpu/dr5.sh, bench/gpu/drsort.sh and bench/gpu/wgdec32.sh in later calls. test_cuda's
# limit, 320 s: it took 136-250 s in runs 118-152, and sessions 32-33 added the 5-bit delta and
# length-order cases (run 155: 152 s). Logs under $OUT; prebuilt binaries with SP_GPU_BIN.
source "$(dirname "$0")/bin-env.sh"
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv > $OUT/env.txt 2>&1
timeout 320 $B/test_cuda > $OUT/test_cuda.log 2>&1; echo "test_cuda rc $? $(el): $(tail -1 $OUT/test_cuda.log)"
grep -E "^FAIL" $OUT/test_cuda.log | head -20
timeout 50 $B/test_cuda_model > $OUT/test_cuda_model.log 2>&1; echo "test_cuda_model rc $? $(el): $(tail -1 $OUT/test_cuda_model.log)"
grep -E "^FAIL" $OUT/test_cuda_model.log | head
SP_ONE_COPY=1 SP_TARGETS=decode timeout 110 $B/sp_gpu_bench --targets > $OUT/targets-onecopy-decode.md 2>&1
echo "targets decode one copy rc $? $(el): $(grep -E '^Decode: ' $OUT/targets-onecopy-decode.md)"
SP_ONE_COPY=1 SP_TIME_GRAPH=1 timeout 80 $B/sp_gpu_bench --cluster-ab > $OUT/cluster-ab-onecopy.md 2>&1; echo "cluster-ab rc $? $(el)"
grep -E "^\| (2:4|unstructured [579]0%, 1 )" $OUT/targets-onecopy-decode.md | cut -d'|' -f2-9,12
grep "^| [0-9]" $OUT/cluster-ab-onecopy.md | cut -d'|' -f2-9,11 | grep -E "\| (8|12|16) "
