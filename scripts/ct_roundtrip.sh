#!/usr/bin/env bash
# Live interop check against compressed-tensors (needs torch + compressed-tensors 0.14.0.1,
# the last release with the sparse-bitmask / sparse-24-bitmask compressors), e.g.
#   python3 -m venv /tmp/ctvenv && /tmp/ctvenv/bin/pip install torch compressed-tensors==0.14.0.1 psutil accelerate
#   PY=/tmp/ctvenv/bin/python scripts/ct_roundtrip.sh
# 1. compressed-tensors compresses small pruned weights; our loader (pack_dump) decodes them.
# 2. we prune + pack the real model (bitmap and 2:4, f32 and bf16); compressed-tensors
#    decompresses every weight and must match the dense pruned model exactly.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
B=${SP_BIN:-build}
T=$(mktemp -d /tmp/ct_roundtrip.XXXXXX)
trap 'rm -rf "$T"' EXIT
"$PY" scripts/ct_fixtures.py make "$T/fix"
for k in bitmask 24; do
    "$B/pack_dump" "$T/fix/$k/model.safetensors" "$T/fix/$k/config.json" "$T/out_$k.safetensors"
done
"$PY" - "$T" <<'PYEOF'
import sys
from safetensors.torch import load_file
import torch
t = sys.argv[1]
exp = load_file(f"{t}/fix/expected.safetensors")
for k in ("bitmask", "24"):
    got = load_file(f"{t}/out_{k}.safetensors")
    for name, v in got.items():
        assert torch.equal(v, exp[f"{k}/{name[:-len('.weight')]}"]), (k, name)
    print(f"our loader decodes compressed-tensors {k}: {len(got)} layers equal")
PYEOF
MODEL=${MODEL:-assets/smollm2-135m}
[ -d "$MODEL" ] || "$B/sparsity" convert assets/model/smollm2-135m.gguf "$MODEL"
"$B/sparsity" prune --model "$MODEL" --out "$T/p24" --method magnitude --pattern n:m --n 2 --m 4 >/dev/null 2>&1
for dt in f32 bf16; do
    for f in bitmap 2:4; do
        "$B/sparsity" pack "$T/p24" "$T/packed" --format "$f" --dtype "$dt" >/dev/null 2>&1
        "$PY" scripts/ct_fixtures.py check "$T/packed" "$T/p24"
    done
done
# transformers' own loading path (sparse-24-bitmask; see ct_fixtures.py hf), if installed
if "$PY" -c "import transformers, accelerate" 2>/dev/null; then
    "$B/sparsity" pack "$T/p24" "$T/packed" --format 2:4 >/dev/null 2>&1
    "$PY" scripts/ct_fixtures.py hf "$T/packed" "$T/p24"
fi
echo "compressed-tensors round trip: ok"
