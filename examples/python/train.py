"""A plain training loop (no framework) on swarm_progress: a seed and two trainers of different
speeds in one collaboration, each printing the swarm's progress as it goes.

    pip install ./python
    python examples/python/train.py                  # seed and two trainers in this process
    python examples/python/train.py --epochs 5

In a real collaboration each trainer is its own process on its own machine: the seed prints
its address, and every trainer passes it as DHT(initial_peers=[...]).
"""

import argparse
import threading
import time

from swarm_progress import DHT, ProgressTracker, get_dht_time


def train(name, initial_peers, batch_size, step_seconds, epochs, prefix, target):
    dht = DHT(initial_peers=initial_peers)
    tracker = ProgressTracker(dht, prefix, target, min_refresh_period=0.2)
    local_epoch, samples = tracker.global_epoch, 0
    try:
        while local_epoch < epochs:
            time.sleep(step_seconds)  # one "training step" of batch_size samples
            samples += batch_size
            tracker.report_local_progress(local_epoch, samples)
            if tracker.ready_to_update_epoch:
                with tracker.pause_updates():
                    local_epoch = tracker.update_epoch(tracker.global_epoch + 1)
                    samples = 0
                progress = tracker.global_progress
                print(
                    f"{name}: epoch {local_epoch} "
                    f"({progress.num_peers} peers, {tracker.performance_ema.samples_per_second:.0f} samples/s here)",
                    flush=True,
                )
            elif samples % (batch_size * 10) == 0:
                progress = tracker.global_progress
                eta = max(0.0, tracker.estimated_next_update_time - get_dht_time())
                print(
                    f"{name}: {progress.samples_accumulated}/{progress.target_batch_size} samples "
                    f"of epoch {progress.epoch}, next epoch in ~{eta:.1f} s",
                    flush=True,
                )
    finally:
        tracker.shutdown()
        dht.shutdown()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--prefix", default="example")
    parser.add_argument("--target-batch-size", type=int, default=512)
    args = parser.parse_args()

    seed = DHT()  # no initial peers: the way in for the others
    print(f"seed listening on {seed.get_visible_maddrs()[0]}", flush=True)
    trainers = [
        threading.Thread(
            target=train,
            args=(name, seed.get_visible_maddrs(), batch, step, args.epochs, args.prefix,
                  args.target_batch_size),
        )
        for name, batch, step in (("fast", 32, 0.1), ("slow", 16, 0.2))
    ]
    for trainer in trainers:
        trainer.start()
    for trainer in trainers:
        trainer.join()
    seed.shutdown()
    print("done", flush=True)


if __name__ == "__main__":
    main()
