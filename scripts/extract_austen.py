#!/usr/bin/env python3
"""Extracts Jane Austen's six novels from the R package janeaustenr (Debian
r-cran-janeaustenr) without R: reads the lazy-load database data/Rdata.rdx +
data/Rdata.rdb and decodes R's XDR serialization (format version 2 or 3).

  extract_austen.py [--rdir DIR] --list            print object names, types, lengths
  extract_austen.py [--rdir DIR] NAME OUT          write one character vector as text
  extract_austen.py [--rdir DIR] --split EVAL CALIB NAME1 [NAME2 ...]
        EVAL  <- NAME1;  CALIB <- NAME2, NAME3, ... joined by one blank line

One vector element per line, joined with "\\n" and ending in "\\n"; an NA
element becomes an empty line. Python 3 stdlib only.

Lazy-load layout: the .rdx is a compressed serialized named list (variables,
references, compressed) where variables[[name]] = c(offset, length) into the
.rdb; each .rdb record is a 4-byte big-endian uncompressed length followed by
the compressed serialization (zlib for compress type 1; type 2/3 add one byte:
'2' bzip2, 'Z' raw LZMA2, '0' stored).
"""
import argparse
import bz2
import lzma
import os
import struct
import sys
import zlib

DEFAULT_RDIR = "/usr/lib/R/site-library/janeaustenr/data"

# SEXP types (Rinternals.h) and special serialization codes (serialize.c).
NILSXP, SYMSXP, LISTSXP, CLOSXP, ENVSXP, PROMSXP, LANGSXP = 0, 1, 2, 3, 4, 5, 6
SPECIALSXP, BUILTINSXP, CHARSXP, LGLSXP = 7, 8, 9, 10
INTSXP, REALSXP, CPLXSXP, STRSXP, DOTSXP = 13, 14, 15, 16, 17
VECSXP, EXPRSXP, BCODESXP, EXTPTRSXP, WEAKREFSXP, RAWSXP, S4SXP = 19, 20, 21, 22, 23, 24, 25
REFSXP, NILVALUE_SXP, GLOBALENV_SXP, UNBOUNDVALUE_SXP = 255, 254, 253, 252
MISSINGARG_SXP, BASENAMESPACE_SXP, NAMESPACESXP, PACKAGESXP = 251, 250, 249, 248
PERSISTSXP, EMPTYENV_SXP, BASEENV_SXP = 247, 242, 241
ATTRLANGSXP, ATTRLISTSXP, ALTREP_SXP = 240, 239, 238

# CHARSXP encoding bits in the "levels" field.
BYTES_MASK, LATIN1_MASK, UTF8_MASK, ASCII_MASK = 1 << 1, 1 << 2, 1 << 3, 1 << 6
NA_INTEGER = -2147483648


class RError(Exception):
    pass


class Sym:
    """An R symbol (SYMSXP)."""
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return "Sym(%r)" % self.name


class RObj:
    """A decoded R value: type code, payload, attributes (dict name -> value)."""
    def __init__(self, type_, value, attrs=None):
        self.type = type_
        self.value = value
        self.attrs = attrs or {}

    def __repr__(self):
        n = len(self.value) if isinstance(self.value, list) else "-"
        return "RObj(type=%d, len=%s, attrs=%s)" % (self.type, n, list(self.attrs))


class Env:
    """An environment; only its identity matters here."""
    pass


