"""swarm_progress: hivemind's DHT and ProgressTracker interface over swarm-progress.

A hivemind training loop switches trackers by changing its imports::

    from swarm_progress import DHT, ProgressTracker

Blocking calls (creating a DHT or a tracker, pause_updates(), update_epoch(), shutdown())
release the GIL and are bounded by request_timeout; reads and reports never block.
"""

import os
from types import TracebackType
from typing import Iterable, List, Optional, Type, Union

__version__: str

_Path = Union[str, "os.PathLike[str]"]

class SwarmProgressError(RuntimeError):
    """A swarm-progress operation failed: the tracker is stopped or failed, admission was
    refused, or the DHT failed."""

def get_dht_time() -> float:
    """The current DHT time, seconds since the epoch (hivemind's get_dht_time())."""

class DHT:
    """A libp2p node (Kademlia and gossipsub) that trackers share, as hivemind's DHT."""

    def __init__(
        self,
        initial_peers: Optional[Iterable[object]] = None,
        host_maddrs: Optional[Iterable[object]] = None,
        identity_path: Optional[_Path] = None,
        client_mode: bool = False,
        start: bool = True,
        *,
        network_key_path: Optional[_Path] = None,
        token_path: Optional[_Path] = None,
        authority: Optional[str] = None,
        revoked_peers: Optional[List[str]] = None,
        request_timeout: float = 10.0,
    ) -> None:
        """Creates a node; with start=True it listens and has reached one of initial_peers
        (if any) when this returns, or raises TimeoutError after request_timeout.

        initial_peers: multiaddrs with /p2p/<peer id> of peers in the swarm (none for the
        first peer). host_maddrs: addresses to listen on (default /ip4/127.0.0.1/tcp/0).
        identity_path: the peer's key file, created if missing (default: a new identity).
        client_mode: listen on nothing; trackers on this node are clients.
        network_key_path, token_path, authority, revoked_peers: a private collaboration.
        Raises ValueError naming the argument that is impossible."""
    def run_in_background(self, await_ready: bool = True, timeout: Optional[float] = None) -> None:
        """Starts the node if it is not running (for DHT(start=False))."""
    def is_alive(self) -> bool: ...
    @property
    def peer_id(self) -> str:
        """This peer's id (12D3KooW...)."""
    @property
    def client_mode(self) -> bool: ...
    @property
    def connected_peers(self) -> int:
        """Peers this node has a connection with."""
    def get_visible_maddrs(self, latest: bool = False) -> List[str]:
        """Addresses other peers pass as initial_peers, each with /p2p/<peer id>."""
    def shutdown(self) -> None:
        """Stops the node (shut its trackers down first)."""
    def __enter__(self) -> "DHT": ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...

class GlobalTrainingProgress:
    """The swarm's progress as this peer sees it."""

    epoch: int
    samples_accumulated: int
    target_batch_size: int
    num_peers: int
    num_clients: int
    eta_next_epoch: float
    next_fetch_time: float

class LocalTrainingProgress:
    """This peer's own progress, as it publishes it."""

    peer_id: str
    epoch: int
    samples_accumulated: int
    samples_per_second: float
    time: float
    client_mode: bool

class PerformanceEMA:
    """This peer's speed estimate."""

    alpha: float
    samples_per_second: float
    paused: bool

class PauseUpdates:
    """The context manager returned by ProgressTracker.pause_updates()."""

    def __enter__(self) -> None: ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...

class ProgressTracker:
    """Tracks the swarm's training progress and tells when to move to the next epoch
    (hivemind.optim.progress_tracker.ProgressTracker)."""

    def __init__(
        self,
        dht: DHT,
        prefix: str,
        target_batch_size: int,
        *,
        client_mode: Optional[bool] = None,
        min_refresh_period: float = 0.5,
        max_refresh_period: float = 10.0,
        default_refresh_period: float = 3.0,
        expected_drift_peers: float = 3.0,
        expected_drift_rate: float = 0.2,
        performance_ema_alpha: float = 0.1,
        metadata_expiration: float = 60.0,
        protocol: str = "v2",
        request_timeout: float = 10.0,
        start: bool = True,
    ) -> None:
        """A tracker of the collaboration prefix on dht. protocol "v2" pushes entries over
        gossip on events; "v1" is hivemind's protocol. With start=True it returns once its
        first read of the swarm is done. Raises ValueError naming an impossible argument."""
    def start(self) -> None:
        """Starts the tracker (a no-op if started)."""
    def is_alive(self) -> bool: ...
    @property
    def global_progress(self) -> GlobalTrainingProgress: ...
    @property
    def local_progress(self) -> LocalTrainingProgress: ...
    @property
    def global_epoch(self) -> int: ...
    @property
    def ready_to_update_epoch(self) -> bool:
        """Whether to move to the next epoch now."""
    @property
    def estimated_next_update_time(self) -> float:
        """DHT time at which the next epoch is expected."""
    @property
    def performance_ema(self) -> PerformanceEMA: ...
    @property
    def prefix(self) -> str: ...
    @property
    def target_batch_size(self) -> int: ...
    @property
    def client_mode(self) -> bool: ...
    @property
    def peer_id(self) -> str: ...
    def report_local_progress(
        self, local_epoch: int, samples_accumulated: int, update_global_samples: bool = True
    ) -> None:
        """Reports the local epoch and the samples accumulated in it. Does not wait."""
    def pause_updates(self) -> PauseUpdates:
        """with tracker.pause_updates(): ... holds updates while moving to a new epoch."""
    def update_epoch(self, new_epoch: Optional[int] = None) -> int:
        """Moves to new_epoch (default local epoch + 1); only inside pause_updates()."""
    def shutdown(self, timeout: Optional[float] = None) -> bool:
        """Stores a tombstone and stops; False if timeout passed first. Keeps the DHT."""
    def __enter__(self) -> "ProgressTracker": ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...
