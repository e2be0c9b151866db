//! Building a node's swarm: the libp2p identity of our [`Identity`], the transports (TCP with
//! nodelay, and libp2p's in-memory transport, each metered, then the private network's key if
//! one is set ([`private_network`]), then Noise and Yamux), Kademlia in
//! server mode over a [`ProgressStore`] (no republication, no record TTL, packet limit sized to
//! a full record, replication factor from the config), Identify, gossipsub (`gossip.rs`), and
//! the deny list.

use std::sync::Arc;

use futures::future::Either;
use futures::{AsyncRead, AsyncWrite};
use libp2p::core::transport::MemoryTransport;
use libp2p::core::{upgrade, Transport};
use libp2p::kad;
use libp2p::multiaddr::Protocol;
use libp2p::pnet::{PnetConfig, PnetError, PnetOutput, PreSharedKey};
use libp2p::swarm::NetworkBehaviour;
use libp2p::{
    allow_block_list, identify, noise, tcp, yamux, Multiaddr, PeerId, StreamProtocol, Swarm,
};

use super::fresh_ports::FreshPorts;
use super::gossip::{build_gossip, GossipBehaviour};
use super::{Metered, NodeConfig, NodeStats};
use crate::clock::SharedClock;
use crate::dht::kad_store::{ProgressStore, SharedRejections};
use crate::dht::DhtError;
use crate::identity::Identity;

/// The Kademlia protocol of swarm-progress (its own DHT, not the IPFS one).
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/swarm-progress/kad/1.0.0");
/// The Identify protocol version string.
const IDENTIFY_VERSION: &str = "/swarm-progress/0.1.0";

#[derive(NetworkBehaviour)]
pub(super) struct Behaviour {
    /// The deny list; first, so a denied connection never reaches Kademlia.
    pub(super) deny: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    pub(super) kad: kad::Behaviour<ProgressStore>,
    pub(super) identify: identify::Behaviour,
    pub(super) gossip: GossipBehaviour,
}

/// The libp2p identity of a swarm-progress identity (the same Ed25519 key).
pub fn libp2p_keypair(identity: &Identity) -> Result<libp2p::identity::Keypair, DhtError> {
    let seed = identity
        .secret_seed()
        .ok_or_else(|| DhtError::Failed("identity has no Ed25519 seed".into()))?;
    libp2p::identity::Keypair::ed25519_from_bytes(seed)
        .map_err(|e| DhtError::Failed(format!("identity: {e}")))
}

pub(super) fn build_swarm(
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
    let store = ProgressStore::new(clock, config.limits, config.max_keys, rejections)
        .with_admission(config.admission.clone());
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
    let gossip = build_gossip(stats.clone())?;
    let tcp_stats = stats.clone();
    let fresh_ports = config.dial_from_fresh_ports;
    let network_key = config.network_key;
    Ok(libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_other_transport(
            |key| -> Result<_, Box<dyn std::error::Error + Send + Sync>> {
                Ok(FreshPorts::new(
                    tcp::tokio::Transport::new(tcp::Config::default().nodelay(true)),
                    fresh_ports,
                )
                .map(move |stream, _| Metered::new(stream, tcp_stats))
                .and_then(move |stream, _| private_network(network_key, stream))
                .upgrade(upgrade::Version::V1Lazy)
                .authenticate(noise::Config::new(key)?)
                .multiplex(yamux::Config::default()))
            },
        )
        .map_err(|e| failed(&e))?
        .with_other_transport(
            |key| -> Result<_, Box<dyn std::error::Error + Send + Sync>> {
                Ok(MemoryTransport::default()
                    .map(move |stream, _| Metered::new(stream, stats))
                    .and_then(move |stream, _| private_network(network_key, stream))
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
            gossip,
        })
        .map_err(|e| failed(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
        .build())
}

/// A connection's first step in a private collaboration: with a network key, the libp2p
/// private network handshake (each side sends a nonce, then everything is XSalsa20-encrypted
/// with the key), so a peer without the same key sees noise where multistream-select should
/// be and the connection fails before Noise. Without a key the stream passes as it is.
async fn private_network<S>(
    key: Option<PreSharedKey>,
    stream: S,
) -> Result<Either<PnetOutput<S>, S>, PnetError>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    match key {
        Some(key) => PnetConfig::new(key)
            .handshake(stream)
            .await
            .map(Either::Left),
        None => Ok(Either::Right(stream)),
    }
}

/// The peer id in a multiaddr's `/p2p/` component.
pub fn peer_id_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        Protocol::P2p(id) => Some(id),
        _ => None,
    })
}
