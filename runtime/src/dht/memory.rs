//! `MemoryDht`: the in-process mock DHT. Many peers in one process share one
//! [`MemoryNetwork`], whose store applies the same merge, expiry and validation rules as a real
//! node. Each peer reaches it through its own [`MemoryDht`] actor, which can inject latency,
//! failures, dropped replies, a network partition and a panic, controlled at run time through
//! [`FaultControl`]. Trainers can be tested against it without any network.
//!
//! It carries protocol v2 too: a [`Push`] goes through the network's gossip gate (the same
//! [`GossipGate`] a libp2p node runs: decoding, bounds, staleness, signature, rate) and every
//! accepted entry is delivered as [`Pushed`] to the other subscribed peers, after the
//! receiver's injected latency; a partitioned peer neither sends nor receives pushes.
//!
//! A private collaboration ([`MemoryNetwork::private`]) judges every store and push by its
//! [`Admission`], as a node does; each peer's token is given with
//! [`MemoryNetwork::peer_with_token`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix::prelude::*;
use tracing::debug;

use crate::admission_token::AdmissionToken;
use crate::clock::SharedClock;
use crate::dht::{
    DhtError, DhtHandle, GatewayFactory, Get, Push, Pushed, StopGateway, Store, Subscribe,
};
use crate::identity::{Identity, PeerKey};
use crate::records::{
    Admission, GossipGate, GossipVerdict, InsertOutcome, ProgressRecord, RecordLimits,
    RejectionCounts, SignedEntry,
};

/// Locks a mutex, recovering the data if a panicking holder poisoned it (every critical section
/// here leaves the data consistent).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Records keyed by DHT key, with validation on every store.
#[derive(Debug, Default)]
struct Records {
    by_key: HashMap<String, ProgressRecord>,
    rejections: RejectionCounts,
}

impl Records {
    fn store(
        &mut self,
        key: String,
        subkey: PeerKey,
        entry: SignedEntry,
        now: f64,
        limits: &RecordLimits,
    ) -> Result<bool, DhtError> {
        let record = self.by_key.entry(key.clone()).or_default();
        match record.accept(&key, subkey, entry, now, limits) {
            Ok(InsertOutcome::Added | InsertOutcome::Replaced) => Ok(true),
            Ok(_) => Ok(false),
            Err(reason) => {
                debug!(%key, peer = %subkey, %reason, "memory dht rejected entry");
                self.rejections.record(reason);
                match reason {
                    crate::records::RejectionReason::Stale => Ok(false),
                    other => Err(DhtError::Rejected(other)),
                }
            }
        }
    }

    fn get(&mut self, key: &str, now: f64) -> Option<ProgressRecord> {
        let record = self.by_key.get_mut(key)?;
        record.prune_expired(now);
        (!record.is_empty()).then(|| record.clone())
    }
}

/// Counters of one memory network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryStats {
    /// Store requests that reached the shared store.
    pub stores: u64,
    /// Get requests that reached the shared store.
    pub gets: u64,
    /// v2: pushes that reached the network's gossip gate.
    pub pushes: u64,
    /// v2: accepted pushes delivered to subscribers (one per receiver).
    pub deliveries: u64,
}

/// One peer following a key's topic.
#[derive(Debug)]
struct Subscriber {
    peer: PeerKey,
    sink: Recipient<Pushed>,
    faults: FaultControl,
}

/// One key's topic: its gate and its subscribers.
#[derive(Debug)]
struct MemoryTopic {
    gate: GossipGate,
    subscribers: Vec<Subscriber>,
}

#[derive(Debug)]
struct Shared {
    records: Mutex<Records>,
    topics: Mutex<HashMap<String, MemoryTopic>>,
    stores: AtomicU64,
    gets: AtomicU64,
    pushes: AtomicU64,
    deliveries: AtomicU64,
    clock: SharedClock,
    limits: RecordLimits,
    /// The swarm's `publish_min_interval`, the rate the gate admits per peer.
    min_interval: f64,
    /// Who may count (open unless [`MemoryNetwork::private`]).
    admission: Admission,
}

