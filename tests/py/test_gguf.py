"""GGUF reader (src/io/gguf.c) against the `gguf` Python package: metadata, tensor
infos and dequantization, on the real model and on fresh synthetic files."""
import os
import struct
import time

import numpy as np
import pytest

import gguf
from gguf import GGMLQuantizationType as Q
from gguf import GGUFValueType as V
from gguf_tool import parse, run, unescape

MODEL = os.path.join(os.environ.get("SP_ASSETS", "assets"), "model", "smollm2-135m.gguf")
SEED = int(os.environ.get("SP_SEED", time.time_ns() % 2**31))
print(f"test_gguf seed {SEED} (set SP_SEED to repeat)")


def dump_tensors(path, names, tmp_path):
    """Our dequantization of each named tensor, flat float32."""
    args = []
    for i, n in enumerate(names):
        args += ["--tensor", n, tmp_path / f"t{i}.f32"]
    rc, _, err = run(path, "--quiet", *args)
    assert rc == 0, err
    return [np.fromfile(tmp_path / f"t{i}.f32", dtype="<f4") for i in range(len(names))]


def check_close(ours, ref, what):
    ref = np.asarray(ref, dtype=np.float32).reshape(-1)
    assert ours.shape == ref.shape, f"{what}: {ours.shape} vs {ref.shape}"
    assert np.isfinite(ref).all()
    scale = float(np.max(np.abs(ref)))
    assert scale > 0, f"{what}: all-zero reference"
    err = float(np.max(np.abs(ours.astype(np.float64) - ref.astype(np.float64))))
    assert err <= 1e-6 * scale, f"{what}: max abs error {err} vs scale {scale}"


def reader_value(field):
    """Reference value of a ReaderField: bytes, number, or list of those."""
    def one(t, part):
        return bytes(part) if t == V.STRING else part.tolist()[0]
    if field.types[0] == V.ARRAY:
        return [one(field.types[-1], field.parts[i]) for i in field.data]
    return one(field.types[0], field.parts[field.data[0]])


def same_value(vtype, ours, ref):
    if vtype == V.STRING:
        return unescape(ours) == ref
    if vtype == V.BOOL:
        return int(ours) == int(ref)
    return float(ours) == float(ref)


# ------------------------------------------------------------------ (a) the real model

@pytest.fixture(scope="module")
def model():
    if not os.path.exists(MODEL):
        pytest.skip(f"{MODEL} absent")
    rc, out, err = run(MODEL, "--full")
    assert rc == 0, err
    return parse(out), gguf.GGUFReader(MODEL)


def test_model_metadata(model):
    ours, r = model
    fields = {k: f for k, f in r.fields.items() if not k.startswith("GGUF.")}
    assert ours["version"] == r.fields["GGUF.version"].parts[-1][0]
    assert list(ours["kv"]) == list(fields)
    for key, f in fields.items():
        ty, val = ours["kv"][key]
        ref = reader_value(f)
        if f.types[0] == V.ARRAY:
            assert ty == f"ARRAY[{f.types[-1].name}]", key
            assert int(val) == len(ref), key
            elems = ours["elems"].get(key, [])
            assert len(elems) == len(ref), key
            bad = [i for i, (a, b) in enumerate(zip(elems, ref)) if not same_value(f.types[-1], a, b)]
            assert not bad, f"{key}: elements {bad[:5]} differ"
        else:
            assert ty == f.types[0].name, key
            assert same_value(f.types[0], val, ref), f"{key}: {val!r} vs {ref!r}"


def test_model_tensor_infos(model):
    ours, r = model
    assert ours["order"] == [t.name for t in r.tensors]
    for t in r.tensors:
        ty, ne, off, nbytes = ours["tensors"][t.name]
        assert ty == t.tensor_type.name, t.name
        assert ne == tuple(int(x) for x in t.shape), t.name
        assert r.data_offset + off == t.data_offset, t.name
        assert nbytes == t.n_bytes, t.name


