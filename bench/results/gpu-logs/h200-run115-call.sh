#!/usr/bin/env bash
# session 24 call 2 (run 115): tile 12 (tile 11 with two wgmma groups in flight) checked and swept
# against 11; source-level ncu of tile 11 at 8192 tokens (where the consumers stall); ncu of
# cuSPARSELt's kernel at 8192 (--profile-gemm 0) beside it
source bench/gpu/bin-env.sh
B=.gpu-stage/bin; L=$OUT/l; mkdir -p $L
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
timeout 80 $B/test_cuda --wgmma 12 > $L/test-wgmma12.txt 2>&1; echo "test_cuda --wgmma 12 rc $? $(el)"
grep -E "FAIL|fail" $L/test-wgmma12.txt | head -5; tail -1 $L/test-wgmma12.txt
SP_SWEEP_TILES=bc timeout 220 $B/sp_gpu_bench --prefill --sweep > $L/prefill-sweep.md 2>&1; echo "sweep rc $? $(el)"
grep -E "^\| [0-9]|n=" $L/prefill-sweep.md
timeout 120 ncu --clock-control none --set full --import-source no -k regex:sp24_wgmma_kernel -s 3 -c 1 -o $L/ncu-t11 -f $B/sp_gpu_bench --profile-gemm 11 > $L/ncu-t11.log 2>&1; echo "ncu t11 rc $? $(el)"
ncu -i $L/ncu-t11.ncu-rep --page source --csv --print-source sass > $L/ncu-t11-sass.csv 2>&1
ncu -i $L/ncu-t11.ncu-rep --page details > $L/ncu-t11.txt 2>&1
rm -f $L/ncu-t11.ncu-rep; gzip -f $L/ncu-t11-sass.csv; ls -la $L
timeout 150 ncu --clock-control none --set full -k regex:sparse -s 40 -c 1 -o $L/ncu-lt -f $B/sp_gpu_bench --profile-gemm 0 > $L/ncu-lt.log 2>&1; echo "ncu lt rc $? $(el)"
ncu -i $L/ncu-lt.ncu-rep --page details > $L/ncu-lt.txt 2>&1
ncu -i $L/ncu-lt.ncu-rep --page raw > $L/ncu-lt-raw.txt 2>&1
rm -f $L/ncu-lt.ncu-rep
for f in t11 lt; do echo "== $f"; grep -E "^  [a-z_A-Z].*\(|Duration|SM Frequency|Compute \(SM\) Throughput|L1/TEX Cache Throughput|L2 Cache Throughput|Issue Slots Busy|Registers Per|Shared Memory Configuration|Grid Size|Block Size|Cluster" $L/ncu-$f.txt | head -14; done
grep -E "l1tex__data_pipe_lsu_wavefronts_mem_shared.sum.pct_of_peak_sustained_elapsed |sm__pipe_shared_cycles_active.avg.pct_of_peak_sustained_active |lts__t_sectors.avg.pct_of_peak_sustained_elapsed |sm__inst_executed_pipe_tensor|smsp__pcsamp_warps_issue_stalled_(long_scoreboard|wait|short_scoreboard|barrier|selected|warpgroup_arrive) " $L/ncu-lt-raw.txt | head -12
gzip -f $L/ncu-lt-raw.txt
