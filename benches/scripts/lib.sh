# Helpers shared by the scale scripts (sourced, not run).
#
# BENCH_LOCK=FILE makes every measurement round hold an exclusive flock on FILE, so that two
# people benchmarking on the same machine never measure at the same time. Baseline and subject of
# a round run inside the same lock.

BIN=${CEEMS_LAKE_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/ceems-lake/target}/release/ceems-lake}

need_bin() {
  [ -x "$BIN" ] || { echo "no release binary at $BIN: run 'make release' first" >&2; exit 1; }
}

machine() {
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2/1048576}' /proc/meminfo)"
  echo "binary:  $BIN ($(stat -c %y "$BIN" | cut -d. -f1))"
  echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) at $(date -u +%FT%TZ)"
}

lock_round() {
  if [ -n "${BENCH_LOCK:-}" ]; then
    exec 9>"$BENCH_LOCK"
    flock 9
  fi
}

unlock_round() {
  if [ -n "${BENCH_LOCK:-}" ]; then
    flock -u 9
    exec 9>&-
  fi
}

# timed NAME CMD...: runs CMD with stdout to $OUT/NAME.out, appends "wall_s peak_rss_kb" to
# $OUT/NAME.times. Wall time from the nanosecond clock, peak RSS from GNU time.
timed() {
  local name=$1
  shift
  local t0 t1
  t0=$(date +%s.%N)
  /usr/bin/time -f "%M" -o "$OUT/$name.rss" "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"
  t1=$(date +%s.%N)
  echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}') $(tail -1 "$OUT/$name.rss")" >>"$OUT/$name.times"
}

# timed_sh NAME 'shell pipeline': like timed, for a pipeline (peak RSS is the shell's largest child).
timed_sh() {
  local name=$1
  timed "$name" bash -c "$2"
}

median_col() { # FILE COLUMN
  sort -n -k"$2","$2" "$1" | awk -v c="$2" '{v[NR]=$c} END {print v[int((NR+1)/2)]}'
}

max_col() { # FILE COLUMN
  awk -v c="$2" 'BEGIN {m=0} $c>m {m=$c} END {print m}' "$1"
}

all_col() { # FILE COLUMN
  awk -v c="$2" '{printf "%s%s", (NR>1?" ":""), $c} END {print ""}' "$1"
}

# units_of NAME: units a ceems-lake import reports as inserted (first run's summary).
units_of() {
  awk '/^units inserted:/ {print $3; exit}' "$OUT/$1.out"
}
