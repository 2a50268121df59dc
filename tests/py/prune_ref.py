"""Float64 NumPy references for the pruners (independent of the C code).

Count rule (shared with the C library): a comparison group of `count` candidates prunes
floor(ratio * count), the lowest scores; among equal scores the higher index is pruned
first. Masks are uint8, 1 = kept.
"""
import math

import numpy as np


def _prune_lowest(scores, k):
    """Indices (into the flat group) of the k entries to prune."""
    idx = np.arange(scores.size)
    order = np.lexsort((-idx, scores))  # score ascending, then index descending
    return order[:k]


def select(score, group, ratio=0.5, n=2, m=4, block=16):
    out, inn = score.shape
    keep = np.ones((out, inn), dtype=np.uint8)
    if group == "layer":
        k = math.floor(ratio * score.size)
        keep.reshape(-1)[_prune_lowest(score.reshape(-1), k)] = 0
    elif group in ("row", "nm"):
        gsize = inn if group == "row" else m
        k = math.floor(ratio * inn) if group == "row" else m - n
        flat = score.reshape(-1, gsize)  # one group per row of flat
        gid = np.repeat(np.arange(flat.shape[0]), gsize)
        pos = np.tile(np.arange(gsize), flat.shape[0])
        order = np.lexsort((-pos, flat.reshape(-1), gid))  # by group, score asc, index desc
        ranked = order.reshape(flat.shape[0], gsize)[:, :k]  # lowest k of each group
        keep.reshape(-1)[ranked.reshape(-1)] = 0
    elif group == "block":
        tiles = score.reshape(out // block, block, inn // block, block).sum(axis=(1, 3))
        k = math.floor(ratio * tiles.size)
        pruned = _prune_lowest(tiles.reshape(-1), k)
        bc = inn // block
        for t in pruned:
            a, b = divmod(int(t), bc)
            keep[a * block:(a + 1) * block, b * block:(b + 1) * block] = 0
    else:
        raise ValueError(group)
    return keep


def _group(pattern, scope, default):
    if pattern == "nm":
        return "nm"
    if pattern == "block":
        return "block"
    return default if scope == "default" else scope


def magnitude(W, pattern, ratio, n=2, m=4, block=16, scope="default"):
    W = np.asarray(W, dtype=np.float64)
    keep = select(np.abs(W), _group(pattern, scope, "layer"), ratio, n, m, block)
    return W * keep, keep


def wanda(W, X, pattern, ratio, n=2, m=4, block=16, scope="default"):
    W = np.asarray(W, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    norms = np.sqrt((X * X).sum(axis=0))  # ||X_j||_2 over tokens
    score = np.abs(W) * norms[None, :]
    keep = select(score, _group(pattern, scope, "row"), ratio, n, m, block)
    return W * keep, keep


def sparsegpt(W, X, pattern, ratio, n=2, m=4, block=16, scope="default", blocksize=128, percdamp=0.01):
    """SparseGPT fasterprune (IST-DASLab/sparsegpt), float64."""
    W = np.array(W, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    rows, cols = W.shape
    H = 2.0 / X.shape[0] * (X.T @ X)
    dead = np.diag(H) == 0
    H[dead, dead] = 1.0
    W[:, dead] = 0.0
    H[np.diag_indices(cols)] += percdamp * np.mean(np.diag(H))
    L = np.linalg.cholesky(H)                      # H = L L^T
    Linv = np.linalg.inv(L)
    Hinv = Linv.T @ Linv                           # H^-1
    Hinv = np.linalg.cholesky(Hinv).T              # upper U, U^T U = H^-1
    unit = m if pattern == "nm" else block if pattern == "block" else 1
    bs = blocksize // unit * unit if blocksize >= unit else unit
    keep = np.ones((rows, cols), dtype=np.uint8)
    for i1 in range(0, cols, bs):
        i2 = min(i1 + bs, cols)
        cnt = i2 - i1
        W1 = W[:, i1:i2].copy()
        Q1 = np.zeros_like(W1)
        Err1 = np.zeros_like(W1)
        H1 = Hinv[i1:i2, i1:i2]
        d1 = np.diag(H1)
        if pattern == "unstructured":
            mask1 = select(W1 ** 2 / d1[None, :] ** 2, "row" if scope == "row" else "layer", ratio)
        elif pattern == "block":
            mask1 = select(W1 ** 2 / d1[None, :] ** 2, "block", ratio, block=block)
        else:
            mask1 = np.ones_like(W1, dtype=np.uint8)
        for i in range(cnt):
            if pattern == "nm" and i % m == 0:
                tmp = W1[:, i:i + m] ** 2 / d1[None, i:i + m] ** 2
                mask1[:, i:i + m] = select(tmp, "nm", n=n, m=m)
            w = W1[:, i]
            d = H1[i, i]
            q = w * mask1[:, i]
            Q1[:, i] = q
            err = (w - q) / d
            W1[:, i:] -= np.outer(err, H1[i, i:])
            Err1[:, i] = err
        W[:, i1:i2] = Q1
        keep[:, i1:i2] = mask1
        W[:, i2:] -= Err1 @ Hinv[i1:i2, i2:]
    return W, keep


def owl_outlier_ratio(layers, owl_m):
    """layers: list of (W, X). Fraction of Wanda scores > owl_m * mean, all layers together."""
    scores = np.concatenate([
        (np.abs(np.asarray(W, np.float64)) * np.sqrt((np.asarray(X, np.float64) ** 2).sum(0))[None, :]).ravel()
        for W, X in layers])
    return float(np.mean(scores > owl_m * scores.mean()))


def owl_ratios(D, target, lam):
    """Per-block sparsity ratios (luuyin/OWL prune_*_outlier)."""
    D = np.asarray(D, dtype=np.float64)
    if D.max() == D.min():
        return np.full(D.shape, target)
    d = (D - D.min()) * (1.0 / (D.max() - D.min()) * lam * 2)
    density = d - d.mean() + (1 - target)
    return 1 - density