class Reader:
    """Decoder for R's XDR ('X\\n') serialization stream."""

    def __init__(self, data, what):
        self.d = data
        self.p = 0
        self.what = what
        self.refs = []
        self.native_encoding = "UTF-8"

    def fail(self, msg):
        raise RError("%s: %s (at byte %d)" % (self.what, msg, self.p))

    def take(self, n):
        if n < 0 or self.p + n > len(self.d):
            self.fail("truncated stream, wanted %d bytes" % n)
        b = self.d[self.p:self.p + n]
        self.p += n
        return b

    def int(self):
        return struct.unpack(">i", self.take(4))[0]

    def length(self):
        n = self.int()
        if n == -1:
            hi, lo = self.int(), self.int()
            n = (hi << 32) + lo
        if n < 0:
            self.fail("negative length %d" % n)
        return n

    def header(self):
        fmt = self.take(2)
        if fmt != b"X\n":
            self.fail("not XDR serialization (format %r); only 'X' is supported" % fmt)
        version = self.int()
        self.int()  # writer R version
        self.int()  # minimal reader R version
        if version == 3:
            nelen = self.int()
            self.native_encoding = self.take(nelen).decode("ascii", "replace")
        elif version != 2:
            self.fail("unsupported serialization version %d" % version)

    def charsxp(self, levels):
        n = self.int()
        if n == -1:
            return None  # NA_STRING
        raw = self.take(n)
        if levels & UTF8_MASK or levels & ASCII_MASK:
            return raw.decode("utf-8")
        if levels & LATIN1_MASK:
            return raw.decode("latin-1")
        if levels & BYTES_MASK:
            return raw.decode("latin-1")
        # Native encoding: declared in a version-3 header, assumed UTF-8 otherwise.
        enc = self.native_encoding
        try:
            return raw.decode(enc if enc.upper() not in ("", "UNKNOWN") else "utf-8")
        except (LookupError, UnicodeDecodeError):
            return raw.decode("latin-1")

    def string_vec(self):
        # InStringVec: a 0 marker, a length, then that many items.
        if self.int() != 0:
            self.fail("bad persistent string vector")
        return [self.item() for _ in range(self.length())]

    def attrs_of(self, pairlist):
        out = {}
        for tag, val in pairlist:
            out[tag.name if isinstance(tag, Sym) else str(tag)] = val
        return out

    def item(self):
        flags = self.int()
        t = flags & 0xFF
        levels = flags >> 12
        has_attr = bool(flags & (1 << 9))
        has_tag = bool(flags & (1 << 10))

        if t == NILVALUE_SXP:
            return None
        if t in (EMPTYENV_SXP, BASEENV_SXP, GLOBALENV_SXP, BASENAMESPACE_SXP):
            return Env()
        if t in (UNBOUNDVALUE_SXP, MISSINGARG_SXP):
            return None
        if t == REFSXP:
            i = flags >> 8
            if i == 0:
                i = self.int()
            if not 1 <= i <= len(self.refs):
                self.fail("reference %d out of range (%d known)" % (i, len(self.refs)))
            return self.refs[i - 1]
        if t in (PERSISTSXP, NAMESPACESXP, PACKAGESXP):
            v = RObj(t, self.string_vec())
            self.refs.append(v)
            return v
        if t == SYMSXP:
            s = Sym(self.item())
            self.refs.append(s)
            return s
        if t == ENVSXP:
            env = Env()
            self.refs.append(env)
            self.int()  # locked
            env.enclos = self.item()
            env.frame = self.item()
            env.hashtab = self.item()
            env.attrib = self.item()
            return env
        if t in (LISTSXP, LANGSXP, CLOSXP, PROMSXP, DOTSXP, ATTRLANGSXP, ATTRLISTSXP):
            return self.pairlist(t, has_attr, has_tag)
        if t == CHARSXP:
            s = self.charsxp(levels)
            if has_attr:
                self.item()  # written by old R versions only; ignored, as R does
            return s
        if t == ALTREP_SXP:
            info = self.item()
            state = self.item()
            attr = self.item()
            return self.altrep(info, state, attr)
        if t == BCODESXP:
            self.fail("byte code (BCODESXP) is not supported")

        # Types whose attributes follow their contents.
        if t == EXTPTRSXP:
            obj = RObj(t, None)
            self.refs.append(obj)
            self.item()  # protected value
            self.item()  # tag
        elif t == WEAKREFSXP:
            obj = RObj(t, None)  # contents are not serialized
            self.refs.append(obj)
        elif t in (SPECIALSXP, BUILTINSXP):
            obj = RObj(t, self.take(self.int()).decode("ascii", "replace"))
        else:
            obj = RObj(t, self.vector(t))
        if has_attr:
            a = self.item()
            obj.attrs = self.attrs_of(a.value) if isinstance(a, RObj) else {}
        return obj

    def pairlist(self, t, has_attr, has_tag):
        """Pairlist-like cells: [attr] [tag] car cdr. The CDR chain of a
        LISTSXP is followed in a loop (no deep recursion on long lists)."""
        cells = []
        head_attr = None
        first = True
        while True:
            attr = self.item() if has_attr else None
            if first:
                head_attr = attr
                first = False
            tag = self.item() if has_tag else None
            cells.append((tag, self.item()))
            flags = self.int()
            t2 = flags & 0xFF
            if t in (LISTSXP, ATTRLISTSXP) and t2 in (LISTSXP, ATTRLISTSXP):
                has_attr = bool(flags & (1 << 9))
                has_tag = bool(flags & (1 << 10))
                continue
            self.p -= 4  # not a list continuation: read the CDR as an item
            tail = self.item()
            if tail is not None:
                cells.append((None, tail))
            break
        attrs = self.attrs_of(head_attr.value) if isinstance(head_attr, RObj) else {}
        return RObj(LISTSXP if t in (LISTSXP, ATTRLISTSXP) else t, cells, attrs)

    def vector(self, t):
        if t in (LGLSXP, INTSXP):
            n = self.length()
            vals = struct.unpack(">%di" % n, self.take(4 * n))
            return [None if x == NA_INTEGER else x for x in vals]
        if t == REALSXP:
            n = self.length()
            return list(struct.unpack(">%dd" % n, self.take(8 * n)))
        if t == CPLXSXP:
            n = self.length()
            f = struct.unpack(">%dd" % (2 * n), self.take(16 * n))
            return [complex(f[2 * i], f[2 * i + 1]) for i in range(n)]
        if t in (STRSXP, VECSXP, EXPRSXP):
            n = self.length()
            return [self.item() for _ in range(n)]
        if t == RAWSXP:
            return self.take(self.length())
        if t == S4SXP:
            return None
        self.fail("unsupported SEXP type %d" % t)

    def altrep(self, info, state, attr):
        # info is a pairlist (class symbol, package symbol, type int).
        cls = info.value[0][1].name if isinstance(info, RObj) and info.value else "?"
        if cls == "compact_intseq" or cls == "compact_realseq":
            n, start, inc = state.value[:3]
            t = INTSXP if cls == "compact_intseq" else REALSXP
            conv = int if t == INTSXP else float
            obj = RObj(t, [conv(start + i * inc) for i in range(int(n))])
        elif cls.startswith("wrap_"):
            x = state.value[0]  # pairlist (x . meta) or list(x, meta)
            obj = x[1] if isinstance(x, tuple) else x
        elif cls == "deferred_string":
            arg = state.value[0][1]  # pairlist(arg, info)
            vals = []
            for x in arg.value:
                if x is None:
                    vals.append(None)
                elif arg.type == REALSXP and float(x).is_integer():
                    vals.append(str(int(x)))
                else:
                    vals.append(str(x))
            obj = RObj(STRSXP, vals)
        else:
            self.fail("unsupported ALTREP class %r" % cls)
        if isinstance(attr, RObj):
            obj.attrs = self.attrs_of(attr.value)
        return obj


