"""check_wgmma_sass.py LIB: the wgmma.sp GEMM reads its accumulators only after the wait.

The kernel (src/kernels/cuda/sp24_wgmma.cu) ends its main loop with wgmma.wait_group 0 and then
converts the accumulators to bf16 (or f16). ptxas 13.0 once scheduled those conversions (F2FP) above the
WARPGROUP.DEPBAR.LE gsb0, 0x0 that the wait became, so they read registers the last wgmma was
still writing: the last k stages came out wrong for the tokens of the higher accumulator
registers whenever the consumers were fast (H200 runs 3 and 6, bench/NOTES.md). The GPU tests
only catch that when the timing exposes it; the machine code shows it always. So: in every
sp24_wgmma kernel of LIB (the static library with sm_90a code), the nearest wgmma instruction
before the first F2FP must be a DEPBAR.LE gsb0, 0x0, never an HGMMA or a DEPBAR.LE ... 0x1.

Needs cuobjdump (CUDA's, or PyPI's nvidia-cuda-cuobjdump from tests/requirements.txt); exits
77 (skipped) without it or without an sm_90a wgmma kernel in LIB."""
import glob
import os
import re
import shutil
import subprocess
import sys


def find_cuobjdump():
    for c in (shutil.which("cuobjdump"), "/usr/local/cuda/bin/cuobjdump"):
        if c and os.path.exists(c):
            return c
    for p in sys.path:  # the PyPI wheel: site-packages/nvidia/cu13/bin/cuobjdump
        for c in glob.glob(os.path.join(p, "nvidia", "cu*", "bin", "cuobjdump")):
            return c
    return None


def kernels(sass):
    """{function name: [instruction text, ...]} for the sp24_wgmma kernels"""
    out, name = {}, None
    for line in sass.splitlines():
        m = re.search(r"Function : (\S+)", line)
        if m:
            name = m.group(1) if "sp24_wgmma" in m.group(1) else None
            if name:
                out[name] = []
            continue
        m = re.search(r"/\*[0-9a-f]{4,}\*/\s+(.*?);", line)
        if name and m:
            out[name].append(m.group(1).strip())
    return out


def check(instrs):
    """None when ordered, else what precedes the first conversion"""
    first = next((i for i, s in enumerate(instrs) if "F2FP.BF16" in s or "F2FP.F16" in s), None)
    if first is None:
        return "no F2FP (epilogue) found"
    for s in reversed(instrs[:first]):
        if "HGMMA" in s or "WARPGROUP.DEPBAR" in s:
            return None if re.search(r"DEPBAR\.LE gsb0, 0x0\b", s) else f"'{s}' precedes the first F2FP"
    return "no wgmma before the epilogue"


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: check_wgmma_sass.py LIB")
    tool = find_cuobjdump()
    if not tool:
        print("skipped: no cuobjdump (install nvidia-cuda-cuobjdump)")
        sys.exit(77)
    r = subprocess.run([tool, "-sass", "-arch", "sm_90a", sys.argv[1]], capture_output=True, text=True)
    ks = kernels(r.stdout)
    if r.returncode or not ks:
        print(f"skipped: no sm_90a sp24_wgmma kernel in {sys.argv[1]} ({r.stderr.strip()[:200]})")
        sys.exit(77)
    bad = 0
    for name, instrs in sorted(ks.items()):
        err = check(instrs)
        print(f"{'BAD' if err else 'ok '} {name}: {err or 'accumulators read after DEPBAR.LE gsb0, 0x0'}")
        bad += err is not None
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
