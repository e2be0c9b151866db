//! The node's gossip (protocol v2): the gossipsub behaviour as we configure it
//! ([`build_gossip`]) and [`Topics`], the subscribed keys with their admission gates
//! ([`GossipGate`], the record validator) and the sinks that take accepted entries.
//!
//! - Messages are anonymous (no gossipsub author, sequence number or signature: the entry
//!   carries our Ed25519 signature); the message id is [`message_id`], a hash of the bytes, so
//!   gossipsub drops duplicates before we see them.
//! - Every message is validated by the application ([`Topics::judge`]) and the verdict goes
//!   back to gossipsub: `Accept` (forwarded), `Ignore` (dropped) or `Reject` (dropped, and the
//!   peer that sent it loses score: invalid deliveries count squared at weight -1, decaying 1 %
//!   a second, so one stray rejection costs an honest relay little while ten put a forger
//!   below the graylist threshold (-80) for tens of seconds, its messages dropped unread).
//! - A publish goes to the mesh only (no flood publishing), and IDONTWANT is sent for messages
//!   of 128 bytes and more (every entry: 139 bytes in the compact form, ~290 in the JSON one).
//! - Peer scoring is on with the IP-colocation penalty off (many honest peers may share an
//!   address: a lab behind one NAT, or every test on 127.0.0.1) and the mesh-delivery-rate
//!   penalties off (progress messages are rare by design).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use libp2p::gossipsub::{
    self, DataTransform, IdentTopic, IdentityTransform, Message, MessageAcceptance,
    MessageAuthenticity, MessageId, PeerScoreParams, PeerScoreThresholds, RawMessage, TopicHash,
    TopicScoreParams, ValidationMode,
};

use super::stats::bump;
use super::NodeStats;
use crate::dht::kad_store::SharedRejections;
use crate::dht::DhtError;
use crate::identity::PeerKey;
use crate::records::{message_id, Admission, GossipGate, GossipVerdict, RecordLimits, SignedEntry};

/// The gossipsub protocol of swarm-progress.
pub const GOSSIP_PROTOCOL: &str = "/swarm-progress/gossip/1.1.0";

/// Peers a node keeps in its mesh of a topic: it sends each message to them.
pub const MESH_N: usize = 4;
/// Fewer mesh peers than this and a heartbeat grafts more.
pub const MESH_N_LOW: usize = 3;
/// More mesh peers than this and a heartbeat prunes some.
pub const MESH_N_HIGH: usize = 6;
/// Mesh peers that must be outbound connections (an eclipse defence; < MESH_N_LOW).
pub const MESH_OUTBOUND_MIN: usize = 2;
/// Peers outside the mesh told (IHAVE) of recent message ids each heartbeat.
pub const GOSSIP_LAZY: usize = 3;
/// Heartbeats whose message ids go into each IHAVE: 1, so that each id is told once to
/// [`GOSSIP_LAZY`] peers. libp2p's 3 tells each id in three successive heartbeats: with
/// 139-byte messages and 22 bytes an id, that is ~200 bytes sent per message per peer, almost
/// half as much as the ~3.4 copies of the message itself.
pub const GOSSIP_HISTORY: usize = 1;

/// Where a node hands accepted entries: called on the node's thread, must not block.
pub type PushSink = Box<dyn Fn(PeerKey, SignedEntry) + Send>;

/// Counts every message gossipsub receives, duplicates included (it sees them before the
/// duplicate filter); the rest of the transform is the identity.
#[derive(Clone)]
pub(super) struct CountingTransform {
    stats: Arc<NodeStats>,
}

impl DataTransform for CountingTransform {
    fn inbound_transform(&self, raw: RawMessage) -> Result<Message, std::io::Error> {
        bump(&self.stats.gossip_arrived, 1);
        bump(&self.stats.gossip_arrived_bytes, raw.data.len() as u64);
        IdentityTransform.inbound_transform(raw)
    }

    fn outbound_transform(
        &self,
        topic: &TopicHash,
        data: Vec<u8>,
    ) -> Result<Vec<u8>, std::io::Error> {
        IdentityTransform.outbound_transform(topic, data)
    }
}

/// The gossipsub behaviour of a node.
pub(super) type GossipBehaviour = gossipsub::Behaviour<CountingTransform>;

