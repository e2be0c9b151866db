"""Every method of DHT and ProgressTracker over real nodes on 127.0.0.1, and every refusal."""

import math
import subprocess
import sys
import threading
import time

import pytest

import swarm_progress
from swarm_progress import DHT, ProgressTracker, SwarmProgressError, get_dht_time

from conftest import wait_until

FAST = dict(min_refresh_period=0.1, default_refresh_period=0.2, max_refresh_period=0.5)


def joined(seed, **kwargs):
    return DHT(initial_peers=seed.get_visible_maddrs(), **kwargs)


# ---- DHT ------------------------------------------------------------------------------------


def test_a_seed_dht_shows_addresses_that_others_join_through(seed):
    assert seed.is_alive()
    assert seed.peer_id.startswith("12D3KooW")
    maddrs = seed.get_visible_maddrs()
    assert maddrs and all(m.startswith("/ip4/127.0.0.1/tcp/") for m in maddrs)
    assert all(m.endswith("/p2p/" + seed.peer_id) for m in maddrs)
    with joined(seed) as other:
        assert other.peer_id != seed.peer_id
        wait_until(lambda: seed.connected_peers >= 1, message="the seed never saw the peer")
    assert not other.is_alive()


def test_an_identity_file_keeps_the_peer_id(tmp_path):
    path = tmp_path / "peer.key"
    with DHT(identity_path=path) as first:
        peer_id = first.peer_id
    assert path.exists()
    with DHT(identity_path=str(path)) as second:
        assert second.peer_id == peer_id


def test_start_false_waits_for_run_in_background():
    dht = DHT(start=False)
    assert not dht.is_alive()
    with pytest.raises(SwarmProgressError, match="not running"):
        dht.get_visible_maddrs()
    dht.run_in_background(await_ready=True)
    assert dht.is_alive() and dht.get_visible_maddrs()
    dht.shutdown()
    assert not dht.is_alive()


def test_a_client_dht_listens_on_nothing(seed):
    with joined(seed, client_mode=True) as client:
        assert client.client_mode
        assert client.get_visible_maddrs() == []


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(initial_peers="/ip4/127.0.0.1/tcp/1"), "initial_peers"),
        (dict(initial_peers=["not a multiaddr"]), "initial_peers"),
        (dict(initial_peers=["/ip4/127.0.0.1/tcp/1"]), "initial_peers"),  # no /p2p/<peer id>
        (dict(host_maddrs=["/ip4/127.0.0.1/tcp/x"]), "host_maddrs"),
        (dict(host_maddrs=[]), "host_maddrs"),
        (dict(request_timeout=0), "request_timeout"),
        (dict(token_path="/nonexistent/token"), "token_path"),
        (dict(network_key_path="/nonexistent/key"), "network_key_path"),
        (dict(authority="not-a-peer-id"), "authority"),
        (dict(revoked_peers=["12D3KooWnope"]), "revoked_peers"),
    ],
)
def test_an_impossible_dht_argument_is_a_value_error_naming_it(kwargs, argument):
    with pytest.raises(ValueError, match=f"^{argument}\\b"):
        DHT(**kwargs)


def test_an_unreachable_initial_peer_times_out_with_the_gil_released(seed):
    # A peer id nobody listens for, on a port nobody listens on.
    ghost = seed.get_visible_maddrs()[0].rsplit("/tcp/", 1)[0] + "/tcp/1/p2p/" + seed.peer_id
    ticks = 0
    done = threading.Event()

    def count_ticks():
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            time.sleep(0.001)

    ticker = threading.Thread(target=count_ticks)
    ticker.start()
    started = time.monotonic()
    try:
        with pytest.raises(TimeoutError, match="initial_peers"):
            DHT(initial_peers=[ghost], request_timeout=1.5)
    finally:
        done.set()
        ticker.join()
    assert time.monotonic() - started < 10
    # The other thread ran while the constructor waited: the wait did not hold the GIL.
    assert ticks > 100, ticks


# ---- ProgressTracker ------------------------------------------------------------------------


