#!/usr/bin/env bash
# session 29 call 3 (run 148): the trim as bench --gpu runs it now (right after the timed passes,
# then the sparse binding timed again), its sparse-only policy, and the lean binding:
# test_cuda_model, then the whole synthetic 8B: default (trim to the picks, calibrating) and
# --lean --trim sparse
source bench/gpu/bin-env.sh
tar -C /tmp -xJf .gpu-stage/bin.tar.xz; B=/tmp/binstage; L=$OUT/l; mkdir -p $L
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
timeout 200 $B/test_cuda_model > $L/test_cuda_model.log 2>&1; echo "test_cuda_model rc $? $(el): $(tail -1 $L/test_cuda_model.log)"
grep -E "bench trim|lean|FAIL" $L/test_cuda_model.log | head -20
A="--gpu --synthetic llama3-8b --prompts 512,2048,8192 --batches 1,16 --ctx-tokens 512 --gen-tokens 32 --reps 3"
timeout 200 $B/sparsity bench $A --calibrate-kernels $L/kernel-table-8b.json > $L/model-8b.md 2>&1; echo "bench rc $? $(el)"
timeout 200 $B/sparsity bench $A --lean --trim sparse > $L/model-8b-lean.md 2>&1; echo "bench --lean --trim sparse rc $? $(el)"
for f in model-8b model-8b-lean; do echo "-- $f"; sed -n '/^| synthetic/,$p' $L/$f.md | grep -v "^  TT\|^  TP\|^times are\|^$\|^kernel table"; done
grep -E "^  (q|o|gate|down) +n=512" $L/model-8b-lean.md
