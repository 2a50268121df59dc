#!/usr/bin/env bash
# Dense CPU reference: llama.cpp's llama-bench on the same SmolLM2 weights in bf16 and f32,
# next to our own dense kernels (sparsity bench --format dense), same machine, same run.
# llama.cpp comes from PyPI (the llama-cpp-python sdist vendors it; the prebuilt wheels need
# glibc 2.38), built once under $WORK with GGML_NATIVE (AVX-512 here).
#   env: WORK (/tmp/sp-llamacpp) P (128) G (64) REPS (5) THREADS (nproc)
set -euo pipefail
cd "$(dirname "$0")/.."
S=${S:-./build/sparsity}
WORK=${WORK:-/tmp/sp-llamacpp} P=${P:-128} G=${G:-64} REPS=${REPS:-5} THREADS=${THREADS:-$(nproc)}
V=0.3.36
mkdir -p $WORK
LB=$WORK/build/bin/llama-bench
if [ ! -x $LB ]; then
    pip download -q --no-deps --no-binary=:all: llama-cpp-python==$V -d $WORK
    tar xzf $WORK/llama_cpp_python-$V.tar.gz -C $WORK
    cmake -S $WORK/llama_cpp_python-$V/vendor/llama.cpp -B $WORK/build -DCMAKE_BUILD_TYPE=Release \
        -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TESTS=OFF >$WORK/cmake.log
    cmake --build $WORK/build -j"$(nproc)" --target llama-bench >$WORK/build.log
fi
D=assets/smollm2-135m
[ -d $D ] || $S convert assets/model/smollm2-135m.gguf $D
for dt in bf16 f32; do
    [ -f $WORK/smollm2-$dt.gguf ] || python3 bench/llamacpp_dense.py to-gguf assets/model/smollm2-135m.gguf $WORK/smollm2-$dt.gguf $dt
done
echo "## $(date -u +%Y-%m-%d) dense decode/prefill: llama.cpp vs sparsity (same weights), $THREADS threads"
echo
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; llama.cpp from llama-cpp-python $V sdist ($(git -C $WORK/llama_cpp_python-$V/vendor/llama.cpp rev-parse --short HEAD 2>/dev/null || echo vendored)), GGML_NATIVE"
echo
echo "| engine | dtype | prefill P=$P tok/s | TTFT ms | decode tok/s | TPOT ms |"
echo "|---|---|---|---|---|---|"
for dt in bf16 f32; do
    $LB -m $WORK/smollm2-$dt.gguf -p $P -n $G -r $REPS -t $THREADS -o json 2>/dev/null | python3 -c "
import json, sys
rows = json.load(sys.stdin)
pp = next(r for r in rows if r['n_prompt'] > 0 and r['n_gen'] == 0)
tg = next(r for r in rows if r['n_gen'] > 0 and r['n_prompt'] == 0)
print(f\"| llama.cpp llama-bench | $dt | {pp['avg_ts']:.0f} | {1e3*$P/pp['avg_ts']:.1f} | {tg['avg_ts']:.1f} | {1e3/tg['avg_ts']:.2f} |\")"
    $S bench --model $D --format dense --dtype $dt --prompt-tokens $P --gen-tokens $G --reps $REPS --json | python3 -c "
import json, sys
j = json.load(sys.stdin)
print(f\"| sparsity bench --format dense | $dt | {1e3*$P/j['ttft_ms']:.0f} | {j['ttft_ms']:.1f} | {1e3/j['tpot_ms']:.1f} | {j['tpot_ms']:.2f} |\")"
done
echo
echo "llama-bench: -p $P -n $G -r $REPS -t $THREADS (tg = decode from an empty context); sparsity: TPOT after a $P-token prefill, median of $REPS."
