"""Shared fixtures: a seed DHT, the Rust command line, and waiting for a condition with a
deadline (never a fixed sleep)."""

import os
import pathlib
import subprocess
import time

import pytest

from swarm_progress import DHT

REPO = pathlib.Path(__file__).resolve().parents[2]


def wait_until(condition, timeout=30.0, message="condition"):
    """Polls `condition` every 20 ms until it is true; fails the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{message}: not reached within {timeout} s")
        time.sleep(0.02)


@pytest.fixture
def seed():
    """A DHT with no initial peers, the way in for the others."""
    dht = DHT(start=True)
    yield dht
    dht.shutdown()


@pytest.fixture(scope="session")
def cli_binary():
    """The `swarm-progress` command line: $SWARM_PROGRESS_BIN, or built from this repository."""
    given = os.environ.get("SWARM_PROGRESS_BIN")
    if given:
        return given
    subprocess.run(
        ["cargo", "build", "--quiet", "-p", "swarm-progress-cli", "--bin", "swarm-progress"],
        cwd=REPO,
        check=True,
    )
    target = os.environ.get("CARGO_TARGET_DIR", str(REPO / "target"))
    return str(pathlib.Path(target) / "debug" / "swarm-progress")
