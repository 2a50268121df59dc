#!/usr/bin/env bash
# bench/gpu/drsort.sh: delta rows with the rows in length order (session 33; by the rule where it
# saves 20% of the bytes, SP_DR_SORT=1 always; run 157 timed its uneven sweep at 90%) on the GPU: test_cuda --decode (its length-order
# cases: every entry form, heads, uniform tasks, 4 warps, rows not a multiple of 32; SKIP_TEST=1
# where the tree's test_cuda already ran), then the same-process A/B as graphs (sp_gpu_bench
# --delta-sweep, SP_DSWEEP_U=8: the rule against SP_DR_SORT=1 twice, the same with 5-bit deltas,
# then with heads and by row) on rows of uneven sparsity (SP_DSWEEP_UNEVEN=1: sp +-9% by row, as
# magnitude and SparseGPT leave them; H200 run 156 timed the scoreboard's random rows at 90%: length
# order 0.1-0.2 us slower there, which the 0.8x line keeps out), and issue 5's decode scoreboard with
# 5-bit deltas and length order. Predicted (bench/NOTES.md, thirty-third session): uneven rows at
# 90% ~0.65-0.75x the weight-order time where the row groups outnumber the SMs, ~0.85-1.0x with one
# block an SM. Logs under $OUT; prebuilt binaries with SP_GPU_BIN.
source "$(dirname "$0")/bin-env.sh"
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv > $OUT/env.txt 2>&1
if [ -z "${SKIP_TEST:-}" ]; then # SKIP_TEST=1 where dr5.sh's test_cuda --decode ran in this tree
  timeout 200 $B/test_cuda --decode > $OUT/test_decode.log 2>&1; echo "test_cuda --decode rc $? $(el): $(tail -1 $OUT/test_decode.log)"
  grep -E "^FAIL" $OUT/test_decode.log | head -20
fi
SP_TIME_GRAPH=1 SP_DSWEEP_U=8 SP_DSWEEP_UNEVEN=1 SP_DSWEEP_TO=3 timeout 150 stdbuf -oL $B/sp_gpu_bench --delta-sweep > $OUT/sort-uneven.md 2>&1
echo "sweep uneven rc $? $(el)"
SP_DR_D5=1 SP_DR_SORT=1 SP_TARGETS=decode timeout 100 $B/sp_gpu_bench --targets > $OUT/targets-decode-d5-sort.md 2>&1
echo "targets decode d5+sort rc $? $(el): $(grep -E '^Decode: ' $OUT/targets-decode-d5-sort.md)"
grep -h -E "^\| [0-9]" $OUT/sort-uneven.md | cut -d'|' -f2-7,11-12
grep -E "^\| unstructured" $OUT/targets-decode-d5-sort.md | cut -d'|' -f2-9
