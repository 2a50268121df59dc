"""bench/gpu/torch_dense_decode.py SEED OUTxIN [N] [TRIALS]: PyTorch's dense bf16 decode call
(torch.matmul, cuBLAS underneath) as a second dense baseline beside our cublasGemmEx: x (N, IN)
times rotated weight copies (OUT, IN), at least 4 and more than 3x L2 together, captured as one
CUDA graph of a call each and replayed, median of 15 x 50 replays; each trial frees the copies and
allocates new ones (does the time depend on where they land?). Prints us a call per trial.
Written for H200 run 139, where our cuBLAS call on 6144x4096 took ~15.8 us in some processes and
~16.7 in others."""
import sys, torch
torch.manual_seed(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
out, inn = [int(v) for v in (sys.argv[2] if len(sys.argv) > 2 else "6144x4096").split("x")]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 1
trials = int(sys.argv[4]) if len(sys.argv) > 4 else 6
x = torch.randn(n, inn, device="cuda", dtype=torch.bfloat16)
l2 = getattr(torch.cuda.get_device_properties(0), "L2_cache_size", 60 << 20)
copies = max(4, 3 * l2 // (out * inn * 2) + 1)
res = []
for trial in range(trials):
    ws = [torch.randn(out, inn, device="cuda", dtype=torch.bfloat16) for _ in range(copies)]
    ys = [torch.empty(n, out, device="cuda", dtype=torch.bfloat16) for _ in range(copies)]
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        for _ in range(3):
            for w, y in zip(ws, ys): torch.matmul(x, w.t(), out=y)
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for w, y in zip(ws, ys): torch.matmul(x, w.t(), out=y)
    for _ in range(20): g.replay()
    torch.cuda.synchronize()
    t = []
    for _ in range(15):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(50): g.replay()
        b.record(); b.synchronize()
        t.append(a.elapsed_time(b) * 1e3 / (50 * copies))
    t.sort()
    res.append(t[len(t) // 2])
    del g, ws, ys
    torch.cuda.empty_cache()
print(f"{out}x{inn} n={n} seed {sys.argv[1] if len(sys.argv) > 1 else 0}: us a call per trial " + " ".join(f"{v:.2f}" for v in res))
