#!/usr/bin/env bash
# session 27 call 4 (run 135): should K parts (tiles 16/17) be allowed past 1024 tokens? Run 130
# found tile 16 10% faster than the pick at 1152 tokens on 4096x4096 (K parts are only considered
# up to 1024). Tiles 14-17 forced and the automatic pick at 1152-2048 tokens, five shapes, two
# rounds (order reversed in the second), to check gemm_tile's estimate past 1024 offline
source bench/gpu/bin-env.sh
tar -C /tmp -xJf .gpu-stage/bin.tar.xz; B=/tmp/binstage; L=$OUT/l; mkdir -p $L
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
SP_SWEEP_N=1152,1280,1408,1536,1792,2048 SP_SWEEP_ROUNDS=2 SP_SWEEP_TILES=0efgh timeout 400 $B/sp_gpu_bench --prefill --sweep --iters 25 > $L/prefill-sweep.md 2>&1; echo "sweep rc $? $(el)"
grep -E "own GEMM tiles|  n=" $L/prefill-sweep.md | sed 's/ own GEMM.*//'
