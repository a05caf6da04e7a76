#!/usr/bin/env bash
# Backfill importer throughput: `import swf` of the CEA-Curie log (xz-compressed as shipped, and an
# uncompressed copy) and `import sacct` of a generated sacct dump, each into a fresh store with the
# release binary. Reports median wall time, units/s, MB/s of uncompressed input and peak RSS.
#
# Baselines, measured in the same round as their subject: reading the same input and counting its
# lines (`xz -dc F | wc -l`, `cat F | wc -l`), the floor any importer pays.
#
#   benches/scripts/backfill_scale.sh [SACCT_LINES=10000000] [RUNS=3] [WORKDIR=data/generated]
#
# Real logs are read from ../shared/data/real (override with REAL_DATA=DIR). BENCH_LOCK=FILE
# serialises measurement rounds with other benchmarks (see lib.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
. benches/scripts/lib.sh
SACCT_LINES=${1:-10000000}
RUNS=${2:-3}
WORK=${3:-data/generated}
REAL=${REAL_DATA:-../shared/data/real}
SWF_XZ="$REAL/pwa-swf/CEA-Curie-2011-2.1-cln.swf.xz"
need_bin
[ -f "$SWF_XZ" ] || { echo "missing $SWF_XZ (set REAL_DATA)" >&2; exit 1; }
mkdir -p "$WORK"
SACCT="$WORK/sacct-${SACCT_LINES}.log"
if [ ! -f "$SACCT" ]; then
  echo "generating $SACCT ..."
  python3 benches/scripts/gen_sacct.py "$SACCT_LINES" "$SACCT.tmp"
  mv "$SACCT.tmp" "$SACCT"
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ceems-lake-backfill.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
OUT="$TMP/out"
mkdir -p "$OUT"
SWF="$TMP/CEA-Curie-2011-2.1-cln.swf"
xz -dc "$SWF_XZ" >"$SWF"

machine
swf_bytes=$(stat -c %s "$SWF")
sacct_bytes=$(stat -c %s "$SACCT")
echo "inputs:  $SWF_XZ ($(stat -c %s "$SWF_XZ") bytes xz, $swf_bytes uncompressed, $(wc -l <"$SWF") lines)"
echo "         $SACCT ($sacct_bytes bytes, $(wc -l <"$SACCT") lines incl. header)"
echo "runs:    $RUNS (each run: baseline then import into a fresh store)"

do_import() { # NAME ARGS...: one import into a fresh store
  local name=$1
  shift
  rm -rf "$TMP/lake"
  timed "$name" "$BIN" --data "$TMP/lake" import "$@" --no-progress --rejects "$TMP/$name.rejects"
}

for run in $(seq 1 "$RUNS"); do
  lock_round
  timed_sh swf_xz_floor "xz -dc '$SWF_XZ' | wc -l"
  do_import swf_xz swf "$SWF_XZ" --cluster-id curie
  timed_sh swf_floor "cat '$SWF' | wc -l"
  do_import swf swf "$SWF" --cluster-id curie
  timed_sh sacct_floor "cat '$SACCT' | wc -l"
  do_import sacct sacct "$SACCT" --cluster-id bench --time-zone Europe/Paris
  unlock_round
  echo "run $run done: $(all_col "$OUT/sacct.times" 1 | awk '{print $NF}') s for sacct"
done

report() { # LABEL NAME FLOOR BYTES
  local units wall rss floor
  units=$(units_of "$2")
  wall=$(median_col "$OUT/$2.times" 1)
  rss=$(max_col "$OUT/$2.times" 2)
  floor=$(median_col "$OUT/$3.times" 1)
  awk -v l="$1" -v u="$units" -v w="$wall" -v r="$rss" -v f="$floor" -v b="$4" \
    -v all="$(all_col "$OUT/$2.times" 1)" -v fall="$(all_col "$OUT/$3.times" 1)" 'BEGIN {
    printf "| %s | %d | %.2f (%s) | %.0f | %.1f | %.0f | %.2f (%s) | %.1f |\n",
      l, u, w, all, u / w, b / w / 1e6, r / 1024, f, fall, w / f
  }'
}
echo
echo "| input | units imported | import median s (runs) | units/s | MB/s | peak RSS MiB | floor median s (runs) | import / floor |"
echo "|---|---|---|---|---|---|---|---|"
report "CEA-Curie SWF, xz" swf_xz swf_xz_floor "$swf_bytes"
report "CEA-Curie SWF, uncompressed" swf swf_floor "$swf_bytes"
report "sacct dump, ${SACCT_LINES} lines" sacct sacct_floor "$sacct_bytes"
echo
for n in swf_xz swf sacct; do
  echo "$n summary:"
  sed 's/^/  /' "$OUT/$n.out"
done
