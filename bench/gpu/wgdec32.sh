#!/usr/bin/env bash
# bench/gpu/wgdec32.sh: what the wgmma.sp decode at 17-32 tokens needs before it becomes automatic
# (H200 run 154: 1.22-1.43x cuBLAS at 24-32 tokens on three 8B shapes; the whole-model bench with
# it automatic, then to 64 tokens, stalled): its checks, its A/B against the GEMM tiles on one-copy
# weights as the model launches them, and the synthetic 8B at batch 32 with it (SP_DECODE_WGMMA=1)
# and without, each under a timeout. Logs under $OUT; prebuilt binaries with SP_GPU_BIN.
source "$(dirname "$0")/bin-env.sh"
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
timeout 60 $B/test_cuda --wgdec > $OUT/test_cuda_wgdec.log 2>&1; echo "test_cuda --wgdec rc $? $(el): $(tail -1 $OUT/test_cuda_wgdec.log)"
SP_ONE_COPY=1 SP_TIME_GRAPH=2 timeout 80 $B/sp_gpu_bench --wgdec-ab > $OUT/wgdec-ab.md 2>&1; echo "wgdec-ab rc $? $(el)"
A="--gpu --synthetic llama3-8b --prompts 128,2048 --batches 1,32 --ctx-tokens 512 --gen-tokens 16 --reps 3"
for m in 1 0; do
    SP_DECODE_WGMMA=$m timeout 120 stdbuf -oL $B/sparsity bench $A > $OUT/model-8b-wgdec$m.md 2>&1; echo "bench SP_DECODE_WGMMA=$m rc $? $(el)"
done
for m in 1 0; do echo "-- SP_DECODE_WGMMA=$m"; sed -n '/^| synthetic/,/^| device memory in use, whole card, while/p' $OUT/model-8b-wgdec$m.md; done
grep "^| [0-9]" $OUT/wgdec-ab.md | cut -d'|' -f2-9 | grep -E "\| (16|24|32) "
