"""A private collaboration from Python: the network key, admission tokens and the authority
made by the `swarm-progress` command line, passed to DHT(network_key_path=, token_path=,
authority=), over real nodes on 127.0.0.1."""

import re
import subprocess

import pytest

from swarm_progress import DHT, ProgressTracker, SwarmProgressError

from conftest import wait_until

FAST = dict(min_refresh_period=0.1, default_refresh_period=0.2, max_refresh_period=0.5)


def cli(binary, *args):
    return subprocess.run([binary, *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def collaboration(tmp_path, cli_binary):
    """A network key, an authority, and two trainers' identities with their tokens."""
    cli(cli_binary, "keygen", "--network-key", "--out", str(tmp_path / "swarm.key"))
    printed = cli(cli_binary, "authority", "new", "--out", str(tmp_path / "authority.key"))
    authority = re.search(r'authority = "(12D3KooW\w+)"', printed).group(1)
    peers = []
    for name in ("a", "b"):
        identity = tmp_path / f"{name}.id"
        peer_id = DHT(identity_path=identity, start=False).peer_id
        token = tmp_path / f"{name}.token"
        cli(cli_binary, "authority", "issue", "--key", str(tmp_path / "authority.key"),
            "--peer", peer_id, "--expires", "1d", "--out", str(token))
        peers.append(dict(identity_path=identity, token_path=token))
    return dict(network_key_path=tmp_path / "swarm.key", authority=authority, peers=peers)


def test_admitted_peers_count_each_other_and_strangers_cannot_join(collaboration):
    private = dict(network_key_path=collaboration["network_key_path"],
                   authority=collaboration["authority"])
    a_dht = DHT(**collaboration["peers"][0], **private)
    b_dht = DHT(initial_peers=a_dht.get_visible_maddrs(), **collaboration["peers"][1], **private)
    a = ProgressTracker(a_dht, "private", 1000, **FAST)
    b = ProgressTracker(b_dht, "private", 1000, **FAST)
    try:
        a.report_local_progress(0, 10)
        b.report_local_progress(0, 20)
        wait_until(lambda: a.global_progress.num_peers == 2, message="a never counted b")
        wait_until(lambda: a.global_progress.samples_accumulated == 30, message="samples")
        # Without the network key, the handshake fails: the stranger never reaches the swarm.
        with pytest.raises(TimeoutError, match="initial_peers"):
            DHT(initial_peers=a_dht.get_visible_maddrs(), request_timeout=2)
        # With the key but without a token, a tracker refuses to start.
        keyed = DHT(initial_peers=a_dht.get_visible_maddrs(), **private)
        with pytest.raises(SwarmProgressError, match="admission"):
            ProgressTracker(keyed, "private", 1000, **FAST)
        keyed.shutdown()
        assert a.global_progress.num_peers == 2
    finally:
        a.shutdown()
        b.shutdown()
        a_dht.shutdown()
        b_dht.shutdown()


def test_a_token_for_another_peer_is_refused(collaboration):
    private = dict(network_key_path=collaboration["network_key_path"],
                   authority=collaboration["authority"])
    # Peer a's identity with peer b's token.
    dht = DHT(identity_path=collaboration["peers"][0]["identity_path"],
              token_path=collaboration["peers"][1]["token_path"], **private)
    try:
        with pytest.raises(SwarmProgressError, match="admission"):
            ProgressTracker(dht, "private", 1000, **FAST)
    finally:
        dht.shutdown()
