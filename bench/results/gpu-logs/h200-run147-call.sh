#!/usr/bin/env bash
# session 29 call 2 (run 147): the trim's check prefill compared with the same prefill just
# before it; the lean binding (one copy of each 2:4 weight): test_cuda_model, then the whole
# synthetic 8B as bench --gpu runs by default (calibrating, trimmed) and with --lean
source bench/gpu/bin-env.sh
tar -C /tmp -xJf .gpu-stage/bin.tar.xz; B=/tmp/binstage; L=$OUT/l; mkdir -p $L
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
timeout 200 $B/test_cuda_model > $L/test_cuda_model.log 2>&1; echo "test_cuda_model rc $? $(el): $(tail -1 $L/test_cuda_model.log)"
grep -E "bench trim|lean|FAIL" $L/test_cuda_model.log | head -20
A="--gpu --synthetic llama3-8b --prompts 512,2048,8192 --batches 1,16 --ctx-tokens 512 --gen-tokens 32 --reps 3"
timeout 200 $B/sparsity bench $A --calibrate-kernels $L/kernel-table-8b.json > $L/model-8b.md 2>&1; echo "bench rc $? $(el)"
timeout 200 $B/sparsity bench $A --lean > $L/model-8b-lean.md 2>&1; echo "bench --lean rc $? $(el)"
for f in model-8b model-8b-lean; do echo "-- $f"; grep -E "trimmed to" $L/$f.md; sed -n '/^| synthetic/,/^$/p' $L/$f.md; done
grep -E "^  (q|o|gate|down) +n=(512|2048|8192)" $L/model-8b-lean.md
