#!/usr/bin/env bash
# session 30 call 6 (run 153): the 2:4 GEMM's wgmma.sp tiles from 17 tokens (were from 256; run
# 150's sweep: 1.3-2.8x the mma.sp tiles there; run 152 passed test_cuda and test_cuda_model with
# them): the synthetic 8B with a 128-token prompt and a batch of 64, default and lean with the
# sparse-only trim (run 152's bench took at most two batch sizes and stopped)
source bench/gpu/bin-env.sh
tar -C /tmp -xJf .gpu-stage/bin.tar.xz; B=/tmp/binstage; L=$OUT/l; mkdir -p $L
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
A="--gpu --synthetic llama3-8b --prompts 128,512,2048,8192 --batches 1,64 --ctx-tokens 512 --gen-tokens 32 --reps 3"
timeout 130 $B/sparsity bench $A > $L/model-8b.md 2>&1; echo "bench rc $? $(el)"
timeout 110 $B/sparsity bench $A --lean --trim sparse > $L/model-8b-lean.md 2>&1; echo "bench lean rc $? $(el)"
for f in model-8b model-8b-lean; do echo "-- $f"; sed -n '/^| synthetic/,$p' $L/$f.md | grep -v "^  TT\|^  TP\|^times are\|^$\|^kernel table\|^  [a-z]"; done
grep -E "^  (q|o|gate|down) +n=(64|128) " $L/model-8b.md | cut -c1-220
