#!/usr/bin/env python3
"""bench/gpu/ncu_top.py: where a kernel's warps stall, from ncu's SASS source page.

  ncu -i REP.ncu-rep --page source --csv --print-source sass > REP-sass.csv
  python3 bench/gpu/ncu_top.py REP-sass.csv [TOP]

For each kernel in the CSV: its warp-stall samples by reason (the columns ncu names stall_*
per reason, issued or not) and the TOP instructions (default 12) with their share and
main reason. Reads only what ncu wrote; prints nothing it cannot find a column for."""
import csv
import sys


def num(s):
    try:
        return float(s.replace(",", ""))
    except ValueError:
        return 0.0


def sections(path):
    """(title, header, rows) for each kernel; a line that is not a row of the current table
    (another width, or a header) starts the next kernel's part."""
    title, header, rows = "", None, []
    with open(path, newline="") as f:
        for rec in csv.reader(f):
            if not rec:
                continue
            if "Source" in rec and any("Sampl" in c for c in rec):
                if header is not None and rows:
                    yield title, header, rows
                header, rows = rec, []
            elif header is not None and len(rec) == len(header):
                rows.append(rec)
            else:
                if header is not None and rows:
                    yield title, header, rows
                header, rows, title = None, [], " ".join(rec)[:110]
    if header is not None and rows:
        yield title, header, rows


def main():
    path = sys.argv[1]
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 12
    seen = set()
    for title, h, rows in sections(path):
        key = (title, tuple(map(tuple, rows)))
        if key in seen:  # ncu writes some kernels' page twice (cuBLAS's split-K reduction)
            continue
        seen.add(key)
        src = h.index("Source")
        tot = next(i for i, c in enumerate(h) if "Warp Stall Sampling (All" in c or c == "Warp Stall Sampling")
        reasons = [i for i, c in enumerate(h) if c.startswith("stall_") and "Not Issued" not in c]
        total = sum(num(r[tot]) for r in rows)
        print(f"## {title or 'kernel'}: {total:.0f} samples")
        if total <= 0:
            continue
        if reasons:
            by = sorted(((sum(num(r[i]) for r in rows), h[i]) for i in reasons), reverse=True)
            print("by reason: " + ", ".join(f"{n.replace('stall_', '')} {100 * v / total:.0f}%"
                                            for v, n in by[:8] if v > 0))
        for r in sorted(rows, key=lambda r: -num(r[tot]))[:top]:
            main_reason = max(reasons, key=lambda i: num(r[i]), default=None)
            why = h[main_reason].replace("stall_", "") if main_reason is not None and num(r[main_reason]) > 0 else ""
            print(f"{100 * num(r[tot]) / total:5.1f}%  {r[src].strip()[:64]:64s} {why}")
        print()


if __name__ == "__main__":
    main()
