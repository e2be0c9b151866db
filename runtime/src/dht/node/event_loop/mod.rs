//! The node's event loop: owns the swarm, answers the handle's commands (store, read, info,
//! block), follows the swarm's events (connections, Identify, Kademlia queries and inbound
//! requests) and runs the bootstrap schedule. Where a read checks signatures: [`EventLoop::on_get`]
//! through the store's `validate`; where a store goes out: [`EventLoop::store`] and
//! [`EventLoop::put`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::kad::store::RecordStore;
use libp2p::kad::{self, QueryId, QueryResult, Quorum, Record, RecordKey};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::SwarmEvent;
use libp2p::{gossipsub, identify, Multiaddr, PeerId, Swarm};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use super::bootstrap::BootstrapSchedule;
use super::command::Command;
use super::gossip::Topics;
use super::handshakes::HandshakeFailures;
use super::replicas::Replicas;
use super::stats::bump;
use super::swarm::{peer_id_of, Behaviour, BehaviourEvent, KAD_PROTOCOL};
use super::{NodeConfig, NodeInfo, NodeStats};
use crate::backoff::Backoff;
use crate::clock::SharedClock;
use crate::dht::kad_store::{ProgressStore, SharedRejections};
use crate::dht::DhtError;
use crate::identity::PeerKey;
use crate::records::{ProgressRecord, SignedEntry};

mod reads;
use reads::{GetReply, PendingGet};

/// Where a store's outcome goes: whether the entry changed this node's copy.
type StoreReply = oneshot::Sender<Result<bool, DhtError>>;

/// A request parked until the node first reaches a bootstrap peer
/// (`EventLoop::before_join`), or until the node's `request_timeout` has passed.
struct Parked {
    since: Instant,
    request: BeforeJoin,
}

/// What a parked request is.
enum BeforeJoin {
    Get {
        key: String,
        latest: bool,
        reply: GetReply,
    },
    Store {
        key: String,
        subkey: PeerKey,
        /// Boxed: parked requests are few, and a Get should not pay for an entry's size.
        entry: Box<SignedEntry>,
        reply: StoreReply,
    },
}

/// A store in flight.
struct PendingPut {
    reply: oneshot::Sender<Result<bool, DhtError>>,
    started: Instant,
    /// The entry was newer than the local copy (what the reply reports on success).
    fresh: bool,
}

/// How often a node drops expired entries and samples its mesh size.
const HOUSEKEEPING_PERIOD: Duration = Duration::from_secs(1);

/// Sleeps until `at`, or forever when it is `None`.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// The loop that owns a node's swarm.
pub(super) struct EventLoop {
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
    /// Reads and stores that came before the node first reached a bootstrap peer: run once it
    /// does, in order (the caller's own timeout bounds the wait), so a tracker's first read sees
    /// the swarm instead of an empty store, and its first store reaches the key's replicas
    /// instead of only this node (it used to answer `Ok` having reached no one). `None` once
    /// the node has joined (or has no bootstrap peers): a node that later loses every peer
    /// answers from its store at once, as before.
    before_join: Option<Vec<Parked>>,
    /// When to dial the bootstrap peers.
    bootstrap: BootstrapSchedule,
    /// v2: the gossip topics this node follows.
    topics: Topics,
    /// Entries refused (shared with the record store).
    rejections: SharedRejections,
    /// Connections that failed their handshake, and the hosts already logged.
    handshakes: HandshakeFailures,
}

