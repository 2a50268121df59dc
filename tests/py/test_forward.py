"""Logits and perplexity of the C forward pass against the float64 NumPy reference."""
import json
import os
import subprocess

import numpy as np
import pytest

from conftest import tool
from llama_ref import RefLlama, perplexity


@pytest.fixture(scope="module")
def ref(gguf_path):
    return RefLlama(gguf_path)


def c_logits(model, ids, chunk, tmp_path):
    out = str(tmp_path / f"logits_{chunk}.f32")
    subprocess.run([tool("dump_logits"), model, out, str(chunk)] + [str(i) for i in ids], check=True)
    return np.fromfile(out, dtype=np.float32).reshape(len(ids), -1).astype(np.float64)


def rel_err(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


# Tolerances: float32 against float64, measured (SmolLM2-135M, 16 random ids, chunks 16/5/1).
# Usually every row is ~1e-6 off (22 draws: whole-matrix norm error median 8e-7, max 1.7e-5).
# But some second tokens (1-13% of the vocabulary, depending on the first token) turn into a second
# "massive activation" sink: layer 11's MLP adds ~1.4e4 to the residual, layer 28's takes most of
# it away again (1.4e4 -> ~1e3), so the f32 rounding carried so far (relative ~1e-5) comes out ~10x
# larger and that one row's logits are off by up to ~0.01 (on logits of ~14). That is float32, not
# our code: the same forward done in plain float32 NumPy is off by 0.0007..0.014 on that row,
# depending only on the summation order, and the C code lands inside that range. With the worst
# such second tokens the C forward reached norm 1.2e-4 and max-abs/max 3.4e-4 (e.g. ids
# 29274, 44949, ...; chunk 5). So the whole-matrix bounds below leave ~6-8x margin and catch gross
# bugs (causal mask one key too far, wrong GQA head map: errors 0.4..1.5), while the median over
# rows of the per-row error is ~6e-7 in most draws (max 1.9e-6 over 33 draws x 3 chunks, 1.6e-6 over
# 25 more) and keeps the test sharp: a 1% RoPE theta error, a 1e-3 sigmoid error, bf16 K/V or eps
# x10 put it at 1e-4..5e-3. When the sink is the second token every later row attends to it and the
# median rises too: HARD_IDS (a CI draw, 2026-12-04) gave median 1.2e-5, norm 4.0e-5, max 1.6e-4,
# and plain float32 NumPy on the same ids 1.1e-5 / 3.9e-5 / 1.6e-4; so the median bound is 5e-5,
# 4x over that and 2x under the smallest error the mutations gave.
MEDIAN_ROW_TOL, NORM_TOL, MAX_TOL = 5e-5, 1e-3, 2e-3
HARD_IDS = [39952, 30351, 10651, 47201, 36195, 21502, 39131, 43949, 17505, 31723, 41993, 19912, 19546, 23032, 39861, 29743]


@pytest.mark.parametrize("hard", [False, True])  # fresh random ids; the sink case above
@pytest.mark.parametrize("chunk", [16, 5, 1])  # batched prefill, mixed, pure decode through the KV cache
def test_logits_match_numpy(ref, model_dir, tmp_path, chunk, hard):
    rng = np.random.default_rng()
    ids = HARD_IDS if hard else [int(i) for i in rng.integers(0, ref.out.shape[0], size=16)]
    want = ref.logits(ids)
    got = c_logits(model_dir, ids, chunk, tmp_path)
    err = rel_err(got, want)
    row_err = np.linalg.norm(got - want, axis=1) / np.linalg.norm(want, axis=1)
    max_err = np.max(np.abs(got - want)) / np.max(np.abs(want))
    print(f"ids {ids} chunk {chunk}: relative error {err:.2e}, max {max_err:.2e}, "
          f"median row {np.median(row_err):.2e}, worst row {int(np.argmax(row_err))} {np.max(row_err):.2e}")
    assert np.median(row_err) < MEDIAN_ROW_TOL
    assert err < NORM_TOL
    assert max_err < MAX_TOL


def test_gguf_and_folder_agree(gguf_path, model_dir, tmp_path):
    ids = [1, 504, 3458, 282, 253, 1345]
    a = c_logits(gguf_path, ids, 6, tmp_path)
    b = c_logits(model_dir, ids, 6, tmp_path)
    assert np.array_equal(a, b)  # same f32 weights, same arithmetic: bit-identical


def test_perplexity_matches_numpy(ref, model_dir, tmp_path):
    eval_txt = os.path.join(os.environ.get("SP_ASSETS", ""), "text", "eval.txt")
    if not os.path.exists(eval_txt):
        pytest.skip("assets/text/eval.txt missing")
    text = open(eval_txt, encoding="utf-8").read()[:20000]
    part = tmp_path / "part.txt"
    part.write_text(text, encoding="utf-8")
    ctx, maxtok = 64, 256
    ids_file = tmp_path / "ids.i32"
    subprocess.run([tool("tokenize"), "--json", os.path.join(model_dir, "tokenizer.json"), str(part), str(ids_file)], check=True)
    ids = np.fromfile(ids_file, dtype=np.int32)[:maxtok]
    want = perplexity(ref, ids, ctx)
    r = subprocess.run([tool("sparsity"), "eval", "--model", model_dir, "--data", str(part), "--ctx", str(ctx),
                        "--max-tokens", str(maxtok), "--json"], check=True, capture_output=True, text=True)
    got = json.loads(r.stdout)
    print(f"ppl C {got['ppl']:.6f} NumPy {want:.6f}")
    assert got["windows"] == maxtok // ctx
    assert abs(got["ppl"] - want) / want < 1e-3  # issue asks for 0.1%
