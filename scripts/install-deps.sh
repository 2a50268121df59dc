#!/usr/bin/env bash
# Installs everything the build, the tests and the asset fetch need on a bare
# Debian 12 machine: apt packages (compiler, OpenBLAS/LAPACKE, cJSON, the text
# packages) and the Python packages the reference tests use.
set -euo pipefail
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
    build-essential cmake pkg-config unzip python3 python3-pip \
    libopenblas-dev libopenblas-openmp-dev liblapacke-dev libcjson-dev \
    r-cran-janeaustenr bible-kjv >/dev/null
# OpenBLAS must share our OpenMP thread pool: with its pthread build, idle OpenMP threads
# spin while BLAS runs (and vice versa), which halved throughput on 2 cores.
for a in libopenblas.so.0 libblas.so.3 liblapack.so.3 libopenblas.so libblas.so liblapack.so; do
    p=$(update-alternatives --list "$a-x86_64-linux-gnu" 2>/dev/null | grep openblas-openmp | head -1 || true)
    [ -z "$p" ] || $SUDO update-alternatives --set "$a-x86_64-linux-gnu" "$p" >/dev/null
done
# Debian 12's own python3 marks itself externally managed (PEP 668) and then refuses pip
# installs outside a venv; these pinned test-only packages go beside it on purpose (a no-op
# for a python3 that is not so marked, such as a pyenv one).
export PIP_BREAK_SYSTEM_PACKAGES=1
# pip's own failure must stop the script: the grep that drops the root warning only filters
out=$(python3 -m pip install -q --disable-pip-version-check -r "$(dirname "$0")/../tests/requirements.txt" 2>&1) ||
    { printf '%s\n' "$out"; echo "install-deps: pip install failed" >&2; exit 1; }
printf '%s\n' "$out" | grep -v -e 'Running pip as the' -e '^$' || true
