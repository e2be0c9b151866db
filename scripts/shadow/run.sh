#!/usr/bin/env bash
# One run of the scale lab under the Shadow network simulator: N standalone peers, one per
# simulated host, on the calibration or volunteer graph (bench/src/shadow.rs documents both).
# Release build of swarm-progress-bench; Shadow 3.3 built from its sources (SHADOW=path/to/shadow,
# default: shadow on PATH, then ~/.local/bin/shadow, where its `./setup install` puts it).
#
#   scripts/shadow/run.sh OUT_DIR NAME GRAPH PROTOCOL LOAD PRESET N [extra bench flags...]
#   e.g. scripts/shadow/run.sh bench-results/shadow volunteer-B-default-n100-v2 volunteer v2 B default 100
#
# Writes OUT_DIR/NAME.json (the same report as process mode, plus the simulation's wall time
# and the simulator's peak memory under "shadow") and appends its markdown row to
# OUT_DIR/summary.md. The scenario and Shadow's data go to OUT_DIR/runs/NAME (ignored by git).
# SETUP (simulated seconds before the common start, default 60) and JOIN_SPREAD (default 30)
# set the join window; LINGER (default 10) how long peers train on after their phase;
# DURATION replaces the load's epoch phase length (40 s for A, 60 s for B). BIN runs that
# binary instead of building one (a copy, so that the tree can change while a run goes on).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 7 ] || { sed -n '2,17p' "$0" >&2; exit 2; }
OUT=$1 NAME=$2 GRAPH=$3 PROTOCOL=$4 LOAD=$5 PRESET=$6 N=$7; shift 7
case $LOAD in
  A) load=(--batch-size 16 --period-ms 250 --epoch-seconds 4 --duration "${DURATION:-40}") ;;
  B) load=(--batch-size 16 --period-ms 2000 --epoch-seconds 12 --duration "${DURATION:-60}") ;;
  *) echo "LOAD must be A or B" >&2; exit 2 ;;
esac
SHADOW=${SHADOW:-$(command -v shadow || echo "$HOME/.local/bin/shadow")}
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet -p swarm-progress-bench
  BIN=$(pwd)/target/release/swarm-progress-bench
fi
RUN=$OUT/runs/$NAME
rm -rf "$RUN"; mkdir -p "$RUN"
flags=(--peers "$N" --protocol "$PROTOCOL" --refresh "$PRESET" "${load[@]}" "$@")
"$BIN" shadow-config "${flags[@]}" --graph "$GRAPH" --dir "$RUN" \
  --setup "${SETUP:-60}" --join-spread "${JOIN_SPREAD:-30}" --linger "${LINGER:-10}" --binary "$BIN" > "$RUN/scenario.txt"
start=$(date +%s.%N)
/usr/bin/time -v -o "$RUN/time.txt" "$SHADOW" --data-directory "$RUN/shadow.data" "$RUN/shadow.yaml" \
  > "$RUN/shadow.log" 2>&1 || echo "shadow exited non-zero (see $RUN/shadow.log)" >&2
wall=$(echo "$(date +%s.%N) - $start" | bc)
"$BIN" collect "${flags[@]}" --results "$RUN/results" --setup "${SETUP:-60}" --out "$RUN/report.json" > "$RUN/row.md"
peak_kib=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$RUN/time.txt")
# Peers that exited non-zero (each one's stderr is in shadow.data/hosts/peerN/).
failed=$(grep -c '^Error: process' "$RUN/shadow.log" || true)
# Peers whose tombstone did not land when the swarm left at once (they exit 0).
no_tombstone=$(cat "$RUN"/shadow.data/hosts/*/*.stderr 2>/dev/null | grep -c 'tombstone not stored at shutdown' || true)
python3 - "$RUN/report.json" "$OUT/$NAME.json" "$wall" "${peak_kib:-0}" "$GRAPH" "$failed" "$no_tombstone" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
report["shadow"] = {"graph": sys.argv[5], "wall_s": round(float(sys.argv[3]), 1),
                    "simulator_peak_rss_mib": round(int(sys.argv[4]) / 1024, 1),
                    "peers_exited_nonzero": int(sys.argv[6]),
                    "peers_tombstone_not_stored": int(sys.argv[7])}
json.dump(report, open(sys.argv[2], "w"), separators=(",", ":"))
PY
if [ ! -f "$OUT/summary.md" ]; then
  { sed -n 1p "$RUN/row.md" | sed 's/^| /| file | wall s | /'
    sed -n 2p "$RUN/row.md" | sed 's/^|/|---|---|/'; } > "$OUT/summary.md"
fi
printf '| `%s` | %.0f %s\n' "$NAME.json" "$wall" "$(tail -1 "$RUN/row.md")" >> "$OUT/summary.md"
tail -1 "$RUN/row.md"