def decompress_rdb_record(rec, what):
    if len(rec) < 5:
        raise RError("%s: record too short" % what)
    outlen = struct.unpack(">I", rec[:4])[0]
    body = rec[4:]
    if body[:1] == b"x":  # zlib stream (compress type 1, R's default)
        out = zlib.decompress(body)
    elif body[:1] == b"2":
        out = bz2.decompress(body[1:])
    elif body[:1] == b"Z":
        # R writes a raw LZMA2 stream (no .xz container), preset 9e.
        filt = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]
        out = lzma.decompress(body[1:], format=lzma.FORMAT_RAW, filters=filt)
    elif body[:1] == b"0":
        out = body[1:]
    else:
        raise RError("%s: unknown compression byte %r" % (what, body[:1]))
    if len(out) != outlen:
        raise RError("%s: decompressed %d bytes, header says %d" % (what, len(out), outlen))
    return out


def decompress_any(data, what):
    """The .rdx is written by saveRDS-like code: gzip (usual), bzip2, xz or raw."""
    if data[:2] == b"\x1f\x8b" or data[:1] == b"x":
        return zlib.decompress(data, 47)  # gzip or zlib header auto-detected
    if data[:3] == b"BZh":
        return bz2.decompress(data)
    if data[:6] == b"\xfd7zXZ\x00":
        return lzma.decompress(data)
    if data[:2] == b"X\n":
        return data
    try:  # lazyLoadDB-style record: 4-byte length + compressed body
        return decompress_rdb_record(data, what)
    except (RError, zlib.error, OSError, lzma.LZMAError) as e:
        raise RError("%s: unrecognised compression (%s)" % (what, e))


