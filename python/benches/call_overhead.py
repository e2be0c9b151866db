"""What a call into the tracker costs a Python training loop, per call (median of runs).

    pip install ./python     # a release build
    python python/benches/call_overhead.py --out bench-results/python-calls/calls.json

Measures the calls a training step makes (ready_to_update_epoch, report_local_progress) and
the other reads, on a tracker of a one-peer swarm over a real node, beside an empty method call
of a Python object (what any call costs). The goal (issue #18): under 5 microseconds.
"""

import argparse
import json
import platform
import statistics
import timeit

import swarm_progress
from swarm_progress import DHT, ProgressTracker


class Empty:
    def method(self):
        return True


def per_call_us(statement, env, number, repeat):
    runs = timeit.repeat(statement, globals=env, number=number, repeat=repeat)
    return [run / number * 1e6 for run in runs]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--number", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--out")
    args = parser.parse_args()

    dht = DHT()
    tracker = ProgressTracker(dht, "bench", 10**12)
    env = {"tracker": tracker, "empty": Empty(), "n": [0]}
    statements = {
        "empty Python method call": "empty.method()",
        "ready_to_update_epoch": "tracker.ready_to_update_epoch",
        "report_local_progress": "n[0] += 1; tracker.report_local_progress(0, n[0])",
        "global_epoch": "tracker.global_epoch",
        "estimated_next_update_time": "tracker.estimated_next_update_time",
        "global_progress": "tracker.global_progress",
    }
    results = {}
    for name, statement in statements.items():
        runs = per_call_us(statement, env, args.number, args.repeat)
        results[name] = {"median_us": statistics.median(runs), "runs_us": runs}
        print(f"{name:32} median {statistics.median(runs):.3f} us "
              f"(min {min(runs):.3f}, max {max(runs):.3f})", flush=True)
    tracker.shutdown()
    dht.shutdown()
    if args.out:
        with open(args.out, "w") as out:
            json.dump(
                {
                    "swarm_progress": swarm_progress.__version__,
                    "python": platform.python_version(),
                    "number": args.number,
                    "repeat": args.repeat,
                    "calls": results,
                },
                out,
                indent=1,
            )


if __name__ == "__main__":
    main()
