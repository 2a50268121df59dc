#!/usr/bin/env bash
# session 30 call 7 (run 154): the wgmma.sp decode kernel for 17-64 tokens (NB 32 and 64, global
# split-K, ws grown at the first such call), automatic there: test_cuda --wgdec (forced, with 17-65
# tokens on three shapes, and the automatic paths), the A/B against the GEMM tiles on one-copy
# weights as the model launches them, and the synthetic 8B with a batch of 64
source bench/gpu/bin-env.sh
tar -C /tmp -xJf .gpu-stage/bin.tar.xz; B=/tmp/binstage; L=$OUT/l; mkdir -p $L
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
timeout 100 $B/test_cuda --wgdec > $L/test_cuda_wgdec.log 2>&1; echo "test_cuda --wgdec rc $? $(el): $(tail -1 $L/test_cuda_wgdec.log)"
grep -E "^FAIL" $L/test_cuda_wgdec.log | head -10
SP_ONE_COPY=1 SP_TIME_GRAPH=2 timeout 80 $B/sp_gpu_bench --wgdec-ab > $L/wgdec-ab.md 2>&1; echo "wgdec-ab rc $? $(el)"
A="--gpu --synthetic llama3-8b --prompts 128,512,2048,8192 --batches 1,64 --ctx-tokens 512 --gen-tokens 32 --reps 3"
timeout 90 $B/sparsity bench $A > $L/model-8b.md 2>&1; echo "bench rc $? $(el)"
sed -n '/^| synthetic/,$p' $L/model-8b.md | grep -v "^  TT\|^  TP\|^times are\|^$\|^kernel table\|^  [a-z]"
grep -E "^  (q|o|gate|down) +n=(64|128) " $L/model-8b.md | cut -c1-200
grep "^| [0-9]" $L/wgdec-ab.md | cut -d'|' -f2-9 | grep -E "\| (16|24|32|48|64) "