def test_model_dequantize(model, tmp_path):
    _, r = model
    rng = np.random.default_rng(SEED)
    by_name = {t.name: t for t in r.tensors}
    names = ["token_embd.weight", "output_norm.weight", "blk.0.attn_q.weight", "blk.29.ffn_down.weight"]
    for ty in sorted({t.tensor_type for t in r.tensors}):  # two more of every type present
        pool = [t.name for t in r.tensors if t.tensor_type == ty and t.name not in names]
        names += list(rng.choice(pool, size=min(2, len(pool)), replace=False))
    assert {by_name[n].tensor_type for n in names} >= {Q.Q4_1, Q.Q8_0, Q.F32}
    ours = dump_tensors(MODEL, names, tmp_path)
    for n, o in zip(names, ours):
        t = by_name[n]
        check_close(o, gguf.quants.dequantize(t.data, t.tensor_type), f"{n} ({t.tensor_type.name})")


# ------------------------------------------------------------------ (b) synthetic files

# f16 scale fields (byte offsets in a block) of each block type
SCALES = {Q.Q4_0: [0], Q.Q4_1: [0, 2], Q.Q5_0: [0], Q.Q5_1: [0, 2], Q.Q8_0: [0],
          Q.Q2_K: [80, 82], Q.Q3_K: [108], Q.Q4_K: [0, 2], Q.Q5_K: [0, 2], Q.Q6_K: [208]}
QUANTIZABLE = [Q.F16, Q.BF16, Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q8_0]
SHAPES = [(3, 2), (2, 3, 1, 2), (5,)]  # numpy order (outermost first), times the block length


def random_blocks(rng, ty, n_blocks):
    """Random block bytes with finite, non-zero f16 scales."""
    blck, size = gguf.GGML_QUANT_SIZES[ty]
    b = rng.integers(0, 256, size=(n_blocks, size), dtype=np.uint8)
    for off in SCALES[ty]:
        s = rng.uniform(0.01, 2.0, n_blocks) * rng.choice([-1, 1], n_blocks)
        b[:, off:off + 2] = s.astype("<f2").view(np.uint8).reshape(n_blocks, 2)
    return b


def synth_metadata(rng):
    """(key, value type, sub type, value) covering every value type and arrays."""
    ints = {V.UINT8: (0, 255), V.INT8: (-128, 127), V.UINT16: (0, 65535), V.INT16: (-32768, 32767),
            V.UINT32: (0, 2**32 - 1), V.INT32: (-2**31, 2**31 - 1), V.UINT64: (0, 2**53), V.INT64: (-2**53, 2**53)}
    md = []
    for vt, (lo, hi) in ints.items():
        md.append((f"t.{vt.name.lower()}", vt, None, int(rng.integers(lo, hi, endpoint=True))))
        md.append((f"t.arr.{vt.name.lower()}", V.ARRAY, vt, [int(x) for x in rng.integers(lo, hi, 7, endpoint=True)]))
        md.append((f"t.{vt.name.lower()}.max", vt, None, hi))
    md.append(("t.uint64.huge", V.UINT64, None, 2**64 - 1))
    md.append(("t.int64.min", V.INT64, None, -2**63))
    md.append(("t.float32", V.FLOAT32, None, float(np.float32(rng.normal()))))
    md.append(("t.float64", V.FLOAT64, None, float(rng.normal()) * 1e300))
    md.append(("t.arr.float32", V.ARRAY, V.FLOAT32, [float(np.float32(x)) for x in rng.normal(size=5)]))
    md.append(("t.arr.float64", V.ARRAY, V.FLOAT64, [float(x) for x in rng.normal(size=5)]))
    md.append(("t.bool.true", V.BOOL, None, True))
    md.append(("t.bool.false", V.BOOL, None, False))
    md.append(("t.arr.bool", V.ARRAY, V.BOOL, [bool(x) for x in rng.integers(0, 2, 9)]))
    words = ["", "plain", "tab\there", "new\nline", "back\\slash", "ünïcødé ✓", "\x01\x7f", "Ġhello"]
    md.append(("t.string", V.STRING, None, "".join(rng.permutation(words))))
    md.append(("t.string.empty", V.STRING, None, ""))
    md.append(("t.arr.string", V.ARRAY, V.STRING, list(rng.permutation(words)) + [f"w{rng.integers(1e9)}"]))
    return md