/// The shared store of an in-process swarm. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MemoryNetwork {
    shared: Arc<Shared>,
}

impl MemoryNetwork {
    /// A network that reads time from `clock`, with default limits.
    pub fn new(clock: SharedClock) -> Self {
        Self::with_limits(clock, RecordLimits::default())
    }

    /// A network with explicit record limits.
    pub fn with_limits(clock: SharedClock, limits: RecordLimits) -> Self {
        Self::with_gossip_rate(
            clock,
            limits,
            crate::TrackerConfig::default().publish_min_interval,
        )
    }

    /// A network with explicit record limits whose gossip gate admits one message per
    /// `min_interval` seconds per peer (after a short burst).
    pub fn with_gossip_rate(clock: SharedClock, limits: RecordLimits, min_interval: f64) -> Self {
        Self::build(clock, limits, min_interval, Admission::OPEN)
    }

    /// A private collaboration's network: every store and push is judged by `admission`
    /// (`TrackerConfig::admission`), with default limits and gossip rate.
    pub fn private(clock: SharedClock, admission: Admission) -> Self {
        let min_interval = crate::TrackerConfig::default().publish_min_interval;
        Self::build(clock, RecordLimits::default(), min_interval, admission)
    }

    fn build(
        clock: SharedClock,
        limits: RecordLimits,
        min_interval: f64,
        admission: Admission,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                records: Mutex::new(Records::default()),
                topics: Mutex::new(HashMap::new()),
                stores: AtomicU64::new(0),
                gets: AtomicU64::new(0),
                pushes: AtomicU64::new(0),
                deliveries: AtomicU64::new(0),
                clock,
                limits,
                min_interval,
                admission,
            }),
        }
    }

    /// A new peer of this network with a fresh identity.
    pub fn peer(&self) -> Result<MemoryPeer, crate::identity::IdentityError> {
        Ok(self.peer_with_identity(Arc::new(Identity::generate()?)))
    }

    /// A new peer of this network under an existing identity.
    pub fn peer_with_identity(&self, identity: Arc<Identity>) -> MemoryPeer {
        self.peer_with_token(identity, None)
    }

    /// A new peer of this network under an existing identity, carrying `token` in its
    /// entries (a private collaboration).
    pub fn peer_with_token(
        &self,
        identity: Arc<Identity>,
        token: Option<AdmissionToken>,
    ) -> MemoryPeer {
        MemoryPeer {
            network: self.clone(),
            identity,
            token,
            faults: FaultControl::default(),
            shadow: Arc::new(Mutex::new(Records::default())),
        }
    }

    /// The live record under `key`, as the shared store holds it now.
    pub fn record(&self, key: &str) -> Option<ProgressRecord> {
        lock(&self.shared.records).get(key, self.shared.clock.now())
    }

    /// Entries the shared store refused, by reason.
    pub fn rejections(&self) -> RejectionCounts {
        lock(&self.shared.records).rejections
    }

    /// Request counters.
    pub fn stats(&self) -> MemoryStats {
        MemoryStats {
            stores: self.shared.stores.load(Ordering::Relaxed),
            gets: self.shared.gets.load(Ordering::Relaxed),
            pushes: self.shared.pushes.load(Ordering::Relaxed),
            deliveries: self.shared.deliveries.load(Ordering::Relaxed),
        }
    }

    /// Test hook: offers raw bytes to the key's topic as if `from` had published them (what a
    /// forging peer would do); returns the gate's verdict.
    #[doc(hidden)]
    pub fn push_raw(&self, from: PeerKey, key: &str, bytes: &[u8]) -> GossipVerdict {
        self.gossip(from, key, bytes)
    }

    /// The topic of `key` in `topics`, created with this network's gate on first use.
    fn topic<'a>(
        &self,
        topics: &'a mut HashMap<String, MemoryTopic>,
        key: &str,
    ) -> &'a mut MemoryTopic {
        topics.entry(key.to_owned()).or_insert_with(|| MemoryTopic {
            gate: GossipGate::new(key, self.shared.limits, self.shared.min_interval)
                .with_admission(self.shared.admission.clone()),
            subscribers: Vec::new(),
        })
    }

    fn subscribe(&self, key: String, subscriber: Subscriber) {
        let mut topics = lock(&self.shared.topics);
        let topic = self.topic(&mut topics, &key);
        // A restarted gateway subscribes again: one subscription per peer.
        topic.subscribers.retain(|s| s.peer != subscriber.peer);
        topic.subscribers.push(subscriber);
    }

    /// Judges one message's bytes and delivers an accepted entry to every other subscriber.
    fn gossip(&self, from: PeerKey, key: &str, bytes: &[u8]) -> GossipVerdict {
        self.shared.pushes.fetch_add(1, Ordering::Relaxed);
        let now = self.now();
        let mut topics = lock(&self.shared.topics);
        let topic = self.topic(&mut topics, key);
        let verdict = topic.gate.admit(bytes, now);
        let (subkey, entry) = match &verdict {
            GossipVerdict::Accept(subkey, entry) => (*subkey, entry),
            GossipVerdict::Ignore(reason) | GossipVerdict::Reject(reason) => {
                lock(&self.shared.records).rejections.record(*reason);
                return verdict;
            }
        };
        topic.subscribers.retain(|s| s.sink.connected());
        for receiver in topic.subscribers.iter().filter(|s| s.peer != from) {
            let faults = receiver.faults.get();
            if faults.partitioned || faults.drop_replies {
                continue;
            }
            self.shared.deliveries.fetch_add(1, Ordering::Relaxed);
            let pushed = Pushed {
                key: key.to_owned(),
                subkey,
                entry: entry.clone(),
            };
            if faults.latency.is_zero() {
                receiver.sink.do_send(pushed);
            } else {
                let sink = receiver.sink.clone();
                actix_rt::spawn(async move {
                    tokio::time::sleep(faults.latency).await;
                    sink.do_send(pushed);
                });
            }
        }
        verdict
    }

    fn now(&self) -> f64 {
        self.shared.clock.now()
    }

    fn store(&self, key: String, subkey: PeerKey, entry: SignedEntry) -> Result<bool, DhtError> {
        self.shared.stores.fetch_add(1, Ordering::Relaxed);
        let now = self.now();
        if let Err(reason) = self.shared.admission.check(&subkey, &entry) {
            debug!(%key, peer = %subkey, %reason, "memory dht refused entry");
            lock(&self.shared.records).rejections.record(reason);
            return Err(DhtError::Rejected(reason));
        }
        lock(&self.shared.records).store(key, subkey, entry, now, &self.shared.limits)
    }

    fn get(&self, key: &str) -> Option<ProgressRecord> {
        self.shared.gets.fetch_add(1, Ordering::Relaxed);
        let now = self.now();
        lock(&self.shared.records).get(key, now)
    }
}

