#!/usr/bin/env bash
# Instructions per patient on the cohort hot path, counted by callgrind (immune to the timing
# noise of shared machines): the default model, scenario (Mackensen 2022 regimen, default IIV and
# population, one thread, streaming summaries) and tolerance, `profile_cohort` run on 200 and on
# 400 patients; the difference over 200 removes the fixed costs (start-up, summary set-up and
# merge). Needs valgrind.
#
#   benches/instructions.sh            # prints instructions_per_patient=…
#   benches/instructions.sh --top 25   # and the 25 costliest functions (inclusive, per patient)
#   benches/instructions.sh --patients 1000 2000   # other sizes (costs that grow slower than N,
#                                                  # such as summary sketches, amortise more)
#   benches/instructions.sh --bin PATH  # a profile_cohort built elsewhere (e.g. an older commit)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=""
top=0
small=200
large=400
while [[ $# -gt 0 ]]; do
    case "$1" in
        --top) top="$2"; shift 2 ;;
        --patients) small="$2"; large="$3"; shift 3 ;;
        --bin) bin="$2"; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
command -v valgrind >/dev/null || { echo "instructions_per_patient=NA (valgrind not found)"; exit 0; }
if [[ -z "${bin:-}" ]]; then
    cargo build --quiet --release --example profile_cohort
    bin="${CARGO_TARGET_DIR:-target}/release/examples/profile_cohort"
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for n in "$small" "$large"; do
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$n" "$bin" "$n" >/dev/null 2>&1
    callgrind_annotate --inclusive=yes --threshold=100 "$tmp/cg.$n" 2>/dev/null |
        sed -nE 's/^ *([0-9,]+) +\([ 0-9.]+%\) +(.*)$/\1\t\2/p' | sed -E 's/ \[[^]]*\]$//' |
        awk -F'\t' '{ gsub(",", "", $1); print $1 "\t" $2 }' >"$tmp/f.$n"
done
total() { awk -F'\t' '$2 == "PROGRAM TOTALS" { print $1 }' "$1"; }
per=$(( ($(total "$tmp/f.$large") - $(total "$tmp/f.$small")) / (large - small) ))
if [[ "$top" != 0 ]]; then
    echo "instructions per patient (inclusive), by function:"
    awk -F'\t' -v n=$((large - small)) 'NR == FNR { a[$2] = $1; next } ($2 in a) { d = ($1 - a[$2]) / n;
                if (d > 1000) printf "%10.0f  %s\n", d, substr($2, 1, 110) }' \
        "$tmp/f.$small" "$tmp/f.$large" | sort -rn | head -n "$top"
fi
echo "instructions_per_patient=$per"
