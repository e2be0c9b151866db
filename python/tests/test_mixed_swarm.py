"""Python trackers and the Rust command line in one collaboration: a `swarm-progress node`
seed, a `swarm-progress train` trainer and two Python trackers over real nodes on 127.0.0.1."""

import json
import subprocess
import threading
import time

from swarm_progress import DHT, ProgressTracker

from conftest import wait_until


class Process:
    """A command-line process whose stdout lines are collected by a thread."""

    def __init__(self, args):
        self.child = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        self.lines = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.child.stdout:
            self.lines.append(line.strip())

    def line_where(self, predicate, message, timeout=60.0):
        return wait_until(
            lambda: next((l for l in list(self.lines) if predicate(l)), None), timeout, message
        )

    def stop(self):
        if self.child.poll() is None:
            self.child.terminate()
            try:
                self.child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.child.kill()


def test_python_trackers_and_a_rust_trainer_share_a_rust_seed(cli_binary):
    seed = Process([cli_binary, "node", "--listen", "/ip4/127.0.0.1/tcp/0", "--http", ""])
    rust = None
    dhts, trackers = [], []
    try:
        address = seed.line_where(lambda l: l.startswith("listening on "), "no seed address")
        address = address[len("listening on "):]
        common = ["--bootstrap", address, "--prefix", "mixed", "--target-batch-size", "300"]
        rust = Process(
            [cli_binary, "train", *common, "--protocol", "v2", "--http", "",
             "--batch-size", "10", "--period-ms", "100", "--epochs", "3", "--json"]
        )
        for _ in range(2):
            dht = DHT(initial_peers=[address])
            dhts.append(dht)
            trackers.append(
                ProgressTracker(dht, "mixed", 300, min_refresh_period=0.1,
                                default_refresh_period=0.2, max_refresh_period=0.5)
            )
        epochs = [0, 0]
        samples = [0, 0]
        deadline = time.monotonic() + 90
        # Train until the Rust trainer is done with its 3 epochs.
        while rust.child.poll() is None:
            assert time.monotonic() < deadline, "the Rust trainer never finished its epochs"
            for i, tracker in enumerate(trackers):
                samples[i] += 10
                tracker.report_local_progress(epochs[i], samples[i])
                if tracker.ready_to_update_epoch:
                    with tracker.pause_updates():
                        epochs[i] = tracker.update_epoch(tracker.global_epoch + 1)
                        samples[i] = 0
            time.sleep(0.1)
        assert rust.child.returncode == 0
        # The Rust trainer counted both Python trackers, and they counted it.
        rust.line_where(
            lambda l: l.startswith("{") and json.loads(l).get("num_peers") == 3,
            "the Rust trainer never counted 3 trainers",
        )
        done = rust.line_where(lambda l: l.startswith("trained to epoch "), "no final line")
        reached = int(done[len("trained to epoch "):])
        assert reached >= 3
        assert all(e >= reached - 1 for e in epochs), (epochs, reached)
        assert all(t.global_epoch >= 3 for t in trackers)
    finally:
        for tracker in trackers:
            tracker.shutdown()
        for dht in dhts:
            dht.shutdown()
        if rust:
            rust.stop()
        seed.stop()
