#!/usr/bin/env bash
# session 25 call 2 (run 121): why tile 14 (persistent) lost 13% on 28672x4096 at 8192 tokens in
# run 120's sweep while it won 2-4% on the small shapes: ncu on tiles 11 and 14 at 28672x4096 and
# 4096x4096 (8192 tokens), clocks free (what the board does: SM clock, L2 hit rate, DRAM bytes,
# tensor pipe) and at base clock (duration only); then the whole synthetic 8B at 2048 prompt
# tokens (TTFT with run 119's tile 11, the memory row)
source bench/gpu/bin-env.sh
B=.gpu-stage/bin; L=$OUT/l; mkdir -p $L
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
M=gpu__time_duration.sum,sm__cycles_elapsed.avg.per_second,lts__t_sector_hit_rate.pct,dram__bytes_read.sum,dram__bytes_write.sum,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_elapsed,sm__cycles_active.avg,lts__t_sectors_srcunit_tex_op_read.sum
for shape in 28672x4096 4096x4096; do for t in 11 14; do for cc in none base; do
  SP_PROF_SHAPE=$shape timeout 60 ncu --clock-control $cc --metrics $M -k regex:sp24_wgmma_kernel -s 3 -c 2 $B/sp_gpu_bench --profile-gemm $t > $L/ncu-$shape-t$t-$cc.txt 2>&1
  echo "== $shape tile $t clocks $cc rc $? $(el)"
  grep -E "gpu__time|per_second|hit_rate|dram__bytes|tensor_op|cycles_active|srcunit" $L/ncu-$shape-t$t-$cc.txt | awk '{print $1, $2, $3}' | paste -sd' ' | sed 's/  */ /g'
done; done; done
timeout 200 $B/sparsity bench --gpu --synthetic llama3-8b --prompts 2048 --batches 1 --ctx-tokens 512 --gen-tokens 16 --reps 3 > $L/model.md 2>&1; echo "model rc $? $(el)"
grep -E "TTFT P=|TPOT batch|memory|GB" $L/model.md | head -12
tail -3 $L/model.md