def unserialize(data, what):
    r = Reader(data, what)
    r.header()
    v = r.item()
    if r.p != len(data):
        raise RError("%s: %d trailing bytes after the object" % (what, len(data) - r.p))
    return v


def named_list(obj):
    if not isinstance(obj, RObj) or obj.type != VECSXP:
        raise RError("expected a named list")
    names = obj.attrs.get("names")
    if names is None:
        raise RError("list has no names")
    return dict(zip(names.value, obj.value))


class LazyLoadDB:
    def __init__(self, rdir, base="Rdata"):
        self.rdx = os.path.join(rdir, base + ".rdx")
        self.rdb = os.path.join(rdir, base + ".rdb")
        for f in (self.rdx, self.rdb):
            if not os.path.isfile(f):
                raise RError("%s: file not found (install the Debian package r-cran-janeaustenr)" % f)
        with open(self.rdx, "rb") as fh:
            raw = fh.read()
        idx = named_list(unserialize(decompress_any(raw, self.rdx), self.rdx))
        if "variables" not in idx:
            raise RError("%s: no 'variables' entry in the index" % self.rdx)
        self.vars = {}
        for name, pos in named_list(idx["variables"]).items():
            off, ln = pos.value[:2]
            self.vars[name] = (int(off), int(ln))
        with open(self.rdb, "rb") as fh:
            self.rdb_data = fh.read()

    def get(self, name):
        if name not in self.vars:
            raise RError("%s: no object %r (have: %s)" % (self.rdb, name, ", ".join(sorted(self.vars))))
        off, ln = self.vars[name]
        if off < 0 or off + ln > len(self.rdb_data):
            raise RError("%s: object %r lies outside the file" % (self.rdb, name))
        what = "%s[%s]" % (self.rdb, name)
        return unserialize(decompress_rdb_record(self.rdb_data[off:off + ln], what), what)


def novel_text(db, name):
    v = db.get(name)
    if not isinstance(v, RObj) or v.type != STRSXP:
        raise RError("%s: object %r is not a character vector" % (db.rdb, name))
    return "\n".join("" if s is None else s for s in v.value) + "\n"


def write_atomic(path, text):
    tmp = path + ".part"
    with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rdir", default=DEFAULT_RDIR, help="janeaustenr data dir (default %(default)s)")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--split", action="store_true")
    ap.add_argument("args", nargs="*")
    a = ap.parse_args()
    try:
        db = LazyLoadDB(a.rdir)
        if a.list:
            for name in sorted(db.vars):
                v = db.get(name)
                n = len(v.value) if isinstance(v, RObj) and isinstance(v.value, list) else "-"
                print("%-18s type=%-3s length=%s" % (name, getattr(v, "type", "?"), n))
        elif a.split:
            if len(a.args) < 3:
                ap.error("--split needs EVAL CALIB NAME1 NAME2 ...")
            eval_out, calib_out, names = a.args[0], a.args[1], a.args[2:]
            texts = [novel_text(db, n) for n in names]
            write_atomic(eval_out, texts[0])
            write_atomic(calib_out, "\n".join(texts[1:]))
        else:
            if len(a.args) != 2:
                ap.error("expected NAME OUT")
            write_atomic(a.args[1], novel_text(db, a.args[0]))
    except (RError, OSError, zlib.error, lzma.LZMAError, UnicodeDecodeError) as e:
        print("extract_austen.py: error: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
