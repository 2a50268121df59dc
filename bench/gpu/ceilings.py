"""bench/gpu/ceilings.py: the two ceilings every GPU ratio is read against, measured on the
card in hand through PyTorch (METHOD: measure, do not take the datasheet): device-to-device
copy bandwidth (bytes read + written, 2 GiB) and bf16 GEMM rate (8192^3, random data).
Median of 10 timed calls after 3 warm-ups, CUDA events. Prints two lines; exits with a message where PyTorch or a device is missing."""
import sys

try:
    import torch
except ImportError:
    sys.exit("ceilings: no PyTorch here")
if not torch.cuda.is_available():
    sys.exit("ceilings: no CUDA device")


def median_ms(fn, reps=10):
    for _ in range(3):
        fn()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    return sorted(times)[len(times) // 2]


n = 1 << 30  # 2 GiB of bf16
src = torch.randn(n, device="cuda", dtype=torch.bfloat16)
dst = torch.empty_like(src)
ms = median_ms(lambda: dst.copy_(src))
print(f"{torch.cuda.get_device_name()}: copy {2 * 2 * n / ms / 1e9:.2f} TB/s (read + write, 2 GiB, median of 10)")
del src, dst
m = 8192
a = torch.randn(m, m, device="cuda", dtype=torch.bfloat16)
b = torch.randn(m, m, device="cuda", dtype=torch.bfloat16)
ms = median_ms(lambda: a @ b)
print(f"{torch.cuda.get_device_name()}: bf16 GEMM {2 * m**3 / ms / 1e9:.0f} TFLOP/s (8192^3, random, median of 10)")
