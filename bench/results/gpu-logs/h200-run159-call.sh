#!/usr/bin/env bash
# session 34 call 2 (run 159): the one device script end to end on the final tree with
# prebuilt binaries: ceilings, test_cuda, test_cuda_model, the decode timing section (the other
# sections would not fit one 10-minute call), graph A/B, attention, the whole synthetic 8B
# calibrating a kernel table then running from it, and the whole scoreboard last
tar -C /tmp -xJf .gpu-stage/bin.tar.xz
T0=$(date +%s)
SP_GPU_BIN=/tmp/binstage OUT=$OUT/l timeout 585 bash bench/gpu/run.sh --decode > $OUT/run-sh.txt 2>&1; echo "run.sh rc $? $(( $(date +%s)-T0 ))s"
grep -E "^==|FAIL|passed|^cuSPARSELt|TB/s|TFLOP/s \(" $OUT/run-sh.txt | head -30
sed -n '/^-- model-8b-table/,$p' $OUT/run-sh.txt | head -14
grep -E "^\| (2:4|unstructured [579]0%, 1 )" $OUT/l/targets.md | cut -d'|' -f2-9
grep -E "^Decode:|^Prefill:" $OUT/run-sh.txt
