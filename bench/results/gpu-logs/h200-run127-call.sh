#!/usr/bin/env bash
# session 25 call 8 (run 127): q|k|v and gate|up parts folded into their stacked weight (one device
# copy, not two): the device model tests (a new check sets a folded part again), then the whole
# synthetic 8B at 2048 prompt tokens for the memory row
source bench/gpu/bin-env.sh
tar -C /tmp -xJf .gpu-stage/bin.tar.xz; B=/tmp/binstage; L=$OUT/l; mkdir -p $L
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
timeout 100 stdbuf -oL $B/test_cuda_model > $L/test-model.txt 2>&1; echo "test_cuda_model rc $? $(el)"
grep -E "FAIL|fail" $L/test-model.txt | head -5; tail -1 $L/test-model.txt
timeout 120 $B/sparsity bench --gpu --synthetic llama3-8b --prompts 512,2048 --batches 1,16 --ctx-tokens 512 --gen-tokens 16 --reps 3 > $L/model-8b.md 2>&1; echo "model rc $? $(el)"
sed -n '/^| synthetic/,$p' $L/model-8b.md | head -12
