#!/usr/bin/env bash
# session 25 call 7 (run 126): the tree with tiles 14/15 automatic by rounds and partial token
# blocks loaded in 64-token boxes: all of test_cuda (its wgmma part: tiles 14 and 15 and the
# automatic picks), the f16 forms, the device model tests, the whole synthetic 8B at
# 512/2048/8192 prompt tokens, then the prefill target cells
source bench/gpu/bin-env.sh
tar -C /tmp -xJf .gpu-stage/bin.tar.xz; B=/tmp/binstage; L=$OUT/l; mkdir -p $L
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
timeout 220 stdbuf -oL $B/test_cuda > $L/test-all.txt 2>&1; echo "test_cuda rc $? $(el)"
grep -E "FAIL|fail" $L/test-all.txt | head -8; tail -1 $L/test-all.txt
timeout 60 stdbuf -oL $B/test_cuda --f16 > $L/test-f16.txt 2>&1; echo "test_cuda --f16 rc $? $(el)"
grep -E "FAIL|fail" $L/test-f16.txt | head -5; tail -1 $L/test-f16.txt
timeout 100 stdbuf -oL $B/test_cuda_model > $L/test-model.txt 2>&1; echo "test_cuda_model rc $? $(el)"
grep -E "FAIL|fail" $L/test-model.txt | head -5; tail -1 $L/test-model.txt
timeout 150 $B/sparsity bench --gpu --synthetic llama3-8b --prompts 512,2048,8192 --batches 1,16 --ctx-tokens 512 --gen-tokens 16 --reps 3 > $L/model-8b.md 2>&1; echo "model rc $? $(el)"
sed -n '/^| synthetic/,$p' $L/model-8b.md | head -12
grep -E "^  (q|o|gate|down) +n=512 " $L/model-8b.md | sed 's/table the first sparse pass: //' | cut -c1-220
SP_TARGETS=prefill timeout 100 $B/sp_gpu_bench --targets > $L/targets-prefill.md 2>&1; echo "targets rc $? $(el)"
grep -E "^\| 2:4|Prefill:" $L/targets-prefill.md
