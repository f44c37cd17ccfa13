# Shared helpers for the benchmarks: median timing, ratios, peak RSS. Source it.
# Each bench runs the peer and ocikit alternately (A B A B ...) so drift hits both equally.
set -euo pipefail
RUNS="${RUNS:-5}"
# Outside the repository by default: multi-GB inputs under the tree made every `grep -r` and
# editor indexer in the checkout read them (and compete with the benchmark for the CPU).
WORK="${BENCH_WORK:-${TMPDIR:-/tmp}/ocikit-bench}"
mkdir -p "$WORK"
TIME_BIN=/usr/bin/time
[ -x "$TIME_BIN" ] || { echo "bench needs GNU time (/usr/bin/time): apt-get install -y time" >&2; exit 1; }

# run_timed NAME CMD...: runs CMD once, appends "seconds peak_kib" to $WORK/NAME.times
run_timed() {
  local name=$1; shift
  local log="$WORK/$name.timelog"
  local start end
  start=$(date +%s.%N)
  "$TIME_BIN" -v -o "$log" "$@" >/dev/null 2>"$WORK/$name.stderr" || { cat "$WORK/$name.stderr" >&2; return 1; }
  end=$(date +%s.%N)
  local rss
  rss=$(awk -F: '/Maximum resident set size/ {gsub(/ /,"",$2); print $2}' "$log")
  echo "$(echo "$end - $start" | bc -l) $rss" >> "$WORK/$name.times"
}

reset_times() { for n in "$@"; do rm -f "$WORK/$n.times"; done; }

median() {  # median seconds of NAME
  sort -n "$WORK/$1.times" | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'
}

peak_mib() {  # largest peak RSS (MiB) of NAME
  sort -k2 -n "$WORK/$1.times" | tail -1 | awk '{printf "%.0f", $2/1024}'
}

minmax() {  # "min–max" seconds of NAME
  sort -n "$WORK/$1.times" | awk 'NR==1 {lo=$1} {hi=$1} END {printf "%.3f-%.3f", lo, hi}'
}

ratio() { echo "scale=3; $1 / $2" | bc -l; }

make_random_file() {  # make_random_file PATH SIZE_MIB
  [ -f "$1" ] && [ "$(stat -c %s "$1")" -eq $(( $2 * 1024 * 1024 )) ] && return 0
  head -c "$(( $2 * 1024 * 1024 ))" /dev/urandom > "$1"
}

report() {  # report LABEL NAME PEER_NAME [PEER2_NAME]: prints medians and the ratio
  local label=$1 ours=$2 peer=$3 peer2=${4:-}
  local m_ours m_peer
  m_ours=$(median "$ours"); m_peer=$(median "$peer")
  if [ -n "$peer2" ]; then m_peer=$(echo "$m_peer + $(median "$peer2")" | bc -l); fi
  printf '%-34s ocikit %7.3fs (%s)  peer %7.3fs (%s)  ratio %sx  ocikit peak RSS %s MiB\n' \
    "$label" "$m_ours" "$(minmax "$ours")" "$m_peer" "$(minmax "$peer")" "$(ratio "$m_ours" "$m_peer")" "$(peak_mib "$ours")"
}
