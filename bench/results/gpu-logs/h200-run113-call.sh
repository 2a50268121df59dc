#!/usr/bin/env bash
# session 23 call 4 (run 113): compute-sanitizer synccheck of tile 11 (test_cuda --wgmma 11), then
# the whole synthetic 8B at 2048 prompt tokens with tile 11 as the own prefill GEMM (the model
# times own and cuSPARSELt per layer key and keeps the faster)
source bench/gpu/bin-env.sh
B=.gpu-stage/bin; L=$OUT/l; mkdir -p $L
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
timeout 100 compute-sanitizer --tool synccheck $B/test_cuda --wgmma 11 > $L/synccheck11.txt 2>&1; echo "synccheck rc $? $(el)"
grep -E "ERROR SUMMARY|Barrier error|hazard|passed" $L/synccheck11.txt | tail -3
timeout 170 $B/sparsity bench --gpu --synthetic llama3-8b --prompts 2048 --batches 1 --ctx-tokens 512 --gen-tokens 16 --reps 3 > $L/model.md 2>&1; echo "model rc $? $(el)"
grep -E "TTFT P=|TPOT batch" $L/model.md | head -6
grep -iE "wgmma|cusparselt" $L/model.md | grep -iE "2048" | head -10
tail -3 $L/model.md
