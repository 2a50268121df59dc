"""Malformed GGUF files: each must fail with one clear line naming the file and the
problem (exit status 1, no crash, no sanitizer report). Files are built by hand
with struct, so the layout here is an independent statement of the format."""
import os
import re
import struct

import numpy as np
import pytest

from gguf_tool import parse, run


def u32(v): return struct.pack("<I", v)
def u64(v): return struct.pack("<Q", v)
def gstr(b): return u64(len(b)) + b


def kv_str(key, val): return gstr(key) + u32(8) + gstr(val)
def kv_u32(key, v): return gstr(key) + u32(4) + u32(v)
def kv_arr_str(key, vals): return gstr(key) + u32(9) + u32(8) + u64(len(vals)) + b"".join(gstr(v) for v in vals)


def tinfo(name, ne, ty, off, n_dims=None):
    nd = len(ne) if n_dims is None else n_dims
    return gstr(name) + u32(nd) + b"".join(u64(x) for x in ne) + u32(ty) + u64(off)


F32, Q8_0 = 0, 8
A = np.array([1.5, -2.0, 3.25, 0.5, 7.0, -1.0, 0.125, 9.0], dtype="<f4")  # tensor a: F32 (8,)
QD = np.array([0.5, -0.25], dtype="<f2")                                      # tensor b: Q8_0 (32, 2)
QS = (np.arange(64) % 23 - 11).astype(np.int8).reshape(2, 32)


def q8_bytes():
    return b"".join(QD[i].tobytes() + QS[i].tobytes() for i in range(2))


def build(kvs=None, tinfos=None, data=None, magic=b"GGUF", version=3, n_t=None, n_kv=None, align=32):
    kvs = [kv_str(b"general.architecture", b"llama"), kv_arr_str(b"tok", [b"a", b"bc"]), kv_u32(b"n", 7)] \
        if kvs is None else kvs
    tinfos = [tinfo(b"a", [8], F32, 0), tinfo(b"b", [32, 2], Q8_0, 32)] if tinfos is None else tinfos
    data = A.tobytes() + q8_bytes() if data is None else data
    h = magic + u32(version) + u64(len(tinfos) if n_t is None else n_t) + u64(len(kvs) if n_kv is None else n_kv)
    h += b"".join(kvs) + b"".join(tinfos)
    h += b"\0" * (-len(h) % align)
    return h + data


