#!/usr/bin/env bash
# Import throughput at scale: generate a CEEMS-format SQLite file of N units, import it into a
# fresh store with the release binary, and report units/s and peak memory. The baseline in the
# same run is SQLite itself reading every column of every unit (the floor any importer pays).
#
#   benches/scripts/import_scale.sh [UNITS=1000000] [WORKDIR=data/generated]
set -euo pipefail
cd "$(dirname "$0")/../.."
UNITS=${1:-1000000}
WORK=${2:-data/generated}
BIN=${CEEMS_LAKE_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/ceems-lake/target}/release/ceems-lake}
mkdir -p "$WORK"
DB="$WORK/ceems-${UNITS}.db"
STORE="$WORK/lake-import-${UNITS}"
[ -x "$BIN" ] || { echo "build first: make release" >&2; exit 1; }
if [ ! -f "$DB" ]; then
  echo "generating $DB ..."
  "$BIN" generate --units "$UNITS" --clusters 3 --seed 1 --ceems-sqlite "$DB" >/dev/null
fi
ls -l "$DB"
echo "baseline: sqlite3 scan of units"
/usr/bin/time -f "sqlite-scan wall=%e s peak_rss=%M KB" sqlite3 "$DB" "select * from units" >/dev/null
rm -rf "$STORE"
echo "ceems-lake import"
/usr/bin/time -f "import wall=%e s peak_rss=%M KB" "$BIN" --data "$STORE" import ceems-sqlite "$DB" --time-zone Europe/Paris --no-progress
"$BIN" --data "$STORE" info | head -8
du -sh "$STORE"
