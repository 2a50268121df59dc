# bench/gpu/bin-env.sh: sourced by the device scripts that run prebuilt binaries (wgmma-check.sh,
# ncu-prefill.sh): repository root as working folder, $OUT for logs, $B the binaries
# (SP_GPU_BIN, default build/), their libraries and cuSPARSELt's found for dlopen.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
OUT=${OUT:-bench/results/logs}
mkdir -p "$OUT"
B=${SP_GPU_BIN:-build}
export LD_LIBRARY_PATH=$B:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
export SP_CUSPARSELT_LIB=${SP_CUSPARSELT_LIB:-$(find / -xdev -name 'libcusparseLt.so*' -not -path '*/proc/*' 2>/dev/null | head -1)}
