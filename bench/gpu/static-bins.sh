#!/usr/bin/env bash
# bench/gpu/static-bins.sh OUTDIR: relinks the CUDA-enabled binaries of build/ (sparsity,
# test_cuda, test_cuda_model, sp_gpu_bench) with static OpenBLAS/LAPACKE/gfortran/gomp, for a
# GPU machine that has the CUDA toolkit but not the CPU-side libraries (SP_BUILD_DIR picks
# another build tree); libcjson.so.1 is
# copied beside them (found through rpath $ORIGIN). Then: SP_GPU_BIN=OUTDIR bench/gpu/run.sh.
set -euo pipefail
OUTDIR=$(mkdir -p "${1:?usage: static-bins.sh OUTDIR}" && cd "$1" && pwd)
cd "$(dirname "$0")/../../${SP_BUILD_DIR:-build}"
for t in sparsity_cli:sparsity test_cuda_model:test_cuda_model test_cuda:test_cuda sp_gpu_bench:sp_gpu_bench; do
    d=${t%%:*} o=${t##*:}
    cmd=$(cat CMakeFiles/$d.dir/link.txt)
    cmd=${cmd/-o $o / -o $OUTDIR/$o }
    cmd=${cmd//\/usr\/lib\/x86_64-linux-gnu\/liblapacke.so/\/usr\/lib\/x86_64-linux-gnu\/liblapacke.a}
    cmd=${cmd//\/usr\/lib\/x86_64-linux-gnu\/libopenblas.so/\/usr\/lib\/x86_64-linux-gnu\/openblas-openmp\/libopenblas.a -l:libgfortran.a -l:libquadmath.a -l:libgomp.a -lpthread}
    cmd=${cmd//\/usr\/lib\/gcc\/x86_64-linux-gnu\/12\/libgomp.so/-l:libgomp.a}
    eval "$cmd -Wl,-rpath,'\$ORIGIN'"
done
cp -L /lib/x86_64-linux-gnu/libcjson.so.1 "$OUTDIR/"
strip "$OUTDIR"/sparsity "$OUTDIR"/test_cuda_model "$OUTDIR"/test_cuda "$OUTDIR"/sp_gpu_bench
ls -la "$OUTDIR"
