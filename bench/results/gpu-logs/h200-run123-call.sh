#!/usr/bin/env bash
# session 25 call 4 (run 123): tile 14 automatic (03ce7e6): all of test_cuda (tiles 5 and 14 in its
# wgmma part), the f16 forms (tile 14 in f16), the device model tests (their memory-in-use check
# is new), then the whole synthetic 8B at 512/2048/8192 prompt tokens, batch 1 and 16
source bench/gpu/bin-env.sh
tar -C /tmp -xJf .gpu-stage/bin.tar.xz; B=/tmp/binstage; L=$OUT/l; mkdir -p $L
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
timeout 240 stdbuf -oL $B/test_cuda > $L/test-all.txt 2>&1; echo "test_cuda rc $? $(el)"
grep -E "FAIL|fail" $L/test-all.txt | head -8; grep -E "t14|t5 " $L/test-all.txt | tail -3; tail -1 $L/test-all.txt
timeout 60 stdbuf -oL $B/test_cuda --f16 > $L/test-f16.txt 2>&1; echo "test_cuda --f16 rc $? $(el)"
grep -E "FAIL|fail" $L/test-f16.txt | head -5; tail -1 $L/test-f16.txt
timeout 150 stdbuf -oL $B/test_cuda_model > $L/test-model.txt 2>&1; echo "test_cuda_model rc $? $(el)"
grep -E "FAIL|fail|memory" $L/test-model.txt | head -8; tail -1 $L/test-model.txt
timeout 200 $B/sparsity bench --gpu --synthetic llama3-8b --prompts 512,2048,8192 --batches 1,16 --ctx-tokens 512 --gen-tokens 16 --reps 3 > $L/model-8b.md 2>&1; echo "model rc $? $(el)"
sed -n '/^| synthetic/,$p' $L/model-8b.md | head -30
