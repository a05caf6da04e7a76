#!/usr/bin/env bash
# API latency at scale: p50/p99 of every CEEMS endpoint served by `ceems-lake serve` over a store
# of N generated units, against the original server's SQL run on the same units in the
# CEEMS-format SQLite file the store was imported from (api_latency.py says what is timed).
#
#   benches/scripts/api_latency.sh [UNITS=1000000] [WORKDIR=data/generated] [-- api_latency.py options]
#
# Environment: CEEMS_LAKE_BIN (default: the release binary), TIME_ZONE (default Europe/Paris),
# BENCH_LOCK (see lib.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
source benches/scripts/lib.sh
UNITS=1000000
WORK=data/generated
if [ $# -gt 0 ] && [ "$1" != "--" ]; then UNITS=$1; shift; fi
if [ $# -gt 0 ] && [ "$1" != "--" ]; then WORK=$1; shift; fi
if [ "${1:-}" = "--" ]; then shift; fi
TZ_NAME=${TIME_ZONE:-Europe/Paris}
need_bin
mkdir -p "$WORK"
DB="$WORK/ceems-${UNITS}.db"
STORE="$WORK/lake-${UNITS}"

# import_scale.sh uses the same file name: generate it once, under a lock.
flock "$WORK/.generate.lock" bash -c '
  if [ ! -f "$2" ]; then
    echo "generating $2 ..."
    "$1" generate --units "$3" --clusters 3 --seed 1 --time-zone "$4" --ceems-sqlite "$2" >/dev/null
  fi' _ "$BIN" "$DB" "$UNITS" "$TZ_NAME"
if [ ! -d "$STORE/_manifest" ]; then
  echo "importing $DB into $STORE ..."
  "$BIN" --data "$STORE" import ceems-sqlite "$DB" --time-zone "$TZ_NAME" --no-progress >/dev/null
fi

lock_round
machine
echo "data:    $DB ($(du -h "$DB" | cut -f1)), $STORE ($(du -sh "$STORE" | cut -f1))"
"$BIN" --data "$STORE" info | sed -n '2,4p'
python3 benches/scripts/api_latency.py --bin "$BIN" --store "$STORE" --sqlite "$DB" \
  --time-zone "$TZ_NAME" "$@"
unlock_round
