#!/usr/bin/env bash
# Every test: the Rust workspace's, then the Python package's. The package is installed with
# the README's own command (`pip install ./python`) into a virtual environment under target/,
# built with the dev profile so it reuses what `cargo test` just compiled; pytest then runs
# python/tests against it, with the command line the mixed-swarm test starts.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace
cargo build --quiet -p swarm-progress-cli --bin swarm-progress
VENV=${SWARM_PROGRESS_VENV:-target/python-venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "pytest>=7"
MATURIN_PEP517_ARGS="--profile dev" \
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall ./python
SWARM_PROGRESS_BIN="${CARGO_TARGET_DIR:-target}/debug/swarm-progress" \
  "$VENV/bin/python" -m pytest -q python/tests
