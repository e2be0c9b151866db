//! `KademliaGateway`: the production gateway, an actor that answers the DhtGateway contract by
//! sending commands to a libp2p node ([`NodeHandle`]), and [`KademliaPeer`], the
//! [`GatewayFactory`] that starts (and restarts) it under the peer's identity, so the subkey,
//! the record signer and the libp2p peer id name the same key.

use std::sync::{Arc, Mutex};

use actix::prelude::*;

use crate::admission_token::AdmissionToken;
use crate::clock::SharedClock;
use crate::dht::node::{NodeConfig, NodeHandle};
use crate::dht::threads::NodeThreads;
use crate::dht::{
    DhtError, DhtHandle, GatewayFactory, Get, Push, Pushed, StopGateway, Store, Subscribe,
};
use crate::identity::{Identity, IdentityError};
use crate::records::{Admission, ProgressRecord};

/// The libp2p gateway actor. Stopping it stops its node, unless the node is shared
/// ([`KademliaGateway::sharing`]).
#[derive(Debug)]
pub struct KademliaGateway {
    node: NodeHandle,
    owns_node: bool,
}

impl KademliaGateway {
    /// A gateway in front of a running node, which stops with it.
    pub fn new(node: NodeHandle) -> Self {
        Self {
            node,
            owns_node: true,
        }
    }

    /// A gateway in front of a running node that others use too: stopping the gateway leaves
    /// the node running.
    pub fn sharing(node: NodeHandle) -> Self {
        Self {
            node,
            owns_node: false,
        }
    }
}

impl Actor for KademliaGateway {
    type Context = Context<Self>;

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        if self.owns_node {
            self.node.stop();
        }
    }
}

impl Handler<Store> for KademliaGateway {
    type Result = ResponseFuture<Result<bool, DhtError>>;

    fn handle(&mut self, msg: Store, _ctx: &mut Context<Self>) -> Self::Result {
        let node = self.node.clone();
        Box::pin(async move { node.store(msg.key, msg.subkey, msg.entry).await })
    }
}

impl Handler<Get> for KademliaGateway {
    type Result = ResponseFuture<Result<Option<ProgressRecord>, DhtError>>;

    fn handle(&mut self, msg: Get, _ctx: &mut Context<Self>) -> Self::Result {
        let node = self.node.clone();
        Box::pin(async move { node.get(msg.key, msg.latest).await })
    }
}

impl Handler<Push> for KademliaGateway {
    type Result = ResponseFuture<Result<(), DhtError>>;

    fn handle(&mut self, msg: Push, _ctx: &mut Context<Self>) -> Self::Result {
        let node = self.node.clone();
        Box::pin(async move { node.push(msg.key, msg.subkey, msg.entry).await })
    }
}

impl Handler<Subscribe> for KademliaGateway {
    type Result = ResponseFuture<Result<(), DhtError>>;

    fn handle(&mut self, msg: Subscribe, _ctx: &mut Context<Self>) -> Self::Result {
        let node = self.node.clone();
        let key = msg.key.clone();
        let sink = msg.sink;
        let deliver = move |subkey, entry| {
            sink.do_send(Pushed {
                key: key.clone(),
                subkey,
                entry,
            })
        };
        Box::pin(async move { node.subscribe(msg.key, Box::new(deliver)).await })
    }
}

impl Handler<StopGateway> for KademliaGateway {
    type Result = ();

    fn handle(&mut self, _: StopGateway, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// A peer on the libp2p DHT: its identity and node settings. Each `start` runs a new node,
/// unless the peer was made on a running node ([`KademliaPeer::sharing`]).
#[derive(Debug, Clone)]
pub struct KademliaPeer {
    identity: Arc<Identity>,
    config: NodeConfig,
    clock: SharedClock,
    /// Shared threads to run the node on (`None`: a thread of its own).
    threads: Option<NodeThreads>,
    /// The node of the most recent gateway (for inspection).
    current: Arc<Mutex<Option<NodeHandle>>>,
    /// A running node every gateway goes through instead of a node of its own.
    shared: Option<NodeHandle>,
}

impl KademliaPeer {
    /// A peer with `identity` and node settings `config`.
    pub fn new(identity: Arc<Identity>, config: NodeConfig, clock: SharedClock) -> Self {
        Self {
            identity,
            config,
            clock,
            threads: None,
            current: Arc::default(),
            shared: None,
        }
    }

    /// A peer whose gateways all go through `node`, already running under `identity` with
    /// `config`, instead of starting a node each: several trackers (of different prefixes) on
    /// one node, as hivemind's `DHT` object is shared by its trackers and averagers. Stopping
    /// a gateway leaves the node running; once the node has stopped, starting a gateway fails
    /// with [`DhtError::Unavailable`].
    pub fn sharing(identity: Arc<Identity>, config: NodeConfig, node: NodeHandle) -> Self {
        Self {
            current: Arc::new(Mutex::new(Some(node.clone()))),
            shared: Some(node),
            ..Self::new(identity, config, crate::clock::SystemClock::shared())
        }
    }

    /// Runs this peer's nodes on the shared `threads` instead of a thread of their own.
    pub fn with_threads(mut self, threads: NodeThreads) -> Self {
        self.threads = Some(threads);
        self
    }

    /// A peer whose identity is kept in `key_file` (PKCS#8, created with mode 0600 if missing),
    /// or an ephemeral identity when no file is given.
    pub fn with_key_file(
        key_file: Option<&std::path::Path>,
        config: NodeConfig,
        clock: SharedClock,
    ) -> Result<Self, IdentityError> {
        let identity = match key_file {
            Some(path) => Identity::load_or_create(path)?,
            None => Identity::generate()?,
        };
        Ok(Self::new(Arc::new(identity), config, clock))
    }

    /// The node of the most recently started gateway.
    pub fn node(&self) -> Option<NodeHandle> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl GatewayFactory for KademliaPeer {
    fn identity(&self) -> Arc<Identity> {
        self.identity.clone()
    }

    fn start(&self) -> Result<DhtHandle, DhtError> {
        if let Some(node) = &self.shared {
            if !node.is_running() {
                return Err(DhtError::Unavailable);
            }
            return Ok(DhtHandle::of(
                &KademliaGateway::sharing(node.clone()).start(),
            ));
        }
        let node = NodeHandle::start_on(
            &self.identity,
            self.config.clone(),
            self.clock.clone(),
            self.threads.as_ref(),
        )?;
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(node.clone());
        Ok(DhtHandle::of(&KademliaGateway::new(node).start()))
    }

    fn is_client(&self) -> bool {
        self.config.listen.is_empty()
    }

    fn admission(&self) -> Admission {
        self.config.admission.clone()
    }

    fn admission_token(&self) -> Option<AdmissionToken> {
        self.config.admission_token.clone()
    }
}
