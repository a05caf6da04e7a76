#!/usr/bin/env bash
# Crash safety at scale: kill -9 an import of a generated 1M-unit CEEMS database at ten random
# moments; after each kill the store must open, hold no duplicate unit, and hold exactly the
# units of whole committed batches; a final run must complete with the full counts.
#
#   benches/scripts/crash_scale.sh [UNITS=1000000] [WORKDIR=data/generated]
set -euo pipefail
cd "$(dirname "$0")/../.."
UNITS=${1:-1000000}
WORK=${2:-data/generated}
BIN=${CEEMS_LAKE_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/ceems-lake/target}/release/ceems-lake}
DB="$WORK/ceems-${UNITS}.db"
STORE="$WORK/lake-crash-${UNITS}"
BATCH=50000
mkdir -p "$WORK"
[ -f "$DB" ] || "$BIN" generate --units "$UNITS" --clusters 3 --seed 1 --ceems-sqlite "$DB" >/dev/null
rm -rf "$STORE"
start=$(date +%s.%N)
"$BIN" --data "$STORE.full" import ceems-sqlite "$DB" --time-zone Europe/Paris --no-progress --batch-size $BATCH >/dev/null 2>&1
dur=$(echo "$(date +%s.%N) - $start" | bc)
rm -rf "$STORE.full"
echo "one full import takes ${dur}s"
q() { "$BIN" --data "$STORE" sql --format csv "$1" 2>/dev/null | tail -n +2; }
for i in $(seq 1 10); do
  t=$(python3 -c "import random; print(round(random.uniform(0.05, $dur * 0.95), 2))")
  "$BIN" --data "$STORE" import ceems-sqlite "$DB" --time-zone Europe/Paris --no-progress --batch-size $BATCH >/dev/null 2>&1 &
  pid=$!
  sleep "$t"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  total=$(q "select count(*) from units")
  distinct=$(q "select count(distinct (cluster_id, uuid, started_at_ts)) from units")
  pos=$(python3 - "$STORE" <<'PY'
import json, os, sys
d = os.path.join(sys.argv[1], "_manifest")
vs = sorted(os.listdir(d)) if os.path.isdir(d) else []
m = json.load(open(os.path.join(d, vs[-1]))) if vs else {"sources": {}}
print(max([s["position"] for s in m.get("sources", {}).values()] or [0]))
PY
)
  expected=$(sqlite3 "$DB" "select count(*) from units where id <= $pos")
  echo "kill $i at ${t}s: units=$total distinct=$distinct committed-position=$pos expected=$expected"
  [ "$total" = "$distinct" ] || { echo "FAIL: duplicate units"; exit 1; }
  [ "$total" = "$expected" ] || { echo "FAIL: store does not hold exactly the committed batches"; exit 1; }
  if [ "$total" = "$(sqlite3 "$DB" "select count(*) from units")" ]; then
    # The resumed run finished before the kill: start the next round on a fresh store, so
    # every kill interrupts a real import.
    echo "  (that run completed the import: the next round starts on a fresh store)"
    rm -rf "$STORE"
  fi
done
"$BIN" --data "$STORE" import ceems-sqlite "$DB" --time-zone Europe/Paris --no-progress --batch-size $BATCH | tail -4
final=$(q "select count(*) from units")
want=$(sqlite3 "$DB" "select count(*) from units")
echo "final: units=$final sqlite=$want"
[ "$final" = "$want" ] || { echo "FAIL: final counts differ"; exit 1; }
echo "PASS"
