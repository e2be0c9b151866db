#!/usr/bin/env python3
"""Where a peer's memory is, while a Shadow run goes on: every 20 s, the PSS of every running
standalone peer by mapping ([heap], [anon], the binary, libraries, Shadow's shared memory),
averaged over the peers, keeping the sample with the most peers alive; and every 5 s the sum of
the peers' PSS, keeping its peak (what the machine must hold for all of them at once) and
its series (wall seconds since the first peer, peers alive, MiB). Writes OUT (JSON) after
every sample.

    scripts/shadow/smaps.py OUT BINARY_NAME &   # then scripts/shadow/run.sh ... in the foreground

BINARY_NAME is a part of the peers' program path (e.g. swarm-progress-bench). Shadow runs every
simulated process as a native one, so /proc shows them. glibc puts a thread's allocations in an
arena of its own, an anonymous mapping: the node's heap is in [anon], not [heap].
"""
import collections
import json
import os
import re
import sys
import time

MAPPING = re.compile(r"^[0-9a-f]+-[0-9a-f]+ ")


def peers(binary):
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if b"standalone" in cmd and any(binary.encode() in part for part in cmd):
            found.append(int(pid))
    return found


def pss_by_mapping(pid):
    kib = collections.Counter()
    name = None
    for line in open(f"/proc/{pid}/smaps"):
        if MAPPING.match(line):
            parts = line.split(None, 5)
            name = parts[5].strip() if len(parts) > 5 else "[anon]"
            if name.startswith("/") and "shadow" not in name:
                name = name.rsplit("/", 1)[-1]
            elif "shadow_shmemfile" in name:
                name = "[shadow shared memory]"
        elif line.startswith("Pss:"):
            kib[name] += int(line.split()[1])
    return kib


def total_pss_mib(pids):
    kib = 0
    for pid in pids:
        try:
            for line in open(f"/proc/{pid}/smaps_rollup"):
                if line.startswith("Pss:"):
                    kib += int(line.split()[1])
        except OSError:
            continue
    return kib / 1024


def write(out, best, peak, series):
    with open(out, "w") as f:
        json.dump(dict(best or {}, peak_total_pss_mib=round(peak[0], 1), peers_at_peak=peak[1],
                       series_wall_s_peers_total_pss_mib=series), f)


def main():
    out, binary = sys.argv[1], sys.argv[2]
    seen, best, peak, last_breakdown = False, None, (0.0, 0), 0.0
    series, started = [], time.time()
    while True:
        pids = peers(binary)
        if not pids:
            if seen:
                return
            time.sleep(5)
            continue
        seen = True
        now_total = total_pss_mib(pids)
        series.append([round(time.time() - started), len(pids), round(now_total, 1)])
        if now_total > peak[0]:
            peak = (now_total, len(pids))
        if time.time() - last_breakdown >= 20:
            last_breakdown = time.time()
            total, alive = collections.Counter(), 0
            for pid in pids:
                try:
                    total.update(pss_by_mapping(pid))
                    alive += 1
                except OSError:
                    continue
            if alive and alive >= (best or {}).get("peers", 0):
                best = {
                    "peers": alive,
                    "pss_kib_per_peer": {k: round(v / alive) for k, v in total.most_common(12)},
                    "total_pss_kib_per_peer": round(sum(total.values()) / alive),
                }
        write(out, best, peak, series)
        time.sleep(5)


if __name__ == "__main__":
    main()
