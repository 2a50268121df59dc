#!/usr/bin/env bash
# session 30 call 5 (run 152): the 2:4 GEMM's wgmma.sp tiles from 17 tokens (were from 256; run
# 150's sweep: 1.3-2.8x the mma.sp tiles there): test_cuda, test_cuda_model, the synthetic 8B with
# a 128-token prompt and a batch of 64 added, default and lean with the sparse-only trim
source bench/gpu/bin-env.sh
tar -C /tmp -xJf .gpu-stage/bin.tar.xz; B=/tmp/binstage; L=$OUT/l; mkdir -p $L
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
timeout 240 $B/test_cuda > $L/test_cuda.log 2>&1; echo "test_cuda rc $? $(el): $(tail -1 $L/test_cuda.log)"
grep -E "^FAIL" $L/test_cuda.log | head -20
timeout 60 $B/test_cuda_model > $L/test_cuda_model.log 2>&1; echo "test_cuda_model rc $? $(el): $(tail -1 $L/test_cuda_model.log)"
grep -E "^FAIL" $L/test_cuda_model.log | head
A="--gpu --synthetic llama3-8b --prompts 128,512,2048,8192 --batches 1,16,64 --ctx-tokens 512 --gen-tokens 32 --reps 3"
timeout 130 $B/sparsity bench $A > $L/model-8b.md 2>&1; echo "bench rc $? $(el)"
timeout 110 $B/sparsity bench $A --lean --trim sparse > $L/model-8b-lean.md 2>&1; echo "bench lean rc $? $(el)"
for f in model-8b model-8b-lean; do echo "-- $f"; sed -n '/^| synthetic/,$p' $L/$f.md | grep -v "^  TT\|^  TP\|^times are\|^$\|^kernel table\|^  [a-z]"; done
grep -E "^  (q|o|gate|down) +n=(64|128) " $L/model-8b.md | cut -c1-220
