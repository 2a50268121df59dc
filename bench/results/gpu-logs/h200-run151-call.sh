#!/usr/bin/env bash
# session 30 call 4 (run 151): issue 5's scoreboard on the 2:4 layout the device model now keeps
# (one copy, stage order: SP_ONE_COPY=1), whole; its decode cells on the two-copy weights in the
# same call; the decode's split-K plans on one-copy weights as graphs (the cluster plan was 1.4 us
# slower at 16 tokens on 6144x4096 in run 149)
source bench/gpu/bin-env.sh
tar -C /tmp -xJf .gpu-stage/bin.tar.xz; B=/tmp/binstage; L=$OUT/l; mkdir -p $L
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv > $L/env.txt 2>&1
SP_ONE_COPY=1 timeout 200 $B/sp_gpu_bench --targets > $L/targets-onecopy.md 2>&1
echo "targets one copy rc $? $(el): $(grep -E '^Decode: |^Prefill: [0-9]' $L/targets-onecopy.md | tr '\n' ' ')"
SP_TARGETS=decode timeout 120 $B/sp_gpu_bench --targets > $L/targets-twocopies-decode.md 2>&1
echo "targets decode two copies rc $? $(el): $(grep -E '^Decode: ' $L/targets-twocopies-decode.md)"
SP_ONE_COPY=1 SP_TIME_GRAPH=1 timeout 90 $B/sp_gpu_bench --cluster-ab > $L/cluster-ab-onecopy.md 2>&1; echo "cluster-ab rc $? $(el)"
for f in targets-onecopy targets-twocopies-decode; do echo "-- $f"; grep -E "^\| (2:4|unstructured [579]0%, 1 )" $L/$f.md | cut -d'|' -f2-9,12; done
grep "^| [0-9]" $L/cluster-ab-onecopy.md | cut -d'|' -f2-9
