#!/usr/bin/env bash
# session 27 call 2 (run 133): the whole scoreboard (decode, unstructured and prefill cells) in one
# process on 41c6881, then synccheck of the split-K tiles 16 and 17
source bench/gpu/bin-env.sh
tar -C /tmp -xJf .gpu-stage/bin.tar.xz; B=/tmp/binstage; L=$OUT/l; mkdir -p $L
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
timeout 200 stdbuf -oL $B/sp_gpu_bench --targets > $L/targets.md 2>&1; echo "targets rc $? $(el)"
grep -E "^\| |^Decode:|^Prefill:" $L/targets.md | cut -d'|' -f1-10
timeout 150 compute-sanitizer --tool synccheck $B/test_cuda --wgmma 16,17 > $L/synccheck16-17.txt 2>&1; echo "synccheck rc $? $(el)"
grep -E "ERROR SUMMARY|Barrier error|hazard|passed" $L/synccheck16-17.txt | tail -3
