#!/usr/bin/env bash
# session 30 call 3 (run 150): the sparse binding with one 2:4 device copy by default (stage
# order on Hopper): test_cuda_model, the synthetic 8B as bench --gpu runs by default (against
# run 148's two copies); the A/B of run 149 as the model launches (graphs, early launch); the own
# GEMM tiles at 17-200 tokens against cuBLAS and cuSPARSELt (where the mma.sp GEMM sits)
source bench/gpu/bin-env.sh
tar -C /tmp -xJf .gpu-stage/bin.tar.xz; B=/tmp/binstage; L=$OUT/l; mkdir -p $L
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
timeout 100 $B/test_cuda_model > $L/test_cuda_model.log 2>&1; echo "test_cuda_model rc $? $(el): $(tail -1 $L/test_cuda_model.log)"
grep -E "bench trim|lean|FAIL" $L/test_cuda_model.log | head -20
A="--gpu --synthetic llama3-8b --prompts 512,2048,8192 --batches 1,16 --ctx-tokens 512 --gen-tokens 32 --reps 3"
timeout 150 $B/sparsity bench $A --calibrate-kernels $L/kernel-table-8b.json > $L/model-8b.md 2>&1; echo "bench rc $? $(el)"
sed -n '/^| synthetic/,$p' $L/model-8b.md | grep -v "^  TT\|^  TP\|^times are\|^$\|^kernel table\|^  [a-z]"
grep -c "cusparselt" $L/kernel-table-8b.json
SP_TIME_GRAPH=2 timeout 60 $B/sp_gpu_bench --a24-ab --iters 200 > $L/a24-ab-early.md 2>&1; echo "a24-ab rc $? $(el)"
grep "^| [0-9]" $L/a24-ab-early.md | cut -d'|' -f2-9 | grep -v "| 32 \|| 64 \|| 128 \|| 200 "
SP_SWEEP_N=17,32,64,128,200 SP_SWEEP_TILES=0123efgh SP_SWEEP_ROUNDS=2 timeout 240 $B/sp_gpu_bench --prefill --sweep --iters 50 > $L/sweep-small.md 2>&1; echo "sweep rc $? $(el)"
grep -E "own GEMM tiles|n=" $L/sweep-small.md | cut -c1-230
