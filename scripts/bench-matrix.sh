#!/usr/bin/env bash
# The whole benchmark matrix of issue 6: process mode (one OS process per peer, as the
# reference) at N = 4, 16, 32, 64 under both loads and both refresh presets, then scale mode
# (every peer in one process) at N = 100, 300, 1000. Release build of the benchmark's own
# workspace member (package and binary `swarm-progress-bench`, subcommand `run`).
#
#   scripts/bench-matrix.sh OUT_DIR                # OUT_DIR is required: name it after what the
#                                                  # runs are, e.g. bench-results/matrix
#   QUICK=1 scripts/bench-matrix.sh OUT_DIR        # shorter phases, N = 4 and 16 only (~5 min)
#   VENV=/path/to/hm scripts/bench-matrix.sh OUT   # also run hivemind's tracker (../shared/baseline)
#                                                  # on the same rows, for a side-by-side table
#
# What it keeps in OUT_DIR (what bench-results/ tracks):
#   <mode>-<load>-<refresh>-n<N>.json   one compact (one-line) JSON per run of ours
#   hivemind-<load>-n<N>.json           hivemind's runs (both presets in one file), with VENV
#   summary.md                          one markdown row per run of ours, with its file name
#   side-by-side.md, hivemind-summary.md  the tables of scripts/bench-table.py and summarize.py
# Everything else, each run's stderr (*.err) and printed row (*.md), goes to OUT_DIR/logs/,
# which .gitignore keeps out of git. OUT_DIR is stored relative to the repository root, since
# hivemind's JSON records its --out path.
#
# Load A: 16 samples every 0.25 s per peer, ideal epoch 4 s, 40 s phase.
# Load B: 16 samples every 2 s per peer, ideal epoch 12 s, 60 s phase.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ne 1 ]; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d' >&2
  exit 2
fi
OUT=$(realpath -m --relative-to=. "$1")
LOGS="$OUT/logs"
mkdir -p "$OUT" "$LOGS"
cargo build --release --quiet -p swarm-progress-bench
BIN=target/release/swarm-progress-bench

header_done=0
run() { # name, then `swarm-progress-bench run` arguments
  local name=$1; shift
  echo ">> $name: $*" >&2
  if ! "$BIN" run "$@" --out "$OUT/$name.json" > "$LOGS/$name.md" 2> "$LOGS/$name.err"; then
    echo "   failed (see $LOGS/$name.err)" >&2
    return 0
  fi
  if [ $header_done = 0 ]; then
    { sed -n 1p "$LOGS/$name.md" | sed 's/^| /| file | /'
      sed -n 2p "$LOGS/$name.md" | sed 's/^|/|---|/'; } > "$OUT/summary.md"
    header_done=1
  fi
  printf '| `%s` %s\n' "$name.json" "$(tail -1 "$LOGS/$name.md")" | tee -a "$OUT/summary.md" >&2
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
      2> "$LOGS/hivemind-A-n$n.err" || echo "hivemind A n=$n failed (see $LOGS/hivemind-A-n$n.err)" >&2
    "$VENV/bin/python" "$BASE/hm_progress_bench.py" --peers "$n" --refresh fast default \
      --duration $DB --period 2 --batch-size 16 --epoch-seconds 12 --probe-ms 50 --out "$OUT/hivemind-B-n$n.json" \
      2> "$LOGS/hivemind-B-n$n.err" || echo "hivemind B n=$n failed (see $LOGS/hivemind-B-n$n.err)" >&2
  done
  python3 "$BASE/summarize.py" "$OUT"/hivemind-*.json > "$OUT/hivemind-summary.md" || true
fi

# Compact JSON, one line per file (ours already is; hivemind's is indented): json load / dump keeps
# every value exactly.
python3 - "$OUT"/*.json <<'PY' || true
import json, sys
for path in sys.argv[1:]:
    try:
        with open(path) as f:
            obj = json.load(f)
    except (OSError, ValueError) as e:
        print(f"not compacted: {path}: {e}", file=sys.stderr)
        continue
    with open(path, "w") as f:
        json.dump(obj, f, separators=(",", ":"), ensure_ascii=False)
        f.write("\n")
PY

if [ -n "${VENV:-}" ]; then SAME=--same-run; else SAME=; fi
python3 scripts/bench-table.py $SAME "$OUT" > "$OUT/side-by-side.md" || true
echo "results in $OUT (summary.md, side-by-side.md; logs in $LOGS, not tracked)" >&2
