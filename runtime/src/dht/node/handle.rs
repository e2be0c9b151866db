//! [`NodeHandle`]: the cheap, cloneable way into a running node (start it, store, read, ask for
//! its addresses, block peers, stop it), and [`NodeInfo`].

use std::sync::Arc;
use std::time::Duration;

use actix::{Arbiter, System};
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};

use super::command::Command;
use super::event_loop::EventLoop;
use super::swarm::{build_swarm, libp2p_keypair, peer_id_of};
use super::{NodeConfig, NodeStats, PushSink};
use crate::clock::SharedClock;
use crate::dht::kad_store::SharedRejections;
use crate::dht::threads::NodeThreads;
use crate::dht::DhtError;
use crate::identity::{Identity, PeerKey};
use crate::records::{ProgressRecord, RejectionCounts, SignedEntry};

/// What a node reports about itself.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// Its peer id.
    pub peer_id: PeerId,
    /// The addresses it listens on, each with `/p2p/<peer id>`.
    pub listen_addrs: Vec<Multiaddr>,
    /// Peers it has a connection with.
    pub connected_peers: usize,
}

/// A running node. Cloning shares the node; the node stops on [`NodeHandle::stop`] or when the
/// last handle is dropped.
#[derive(Clone)]
pub struct NodeHandle {
    commands: mpsc::UnboundedSender<Command>,
    peer_id: PeerId,
    stats: Arc<NodeStats>,
    rejections: SharedRejections,
    request_timeout: Duration,
}

impl std::fmt::Debug for NodeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeHandle")
            .field("peer_id", &self.peer_id)
            .finish_non_exhaustive()
    }
}

impl NodeHandle {
    /// Starts a node for `identity` on a thread of its own. Returns once the swarm is built and
    /// listening; fails on a bad listen address or bootstrap address without a peer id.
    ///
    /// Works from any thread: inside an actix `System` the node's thread is an Arbiter of that
    /// System (it stops with it); elsewhere (a plain thread, a tokio runtime) it is a thread
    /// running a System of its own, which ends when the node stops.
    pub fn start(
        identity: &Identity,
        config: NodeConfig,
        clock: SharedClock,
    ) -> Result<Self, DhtError> {
        Self::start_on(identity, config, clock, None)
    }

