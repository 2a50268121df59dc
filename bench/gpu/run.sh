#!/usr/bin/env bash
# bench/gpu/run.sh: builds the CUDA backend, runs the GPU correctness tests (kernels, then the
# whole-model forward against the CPU forward), times every kernel against cuBLAS dense bf16
# (Llama-8B shapes, decode and prefill token counts, block-pruned weights through cuSPARSE BSR;
# the copy bandwidth and bf16 GEMM ceilings first, bench/gpu/ceilings.py), the fused prefill
# attention kernels (8B and SmolLM2 heads), the decode calls again as CUDA graphs (--graph-ab: host
# launches against one graph a round, as the model's decode step runs),
# then the whole synthetic Llama-3-8B (sparsity bench --gpu: TTFT 512/2048/8192, TPOT batch
# 1/16, dense vs 2:4 in one process),
# and last issue 5's scoreboard (sp_gpu_bench --targets: every kernel target cell, met or missed,
# with the empty-kernel and read floors) beside the whole-model ratios. Logs go to $OUT (default bench/results/logs).
#   bench/gpu/run.sh [sp_gpu_bench flags: --decode --wgdec-ab --unstructured --prefill --block --sweep --iters N]
# (no flags: --decode --wgdec-ab --unstructured --prefill --block; --wgdec-ab times both 2:4 decode
# kernels, mma.sp and wgmma.sp, at every decode token count, since the table takes one of them)
# SP_GPU_AB=1 adds the decode A/B of bench/gpu/model-ab.sh: default, without early launch
# (SP_GPU_PDL=0), op by op (SP_GPU_PDL=0 SP_GPU_GRAPH=0), and a per-op profile.
# Build: cmake -DSP_CUDA=ON; if the CPU-side dependencies (OpenBLAS, cJSON) are missing
# on the GPU machine, a direct nvcc build of the backend + kernel test + kernel bench is used
# (no whole-model steps then), or SP_GPU_BIN=DIR takes binaries made by bench/gpu/static-bins.sh.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-bench/results/logs}
mkdir -p "$OUT"
B=build-gpu
# cuSPARSELt ships inside PyTorch (nvidia/cusparselt/{include,lib}); used when present.
LT_LIB=${SP_CUSPARSELT_LIB:-$(find / -xdev -name 'libcusparseLt.so*' -not -path '*/proc/*' 2>/dev/null | head -1)}
LT_INC=""
if [ -n "$LT_LIB" ]; then
    export SP_CUSPARSELT_LIB=$LT_LIB
    d=$(dirname "$(dirname "$LT_LIB")")/include
    [ -f "$d/cusparseLt.h" ] && LT_INC=$d
fi
echo "cuSPARSELt: lib=${LT_LIB:-none} include=${LT_INC:-none}" | tee "$OUT/env.txt"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv >>"$OUT/env.txt" 2>&1
nvcc --version | tail -1 >>"$OUT/env.txt"
# the two ceilings every ratio is read against, measured on this card (PyTorch; skipped without it)
timeout 120 python3 bench/gpu/ceilings.py 2>&1 | tee -a "$OUT/env.txt"

if [ -n "${SP_GPU_BIN:-}" ]; then
    B=$SP_GPU_BIN
    export LD_LIBRARY_PATH=$B:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
    echo "build: prebuilt binaries in $B"
elif cmake -S . -B $B -DCMAKE_BUILD_TYPE=Release -DSP_CUDA=ON ${LT_INC:+-DSP_CUSPARSELT_INCLUDE=$LT_INC} >"$OUT/build.log" 2>&1 &&
   cmake --build $B -j"$(nproc)" --target test_cuda test_cuda_model sp_gpu_bench sparsity_cli >>"$OUT/build.log" 2>&1; then
    echo "build: cmake ($B)"
