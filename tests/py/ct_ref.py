"""Independent NumPy references for packed checkpoints (no torch):

- a raw safetensors reader/writer (keeps every dtype, BF16 included, and __metadata__)
  so tests can inspect and corrupt files byte for byte;
- the compressed-tensors decompression of sparse-bitmask / sparse-24-bitmask,
  following compressed_tensors 0.14.0.1 (utils/helpers.py unpack_bitmasks:
  np.unpackbits(axis=-1, count=cols, bitorder="little"); sparse_compressors/
  sparse_bitmask.py bitmask_decompress and sparse_24_bitmask.py
  sparse24_bitmask_decompress: zeros(shape)[mask] = values.flatten()).
"""
import json
import struct

import numpy as np

NP = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": np.uint16, "I64": np.int64,
      "I32": np.int32, "I16": np.int16, "U16": np.uint16, "I8": np.int8, "U8": np.uint8}


class Tensor:
    def __init__(self, dtype, arr):
        self.dtype = dtype  # safetensors spelling
        self.arr = arr      # BF16 held as its uint16 bit patterns

    def as_f32(self):
        if self.dtype == "BF16":
            return (self.arr.astype(np.uint32) << 16).view(np.float32)
        return self.arr.astype(np.float32)


def read_st(path):
    """(metadata dict, {name: Tensor}) in file order."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    hdr = json.loads(raw[8:8 + n])
    meta = hdr.pop("__metadata__", {})
    data = raw[8 + n:]
    out = {}
    for name, e in sorted(hdr.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        b, en = e["data_offsets"]
        arr = np.frombuffer(data[b:en], dtype=NP[e["dtype"]]).reshape(e["shape"]).copy()
        out[name] = Tensor(e["dtype"], arr)
    return meta, out


def write_st(path, meta, tensors):
    hdr, off, blobs = {}, 0, []
    if meta:
        hdr["__metadata__"] = meta
    for name, t in tensors.items():
        b = np.ascontiguousarray(t.arr).tobytes()
        hdr[name] = {"dtype": t.dtype, "shape": list(t.arr.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def unpack_bitmasks(packed, shape):
    bits = np.unpackbits(packed, axis=-1, count=shape[-1], bitorder="little")
    return bits.reshape(shape).astype(bool)


def bitmask_decompress(values, bitmask, shape):
    """values: 1-D (sparse-bitmask) or (rows, cols/2) (sparse-24-bitmask), as f32."""
    mask = unpack_bitmasks(bitmask, shape)
    out = np.zeros(shape, dtype=values.dtype)
    out[mask] = values.flatten()
    return out


def round_to(w, dtype):
    """f32 array w rounded to a value dtype (to nearest even) and back to f32."""
    if dtype == "F32":
        return w.astype(np.float32)
    if dtype == "F16":
        return w.astype(np.float16).astype(np.float32)
    u = w.astype(np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return (u.astype(np.uint32) << 16).view(np.float32)
