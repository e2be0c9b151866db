//! The libp2p node: a swarm (TCP with Noise and Yamux, plus libp2p's in-memory transport;
//! Kademlia in server mode over a [`ProgressStore`]; Identify) owned by one event loop that runs
//! on its own Arbiter thread (or a shared one, [`NodeThreads`]) and takes [`Command`]s with
//! oneshot replies. [`NodeHandle`] is the cheap, cloneable way in; the `KademliaGateway` actor is
//! the typed front of it.
//!
//! - Store: the peer's own signed entry is validated locally, then put with `Quorum::One` (the
//!   local replica is written by Kademlia first, merged by the store).
//! - Get with `latest`: every record the query finds (the local copy included) is validated,
//!   merged and cached locally; without `latest` the query stops at the first valid record.
//! - Bootstrap: the configured peers are dialed and a Kademlia bootstrap runs; while no
//!   bootstrap peer answers, it is retried with exponential backoff and a warning per attempt.
//!   With no bootstrap peers the node starts a new swarm. A node that loses every connection
//!   (its seed restarted, a network split) bootstraps again, with the same backoff, until a
//!   bootstrap peer answers: without it a node whose routing table emptied would stay alone.
//! - Deny list: peers in [`NodeConfig::deny`] (or blocked at run time with
//!   [`NodeHandle::block_peers`]) are disconnected and refused both ways (libp2p's
//!   `allow_block_list`); the test harness uses it to split a swarm.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::Arbiter;
use futures::StreamExt;
use libp2p::core::transport::MemoryTransport;
use libp2p::core::{upgrade, Transport};
use libp2p::kad::store::RecordStore;
use libp2p::kad::{self, GetRecordOk, QueryId, QueryResult, Quorum, Record, RecordKey};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{allow_block_list, identify, noise, tcp, yamux, StreamProtocol, Swarm};
pub use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use crate::backoff::Backoff;
use crate::clock::SharedClock;
use crate::dht::kad_store::{ProgressStore, SharedRejections};
use crate::dht::metered::Metered;
use crate::dht::threads::NodeThreads;
use crate::dht::DhtError;
use crate::identity::{Identity, PeerKey};
use crate::records::{ProgressRecord, RecordLimits, RejectionCounts, SignedEntry};

/// The Kademlia protocol of swarm-progress (its own DHT, not the IPFS one).
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/swarm-progress/kad/1.0.0");
/// The Identify protocol version string.
const IDENTIFY_VERSION: &str = "/swarm-progress/0.1.0";

/// Settings of one node.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Addresses to listen on (`/ip4/127.0.0.1/tcp/0`, `/memory/0`, …).
    pub listen: Vec<Multiaddr>,
    /// Peers to join through, each with its `/p2p/<peer id>`.
    pub bootstrap: Vec<Multiaddr>,
    /// What the store accepts.
    pub limits: RecordLimits,
    /// Most keys the store holds.
    pub max_keys: usize,
    /// Bound on every store and get (also the Kademlia query timeout).
    pub request_timeout: Duration,
    /// First delay between bootstrap attempts; doubles up to `bootstrap_backoff_max`.
    pub bootstrap_backoff_initial: Duration,
    /// Longest delay between bootstrap attempts.
    pub bootstrap_backoff_max: Duration,
    /// How long an idle connection is kept.
    pub idle_connection_timeout: Duration,
    /// How long the closest peers found for a key are trusted as its replicas: stores go
    /// straight to them (no lookup) until this passes or the routing table gains a peer (then
    /// the next store runs a new lookup, at most one per second).
    pub replica_refresh: Duration,
    /// A latest read finishes once this many other peers returned the record (every store
    /// writes to all `replication` replicas, so each holds nearly the whole record); 0 waits
    /// for the whole lookup. Fewer copies per read is fewer bytes and less decoding.
    pub read_quorum: usize,
    /// Kademlia's replication factor k: how many of the closest peers a store writes to and a
    /// get collects from. 5, as hivemind's DHT (`num_replicas`); Kademlia's own default of 20
    /// made every fetch fan out to 20 peers and cost 4x more CPU at 32 peers.
    pub replication: std::num::NonZeroUsize,
    /// Peers this node never connects to nor accepts (a deny list; more can be blocked at run
    /// time with [`NodeHandle::block_peers`]).
    pub deny: Vec<PeerId>,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("valid multiaddr")],
            bootstrap: Vec::new(),
            limits: RecordLimits::default(),
            max_keys: 1024,
            request_timeout: Duration::from_secs(10),
            bootstrap_backoff_initial: Duration::from_millis(500),
            bootstrap_backoff_max: Duration::from_secs(30),
            idle_connection_timeout: Duration::from_secs(120),
            replica_refresh: Duration::from_secs(30),
            read_quorum: 3,
            replication: std::num::NonZeroUsize::new(5).expect("5 is not zero"),
            deny: Vec::new(),
        }
    }
}