else
    echo "build: cmake failed (see build.log tail below); direct nvcc build" | tee -a "$OUT/build.log"
    tail -5 "$OUT/build.log"
    mkdir -p $B/direct && rm -f $B/direct/*.o
    objs=""
    for f in src/kernels/cuda/*.cu; do
        o=$B/direct/$(basename "$f" .cu).o
        nvcc -O3 -std=c++17 -Iinclude -Isrc ${LT_INC:+-I$LT_INC} -gencode=arch=compute_80,code=sm_80 \
            -gencode=arch=compute_90a,code=sm_90a -lineinfo -c "$f" -o "$o" >>"$OUT/build.log" 2>&1 &
        objs="$objs $o"
    done
    wait
    for f in src/core/status.c src/core/dtype.c; do
        gcc -O2 -std=c11 -D_GNU_SOURCE -DSP_HAVE_CUDA -Iinclude -c "$f" -o $B/direct/$(basename "$f" .c).o >>"$OUT/build.log" 2>&1
        objs="$objs $B/direct/$(basename "$f" .c).o"
    done
    for t in tests/test_cuda.c tests/tools/sp_gpu_bench.c; do
        n=$(basename "$t" .c)
        gcc -O2 -std=c11 -D_GNU_SOURCE -Iinclude -Itests -c "$t" -o $B/direct/$n.main.o >>"$OUT/build.log" 2>&1 &&
        nvcc -o $B/$n $B/direct/$n.main.o $objs -lcublas -lcusparse -ldl -lm >>"$OUT/build.log" 2>&1
    done
fi
[ -x $B/test_cuda ] && [ -x $B/sp_gpu_bench ] || { echo "build failed"; tail -30 "$OUT/build.log"; exit 1; }

# a GPU test binary: log, tail, failures; 77 = skipped (no device)
run_test() {
    $B/$1 >"$OUT/$1.log" 2>&1
    local rc=$?
    tail -"$2" "$OUT/$1.log"
    grep FAIL "$OUT/$1.log" | head -20
    [ $rc -eq 0 ] || [ $rc -eq 77 ] || echo "$1 FAILED (rc $rc)"
}
echo "== correctness (tests/test_cuda.c)"
run_test test_cuda 3
if [ -x $B/test_cuda_model ]; then
    echo "== whole-model correctness (tests/test_cuda_model.c)"
    run_test test_cuda_model 1
fi

echo "== timing"
[ $# -gt 0 ] || set -- --decode --wgdec-ab --unstructured --prefill --block
$B/sp_gpu_bench "$@" 2>&1 | tee "$OUT/bench.md"
echo "== timing method: decode calls launched from the host / as one CUDA graph a round / graph with early launch"
$B/sp_gpu_bench --graph-ab 2>&1 | tee "$OUT/graph-ab.md"
echo "== fused prefill attention: mma.sync 16 / 32 query rows a warp, wgmma (sm_90a), against an f32 reference"
$B/sp_gpu_bench --attention 2>&1 | tee "$OUT/attention.md"

if [ -x $B/sparsity ]; then
    echo "== whole model: synthetic Llama-3-8B, dense cuBLAS vs 2:4"
    # first run measures every layer key and writes the kernel table; the second takes its
    # picks from that table (the reasons say "table ..."), as a deployment would
    $B/sparsity bench --gpu --synthetic llama3-8b --prompts 512,2048,8192 --batches 1,16 --ctx-tokens 512 \
        --gen-tokens 32 --reps 3 --calibrate-kernels "$OUT/kernel-table-8b.json" >"$OUT/model-8b.md" 2>&1 ||
        echo "bench --gpu --calibrate-kernels FAILED"
    $B/sparsity bench --gpu --synthetic llama3-8b --prompts 512,2048,8192 --batches 1,16 --ctx-tokens 512 \
        --gen-tokens 32 --reps 3 --kernel-table "$OUT/kernel-table-8b.json" >"$OUT/model-8b-table.md" 2>&1 ||
        echo "bench --gpu --kernel-table FAILED"
    grep -A20 "^## kernel" "$OUT/model-8b-table.md" | head -12
    for f in model-8b model-8b-table; do echo "-- $f"; sed -n '/^| synthetic/,$p' "$OUT/$f.md"; done
    if [ "${SP_GPU_AB:-0}" = 1 ]; then
        echo "== whole model A/B: decode graph and early launch"
        OUT=$OUT bash bench/gpu/model-ab.sh default="$B" no-early-launch="$B:SP_GPU_PDL=0" \
            op-by-op="$B:SP_GPU_PDL=0,SP_GPU_GRAPH=0" profile="$B:SP_GPU_PROFILE=1"
    fi
fi

echo "== issue 5 targets: every kernel cell against cuBLAS in one process (whole-model TPOT/TTFT ratios: the model tables above)"
$B/sp_gpu_bench --targets >"$OUT/targets.md" 2>&1 || echo "sp_gpu_bench --targets FAILED"
sed -n '/^## issue 5 targets/,$p' "$OUT/targets.md" | cut -d'|' -f1-12