def test_two_trackers_count_each_other_and_move_epochs_together(seed):
    other_dht = joined(seed)
    a = ProgressTracker(seed, "api", 200, **FAST)
    b = ProgressTracker(other_dht, "api", 200, **FAST)
    try:
        assert a.prefix == "api" and a.target_batch_size == 200
        assert a.peer_id == seed.peer_id and not a.client_mode
        assert a.is_alive() and a.global_epoch == 0
        samples = 0
        while not (a.ready_to_update_epoch and b.ready_to_update_epoch):
            samples += 10
            a.report_local_progress(0, samples)
            b.report_local_progress(0, samples)
            assert samples < 2000, "never ready at 2000 samples each against a target of 200"
            time.sleep(0.05)
        wait_until(lambda: a.global_progress.num_peers == 2, message="a never counted b")
        local = a.local_progress
        assert local.peer_id == seed.peer_id and local.epoch == 0
        assert local.samples_accumulated == samples and local.time <= get_dht_time()
        assert a.performance_ema.samples_per_second > 0
        assert a.performance_ema.alpha == pytest.approx(0.1)
        assert a.estimated_next_update_time <= get_dht_time() + 1
        for tracker in (a, b):
            with tracker.pause_updates():
                assert tracker.performance_ema.paused
                assert tracker.update_epoch() == 1
            # Resuming is a message to the tracker's actors; the snapshot shows it shortly.
            wait_until(lambda: not tracker.performance_ema.paused, message="never resumed")
        assert a.local_progress.epoch == 1 and a.local_progress.samples_accumulated == 0
        wait_until(lambda: b.global_epoch == 1, message="b never saw epoch 1")
        assert not a.ready_to_update_epoch
        with a.pause_updates():
            assert a.update_epoch(5) == 5
        wait_until(lambda: b.global_progress.epoch == 5, message="b never saw a's epoch 5")
        assert b.ready_to_update_epoch  # the swarm is ahead of b: b should catch up
        progress = b.global_progress
        assert progress.target_batch_size == 200 and progress.num_clients == 0
        assert math.isfinite(progress.next_fetch_time)
        assert "epoch=5" in repr(progress)
    finally:
        assert a.shutdown() and b.shutdown()
        other_dht.shutdown()
    assert not a.is_alive()


def test_a_shut_down_tracker_stops_counting_at_once(seed):
    other_dht = joined(seed)
    watcher = ProgressTracker(seed, "leave", 1000, **FAST)
    leaver = ProgressTracker(other_dht, "leave", 1000, **FAST)
    leaver.report_local_progress(0, 10)
    wait_until(lambda: watcher.global_progress.num_peers == 2, message="never counted")
    assert leaver.shutdown(timeout=5)
    # metadata_expiration is 60 s: only the tombstone can make it leave this soon.
    wait_until(lambda: watcher.global_progress.num_peers == 1, timeout=15, message="still counted")
    with pytest.raises(SwarmProgressError, match="stopped"):
        leaver.report_local_progress(0, 20)
    assert leaver.shutdown()  # a second shutdown is a no-op
    watcher.shutdown()
    other_dht.shutdown()


def test_a_tracker_on_a_client_dht_is_a_client(seed):
    client_dht = joined(seed, client_mode=True)
    trainer = ProgressTracker(seed, "clients", 1000, **FAST)
    client = ProgressTracker(client_dht, "clients", 1000, **FAST)
    try:
        assert client.client_mode and client.local_progress.client_mode
        client.report_local_progress(3, 500)
        trainer.report_local_progress(0, 10)
        wait_until(
            lambda: trainer.global_progress.num_clients == 1,
            message="the trainer never counted the client",
        )
        # As in hivemind, a client's epoch does not drive the swarm's (its samples at the
        # swarm's epoch would count).
        assert trainer.global_epoch == 0 and trainer.global_progress.num_peers == 2
        assert trainer.global_progress.samples_accumulated == 10
    finally:
        client.shutdown()
        trainer.shutdown()
        client_dht.shutdown()


def test_update_epoch_needs_pause_and_pauses_do_not_nest(seed):
    with ProgressTracker(seed, "pause", 100, **FAST) as tracker:
        with pytest.raises(RuntimeError, match="pause_updates"):
            tracker.update_epoch()
        with tracker.pause_updates():
            with pytest.raises(SwarmProgressError, match="already paused"):
                with tracker.pause_updates():
                    pass
            assert tracker.update_epoch() == 1
        with pytest.raises(RuntimeError, match="pause_updates"):
            tracker.update_epoch()
    assert not tracker.is_alive()


