#!/usr/bin/env bash
# session 27 call 3 (run 134): the scoreboard with TB/s (each form's bytes over its graph time,
# against a plain read of 256 MB) and dense-equivalent TFLOP/s (against cuBLAS's best cell)
# columns, then PyTorch's two ceilings (bench/gpu/ceilings.py) on the same card
source bench/gpu/bin-env.sh
tar -C /tmp -xJf .gpu-stage/bin.tar.xz; B=/tmp/binstage; L=$OUT/l; mkdir -p $L
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
timeout 200 stdbuf -oL $B/sp_gpu_bench --targets > $L/targets.md 2>&1; echo "targets rc $? $(el)"
grep -E "^\| |^Decode|^Prefill|ceiling" $L/targets.md | cut -d'|' -f1-13
timeout 120 python3 bench/gpu/ceilings.py > $L/ceilings.txt 2>&1; echo "ceilings rc $? $(el)"; cat $L/ceilings.txt
