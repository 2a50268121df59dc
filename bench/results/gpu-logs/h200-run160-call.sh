#!/usr/bin/env bash
# session 34 call 3 (run 160): bench/gpu/wgdec32.sh, not run in session 33 (no device time left):
# the wgmma.sp decode at 17-32 tokens (checks, A/B against the GEMM tiles on one-copy weights as
# the model launches them, the synthetic 8B at batch 32 with SP_DECODE_WGMMA=1 and without)
tar -C /tmp -xJf .gpu-stage/bin.tar.xz
T0=$(date +%s)
SP_GPU_BIN=/tmp/binstage OUT=$OUT/l timeout 560 bash bench/gpu/wgdec32.sh > $OUT/wgdec32.txt 2>&1; echo "wgdec32.sh rc $? $(( $(date +%s)-T0 ))s"
cat $OUT/wgdec32.txt | cut -c1-200
