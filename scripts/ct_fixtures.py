#!/usr/bin/env python3
"""Interop with the compressed-tensors package (needs torch + compressed-tensors; not
run in CI: the CI tests read the fixtures this script committed).

  ct_fixtures.py make OUTDIR
      compresses small random pruned weights with compressed-tensors' own compressors
      into OUTDIR/{bitmask,24}/{model.safetensors,config.json} (config.json written by
      ModelCompressor.update_config) plus OUTDIR/expected.safetensors, the dense
      weights (f32) every packed layer must decode to. Committed as tests/fixtures/ct.

  ct_fixtures.py check PACKED_DIR DENSE_DIR
      decompresses a folder written by `sparsity pack` with compressed-tensors
      (the compressor named by its config.json) and checks every weight equals the
      dense folder's (rounded to the packed dtype); exits 1 on any difference.

  ct_fixtures.py hf PACKED_DIR DENSE_DIR
      transformers (AutoModelForCausalLM, needs accelerate) loads the packed folder:
      same parameters and logits as the dense folder (f32 packs).

compressed-tensors 0.14.0.1 is the last release that ships the sparse-bitmask and
sparse-24-bitmask compressors (0.15 removed them; config classes remain).
"""
import json
import os
import sys

import numpy as np
import torch
from safetensors.torch import load_file, save_file

import compressed_tensors
from compressed_tensors.compressors import ModelCompressor
from compressed_tensors.config import BitmaskConfig, Sparse24BitMaskConfig


def pruned(rng, rows, cols, density):
    w = rng.standard_normal((rows, cols)).astype(np.float32)
    w[rng.random((rows, cols)) >= density] = 0.0
    return w


def pruned24(rng, rows, cols):
    w = rng.standard_normal((rows, cols)).astype(np.float32)
    g = w.reshape(rows, cols // 4, 4)
    # keep the 2 largest of each group; some groups keep fewer (exact zeros among the kept)
    order = np.argsort(-np.abs(g), axis=-1)
    keep = np.zeros_like(g, dtype=bool)
    np.put_along_axis(keep, order[..., :2], True, axis=-1)
    g[~keep] = 0.0
    g[rng.random(g.shape) < 0.1] = 0.0
    return g.reshape(rows, cols)


def make(out):
    rng = np.random.default_rng(1234)
    # names as in a Llama checkpoint; shapes small, odd widths exercise packbits padding
    layers = {
        "bitmask": {
            "model.layers.0.self_attn.q_proj": (pruned(rng, 24, 36, 0.4), torch.bfloat16),
            "model.layers.0.mlp.up_proj": (pruned(rng, 16, 64, 0.3), torch.float32),
            "model.layers.0.mlp.down_proj": (pruned(rng, 8, 20, 0.0), torch.float16),  # all zero
        },
        "24": {
            "model.layers.0.self_attn.q_proj": (pruned24(rng, 24, 32), torch.bfloat16),
            "model.layers.0.mlp.up_proj": (pruned24(rng, 16, 64), torch.float32),
            "model.layers.0.mlp.down_proj": (pruned24(rng, 8, 12), torch.float16),
        },
    }
    configs = {"bitmask": BitmaskConfig(targets=["Linear"], ignore=["lm_head"]),
               "24": Sparse24BitMaskConfig(targets=["Linear"], ignore=["lm_head"])}
    expected = {}
    for kind, ls in layers.items():
        d = os.path.join(out, kind)
        os.makedirs(d, exist_ok=True)
        state = {}
        for name, (w, dt) in ls.items():
            t = torch.from_numpy(w).to(dt)
            state[name + ".weight"] = t
            expected[kind + "/" + name] = t.to(torch.float32)
        state["model.norm.weight"] = torch.ones(8, dtype=torch.float32)  # a dense passenger
        mc = ModelCompressor(sparsity_config=configs[kind])
        comp = mc.sparsity_compressor.compress(state, compression_targets={n for n in ls})
        save_file({k: v.contiguous() for k, v in comp.items()}, os.path.join(d, "model.safetensors"),
                  metadata={"format": "pt"})
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump({"model_type": "llama"}, f)
        mc.update_config(d)
    save_file(expected, os.path.join(out, "expected.safetensors"))
    print(f"wrote {out} with compressed-tensors {compressed_tensors.__version__}")


def check(packed, dense):
    with open(os.path.join(packed, "config.json")) as f:
        qc = json.load(f).get("quantization_config")
    if not qc:
        sys.exit(f"{packed}/config.json has no quantization_config (pack with --format bitmap or 2:4)")
    mc = ModelCompressor.from_compression_config(qc)
    ref = load_file(os.path.join(dense, "model.safetensors"))
    got = dict(mc.sparsity_compressor.decompress(packed))
    bad = n = 0
    for name, t in got.items():
        if name not in ref:
            print(f"unexpected tensor {name}")
            bad += 1
            continue
        want = ref[name].to(t.dtype)
        n += 1
        if t.shape != want.shape or not torch.equal(t, want):
            print(f"MISMATCH {name}: {tuple(t.shape)} vs {tuple(want.shape)}")
            bad += 1
    missing = [k for k in ref if k not in got and not (k == "lm_head.weight")]
    for k in missing:
        print(f"missing {k}")
    print(f"compressed-tensors {compressed_tensors.__version__} ({qc['sparsity_config']['format']}): "
          f"{n} tensors compared, {bad} mismatches, {len(missing)} missing")
    sys.exit(1 if bad or missing else 0)


def hf(packed, dense):
    """transformers loads the packed folder (its compressed-tensors quantizer decompresses)
    to the same weights and logits as the dense folder. (sparse-bitmask fails inside
    compressed-tensors 0.14.0.1 under transformers: BitmaskCompressor cannot compress the
    meta-device model transformers builds first; sparse-24-bitmask has that case.)"""
    from transformers import AutoModelForCausalLM
    ids = torch.tensor([[1, 504, 3156, 314, 253, 2573, 28, 339]])
    ref = AutoModelForCausalLM.from_pretrained(dense, torch_dtype=torch.float32)
    pk = AutoModelForCausalLM.from_pretrained(packed, torch_dtype=torch.float32)
    with torch.no_grad():
        diff = (ref(ids).logits - pk(ids).logits).abs().max().item()
    w1, w2 = dict(ref.named_parameters()), dict(pk.named_parameters())
    bad = [n for n in w1 if n not in w2 or not torch.equal(w1[n], w2[n].to(w1[n].dtype))]
    print(f"transformers: {len(w1)} parameters, {len(bad)} differ; max logit difference {diff}")
    sys.exit(1 if bad or diff != 0.0 else 0)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "make":
        make(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "hf":
        hf(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
