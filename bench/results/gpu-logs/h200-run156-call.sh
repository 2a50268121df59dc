#!/usr/bin/env bash
# session 33 call 2 (run 156): bench/gpu/dr5.sh without its test (run 155's test_cuda covered the
# tree): 5-bit deltas A/B as graphs, length order at 90% on the two missed cells, the decode
# scoreboard with SP_DR_D5=1; then drsort.sh's x-as-f32 sweep at 90%
tar -C /tmp -xJf .gpu-stage/bin.tar.xz
SKIP_TEST=1 SP_GPU_BIN=/tmp/binstage OUT=$OUT/l bash bench/gpu/dr5.sh
source bench/gpu/bin-env.sh; B=/tmp/binstage
SP_TIME_GRAPH=1 SP_DSWEEP_U=9 SP_DSWEEP_SP=0.9 timeout 110 stdbuf -oL $B/sp_gpu_bench --delta-sweep > $OUT/l/xf-90.md 2>&1
echo "sweep x as f32 rc $?"
grep -h -E "^\| [0-9]" $OUT/l/xf-90.md | cut -d'|' -f2-7,11-12
