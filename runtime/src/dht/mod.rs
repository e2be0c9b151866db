//! The DhtGateway contract: the typed messages every gateway answers ([`Store`], [`Get`],
//! [`StopGateway`]), the [`DhtHandle`] through which the other actors reach a gateway, and the
//! [`GatewayFactory`] a tracker uses to start (and restart) its gateway.
//!
//! Any actor that handles the three messages can be a gateway: [`memory::MemoryDht`] (the
//! in-process mock) and [`kademlia::KademliaGateway`] (a libp2p Kademlia node, [`node`]).

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

use crate::identity::{Identity, PeerKey};
use crate::records::{ProgressRecord, RejectionReason, SignedEntry};

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

/// How the other actors reach a gateway: recipients of the three contract messages.
#[derive(Clone)]
pub struct DhtHandle {
    store: Recipient<Store>,
    get: Recipient<Get>,
    stop: Recipient<StopGateway>,
}

impl std::fmt::Debug for DhtHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DhtHandle")
            .field("alive", &self.is_alive())
            .finish()
    }
}

impl DhtHandle {
    /// A handle from the three recipients.
    pub fn new(store: Recipient<Store>, get: Recipient<Get>, stop: Recipient<StopGateway>) -> Self {
        Self { store, get, stop }
    }

    /// A handle to an actor that answers the whole contract.
    pub fn of<A>(addr: &Addr<A>) -> Self
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
}

impl GatewayFactory for Box<dyn GatewayFactory> {
    fn identity(&self) -> Arc<Identity> {
        (**self).identity()
    }

    fn start(&self) -> Result<DhtHandle, DhtError> {
        (**self).start()
    }
}
