#!/usr/bin/env bash
# bench/gpu/trim.sh: the device-memory side of the whole-model run. test_cuda_model (its trim
# and lean checks among the rest), then the synthetic 8B as bench --gpu runs by default (timed,
# then trimmed to the forms its picks use and timed again; calibrating a kernel table) and
# lean (no cuSPARSELt form) with the sparse-only trim (no dense copy kept). Logs under
# $OUT (bench/results/logs by default); prebuilt binaries with SP_GPU_BIN (see static-bins.sh).
source "$(dirname "$0")/bin-env.sh"
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
timeout 300 $B/test_cuda_model > $OUT/test_cuda_model.log 2>&1; echo "test_cuda_model rc $? $(el): $(tail -1 $OUT/test_cuda_model.log)"
grep -E "bench trim|lean|FAIL" $OUT/test_cuda_model.log | head -20
A="--gpu --synthetic llama3-8b --prompts 512,2048,8192 --batches 1,16 --ctx-tokens 512 --gen-tokens 32 --reps 3"
timeout 240 $B/sparsity bench $A --calibrate-kernels $OUT/kernel-table-8b.json > $OUT/model-8b.md 2>&1; echo "bench rc $? $(el)"
timeout 240 $B/sparsity bench $A --lean --trim sparse > $OUT/model-8b-lean.md 2>&1; echo "bench --lean --trim sparse rc $? $(el)"
for f in model-8b model-8b-lean; do
    echo "-- $f"
    sed -n '/^| synthetic/,$p' $OUT/$f.md | grep -v "^  TT\|^  TP\|^times are\|^$\|^kernel table"
done
grep -E "^  (q|o|gate|down) +n=512" $OUT/model-8b-lean.md
