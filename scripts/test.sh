#!/usr/bin/env bash
# The test command: builds the release and the ASan+UBSan trees and runs every
# test (C unit tests and the Python reference tests) in both.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f assets/model/smollm2-135m.gguf ] || bash scripts/fetch-assets.sh
bash scripts/build.sh --sanitize
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
echo "== release build tests"
ctest --test-dir build --output-on-failure -j2
echo "== sanitizer build tests (ASan+UBSan)"
ctest --test-dir build-asan --output-on-failure -j2 --timeout 1800
