"""Pruners (C, via tests/tools/prune_tool) against the float64 NumPy references in
prune_ref.py on fresh random layers: masks, SparseGPT weights, exact counts, N:M and
block validity, OWL ratios."""
import math
import os
import subprocess
import time

import numpy as np
import pytest

import prune_ref as ref

SEED = int(os.environ.get("SP_SEED", time.time_ns() % 2**31))
print(f"test_prune seed {SEED} (set SP_SEED to repeat)")
TOOL = os.path.join(os.environ.get("SP_BIN", "build"), "prune_tool")
SHAPES = [(64, 256), (96, 384), (48, 320)]  # 320: a partial last SparseGPT column block
NTOK = 600


def rng(*salt):
    return np.random.default_rng([SEED, *salt])


def make_layer(out, inn, ntok=NTOK, salt=0):
    g = rng(out, inn, salt)
    W = g.standard_normal((out, inn)).astype(np.float32)
    X = g.standard_normal((ntok, inn))
    X *= g.lognormal(0.0, 1.0, inn)[None, :]                  # uneven column scales
    heavy = g.choice(inn, inn // 16, replace=False)
    X[:, heavy] = g.standard_t(2.0, (ntok, heavy.size)) * 8   # heavy-tailed columns
    X[:, (inn * 5) // 7] = 0.0                                # one dead input
    return W, X.astype(np.float32)


def run_tool(tmp, W, X, method, pattern, ratio, n=2, m=4, block=16, scope="default", override=-1.0):
    out, inn = W.shape
    wp, xp = tmp / "w.f32", tmp / "x.f32"
    wo, mo = tmp / "wout.f32", tmp / "mask.u8"
    W.tofile(wp)
    args = [TOOL, "prune", f"w={wp}", f"out={out}", f"in={inn}", f"method={method}",
            f"pattern={pattern}", f"ratio={ratio!r}", f"n={n}", f"m={m}", f"block={block}",
            f"scope={scope}", f"wout={wo}", f"mask={mo}", f"override={override!r}"]
    if X is not None:
        X.tofile(xp)
        args += [f"x={xp}", f"ntok={X.shape[0]}"]
    r = subprocess.run(args, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    Wc = np.fromfile(wo, dtype=np.float32).reshape(out, inn)
    Mc = np.fromfile(mo, dtype=np.uint8).reshape(out, inn)
    return Wc, Mc


def check_counts(keep, pattern, ratio, n=2, m=4, block=16, group="layer", colblock=None):
    """Exact pruned counts per comparison group, N:M and block validity."""
    out, inn = keep.shape
    assert set(np.unique(keep)) <= {0, 1}
    if pattern == "nm":
        kept = keep.reshape(out, inn // m, m).sum(axis=2)
        assert np.all(kept == n), "every group of m keeps exactly n"
    elif pattern == "block":
        t = keep.reshape(out // block, block, inn // block, block).sum(axis=(1, 3))
        assert np.all((t == 0) | (t == block * block)), "tiles are all kept or all pruned"
        if colblock is None:
            assert (t == 0).sum() == math.floor(ratio * t.size)
        else:
            for c0 in range(0, inn, colblock):
                tt = t[:, c0 // block:(c0 + colblock) // block]
                assert (tt == 0).sum() == math.floor(ratio * tt.size)
    elif colblock is not None:  # SparseGPT: per column block
        for c0 in range(0, inn, colblock):
            kb = keep[:, c0:c0 + colblock]
            if group == "row":
                assert np.all((kb == 0).sum(axis=1) == math.floor(ratio * kb.shape[1]))
            else:
                assert (kb == 0).sum() == math.floor(ratio * kb.size)
    elif group == "row":
        assert np.all((keep == 0).sum(axis=1) == math.floor(ratio * inn))
    else:
        assert (keep == 0).sum() == math.floor(ratio * keep.size)


CASES = [("unstructured", 0.5, 2, 4, "default"), ("unstructured", 0.3, 2, 4, "row"),
         ("unstructured", 0.7, 2, 4, "layer"), ("nm", 0.0, 2, 4, "default"),
         ("nm", 0.0, 1, 4, "default"), ("nm", 0.0, 5, 8, "default"), ("block", 0.5, 2, 4, "default"),
         ("block", 0.25, 2, 4, "default")]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("pattern,ratio,n,m,scope", CASES)
@pytest.mark.parametrize("method", ["magnitude", "wanda"])
def test_score_pruners(tmp_path, method, shape, pattern, ratio, n, m, scope):
    W, X = make_layer(*shape)
    if method == "magnitude":
        Wr, Mr = ref.magnitude(W, pattern, ratio, n, m, 16, scope)
        Wc, Mc = run_tool(tmp_path, W, None, method, pattern, ratio, n, m, 16, scope)
    else:
        Wr, Mr = ref.wanda(W, X, pattern, ratio, n, m, 16, scope)
        Wc, Mc = run_tool(tmp_path, W, X, method, pattern, ratio, n, m, 16, scope)
    default = "layer" if method == "magnitude" else "row"
    check_counts(Mc, pattern, ratio, n, m, 16, group=default if scope == "default" else scope)
    mism = int((Mc != Mr).sum())
    # scores are continuous: identical masks (the C sum order could only flip an exact near-tie)
    assert mism == 0 or (method == "wanda" and mism <= 2), f"{mism} mask entries differ"
    assert np.all(Wc[Mc == 0] == 0) and np.array_equal(Wc[Mc == 1], W[Mc == 1])


@pytest.mark.parametrize("pattern,group", [("unstructured", "layer"), ("unstructured", "row"),
                                           ("nm", "nm"), ("block", "block")])
def test_magnitude_ties(tmp_path, pattern, group):
    """Many exactly equal scores: the tie rule (lower index kept) must match exactly."""
    g = rng(7)
    W = (g.integers(1, 4, (64, 128)) * g.choice([-1, 1], (64, 128))).astype(np.float32)
    scope = "row" if group == "row" else "default"
    Wr, Mr = ref.magnitude(W, pattern, 0.5, 2, 4, 16, scope)
    Wc, Mc = run_tool(tmp_path, W, None, "magnitude", pattern, 0.5, 2, 4, 16, scope)
    assert np.array_equal(Mc, Mr)


SGPT_CASES = [("unstructured", 0.5, 2, 4, "default"), ("unstructured", 0.6, 2, 4, "row"),
              ("nm", 0.0, 2, 4, "default"), ("nm", 0.0, 4, 8, "default"), ("block", 0.5, 2, 4, "default")]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("pattern,ratio,n,m,scope", SGPT_CASES)
def test_sparsegpt(tmp_path, shape, pattern, ratio, n, m, scope):
    W, X = make_layer(*shape)
    Wr, Mr = ref.sparsegpt(W, X, pattern, ratio, n, m, 16, scope)
    Wc, Mc = run_tool(tmp_path, W, X, "sparsegpt", pattern, ratio, n, m, 16, scope)
    check_counts(Mc, pattern, ratio, n, m, 16, group="row" if scope == "row" else "layer", colblock=128)
    frac = float((Mc != Mr).mean())
    assert frac <= 1e-3, f"mask differs in {frac:.2e} of entries"
    assert np.all(Wc[Mc == 0] == 0)
    dead = (shape[1] * 5) // 7
    assert np.all(Wc[:, dead] == 0), "dead input column zeroed"
    if frac == 0:
        rel = np.linalg.norm(Wc - Wr) / np.linalg.norm(Wr)
        assert rel < 1e-5, f"weights rel err {rel:.2e}"
    # the update must have moved kept weights (not plain masking) and reduced the output error
    Xd = X.astype(np.float64)
    err_sgpt = np.linalg.norm(Xd @ (Wc.astype(np.float64) - W).T)
    err_mask = np.linalg.norm(Xd @ (W * Mc - W).T.astype(np.float64))
    assert err_sgpt < err_mask


@pytest.mark.parametrize("method", ["magnitude", "wanda", "sparsegpt"])
def test_ratio_override(tmp_path, method):
    """OWL's per-block ratio replaces the config ratio."""
    W, X = make_layer(64, 256, salt=3)
    Wc, Mc = run_tool(tmp_path, W, X, method, "unstructured", 0.5, override=0.3)
    if method == "sparsegpt":
        Wr, Mr = ref.sparsegpt(W, X, "unstructured", 0.3)
    elif method == "wanda":
        Wr, Mr = ref.wanda(W, X, "unstructured", 0.3)
    else:
        Wr, Mr = ref.magnitude(W, "unstructured", 0.3)
    assert (Mc == 0).sum() == (Mr == 0).sum() and float((Mc != Mr).mean()) <= 1e-3


def test_owl(tmp_path):
    g = rng(11)
    blocks, files = [], []
    for b in range(5):
        layers, args = [], []
        for li, (o, i) in enumerate([(48, 64), (64, 48), (32, 64)]):
            W = g.standard_normal((o, i)).astype(np.float32)
            W[g.random((o, i)) < 0.002 * (b + 1)] *= 30  # more big weights in later blocks
            X = (g.standard_normal((50, i)) * g.lognormal(0, 0.5 + 0.2 * b, i)).astype(np.float32)
            wp, xp = tmp_path / f"w{b}_{li}.f32", tmp_path / f"x{b}_{li}.f32"
            W.tofile(wp)
            X.tofile(xp)
            layers.append((W, X))
            args.append(f"layer={wp}:{xp}:{o}:{i}:50")
        r = subprocess.run([TOOL, "outlier", "owlm=5", *args], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        dc = float(r.stdout)
        dr = ref.owl_outlier_ratio(layers, 5.0)
        total = sum(W.size for W, _ in layers)
        assert abs(dc - dr) <= 1.0 / total + 1e-15
        assert dr > 0
        blocks.append(dr)
    for target, lam in [(0.5, 0.08), (0.7, 0.1), (0.2, 0.05)]:
        r = subprocess.run([TOOL, "owl", f"target={target}", f"lambda={lam}", *[f"d={d!r}" for d in blocks]],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        rc = np.array([float(v) for v in r.stdout.split()])
        rr = ref.owl_ratios(blocks, target, lam)
        assert np.allclose(rc, rr, rtol=0, atol=1e-12)
        assert abs(rc.mean() - target) < 1e-12, "OWL ratios average to the target"
        assert rc.max() - rc.min() == pytest.approx(2 * lam, abs=1e-12)
        assert np.argmin(rc) == np.argmax(blocks), "most outliers -> least pruning"
    # equal outlier ratios: uniform
    r = subprocess.run([TOOL, "owl", "target=0.5", "d=0.01", "d=0.01"], capture_output=True, text=True)
    assert [float(v) for v in r.stdout.split()] == [0.5, 0.5]
    # spread too large for the target: clear error
    r = subprocess.run([TOOL, "owl", "target=0.95", "lambda=0.2", "d=0.01", "d=0.02"], capture_output=True, text=True)
    assert r.returncode != 0 and "owl_lambda" in r.stderr