/// Faults a [`MemoryDht`] injects into its peer's requests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Delay before every request is served.
    pub latency: Duration,
    /// Probability in [0, 1] that a request fails with [`DhtError::Failed`].
    pub fail_probability: f64,
    /// Requests are never answered (callers hit their timeouts).
    pub drop_replies: bool,
    /// Gets are never answered; stores are served as usual.
    pub hang_gets: bool,
    /// Stores are never answered; gets are served as usual.
    pub hang_stores: bool,
    /// The peer is cut off: its stores and gets see only its own local copy.
    pub partitioned: bool,
    /// The next request makes the gateway actor panic (once).
    pub panic_on_next_request: bool,
    /// Every request makes the gateway actor panic (a panic storm), until cleared.
    pub panic_on_every_request: bool,
}

/// A shared, run-time switch for one peer's [`Faults`]; survives gateway restarts.
#[derive(Debug, Clone, Default)]
pub struct FaultControl(Arc<Mutex<Faults>>);

impl FaultControl {
    /// The current faults.
    pub fn get(&self) -> Faults {
        lock(&self.0).clone()
    }

    /// Replaces the faults.
    pub fn set(&self, faults: Faults) {
        *lock(&self.0) = faults;
    }

    /// Edits the faults in place.
    pub fn update(&self, edit: impl FnOnce(&mut Faults)) {
        edit(&mut lock(&self.0));
    }

