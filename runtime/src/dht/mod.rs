//! The DhtGateway contract: the typed messages every gateway answers ([`Store`], [`Get`],
//! [`StopGateway`], and for protocol v2 [`Push`] and [`Subscribe`]), the [`DhtHandle`] through
//! which the other actors reach a gateway, and the [`GatewayFactory`] a tracker uses to start
//! (and restart) its gateway.
//!
//! Any actor that handles the three pull messages can be a gateway (v1 only); one that also
//! handles the two push messages carries v2: [`memory::MemoryDht`] (the in-process mock) and
//! [`kademlia::KademliaGateway`] (a libp2p node with Kademlia and gossipsub, [`node`]). A
//! subscribed gateway sends every valid entry that arrives by gossip as a [`Pushed`].

pub mod kad_store;
pub mod kademlia;
pub mod memory;
pub mod node;
pub mod threads;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use actix::dev::ToEnvelope;
use actix::prelude::*;
use thiserror::Error;

use crate::admission_token::AdmissionToken;
use crate::identity::{Identity, PeerKey};
use crate::records::{Admission, ProgressRecord, RejectionReason, SignedEntry};

/// Stores one peer's signed entry under `key` / `subkey`.
///
/// `Ok(true)`: stored (new or newer than what was held). `Ok(false)`: a newer or identical entry
/// was already held, nothing changed. `Err`: rejected or failed.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<bool, DhtError>")]
pub struct Store {
    /// The DHT key (`"{prefix}_progress"`).
    pub key: String,
    /// The publishing peer's public key.
    pub subkey: PeerKey,
    /// The signed entry.
    pub entry: SignedEntry,
}

/// Reads the record under `key`. With `latest`, the gateway collects every copy it can find and
/// merges them; without, it may stop at the first valid copy. `Ok(None)`: no live entry found.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Option<ProgressRecord>, DhtError>")]
pub struct Get {
    /// The DHT key.
    pub key: String,
    /// Collect and merge every copy.
    pub latest: bool,
}

/// v2: publishes one peer's signed entry on the key's gossip topic (`Ok` also when no peer was
/// there to receive it: the DHT store covers that).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<(), DhtError>")]
pub struct Push {
    /// The DHT key, which is also the topic (`"{prefix}_progress"`).
    pub key: String,
    /// The publishing peer's public key.
    pub subkey: PeerKey,
    /// The signed entry.
    pub entry: SignedEntry,
}

/// v2: a valid entry that arrived by gossip on a subscribed key (already checked by the
/// gateway with the record validator; never this peer's own).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Pushed {
    /// The key (topic) it arrived on.
    pub key: String,
    /// The publishing peer.
    pub subkey: PeerKey,
    /// The entry.
    pub entry: SignedEntry,
}

/// v2: follow the key's gossip topic; every accepted entry goes to `sink` as [`Pushed`].
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<(), DhtError>")]
pub struct Subscribe {
    /// The key (topic).
    pub key: String,
    /// Where accepted entries go.
    pub sink: Recipient<Pushed>,
}

/// Asks the gateway to stop (the tracker's last shutdown step).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct StopGateway;

/// Why a DHT operation failed.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum DhtError {
    /// The operation did not finish in time.
    #[error("DHT operation timed out after {0:?}")]
    Timeout(Duration),
    /// The gateway is not running.
    #[error("DHT gateway unavailable")]
    Unavailable,
    /// The entry was refused by validation.
    #[error("entry rejected: {0}")]
    Rejected(RejectionReason),
    /// The gateway only answers the pull messages (v1), not [`Push`] and [`Subscribe`].
    #[error("the DHT gateway does not carry gossip (protocol v2)")]
    NoGossip,
    /// A push reached no peer: none is known to be subscribed to the topic yet (a node that
    /// just joined). The pusher retries; the DHT store covers readers meanwhile.
    #[error("no peer subscribed to the gossip topic yet")]
    NoTopicPeers,
    /// The operation failed (network error, no peers, injected failure).
    #[error("DHT operation failed: {0}")]
    Failed(String),
}

impl From<MailboxError> for DhtError {
    fn from(e: MailboxError) -> Self {
        match e {
            MailboxError::Closed => DhtError::Unavailable,
            MailboxError::Timeout => DhtError::Failed("mailbox timeout".into()),
        }
    }
}

/// How the other actors reach a gateway: recipients of the contract messages.
#[derive(Clone)]
pub struct DhtHandle {
    store: Recipient<Store>,
    get: Recipient<Get>,
    stop: Recipient<StopGateway>,
    push: Option<(Recipient<Push>, Recipient<Subscribe>)>,
}

impl std::fmt::Debug for DhtHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DhtHandle")
            .field("alive", &self.is_alive())
            .finish()
    }
}

impl DhtHandle {
    /// A pull-only (v1) handle from the three recipients.
    pub fn new(store: Recipient<Store>, get: Recipient<Get>, stop: Recipient<StopGateway>) -> Self {
        Self {
            store,
            get,
            stop,
            push: None,
        }
    }

    /// This handle, also carrying gossip (v2) through `push` and `subscribe`.
    pub fn with_push(mut self, push: Recipient<Push>, subscribe: Recipient<Subscribe>) -> Self {
        self.push = Some((push, subscribe));
        self
    }

