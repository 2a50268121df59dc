#!/usr/bin/env bash
# session 27 call 5 (run 136): K parts allowed up to 2048 tokens (a6026a3). The wgmma
# tests of tiles 16 and 17 and the automatic picks (4096x4096 at 1100 tokens now tile 16, at
# 1792 and 2304 tile 14), then the whole synthetic 8B at 1152 and 1536 prompt tokens with the
# binaries before (K parts up to 1024) and after, one process each, after then before then after
source bench/gpu/bin-env.sh
tar -C /tmp -xJf .gpu-stage/bin.tar.xz; B=/tmp/binstage; L=$OUT/l; mkdir -p $L
mkdir -p /tmp/old && tar -C /tmp/old -xJf .gpu-stage/bin-old.tar.xz; BO=/tmp/old/binstage
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
timeout 150 stdbuf -oL $B/test_cuda --wgmma 16,17 > $L/test-wgmma16-17.txt 2>&1; echo "test_cuda --wgmma 16,17 rc $? $(el)"
grep -E "FAIL|fail|pick" $L/test-wgmma16-17.txt | head -8; tail -1 $L/test-wgmma16-17.txt
i=0
for b in $B $BO $B; do i=$((i+1))
timeout 120 $b/sparsity bench --gpu --synthetic llama3-8b --prompts 1152,1536 --batches 1 --ctx-tokens 512 --gen-tokens 4 --reps 3 > $L/model-$i.md 2>&1; echo "model $i ($b) rc $? $(el)"
grep -E "^\| TTFT" $L/model-$i.md; grep -E "^  (down|o|qkv|q\|k\|v|gate\|up) +n=(1152|1536) " $L/model-$i.md | head -8 | cut -c1-200
done
