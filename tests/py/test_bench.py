"""sparsity bench: report keys, numbers checked against what the weights imply, bad input.

Speed is not asserted (that lives in bench/results); what is checked here is what a
report must get right whatever the machine: sparsity and memory saving recomputed from
the weights with NumPy, the kernel named per layer, clean errors."""
import json
import subprocess

import numpy as np
import pytest

from conftest import tool

KEYS = ["ttft_ms", "tpot_ms", "speedup_prefill", "speedup_decode", "memory_saving", "avg_sparsity",
        "weight_bytes", "baseline_weight_bytes", "kernels_decode", "peak_rss_bytes"]


def bench(*args):
    return subprocess.run([tool("sparsity"), "bench", *args], capture_output=True, text=True)


@pytest.mark.parametrize("dtype,vbytes", [("bf16", 2), ("f32", 4)])
def test_report_matches_weights(tiny, dtype, vbytes):
    src, w = tiny
    p = bench("--model", src, "--format", "nm", "--dtype", dtype, "--prompt-tokens", "9",
              "--gen-tokens", "3", "--reps", "1", "--json")
    assert p.returncode == 0, p.stderr
    j = json.loads(p.stdout)
    for k in KEYS:
        assert k in j, k
    lin = [v for k, v in w.items() if ".layers." in k and k.endswith("proj.weight")]
    zeros = sum(int((v == 0).sum()) for v in lin)
    numel = sum(v.size for v in lin)
    assert j["avg_sparsity"] == pytest.approx(zeros / numel, abs=1e-12)
    # 2:4 layout: half the values plus a 4-bit index nibble per group of 4
    packed = sum(v.size // 2 * vbytes + v.size // 8 for v in lin)
    dense = sum(v.size * vbytes for v in lin)
    assert j["weight_bytes"] == packed and j["baseline_weight_bytes"] == dense
    assert j["memory_saving"] == pytest.approx(1 - packed / dense, abs=1e-12)
    assert j["ttft_ms"] > 0 and j["tpot_ms"] > 0 and j["speedup_decode"] > 0
    assert j["speedup_decode"] == pytest.approx(j["baseline_tpot_ms"] / j["tpot_ms"])
    assert len(j["kernels_decode"]) == 2 * 7
    for k in j["kernels_decode"]:
        assert k["kernel"].startswith("nm24") and k["why"], k


def test_auto_names_a_reason_per_layer(tiny):
    src, _ = tiny
    p = bench("--model", src, "--prompt-tokens", "4", "--gen-tokens", "2", "--reps", "1")
    assert p.returncode == 0, p.stderr
    assert "speedup prefill" in p.stdout and "decode kernels" in p.stdout


@pytest.mark.parametrize("args,msg", [
    (["--prompt-tokens", "0"], "--prompt-tokens"),
    (["--format", "zip"], "unknown format"),
    (["--dtype", "f64"], "--dtype"),
    (["--baseline", "/nonexistent/m"], "/nonexistent/m"),
])
def test_bad_input(tiny, args, msg):
    src, _ = tiny
    p = bench("--model", src, *args)
    assert p.returncode != 0
    assert msg in p.stderr and p.stderr.count("\n") == 1, p.stderr


def test_baseline_shape_mismatch(tiny, model_dir):
    src, _ = tiny
    p = bench("--model", src, "--baseline", model_dir, "--reps", "1")
    assert p.returncode != 0 and "same shapes" in p.stderr, p.stderr
