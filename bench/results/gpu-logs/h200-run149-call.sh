#!/usr/bin/env bash
# session 30 call 2 (run 149): one 2:4 device layout. test_cuda (one-copy weights through every
# decode plan and GEMM tile, the refusal of tiles 4-9), the decode and mma.sp GEMM reading the
# stage-order copy against the fragment-order one (same process, graphs), and the synthetic 8B
# lean (now: one copy, stage order, the fast prefill tiles) with the sparse-only trim
source bench/gpu/bin-env.sh
tar -C /tmp -xJf .gpu-stage/bin.tar.xz; B=/tmp/binstage; L=$OUT/l; mkdir -p $L
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
timeout 270 $B/test_cuda > $L/test_cuda.log 2>&1; echo "test_cuda rc $? $(el): $(tail -1 $L/test_cuda.log)"
grep -E "^FAIL" $L/test_cuda.log | head -20; grep -c "one copy\|1cp" $L/test_cuda.log; grep "refused" $L/test_cuda.log
SP_TIME_GRAPH=1 timeout 150 $B/sp_gpu_bench --a24-ab --iters 200 > $L/a24-ab.md 2>&1; echo "a24-ab rc $? $(el)"
A="--gpu --synthetic llama3-8b --prompts 512,2048,8192 --batches 1,16 --ctx-tokens 512 --gen-tokens 32 --reps 3"
timeout 120 $B/sparsity bench $A --lean --trim sparse > $L/model-8b-lean.md 2>&1; echo "bench --lean --trim sparse rc $? $(el)"
sed -n '/^| synthetic/,$p' $L/model-8b-lean.md | grep -v "^  TT\|^  TP\|^times are\|^$\|^kernel table"
grep -E "^  (q|o|gate|down) +n=(1|16|512|2048) " $L/model-8b-lean.md | cut -c1-200
grep "^| [0-9]" $L/a24-ab.md | cut -d'|' -f2-9
