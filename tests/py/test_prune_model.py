"""`sparsity prune` on the real model: bad configurations rejected before any work, small
end-to-end runs whose output `verify` accepts, excluded layers byte-identical."""
import json
import os
import subprocess

import numpy as np
import pytest
from safetensors.numpy import load_file
from safetensors import safe_open

from conftest import tool

CALIB = os.path.join(os.environ.get("SP_ASSETS", ""), "text", "calib.txt")


def prune(model_dir, out, *flags):
    return subprocess.run([tool("sparsity"), "prune", "--model", model_dir, "--out", str(out)] + list(flags),
                          capture_output=True, text=True)


def verify(model, *flags):
    return subprocess.run([tool("sparsity"), "verify", str(model), "--json"] + list(flags), capture_output=True, text=True)


@pytest.fixture(scope="module")
def calib():
    if not os.path.exists(CALIB):
        pytest.skip("assets/text/calib.txt missing")
    return CALIB


@pytest.mark.parametrize("flags,needle", [
    (["--pattern", "n:m", "--n", "4", "--m", "4"], "n"),
    (["--pattern", "n:m", "--n", "5", "--m", "4"], "n"),
    (["--sparsity-ratio", "1.0"], "ratio"),
    (["--sparsity-ratio", "-0.1"], "ratio"),
    (["--pattern", "n:m", "--n", "2", "--m", "7", "--method", "magnitude"], "model.layers.0"),
    (["--pattern", "block", "--block-size", "7", "--method", "magnitude"], "model.layers.0"),
    (["--method", "obs"], "obs"),
    (["--pattern", "diagonal"], "diagonal"),
    (["--method", "magnitude", "--target-layers", "self_attn.qq_proj"], "qq_proj"),
    (["--method", "wanda", "--calib", "/nonexistent/calib.txt"], "calib.txt"),
    (["--method", "wanda"], "calib"),
])
def test_bad_config_rejected_before_work(model_dir, tmp_path, flags, needle):
    out = tmp_path / "out"
    r = prune(model_dir, out, *flags)
    assert r.returncode > 0, r
    err = r.stderr.strip().splitlines()
    assert err and err[-1].startswith("sparsity prune:"), r.stderr
    assert needle in err[-1], err[-1]
    assert "prune block" not in r.stderr  # rejected before any block was pruned
    assert not out.exists() and not [p for p in os.listdir(tmp_path) if p.startswith("out")]


def test_calibration_text_too_short(model_dir, tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("A short text. " * 20)
    r = prune(model_dir, tmp_path / "out", "--method", "wanda", "--calib", str(short), "--nsamples", "4", "--seqlen", "128")
    assert r.returncode > 0 and "fewer than" in r.stderr
    assert not (tmp_path / "out").exists()


def test_bad_json_config(model_dir, tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"pattern": "n:m", "n": 2, "m": 4, "pruning_method": "magnitude", "sparsity_ratioo": 0.5}))
    r = prune(model_dir, tmp_path / "out", "--config", str(cfg))
    assert r.returncode > 0 and "sparsity_ratioo" in r.stderr


def weights(folder):
    return load_file(os.path.join(folder, "model.safetensors"))


def test_wanda_2_4_with_exclusion(model_dir, calib, tmp_path):
    out = tmp_path / "w24"
    r = prune(model_dir, out, "--method", "wanda", "--pattern", "n:m", "--n", "2", "--m", "4", "--calib", calib,
              "--nsamples", "2", "--seqlen", "64", "--exclude-layers", "mlp.down_proj")
    assert r.returncode == 0, r.stderr
    assert "prune block 30/30" in r.stderr  # progress lines
    v = verify(out)
    assert v.returncode == 0, v.stdout
    rep = json.loads(v.stdout)
    assert rep["pattern"] == "n:m" and rep["ok"]
    before, after = weights(model_dir), weights(out)
    for name, a in after.items():
        b = before[name]
        if "down_proj" in name or "norm" in name or "embed" in name:
            assert a.tobytes() == b.tobytes(), name  # excluded / untouched: byte-identical
        elif name.endswith("_proj.weight"):
            g = (a.reshape(a.shape[0], -1, 4) != 0).sum(axis=2)
            assert g.max() <= 2 and abs((a == 0).mean() - 0.5) < 1e-3, name
            kept = a != 0
            assert np.array_equal(a[kept], b[kept])  # Wanda only removes weights
    with safe_open(os.path.join(out, "model.safetensors"), "np") as f:
        meta = json.loads(f.metadata()["sparsity"])
    assert meta["config"]["pattern"] == "n:m"
    assert json.load(open(out / "sparsity.json"))["layers"]["model.layers.0.mlp.up_proj"]["sparsity"] == pytest.approx(0.5, abs=1e-3)


def test_sparsegpt_attention_only(model_dir, calib, tmp_path):
    out = tmp_path / "sg"
    r = prune(model_dir, out, "--method", "sparsegpt", "--sparsity-ratio", "0.5", "--calib", calib,
              "--nsamples", "2", "--seqlen", "64", "--target-layers", "self_attn")
    assert r.returncode == 0, r.stderr
    assert verify(out).returncode == 0
    before, after = weights(model_dir), weights(out)
    q = "model.layers.3.self_attn.q_proj.weight"
    assert abs((after[q] == 0).mean() - 0.5) < 2e-3
    kept = after[q] != 0
    assert not np.array_equal(after[q][kept], before[q][kept])  # OBS update moved the kept weights
    assert after["model.layers.3.mlp.up_proj.weight"].tobytes() == before["model.layers.3.mlp.up_proj.weight"].tobytes()


def test_magnitude_block_and_verify_catches_violations(model_dir, tmp_path):
    out = tmp_path / "blk"
    r = prune(model_dir, out, "--method", "magnitude", "--pattern", "block", "--block-size", "16", "--sparsity-ratio", "0.5")
    assert r.returncode == 0, r.stderr
    v = verify(out)
    assert v.returncode == 0, v.stdout
    assert all(l["block_zero_frac"] >= 0.5 - 1e-9 for l in json.loads(v.stdout)["layers"] if l["target"] is not None)
    # the dense model is not 2:4 sparse and not 50% sparse: verify must say so and exit 1
    assert verify(model_dir, "--pattern", "n:m", "--n", "2", "--m", "4").returncode == 1
    assert verify(out, "--pattern", "unstructured", "--sparsity-ratio", "0.6").returncode == 1