    /// Takes the one-shot panic flag (or reads the persistent one).
    fn take_panic(&self) -> bool {
        let mut faults = lock(&self.0);
        std::mem::take(&mut faults.panic_on_next_request) || faults.panic_on_every_request
    }
}

/// One peer's access to a [`MemoryNetwork`]: its identity, faults, and partition-local copy.
/// A [`GatewayFactory`]: the tracker starts (and restarts) its [`MemoryDht`] from it.
#[derive(Debug, Clone)]
pub struct MemoryPeer {
    network: MemoryNetwork,
    identity: Arc<Identity>,
    /// This peer's admission token (private collaborations).
    token: Option<AdmissionToken>,
    faults: FaultControl,
    /// What this peer stored while partitioned; pushed to the network when the partition heals.
    shadow: Arc<Mutex<Records>>,
}

impl MemoryPeer {
    /// The fault switch of this peer.
    pub fn faults(&self) -> FaultControl {
        self.faults.clone()
    }

    /// The network this peer belongs to.
    pub fn network(&self) -> &MemoryNetwork {
        &self.network
    }

    /// Starts a gateway actor for this peer.
    pub fn start_gateway(&self) -> Addr<MemoryDht> {
        MemoryDht {
            peer: self.clone(),
            rng: seed(),
        }
        .start()
    }
}

impl GatewayFactory for MemoryPeer {
    fn identity(&self) -> Arc<Identity> {
        self.identity.clone()
    }

    fn start(&self) -> Result<DhtHandle, DhtError> {
        Ok(DhtHandle::of(&self.start_gateway()))
    }

    fn admission(&self) -> Admission {
        self.network.shared.admission.clone()
    }

    fn admission_token(&self) -> Option<AdmissionToken> {
        self.token.clone()
    }
}

fn seed() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    NEXT.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed) | 1
}

/// The mock gateway actor of one peer.
#[derive(Debug)]
pub struct MemoryDht {
    peer: MemoryPeer,
    /// xorshift state for failure injection.
    rng: u64,
}

impl MemoryDht {
    /// A uniform number in [0, 1).
    fn roll(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Applies the faults that are decided before the request is served.
    fn inject(&mut self) -> (Faults, bool) {
        if self.peer.faults.take_panic() {
            panic!("MemoryDht: injected panic");
        }
        let faults = self.peer.faults.get();
        let fail = faults.fail_probability > 0.0 && self.roll() < faults.fail_probability;
        (faults, fail)
    }
}

/// Plays the injected faults of one request (`hang`: this kind of request is never answered):
/// waits the latency, never returns if replies are dropped, and fails if the failure roll said so.
async fn play(faults: &Faults, fail: bool, hang: bool) -> Result<(), DhtError> {
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    if faults.drop_replies || hang {
        std::future::pending::<()>().await;
    }
    if fail {
        return Err(DhtError::Failed("injected failure".into()));
    }
    Ok(())
}

impl Actor for MemoryDht {
    type Context = Context<Self>;
}

impl Handler<Store> for MemoryDht {
    type Result = ResponseFuture<Result<bool, DhtError>>;