def write_synthetic(path, rng, alignment=None):
    """Writes a GGUF file; returns (metadata list, {tensor name: (type, reference float32)})."""
    w = gguf.GGUFWriter(str(path), arch="synthetic")
    if alignment:
        w.add_custom_alignment(alignment)
    md = synth_metadata(rng)
    for key, vt, sub, val in md:
        w.add_key_value(key, val, vt, sub_type=sub)
    tensors = {}
    for ty in sorted(SCALES):  # random block bytes, every block type
        blck, _ = gguf.GGML_QUANT_SIZES[ty]
        for k, shape in enumerate(SHAPES):
            n_blocks = int(np.prod(shape))
            b = random_blocks(rng, ty, n_blocks).reshape(*shape[:-1], shape[-1] * gguf.GGML_QUANT_SIZES[ty][1])
            name = f"rand.{ty.name}.{k}"
            w.add_tensor(name, b, raw_dtype=ty)
            tensors[name] = (ty, gguf.quants.dequantize(b, ty))
    for ty in QUANTIZABLE:  # values quantized by the package
        blck, _ = gguf.GGML_QUANT_SIZES[ty]
        x = (rng.normal(size=(4, 2 * max(blck, 32))) * rng.uniform(0.1, 10)).astype(np.float32)
        q = gguf.quants.quantize(x, ty)
        name = f"quant.{ty.name}"
        if q.dtype == np.uint8:
            w.add_tensor(name, q, raw_dtype=ty)
        else:
            w.add_tensor(name, q, raw_shape=x.shape, raw_dtype=ty)
        tensors[name] = (ty, gguf.quants.dequantize(q.view(np.uint8) if q.dtype != np.float16 else q, ty))
    plain = {Q.F32: np.float32, Q.F64: np.float64, Q.I8: np.int8, Q.I16: np.int16, Q.I32: np.int32, Q.I64: np.int64}
    for ty, dt in plain.items():
        if np.issubdtype(dt, np.integer):
            x = rng.integers(-100, 100, size=(3, 5, 7)).astype(dt)
            x.flat[0] = 17  # never all zero
        else:
            x = rng.normal(size=(3, 5, 7)).astype(dt)
        w.add_tensor(f"plain.{ty.name}", x)
        tensors[f"plain.{ty.name}"] = (ty, x.astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return md, tensors


@pytest.mark.parametrize("alignment", [None, 64])
def test_synthetic(tmp_path, alignment):
    rng = np.random.default_rng(SEED + (alignment or 0))
    path = tmp_path / "synth.gguf"
    md, tensors = write_synthetic(path, rng, alignment)
    rc, out, err = run(path, "--full")
    assert rc == 0, err
    ours = parse(out)
    assert ours["version"] == 3
    for key, vt, sub, val in md:
        ty, v = ours["kv"][key]
        if vt == V.ARRAY:
            assert ty == f"ARRAY[{sub.name}]" and int(v) == len(val), key
            for a, b in zip(ours["elems"][key], val):
                assert same_value(sub, a, b.encode() if sub == V.STRING else b), f"{key}: {a!r} vs {b!r}"
        else:
            assert ty == vt.name, key
            assert same_value(vt, v, val.encode() if vt == V.STRING else val), f"{key}: {v!r} vs {val!r}"
    if alignment:
        assert ours["kv"]["general.alignment"] == ("UINT32", str(alignment))
    # tensor infos against the package's reader, data against its dequantizer
    r = gguf.GGUFReader(str(path))
    assert ours["order"] == [t.name for t in r.tensors]
    for t in r.tensors:
        ty, ne, off, nbytes = ours["tensors"][t.name]
        assert (ty, ne, r.data_offset + off, nbytes) == \
            (t.tensor_type.name, tuple(int(x) for x in t.shape), t.data_offset, t.n_bytes), t.name
        assert off % (alignment or 32) == 0
    names = list(tensors)
    for n, o in zip(names, dump_tensors(path, names, tmp_path)):
        check_close(o, tensors[n][1], f"{n} ({tensors[n][0].name})")
    assert {ty for ty, _ in tensors.values()} >= set(SCALES) | set(QUANTIZABLE)


def test_version2(tmp_path):
    """v2 has the same layout as v3: patch the version field and read it again."""
    rng = np.random.default_rng(SEED + 2)
    path = tmp_path / "v2.gguf"
    _, tensors = write_synthetic(path, rng)
    with open(path, "r+b") as f:
        f.seek(4)
        f.write(struct.pack("<I", 2))
    rc, out, err = run(path)
    assert rc == 0, err
    assert parse(out)["version"] == 2
    name = "rand.Q4_1.1"
    check_close(dump_tensors(path, [name], tmp_path)[0], tensors[name][1], name)
