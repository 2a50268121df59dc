"""sparsity pack: packed checkpoints (include/sparsity_pack.h, docs/FORMATS.md).

- every format decodes to the dense weights (tiny model, every dtype), and the
  real model packed in every format scores the same perplexity as its dense twin;
- bitmap / 2:4 follow the compressed-tensors layouts: checked against a NumPy
  reimplementation of the package's decompression (ct_ref.py), and files written by
  compressed-tensors itself (tests/fixtures/ct, made by scripts/ct_fixtures.py) load;
- corrupt packed files are rejected with one line naming the file and the tensor.
"""
import json
import os
import shutil
import subprocess

import numpy as np
import pytest

import ct_ref
from conftest import ASSETS, tool

ROOT = os.environ.get("SP_ROOT", os.path.join(os.path.dirname(__file__), "../.."))
FIX = os.path.join(ROOT, "tests", "fixtures", "ct")
TEXT = os.path.join(ASSETS, "text", "eval.txt")
LINEARS = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
           "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]


def run(*args, check=True):
    p = subprocess.run([tool("sparsity"), *args], capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"sparsity {' '.join(args)} failed ({p.returncode}): {p.stderr[-2000:]}")
    return p


def pack(src, out, fmt, dtype="f32", *extra):
    return run("pack", src, out, "--format", fmt, "--dtype", dtype, "--json", *extra)


def decode(folder, tmp_path):
    """Every linear of a packed folder decoded by our loader (pack_dump), as f32."""
    out = str(tmp_path / "decoded.safetensors")
    subprocess.run([tool("pack_dump"), os.path.join(folder, "model.safetensors"),
                    os.path.join(folder, "config.json"), out], check=True, capture_output=True)
    return {k: v.as_f32() for k, v in ct_ref.read_st(out)[1].items()}


FORMATS = ["dense", "csr", "coo", "bsr", "bitmap", "nm", "2:4", "auto"]
STORED = {"dense": "dense", "csr": "csr", "coo": "coo", "bsr": "bsr", "bitmap": "sparse-bitmask",
          "nm": "sparse-24-bitmask", "2:4": "sparse-24-bitmask"}


