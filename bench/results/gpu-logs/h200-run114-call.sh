#!/usr/bin/env bash
# session 24 call 1 (run 114): the shared index helpers of 771d621 (tile 9's producer and the
# a24 build kernel) on the GPU: test_cuda --wgmma 9, 10, 11, then all of test_cuda
source bench/gpu/bin-env.sh
B=.gpu-stage/bin; L=$OUT/l; mkdir -p $L
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
nvidia-smi --query-gpu=name,clocks.max.sm,power.limit,driver_version --format=csv
for t in 9 10 11; do
  timeout 100 $B/test_cuda --wgmma $t > $L/test-wgmma$t.txt 2>&1; echo "test_cuda --wgmma $t rc $? $(el)"
  grep -E "FAIL|fail" $L/test-wgmma$t.txt | head -5; tail -1 $L/test-wgmma$t.txt
done
timeout 300 $B/test_cuda > $L/test-all.txt 2>&1; echo "test_cuda rc $? $(el)"
grep -E "FAIL|fail" $L/test-all.txt | head -8; tail -2 $L/test-all.txt
