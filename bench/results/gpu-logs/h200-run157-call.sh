#!/usr/bin/env bash
# session 33 call 3 (run 157): 5-bit deltas by the rule (from run 156), x as f32 removed: test_cuda
# --decode, issue 5's decode scoreboard as the rule now picks (two copies, graphs), uneven rows in
# both orders (sp +-9% by row), test_cuda_model
tar -C /tmp -xJf .gpu-stage/bin.tar.xz
source bench/gpu/bin-env.sh; B=/tmp/binstage; OUT=$OUT/l; mkdir -p $OUT
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv > $OUT/env.txt 2>&1
timeout 170 $B/test_cuda --decode > $OUT/test_decode.log 2>&1; echo "test_cuda --decode rc $? $(el): $(tail -1 $OUT/test_decode.log)"
grep -E "^FAIL" $OUT/test_decode.log | head -10 | cut -c1-300
SP_TARGETS=decode timeout 110 $B/sp_gpu_bench --targets > $OUT/targets-decode.md 2>&1
echo "targets decode rc $? $(el): $(grep -E '^Decode: [0-9]' $OUT/targets-decode.md)"
SP_TIME_GRAPH=1 SP_DSWEEP_U=8 SP_DSWEEP_UNEVEN=1 SP_DSWEEP_SP=0.9 timeout 120 stdbuf -oL $B/sp_gpu_bench --delta-sweep > $OUT/sort-uneven-90.md 2>&1
echo "sweep uneven 90% rc $? $(el)"
timeout 60 $B/test_cuda_model > $OUT/test_cuda_model.log 2>&1; echo "test_cuda_model rc $? $(el): $(tail -1 $OUT/test_cuda_model.log)"
grep -E "^\| (2:4|unstructured [579]0%, 1 )" $OUT/targets-decode.md | cut -d'|' -f2-9
grep -h -E "^\| [0-9]" $OUT/sort-uneven-90.md | cut -d'|' -f2-7,11-12