    /// [`NodeHandle::start`] on one of the shared `threads` (`None`: a new thread of its own).
    /// Must not be called from one of those threads: it waits for the node to be built there.
    pub fn start_on(
        identity: &Identity,
        config: NodeConfig,
        clock: SharedClock,
        threads: Option<&NodeThreads>,
    ) -> Result<Self, DhtError> {
        for addr in &config.bootstrap {
            if peer_id_of(addr).is_none() {
                return Err(DhtError::Failed(format!(
                    "bootstrap address {addr} has no /p2p/<peer id>"
                )));
            }
        }
        let key = libp2p_keypair(identity)?;
        let peer_id = key.public().to_peer_id();
        let rejections = SharedRejections::default();
        let stats = Arc::new(NodeStats::default());
        let (commands, receiver) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let loop_stats = stats.clone();
        let loop_rejections = rejections.clone();
        let request_timeout = config.request_timeout;
        let node_loop = async move {
            let built = build_swarm(
                key,
                &config,
                clock.clone(),
                loop_rejections.clone(),
                loop_stats.clone(),
            )
            .and_then(|mut swarm| {
                for addr in &config.listen {
                    swarm
                        .listen_on(addr.clone())
                        .map_err(|e| DhtError::Failed(format!("cannot listen on {addr}: {e}")))?;
                }
                Ok(swarm)
            });
            match built {
                Ok(swarm) => {
                    let _ = ready_tx.send(Ok(()));
                    EventLoop::new(swarm, receiver, config, clock, loop_stats, loop_rejections)
                        .run()
                        .await;
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            }
        };
        spawn_node_loop(node_loop, threads)?;
        ready_rx
            .recv_timeout(Duration::from_secs(30))
            .map_err(|_| DhtError::Failed("the node did not start".into()))??;
        Ok(Self {
            commands,
            peer_id,
            stats,
            rejections,
            request_timeout,
        })
    }

    /// The node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// Counters.
    pub fn stats(&self) -> &NodeStats {
        &self.stats
    }

    /// Entries this node refused (inbound puts and records read from the network), by reason.
    pub fn rejections(&self) -> RejectionCounts {
        self.rejections.get()
    }

    /// Whether the event loop is running.
    pub fn is_running(&self) -> bool {
        !self.commands.is_closed()
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, DhtError>>) -> Command,
    ) -> Result<T, DhtError> {
        let (reply, response) = oneshot::channel();
        self.commands
            .send(make(reply))
            .map_err(|_| DhtError::Unavailable)?;
        let limit = self.request_timeout + Duration::from_secs(1);
        match tokio::time::timeout(limit, response).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(DhtError::Unavailable),
            Err(_) => Err(DhtError::Timeout(limit)),
        }
    }

    /// Stores one signed entry.
    pub async fn store(
        &self,
        key: String,
        subkey: PeerKey,
        entry: SignedEntry,
    ) -> Result<bool, DhtError> {
        self.call(|reply| Command::Store {
            key,
            subkey,
            entry,
            reply,
        })
        .await
    }

    /// Reads a record.
    pub async fn get(&self, key: String, latest: bool) -> Result<Option<ProgressRecord>, DhtError> {
        self.call(|reply| Command::Get { key, latest, reply }).await
    }

    /// v2: publishes one signed entry on the key's gossip topic (checked first as receivers
    /// will check it). Reaching no peer is not an error.
    pub async fn push(
        &self,
        key: String,
        subkey: PeerKey,
        entry: SignedEntry,
    ) -> Result<(), DhtError> {
        self.call(|reply| Command::Push {
            key,
            subkey,
            entry,
            reply,
        })
        .await
    }

    /// v2: follows the key's gossip topic; every accepted entry is handed to `sink` (on the
    /// node's thread).
    pub async fn subscribe(&self, key: String, sink: PushSink) -> Result<(), DhtError> {
        self.call(|reply| Command::Subscribe { key, sink, reply })
            .await
    }

    /// Test hook: publishes raw bytes on the key's gossip topic, bypassing every local check
    /// (what a forging peer would do).
    #[doc(hidden)]
    pub async fn push_raw(&self, key: String, value: Vec<u8>) -> Result<(), DhtError> {
        self.call(|reply| Command::PushRaw { key, value, reply })
            .await
    }

    /// Test hook: sends raw bytes as the record under `key` to the connected peers, bypassing
    /// every local check (what a forging peer would do).
    #[doc(hidden)]
    pub async fn put_raw(&self, key: String, value: Vec<u8>) -> Result<(), DhtError> {
        self.call(|reply| Command::PutRaw { key, value, reply })
            .await
    }

    /// The node's peer id, listen addresses and connection count.
    pub async fn info(&self) -> Result<NodeInfo, DhtError> {
        let (reply, response) = oneshot::channel();
        self.commands
            .send(Command::Info { reply })
            .map_err(|_| DhtError::Unavailable)?;
        response.await.map_err(|_| DhtError::Unavailable)
    }

    /// Disconnects from `peers` and refuses them from now on, both ways (the deny list).
    pub async fn block_peers(&self, peers: &[PeerId]) -> Result<(), DhtError> {
        let peers = peers.to_vec();
        self.call(|reply| Command::Block {
            peers,
            blocked: true,
            reply,
        })
        .await
    }

    /// Takes `peers` off the deny list (connections are made again on demand).
    pub async fn unblock_peers(&self, peers: &[PeerId]) -> Result<(), DhtError> {
        let peers = peers.to_vec();
        self.call(|reply| Command::Block {
            peers,
            blocked: false,
            reply,
        })
        .await
    }

    /// Stops the node (does not wait).
    pub fn stop(&self) {
        let _ = self.commands.send(Command::Stop);
    }
}

/// Runs `node_loop` on one of the shared `threads`, or on a thread of its own: an Arbiter of the
/// calling thread's actix System when there is one, else a new thread with its own System. A
/// thread of its own ends with the loop; a shared one does not.
fn spawn_node_loop(
    node_loop: impl std::future::Future<Output = ()> + Send + 'static,
    threads: Option<&NodeThreads>,
) -> Result<(), DhtError> {
    let cannot = |e: &dyn std::fmt::Display| {
        DhtError::Failed(format!("cannot start the node's thread: {e}"))
    };
    let spawned = match threads {
        Some(threads) => threads.pick().spawn(node_loop),
        None if System::try_current().is_some() => Arbiter::try_new()
            .map_err(|e| cannot(&e))?
            .spawn(async move {
                node_loop.await;
                Arbiter::current().stop();
            }),
        None => {
            std::thread::Builder::new()
                .name("swarm-progress-node".into())
                .spawn(move || System::new().block_on(node_loop))
                .map_err(|e| cannot(&e))?;
            true
        }
    };
    if spawned {
        Ok(())
    } else {
        Err(cannot(&"its thread has stopped"))
    }
}
