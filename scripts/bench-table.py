#!/usr/bin/env python3
"""Side-by-side markdown table: our `swarm-progress-bench run --out` JSON files beside hivemind's
reference runs.

Usage: python3 scripts/bench-table.py [--same-run] OUR_DIR [REFERENCE_JSON ...]

OUR_DIR holds `process-*.json` / `scale-*.json` from scripts/bench-matrix.sh (only these JSON files
are read, not OUR_DIR/logs/). The reference files are `hm_progress_bench.py --out` files (default:
../shared/baseline/results/*.json, plus any `hivemind-*.json` in OUR_DIR); their figures are
medians over repeats, as in the baseline's summarize.py. Rows are grouped by (load, refresh, N).
With --same-run, the reference rows are only the `hivemind-*.json` of OUR_DIR: hivemind measured in
the same run as ours.
"""
import glob
import json
import os
import statistics
import sys


def dig(d, *path):
    for k in path:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def fmt(x, nd=2):
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def med(runs, *path):
    vals = [dig(r, *path) for r in runs if not r.get("error")]
    vals = [v for v in vals if isinstance(v, (int, float))]
    return statistics.median(vals) if vals else None


def ours(path):
    r = json.load(open(path))
    p = r["per_peer"]
    return (r["period_s"], r["refresh"], r["peers"]), [
        f"swarm-progress ({r['mode']})",
        f"{r['complete_epochs']} / {r['ideal_epochs']:.0f}",
        f"{fmt(dig(r, 'lag_s', 'p50'))} / {fmt(dig(r, 'lag_s', 'p95'))} / {fmt(dig(r, 'lag_s', 'max'))}",
        f"{fmt(dig(r, 'probe_lag_s', 'p50'))} / {fmt(dig(r, 'probe_lag_s', 'p95'))}",
        f"{fmt(dig(r, 'overshoot', 'p50'), 3)} / {fmt(dig(r, 'overshoot', 'max'), 3)}",
        fmt(p.get("cpu_s_per_min")),
        f"{fmt(p.get('pss_mib'), 1)} / {fmt(p.get('peak_rss_mib'), 1)}",
        f"{fmt(p.get('sent_kib_per_min'), 0)} / {fmt(p.get('received_kib_per_min'), 0)}",
        f"{fmt(dig(r, 'get_latest_ms', 'p50'))} / {fmt(dig(r, 'get_latest_ms', 'p95'))}",
        f"{fmt(dig(r, 'store_ms', 'p50'))} / {fmt(dig(r, 'store_ms', 'p95'))}",
    ]


def reference(paths):
    groups = {}
    for path in paths:
        for r in json.load(open(path))["runs"]:
            c = r["config"]
            groups.setdefault((c["period"], c["refresh"], c["peers"]), []).append(r)
    rows = {}
    for key, runs in groups.items():
        ok = [r for r in runs if not r.get("error")]
        probe = any(dig(r, "config", "probe_ms") for r in runs)
        rows[key] = [
            f"hivemind 1.1.12 ({len(ok)} runs, median)",
            "{} / {}".format(",".join(str(r.get("complete_epochs")) for r in ok),
                             fmt(med(runs, "config", "expected_epochs"), 0)),
            f"{fmt(med(runs, 'lag_s', 'p50'))} / {fmt(med(runs, 'lag_s', 'p95'))} / {fmt(med(runs, 'lag_s', 'max'))}",
            (f"{fmt(med(runs, 'probe_lag_s', 'p50'))} / {fmt(med(runs, 'probe_lag_s', 'p95'))}"
             if probe else "–"),
            f"{fmt(med(runs, 'overshoot_frac', 'p50'), 3)} / {fmt(med(runs, 'overshoot_frac', 'max'), 3)}",
            fmt(med(runs, "cpu_s_per_min_per_peer", "total", "p50")),
            f"{fmt(med(runs, 'mem_MiB_per_peer', 'pss_total', 'p50'), 0)} / "
            f"{fmt(med(runs, 'mem_MiB_per_peer', 'peak_rss_total', 'p50'), 0)}",
            "–",
            f"{fmt(med(runs, 'dht_get_latest_ms', 'p50'), 0)} / {fmt(med(runs, 'dht_get_latest_ms', 'p95'), 0)}",
            f"{fmt(med(runs, 'dht_store_ms', 'p50'), 0)} / {fmt(med(runs, 'dht_store_ms', 'p95'), 0)}",
        ]
    return rows


def main(argv):
    same_run = "--same-run" in argv
    argv = [a for a in argv if a != "--same-run"]
    if not argv:
        print(__doc__)
        return 2
    our_dir = argv[0]
    here = os.path.dirname(os.path.abspath(__file__))
    same = sorted(glob.glob(os.path.join(our_dir, "hivemind-*.json")))
    if same_run:
        refs = same
    else:
        refs = argv[1:] or sorted(glob.glob(os.path.join(here, "..", "..", "shared", "baseline", "results", "*.json")))
        refs += [p for p in same if p not in refs]
    mine = {}
    for path in sorted(glob.glob(os.path.join(our_dir, "*.json"))):
        if os.path.basename(path).startswith("hivemind-"):
            continue
        key, row = ours(path)
        mine.setdefault(key, []).append(row)
    ref = reference(refs) if refs else {}
    cols = ["load", "refresh", "N", "implementation", "complete epochs / ideal",
            "lag p50 / p95 / max s", "probe lag p50 / p95 s", "overshoot p50 / max",
            "CPU s/min/peer", "PSS / peak RSS MiB per peer", "KiB/min/peer sent / recv",
            "get(latest) p50 / p95 ms", "store p50 / p95 ms"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for key in sorted(set(mine) | set(ref), key=lambda k: (-k[0], k[1], k[2])):
        period, refresh, n = key
        load = f"16 / {period:g} s"
        for row in mine.get(key, []):
            print("| " + " | ".join([load, refresh, str(n)] + row) + " |")
        if key in ref:
            print("| " + " | ".join([load, refresh, str(n)] + ref[key]) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
