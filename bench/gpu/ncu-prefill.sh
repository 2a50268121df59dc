#!/usr/bin/env bash
# bench/gpu/ncu-prefill.sh: Nsight Compute (full set) on the 2:4 GEMMs of sp_gpu_bench --prefill's
# first shape (4096x4096): the automatic own wgmma.sp GEMM (tile 11 there) at 2048 and 8192 tokens,
# cuBLAS's dense kernel and cuSPARSELt's kernel at 2048, each caught among its timed calls (not
# in cuSPARSELt's plan search), so that their pipes compare. With SP_NCU_DECODE=1 also the 2:4
# decode kernel at 1 and 16 tokens (sp_gpu_bench --profile: 4096x14336). Per kernel: the details
# page (ncu-NAME.txt) and every collected metric (ncu-NAME-raw.txt). Logs in $OUT.
#   SP_GPU_BIN=DIR bash bench/gpu/ncu-prefill.sh
source "$(dirname "$0")/bin-env.sh"
NCU="ncu --clock-control none --set full"
prof() { # name, timeout, ncu filter args..., --, app args...
    local name=$1 t=$2; shift 2
    local f=()
    while [ "$1" != "--" ]; do f+=("$1"); shift; done
    shift
    timeout "$t" $NCU "${f[@]}" -o "$OUT/ncu-$name" -f "$B/sp_gpu_bench" "$@" >"$OUT/ncu-$name.log" 2>&1
    echo "== $name: rc $?"
    [ -f "$OUT/ncu-$name.ncu-rep" ] || return
    ncu -i "$OUT/ncu-$name.ncu-rep" --page details >"$OUT/ncu-$name.txt" 2>&1
    ncu -i "$OUT/ncu-$name.ncu-rep" --page raw >"$OUT/ncu-$name-raw.txt" 2>&1
    rm -f "$OUT/ncu-$name.ncu-rep"
    grep -E '^  [a-z_A-Z].*\(|Duration|SM Frequency|Compute \(SM\) Throughput|L1/TEX Cache Throughput|Issue Slots Busy|Tensor is|Warp Cycles Per Issued' \
        "$OUT/ncu-$name.txt" | head -12
}
# launches of each kernel before the timed calls: own GEMM 2 (check, warm-up); cuSPARSELt ~13 in
# its plan search (run 9 caught one at 123 us against 63 us timed), so 25 are skipped
prof t8-2048 150 -k regex:sp24_wgmma_kernel -s 3 -c 1 -- --prefill --iters 20
prof t8-8192 150 -k regex:sp24_wgmma_kernel -s 30 -c 1 -- --prefill --iters 20
prof cublas-2048 150 -k regex:nvjet -s 3 -c 1 -- --prefill --iters 20
prof cusparselt-2048 150 -k regex:sm90_xmma_sparse -s 25 -c 1 -- --prefill --iters 20
if [ "${SP_NCU_DECODE:-0}" = 1 ]; then
    prof decode24 120 -k regex:sp24_kernel -c 2 -- --profile
fi
