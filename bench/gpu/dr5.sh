#!/usr/bin/env bash
# bench/gpu/dr5.sh: delta rows' 5-bit deltas (session 32; SP_DR_D5=1 by weight, 2 by row; ran as
# H200 run 156, by the rule since, so "the rule" below now means 5-bit deltas at 90%) on the GPU: test_cuda --decode (its 5-bit cases: the rule's and forced layouts,
# 4 and 32 warps, rows of 7 and 8 binades, by weight and by row), then the same-process A/B as
# graphs (sp_gpu_bench --delta-sweep, SP_DSWEEP_U=7: the rule against 5-bit deltas three times,
# then 5-bit deltas with heads, uniform tasks, 18, 24 and 32 warps, and by row) on 4096x4096 and
# 6144x4096, the rule against 5-bit deltas on the two large shapes, the same two shapes at 90%
# with the rows in length order (SP_DSWEEP_U=8: SP_DR_SORT=1 against the rule, with and without
# 5-bit deltas; session 33), and issue 5's decode scoreboard with SP_DR_D5=1. Predicted (bench/NOTES.md, thirty-second session): 90% at 1 token
# 4096x4096 4.17 -> ~3.4 us (to ~4.3), 6144x4096 4.98 -> ~3.8 us (to ~4.6); by row within ~0.1 us
# of by weight. Logs under $OUT; prebuilt binaries with SP_GPU_BIN.
source "$(dirname "$0")/bin-env.sh"
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv > $OUT/env.txt 2>&1
if [ -z "${SKIP_TEST:-}" ]; then # SKIP_TEST=1 where verify-tree.sh's test_cuda ran on this tree
  timeout 170 $B/test_cuda --decode > $OUT/test_decode.log 2>&1; echo "test_cuda --decode rc $? $(el): $(tail -1 $OUT/test_decode.log)"
  grep -E "^FAIL" $OUT/test_decode.log | head -20
fi
SP_TIME_GRAPH=1 SP_DSWEEP_U=7 SP_DSWEEP_TO=2 timeout 180 stdbuf -oL $B/sp_gpu_bench --delta-sweep > $OUT/dr5-sweep-small.md 2>&1
echo "sweep 4096/6144 rows rc $? $(el)"
SP_TIME_GRAPH=1 SP_DSWEEP_U=7 SP_DSWEEP_N=2 SP_DSWEEP_FROM=2 timeout 60 stdbuf -oL $B/sp_gpu_bench --delta-sweep > $OUT/dr5-sweep-large.md 2>&1
echo "sweep large rc $? $(el)"
SP_TIME_GRAPH=1 SP_DSWEEP_U=8 SP_DSWEEP_SP=0.9 SP_DSWEEP_TO=2 timeout 50 stdbuf -oL $B/sp_gpu_bench --delta-sweep > $OUT/dr5-sort-90.md 2>&1
echo "sweep 90% length order rc $? $(el)"
SP_DR_D5=1 SP_TARGETS=decode timeout 110 $B/sp_gpu_bench --targets > $OUT/targets-decode-d5.md 2>&1
echo "targets decode d5 rc $? $(el): $(grep -E '^Decode: ' $OUT/targets-decode-d5.md)"
grep -h -E "^\| [0-9]" $OUT/dr5-sweep-small.md $OUT/dr5-sweep-large.md $OUT/dr5-sort-90.md | cut -d'|' -f2-7,11-12
grep -E "^\| unstructured" $OUT/targets-decode-d5.md | cut -d'|' -f2-9
