#!/usr/bin/env bash
# session 25 call 9 (run 128): the whole scoreboard (decode, unstructured and prefill cells) in one
# process on the final tree (355e810)
source bench/gpu/bin-env.sh
tar -C /tmp -xJf .gpu-stage/bin.tar.xz; B=/tmp/binstage; L=$OUT/l; mkdir -p $L
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
timeout 165 stdbuf -oL $B/sp_gpu_bench --targets > $L/targets.md 2>&1; echo "targets rc $? $(el)"
grep -E "^\| |^Decode:|^Prefill:" $L/targets.md | cut -d'|' -f1-10