impl EventLoop {
    /// A loop over `swarm`, taking `commands` from the node's handles.
    pub(super) fn new(
        swarm: Swarm<Behaviour>,
        commands: mpsc::UnboundedReceiver<Command>,
        config: NodeConfig,
        clock: SharedClock,
        stats: Arc<NodeStats>,
        rejections: SharedRejections,
    ) -> Self {
        let bootstrap = BootstrapSchedule::new(
            !config.bootstrap.is_empty(),
            Backoff::new(
                config.bootstrap_backoff_initial,
                config.bootstrap_backoff_max,
            ),
            Instant::now(),
        );
        let topics = Topics::new(
            config.limits,
            config.gossip_min_interval,
            config.admission.clone(),
        );
        if let Some(key) = &config.network_key {
            info!(fingerprint = %key.fingerprint(), "private network: connections need this network key");
        }
        let local = *swarm.local_peer_id();
        let has_others = config
            .bootstrap
            .iter()
            .any(|addr| peer_id_of(addr) != Some(local));
        Self {
            handshakes: HandshakeFailures::new(config.network_key.is_some()),
            topics,
            rejections,
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
            before_join: has_others.then(Vec::new),
            bootstrap,
        }
    }

    /// Runs until a `Stop` command or until every handle is gone.
    pub(super) async fn run(mut self) {
        let peer_id = *self.swarm.local_peer_id();
        if self.bootstrap.is_joined() {
            info!(%peer_id, "no bootstrap peers: starting a new swarm");
        }
        // Housekeeping once a second; a bootstrap attempt wakes the loop at its own deadline.
        let mut housekeeping = tokio::time::interval(HOUSEKEEPING_PERIOD);
        housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let bootstrap_at = self.bootstrap.next_at();
            tokio::select! {
                command = self.commands.recv() => match command {
                    None | Some(Command::Stop) => break,
                    Some(command) => self.on_command(command),
                },
                event = self.swarm.select_next_some() => self.on_event(event),
                _ = housekeeping.tick() => self.on_housekeeping(),
                () = sleep_until(bootstrap_at) => self.bootstrap(),
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

    /// Parked requests older than `request_timeout` fail with a timeout: the node has not
    /// reached any peer yet (a store put nowhere is not a success; the tracker retries it).
    fn expire_before_join(&mut self) {
        let timeout = self.config.request_timeout;
        let Some(parked) = &mut self.before_join else {
            return;
        };
        let (expired, kept): (Vec<Parked>, Vec<Parked>) =
            parked.drain(..).partition(|p| p.since.elapsed() >= timeout);
        *parked = kept;
        for p in expired {
            match p.request {
                BeforeJoin::Get { reply, .. } => {
                    bump(&self.stats.gets_failed, 1);
                    let _ = reply.send(Err(DhtError::Timeout(timeout)));
                }
                BeforeJoin::Store { reply, .. } => {
                    bump(&self.stats.stores_failed, 1);
                    let _ = reply.send(Err(DhtError::Timeout(timeout)));
                }
            }
        }
    }

    fn on_housekeeping(&mut self) {
        self.expire_before_join();
        // Drop expired entries so peers are not served dead ones.
        self.kad().store_mut().prune_expired();
        let now = self.clock.now();
        self.topics.prune_expired(now);
        let gossip = &self.swarm.behaviour().gossip;
        let mesh = gossip.all_mesh_peers().count() as u64;
        let connected = self.swarm.connected_peers().count() as u64;
        let routing: usize = self.kad().kbuckets().map(|b| b.num_entries()).sum();
        let relaxed = std::sync::atomic::Ordering::Relaxed;
        self.stats.gossip_mesh_peers.store(mesh, relaxed);
        self.stats.connected_peers.store(connected, relaxed);
        self.stats
            .routing_table_peers
            .store(routing as u64, relaxed);
    }

    /// One bootstrap attempt: dial every bootstrap peer and run a Kademlia bootstrap.
    fn bootstrap(&mut self) {
        bump(&self.stats.bootstrap_attempts, 1);
        let (attempt, delay) = self.bootstrap.attempt(Instant::now());
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
            Command::Push {
                key,
                subkey,
                entry,
                reply,
            } => {
                let now = self.clock.now();
                let gossip = &mut self.swarm.behaviour_mut().gossip;
                let published = self
                    .topics
                    .publish(gossip, &key, subkey, &entry, now, &self.stats);
                let _ = reply.send(published);
            }
            Command::PushRaw { key, value, reply } => {
                let gossip = &mut self.swarm.behaviour_mut().gossip;
                let published = gossip
                    .publish(Topics::topic(&key), value)
                    .map(|_| ())
                    .map_err(|e| DhtError::Failed(format!("gossip publish: {e}")));
                let _ = reply.send(published);
            }
            Command::Subscribe { key, sink, reply } => {
                let gossip = &mut self.swarm.behaviour_mut().gossip;
                let _ = reply.send(self.topics.subscribe(gossip, &key, sink));
            }
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

    fn store(&mut self, key: String, subkey: PeerKey, entry: SignedEntry, reply: StoreReply) {
        if let Some(parked) = &mut self.before_join {
            parked.push(Parked {
                since: Instant::now(),
                request: BeforeJoin::Store {
                    key,
                    subkey,
                    entry: Box::new(entry),
                    reply,
                },
            });
            return;
        }
        let now = self.clock.now();
        let admitted = entry
            .validate(&key, &subkey, now, &self.config.limits)
            .and_then(|()| self.config.admission.check(&subkey, &entry));
        if let Err(reason) = admitted {
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
            cached.lookup_started(now);
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

    /// The node reached a peer: the reads and stores parked until then go out now, in order
    /// (see `EventLoop::before_join`); those whose caller gave up are dropped.
    fn release_before_join(&mut self) {
        for parked in self.before_join.take().unwrap_or_default() {
            match parked.request {
                BeforeJoin::Get { key, latest, reply } if !reply.is_closed() => {
                    self.get(key, latest, reply)
                }
                BeforeJoin::Store {
                    key,
                    subkey,
                    entry,
                    reply,
                } if !reply.is_closed() => self.store(key, subkey, *entry, reply),
                _ => {}
            }
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
        let peers = match result {
            Ok(ok) => ok.peers,
            Err(kad::GetClosestPeersError::Timeout { peers, .. }) => peers,
        };
        self.replicas.entry(key).or_default().lookup_finished(
            peers.into_iter().map(|p| p.peer_id),
            replication,
            Instant::now(),
        );
    }

    fn on_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        // Any first connection releases the reads parked until then (a bootstrap address may
        // name no peer id, so this is not tied to `joined`).
        let connected = matches!(event, SwarmEvent::ConnectionEstablished { .. });
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                info!(%address, "listening");
                self.listen_addrs.push(address);
            }
            SwarmEvent::ConnectionEstablished { peer_id, .. }
                if !self.bootstrap.is_joined()
                    && self
                        .config
                        .bootstrap
                        .iter()
                        .any(|a| peer_id_of(a) == Some(peer_id)) =>
            {
                info!(%peer_id, "connected to a bootstrap peer");
                self.bootstrap.joined();
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } if !self.config.bootstrap.is_empty()
                && self.bootstrap.is_joined()
                && self.swarm.connected_peers().next().is_none() =>
            {
                // Alone: bootstrap again (with backoff) until a bootstrap peer answers.
                info!(last = %peer_id, "lost every peer; bootstrapping again");
                bump(&self.stats.rebootstraps, 1);
                self.bootstrap.lost_every_peer(Instant::now());
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
            SwarmEvent::IncomingConnectionError {
                send_back_addr,
                error,
                ..
            } => self
                .handshakes
                .on_incoming(&send_back_addr, &error, &self.stats),
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                self.handshakes.on_outgoing(peer_id, &error, &self.stats)
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(event)) => self.on_kad(event),
            SwarmEvent::Behaviour(BehaviourEvent::Gossip(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => {
                let now = self.clock.now();
                let gossip = &mut self.swarm.behaviour_mut().gossip;
                self.topics.on_message(
                    gossip,
                    &propagation_source,
                    &message_id,
                    &message,
                    now,
                    &self.stats,
                    &self.rejections,
                );
            }
            _ => {}
        }
        if connected {
            self.release_before_join();
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
                self.replicas.values_mut().for_each(Replicas::mark_stale);
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
}
