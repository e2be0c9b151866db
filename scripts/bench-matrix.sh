#!/usr/bin/env bash
# The whole benchmark matrix of issue 6: process mode (one OS process per peer, as the
# reference) at N = 4, 16, 32, 64 under both loads and both refresh presets, then scale mode
# (every peer in one process) at N = 100, 300, 1000. Release build. Prints one markdown table
# and keeps every run's JSON.
#
#   scripts/bench-matrix.sh [OUT_DIR]          # default: bench-results/<UTC date-time>
#   QUICK=1 scripts/bench-matrix.sh            # shorter phases, N = 4 and 16 only (~5 min)
#   VENV=/tmp/hm scripts/bench-matrix.sh       # also run hivemind's tracker (../shared/baseline)
#                                              # on the same rows, for a side-by-side table
#
# Load A: 16 samples every 0.25 s per peer, ideal epoch 4 s, 40 s phase.
# Load B: 16 samples every 2 s per peer, ideal epoch 12 s, 60 s phase.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-bench-results/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
cargo build --release --quiet
BIN=target/release/swarm-progress

header_done=0
run() { # name, then bench arguments
  local name=$1; shift
  echo ">> $name: $*" >&2
  if ! "$BIN" bench "$@" --out "$OUT/$name.json" > "$OUT/$name.md" 2> "$OUT/$name.err"; then
    echo "   failed (see $OUT/$name.err)" >&2
    return 0
  fi
  if [ $header_done = 0 ]; then head -2 "$OUT/$name.md" > "$OUT/summary.md"; header_done=1; fi
  tail -1 "$OUT/$name.md" | tee -a "$OUT/summary.md" >&2
}

A=(--batch-size 16 --period-ms 250 --epoch-seconds 4)
B=(--batch-size 16 --period-ms 2000 --epoch-seconds 12)
if [ "${QUICK:-0}" = 1 ]; then
  DA=15; DB=30; PEERS=(4 16); SCALE=(100)
else
  DA=40; DB=60; PEERS=(4 16 32 64); SCALE=(100 300 1000)
fi
# PEERS_LIST="4 16" / SCALE_LIST="100" (space-separated) override the lists; SCALE_LIST=""
# skips scale mode.
if [ -n "${PEERS_LIST+x}" ]; then read -r -a PEERS <<< "$PEERS_LIST"; fi
if [ -n "${SCALE_LIST+x}" ]; then read -r -a SCALE <<< "$SCALE_LIST"; fi

for n in "${PEERS[@]}"; do
  for refresh in fast default; do
    run "process-A-$refresh-n$n" --mode process --peers "$n" --refresh "$refresh" "${A[@]}" --duration $DA
    run "process-B-$refresh-n$n" --mode process --peers "$n" --refresh "$refresh" "${B[@]}" --duration $DB
  done
done
for n in ${SCALE[@]+"${SCALE[@]}"}; do
  run "scale-B-default-n$n" --mode scale --peers "$n" --refresh default "${B[@]}" --duration $DB \
    --latency-calls 50
done

if [ -n "${VENV:-}" ]; then
  # The reference, same workload, same machine, right after ours.
  BASE=../shared/baseline
  for n in "${PEERS[@]}"; do
    "$VENV/bin/python" "$BASE/hm_progress_bench.py" --peers "$n" --refresh fast default \
      --duration $DA --period 0.25 --batch-size 16 --out "$OUT/hivemind-A-n$n.json" \
      2> "$OUT/hivemind-A-n$n.err" || echo "hivemind A n=$n failed" >&2
    "$VENV/bin/python" "$BASE/hm_progress_bench.py" --peers "$n" --refresh fast default \
      --duration $DB --period 2 --batch-size 16 --epoch-seconds 12 --probe-ms 50 --out "$OUT/hivemind-B-n$n.json" \
      2> "$OUT/hivemind-B-n$n.err" || echo "hivemind B n=$n failed" >&2
  done
  python3 "$BASE/summarize.py" "$OUT"/hivemind-*.json > "$OUT/hivemind-summary.md" || true
fi
if [ -n "${VENV:-}" ]; then SAME=--same-run; else SAME=; fi
python3 scripts/bench-table.py $SAME "$OUT" > "$OUT/side-by-side.md" || true
echo "results in $OUT (summary.md, side-by-side.md)" >&2
