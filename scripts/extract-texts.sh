#!/usr/bin/env bash
# Builds the evaluation and calibration texts from Debian packages (see docs/DATA.md):
#   assets/text/eval.txt   Pride and Prejudice              (r-cran-janeaustenr)
#   assets/text/calib.txt  the other five Austen novels     (r-cran-janeaustenr)
#   assets/text/kjv.txt    King James Bible, one verse/line (bible-kjv)
# Idempotent: each file is written to a temp file and renamed; an existing file
# with identical content is left untouched. Needs python3 and bash only (no R).
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C

AUSTEN_DIR=${AUSTEN_DIR:-/usr/lib/R/site-library/janeaustenr/data}
OUT=assets/text
# Evaluation novel first, then the calibration novels in publication order.
EVAL_NOVEL=prideprejudice
CALIB_NOVELS="sensesensibility mansfieldpark emma northangerabbey persuasion"
KJV_VERSES=31102

die() { echo "extract-texts.sh: error: $*" >&2; exit 1; }

command -v python3 >/dev/null || die "python3 not found (apt-get install python3)"
[ -f "$AUSTEN_DIR/Rdata.rdb" ] && [ -f "$AUSTEN_DIR/Rdata.rdx" ] ||
    die "$AUSTEN_DIR/Rdata.rdb/.rdx not found: install the Debian package r-cran-janeaustenr (apt-get install r-cran-janeaustenr)"
command -v bible >/dev/null ||
    die "'bible' not found: install the Debian package bible-kjv (apt-get install bible-kjv)"

mkdir -p "$OUT"
tmpdir=$(mktemp -d "$OUT/.extract.XXXXXX")
trap 'rm -rf "$tmpdir"' EXIT

# Jane Austen: one vector element (one printed line) per line.
# shellcheck disable=SC2086
python3 scripts/extract_austen.py --rdir "$AUSTEN_DIR" --split \
    "$tmpdir/eval.txt" "$tmpdir/calib.txt" "$EVAL_NOVEL" $CALIB_NOVELS ||
    die "extracting the Austen novels from $AUSTEN_DIR failed"

# KJV: `bible -f` prints "Ge1:1 In the beginning ..." one verse per line; the
# reference prefix is stripped, the verse text is kept verbatim.
env -u COLUMNS bible -f "Gen1:1-Rev22:21" > "$tmpdir/kjv.raw" ||
    die "'bible -f Gen1:1-Rev22:21' failed (is bible-kjv-text installed? apt-get install bible-kjv)"
awk '{ if (!sub(/^[1-3]?[A-Za-z]+[0-9]+:[0-9]+ /, "")) { bad = NR; exit 1 } print }
     END { if (bad) printf "line %d has no verse reference\n", bad > "/dev/stderr" }' \
    "$tmpdir/kjv.raw" > "$tmpdir/kjv.txt" || die "unexpected 'bible -f' output format"
n=$(wc -l < "$tmpdir/kjv.txt")
[ "$n" -eq "$KJV_VERSES" ] || die "'bible -f' gave $n verses, expected $KJV_VERSES"

for f in eval.txt calib.txt kjv.txt; do
    [ -s "$tmpdir/$f" ] || die "$f came out empty"
    if cmp -s "$tmpdir/$f" "$OUT/$f"; then
        continue  # unchanged: keep the existing file (and its mtime)
    fi
    mv -f "$tmpdir/$f" "$OUT/$f"
done

for f in eval.txt calib.txt kjv.txt; do
    printf '%-10s %9d bytes %6d lines  sha256 %s\n' "$f" \
        "$(wc -c < "$OUT/$f")" "$(wc -l < "$OUT/$f")" "$(sha256sum "$OUT/$f" | cut -d' ' -f1)"
done
