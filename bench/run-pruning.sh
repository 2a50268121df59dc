#!/usr/bin/env bash
# Pruning results table: every method x pattern on the real model, perplexity on both
# evaluation texts, pruning wall time and peak RSS. Appends to bench/results/pruning.md.
#   env: NSAMPLES (128) SEQLEN (2048) EVAL_MAXTOK (0 = whole text) CTX (2048) ONLY (regex on run name)
set -euo pipefail
cd "$(dirname "$0")/.."
S=${S:-./build/sparsity}
D=assets/smollm2-135m
NSAMPLES=${NSAMPLES:-128} SEQLEN=${SEQLEN:-2048} EVAL_MAXTOK=${EVAL_MAXTOK:-0} CTX=${CTX:-2048} ONLY=${ONLY:-.}
[ -d $D ] || $S convert assets/model/smollm2-135m.gguf $D
work=${WORK:-/tmp/sp-prune-runs}; mkdir -p $work
out=bench/results/pruning.md
calib="--calib assets/text/calib.txt --nsamples $NSAMPLES --seqlen $SEQLEN"
runs=(
  "dense|"
  "magnitude-50|--method magnitude --pattern unstructured --sparsity-ratio 0.5"
  "wanda-50|--method wanda --pattern unstructured --sparsity-ratio 0.5 $calib"
  "sparsegpt-50|--method sparsegpt --pattern unstructured --sparsity-ratio 0.5 $calib"
  "magnitude-2:4|--method magnitude --pattern n:m --n 2 --m 4"
  "wanda-2:4|--method wanda --pattern n:m --n 2 --m 4 $calib"
  "sparsegpt-2:4|--method sparsegpt --pattern n:m --n 2 --m 4 $calib"
  "magnitude-4:8|--method magnitude --pattern n:m --n 4 --m 8"
  "wanda-4:8|--method wanda --pattern n:m --n 4 --m 8 $calib"
  "sparsegpt-4:8|--method sparsegpt --pattern n:m --n 4 --m 8 $calib"
  "magnitude-70|--method magnitude --pattern unstructured --sparsity-ratio 0.7"
  "wanda-70|--method wanda --pattern unstructured --sparsity-ratio 0.7 $calib"
  "sparsegpt-70|--method sparsegpt --pattern unstructured --sparsity-ratio 0.7 $calib"
  "owl-wanda-70|--method wanda --pattern unstructured --sparsity-ratio 0.7 --layerwise owl $calib"
  "owl-sparsegpt-70|--method sparsegpt --pattern unstructured --sparsity-ratio 0.7 --layerwise owl $calib"
)
{
  echo "## $(date -u +%Y-%m-%d) SmolLM2-135M-Instruct, calibration $NSAMPLES x $SEQLEN tokens of calib.txt, eval ctx $CTX, max tokens ${EVAL_MAXTOK} (0 = all)"
  echo
  echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; commit $(git rev-parse --short HEAD)"
  echo
  echo "| run | prune flags | ppl eval.txt (P&P) | ppl kjv.txt | avg sparsity | prune s | prune peak RSS MiB |"
  echo "|---|---|---|---|---|---|---|"
} >> $out
for r in "${runs[@]}"; do
  name=${r%%|*}; flags=${r#*|}
  [[ $name =~ $ONLY ]] || continue
  M=$D; t="-"; rss="-"
  if [ -n "$flags" ]; then
    M=$work/$name
    $S prune --model $D --out $M $flags > $work/$name.log 2>&1 || { echo "prune $name failed"; tail -3 $work/$name.log; continue; }
    t=$(python3 -c "import json; j=json.load(open('$M/sparsity.json')); print(f\"{j['prune_seconds']:.0f}\")")
    rss=$(python3 -c "import json; j=json.load(open('$M/sparsity.json')); print(f\"{j['peak_rss_bytes']/2**20:.0f}\")")
  fi
  sp=$($S verify $M --json | python3 -c "import json,sys; print(f\"{100*json.load(sys.stdin)['avg_sparsity']:.1f}%\")")
  p1=$($S eval --model $M --data assets/text/eval.txt --ctx $CTX --max-tokens $EVAL_MAXTOK --json 2>/dev/null | python3 -c "import json,sys; print(f\"{json.load(sys.stdin)['ppl']:.3f}\")")
  p2=$($S eval --model $M --data assets/text/kjv.txt --ctx $CTX --max-tokens $EVAL_MAXTOK --json 2>/dev/null | python3 -c "import json,sys; print(f\"{json.load(sys.stdin)['ppl']:.3f}\")")
  echo "| $name | \`${flags//|/\\|}\` | $p1 | $p2 | $sp | $t | $rss |" | tee -a $out
done
echo >> $out
