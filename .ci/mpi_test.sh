#!/usr/bin/env bash
# Distributed cohorts are bit-identical to one machine: cohort_mpi on 1, 2 and 3 ranks (N = 47,
# divisible by neither 2 nor 3) and 4 uneven shard files merged by the `shard` example must give
# summary.json, bands.csv and patients.csv byte-identical to the single-process `cohort`
# example. Bad input (more ranks than patients, zero patients, a rank that cannot write its
# part, a truncated or missing shard) must end every rank with a non-zero exit and a message,
# without hanging, without leaving output behind and without touching an earlier output set.
#
# Needs MPI (Debian: openmpi-bin libopenmpi-dev libclang-dev). Run from the repository root:
#   .ci/mpi_test.sh
# MPIRUN_FLAGS overrides the mpirun flags (default: --oversubscribe, plus --allow-run-as-root
# as root); PROFILE the cargo profile (default release; `quick` builds faster); the binaries
# are taken from CARGO_TARGET_DIR when it is set.
set -euo pipefail
cd "$(dirname "$0")/.."

flags=(--oversubscribe)
if [ "$(id -u)" = 0 ]; then flags+=(--allow-run-as-root); fi
read -r -a flags <<<"${MPIRUN_FLAGS:-${flags[*]}}"
mpirun_() { timeout 300 mpirun "${flags[@]}" "$@"; }