    fn handle(&mut self, msg: Store, _ctx: &mut Context<Self>) -> Self::Result {
        let (faults, fail) = self.inject();
        let peer = self.peer.clone();
        Box::pin(async move {
            play(&faults, fail, faults.hang_stores).await?;
            let now = peer.network.now();
            if faults.partitioned {
                let limits = peer.network.shared.limits;
                return lock(&peer.shadow).store(msg.key, msg.subkey, msg.entry, now, &limits);
            }
            peer.heal();
            peer.network.store(msg.key, msg.subkey, msg.entry)
        })
    }
}

impl Handler<Get> for MemoryDht {
    type Result = ResponseFuture<Result<Option<ProgressRecord>, DhtError>>;

    fn handle(&mut self, msg: Get, _ctx: &mut Context<Self>) -> Self::Result {
        let (faults, fail) = self.inject();
        let peer = self.peer.clone();
        Box::pin(async move {
            play(&faults, fail, faults.hang_gets).await?;
            if faults.partitioned {
                let now = peer.network.now();
                return Ok(lock(&peer.shadow).get(&msg.key, now));
            }
            peer.heal();
            Ok(peer.network.get(&msg.key))
        })
    }
}

impl MemoryPeer {
    /// After a partition: pushes what was stored locally to the network (as a real node's
    /// republication would).
    fn heal(&self) {
        let pending = std::mem::take(&mut lock(&self.shadow).by_key);
        for (key, record) in pending {
            for (subkey, entry) in record.iter() {
                let _ = self.network.store(key.clone(), *subkey, entry.clone());
            }
        }
    }
}

impl Handler<Push> for MemoryDht {
    type Result = ResponseFuture<Result<(), DhtError>>;

    fn handle(&mut self, msg: Push, _ctx: &mut Context<Self>) -> Self::Result {
        let (faults, fail) = self.inject();
        let peer = self.peer.clone();
        Box::pin(async move {
            play(&faults, fail, faults.hang_stores).await?;
            if faults.partitioned {
                // Nobody hears a partitioned peer.
                return Ok(());
            }
            let bytes = msg.entry.encode(&msg.subkey);
            match peer.network.gossip(msg.subkey, &msg.key, &bytes) {
                GossipVerdict::Reject(reason) => Err(DhtError::Rejected(reason)),
                _ => Ok(()),
            }
        })
    }
}

impl Handler<Subscribe> for MemoryDht {
    type Result = Result<(), DhtError>;

    fn handle(&mut self, msg: Subscribe, _ctx: &mut Context<Self>) -> Self::Result {
        let subscriber = Subscriber {
            peer: self.peer.identity.public_key(),
            sink: msg.sink,
            faults: self.peer.faults.clone(),
        };
        self.peer.network.subscribe(msg.key, subscriber);
        Ok(())
    }
}

impl Handler<StopGateway> for MemoryDht {
    type Result = ();