def write(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def expect_error(path, pattern, *args):
    rc, out, err = run(path, *args)
    assert "Sanitizer" not in err and "runtime error" not in err, err
    assert rc == 1, f"{path}: exit {rc}, stderr {err!r}"
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1, f"not one line: {err!r}"
    assert str(path) in lines[0], f"message does not name the file: {err!r}"
    problem = lines[0].split(str(path), 1)[1]  # the path itself may contain any word
    assert re.search(pattern, problem), f"{err!r} does not match {pattern!r}"


def test_valid_base(tmp_path):
    """The hand-built base file reads back; both tensors dequantize to hand values."""
    p = write(tmp_path, "ok.gguf", build())
    rc, out, err = run(p, "--full", "--tensor", "a", tmp_path / "a.f32", "--tensor", "b", tmp_path / "b.f32")
    assert rc == 0, err
    d = parse(out)
    assert d["kv"]["general.architecture"] == ("STRING", "llama")
    assert d["kv"]["n"] == ("UINT32", "7") and d["elems"]["tok"] == ["a", "bc"]
    assert d["tensors"]["b"] == ("Q8_0", (32, 2), 32, 68)
    a = np.fromfile(tmp_path / "a.f32", "<f4")
    b = np.fromfile(tmp_path / "b.f32", "<f4").reshape(2, 32)
    assert np.array_equal(a, A)
    ref = QD.astype(np.float64)[:, None] * QS
    assert np.max(np.abs(b - ref)) <= 1e-6 * np.max(np.abs(ref))


def test_truncated(tmp_path):
    full = build()
    # cut points: inside magic, version, counts, a key, a string value, the string array,
    # a tensor info, the padding, the data, and the last byte
    hdr = len(full) - len(A.tobytes()) - len(q8_bytes())
    for cut in sorted({0, 2, 5, 12, 20, 30, 40, 60, 80, 100, 120, 140, hdr - 3, hdr + 10, hdr + 40, len(full) - 1}):
        p = write(tmp_path, f"cut{cut}.gguf", full[:cut])
        expect_error(p, r"^: (truncated|empty file|.* past the end of the file)")


CASES = {
    "bad_magic": (lambda: build(magic=b"GGML"), r"bad magic"),
    "version1": (lambda: build(version=1), r"version 1 is not supported"),
    "version4": (lambda: build(version=4), r"version 4 is not supported"),
    "big_endian": (lambda: build(version=3 << 24), r"big-endian"),
    "key_len_past_end": (lambda: build(kvs=[u64(1 << 40) + b"general"]), r"key of kv 0 has length \d+ .*past the end"),
    "str_len_past_end": (lambda: build(kvs=[gstr(b"k") + u32(8) + u64(10**6) + b"abc"]), r"value of key 'k'.*past the end"),
    "arr_elem_past_end": (lambda: build(kvs=[kv_arr_str(b"tok", [b"a"])[:-9] + u64(1 << 30) + b"a"]), r"element 0 of array 'tok'.*past the end"),
    "arr_count_huge": (lambda: build(kvs=[gstr(b"t") + u32(9) + u32(5) + u64(1 << 60)]), r"array 't' has \d+ elements at offset \d+ but only \d+ bytes remain"),
    "kv_count_huge": (lambda: build(n_kv=1 << 62), r"truncated or corrupt: kv count \d+"),
    "tensor_count_huge": (lambda: build(n_t=1 << 40), r"truncated or corrupt: tensor count \d+"),
    "unknown_value_type": (lambda: build(kvs=[gstr(b"k") + u32(13) + u32(0)]), r"key 'k' has unknown value type 13"),
    "nested_array": (lambda: build(kvs=[gstr(b"k") + u32(9) + u32(9) + u64(1) + u32(4) + u64(1) + u32(0)]), r"nested arrays"),
    "duplicate_key": (lambda: build(kvs=[kv_u32(b"n", 1), kv_u32(b"n", 2)]), r"duplicate key 'n'"),
    "key_with_nul": (lambda: build(kvs=[kv_u32(b"n\0x", 1)]), r"NUL"),
    "duplicate_tensor": (lambda: build(tinfos=[tinfo(b"a", [8], F32, 0), tinfo(b"a", [8], F32, 0)]), r"duplicate tensor name 'a'"),
    "tensor_past_end": (lambda: build(tinfos=[tinfo(b"a", [8], F32, 0), tinfo(b"b", [32, 2], Q8_0, 1 << 20)]),
                        r"tensor b data at offset 1048576 \(68 bytes\) runs past the end"),
    "tensor_too_big": (lambda: build(tinfos=[tinfo(b"a", [8, 1 << 30], F32, 0)]), r"tensor a data .*runs past the end"),
    "tensor_overflow": (lambda: build(tinfos=[tinfo(b"a", [1 << 40, 1 << 40], F32, 0)]), r"tensor a has too many elements"),
    "tensor_offset_wrap": (lambda: build(tinfos=[tinfo(b"a", [8], F32, 2**64 - 32)]), r"tensor a data .*runs past the end"),
    "unknown_tensor_type": (lambda: build(tinfos=[tinfo(b"a", [8], F32, 0), tinfo(b"b", [32, 2], 99, 32)]),
                            r"tensor b has unknown type 99"),
    "removed_tensor_type": (lambda: build(tinfos=[tinfo(b"a", [8], 4, 0)]), r"tensor a has unknown type 4"),
    "n_dims_5": (lambda: build(tinfos=[tinfo(b"a", [8, 1, 1, 1, 1], F32, 0)]), r"tensor a has n_dims 5"),
    "n_dims_0": (lambda: build(tinfos=[tinfo(b"a", [], F32, 0)]), r"tensor a has n_dims 0"),
    "misaligned_offset": (lambda: build(tinfos=[tinfo(b"a", [8], F32, 4)]), r"offset 4 is not a multiple of the alignment 32"),
    "row_not_blocks": (lambda: build(tinfos=[tinfo(b"b", [33, 2], Q8_0, 0)]), r"row length 33 is not a multiple of the Q8_0 block size 32"),
    "alignment_not_pow2": (lambda: build(kvs=[kv_u32(b"general.alignment", 24)], align=24), r"general.alignment 24 is not a power of two"),
    "alignment_string": (lambda: build(kvs=[kv_str(b"general.alignment", b"32")]), r"general.alignment is not an integer"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad(tmp_path, case):
    make, pattern = CASES[case]
    expect_error(write(tmp_path, case + ".gguf", make()), pattern)


def test_not_a_file(tmp_path):
    expect_error(tmp_path, r"not a regular file")
    expect_error(tmp_path / "missing.gguf", r"cannot open")


def test_dequant_unsupported(tmp_path):
    """A known type without a dequantizer (IQ2_XXS) opens, but dequantizing it fails clearly."""
    p = write(tmp_path, "iq.gguf", build(tinfos=[tinfo(b"w", [256], 16, 0)], data=bytes(range(66))))
    rc, out, err = run(p)
    assert rc == 0 and parse(out)["tensors"]["w"] == ("IQ2_XXS", (256,), 0, 66), err
    rc, _, err = run(p, "--quiet", "--tensor", "w", tmp_path / "w.f32")
    assert rc == 1 and err.count("\n") == 1 and re.search(r"tensor w: .*IQ2_XXS is not supported", err), err