def test_start_false_needs_start(seed):
    tracker = ProgressTracker(seed, "later", 100, start=False, **FAST)
    assert not tracker.is_alive()
    with pytest.raises(SwarmProgressError, match="not started"):
        tracker.global_progress
    assert tracker.shutdown()  # nothing to shut down
    tracker.start()
    tracker.start()  # a no-op
    assert tracker.is_alive() and tracker.global_epoch == 0
    tracker.shutdown()


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(target_batch_size=0), "target_batch_size"),
        (dict(target_batch_size=-5), "target_batch_size"),
        (dict(prefix=""), "prefix"),
        (dict(prefix="has space"), "prefix"),
        (dict(min_refresh_period=-1), "min_refresh_period"),
        (dict(min_refresh_period=20, max_refresh_period=10), "min_refresh_period"),
        (dict(performance_ema_alpha=0), "performance_ema_alpha"),
        (dict(performance_ema_alpha=1.5), "performance_ema_alpha"),
        (dict(metadata_expiration=float("nan")), "metadata_expiration"),
        (dict(expected_drift_rate=-0.1), "expected_drift_rate"),
        (dict(protocol="v3"), "protocol"),
        (dict(request_timeout=0), "request_timeout"),
    ],
)
def test_an_impossible_tracker_argument_is_a_value_error_naming_it(seed, kwargs, argument):
    arguments = dict(prefix="bad", target_batch_size=100) | kwargs
    with pytest.raises(ValueError, match=f"^{argument}\\b"):
        ProgressTracker(seed, **arguments)


def test_impossible_call_arguments_are_value_errors(seed):
    with ProgressTracker(seed, "calls", 100, **FAST) as tracker:
        with pytest.raises(ValueError, match="^local_epoch: "):
            tracker.report_local_progress(-1, 0)
        with pytest.raises(ValueError, match="^samples_accumulated: "):
            tracker.report_local_progress(0, -3)
        with tracker.pause_updates():
            with pytest.raises(ValueError, match="^new_epoch: "):
                tracker.update_epoch(-2)
        with pytest.raises(ValueError, match="^timeout: "):
            tracker.shutdown(timeout=-1)
        with pytest.raises(TypeError):
            tracker.report_local_progress("zero", 0)
        assert tracker.is_alive()  # a refused call changes nothing


def test_a_tracker_needs_a_running_dht():
    dht = DHT()
    dht.shutdown()
    with pytest.raises(SwarmProgressError, match="DHT is not running"):
        ProgressTracker(dht, "stopped", 100)


def test_several_trackers_share_one_dht(seed):
    other_dht = joined(seed)
    first = ProgressTracker(other_dht, "room-a", 100, **FAST)
    second = ProgressTracker(other_dht, "room-b", 100, **FAST)
    watcher = ProgressTracker(seed, "room-b", 100, **FAST)
    try:
        second.report_local_progress(0, 7)
        wait_until(lambda: watcher.global_progress.num_peers == 2, message="room-b not shared")
        first.shutdown()
        # The first tracker's shutdown leaves the node to the second.
        second.report_local_progress(0, 9)
        wait_until(
            lambda: watcher.global_progress.samples_accumulated == 9,
            message="the second tracker lost its node when the first shut down",
        )
    finally:
        second.shutdown()
        watcher.shutdown()
        other_dht.shutdown()


EXITING_PEER = """
import sys
import threading
import time
from swarm_progress import DHT, ProgressTracker
dht = DHT(initial_peers=[sys.argv[1]])
tracker = ProgressTracker(dht, "exit", 1000, min_refresh_period=0.1,
                          default_refresh_period=0.2, max_refresh_period=0.5)
tracker.report_local_progress(0, 10)
# A daemon thread still holds the tracker when the interpreter exits (as a data loader or
# logger thread of a trainer might): it is never dropped, so only the exit hook can shut it down.
threading.Thread(target=lambda held: time.sleep(3600), args=(tracker,), daemon=True).start()
del tracker
print("reported", flush=True)
sys.stdin.readline()
"""


def test_interpreter_exit_shuts_trackers_down_with_their_tombstones(seed):
    watcher = ProgressTracker(seed, "exit", 1000, **FAST)
    peer = subprocess.Popen(
        [sys.executable, "-c", EXITING_PEER, seed.get_visible_maddrs()[0]],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert peer.stdout.readline().strip() == "reported"
        wait_until(lambda: watcher.global_progress.num_peers == 2, message="never counted")
        peer.stdin.close()  # the script ends without calling shutdown()
        assert peer.wait(timeout=30) == 0
        # metadata_expiration is 60 s: only a tombstone stored at exit removes it this soon.
        wait_until(lambda: watcher.global_progress.num_peers == 1, timeout=15, message="counted")
    finally:
        peer.kill()
        watcher.shutdown()


def test_the_module_describes_itself():
    assert swarm_progress.__version__
    assert issubclass(SwarmProgressError, RuntimeError)
    assert abs(get_dht_time() - time.time()) < 1
    # What an editor shows: the docstrings of the classes and properties.
    assert ProgressTracker.__doc__.startswith("Tracks the swarm's training progress")
    assert ProgressTracker.ready_to_update_epoch.__doc__.startswith("Whether this peer should")