/// Builds the gossipsub behaviour (module docs).
pub(super) fn build_gossip(stats: Arc<NodeStats>) -> Result<GossipBehaviour, DhtError> {
    let failed = |e: &dyn std::fmt::Display| DhtError::Failed(format!("gossip: {e}"));
    let config = gossipsub::ConfigBuilder::default()
        // A mesh of 4 (3 to 6) and IHAVE gossip to 3 other peers a heartbeat, not to a quarter
        // of the topic: at N = 64 libp2p's defaults (6, 5 to 12; 6 and 25 %) made each entry
        // arrive 6.3 times and the IHAVE lists cost another quarter of a peer's bytes.
        .mesh_n(MESH_N)
        .mesh_n_low(MESH_N_LOW)
        .mesh_n_high(MESH_N_HIGH)
        .mesh_outbound_min(MESH_OUTBOUND_MIN)
        .gossip_lazy(GOSSIP_LAZY)
        .gossip_factor(0.0)
        .history_gossip(GOSSIP_HISTORY)
        .protocol_id(GOSSIP_PROTOCOL, gossipsub::Version::V1_1)
        .validation_mode(ValidationMode::Anonymous)
        .validate_messages()
        .message_id_fn(|m: &Message| MessageId::new(&message_id(&m.data)))
        .heartbeat_interval(Duration::from_secs(1))
        .duplicate_cache_time(Duration::from_secs(120))
        // Publish to the mesh, not to every connected subscriber: at N = 64 flooding each
        // publish to ~63 peers made most of a peer's bytes.
        .flood_publish(false)
        // Our messages are 139 bytes (compact entries) or ~290 (JSON entries): tell mesh peers
        // not to send what we already have.
        .idontwant_message_size_threshold(128)
        .build()
        .map_err(|e| failed(&e))?;
    let mut gossip = gossipsub::Behaviour::new_with_transform(
        MessageAuthenticity::Anonymous,
        config,
        CountingTransform { stats },
    )
    .map_err(|e| failed(&e))?;
    let params = PeerScoreParams {
        ip_colocation_factor_weight: 0.0,
        ..PeerScoreParams::default()
    };
    gossip
        .with_peer_score(params, PeerScoreThresholds::default())
        .map_err(|e| failed(&e))?;
    Ok(gossip)
}

/// Score parameters of a progress topic (module docs).
fn topic_score_params() -> TopicScoreParams {
    TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.01,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 300.0,
        first_message_deliveries_weight: 0.1,
        first_message_deliveries_cap: 50.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -1.0,
        invalid_message_deliveries_decay: 0.99,
        ..TopicScoreParams::default()
    }
}

struct Subscription {
    gate: GossipGate,
    sinks: Vec<PushSink>,
}

/// The keys this node gossips on.
pub(super) struct Topics {
    by_hash: HashMap<TopicHash, Subscription>,
    limits: RecordLimits,
    min_interval: f64,
    admission: Admission,
}

impl Topics {
    /// No subscriptions yet; gates check `limits`, the swarm's `min_interval` and
    /// `admission`.
    pub(super) fn new(limits: RecordLimits, min_interval: f64, admission: Admission) -> Self {
        Self {
            by_hash: HashMap::new(),
            limits,
            min_interval,
            admission,
        }
    }

    /// The topic of `key` (`key` itself: `{prefix}_progress`).
    pub(super) fn topic(key: &str) -> IdentTopic {
        IdentTopic::new(key)
    }

    /// Subscribes `sink` to `key` (replacing an earlier sink of that key); joins the topic on
    /// first use.
    pub(super) fn subscribe(
        &mut self,
        gossip: &mut GossipBehaviour,
        key: &str,
        sink: PushSink,
    ) -> Result<(), DhtError> {
        let topic = Self::topic(key);
        let hash = topic.hash();
        if let Some(sub) = self.by_hash.get_mut(&hash) {
            // One sink per key (a node serves one tracker): a repeated subscription, such as a
            // retry after a timed-out reply, replaces the earlier one.
            sub.sinks = vec![sink];
            return Ok(());
        }
        gossip
            .subscribe(&topic)
            .map_err(|e| DhtError::Failed(format!("gossip subscribe: {e}")))?;
        gossip
            .set_topic_params(topic.clone(), topic_score_params())
            .map_err(|e| DhtError::Failed(format!("gossip score: {e}")))?;
        self.by_hash.insert(
            hash,
            Subscription {
                gate: GossipGate::new(key, self.limits, self.min_interval)
                    .with_admission(self.admission.clone()),
                sinks: vec![sink],
            },
        );
        Ok(())
    }

