//! The libp2p node: a swarm (TCP with Noise and Yamux, plus libp2p's in-memory transport;
//! Kademlia in server mode over a `ProgressStore`; Identify) owned by one event loop that runs
//! on a thread of its own (or a shared one, `NodeThreads`) and takes commands with oneshot
//! replies. [`NodeHandle`] is the cheap, cloneable way in; the `KademliaGateway` actor is the
//! typed front of it.
//!
//! # Layout
//!
//! - `config.rs`: [`NodeConfig`].
//! - `handle.rs`: [`NodeHandle`] (start, store, get, info, block, stop) and [`NodeInfo`].
//! - `command.rs`: the commands a handle sends to the event loop.
//! - `swarm.rs`: building the swarm: identity, transports, Kademlia, Identify, deny list.
//! - `metered.rs`: byte counting on every connection, below Noise and Yamux.
//! - `handshakes.rs`: connections that fail their handshake (a peer without the network
//!   key), counted and logged once per host.
//! - `fresh_ports.rs`: dialing from fresh ports (`NodeConfig::dial_from_fresh_ports`, for the
//!   Shadow simulator).
//! - `stats.rs`: [`NodeStats`].
//! - `event_loop/`: the loop that owns the swarm: stores and events (`mod.rs`), reads
//!   (`reads.rs`).
//! - `gossip.rs`: v2's gossipsub configuration and the subscribed topics with their gates.
//! - `replicas.rs`: the cache of a key's closest peers (pure, unit-tested).
//! - `bootstrap.rs`: when to (re)bootstrap (pure, unit-tested).
//!
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

mod bootstrap;
mod command;
mod config;
mod event_loop;
mod fresh_ports;
mod gossip;
mod handle;
mod handshakes;
mod metered;
mod replicas;
mod stats;
mod swarm;

pub use config::NodeConfig;
pub use gossip::{PushSink, GOSSIP_PROTOCOL};
pub use handle::{NodeHandle, NodeInfo};
pub use libp2p::{Multiaddr, PeerId};
pub use metered::Metered;
pub use stats::NodeStats;
pub use swarm::{libp2p_keypair, peer_id_of, KAD_PROTOCOL};
