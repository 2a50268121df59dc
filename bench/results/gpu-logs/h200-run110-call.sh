#!/usr/bin/env bash
# session 23 call 1 (run 110): tiles 10-11 (tile 9's shared-memory A, its stages stored at first
# use and bulk-copied) checked, swept against tiles 8 and 9, cuBLAS and cuSPARSELt; ncu of tiles
# 10 and 8 at 2048 tokens (4096x4096)
source bench/gpu/bin-env.sh
B=.gpu-stage/bin; L=$OUT/l; mkdir -p $L
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
nvidia-smi --query-gpu=name,clocks.max.sm,power.limit,driver_version --format=csv > $L/gpu.txt 2>&1; cat $L/gpu.txt
for t in 10 11; do
  timeout 120 $B/test_cuda --wgmma $t > $L/test-wgmma$t.txt 2>&1; echo "test_cuda --wgmma $t rc $? $(el)"; grep -E "FAIL|passed|failed" $L/test-wgmma$t.txt | tail -3
done
SP_SWEEP_TILES=089ab timeout 300 $B/sp_gpu_bench --prefill --sweep > $L/prefill-sweep.md 2>&1; echo "sweep rc $? $(el)"
NCU="ncu --clock-control none --set full"
for t in 10 8; do
  timeout 120 $NCU -k regex:sp24_wgmma_kernel -s 1 -c 1 -o $L/ncu-t$t -f $B/sp_gpu_bench --profile-gemm $t > $L/ncu-t$t.log 2>&1; echo "ncu t$t rc $? $(el)"
  ncu -i $L/ncu-t$t.ncu-rep --page details > $L/ncu-t$t.txt 2>&1
  ncu -i $L/ncu-t$t.ncu-rep --page raw > $L/ncu-t$t-raw.txt 2>&1
  rm -f $L/ncu-t$t.ncu-rep
  grep -E "Duration|SM Frequency|Compute \(SM\) Throughput|L1/TEX Cache Throughput|Issue Slots Busy|Shared Memory|DRAM Throughput" $L/ncu-t$t.txt | head -10
  grep -E "sm__pipe_tensor_op_gmma_cycles_active.avg.pct_of_peak_sustained_active|sm__pipe_shared_cycles_active.avg.pct|l1tex__data_pipe_lsu_wavefronts_mem_shared.sum.pct|sm__inst_executed_pipe_uniform|l1tex__throughput.avg.pct|smsp__average_warp" $L/ncu-t$t-raw.txt | head -12
done
grep -E "^\| [0-9]|n=" $L/prefill-sweep.md
