"""Malformed safetensors files: our reader must refuse each with one clear line
naming the file (st_tool exits 1, no sanitizer report), and a writer that fails
midway must leave no output file behind."""
import json
import os
import resource
import signal
import struct
import subprocess

import numpy as np
import pytest
from safetensors.numpy import save_file

BIN = os.environ.get("SP_BIN", "build")
TOOL = os.path.join(BIN, "st_tool")


@pytest.fixture(scope="module")
def tool():
    if not os.path.exists(TOOL):
        pytest.skip(f"{TOOL} not built")
    return TOOL


def st_bytes(header, data=b"", pad=True, hlen=None):
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    if pad:
        h += b" " * (-len(h) % 8)
    n = len(h) if hlen is None else hlen
    return struct.pack("<Q", n) + h + data


def t(dtype="F32", shape=(2,), offs=(0, 8)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offs)}


D8 = np.array([1.5, -2.0], dtype=np.float32).tobytes()

CASES = {
    "empty": (b"", "too short"),
    "truncated": (b"\x10\x00\x00", "too short"),
    "hlen_past_end": (st_bytes({"a": t()}, D8, hlen=4096), "past the end"),
    "hlen_huge": (st_bytes({"a": t()}, D8, hlen=1 << 63), "past the end"),
    "not_json": (st_bytes(b"{this is not json", D8), "not valid JSON"),
    "json_array": (st_bytes([1, 2, 3], D8), "not a JSON object"),
    "trailing_garbage": (st_bytes(b'{"a":' + json.dumps(t()).encode() + b"} xx", D8), "trailing"),
    "offsets_past_data": (st_bytes({"a": t(offs=(0, 8))}, D8[:4]), "outside the data section"),
    "truncated_data": (st_bytes({"a": t(shape=(4,), offs=(0, 16))}, D8), "outside the data section"),
    "begin_after_end": (st_bytes({"a": t(offs=(8, 0))}, D8), "outside the data section"),
    "size_mismatch": (st_bytes({"a": t(shape=(3,), offs=(0, 8))}, D8), "need 12"),
    "unknown_dtype": (st_bytes({"a": t(dtype="F8_E4M3", shape=(8,))}, D8), "tensor a has unknown dtype F8_E4M3"),
    "negative_shape": (st_bytes({"a": t(shape=(-2,))}, D8), "bad shape"),
    "fraction_shape": (st_bytes({"a": t(shape=(1.5,))}, D8), "bad shape"),
    "string_shape": (st_bytes({"a": t(shape=("2",))}, D8), "bad shape"),
    "too_many_dims": (st_bytes({"a": t(shape=(1, 1, 1, 1, 2))}, D8), "dims"),
    "no_dtype": (st_bytes({"a": {"shape": [2], "data_offsets": [0, 8]}}, D8), "no dtype"),
    "bad_offsets": (st_bytes({"a": t(offs=(0,))}, D8), "data_offsets"),
    "negative_offset": (st_bytes({"a": t(offs=(-8, 0))}, D8), "data_offsets"),
    "tensor_not_object": (st_bytes({"a": 5}, D8), "not an object"),
    "meta_not_string": (st_bytes({"__metadata__": {"k": 1}, "a": t()}, D8), "not a string"),
    "meta_not_object": (st_bytes({"__metadata__": "x", "a": t()}, D8), "__metadata__"),
    "overlap": (st_bytes({"a": t(offs=(0, 8)), "b": t(shape=(1,), offs=(4, 8))}, D8), "overlap"),
    "duplicate_name": (st_bytes(b'{"a":' + json.dumps(t()).encode() + b',"a":'
                                + json.dumps(t()).encode() + b"}", D8), "duplicate"),
    "nul_in_header": (st_bytes(b'{"a":' + json.dumps(t()).encode() + b"}\x00junk", D8), "trailing"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_file(tool, tmp_path, case):
    data, want = CASES[case]
    p = str(tmp_path / f"{case}.safetensors")
    with open(p, "wb") as f:
        f.write(data)
    r = subprocess.run([tool, "dump", p], capture_output=True, text=True)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert "Sanitizer" not in r.stderr and "runtime error" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(p + ": "), lines[0]
    assert want in lines[0], lines[0]
    assert r.stdout == ""


def test_missing_and_directory(tool, tmp_path):
    for p in [str(tmp_path / "absent.safetensors"), str(tmp_path)]:
        r = subprocess.run([tool, "dump", p], capture_output=True, text=True)
        assert r.returncode == 1 and r.stderr.startswith(p + ": ")


def good_file(tmp_path):
    rng = np.random.default_rng()
    p = str(tmp_path / "good.safetensors")
    save_file({"w": rng.standard_normal((64, 64)).astype(np.float32)}, p, metadata={"k": "v"})
    return p


def test_writer_unwritable_dir(tool, tmp_path):
    src = good_file(tmp_path)
    out = str(tmp_path / "no" / "such" / "out.safetensors")
    r = subprocess.run([tool, "copy", src, out], capture_output=True, text=True)
    assert r.returncode == 1 and "cannot create" in r.stderr
    assert not os.path.exists(out)


def test_writer_readonly_dir(tool, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root ignores directory permissions")
    src = good_file(tmp_path)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        out = str(ro / "out.safetensors")
        r = subprocess.run([tool, "copy", src, out], capture_output=True, text=True)
        assert r.returncode == 1
        assert os.listdir(ro) == []
    finally:
        ro.chmod(0o700)


def test_writer_fails_midway_leaves_nothing(tool, tmp_path):
    """File size limit of 4 KiB: the 16 KiB tensor write fails (EFBIG) halfway."""
    src = good_file(tmp_path)
    outdir = tmp_path / "out"
    outdir.mkdir()
    out = str(outdir / "out.safetensors")

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    r = subprocess.run([tool, "copy", src, out], capture_output=True, text=True, preexec_fn=limit)
    assert r.returncode == 1, r.stderr
    assert out in r.stderr and "fail" in r.stderr
    assert os.listdir(outdir) == []


def test_writer_onto_directory_keeps_it(tool, tmp_path):
    src = good_file(tmp_path)
    out = tmp_path / "isdir"
    out.mkdir()
    (out / "keep").write_text("x")
    r = subprocess.run([tool, "copy", src, str(out)], capture_output=True, text=True)
    assert r.returncode == 1
    assert sorted(os.listdir(out)) == ["keep"]
    assert not [n for n in os.listdir(tmp_path) if ".tmp." in n]
