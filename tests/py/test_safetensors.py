"""Our safetensors reader/writer against the reference `safetensors` package.

Direction 1: files written by safetensors (numpy save_file, and the low-level
serialize for BF16, which numpy lacks) are read by our reader: `st_tool dump`
must report the same names, dtypes, shapes, byte hashes, sums and metadata.
Direction 2: `st_tool copy` (our reader -> our writer) output loads in
safetensors with identical arrays and metadata.
"""
import json
import os
import subprocess

import numpy as np
import pytest
import safetensors
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

BIN = os.environ.get("SP_BIN", "build")
TOOL = os.path.join(BIN, "st_tool")

SEED = int.from_bytes(os.urandom(4), "little")
print("seed", SEED)

META = {
    "format": "np",
    "sparsity": json.dumps({"method": "wanda", "ratio": 0.5, "note": "a \"quoted\"\nline"}),
    "unicode": "h\u00e9llo \u4e16\u754c",
    "empty": "",
}

NP_NAME = {np.float32: "F32", np.float64: "F64", np.float16: "F16", np.int8: "I8", np.uint8: "U8",
           np.int16: "I16", np.int32: "I32", np.int64: "I64"}


def fnv1a(b: bytes) -> int:
    h = 0xCBF29CE484222325
    for x in b:
        h = ((h ^ x) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def random_arrays(rng):
    out = {}
    shapes = [(), (1,), (0,), (17,), (3, 5), (0, 4), (2, 3, 4), (2, 1, 3, 2)]
    for dt in NP_NAME:
        for i, s in enumerate(shapes):
            if np.issubdtype(dt, np.floating):
                a = np.asarray(rng.standard_normal(s) * 3).astype(dt).reshape(s)
            else:
                info = np.iinfo(dt)
                a = np.asarray(rng.integers(info.min, info.max, size=s, endpoint=True, dtype=dt)).reshape(s)
            if a.size:
                a.flat[0] = 1  # never all zero
            out[f"model.layers.{i}.{NP_NAME[dt].lower()}.weight"] = a
    return out


def run_tool(*args):
    r = subprocess.run([TOOL, *args], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def parse_dump(text):
    meta, tensors = {}, []
    for line in text.splitlines():
        if line.startswith("meta "):
            k, v = line[5:].split("=", 1)
            meta[k] = v
            continue
        name, dt, shape, nbytes, s, h = line.split(" ")
        shape = tuple(int(x) for x in shape.strip("[]").split(",") if x)
        tensors.append((name, dt, shape, int(nbytes), s, int(h, 16)))
    return meta, tensors


def expected_sum(a):
    if np.issubdtype(a.dtype, np.floating):
        return float(np.sum(a.astype(np.float64)))
    s = int(np.sum(a.astype(object))) if a.size else 0
    s &= 0xFFFFFFFFFFFFFFFF
    return s - (1 << 64) if s >= (1 << 63) else s


def check_sum(got: str, a, floating: bool):
    want = expected_sum(a)
    if floating:
        tol = 1e-12 * float(np.sum(np.abs(a.astype(np.float64)))) + 1e-300
        assert abs(float(got) - want) <= tol, (got, want)
    else:
        assert int(got) == want


@pytest.fixture(scope="module")
def tool():
    if not os.path.exists(TOOL):
        pytest.skip(f"{TOOL} not built")
    return TOOL


def bf16_file(path, rng):
    """BF16 (+ one F32) tensors via the low-level serializer; returns {name: array} (BF16 as raw uint16)."""
    tensors, keep = {}, {}
    for i, s in enumerate([(4, 6), (7,), (0,), (), (2, 2, 2, 3)]):
        f = np.asarray(rng.standard_normal(s) * 2, dtype=np.float32).reshape(s)
        u = np.array(f.view(np.uint32) >> 16, dtype=np.uint16).reshape(s)
        if u.size:
            u.flat[0] = 0x3F80  # 1.0
        name = f"bf16.{i}"
        keep[name] = u
        tensors[name] = safetensors.TensorSpec(dtype="bfloat16", shape=list(s),
                                               data_ptr=u.ctypes.data, data_len=u.nbytes)
    f32 = rng.standard_normal((3, 3)).astype(np.float32)
    keep["f32"] = f32
    tensors["f32"] = safetensors.TensorSpec(dtype="float32", shape=[3, 3],
                                            data_ptr=f32.ctypes.data, data_len=f32.nbytes)
    data = bytes(safetensors.serialize(tensors, metadata=META))
    with open(path, "wb") as fp:
        fp.write(data)
    return keep


def test_reads_safetensors_numpy_files(tool, tmp_path):
    rng = np.random.default_rng(SEED)
    arrays = random_arrays(rng)
    p = str(tmp_path / "ref.safetensors")
    save_file(arrays, p, metadata=META)
    meta, tensors = parse_dump(run_tool("dump", p))
    assert meta == META
    assert sorted(t[0] for t in tensors) == sorted(arrays)
    for name, dt, shape, nbytes, s, h in tensors:
        a = arrays[name]
        assert dt == NP_NAME[a.dtype.type]
        assert shape == a.shape
        assert nbytes == a.nbytes
        assert h == fnv1a(a.tobytes())
        check_sum(s, a, np.issubdtype(a.dtype, np.floating))


def test_reads_bf16(tool, tmp_path):
    rng = np.random.default_rng(SEED + 1)
    p = str(tmp_path / "bf16.safetensors")
    keep = bf16_file(p, rng)
    meta, tensors = parse_dump(run_tool("dump", p))
    assert meta == META
    assert sorted(t[0] for t in tensors) == sorted(keep)
    for name, dt, shape, nbytes, s, h in tensors:
        a = keep[name]
        assert shape == a.shape and nbytes == a.nbytes
        assert h == fnv1a(a.tobytes())
        if name == "f32":
            assert dt == "F32"
            check_sum(s, a, True)
        else:
            assert dt == "BF16"
            as_f32 = (a.astype(np.uint32) << 16).view(np.float32)
            check_sum(s, as_f32, True)


def test_our_writer_loads_in_safetensors(tool, tmp_path):
    rng = np.random.default_rng(SEED + 2)
    arrays = random_arrays(rng)
    src, out = str(tmp_path / "ref.safetensors"), str(tmp_path / "ours.safetensors")
    save_file(arrays, src, metadata=META)
    run_tool("copy", src, out)
    with open(out, "rb") as fp:
        assert int.from_bytes(fp.read(8), "little") % 8 == 0  # data section 8-aligned
    back = load_file(out)
    assert sorted(back) == sorted(arrays)
    for k, a in arrays.items():
        b = back[k]
        assert b.dtype == a.dtype and b.shape == a.shape
        assert b.tobytes() == a.tobytes()
    with safe_open(out, framework="np") as f:
        assert f.metadata() == META
    assert not [n for n in os.listdir(tmp_path) if ".tmp." in n]


def test_our_writer_bf16_round_trip(tool, tmp_path):
    rng = np.random.default_rng(SEED + 3)
    src, out = str(tmp_path / "bf16.safetensors"), str(tmp_path / "ours.safetensors")
    keep = bf16_file(src, rng)
    run_tool("copy", src, out)
    with open(out, "rb") as fp:
        data = fp.read()
    got = dict(safetensors.deserialize(data))
    assert sorted(got) == sorted(keep)
    for name, a in keep.items():
        t = got[name]
        assert t["dtype"] == ("F32" if name == "f32" else "BF16")
        assert tuple(t["shape"]) == a.shape
        assert bytes(t["data"]) == a.tobytes()
    with safe_open(out, framework="np") as f:
        assert f.metadata() == META
