//! Connections that fail their handshake: counted in [`NodeStats::handshake_failures`] and
//! logged once per remote host, not once per retry. In a private collaboration (a network key,
//! `NodeConfig::network_key`) this is what a peer without the key, or with another one, looks
//! like: its bytes decrypt to noise, so protocol negotiation or Noise fails on both sides.
//!
//! A failure is a handshake failure when its error chain holds a protocol-negotiation, Noise
//! or private-network error; a refused or timed-out dial is not one.

use std::collections::HashSet;
use std::error::Error;
use std::io;

use libp2p::core::upgrade::NegotiationError;
use libp2p::multiaddr::Protocol;
use libp2p::pnet::PnetError;
use libp2p::swarm::{DialError, ListenError};
use libp2p::{noise, Multiaddr, PeerId, TransportError};
use tracing::warn;

use super::stats::{bump, NodeStats};

/// Remote hosts remembered as already logged; past it the memory starts again.
const MAX_LOGGED_HOSTS: usize = 1024;

/// The hosts already logged (module docs).
pub(super) struct HandshakeFailures {
    network_key: bool,
    logged: HashSet<String>,
}

impl HandshakeFailures {
    /// None logged yet; `network_key` says whether this node has one (it shapes the warning).
    pub(super) fn new(network_key: bool) -> Self {
        Self {
            network_key,
            logged: HashSet::new(),
        }
    }

    /// An inbound connection from `remote` failed with `error`.
    pub(super) fn on_incoming(
        &mut self,
        remote: &Multiaddr,
        error: &ListenError,
        stats: &NodeStats,
    ) {
        if let ListenError::Transport(TransportError::Other(e)) = error {
            if is_handshake_failure(e) {
                self.failed(host_of(remote), e, stats);
            }
        }
    }

    /// A dial of `peer` failed with `error`.
    pub(super) fn on_outgoing(
        &mut self,
        peer: Option<PeerId>,
        error: &DialError,
        stats: &NodeStats,
    ) {
        let DialError::Transport(attempts) = error else {
            return;
        };
        for (addr, attempt) in attempts {
            if let TransportError::Other(e) = attempt {
                if is_handshake_failure(e) {
                    let host = peer.map_or_else(|| host_of(addr), |p| p.to_string());
                    self.failed(host, e, stats);
                }
            }
        }
    }

    fn failed(&mut self, host: String, error: &io::Error, stats: &NodeStats) {
        bump(&stats.handshake_failures, 1);
        if self.logged.len() >= MAX_LOGGED_HOSTS {
            self.logged.clear();
        }
        if !self.logged.insert(host.clone()) {
            return;
        }
        if self.network_key {
            warn!(
                remote = %host,
                %error,
                "connection handshake failed: the remote peer may not have this collaboration's \
                 network key (further failures with it are counted, not logged)"
            );
        } else {
            warn!(
                remote = %host,
                %error,
                "connection handshake failed: if the remote peer belongs to a private \
                 collaboration, this node needs its network key (dht.network_key_file; further \
                 failures with it are counted, not logged)"
            );
        }
    }
}

/// The host part of an address (`/ip4/1.2.3.4`), so retries from new ports are one host.
fn host_of(addr: &Multiaddr) -> String {
    match addr.iter().next() {
        Some(
            p @ (Protocol::Ip4(_) | Protocol::Ip6(_) | Protocol::Dns(_) | Protocol::Memory(_)),
        ) => Multiaddr::empty().with(p).to_string(),
        _ => addr.to_string(),
    }
}

/// Whether the error chain of `error` holds a negotiation, Noise or private-network error.
fn is_handshake_failure(error: &io::Error) -> bool {
    // `io::Error::source` skips the error it wraps: start from the wrapped one.
    let mut next: Option<&(dyn Error + 'static)> = match error.get_ref() {
        Some(inner) => Some(inner),
        None => return false,
    };
    while let Some(e) = next {
        if e.is::<NegotiationError>() || e.is::<noise::Error>() || e.is::<PnetError>() {
            return true;
        }
        next = match e.downcast_ref::<io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as &(dyn Error + 'static)),
            None => e.source(),
        };
    }
    false
}
