"""Shared fixtures: paths to the build, the assets and a converted model folder."""
import json
import os
import shutil
import subprocess

import numpy as np
import pytest

BIN = os.environ.get("SP_BIN", os.path.join(os.path.dirname(__file__), "../../build"))
ASSETS = os.environ.get("SP_ASSETS", os.path.join(os.path.dirname(__file__), "../../assets"))
GGUF = os.path.join(ASSETS, "model", "smollm2-135m.gguf")


def tool(name):
    return os.path.join(BIN, name)


@pytest.fixture(scope="session")
def gguf_path():
    if not os.path.exists(GGUF):
        pytest.skip("assets/model/smollm2-135m.gguf missing (run scripts/fetch-assets.sh)")
    return GGUF


@pytest.fixture(scope="session")
def model_dir(gguf_path, tmp_path_factory):
    """The real model converted by `sparsity convert` into a fresh folder."""
    out = str(tmp_path_factory.mktemp("model") / "smollm2")
    subprocess.run([tool("sparsity"), "convert", gguf_path, out], check=True, capture_output=True)
    return out


def prune24(w, rng):
    """Keeps the 2 largest of every 4 columns, plus some extra zeros."""
    g = w.reshape(w.shape[0], -1, 4).copy()
    order = np.argsort(-np.abs(g), axis=-1)
    np.put_along_axis(g, order[..., 2:], 0.0, axis=-1)
    g[rng.random(g.shape) < 0.05] = 0.0
    return g.reshape(w.shape)


@pytest.fixture(scope="module")
def tiny(model_dir, tmp_path_factory):
    """A 2-block Llama (dim 64) with 2:4-pruned random linears and the real tokenizer."""
    d = tmp_path_factory.mktemp("tiny") / "m"
    d.mkdir()
    shutil.copy(os.path.join(model_dir, "tokenizer.json"), d / "tokenizer.json")
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64,
           "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
           "num_key_value_heads": 2, "head_dim": 16, "vocab_size": 49152, "max_position_embeddings": 256,
           "rope_theta": 10000.0, "rms_norm_eps": 1e-5, "tie_word_embeddings": True, "bos_token_id": 1,
           "eos_token_id": 2, "hidden_act": "silu"}
    (d / "config.json").write_text(json.dumps(cfg))
    rng = np.random.default_rng(7)
    shapes = {"self_attn.q_proj": (64, 64), "self_attn.k_proj": (32, 64), "self_attn.v_proj": (32, 64),
              "self_attn.o_proj": (64, 64), "mlp.gate_proj": (128, 64), "mlp.up_proj": (128, 64),
              "mlp.down_proj": (64, 128)}
    t = {"model.embed_tokens.weight": (rng.standard_normal((49152, 64)) * 0.05).astype(np.float32),
         "model.norm.weight": np.ones(64, np.float32)}
    for b in range(2):
        t[f"model.layers.{b}.input_layernorm.weight"] = (1 + 0.1 * rng.standard_normal(64)).astype(np.float32)
        t[f"model.layers.{b}.post_attention_layernorm.weight"] = np.ones(64, np.float32)
        for s, shp in shapes.items():
            t[f"model.layers.{b}.{s}.weight"] = prune24((rng.standard_normal(shp) * 0.1).astype(np.float32), rng)
    import ct_ref

    ct_ref.write_st(str(d / "model.safetensors"), {"format": "pt"},
                    {k: ct_ref.Tensor("F32", v) for k, v in t.items()})
    return str(d), t
