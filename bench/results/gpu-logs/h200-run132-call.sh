#!/usr/bin/env bash
# session 27 call 1 (run 132): final check of 41c6881 (split-K tiles 16/17 automatic, H2D copies
# and memsets on the ctx stream): all of test_cuda, the f16 forms, the device model tests twice
# (run 130 had one fold_check failure, traced to a pageable cudaMemcpy racing the ctx stream),
# then the whole synthetic 8B at 512/2048/8192 prompt tokens, batch 1 and 16
source bench/gpu/bin-env.sh
tar -C /tmp -xJf .gpu-stage/bin.tar.xz; B=/tmp/binstage; L=$OUT/l; mkdir -p $L
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
nvidia-smi --query-gpu=name,clocks.max.sm,power.limit,driver_version --format=csv > $L/env.txt 2>&1
timeout 200 stdbuf -oL $B/test_cuda > $L/test-all.txt 2>&1; echo "test_cuda rc $? $(el)"
grep -E "FAIL|fail" $L/test-all.txt | head -8; tail -1 $L/test-all.txt
timeout 60 stdbuf -oL $B/test_cuda --f16 > $L/test-f16.txt 2>&1; echo "test_cuda --f16 rc $? $(el)"
grep -E "FAIL|fail" $L/test-f16.txt | head -5; tail -1 $L/test-f16.txt
for i in 1 2; do
timeout 90 stdbuf -oL $B/test_cuda_model > $L/test-model-$i.txt 2>&1; echo "test_cuda_model $i rc $? $(el)"
grep -E "^seed|FAIL|fail" $L/test-model-$i.txt | head -6; tail -1 $L/test-model-$i.txt
done
timeout 200 $B/sparsity bench --gpu --synthetic llama3-8b --prompts 512,2048,8192 --batches 1,16 --ctx-tokens 512 --gen-tokens 16 --reps 3 > $L/model-8b.md 2>&1; echo "model rc $? $(el)"
sed -n '/^| synthetic/,$p' $L/model-8b.md | head -30
