#!/usr/bin/env python3
"""The busiest peers of each Shadow run in OUT_DIR, from the per-peer files the run kept under
OUT_DIR/runs/NAME/results (ignored by git): for each run, the three peers that moved the most
bytes, with their sent and received KiB/s over the epoch phase and the inbound DHT requests they
served, beside the median peer (and its connections, where recorded). Writes OUT_DIR/hotspots.json (compact; kept) and prints a table.

    scripts/shadow/hotspots.py bench-results/shadow-scaling
"""
import glob
import json
import os
import statistics
import sys


def peer_rates(result):
    phase = result["phase_s"] or 1.0
    c = result["counters"]
    return {
        "index": result["index"],
        "sent_kib_s": round(c.get("bytes_out", 0) / 1024 / phase, 1),
        "recv_kib_s": round(c.get("bytes_in", 0) / 1024 / phase, 1),
        "inbound_requests_per_s": round(c.get("inbound_requests", 0) / phase, 1),
        "gossip_copies_per_message": round(
            c.get("gossip_arrived", 0) / c["gossip_first"], 2) if c.get("gossip_first") else None,
    }


def main(out):
    runs = {}
    for results in sorted(glob.glob(os.path.join(out, "runs", "*", "results"))):
        name = os.path.basename(os.path.dirname(results))
        peers = [peer_rates(json.load(open(f))) for f in glob.glob(os.path.join(results, "*.json"))]
        if not peers:
            continue
        total = lambda p: p["sent_kib_s"] + p["recv_kib_s"]
        peers.sort(key=total, reverse=True)
        median = statistics.median(total(p) for p in peers)
        raw = [json.load(open(f)) for f in glob.glob(os.path.join(results, "*.json"))]
        connected = [r["connected_peers"] for r in raw if r.get("connected_peers") is not None]
        sizes = [r["counters"]["gossip_arrived_bytes"] / r["counters"]["gossip_arrived"]
                 for r in raw if r["counters"].get("gossip_arrived")]
        copies = [p["gossip_copies_per_message"] for p in peers
                  if p["gossip_copies_per_message"] is not None]
        pushes = [r["counters"].get("gossip_published", 0) / r["phase_s"] * 60 for r in raw
                  if r.get("phase_s")]
        runs[name] = {
            "peers": len(peers),
            "median_pushes_per_min": round(statistics.median(pushes), 1) if pushes else None,
            # v2: payload bytes of one gossip message (one signed entry), and copies of each.
            "median_gossip_message_bytes": round(statistics.median(sizes)) if sizes else None,
            "median_gossip_copies_per_message": round(statistics.median(copies), 2) if copies else None,
            # Connections per peer at the end of the phase (runs from before it was recorded: None).
            "median_connected_peers": statistics.median(connected) if connected else None,
            "median_sent_kib_s": round(statistics.median(p["sent_kib_s"] for p in peers), 1),
            "median_recv_kib_s": round(statistics.median(p["recv_kib_s"] for p in peers), 1),
            "median_total_kib_s": round(median, 1),
            "busiest": peers[:3],
        }
    json.dump(runs, open(os.path.join(out, "hotspots.json"), "w"), separators=(",", ":"))
    print("| run | median sent / recv KiB/s | busiest 3: peer (sent / recv KiB/s, inbound req/s) |")
    print("|---|---|---|")
    for name, r in runs.items():
        busiest = "; ".join(
            f"#{p['index']} ({p['sent_kib_s']} / {p['recv_kib_s']}, {p['inbound_requests_per_s']})"
            for p in r["busiest"])
        print(f"| {name} | {r['median_sent_kib_s']} / {r['median_recv_kib_s']} | {busiest} |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