    /// A pull-only (v1) handle to an actor that answers the three pull messages.
    pub fn of_pull<A>(addr: &Addr<A>) -> Self
    where
        A: Actor + Handler<Store> + Handler<Get> + Handler<StopGateway>,
        A::Context: ToEnvelope<A, Store> + ToEnvelope<A, Get> + ToEnvelope<A, StopGateway>,
    {
        Self::new(
            addr.clone().recipient(),
            addr.clone().recipient(),
            addr.clone().recipient(),
        )
    }

    /// A handle to an actor that answers the whole contract, pull and push.
    pub fn of<A>(addr: &Addr<A>) -> Self
    where
        A: Actor
            + Handler<Store>
            + Handler<Get>
            + Handler<StopGateway>
            + Handler<Push>
            + Handler<Subscribe>,
        A::Context: ToEnvelope<A, Store>
            + ToEnvelope<A, Get>
            + ToEnvelope<A, StopGateway>
            + ToEnvelope<A, Push>
            + ToEnvelope<A, Subscribe>,
    {
        Self::of_pull(addr).with_push(addr.clone().recipient(), addr.clone().recipient())
    }

    /// Whether `other` reaches the same gateway actor.
    pub fn same_as(&self, other: &DhtHandle) -> bool {
        self.store == other.store
    }

    /// Whether this gateway carries gossip (v2).
    pub fn carries_gossip(&self) -> bool {
        self.push.is_some()
    }

    /// v2: publishes `entry` on the key's topic, bounded by `timeout`.
    pub fn push(
        &self,
        key: String,
        subkey: PeerKey,
        entry: SignedEntry,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), DhtError>> + 'static {
        let request = self
            .push
            .as_ref()
            .map(|(push, _)| push.send(Push { key, subkey, entry }));
        async move {
            let request = request.ok_or(DhtError::NoGossip)?;
            match tokio::time::timeout(timeout, request).await {
                Ok(reply) => reply?,
                Err(_) => Err(DhtError::Timeout(timeout)),
            }
        }
    }

    /// v2: subscribes `sink` to the key's topic, bounded by `timeout`.
    pub fn subscribe(
        &self,
        key: String,
        sink: Recipient<Pushed>,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), DhtError>> + 'static {
        let request = self
            .push
            .as_ref()
            .map(|(_, subscribe)| subscribe.send(Subscribe { key, sink }));
        async move {
            let request = request.ok_or(DhtError::NoGossip)?;
            match tokio::time::timeout(timeout, request).await {
                Ok(reply) => reply?,
                Err(_) => Err(DhtError::Timeout(timeout)),
            }
        }
    }

    /// Stores `entry`, bounded by `timeout`. The returned future owns what it needs.
    pub fn store(
        &self,
        key: String,
        subkey: PeerKey,
        entry: SignedEntry,
        timeout: Duration,
    ) -> impl Future<Output = Result<bool, DhtError>> + 'static {
        let request = self.store.send(Store { key, subkey, entry });
        async move {
            match tokio::time::timeout(timeout, request).await {
                Ok(reply) => reply?,
                Err(_) => Err(DhtError::Timeout(timeout)),
            }
        }
    }

    /// Reads `key`, bounded by `timeout`. The returned future owns what it needs.
    pub fn get(
        &self,
        key: String,
        latest: bool,
        timeout: Duration,
    ) -> impl Future<Output = Result<Option<ProgressRecord>, DhtError>> + 'static {
        let request = self.get.send(Get { key, latest });
        async move {
            match tokio::time::timeout(timeout, request).await {
                Ok(reply) => reply?,
                Err(_) => Err(DhtError::Timeout(timeout)),
            }
        }
    }

    /// Asks the gateway to stop (does not wait).
    pub fn stop(&self) {
        self.stop.do_send(StopGateway);
    }

    /// Whether the gateway's mailbox is still open.
    pub fn is_alive(&self) -> bool {
        self.store.connected() && self.get.connected()
    }
}

/// Starts a tracker's gateway and names the identity it runs under (the same key signs the
/// tracker's entries). Called inside the tracker's actix System, again after a gateway crash.
pub trait GatewayFactory: Send + 'static {
    /// The identity that signs this peer's entries (and, for libp2p, is its peer id).
    fn identity(&self) -> Arc<Identity>;

    /// Starts a gateway actor on the current arbiter.
    fn start(&self) -> Result<DhtHandle, DhtError>;

    /// Whether this peer cannot be dialed by others (a libp2p node listening on nothing): a
    /// tracker whose `client_mode` is unset is then a client, as in hivemind.
    fn is_client(&self) -> bool {
        false
    }

    /// Who may count, as the gateway judges entries (`tracker.authority`): open by default.
    fn admission(&self) -> Admission {
        Admission::OPEN
    }

    /// This peer's admission token, carried in every entry its tracker signs.
    fn admission_token(&self) -> Option<AdmissionToken> {
        None
    }
}

impl GatewayFactory for Box<dyn GatewayFactory> {
    fn identity(&self) -> Arc<Identity> {
        (**self).identity()
    }

    fn is_client(&self) -> bool {
        (**self).is_client()
    }

    fn admission(&self) -> Admission {
        (**self).admission()
    }

    fn admission_token(&self) -> Option<AdmissionToken> {
        (**self).admission_token()
    }

    fn start(&self) -> Result<DhtHandle, DhtError> {
        (**self).start()
    }
}