    /// Remembers an entry this node publishes, so its echoes are stale.
    pub(super) fn note_own(&mut self, key: &str, subkey: PeerKey, entry: &SignedEntry, now: f64) {
        if let Some(sub) = self.by_hash.get_mut(&Self::topic(key).hash()) {
            sub.gate.note_own(subkey, entry, now);
        }
    }

    /// Judges a received message; an accepted entry goes to the topic's sinks. Returns what to
    /// tell gossipsub.
    pub(super) fn judge(
        &mut self,
        message: &Message,
        now: f64,
    ) -> (MessageAcceptance, GossipVerdict) {
        let Some(sub) = self.by_hash.get_mut(&message.topic) else {
            return (
                MessageAcceptance::Ignore,
                GossipVerdict::Ignore(crate::records::RejectionReason::Malformed),
            );
        };
        let verdict = sub.gate.admit(&message.data, now);
        let acceptance = match &verdict {
            GossipVerdict::Accept(subkey, entry) => {
                for sink in &sub.sinks {
                    sink(*subkey, entry.clone());
                }
                MessageAcceptance::Accept
            }
            GossipVerdict::Ignore(_) => MessageAcceptance::Ignore,
            GossipVerdict::Reject(_) => MessageAcceptance::Reject,
        };
        (acceptance, verdict)
    }

    /// Publishes `entry` on `key`'s topic after checking it as any receiver will. A publish
    /// that reaches no peer (none subscribed yet) is [`DhtError::NoTopicPeers`], so the
    /// pusher tries again once the mesh may have formed.
    pub(super) fn publish(
        &mut self,
        gossip: &mut GossipBehaviour,
        key: &str,
        subkey: PeerKey,
        entry: &SignedEntry,
        now: f64,
        stats: &NodeStats,
    ) -> Result<(), DhtError> {
        entry
            .validate(key, &subkey, now, &self.limits)
            .and_then(|()| self.admission.check(&subkey, entry))
            .map_err(DhtError::Rejected)?;
        self.note_own(key, subkey, entry, now);
        match gossip.publish(Self::topic(key), entry.encode(&subkey)) {
            Ok(_) => {
                bump(&stats.gossip_published, 1);
                Ok(())
            }
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {
                bump(&stats.gossip_publish_failed, 1);
                Err(DhtError::NoTopicPeers)
            }
            Err(gossipsub::PublishError::Duplicate) => {
                bump(&stats.gossip_publish_failed, 1);
                Ok(())
            }
            Err(e) => {
                bump(&stats.gossip_publish_failed, 1);
                Err(DhtError::Failed(format!("gossip publish: {e}")))
            }
        }
    }

    /// Validates a received message, reports the verdict to gossipsub and counts it.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_message(
        &mut self,
        gossip: &mut GossipBehaviour,
        source: &libp2p::PeerId,
        id: &MessageId,
        message: &Message,
        now: f64,
        stats: &NodeStats,
        rejections: &SharedRejections,
    ) {
        bump(&stats.gossip_received, 1);
        let (acceptance, verdict) = self.judge(message, now);
        match &verdict {
            GossipVerdict::Accept(..) => bump(&stats.gossip_accepted, 1),
            GossipVerdict::Ignore(reason) => {
                bump(&stats.gossip_ignored, 1);
                rejections.record(*reason, 1);
            }
            GossipVerdict::Reject(reason) => {
                bump(&stats.gossip_rejected, 1);
                rejections.record(*reason, 1);
                tracing::debug!(%source, %reason, "gossip message rejected");
            }
        }
        gossip.report_message_validation_result(id, source, acceptance);
    }

    /// Forgets expired subkeys in every gate.
    pub(super) fn prune_expired(&mut self, now: f64) {
        for sub in self.by_hash.values_mut() {
            sub.gate.prune_expired(now);
        }
    }
}
