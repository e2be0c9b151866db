#!/usr/bin/env bash
# v1 against v2 on the rows of issue 13's goals, each row run with v1 then v2 back to back:
# process mode N = 4, 16, 32, 64 under loads A and B with both refresh presets, and scale mode
# N = 300 under load B (default preset). Release build of swarm-progress-bench.
# PEERS_LIST, LOADS, PRESETS, PROTOCOLS and SCALE_LIST narrow it (e.g. SCALE_LIST= skips scale
# mode); BIN runs a given binary instead of building one (e.g. a build of another commit).
#
#   scripts/bench-v1-v2.sh OUT_DIR      e.g. bench-results/v1-v2
#
# Keeps one compact JSON per run (<mode>-<load>-<refresh>-n<N>-<protocol>.json) and summary.md
# (one markdown row per run) in OUT_DIR; stderr of each run goes to OUT_DIR/logs/ (ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 1 ] || { sed -n '2,10p' "$0" >&2; exit 2; }
OUT=$1; LOGS="$OUT/logs"; mkdir -p "$OUT" "$LOGS"
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet -p swarm-progress-bench
  BIN=target/release/swarm-progress-bench
fi
A=(--batch-size 16 --period-ms 250 --epoch-seconds 4 --duration 40)
B=(--batch-size 16 --period-ms 2000 --epoch-seconds 12 --duration 60)
header=0
run() { # name, then arguments
  local name=$1; shift
  for protocol in ${PROTOCOLS:-v1 v2}; do
    echo ">> $name-$protocol" >&2
    if "$BIN" run "$@" --protocol "$protocol" --out "$OUT/$name-$protocol.json" \
        > "$LOGS/$name-$protocol.md" 2> "$LOGS/$name-$protocol.err"; then
      if [ $header = 0 ]; then
        { sed -n 1p "$LOGS/$name-$protocol.md" | sed 's/^| /| file | /'
          sed -n 2p "$LOGS/$name-$protocol.md" | sed 's/^|/|---|/'; } > "$OUT/summary.md"
        header=1
      fi
      printf '| `%s` %s\n' "$name-$protocol.json" "$(tail -1 "$LOGS/$name-$protocol.md")" >> "$OUT/summary.md"
    else
      echo "   failed (see $LOGS/$name-$protocol.err)" >&2
    fi
  done
}
for n in ${PEERS_LIST:-4 16 32 64}; do
  for load in ${LOADS:-A B}; do
    for preset in ${PRESETS:-fast default}; do
      if [ "$load" = A ]; then args=("${A[@]}"); else args=("${B[@]}"); fi
      run "process-$load-$preset-n$n" --mode process --peers "$n" --refresh "$preset" "${args[@]}"
    done
  done
done
for n in ${SCALE_LIST-300}; do
  run "scale-B-default-n$n" --mode scale --peers "$n" --refresh default "${B[@]}"
done
