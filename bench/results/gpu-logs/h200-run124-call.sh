#!/usr/bin/env bash
# session 25 call 5 (run 124): tile 15 (tile 14 with 128-token blocks, 8 stages) checked, then
# tiles 5 / 14 / 15 interleaved (4 rounds, order alternating) from 256 to 2048 tokens, where the
# automatic pick is tile 5 below 3/4 of the SMs in 128 x 256 blocks
source bench/gpu/bin-env.sh
tar -C /tmp -xJf .gpu-stage/bin.tar.xz; B=/tmp/binstage; L=$OUT/l; mkdir -p $L
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
timeout 100 stdbuf -oL $B/test_cuda --wgmma 15 > $L/test-wgmma15.txt 2>&1; echo "test_cuda --wgmma 15 rc $? $(el)"
grep -E "FAIL|fail" $L/test-wgmma15.txt | head -5; grep t15 $L/test-wgmma15.txt | tail -2; tail -1 $L/test-wgmma15.txt
SP_SWEEP_N=256,384,512,768,1024,1536,2048 SP_SWEEP_ROUNDS=4 SP_SWEEP_TILES=5ef timeout 240 $B/sp_gpu_bench --prefill --sweep --iters 25 > $L/prefill-sweep.md 2>&1; echo "sweep rc $? $(el)"
grep -E "own GEMM tiles|  n=" $L/prefill-sweep.md | sed 's/ own GEMM.*//'