impl NodeConfig {
    /// Kademlia's packet limit: a whole record at the limits, plus framing.
    pub fn max_packet_size(&self) -> usize {
        self.limits.max_record_bytes().saturating_add(64 * 1024)
    }
}

/// Counters of one node.
#[derive(Debug, Default)]
pub struct NodeStats {
    /// Stores that succeeded.
    pub stores_ok: AtomicU64,
    /// Stores that failed (rejected, quorum failed, timed out).
    pub stores_failed: AtomicU64,
    /// Gets that succeeded.
    pub gets_ok: AtomicU64,
    /// Gets that failed.
    pub gets_failed: AtomicU64,
    /// Sum of store latencies, microseconds.
    pub store_micros: AtomicU64,
    /// Sum of get latencies, microseconds.
    pub get_micros: AtomicU64,
    /// Inbound puts received from other peers.
    pub inbound_puts: AtomicU64,
    /// Inbound Kademlia requests of every kind (FIND_NODE, GET_VALUE, PUT_VALUE, ...).
    pub inbound_requests: AtomicU64,
    /// Bootstrap attempts.
    pub bootstrap_attempts: AtomicU64,
    /// Bytes received on all connections (Noise and Yamux framing included).
    pub bytes_in: AtomicU64,
    /// Bytes sent on all connections (Noise and Yamux framing included).
    pub bytes_out: AtomicU64,
    /// Times the node lost every connection and started bootstrapping again.
    pub rebootstraps: AtomicU64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

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

/// Requests to the event loop.
enum Command {
    Store {
        key: String,
        subkey: PeerKey,
        entry: SignedEntry,
        reply: oneshot::Sender<Result<bool, DhtError>>,
    },
    Get {
        key: String,
        latest: bool,
        reply: oneshot::Sender<Result<Option<ProgressRecord>, DhtError>>,
    },
    PutRaw {
        key: String,
        value: Vec<u8>,
        reply: oneshot::Sender<Result<(), DhtError>>,
    },
    Info {
        reply: oneshot::Sender<NodeInfo>,
    },
    Block {
        peers: Vec<PeerId>,
        blocked: bool,
        reply: oneshot::Sender<Result<(), DhtError>>,
    },
    Stop,
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    /// The deny list; first, so a denied connection never reaches Kademlia.
    deny: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    kad: kad::Behaviour<ProgressStore>,
    identify: identify::Behaviour,
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

/// The libp2p identity of a swarm-progress identity (the same Ed25519 key).
pub fn libp2p_keypair(identity: &Identity) -> Result<libp2p::identity::Keypair, DhtError> {
    let seed = identity
        .secret_seed()
        .ok_or_else(|| DhtError::Failed("identity has no Ed25519 seed".into()))?;
    libp2p::identity::Keypair::ed25519_from_bytes(seed)
        .map_err(|e| DhtError::Failed(format!("identity: {e}")))
}

fn build_swarm(
    key: libp2p::identity::Keypair,
    config: &NodeConfig,
    clock: SharedClock,
    rejections: SharedRejections,
    stats: Arc<NodeStats>,
) -> Result<Swarm<Behaviour>, DhtError> {
    let failed = |e: &dyn std::fmt::Display| DhtError::Failed(format!("building the node: {e}"));
    let peer_id = key.public().to_peer_id();
    let mut kad_config = kad::Config::new(KAD_PROTOCOL);
    kad_config
        .set_record_filtering(kad::StoreInserts::FilterBoth)
        .set_max_packet_size(config.max_packet_size())
        .set_record_ttl(None)
        .set_replication_interval(None)
        .set_publication_interval(None)
        .set_provider_publication_interval(None)
        .set_periodic_bootstrap_interval(None)
        .set_query_timeout(config.request_timeout)
        .set_replication_factor(config.replication);
    let store = ProgressStore::new(clock, config.limits, config.max_keys, rejections);
    let mut kad = kad::Behaviour::with_config(peer_id, store, kad_config);
    kad.set_mode(Some(kad::Mode::Server));
    let identify = identify::Behaviour::new(
        identify::Config::new(IDENTIFY_VERSION.to_owned(), key.public())
            .with_agent_version(format!("swarm-progress/{}", env!("CARGO_PKG_VERSION"))),
    );
    let idle = config.idle_connection_timeout;
    let mut deny = allow_block_list::Behaviour::<allow_block_list::BlockedPeers>::default();
    for peer in &config.deny {
        deny.block_peer(*peer);
    }
    let tcp_stats = stats.clone();
    Ok(libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_other_transport(
            |key| -> Result<_, Box<dyn std::error::Error + Send + Sync>> {
                Ok(
                    tcp::tokio::Transport::new(tcp::Config::default().nodelay(true))
                        .map(move |stream, _| Metered::new(stream, tcp_stats))
                        .upgrade(upgrade::Version::V1Lazy)
                        .authenticate(noise::Config::new(key)?)
                        .multiplex(yamux::Config::default()),
                )
            },
        )
        .map_err(|e| failed(&e))?
        .with_other_transport(
            |key| -> Result<_, Box<dyn std::error::Error + Send + Sync>> {
                Ok(MemoryTransport::default()
                    .map(move |stream, _| Metered::new(stream, stats))
                    .upgrade(upgrade::Version::V1)
                    .authenticate(noise::Config::new(key)?)
                    .multiplex(yamux::Config::default()))
            },
        )
        .map_err(|e| failed(&e))?
        .with_behaviour(|_| Behaviour {
            deny,
            kad,
            identify,
        })
        .map_err(|e| failed(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
        .build())
}

/// The peer id in a multiaddr's `/p2p/` component.
pub fn peer_id_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        Protocol::P2p(id) => Some(id),
        _ => None,
    })
}

impl NodeHandle {
    /// Starts a node for `identity` on a new Arbiter thread. Returns once the swarm is built and
    /// listening; fails on a bad listen address or bootstrap address without a peer id.
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
        // A thread of its own is stopped when the node's loop ends; a shared one is not.
        let (arbiter, own_thread) = match threads {
            Some(threads) => (threads.pick(), false),
            None => (
                Arbiter::try_new()
                    .map_err(|e| DhtError::Failed(format!("cannot start the node's thread: {e}")))?
                    .handle(),
                true,
            ),
        };
        let loop_stats = stats.clone();
        let loop_rejections = rejections.clone();
        let request_timeout = config.request_timeout;
        let spawned = arbiter.spawn(async move {
            let built = build_swarm(
                key,
                &config,
                clock.clone(),
                loop_rejections,
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
                    EventLoop::new(swarm, receiver, config, clock, loop_stats)
                        .run()
                        .await;
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            }
            if own_thread {
                Arbiter::current().stop();
            }
        });
        if !spawned {
            return Err(DhtError::Failed("cannot start the node's thread".into()));
        }
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

/// A store in flight.
struct PendingPut {
    reply: oneshot::Sender<Result<bool, DhtError>>,
    started: Instant,
    /// The entry was newer than the local copy (what the reply reports on success).
    fresh: bool,
}

/// The peers a key's stores go to without a lookup (Kademlia's put runs a closest-peers lookup
/// before every put; for one hot key that doubled the requests of every store).
#[derive(Debug, Default)]
struct Replicas {
    /// The closest peers to the key, from the last lookup.
    peers: Vec<PeerId>,
    /// When that lookup finished.
    found_at: Option<Instant>,
    /// When the last lookup started (rate limit) and whether it is still running.
    lookup_started: Option<Instant>,
    lookup_running: bool,
    /// The routing table gained a peer since the lookup: it may be closer.
    stale: bool,
}

impl Replicas {
    /// The cached replicas, if they can be used now.
    fn usable(&self, now: Instant, refresh: Duration) -> Option<&[PeerId]> {
        let found = self.found_at?;
        (!self.peers.is_empty() && now.duration_since(found) < refresh).then_some(&self.peers)
    }

