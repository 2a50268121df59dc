#!/usr/bin/env bash
# session 23 call 3 (run 112, tile 12 reverted): test_cuda --wgmma 11 (tile 11's cases, the
# linears and the automatic picks that run 111's time limit cut), ncu of tile 11 at 8192 tokens
# (4096x4096), then all of test_cuda
source bench/gpu/bin-env.sh
B=.gpu-stage/bin; L=$OUT/l; mkdir -p $L
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
timeout 150 $B/test_cuda --wgmma 11 > $L/test-wgmma11.txt 2>&1; echo "test_cuda --wgmma 11 rc $? $(el)"
grep -E "FAIL|fail|pick" $L/test-wgmma11.txt | head -8; tail -2 $L/test-wgmma11.txt
timeout 120 ncu --clock-control none --set full -k regex:sp24_wgmma_kernel -s 3 -c 1 -o $L/ncu-t11 -f $B/sp_gpu_bench --profile-gemm 11 > $L/ncu-t11.log 2>&1; echo "ncu t11 rc $? $(el)"
ncu -i $L/ncu-t11.ncu-rep --page details > $L/ncu-t11.txt 2>&1
ncu -i $L/ncu-t11.ncu-rep --page raw > $L/ncu-t11-raw.txt 2>&1
rm -f $L/ncu-t11.ncu-rep
grep -E "Duration|SM Frequency|Compute \(SM\) Throughput|L1/TEX Cache Throughput|Issue Slots Busy|DRAM Throughput" $L/ncu-t11.txt | head -8
grep -E "l1tex__data_pipe_lsu_wavefronts_mem_shared.sum.pct_of_peak_sustained_elapsed |sm__pipe_shared_cycles_active.avg.pct_of_peak_sustained_active |lts__t_sectors.avg.pct_of_peak_sustained_elapsed |smsp__pcsamp_warps_issue_stalled_(long_scoreboard|wait|short_scoreboard|barrier|selected) " $L/ncu-t11-raw.txt
timeout 330 $B/test_cuda > $L/test-all.txt 2>&1; echo "test_cuda rc $? $(el)"
grep -E "FAIL|fail" $L/test-all.txt | head -8; tail -3 $L/test-all.txt
