#!/usr/bin/env bash
# session 29 call 1 (run 146): sp_cuda_model_trim (the forms no pick uses freed after the run):
# test_cuda_model with its trim checks, then the whole synthetic 8B calibrating a kernel table,
# trimmed at its end (bench --gpu's new default)
source bench/gpu/bin-env.sh
tar -C /tmp -xJf .gpu-stage/bin.tar.xz; B=/tmp/binstage; L=$OUT/l; mkdir -p $L
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
timeout 200 $B/test_cuda_model > $L/test_cuda_model.log 2>&1; echo "test_cuda_model rc $? $(el): $(tail -1 $L/test_cuda_model.log)"
grep -E "trim|FAIL" $L/test_cuda_model.log | head -30
timeout 330 $B/sparsity bench --gpu --synthetic llama3-8b --prompts 512,2048,8192 --batches 1,16 --ctx-tokens 512 \
    --gen-tokens 32 --reps 3 --calibrate-kernels $L/kernel-table-8b.json > $L/model-8b.md 2>&1
echo "bench rc $? $(el)"
grep -E "binding in|trim" $L/model-8b.md
sed -n '/^| synthetic/,$p' $L/model-8b.md
