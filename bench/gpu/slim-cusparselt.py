#!/usr/bin/env python3
"""slim-cusparselt.py IN OUT [ARCH]: a copy of libcusparseLt.so whose device code is cut to one
GPU architecture (default 90), so that a cuSPARSELt release other than the device's own fits
through the device tool's 64 MiB carry once compressed (zstd -19 --long=31).

A fat binary is a header (magic 0xBA55ED50, version, header size 16, payload size) and entries
(kind 1 PTX / 2 ELF, header size, payload size, ..., arch at +28). In every fat binary that
holds an ELF for ARCH, the payloads of all other entries are zeroed in place; in the others
everything but the PTX of architectures up to ARCH (which the driver may compile) is zeroed.
Headers, sizes and offsets stay, so the loader walks the list as before and finds what it
would have taken. The result runs only on ARCH GPUs."""
import mmap
import shutil
import struct
import sys

MAGIC = struct.pack('<I', 0xBA55ED50)


def entries(m, start, size):
    e, end = start, start + size
    while e + 32 <= end:
        kind, _, ehs, psz = struct.unpack_from('<HHIQ', m, e)
        arch = struct.unpack_from('<I', m, e + 28)[0]
        if ehs == 0 or e + ehs + psz > end:
            raise ValueError('fat binary entry at %#x runs past its binary' % e)
        yield kind, arch, e + ehs, psz
        e += ehs + psz


def main():
    src, dst = sys.argv[1], sys.argv[2]
    arch = int(sys.argv[3]) if len(sys.argv) > 3 else 90
    shutil.copyfile(src, dst)
    with open(dst, 'r+b') as f, mmap.mmap(f.fileno(), 0) as m:
        pos = kept = zeroed = nbin = 0
        while (i := m.find(MAGIC, pos)) >= 0:
            _, hs, fsz = struct.unpack_from('<HHQ', m, i + 4)
            if hs != 16 or i + 16 + fsz > len(m):
                pos = i + 4
                continue
            nbin += 1
            ents = list(entries(m, i + 16, fsz))
            own = any(k == 2 and a == arch for k, a, _, _ in ents)
            for k, a, off, n in ents:
                # what an ARCH GPU may load: its ELF, else PTX of an older architecture (JIT)
                if (k == 2 and a == arch) or (not own and k == 1 and a <= arch):
                    kept += n
                else:
                    m[off:off + n] = bytes(n)
                    zeroed += n
            pos = i + 16 + fsz
    print('%d fat binaries; sm_%d ELF and older PTX kept %.1f MB, other device code zeroed %.1f MB' % (nbin, arch, kept / 1e6, zeroed / 1e6))


if __name__ == '__main__':
    main()
