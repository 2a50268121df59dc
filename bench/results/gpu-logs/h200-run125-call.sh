#!/usr/bin/env bash
# session 25 call 6 (run 125): run 124 had tile 14 at 384 tokens slower than at 512 (6144x4096 40.0
# against 30.6 us): a block past the last token loads a 256-token box that TMA zero-fills past n.
# Tiles 14-15 now load such a block in 64-token boxes up to n; tile 11 (same producer, WS 3) still
# loads the whole box. Checked (test_cuda --wgmma 14,15), then tiles 11 / 14 / 15 interleaved at
# token counts with and without a partial last block
source bench/gpu/bin-env.sh
tar -C /tmp -xJf .gpu-stage/bin.tar.xz; B=/tmp/binstage; L=$OUT/l; mkdir -p $L
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
timeout 120 stdbuf -oL $B/test_cuda --wgmma 14,15 > $L/test-wgmma14-15.txt 2>&1; echo "test_cuda --wgmma 14,15 rc $? $(el)"
grep -E "FAIL|fail" $L/test-wgmma14-15.txt | head -5; tail -1 $L/test-wgmma14-15.txt
SP_SWEEP_N=256,384,512,640,1152,2048,2049,2304 SP_SWEEP_ROUNDS=4 SP_SWEEP_TILES=bef timeout 240 $B/sp_gpu_bench --prefill --sweep --iters 25 > $L/prefill-sweep.md 2>&1; echo "sweep rc $? $(el)"
grep -E "own GEMM tiles|  n=" $L/prefill-sweep.md | sed 's/ own GEMM.*//'
