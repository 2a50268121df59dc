#!/usr/bin/env bash
# session 34 call 1 (run 158): the profiles the issue asks for where a target is missed: ncu
# (--set full, SASS source view) of the scoreboard's decode calls at 4096x4096 and 6144x4096
# (cuBLAS at 1 and 16 tokens, the 2:4 kernel at 1 and 16, delta rows 90% at 1), only the calls
# inside sp_cuda_profile's range; then the decode scoreboard once more (two copies, graphs)
tar -C /tmp -xJf .gpu-stage/bin.tar.xz
source bench/gpu/bin-env.sh; B=/tmp/binstage; L=$OUT/l; mkdir -p $L
T0=$(date +%s); el() { echo "$(( $(date +%s)-T0 ))s"; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu,power.limit --format=csv > $L/env.txt 2>&1
NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu 2>/dev/null | head -1); $NCU --version | tail -1 >> $L/env.txt
for s in 4096x4096 6144x4096; do
  SP_PROF_TARGETS=1 SP_PROF_SHAPE=$s timeout 170 $NCU --clock-control none --set full --import-source yes --profile-from-start off \
    -o $L/ncu-$s -f $B/sp_gpu_bench --profile > $L/ncu-run-$s.log 2>&1; echo "ncu $s rc $? $(el)"
  grep -v "^==PROF==" $L/ncu-run-$s.log | tail -5
  $NCU -i $L/ncu-$s.ncu-rep --page details > $L/ncu-$s-details.txt 2>&1
  $NCU -i $L/ncu-$s.ncu-rep --page source --csv --print-source sass > $L/ncu-$s-sass.csv 2>&1
  python3 bench/gpu/ncu_top.py $L/ncu-$s-sass.csv 14 > $L/ncu-$s-stall-top.txt 2>&1 || echo "ncu_top failed: $(tail -2 $L/ncu-$s-stall-top.txt)"
  grep -E "^  [a-zA-Z_].*\(|Duration|DRAM Throughput|Memory Throughput|SM Active Cycles|Elapsed Cycles|Achieved Active Warps|Issue Slots Busy|Grid Size|Block Size|Registers Per" $L/ncu-$s-details.txt | sed 's/  */ /g' | cut -c1-120
  grep -E "^## |^by reason" $L/ncu-$s-stall-top.txt | cut -c1-200
done
gzip $L/*.csv
SP_TARGETS=decode timeout 120 $B/sp_gpu_bench --targets > $L/targets-decode.md 2>&1
echo "targets decode rc $? $(el): $(grep -E '^Decode: [0-9]' $L/targets-decode.md)"
grep -E "^\| (2:4|unstructured [579]0%, 1 )" $L/targets-decode.md | cut -d'|' -f2-9
