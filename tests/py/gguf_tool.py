"""Helpers for the GGUF tests: run tests/tools/gguf_dump and parse its lines."""
import codecs
import os
import subprocess

import pytest


def tool():
    path = os.path.join(os.environ.get("SP_BIN", "build"), "gguf_dump")
    if not os.path.exists(path):
        pytest.skip(f"{path} not built (set SP_BIN)")
    return path


def run(*args):
    """Runs gguf_dump; returns (returncode, stdout str, stderr str)."""
    p = subprocess.run([tool(), *map(str, args)], capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode("utf-8", "surrogateescape"), p.stderr.decode("utf-8", "replace")


def unescape(s):
    """Inverse of gguf_dump's C escaping -> raw bytes."""
    return codecs.escape_decode(s.encode("utf-8", "surrogateescape"))[0]


def parse(out):
    """-> dict(version=int, kv={key: (type, value str)}, elems={key: [value str]},
    tensors={name: (type, ne tuple, offset, nbytes)}, order=[tensor names])."""
    d = dict(version=None, kv={}, elems={}, tensors={}, order=[])
    for line in out.split("\n"):
        if not line:
            continue
        f = line.split("\t")
        if f[0] == "version":
            d["version"] = int(f[1])
        elif f[0] == "kv":
            d["kv"][f[1]] = (f[2], f[3])
        elif f[0] == "elem":
            d["elems"].setdefault(f[1], []).append(f[3])
            assert int(f[2]) == len(d["elems"][f[1]]) - 1
        elif f[0] == "tensor":
            d["tensors"][f[1]] = (f[2], tuple(int(x) for x in f[3].split(",")), int(f[4]), int(f[5]))
            d["order"].append(f[1])
        else:
            raise AssertionError(f"unexpected line {line!r}")
    return d
