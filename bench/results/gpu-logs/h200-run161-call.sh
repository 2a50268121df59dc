#!/usr/bin/env bash
# session 34 call 4 (run 161): the wgmma.sp decode automatic at 17-32 tokens (run 160): test_cuda
# whole (its automatic-path check now wants wgmma.sp at 32 tokens; bf16 and f16 at 17 take it),
# test_cuda_model, and the synthetic 8B at batch 1/16/32 by the automatic rule (no SP_DECODE_WGMMA)
tar -C /tmp -xJf .gpu-stage/bin.tar.xz
source bench/gpu/bin-env.sh; B=/tmp/binstage; L=$OUT/l; mkdir -p $L
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
timeout 250 $B/test_cuda > $L/test_cuda.log 2>&1; echo "test_cuda rc $? $(el): $(tail -1 $L/test_cuda.log)"
grep -E "^FAIL" $L/test_cuda.log | head -20; grep -E "n=(17|24|32|33): " $L/test_cuda.log | sort | uniq | head -12 | cut -c1-160
timeout 60 $B/test_cuda_model > $L/test_cuda_model.log 2>&1; echo "test_cuda_model rc $? $(el): $(tail -1 $L/test_cuda_model.log)"
A="--gpu --synthetic llama3-8b --prompts 128 --batches 1,32 --ctx-tokens 512 --gen-tokens 16 --reps 3"
timeout 90 stdbuf -oL $B/sparsity bench $A > $L/model-8b-auto32.md 2>&1; echo "bench rc $? $(el)"
sed -n '/^| synthetic/,/^| device memory in use, whole card, while/p' $L/model-8b-auto32.md
grep -E "wgmma.sp decode" $L/model-8b-auto32.md | head -4 | cut -c1-200