# The single-process examples from the default build (no MPI), cohort_mpi with the feature.
profile=${PROFILE:-release}
cargo build --profile "$profile" --example cohort --example shard
cargo build --profile "$profile" --features mpi --example cohort_mpi
bin=${CARGO_TARGET_DIR:-target}/$profile/examples
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
N=47
SEED=11
files=(summary.json bands.csv patients.csv)
fail() { echo "FAIL: $*" >&2; exit 1; }
same() { # same DIR_A DIR_B: the three outputs are byte-identical
  for f in "${files[@]}"; do
    cmp "$1/$f" "$2/$f" || fail "$2/$f differs from $1/$f"
  done
}
nothing_in() { # nothing_in DIR: no output left behind, no staging folder beside it
  if [ -d "$1" ] && [ -n "$(ls -A "$1")" ]; then fail "left behind in $1: $(ls -A "$1")"; fi
  no_staging "$1"
}
no_staging() { # no_staging DIR: no staging folder of DIR's output set beside it
  local left
  left=$(ls -A "$(dirname "$1")" | grep -F ".$(basename "$1").partial-" || true)
  [ -z "$left" ] || fail "staging folder left beside $1: $left"
}
# A rank that cannot write its part: run through this wrapper as its own mpirun app context,
# it has a file-size limit (writes past 512 bytes fail with EFBIG).
limited="$tmp/limited.sh"
printf '#!/bin/sh\nulimit -f 1 && trap "" XFSZ && exec "$@"\n' >"$limited"
chmod +x "$limited"
expect_failure() { # expect_failure PATTERN LOG -- COMMAND...: non-zero, no timeout, message
  local pattern=$1 log=$2 rc=0
  shift 3
  "$@" >"$log" 2>&1 || rc=$?
  [ "$rc" -ne 0 ] || fail "succeeded: $*"
  [ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || fail "hung (timeout): $*"
  grep -q -- "$pattern" "$log" || { cat "$log"; fail "no message matching '$pattern': $*"; }
  echo "ok (exit $rc): $(grep -m1 -- "$pattern" "$log")"
}

echo "--- single process"
"$bin/cohort" --patients $N --seed $SEED --out "$tmp/single" >/dev/null

for np in 1 2 3; do
  for sched in "static" "dynamic --chunk 5" "dynamic"; do
    echo "--- cohort_mpi on $np ranks, schedule $sched"
    # shellcheck disable=SC2086
    mpirun_ -np $np "$bin/cohort_mpi" --patients $N --seed $SEED --schedule $sched \
      --out "$tmp/np$np" >"$tmp/log"
    sed -n 1,2p "$tmp/log"
    same "$tmp/single" "$tmp/np$np"
    [ -z "$(ls "$tmp/np$np" | grep part || true)" ] || fail "part files left in $tmp/np$np"
    [ -e "$tmp/np$np/manifest.json" ] || fail "no manifest.json in $tmp/np$np"
    no_staging "$tmp/np$np"
    rm -r "$tmp/np$np"
    echo "ok: 3 files byte-identical"
  done
done

echo "--- cohort_mpi on 3 ranks, parts kept: static (one per rank) and dynamic (10 chunks)"
mpirun_ -np 3 "$bin/cohort_mpi" --patients $N --seed $SEED --keep-parts --schedule static \
  --chunk 5 --out "$tmp/parts" >"$tmp/log"
[ ! -e "$tmp/parts/patients.csv" ] || fail "patients.csv written with --keep-parts"
[ "$(ls "$tmp/parts"/patients.part-*.csv | wc -l)" = 3 ] || fail "expected 3 part files"
cat "$tmp/parts"/patients.part-*.csv >"$tmp/parts/patients.csv"
same "$tmp/single" "$tmp/parts"
# The same folder again: the whole set is replaced (the static run's parts and the
# concatenation above are gone).
mpirun_ -np 3 "$bin/cohort_mpi" --patients $N --seed $SEED --keep-parts --schedule dynamic \
  --chunk 5 --out "$tmp/parts" >"$tmp/log"
[ ! -e "$tmp/parts/patients.csv" ] || fail "stale patients.csv left with --keep-parts"
[ "$(ls "$tmp/parts"/patients.part-*.csv | wc -l)" = 10 ] || fail "expected 10 part files"
cat "$tmp/parts"/patients.part-*.csv >"$tmp/parts/patients.csv"
same "$tmp/single" "$tmp/parts"
echo "ok: concatenated parts byte-identical"

echo "--- bad input: every rank exits non-zero, nothing written"
expect_failure "3 MPI ranks for 2 patients" "$tmp/log1" -- \
  mpirun_ -np 3 "$bin/cohort_mpi" --patients 2 --seed $SEED --out "$tmp/bad1"
nothing_in "$tmp/bad1"
expect_failure "patients.*must be > 0" "$tmp/log2" -- \
  mpirun_ -np 2 "$bin/cohort_mpi" --patients 0 --seed $SEED --out "$tmp/bad2"
nothing_in "$tmp/bad2"
# Rank 1 cannot write its part: the run fails on every rank, rank 0 names rank 1, and rank
# 0's part and the summary are not left behind.
expect_failure "rank 1 of 2 failed.*patients.part-000001.csv.*File too large" "$tmp/log3" -- \
  mpirun_ -np 1 "$bin/cohort_mpi" --patients $N --seed $SEED --schedule static --out "$tmp/bad3" \
  : -np 1 "$limited" "$bin/cohort_mpi" --patients $N --seed $SEED --schedule static --out "$tmp/bad3"
nothing_in "$tmp/bad3"
# Dynamic schedule, into a folder holding an earlier set: rank 1 fails on its first chunk (of
# one patient: 47 chunks, so it surely gets one); every rank stops and exits, and the earlier
# set is left as it was.
mpirun_ -np 2 "$bin/cohort_mpi" --patients $N --seed $SEED --out "$tmp/kept" >/dev/null
cp -r "$tmp/kept" "$tmp/kept.before"
expect_failure "rank 1 of 2 failed.*File too large" "$tmp/log3" -- \
  mpirun_ -np 1 "$bin/cohort_mpi" --patients $N --seed $SEED --schedule dynamic --chunk 1 \
  --out "$tmp/kept" : -np 1 "$limited" "$bin/cohort_mpi" --patients $N --seed $SEED \
  --schedule dynamic --chunk 1 --out "$tmp/kept"
diff -r "$tmp/kept.before" "$tmp/kept" >/dev/null || fail "the earlier set in $tmp/kept changed"
no_staging "$tmp/kept"
echo "ok: the earlier set is unchanged"
# A folder of other files is refused before any work, and kept.
mkdir -p "$tmp/foreign" && echo mine >"$tmp/foreign/notes.txt"
expect_failure "notes.txt.*not a cartsim output" "$tmp/log3" -- \
  mpirun_ -np 2 "$bin/cohort_mpi" --patients $N --seed $SEED --out "$tmp/foreign"
[ "$(ls -A "$tmp/foreign")" = notes.txt ] || fail "$tmp/foreign changed"

echo "--- 4 uneven shard files merged (11 + 12 + 12 + 12 patients)"
for k in 3 1 0 2; do
  "$bin/shard" run --patients $N --seed $SEED --shard $k/4 --out "$tmp/shards/s$k.bin"
done
"$bin/shard" merge --out "$tmp/merged" "$tmp"/shards/s{2,0,3,1}.bin
same "$tmp/single" "$tmp/merged"
echo "ok: merged shards byte-identical"
expect_failure "shard 2/4 (ids 23..35): missing" "$tmp/log4" -- \
  "$bin/shard" merge --out "$tmp/bad4" "$tmp"/shards/s{0,1,3}.bin
nothing_in "$tmp/bad4"
expect_failure "s1.bin.*duplicates shard 1/4" "$tmp/log5" -- \
  "$bin/shard" merge --out "$tmp/bad5" "$tmp"/shards/s{0,1,2,3,1}.bin
nothing_in "$tmp/bad5"
"$bin/shard" run --patients $N --seed 12 --shard 2/4 --out "$tmp/other/s2.bin" >/dev/null
expect_failure "other/s2.bin.*seed 12 differs" "$tmp/log6" -- \
  "$bin/shard" merge --out "$tmp/bad6" "$tmp"/shards/s{0,1,3}.bin "$tmp/other/s2.bin"
nothing_in "$tmp/bad6"
head -c -100 "$tmp/shards/s2.bin" >"$tmp/other/cut.bin"
expect_failure "cut.bin.*truncated" "$tmp/log7" -- \
  "$bin/shard" merge --out "$tmp/bad7" "$tmp"/shards/s{0,1,3}.bin "$tmp/other/cut.bin"
nothing_in "$tmp/bad7"
expect_failure "nope.bin" "$tmp/log8" -- \
  "$bin/shard" merge --out "$tmp/bad8" "$tmp"/shards/s{0,1,3}.bin "$tmp/nope.bin"
nothing_in "$tmp/bad8"
echo "MPI and shard tests passed"
