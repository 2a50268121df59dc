#!/usr/bin/env bash
# session 28 call 3 (run 144): the prefill GEMM's store with a device-side trap where K parts would
# reach the non-TMA store (unreachable: wg_launch refuses them): test_cuda, test_cuda --wgmma 16,17
# (the K-part tiles forced), then the prefill scoreboard (no time change expected)
source bench/gpu/bin-env.sh
tar -C /tmp -xJf .gpu-stage/bin.tar.xz; B=/tmp/binstage; L=$OUT/l; mkdir -p $L
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
timeout 170 $B/test_cuda > $L/test_cuda.log 2>&1; echo "test_cuda rc $? $(el): $(tail -1 $L/test_cuda.log)"
timeout 120 $B/test_cuda --wgmma 16,17 > $L/test_cuda-wgmma16-17.log 2>&1; echo "test_cuda --wgmma 16,17 rc $? $(el): $(tail -1 $L/test_cuda-wgmma16-17.log)"
SP_TARGETS=prefill timeout 150 $B/sp_gpu_bench --targets > $L/targets-prefill.md 2>&1; echo "prefill targets rc $? $(el)"
grep -E '^\| 2:4 prefill|^Prefill: [0-9]' $L/targets-prefill.md | cut -d'|' -f2-9
