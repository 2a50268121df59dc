"""llamacpp_dense.py: llama.cpp's dense CPU decode/prefill speed on the same weights.

  python3 bench/llamacpp_dense.py to-gguf SRC.gguf DST.gguf bf16|f32
      rewrites SRC (our Q4_1 SmolLM2) with every 2-D tensor dequantized to bf16 or f32
      (1-D norms stay f32): the same values our dense baseline runs.
  python3 bench/llamacpp_dense.py time MODEL.gguf P G REPS THREADS
      loads MODEL with llama.cpp (the prebuilt CPU library in the PyPI wheel
      llama-cpp-py-sync) and prints one JSON line: median TTFT of a P-token prefill
      and median TPOT over G single-token decode steps, REPS repetitions.

The token ids follow src/eval/bench.c (synthetic; speed does not depend on them).
"""
import json
import statistics
import sys
import time

import numpy as np


def to_gguf(src, dst, kind):
    import gguf

    r = gguf.GGUFReader(src)
    arch = bytes(r.fields["general.architecture"].parts[-1]).decode()
    w = gguf.GGUFWriter(dst, arch)
    for name, f in r.fields.items():
        if name.startswith("GGUF.") or name in ("general.architecture", "general.file_type"):
            continue
        vt = f.types[0]
        sub = f.types[-1] if vt == gguf.GGUFValueType.ARRAY else None
        w.add_key_value(name, f.contents(), vt, sub_type=sub)
    qt = gguf.GGMLQuantizationType.BF16 if kind == "bf16" else gguf.GGMLQuantizationType.F32
    w.add_file_type(gguf.LlamaFileType.MOSTLY_BF16 if kind == "bf16" else gguf.LlamaFileType.ALL_F32)
    for t in r.tensors:
        a = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        if a.ndim >= 2 and kind == "bf16":
            u = a.view(np.uint32).astype(np.uint64)  # round to nearest even, as sp_f32_to_bf16
            b = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
            w.add_tensor(t.name, b, raw_dtype=qt)
        else:
            w.add_tensor(t.name, a)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def time_llamacpp(path, P, G, reps, threads):
    from llama_cpp_py_sync import Llama

    llm = Llama(path, n_ctx=P + G + 8, n_batch=max(P, 1), n_threads=threads, n_threads_batch=threads)
    V = llm.n_vocab
    ids = [(1000 + 7919 * i) % V for i in range(P + G)]
    ttft, tpot = [], []
    for k in range(reps + 1):  # k = 0 warms up
        llm._clear_context_state()
        t0 = time.perf_counter()
        n = llm._eval_tokens(ids[:P], 0)
        t1 = time.perf_counter()
        for g in range(G):
            n = llm._eval_tokens([ids[P + g]], n)
        t2 = time.perf_counter()
        if k:
            ttft.append(1e3 * (t1 - t0))
            tpot.append(1e3 * (t2 - t1) / G)
    print(json.dumps({"engine": "llama.cpp (llama-cpp-py-sync wheel, CPU)", "model": path, "threads": threads,
                      "prompt_tokens": P, "gen_tokens": G, "reps": reps,
                      "ttft_ms": statistics.median(ttft), "tpot_ms": statistics.median(tpot)}))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "to-gguf":
        to_gguf(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) == 7 and sys.argv[1] == "time":
        time_llamacpp(sys.argv[2], *map(int, sys.argv[3:7]))
    else:
        sys.exit(__doc__)
