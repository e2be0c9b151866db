//! [`NodeConfig`]: the settings of one node, with the defaults every node starts from.

use std::time::Duration;

use libp2p::pnet::PreSharedKey;
use libp2p::{Multiaddr, PeerId};

use crate::admission_token::AdmissionToken;
use crate::records::{Admission, RecordLimits};

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
    /// time with [`super::NodeHandle::block_peers`]).
    pub deny: Vec<PeerId>,
    /// v2: the swarm's `tracker.publish_min_interval`, the steady rate one peer's gossip
    /// messages are admitted at (after a short burst).
    pub gossip_min_interval: f64,
    /// Dial every TCP connection from a fresh local port instead of the listening port. Off by
    /// default (reusing the port helps NAT traversal); needed under the Shadow simulator, which
    /// does not emulate port reuse.
    pub dial_from_fresh_ports: bool,
    /// The collaboration's pre-shared network key (libp2p private networks): with one, every
    /// connection is encrypted with it below Noise, so a node without the same key cannot
    /// complete a connection with this one. `None`: open.
    pub network_key: Option<PreSharedKey>,
    /// Who may count: what the store, reads and the gossip gate admit (`tracker.authority`).
    pub admission: Admission,
    /// This node's own admission token, carried in the entries its tracker signs
    /// (`dht.token_file`). Must admit this node's identity.
    pub admission_token: Option<AdmissionToken>,
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
            gossip_min_interval: 0.5,
            dial_from_fresh_ports: false,
            network_key: None,
            admission: Admission::OPEN,
            admission_token: None,
        }
    }
}

impl NodeConfig {
    /// Kademlia's packet limit: a whole record at the limits, plus framing.
    pub fn max_packet_size(&self) -> usize {
        self.limits.max_record_bytes().saturating_add(64 * 1024)
    }
}
