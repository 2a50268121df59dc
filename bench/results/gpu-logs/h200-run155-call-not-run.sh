#!/usr/bin/env bash
# session 30 call 8 (run 155): the wgmma.sp decode up to 32 tokens (NB 64 dropped, split-K scratch
# for 32 tokens made at upload: run 154's lazy growth freed a buffer that captured decode graphs
# still held, and its 8B bench did not finish in 90 s): test_cuda --wgdec, a short 8B bench at
# batch 32
source bench/gpu/bin-env.sh
tar -C /tmp -xJf .gpu-stage/bin.tar.xz; B=/tmp/binstage; L=$OUT/l; mkdir -p $L
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
timeout 20 $B/test_cuda --wgdec > $L/test_cuda_wgdec.log 2>&1; echo "test_cuda --wgdec rc $? $(el): $(tail -1 $L/test_cuda_wgdec.log)"
grep -E "^FAIL" $L/test_cuda_wgdec.log | head -5
timeout 35 stdbuf -oL $B/sparsity bench --gpu --synthetic llama3-8b --prompts 128 --batches 1,32 --ctx-tokens 256 --gen-tokens 8 --reps 1 --passes 1 > $L/model-8b-b32.md 2>&1; echo "bench rc $? $(el)"
sed -n '/^| synthetic/,$p' $L/model-8b-b32.md | grep -v "^  TT\|^  TP\|^times are\|^$\|^kernel table\|^  [a-z]" | head -20
grep -E "^  (q|o|gate|down) +n=32 " $L/model-8b-b32.md | cut -c1-200
tail -3 $L/model-8b-b32.md
