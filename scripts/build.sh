#!/usr/bin/env bash
# Builds the release tree (build/) and, with --sanitize, the ASan+UBSan tree (build-asan/).
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=$(nproc)
# SP_CUDA=ON|OFF|AUTO (default AUTO: the CUDA backend when nvcc is found; ON fails without it)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSP_CUDA="${SP_CUDA:-AUTO}" >/dev/null
cmake --build build -j"$JOBS"
if [ "${1:-}" = "--sanitize" ]; then
    cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSP_SANITIZE=ON >/dev/null
    cmake --build build-asan -j"$JOBS"
fi
