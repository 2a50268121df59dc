#!/usr/bin/env bash
# Dense baseline numbers for the real model: perplexity on both evaluation texts at ctx
# 2048, eval and generate tokens/s, peak RSS. Appends a dated section to bench/results/dense.md.
#   usage: bench/run-dense.sh [MAX_TOKENS]   (default: whole texts)
set -euo pipefail
cd "$(dirname "$0")/.."
S=./build/sparsity
M=assets/smollm2-135m
MAXTOK=${1:-0}
[ -d $M ] || $S convert assets/model/smollm2-135m.gguf $M
out=bench/results/dense.md
{
  echo "## $(date -u +%Y-%m-%d) dense SmolLM2-135M-Instruct (Q4_1 GGUF dequantized to f32)"
  echo
  echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; commit $(git rev-parse --short HEAD)"
  echo
  echo '| text | command | windows x ctx | ppl | eval tokens/s | peak RSS MiB |'
  echo '|---|---|---|---|---|---|'
  for t in eval kjv; do
    cmd="$S eval --model $M --data assets/text/$t.txt --ctx 2048 --max-tokens $MAXTOK --json"
    j=$($cmd 2>/dev/null)
    python3 -c "import json,sys; j=json.loads(sys.argv[1]); print(f\"| $t.txt | \`$cmd\` | {j['windows']} x {j['ctx']} | {j['ppl']:.4f} | {j['tokens_per_s']:.0f} | {j['peak_rss_bytes']/2**20:.0f} |\")" "$j"
  done
  echo
  gcmd="$S generate --model $M --prompt 'It is a truth universally acknowledged' -n 128"
  echo "generate: \`$gcmd\`"
  echo
  echo '```'
  eval "$gcmd" 2>&1 >/dev/null | tail -n 1
  /usr/bin/time -f "peak RSS %M KiB" $S generate --model $M --prompt "It is a truth" -n 16 2>&1 >/dev/null | tail -n 1
  echo '```'
  echo
} | tee -a $out