@pytest.mark.parametrize("dtype", ["f32", "bf16", "f16"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_decodes_to_dense(tiny, tmp_path, fmt, dtype):
    src, w = tiny
    out = str(tmp_path / "p")
    rep = json.loads(pack(src, out, fmt, dtype).stdout)
    assert len(rep["layers"]) == 14
    for l in rep["layers"]:
        if fmt != "auto":
            assert l["format"] == STORED[fmt]
        assert l["ratio"] == pytest.approx(l["bytes"] / l["dense_bytes"])
    st_dt = {"f32": "F32", "bf16": "BF16", "f16": "F16"}[dtype]
    got = decode(out, tmp_path)
    for name, v in w.items():
        if v.ndim == 2 and "layers" in name:
            np.testing.assert_array_equal(got[name], ct_ref.round_to(v, st_dt), err_msg=name)
    meta, tensors = ct_ref.read_st(os.path.join(out, "model.safetensors"))
    assert tensors["model.embed_tokens.weight"].dtype == st_dt
    layers = json.loads(meta["sparsity_pack"])["layers"]
    assert layers["model.layers.1.mlp.down_proj"]["shape"] == [64, 128]
    assert layers["model.layers.1.mlp.down_proj"]["dtype"] == st_dt
    # every tensor aligned to its element size (f32 tensors are used in place)
    hdr_len = int.from_bytes(open(os.path.join(out, "model.safetensors"), "rb").read(8), "little")
    assert hdr_len % 8 == 0
    if dtype == "bf16":  # the packed folder runs like any other: verify and generate
        assert "0 layer(s) failed" in run("verify", out).stdout
        run("generate", "--model", out, "--prompt", "Hello", "-n", "3")


def test_auto_picks_smallest(tiny, tmp_path):
    src, _ = tiny
    rep = json.loads(pack(src, str(tmp_path / "a"), "auto", "bf16").stdout)
    for l in rep["layers"]:
        for f in ["dense", "csr", "coo", "bsr", "bitmap", "nm"]:
            other = json.loads(pack(src, str(tmp_path / f), f, "bf16").stdout)
            o = next(x for x in other["layers"] if x["name"] == l["name"])
            assert l["bytes"] <= o["bytes"], (l, o)
        break  # one layer is enough (all layers share the pattern)
    assert rep["tensor_bytes"] < rep["dense_tensor_bytes"]


def test_general_nm_and_block_options(tiny, tmp_path):
    src, w = tiny
    out = str(tmp_path / "nm48")
    rep = json.loads(pack(src, out, "nm", "f32", "--n", "4", "--m", "8").stdout)
    assert {l["format"] for l in rep["layers"]} == {"nm"}
    assert rep["compressed_tensors_format"] is None
    got = decode(out, tmp_path)
    np.testing.assert_array_equal(got["model.layers.0.mlp.up_proj.weight"], w["model.layers.0.mlp.up_proj.weight"])
    out = str(tmp_path / "bsr")
    pack(src, out, "bsr", "f32", "--block", "8x8")
    layers = json.loads(ct_ref.read_st(os.path.join(out, "model.safetensors"))[0]["sparsity_pack"])["layers"]
    assert layers["model.layers.0.mlp.up_proj"]["block"] == [8, 8]
    got = decode(out, tmp_path)
    np.testing.assert_array_equal(got["model.layers.0.mlp.up_proj.weight"], w["model.layers.0.mlp.up_proj.weight"])
    p = run("pack", src, str(tmp_path / "x"), "--format", "nm", "--n", "1", "--m", "4", check=False)
    assert p.returncode != 0 and "not n:m sparse" in p.stderr
    p = run("pack", src, str(tmp_path / "x"), "--format", "zip", check=False)
    assert p.returncode != 0 and "unknown format" in p.stderr
    assert not os.path.exists(str(tmp_path / "x"))


# ---------------------------------------------------------------- compressed-tensors layout

CT_CONFIG = {
    "sparse-bitmask": {"format": "sparse-bitmask", "ignore": ["lm_head"], "registry_requires_subclass": False,
                       "sparsity_structure": "unstructured", "targets": ["Linear"]},
    "sparse-24-bitmask": {"format": "sparse-24-bitmask", "ignore": ["lm_head"], "registry_requires_subclass": False,
                          "sparsity_structure": "2:4", "targets": ["Linear"]},
}


@pytest.mark.parametrize("dtype", ["f32", "bf16", "f16"])
@pytest.mark.parametrize("fmt", ["bitmap", "2:4"])
def test_writer_matches_compressed_tensors_layout(tiny, tmp_path, fmt, dtype):
    src, w = tiny
    out = str(tmp_path / "p")
    pack(src, out, fmt, dtype)
    ct = STORED[fmt]
    st_dt = {"f32": "F32", "bf16": "BF16", "f16": "F16"}[dtype]
    cfg = json.load(open(os.path.join(out, "config.json")))
    q = cfg["quantization_config"]
    assert q["quant_method"] == "compressed-tensors" and q["transform_config"] == {} and q["version"]
    sc = dict(q["sparsity_config"])
    assert 0.4 < sc.pop("global_sparsity") < 0.7
    assert sc == CT_CONFIG[ct]
    assert cfg["torch_dtype"] == {"f32": "float32", "bf16": "bfloat16", "f16": "float16"}[dtype]
    _, t = ct_ref.read_st(os.path.join(out, "model.safetensors"))
    for b in range(2):
        for s in LINEARS:
            p = f"model.layers.{b}.{s}"
            dense = w[p + ".weight"]
            rows, cols = dense.shape
            want = {"compressed", "bitmask", "shape"} | ({"row_offsets"} if ct == "sparse-bitmask" else set())
            assert {k[len(p) + 1:] for k in t if k.startswith(p + ".")} == want
            bm, shape, vals = t[p + ".bitmask"], t[p + ".shape"], t[p + ".compressed"]
            assert bm.dtype == "U8" and bm.arr.shape == (rows, (cols + 7) // 8)
            assert shape.dtype == "I64" and shape.arr.flatten().tolist() == [rows, cols]
            assert vals.dtype == st_dt
            if ct == "sparse-bitmask":
                assert shape.arr.shape == (2,) and vals.arr.ndim == 1
                ro = t[p + ".row_offsets"]
                counts = (dense != 0).sum(axis=1)
                assert ro.dtype == "I64" and ro.arr.tolist() == (np.cumsum(counts) - counts).tolist()
            else:
                assert shape.arr.shape == (2, 1) and vals.arr.shape == (rows, cols // 2)
                mask = ct_ref.unpack_bitmasks(bm.arr, [rows, cols])
                assert (mask.reshape(rows, -1, 4).sum(axis=-1) == 2).all()
            got = ct_ref.bitmask_decompress(vals.as_f32(), bm.arr, [rows, cols])
            np.testing.assert_array_equal(got, ct_ref.round_to(dense, st_dt), err_msg=p)


def test_reads_compressed_tensors_fixtures(tmp_path):
    """Files written by compressed-tensors 0.14.0.1 (scripts/ct_fixtures.py make)."""
    _, expected = ct_ref.read_st(os.path.join(FIX, "expected.safetensors"))
    for kind in ["bitmask", "24"]:
        got = decode(os.path.join(FIX, kind), tmp_path)
        names = [k for k in expected if k.startswith(kind + "/")]
        assert len(names) == 3 and len(got) == 3
        _, comp = ct_ref.read_st(os.path.join(FIX, kind, "model.safetensors"))
        for k in names:
            layer = k[len(kind) + 1:]
            np.testing.assert_array_equal(got[layer + ".weight"], expected[k].arr, err_msg=k)
            # the NumPy reference agrees on the package's own output
            shape = comp[layer + ".shape"].arr.flatten().tolist()
            ref = ct_ref.bitmask_decompress(comp[layer + ".compressed"].as_f32(), comp[layer + ".bitmask"].arr, shape)
            np.testing.assert_array_equal(ref, expected[k].arr, err_msg=k)


# ---------------------------------------------------------------- perplexity on the real model

@pytest.fixture(scope="module")
def pruned24(model_dir, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("p24") / "m")
    run("prune", "--model", model_dir, "--out", out, "--method", "magnitude", "--pattern", "n:m", "--n", "2", "--m", "4")
    return out


def ppl(model):
    p = run("eval", "--model", model, "--data", TEXT, "--ctx", "128", "--max-tokens", "256", "--json")
    return json.loads(p.stdout)["ppl"]


@pytest.mark.parametrize("dtype", ["f32", "bf16"])
def test_perplexity_equals_dense_twin(pruned24, tmp_path, dtype):
    if not os.path.exists(TEXT):
        pytest.skip("assets/text/eval.txt missing")
    twin = pruned24
    if dtype != "f32":
        twin = str(tmp_path / "twin")
        pack(pruned24, twin, "dense", dtype)
    want = ppl(twin)
    fmts = ["bitmap", "nm", "csr", "coo", "bsr", "auto"] if dtype == "f32" else ["bitmap", "nm", "auto"]
    for f in fmts:
        out = str(tmp_path / f)
        rep = json.loads(pack(pruned24, out, f, dtype).stdout)
        assert rep["file_bytes"] == os.path.getsize(os.path.join(out, "model.safetensors"))
        got = ppl(out)
        assert got == pytest.approx(want, rel=1e-6), f
        shutil.rmtree(out)
    # bitmap / 2:4 at 50% sparsity take ~0.63 of the dense bytes in f32
    rep = json.loads(pack(pruned24, str(tmp_path / "a"), "auto", dtype).stdout)
    assert rep["ratio"] < 0.75 and rep["compressed_tensors_format"] == "sparse-24-bitmask"


# ---------------------------------------------------------------- corrupt files

def edit(folder, fn):
    path = os.path.join(folder, "model.safetensors")
    meta, t = ct_ref.read_st(path)
    fn(meta, t)
    ct_ref.write_st(path, meta, t)


def set_meta(key, value):
    def fn(meta, t):
        layers = json.loads(meta["sparsity_pack"])
        layers["layers"][L][key] = value
        meta["sparsity_pack"] = json.dumps(layers)
    return fn


def arr_set(suffix, idx, value):
    def fn(meta, t):
        a = t[f"{L}.{suffix}"].arr
        a.reshape(-1)[idx] = value
    return fn


def drop_last(suffix):
    def fn(meta, t):
        x = t[f"{L}.{suffix}"]
        t[f"{L}.{suffix}"] = ct_ref.Tensor(x.dtype, x.arr.reshape(-1)[:-1].copy())
    return fn


def retype(suffix, dtype, np_dtype):
    def fn(meta, t):
        t[f"{L}.{suffix}"] = ct_ref.Tensor(dtype, t[f"{L}.{suffix}"].arr.astype(np_dtype))
    return fn


def delete(suffix):
    def fn(meta, t):
        del t[f"{L}.{suffix}"]
    return fn


def set_zero_bit(meta, t):
    bm = t[f"{L}.bitmask"].arr
    r, c = np.argwhere(ct_ref.unpack_bitmasks(bm, [bm.shape[0], 64]) == 0)[0]
    bm[r, c // 8] |= np.uint8(1 << (c % 8))


def swap_first_two(suffix):
    def fn(meta, t):
        a = t[f"{L}.{suffix}"].arr
        a[0], a[1] = a[1].copy(), a[0].copy()
    return fn


def not_monotone(meta, t):
    a = t[f"{L}.csr_row_ptr"].arr
    a[2] = a[1] - 1


L = "model.layers.1.mlp.up_proj"  # (128, 64)
CORRUPT = [
    ("csr", "col-out-of-range", arr_set("csr_col", 0, 64 + 3), "out of range"),
    ("csr", "row-ptr-not-monotone", not_monotone, "not monotone"),
    ("csr", "values-truncated", drop_last("csr_values"), "csr_col' has"),
    ("csr", "row-ptr-wrong-dtype", retype("csr_row_ptr", "I32", np.int32), "dtype I32, expected I64"),
    ("coo", "row-out-of-range", arr_set("coo_row", 0, 1000), "out of range"),
    ("coo", "unsorted", swap_first_two("coo_col"), "not sorted"),
    ("bsr", "block-col-out-of-range", arr_set("bsr_block_col", 0, 99), "out of range"),
    ("bsr", "block-ptr-truncated", drop_last("bsr_block_ptr"), "bsr_block_ptr' has"),
    ("nm48", "idx-out-of-range", arr_set("nm_idx", 0, 200), "out of range"),
    ("nm48", "idx-truncated", drop_last("nm_idx"), "nm_idx' has"),
    ("bitmap", "extra-bit", set_zero_bit, L),
    ("bitmap", "row-offsets-wrong", arr_set("row_offsets", 1, 0), "row_offsets"),
    ("bitmap", "values-truncated", drop_last("compressed"), "compressed"),
    ("bitmap", "missing-bitmask", delete("bitmask"), "missing tensor"),
    ("2:4", "values-mis-sized", drop_last("compressed"), "compressed' has"),
    ("2:4", "shape-tensor-wrong", arr_set("shape", 1, 68), "says shape"),
    ("2:4", "bitmask-mis-sized", drop_last("bitmask"), "bitmask' has"),
    ("csr", "meta-unknown-format", set_meta("format", "zip"), "unknown format 'zip'"),
    ("csr", "meta-shape", set_meta("shape", [129, 64]), "shape is not"),
    ("bitmap", "meta-dtype", set_meta("dtype", "BF16"), "expected BF16"),
    ("csr", "meta-not-json", lambda meta, t: meta.update(sparsity_pack="{"), "sparsity_pack"),
]


@pytest.fixture(scope="module")
def packs(tiny, tmp_path_factory):
    src, _ = tiny
    base = tmp_path_factory.mktemp("packs")
    out = {}
    for f in ["csr", "coo", "bsr", "bitmap", "2:4"]:
        out[f] = str(base / f.replace(":", ""))
        pack(src, out[f], f)
    out["nm48"] = str(base / "nm48")
    pack(src, out["nm48"], "nm", "f32", "--n", "4", "--m", "8")
    return out


@pytest.mark.parametrize("fmt,case,fn,msg", CORRUPT, ids=[f"{c[0]}-{c[1]}" for c in CORRUPT])
def test_corrupt_rejected(packs, tmp_path, fmt, case, fn, msg):
    d = str(tmp_path / "bad")
    shutil.copytree(packs[fmt], d)
    edit(d, fn)
    p = run("verify", d, check=False)
    err = p.stderr.strip()
    assert p.returncode == 1, (case, p.returncode, err)
    assert "\n" not in err and "model.safetensors" in err and msg in err, err
    assert "AddressSanitizer" not in p.stderr and "runtime error" not in p.stderr


def test_truncated_file_and_bad_ct_config(packs, tmp_path):
    d = str(tmp_path / "trunc")
    shutil.copytree(packs["bitmap"], d)
    path = os.path.join(d, "model.safetensors")
    os.truncate(path, os.path.getsize(path) - 100)
    p = run("verify", d, check=False)
    assert p.returncode == 1 and "model.safetensors" in p.stderr and "outside the data section" in p.stderr
    # a compressed-tensors folder (no sparsity_pack metadata) with a format we do not read
    d = str(tmp_path / "ct")
    shutil.copytree(packs["bitmap"], d)
    edit(d, lambda meta, t: meta.pop("sparsity_pack"))
    assert "0 layer(s) failed" in run("verify", d).stdout  # format from config.json
    cfg = json.load(open(os.path.join(d, "config.json")))
    cfg["quantization_config"]["sparsity_config"]["format"] = "marlin-24"
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
    p = run("verify", d, check=False)
    assert p.returncode == 1 and "config.json" in p.stderr and "marlin-24" in p.stderr
