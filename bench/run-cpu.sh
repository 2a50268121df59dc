#!/usr/bin/env bash
# CPU sparse-kernel results (issue 4 targets): layer GEMV micro-benchmark at Llama-7B/8B
# shapes (bench_layers), then end-to-end TTFT/TPOT of pruned SmolLM2 models against the
# same weights on our dense kernels, same process. Appends to bench/results/cpu.md.
#   env: MODELS ("name=DIR ..."; default: the 2:4 and 70% Wanda models of run-pruning.sh)
#        REPS (5) P (128) G (64) LAYER_REPS (15)
set -euo pipefail
cd "$(dirname "$0")/.."
S=${S:-./build/sparsity}
W=${WORK:-/tmp/sp-prune-runs}
MODELS=${MODELS:-"wanda-2:4=$W/wanda-2:4 wanda-50=$W/wanda-50 wanda-70=$W/wanda-70 owl-wanda-70=$W/owl-wanda-70"}
REPS=${REPS:-5} P=${P:-128} G=${G:-64} LAYER_REPS=${LAYER_REPS:-15}
out=bench/results/cpu.md
cmake --build build --target bench_layers -j"$(nproc)" >/dev/null
{
  echo "## $(date -u +%Y-%m-%d) CPU kernels, $(nproc) threads"
  echo
  echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, level $(grep -o -m1 'avx512f' /proc/cpuinfo || echo avx2); commit $(git rev-parse --short HEAD)"
  echo
  echo "### layer micro-benchmark: \`build/bench_layers $LAYER_REPS\`"
  echo
  ./build/bench_layers "$LAYER_REPS"
  echo
  echo "### end-to-end SmolLM2-135M: \`$S bench --model M --dtype DT --prompt-tokens $P --gen-tokens $G --reps $REPS --json\`"
  echo
  echo "Baseline = the same weights bound to our dense kernels of the same value type, same process."
  echo "Weights = block linears only (lm_head and embeddings stay dense and are not counted)."
  echo
  echo "| model | dtype | avg sparsity | TTFT ms (dense) | TPOT ms (dense) | prefill speedup | decode speedup | weight MiB (dense) | memory saving | kernels (decode) |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  for nm in $MODELS; do
    name=${nm%%=*}; dir=${nm#*=}
    [ -d "$dir" ] || { echo "| $name | missing $dir (run bench/run-pruning.sh first) |"; continue; }
    for dt in bf16 f32; do
      $S bench --model "$dir" --dtype $dt --prompt-tokens $P --gen-tokens $G --reps $REPS --json | python3 -c "
import json, sys, collections
j = json.load(sys.stdin)
k = collections.Counter(x['kernel'] for x in j['kernels_decode'])
ks = ', '.join(f'{n} x{c}' for n, c in k.most_common())
print(f\"| $name | $dt | {100*j['avg_sparsity']:.1f}% | {j['ttft_ms']:.1f} ({j['baseline_ttft_ms']:.1f}) | {j['tpot_ms']:.2f} ({j['baseline_tpot_ms']:.2f}) | {j['speedup_prefill']:.2f}x | {j['speedup_decode']:.2f}x | {j['weight_bytes']/2**20:.1f} ({j['baseline_weight_bytes']/2**20:.1f}) | {100*j['memory_saving']:.1f}% | {ks} |\")"
    done
  done
  echo
  echo "### checkpoint size: \`$S pack M OUT --format auto --dtype bf16\` against \`--format dense --dtype bf16\`"
  echo
  echo "Block linears = the pruned weights; whole file adds the dense tied embedding (49152 x 576, 57 MB in bf16)."
  echo
  echo "| model | formats chosen | block linears vs dense bf16 | model.safetensors bytes | whole file vs dense bf16 |"
  echo "|---|---|---|---|---|"
  for nm in $MODELS; do
    name=${nm%%=*}; dir=${nm#*=}
    [ -d "$dir" ] || continue
    rm -rf $W/pk-$name $W/pk-$name-dense
    $S pack "$dir" $W/pk-$name --format auto --dtype bf16 --json > $W/pk-$name.json 2>/dev/null
    $S pack "$dir" $W/pk-$name-dense --format dense --dtype bf16 --json > $W/pk-$name-dense.json 2>/dev/null
    python3 - "$W/pk-$name" "$W/pk-$name.json" "$W/pk-$name-dense" <<PY
import json, os, sys, collections
j = json.load(open(sys.argv[2]))
L = [x for x in j["layers"] if x["name"].startswith("model.layers.")]
packed = sum(x["bytes"] for x in L); dense = sum(x["dense_bytes"] for x in L)
fmts = ", ".join(f"{f} x{c}" for f, c in collections.Counter(x["format"] for x in L).most_common())
fp = os.path.getsize(sys.argv[1] + "/model.safetensors"); fd = os.path.getsize(sys.argv[3] + "/model.safetensors")
print(f"| $name | {fmts} | {packed/dense:.3f} ({packed/2**20:.1f} / {dense/2**20:.1f} MiB) | {fp} (dense {fd}) | {fp/fd:.3f} |")
PY
  done
  echo
} | tee -a $out
