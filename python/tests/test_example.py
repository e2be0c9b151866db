"""The README's Python example runs to its end: a seed and two trainers reach their epochs."""

import subprocess
import sys

from conftest import REPO


def test_the_example_trains_two_peers_to_their_epochs():
    run = subprocess.run(
        [sys.executable, str(REPO / "examples" / "python" / "train.py"), "--epochs", "2",
         "--target-batch-size", "256"],
        capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("seed listening on /ip4/127.0.0.1/tcp/")
    for name in ("fast", "slow"):
        # Both counted each other at the first epoch; each reached the last (by then the
        # other may have left).
        assert any(l.startswith(f"{name}: epoch 1 (2 peers") for l in lines), run.stdout
        assert any(l.startswith(f"{name}: epoch 2 (") for l in lines), run.stdout
    assert lines[-1] == "done"
