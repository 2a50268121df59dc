"""The evaluation/calibration texts (assets/text, made by scripts/extract-texts.sh)
and the R-serialization reader behind them (scripts/extract_austen.py).

The reader is checked on a hand-built lazy-load database (bytes written here
from the format description, not by the reader), so it runs without assets."""
import gzip
import os
import struct
import subprocess
import sys
import zlib

import pytest

ROOT = os.environ.get("SP_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
ASSETS = os.environ.get("SP_ASSETS", os.path.join(ROOT, "assets"))
TEXT = os.path.join(ASSETS, "text")
EXTRACT = os.path.join(ROOT, "scripts", "extract_austen.py")

P_AND_P_FIRST = "It is a truth universally acknowledged, that a single man in possession"
KJV_FIRST = "In the beginning God created the heaven and the earth."


def read_text(name):
    path = os.path.join(TEXT, name)
    if not os.path.isfile(path):
        pytest.skip("%s absent (run scripts/fetch-assets.sh)" % path)
    with open(path, "rb") as fh:
        raw = fh.read()
    return raw, raw.decode("utf-8")  # raises if not valid UTF-8


@pytest.mark.parametrize("name,min_bytes", [("eval.txt", 500_000), ("calib.txt", 2_000_000),
                                            ("kjv.txt", 3_000_000)])
def test_file_sane(name, min_bytes):
    raw, text = read_text(name)
    assert len(raw) > min_bytes, "%s: only %d bytes" % (name, len(raw))
    assert b"\r" not in raw and b"\0" not in raw
    assert text.endswith("\n")


def test_eval_is_pride_and_prejudice():
    _, text = read_text("eval.txt")
    assert text.startswith("PRIDE AND PREJUDICE\n")
    assert P_AND_P_FIRST in text
    assert "Elizabeth" in text and "Darcy" in text


def test_calib_is_the_other_five():
    _, text = read_text("calib.txt")
    assert P_AND_P_FIRST not in text
    assert "PRIDE AND PREJUDICE" not in text
    # Fixed order (publication order), separated by a blank line.
    heads = ["SENSE AND SENSIBILITY", "MANSFIELD PARK", "EMMA", "NORTHANGER ABBEY", "Persuasion"]
    lines = text.split("\n")
    pos = [lines.index(h) for h in heads]
    assert pos == sorted(pos) and pos[0] == 0
    for p in pos[1:]:
        assert lines[p - 1] == ""
    assert "£20,000" in text  # the one non-ASCII line (Mansfield Park), UTF-8


def test_kjv_one_verse_per_line():
    _, text = read_text("kjv.txt")
    lines = text.split("\n")[:-1]
    assert len(lines) == 31102
    assert lines[0] == KJV_FIRST
    assert lines[-1] == "The grace of our Lord Jesus Christ be with you all. Amen."
    assert not any(l[:1].isdigit() and ":" in l.split(" ")[0] for l in lines)  # no "1Ki3:4 "
    assert not any(l.startswith(("Ge1:", "Rev22:")) for l in lines)


# --- hand-built R serialization -------------------------------------------

def flags(t, levels=0, attr=False, tag=False):
    return struct.pack(">i", t | (levels << 12) | (attr << 9) | (tag << 10))


def header(version):
    h = b"X\n" + struct.pack(">iii", version, 0x040201, 0x030500)
    if version == 3:
        h += struct.pack(">i", 5) + b"UTF-8"
    return h


def charsxp(s, enc="utf8"):
    if s is None:
        return flags(9) + struct.pack(">i", -1)
    levels = {"ascii": 64, "utf8": 8, "latin1": 4, "native": 0}[enc]
    b = s.encode("latin-1" if enc == "latin1" else "utf-8")
    return flags(9, levels) + struct.pack(">i", len(b)) + b


class Syms:
    """Writes SYMSXP once, then REFSXP (packed index) like R does."""
    def __init__(self):
        self.table = []

    def __call__(self, name):
        if name in self.table:
            return struct.pack(">i", ((self.table.index(name) + 1) << 8) | 255)
        self.table.append(name)
        return flags(1) + charsxp(name, "ascii")


def strsxp(items):
    return flags(16) + struct.pack(">i", len(items)) + b"".join(charsxp(s, e) for s, e in items)


def named_vecsxp(sym, named_items):
    names = strsxp([(n, "ascii") for n, _ in named_items])
    body = b"".join(v for _, v in named_items)
    attrs = flags(2, tag=True) + sym("names") + names + flags(254)
    return flags(19, attr=True) + struct.pack(">i", len(named_items)) + body + attrs


def realsxp(vals):
    return flags(14) + struct.pack(">i", len(vals)) + struct.pack(">%dd" % len(vals), *vals)


def record(serialized):
    return struct.pack(">I", len(serialized)) + zlib.compress(serialized)


@pytest.fixture
def fake_db(tmp_path):
    objs = {
        # NA -> empty line; latin1 and UTF-8 CHARSXPs; a native one (UTF-8 header).
        "novel": header(3) + strsxp([("Hello", "ascii"), (None, None), ("caf\u00e9", "latin1"),
                                     ("na\u00efve", "utf8"), ("", "ascii"), ("\u00a320", "native")]),
        "other": header(2) + strsxp([("x", "ascii"), ("y", "ascii")]),
        "numbers": header(3) + realsxp([1.0, 2.0]),
    }
    rdb, index = b"", []
    for name, ser in objs.items():
        rec = record(ser)
        index.append((name, realsxp([float(len(rdb)), float(len(rec))])))
        rdb += rec
    sym = Syms()
    variables = named_vecsxp(sym, index)
    rdx = header(3) + named_vecsxp(sym, [("variables", variables),
                                         ("references", named_vecsxp(sym, [])),
                                         ("compressed", flags(10) + struct.pack(">ii", 1, 1))])
    assert rdx.count(b"names") == 1  # later uses are references
    (tmp_path / "Rdata.rdb").write_bytes(rdb)
    (tmp_path / "Rdata.rdx").write_bytes(gzip.compress(rdx))
    return tmp_path


def run_extract(*args):
    return subprocess.run([sys.executable, EXTRACT] + [str(a) for a in args],
                          capture_output=True, text=True)


def test_reader_on_handmade_db(fake_db, tmp_path):
    out = tmp_path / "novel.txt"
    r = run_extract("--rdir", fake_db, "novel", out)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes().decode("utf-8") == "Hello\n\ncaf\u00e9\nna\u00efve\n\n\u00a320\n"
    ev, cal = tmp_path / "e.txt", tmp_path / "c.txt"
    r = run_extract("--rdir", fake_db, "--split", ev, cal, "other", "novel", "other")
    assert r.returncode == 0, r.stderr
    assert ev.read_text("utf-8") == "x\ny\n"
    assert cal.read_text("utf-8") == "Hello\n\ncaf\u00e9\nna\u00efve\n\n\u00a320\n\nx\ny\n"


def test_reader_errors_are_one_line(fake_db, tmp_path):
    r = run_extract("--rdir", fake_db, "numbers", tmp_path / "n.txt")
    assert r.returncode == 1 and "not a character vector" in r.stderr
    r = run_extract("--rdir", fake_db, "missing", tmp_path / "n.txt")
    assert r.returncode == 1 and "no object 'missing'" in r.stderr
    (fake_db / "Rdata.rdb").write_bytes((fake_db / "Rdata.rdb").read_bytes()[:40])
    r = run_extract("--rdir", fake_db, "other", tmp_path / "n.txt")
    assert r.returncode == 1 and r.stderr.startswith("extract_austen.py: error:")
    assert len(r.stderr.strip().splitlines()) == 1
    r = run_extract("--rdir", tmp_path / "nowhere", "novel", tmp_path / "n.txt")
    assert r.returncode == 1 and "r-cran-janeaustenr" in r.stderr
