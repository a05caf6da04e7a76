#!/usr/bin/env bash
# Import throughput at scale: generate a CEEMS-format SQLite file of N units, import it into a
# fresh store with the release binary, and report units/s and peak memory. The baseline in the
# same round is SQLite itself reading every column of every unit (`sqlite3 F "select * from
# units"`), the floor any importer pays.
#
#   benches/scripts/import_scale.sh [UNITS=1000000] [RUNS=3] [WORKDIR=data/generated]
#
# BENCH_LOCK=FILE serialises measurement rounds with other benchmarks (see lib.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
. benches/scripts/lib.sh
UNITS=${1:-1000000}
RUNS=${2:-3}
WORK=${3:-data/generated}
need_bin
mkdir -p "$WORK"
DB="$WORK/ceems-${UNITS}.db"
if [ ! -f "$DB" ]; then
  echo "generating $DB ..."
  "$BIN" generate --units "$UNITS" --clusters 3 --seed 1 --ceems-sqlite "$DB" >/dev/null
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ceems-lake-import.XXXXXX")
STORE="$TMP/lake"
trap 'rm -rf "$TMP"' EXIT
OUT="$TMP/out"
mkdir -p "$OUT"

machine
echo "input:   $DB ($(stat -c %s "$DB") bytes, $(sqlite3 "$DB" "select count(*) from units") units)"
echo "runs:    $RUNS (each run: sqlite3 scan, then import into a fresh store)"
for run in $(seq 1 "$RUNS"); do
  lock_round
  timed sqlite_scan sqlite3 "$DB" "select * from units"
  rm -rf "$STORE"
  timed import "$BIN" --data "$STORE" import ceems-sqlite "$DB" --time-zone Europe/Paris --no-progress
  unlock_round
  echo "run $run: sqlite3 scan $(tail -1 "$OUT/sqlite_scan.times" | cut -d' ' -f1) s, import $(tail -1 "$OUT/import.times" | cut -d' ' -f1) s"
done
units=$(units_of import)
awk -v u="$units" -v w="$(median_col "$OUT/import.times" 1)" -v r="$(max_col "$OUT/import.times" 2)" \
  -v f="$(median_col "$OUT/sqlite_scan.times" 1)" -v fr="$(max_col "$OUT/sqlite_scan.times" 2)" \
  -v all="$(all_col "$OUT/import.times" 1)" -v fall="$(all_col "$OUT/sqlite_scan.times" 1)" 'BEGIN {
  print ""
  print "| step | median s (runs) | units/s | peak RSS MiB |"
  print "|---|---|---|---|"
  printf "| sqlite3 scan of units (baseline) | %.2f (%s) | %.0f | %.0f |\n", f, fall, u / f, fr / 1024
  printf "| ceems-lake import ceems-sqlite | %.2f (%s) | %.0f | %.0f |\n", w, all, u / w, r / 1024
  printf "import / sqlite3 scan: %.2f\n", w / f
}'
echo
echo "import summary:"
sed 's/^/  /' "$OUT/import.out"
"$BIN" --data "$STORE" info | head -8
du -sh "$STORE"