    fn handle(&mut self, _: StopGateway, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::progress::LocalProgress;
    use crate::records::RejectionReason;

    const KEY: &str = "mem_progress";
    const T: Duration = Duration::from_secs(5);

    fn entry(id: &Identity, samples: u64, expiration: f64) -> SignedEntry {
        let value = LocalProgress {
            peer_id: id.peer_id(),
            epoch: 0,
            samples_accumulated: samples,
            samples_per_second: 1.0,
            time: 100.0,
            client_mode: false,
        };
        SignedEntry::sign(id, KEY, Some(&value), expiration).unwrap()
    }

    #[actix_rt::test]
    async fn peers_share_one_validated_store() {
        let clock = ManualClock::new(100.0);
        let net = MemoryNetwork::new(clock.shared());
        let a = net.peer().unwrap();
        let b = net.peer().unwrap();
        let (da, db) = (a.start().unwrap(), b.start().unwrap());
        let ida = a.identity();
        assert_eq!(
            da.store(KEY.into(), ida.public_key(), entry(&ida, 5, 160.0), T)
                .await,
            Ok(true)
        );
        // Replay of an older entry: not stored.
        assert_eq!(
            db.store(KEY.into(), ida.public_key(), entry(&ida, 1, 150.0), T)
                .await,
            Ok(false)
        );
        // Forged: b signs under a's subkey.
        let idb = b.identity();
        assert_eq!(
            db.store(KEY.into(), ida.public_key(), entry(&idb, 9, 170.0), T)
                .await,
            Err(DhtError::Rejected(RejectionReason::BadSignature))
        );
        let seen = db.get(KEY.into(), true, T).await.unwrap().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(
            seen.get(&ida.public_key())
                .unwrap()
                .value()
                .unwrap()
                .samples_accumulated,
            5
        );
        assert_eq!(net.rejections().get(RejectionReason::BadSignature), 1);
        assert_eq!(net.rejections().get(RejectionReason::Stale), 1);
        // Expiry.
        clock.set(160.0);
        assert_eq!(db.get(KEY.into(), true, T).await, Ok(None));
        assert_eq!(
            net.stats(),
            MemoryStats {
                stores: 3,
                gets: 2,
                ..MemoryStats::default()
            }
        );
    }

    #[actix_rt::test]
    async fn injected_failures_latency_and_dropped_replies() {
        let clock = ManualClock::new(100.0);
        let net = MemoryNetwork::new(clock.shared());
        let a = net.peer().unwrap();
        let da = a.start().unwrap();
        a.faults().update(|f| f.fail_probability = 1.0);
        assert!(matches!(
            da.get(KEY.into(), true, T).await,
            Err(DhtError::Failed(_))
        ));
        a.faults().set(Faults {
            drop_replies: true,
            ..Faults::default()
        });
        let short = Duration::from_millis(50);
        assert_eq!(
            da.get(KEY.into(), true, short).await,
            Err(DhtError::Timeout(short))
        );
        a.faults().set(Faults {
            latency: Duration::from_millis(30),
            ..Faults::default()
        });
        let started = std::time::Instant::now();
        assert_eq!(da.get(KEY.into(), true, T).await, Ok(None));
        assert!(started.elapsed() >= Duration::from_millis(30));
    }

    #[actix_rt::test]
    async fn partition_isolates_and_heal_publishes() {
        let clock = ManualClock::new(100.0);
        let net = MemoryNetwork::new(clock.shared());
        let (a, b) = (net.peer().unwrap(), net.peer().unwrap());
        let (da, db) = (a.start().unwrap(), b.start().unwrap());
        let (ida, idb) = (a.identity(), b.identity());
        db.store(KEY.into(), idb.public_key(), entry(&idb, 1, 160.0), T)
            .await
            .unwrap();
        a.faults().update(|f| f.partitioned = true);
        da.store(KEY.into(), ida.public_key(), entry(&ida, 2, 160.0), T)
            .await
            .unwrap();
        let inside = da.get(KEY.into(), true, T).await.unwrap().unwrap();
        assert_eq!(inside.len(), 1, "a sees only itself");
        assert!(inside.get(&ida.public_key()).is_some());
        assert_eq!(
            db.get(KEY.into(), true, T).await.unwrap().unwrap().len(),
            1,
            "b cannot see a"
        );
        a.faults().update(|f| f.partitioned = false);
        assert_eq!(da.get(KEY.into(), true, T).await.unwrap().unwrap().len(), 2);
        assert_eq!(db.get(KEY.into(), true, T).await.unwrap().unwrap().len(), 2);
    }

    #[actix_rt::test]
    async fn injected_panic_kills_the_gateway_and_it_can_be_restarted() {
        let clock = ManualClock::new(100.0);
        let net = MemoryNetwork::new(clock.shared());
        let a = net.peer().unwrap();
        let da = a.start().unwrap();
        a.faults().update(|f| f.panic_on_next_request = true);
        assert_eq!(
            da.get(KEY.into(), true, T).await,
            Err(DhtError::Unavailable)
        );
        assert!(!da.is_alive());
        let again = a.start().unwrap();
        assert_eq!(again.get(KEY.into(), true, T).await, Ok(None));
        again.stop();
    }
}