    /// Whether a new lookup should start now.
    fn wants_lookup(&self, now: Instant, refresh: Duration) -> bool {
        let due = self.usable(now, refresh).is_none() || self.stale;
        let recent = self
            .lookup_started
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1));
        due && !self.lookup_running && !recent
    }
}

/// A get in progress.
struct PendingGet {
    key: RecordKey,
    latest: bool,
    merged: ProgressRecord,
    /// Other peers that returned the record so far.
    copies: usize,
    reply: Option<oneshot::Sender<Result<Option<ProgressRecord>, DhtError>>>,
    started: Instant,
}

struct EventLoop {
    swarm: Swarm<Behaviour>,
    commands: mpsc::UnboundedReceiver<Command>,
    config: NodeConfig,
    clock: SharedClock,
    stats: Arc<NodeStats>,
    puts: HashMap<QueryId, PendingPut>,
    raw_puts: HashMap<QueryId, oneshot::Sender<Result<(), DhtError>>>,
    gets: HashMap<QueryId, PendingGet>,
    replicas: HashMap<RecordKey, Replicas>,
    replica_lookups: HashMap<QueryId, RecordKey>,
    /// The last record each get read: the starting point (and the already-verified entries) of
    /// the next get. Kept apart from the record store so that a node that is not a replica
    /// does not serve whole records to every lookup that passes by.
    read_cache: HashMap<RecordKey, ProgressRecord>,
    listen_addrs: Vec<Multiaddr>,
    /// Bootstrap state: attempts so far, when to try next, whether a bootstrap peer answered.
    bootstrap_attempts: u32,
    next_bootstrap: Option<Instant>,
    bootstrapped: bool,
}

