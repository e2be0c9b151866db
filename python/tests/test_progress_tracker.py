"""hivemind's tests/test_optimizer.py::test_progress_tracker, against swarm_progress.

The same workers, batch sizes, periods, target, refresh periods and assertions. Two
differences, both forced by the setting rather than chosen:

- hivemind runs the workers as processes "because RSASignatureValidator inside trackers uses
  process-wide RSA keys"; here every DHT has its own key, so they are threads (the blocking
  calls release the GIL). `private_key=RSAPrivateKey()` is hivemind's and is dropped.
- time comes from swarm_progress.get_dht_time instead of hivemind.get_dht_time.
"""

import threading
import time

from swarm_progress import DHT, ProgressTracker, get_dht_time


def test_progress_tracker():
    # note to a curious reader: no, you cannot reduce the timings without compromising realism or stability
    prefix = "my_exp"
    target_batch_size = 256
    dht_root = DHT(start=True)
    barrier = threading.Barrier(parties=5)
    delayed_start_evt = threading.Event()
    finished_evt = threading.Event()
    emas = [0.0] * 5
    errors = []

    def run_worker(index: int, batch_size: int, period: float, **kwargs):
        try:
            dht = DHT(initial_peers=dht_root.get_visible_maddrs(), start=True)
            tracker = ProgressTracker(
                dht,
                prefix,
                target_batch_size,
                start=True,
                min_refresh_period=0.1,
                default_refresh_period=0.2,
                max_refresh_period=0.5,
                **kwargs,
            )

            barrier.wait()
            if index == 4:
                delayed_start_evt.wait()

            local_epoch = 2 if index == 4 else 0
            samples_accumulated = 0

            while True:
                time.sleep(period)
                if finished_evt.is_set():
                    break

                samples_accumulated += batch_size
                tracker.report_local_progress(local_epoch, samples_accumulated)

                if tracker.ready_to_update_epoch:
                    with tracker.pause_updates():
                        local_epoch = tracker.update_epoch(local_epoch + 1)
                        samples_accumulated = 0

                    if index == 4 and local_epoch >= 5:
                        time.sleep(0.5)
                        break

            emas[index] = tracker.performance_ema.samples_per_second
            tracker.shutdown()
            dht.shutdown()
        except BaseException as error:  # a failed worker must fail the test, not hang it
            errors.append(error)
            barrier.abort()
            raise

    workers = [
        threading.Thread(target=run_worker, kwargs=dict(index=1, batch_size=12, period=0.6)),
        threading.Thread(target=run_worker, kwargs=dict(index=2, batch_size=16, period=0.5)),
        threading.Thread(target=run_worker, kwargs=dict(index=3, batch_size=24, period=0.4)),
        threading.Thread(target=run_worker, kwargs=dict(index=4, batch_size=64, period=0.4)),
    ]
    for worker in workers:
        worker.start()

    tracker = ProgressTracker(
        dht_root,
        prefix,
        target_batch_size,
        start=True,
        min_refresh_period=0.1,
        default_refresh_period=0.2,
        max_refresh_period=0.5,
    )
    barrier.wait(timeout=60)

    current_step = 0
    last_timestamp = get_dht_time()
    step_time_deltas = []

    deadline = time.monotonic() + 120  # hivemind's loop has none; a failed swarm must not hang CI
    while current_step < 6:
        assert time.monotonic() < deadline, f"epochs {step_time_deltas} after 120 s"
        assert not errors, errors
        time.sleep(0.1)
        if tracker.global_progress.epoch > current_step:
            time_delta = get_dht_time() - last_timestamp
            current_step = tracker.global_progress.epoch
            if current_step == 2:
                delayed_start_evt.set()

            last_timestamp = get_dht_time()
            step_time_deltas.append(time_delta)

    finished_evt.set()
    for worker in workers:
        worker.join(timeout=60)
    assert not errors, errors

    tracker.shutdown()
    dht_root.shutdown()
    assert not tracker.is_alive()

    mean_step_time = sum(step_time_deltas) / len(step_time_deltas)
    for i in (0, 1, 5):
        assert 1.05 * mean_step_time < step_time_deltas[i] < 2.0 * mean_step_time
    for i in (2, 3, 4):
        assert 0.5 * mean_step_time < step_time_deltas[i] < 0.95 * mean_step_time
    assert emas[1] < emas[2] < emas[3] < emas[4]
    assert tracker.performance_ema.samples_per_second < 1e-9
