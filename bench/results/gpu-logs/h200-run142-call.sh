#!/usr/bin/env bash
# session 28 call 1 (run 142): SP_DENSE_TUNE=1 (the dense call through cuBLASLt, fastest of the
# heuristic's first 8 algorithms, timed L2-flushed at first use) against the default GemmEx:
# test_cuda (the timing warm-up change), the whole scoreboard both ways (32 MiB workspace default),
# 6144x4096 decode both ways twice more, PyTorch's dense on the same card, the whole 8B with the tuned dense
source bench/gpu/bin-env.sh
tar -C /tmp -xJf .gpu-stage/bin.tar.xz; B=/tmp/binstage; L=$OUT/l; mkdir -p $L
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv > $L/env.txt 2>&1
timeout 150 $B/test_cuda > $L/test_cuda.log 2>&1; echo "test_cuda rc $? $(el): $(tail -1 $L/test_cuda.log)"
for tune in 0 1; do
  SP_DENSE_TUNE=$tune timeout 150 $B/sp_gpu_bench --targets > $L/targets-tune$tune.md 2>&1
  echo "targets tune $tune rc $? $(el): $(grep -E '^Decode: |^Prefill: [0-9]' $L/targets-tune$tune.md | tr '\n' ' ')"
done
for i in 1 2; do for tune in 1 0; do
  SP_DENSE_TUNE=$tune SP_TARGETS=decode SP_TARGETS_SHAPE=1 timeout 40 $B/sp_gpu_bench --targets > $L/t6144-$i-tune$tune.md 2>&1
  echo "6144 tune $tune $(el): $(grep -E '^\| (2:4|unstructured [579]0%, 1 )' $L/t6144-$i-tune$tune.md | cut -d'|' -f5,7 | tr -d ' ' | tr '\n' ' ')"
done; done
for s in 4096x4096 6144x4096 4096x14336; do timeout 60 python3 bench/gpu/torch_dense_decode.py 1 $s 1 3 2>&1 | tail -1; done | tee $L/torch-dense.txt
SP_DENSE_TUNE=1 timeout 150 $B/sparsity bench --gpu --synthetic llama3-8b --prompts 2048 --batches 1 --ctx-tokens 512 --gen-tokens 16 --reps 3 > $L/model-8b-tune1.md 2>&1; echo "model tune rc $? $(el)"
grep -E "^\| (TTFT|TPOT)|cuBLAS" $L/model-8b-tune1.md | head -4
echo "== scoreboards"
for tune in 0 1; do echo "-- tune $tune"; grep -E '^\| (2:4|unstructured [579]0%, 1 )|^- dense' $L/targets-tune$tune.md | cut -d'|' -f2,3,5,6,8,12 | head -40; done
