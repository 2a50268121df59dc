#!/usr/bin/env bash
# session 27 call 10 (run 141): our cuBLAS handle with an explicit 32 MiB workspace (73b4d1b;
# SP_CUBLAS_WS_MB=0 the default pool, as before) against the default pool, alternated
# over six processes: 6144x4096's decode cells (is the ~16.7 us mode gone?), then the whole 8B's
# TTFT 2048 and TPOT batch 1 against the stronger dense, then 4096x14336's cells once each way
source bench/gpu/bin-env.sh
tar -C /tmp -xJf .gpu-stage/bin.tar.xz; B=/tmp/binstage; L=$OUT/l; mkdir -p $L
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
for i in 1 2 3; do for ws in 32 0; do
  SP_CUBLAS_WS_MB=$ws SP_TARGETS=decode SP_TARGETS_SHAPE=1 timeout 40 $B/sp_gpu_bench --targets > $L/t6144-$i-ws$ws.md 2>&1
  echo "ws $ws ($(grep -o 'cuBLAS [0-9.]* with [^,]*' $L/t6144-$i-ws$ws.md | head -1)) $(el): $(grep -E '^\| (2:4|unstructured [579]0%, 1 )' $L/t6144-$i-ws$ws.md | cut -d'|' -f5,6,7 | tr -d ' ' | tr '\n' ' ')"
done; done
timeout 100 $B/sparsity bench --gpu --synthetic llama3-8b --prompts 2048 --batches 1 --ctx-tokens 512 --gen-tokens 16 --reps 3 > $L/model-8b.md 2>&1; echo "model rc $? $(el)"
grep -E "^\| (TTFT|TPOT)|cuBLAS" $L/model-8b.md | head -4
for ws in 32 0; do
  SP_CUBLAS_WS_MB=$ws SP_TARGETS=decode SP_TARGETS_SHAPE=3 timeout 40 $B/sp_gpu_bench --targets > $L/t4096x14336-ws$ws.md 2>&1
  echo "4096x14336 ws $ws $(el): $(grep -E '^\| (2:4|unstructured [579]0%, 1 )' $L/t4096x14336-ws$ws.md | cut -d'|' -f5,6,7 | tr -d ' ' | tr '\n' ' ')"
done