impl EventLoop {
    fn new(
        swarm: Swarm<Behaviour>,
        commands: mpsc::UnboundedReceiver<Command>,
        config: NodeConfig,
        clock: SharedClock,
        stats: Arc<NodeStats>,
    ) -> Self {
        let has_bootstrap = !config.bootstrap.is_empty();
        Self {
            swarm,
            commands,
            config,
            clock,
            stats,
            puts: HashMap::new(),
            raw_puts: HashMap::new(),
            gets: HashMap::new(),
            replicas: HashMap::new(),
            replica_lookups: HashMap::new(),
            read_cache: HashMap::new(),
            listen_addrs: Vec::new(),
            bootstrap_attempts: 0,
            next_bootstrap: has_bootstrap.then(Instant::now),
            bootstrapped: !has_bootstrap,
        }
    }

    async fn run(mut self) {
        let peer_id = *self.swarm.local_peer_id();
        if self.bootstrapped {
            info!(%peer_id, "no bootstrap peers: starting a new swarm");
        }
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                command = self.commands.recv() => match command {
                    None | Some(Command::Stop) => break,
                    Some(command) => self.on_command(command),
                },
                event = self.swarm.select_next_some() => self.on_event(event),
                _ = tick.tick() => self.on_tick(),
            }
        }
        info!(%peer_id, "node stopped");
        for (_, pending) in self.gets.drain() {
            if let Some(reply) = pending.reply {
                let _ = reply.send(Err(DhtError::Unavailable));
            }
        }
    }

    fn kad(&mut self) -> &mut kad::Behaviour<ProgressStore> {
        &mut self.swarm.behaviour_mut().kad
    }

    fn on_tick(&mut self) {
        if self.next_bootstrap.is_some_and(|at| Instant::now() >= at) {
            self.bootstrap();
        }
        // Drop expired entries so peers are not served dead ones.
        self.kad().store_mut().prune_expired();
    }

    fn bootstrap(&mut self) {
        self.bootstrap_attempts += 1;
        bump(&self.stats.bootstrap_attempts, 1);
        let attempt = self.bootstrap_attempts;
        for addr in self.config.bootstrap.clone() {
            if let Some(peer) = peer_id_of(&addr) {
                if peer == *self.swarm.local_peer_id() {
                    continue;
                }
                self.kad().add_address(&peer, addr.clone());
                if let Err(e) = self.swarm.dial(addr.clone()) {
                    debug!(%addr, error = %e, "bootstrap dial failed");
                }
            }
        }
        let _ = self.kad().bootstrap();
        let delay = Backoff::new(
            self.config.bootstrap_backoff_initial,
            self.config.bootstrap_backoff_max,
        )
        .delay(attempt);
        self.next_bootstrap = Some(Instant::now() + delay);
        if attempt > 1 {
            warn!(
                peer = %self.swarm.local_peer_id(),
                attempt,
                retry_in_ms = delay.as_millis() as u64,
                "no bootstrap peer answered yet; retrying"
            );
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Store {
                key,
                subkey,
                entry,
                reply,
            } => self.store(key, subkey, entry, reply),
            Command::Get { key, latest, reply } => self.get(key, latest, reply),
            Command::PutRaw { key, value, reply } => {
                let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
                if peers.is_empty() {
                    let _ = reply.send(Err(DhtError::Failed("no connected peers".into())));
                    return;
                }
                let record = Record::new(RecordKey::new(&key), value);
                let qid = self
                    .kad()
                    .put_record_to(record, peers.into_iter(), Quorum::One);
                self.raw_puts.insert(qid, reply);
            }
            Command::Info { reply } => {
                let peer_id = *self.swarm.local_peer_id();
                let listen_addrs = self
                    .listen_addrs
                    .iter()
                    .map(|a| a.clone().with(Protocol::P2p(peer_id)))
                    .collect();
                let _ = reply.send(NodeInfo {
                    peer_id,
                    listen_addrs,
                    connected_peers: self.swarm.connected_peers().count(),
                });
            }
            Command::Block {
                peers,
                blocked,
                reply,
            } => {
                let deny = &mut self.swarm.behaviour_mut().deny;
                for peer in peers {
                    if blocked {
                        deny.block_peer(peer);
                    } else {
                        deny.unblock_peer(peer);
                    }
                }
                let _ = reply.send(Ok(()));
            }
            Command::Stop => {}
        }
    }

    fn store(
        &mut self,
        key: String,
        subkey: PeerKey,
        entry: SignedEntry,
        reply: oneshot::Sender<Result<bool, DhtError>>,
    ) {
        let now = self.clock.now();
        if let Err(reason) = entry.validate(&key, &subkey, now, &self.config.limits) {
            bump(&self.stats.stores_failed, 1);
            let _ = reply.send(Err(DhtError::Rejected(reason)));
            return;
        }
        let record_key = RecordKey::new(&key);
        let fresh = self
            .kad()
            .store_mut()
            .progress(&record_key)
            .and_then(|held| held.get(&subkey).cloned())
            .is_none_or(|held| entry.recency_cmp(&held).is_gt());
        let mut single = ProgressRecord::new();
        single.insert(subkey, entry, now);
        let record = Record::new(record_key.clone(), single.encode());
        let put = self.put(record_key, record);
        match put {
            Ok(qid) => {
                // A stale entry still goes out (harmless: replicas keep the newer one) but the
                // reply says it changed nothing here.
                self.puts.insert(
                    qid,
                    PendingPut {
                        reply,
                        started: Instant::now(),
                        fresh,
                    },
                );
            }
            Err(e) => {
                bump(&self.stats.stores_failed, 1);
                let _ = reply.send(Err(DhtError::Failed(format!("local store: {e}"))));
            }
        }
    }

    /// Stores `record` locally and at the key's replicas: straight to the cached replicas when
    /// they are usable, else through Kademlia's lookup-then-put (and a lookup refreshes the
    /// cache for the next stores).
    fn put(&mut self, key: RecordKey, record: Record) -> Result<QueryId, kad::store::Error> {
        let now = Instant::now();
        let refresh = self.config.replica_refresh;
        let cached = self.replicas.entry(key.clone()).or_default();
        let wants_lookup = cached.wants_lookup(now, refresh);
        let targets = cached.usable(now, refresh).map(<[PeerId]>::to_vec);
        if wants_lookup {
            cached.lookup_started = Some(now);
            cached.lookup_running = true;
            let qid = self.kad().get_closest_peers(key.to_vec());
            self.replica_lookups.insert(qid, key);
        }
        match targets {
            Some(peers) => {
                self.kad().store_mut().put(record.clone())?;
                Ok(self
                    .kad()
                    .put_record_to(record, peers.into_iter(), Quorum::One))
            }
            None => self.kad().put_record(record, Quorum::One),
        }
    }

    fn on_replica_lookup(&mut self, id: QueryId, result: kad::GetClosestPeersResult, last: bool) {
        if !last {
            return;
        }
        let Some(key) = self.replica_lookups.remove(&id) else {
            return;
        };
        let replication = self.config.replication.get();
        let cached = self.replicas.entry(key).or_default();
        cached.lookup_running = false;
        let peers = match result {
            Ok(ok) => ok.peers,
            Err(kad::GetClosestPeersError::Timeout { peers, .. }) => peers,
        };
        if !peers.is_empty() {
            cached.peers = peers
                .into_iter()
                .take(replication)
                .map(|p| p.peer_id)
                .collect();
            cached.found_at = Some(Instant::now());
            cached.stale = false;
        }
    }

    fn get(
        &mut self,
        key: String,
        latest: bool,
        reply: oneshot::Sender<Result<Option<ProgressRecord>, DhtError>>,
    ) {
        let record_key = RecordKey::new(&key);
        let now = self.clock.now();
        let stored = self
            .kad()
            .store_mut()
            .progress(&record_key)
            .unwrap_or_default();
        // What this node read last is the incumbent set of its reads: entries it already
        // validated are not evicted by newcomers in its record store (a flood it received as a
        // replica must not push out honest entries it had read).
        let local = match self.read_cache.get(&record_key) {
            Some(read) => {
                let mut local = read.clone();
                local.merge_bounded(&stored, now, self.config.limits.max_entries);
                local
            }
            None => stored,
        };
        if !latest && !local.is_empty() {
            bump(&self.stats.gets_ok, 1);
            let _ = reply.send(Ok(Some(local)));
            return;
        }
        if self.swarm.connected_peers().next().is_none() {
            bump(&self.stats.gets_ok, 1);
            let _ = reply.send(Ok((!local.is_empty()).then_some(local)));
            return;
        }
        let qid = self.kad().get_record(record_key.clone());
        self.gets.insert(
            qid,
            PendingGet {
                key: record_key,
                latest,
                merged: local,
                copies: 0,
                reply: Some(reply),
                started: Instant::now(),
            },
        );
    }

    fn on_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                info!(%address, "listening");
                self.listen_addrs.push(address);
            }
            SwarmEvent::ConnectionEstablished { peer_id, .. }
                if !self.bootstrapped
                    && self
                        .config
                        .bootstrap
                        .iter()
                        .any(|a| peer_id_of(a) == Some(peer_id)) =>
            {
                info!(%peer_id, "connected to a bootstrap peer");
                self.bootstrapped = true;
                self.next_bootstrap = None;
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } if !self.config.bootstrap.is_empty()
                && self.bootstrapped
                && self.swarm.connected_peers().next().is_none() =>
            {
                // Alone: bootstrap again (with backoff) until a bootstrap peer answers.
                info!(last = %peer_id, "lost every peer; bootstrapping again");
                bump(&self.stats.rebootstraps, 1);
                self.bootstrapped = false;
                self.bootstrap_attempts = 0;
                self.next_bootstrap = Some(Instant::now() + self.config.bootstrap_backoff_initial);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) if info.protocols.contains(&KAD_PROTOCOL) => {
                for addr in info.listen_addrs {
                    self.kad().add_address(&peer_id, addr);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(event)) => self.on_kad(event),
            _ => {}
        }
    }

    fn on_kad(&mut self, event: kad::Event) {
        if matches!(event, kad::Event::InboundRequest { .. }) {
            bump(&self.stats.inbound_requests, 1);
        }
        match event {
            kad::Event::InboundRequest {
                request:
                    kad::InboundRequest::PutRecord {
                        source,
                        record: Some(record),
                        ..
                    },
            } => {
                bump(&self.stats.inbound_puts, 1);
                if let Err(e) = self.kad().store_mut().put(record) {
                    debug!(%source, error = %e, "inbound record refused");
                }
            }
            kad::Event::RoutingUpdated {
                is_new_peer: true, ..
            } => {
                for cached in self.replicas.values_mut() {
                    cached.stale = true;
                }
            }
            kad::Event::OutboundQueryProgressed {
                id, result, step, ..
            } => match result {
                QueryResult::PutRecord(result) => {
                    if let Some(PendingPut {
                        reply,
                        started,
                        fresh,
                    }) = self.puts.remove(&id)
                    {
                        bump(
                            &self.stats.store_micros,
                            started.elapsed().as_micros() as u64,
                        );
                        let outcome = match result {
                            Ok(_) => Ok(fresh),
                            // Alone in the swarm, the local replica is the whole DHT.
                            Err(_) if self.swarm.connected_peers().next().is_none() => Ok(fresh),
                            Err(e) => Err(DhtError::Failed(format!("store: {e}"))),
                        };
                        match &outcome {
                            Ok(_) => bump(&self.stats.stores_ok, 1),
                            Err(_) => bump(&self.stats.stores_failed, 1),
                        }
                        let _ = reply.send(outcome);
                    } else if let Some(reply) = self.raw_puts.remove(&id) {
                        let _ = reply.send(
                            result
                                .map(|_| ())
                                .map_err(|e| DhtError::Failed(e.to_string())),
                        );
                    }
                }
                QueryResult::GetRecord(result) => self.on_get(id, result, step.last),
                QueryResult::GetClosestPeers(result) => {
                    self.on_replica_lookup(id, result, step.last)
                }
                _ => {}
            },
            _ => {}
        }
    }

    fn on_get(
        &mut self,
        id: QueryId,
        result: Result<GetRecordOk, kad::GetRecordError>,
        last: bool,
    ) {
        let Some(mut pending) = self.gets.remove(&id) else {
            return;
        };
        let mut timed_out = false;
        match result {
            Ok(GetRecordOk::FoundRecord(found)) if found.peer.is_some() => {
                pending.copies += 1;
                let store = self.kad().store_mut();
                // What this get already merged is validated: identical entries are not
                // re-verified (most of a record is unchanged from one read to the next).
                if let Some(valid) =
                    store.validate(&pending.key, &found.record.value, Some(&pending.merged))
                {
                    // What this node held (the local copy) and what it found first are the
                    // incumbents: a flood found later cannot evict them.
                    let max = self.config.limits.max_entries;
                    pending.merged.merge_bounded(&valid, self.clock.now(), max);
                }
            }
            Ok(_) => {}
            Err(kad::GetRecordError::Timeout { .. }) => timed_out = true,
            Err(_) => {}
        }
        let quorum = self.config.read_quorum;
        let done = last
            || (!pending.latest && !pending.merged.is_empty())
            || (pending.latest && quorum > 0 && pending.copies >= quorum);
        if !done {
            self.gets.insert(id, pending);
            return;
        }
        if !last {
            if let Some(mut query) = self.kad().query_mut(&id) {
                query.finish();
            }
        }
        bump(
            &self.stats.get_micros,
            pending.started.elapsed().as_micros() as u64,
        );
        if !pending.merged.is_empty() {
            self.read_cache
                .insert(pending.key.clone(), pending.merged.clone());
        }
        let reply = pending.reply.take();
        let outcome = if pending.merged.is_empty() && timed_out {
            bump(&self.stats.gets_failed, 1);
            Err(DhtError::Timeout(self.config.request_timeout))
        } else {
            bump(&self.stats.gets_ok, 1);
            Ok((!pending.merged.is_empty()).then_some(pending.merged))
        };
        if let Some(reply) = reply {
            let _ = reply.send(outcome);
        }
    }
}
