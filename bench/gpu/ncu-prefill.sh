#!/usr/bin/env bash
# bench/gpu/ncu-prefill.sh: Nsight Compute on the 2:4 prefill GEMMs of sp_gpu_bench --prefill's
# first call (4096x4096, 2048 tokens): the own wgmma.sp kernel (tile 5), cuBLAS's dense kernel
# and cuSPARSELt's kernel, same sections, so their shared-memory and tensor-pipe use compare.
# Logs in $OUT (default bench/results/logs).
#   SP_GPU_BIN=DIR bash bench/gpu/ncu-prefill.sh
source "$(dirname "$0")/bin-env.sh"
SEC="--section SpeedOfLight --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis
     --section MemoryWorkloadAnalysis_Tables --section WarpStateStats --section Occupancy"
NCU="ncu --clock-control none $SEC"
# the kernel names of one pass, to find cuSPARSELt's
timeout 120 ncu --section LaunchStats -c 60 "$B/sp_gpu_bench" --prefill --iters 2 >"$OUT/ncu-names.log" 2>&1
grep -oE '^  [A-Za-z_][A-Za-z0-9_:<>, ]*\(' "$OUT/ncu-names.log" | sort | uniq -c | sort -rn >"$OUT/ncu-kernels.txt"
cat "$OUT/ncu-kernels.txt"
LT=$(grep -viE 'nvjet|sp24|flush|gc_|fill|rotate' "$OUT/ncu-kernels.txt" | grep -iE 'sparse|sp_|xmma|sm90' | head -1 |
     sed -E 's/^ *[0-9]+ +//; s/ *\($//' | grep -oE '^[A-Za-z0-9_]+')
echo "cuSPARSELt kernel: ${LT:-not found}"
timeout 150 $NCU -k regex:sp24_wgmma_kernel -s 2 -c 1 "$B/sp_gpu_bench" --prefill --iters 20 >"$OUT/ncu-wgmma-t5.txt" 2>&1
echo "wgmma: rc $?"
timeout 150 $NCU -k regex:nvjet -s 3 -c 1 "$B/sp_gpu_bench" --prefill --iters 20 >"$OUT/ncu-cublas.txt" 2>&1
echo "cuBLAS: rc $?"
[ -n "$LT" ] && { timeout 150 $NCU -k "regex:$LT" -s 3 -c 1 "$B/sp_gpu_bench" --prefill --iters 20 >"$OUT/ncu-cusparselt.txt" 2>&1; echo "cuSPARSELt: rc $?"; }
for f in "$OUT"/ncu-wgmma-t5.txt "$OUT"/ncu-cublas.txt "$OUT"/ncu-cusparselt.txt; do
    [ -f "$f" ] || continue
    echo "== $f"
    grep -E '^  [a-z_A-Z].*\(|Duration|Compute \(SM\) Throughput|Memory Throughput|Shared Memory|L1/TEX Hit|Issue Slots Busy|Executed Ipc Active|Warp Cycles Per Issued|Achieved Occupancy|Registers Per|Shared Memory Configuration Size|Dynamic Shared' "$f" | head -24
done
