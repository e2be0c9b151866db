//! v2's gossip message and its admission: a message is one [`SignedEntry`] in its canonical
//! encoding (`SignedEntry::encode`, subkey included), named by [`message_id`] (SHA-256 of the
//! bytes, first 20 bytes), and checked by a [`GossipGate`], which every receiver keeps per key.
//!
//! The gate applies the record validator ([`SignedEntry::validate`]) in the order that makes a
//! bad message cheapest to drop, and remembers the newest accepted entry per subkey:
//! 1. size (`max_entry_bytes`), then decoding: [`GossipVerdict::Reject`] (malformed, schema,
//!    oversized);
//! 2. expiry (the entry's and its token's) and the expiration horizon: [`GossipVerdict::Ignore`]
//!    (a late or skewed copy is not proof of malice); then, in a private collaboration, the
//!    token checks that need no signature ([`Admission::screen`]): [`GossipVerdict::Reject`];
//! 3. recency against the entry held for the subkey: an older or identical entry is a replay or
//!    a late copy, [`GossipVerdict::Ignore`] with `stale`, *before* any signature check;
//! 4. room: a new subkey when `max_entries` live subkeys are held is ignored
//!    (`too_many_entries`; incumbents are never evicted);
//! 5. signature and peer id, then the token's signature ([`Admission::verify_tokens`]):
//!    [`GossipVerdict::Reject`];
//! 6. rate: each subkey has a token bucket of [`BURST`] messages refilled at one per
//!    `min_interval`; a verified message beyond it is [`GossipVerdict::Reject`]ed
//!    (`rate_limited`), so a peer that publishes far too often loses gossip score and its
//!    excess never reaches the tracker.
//!
//! `Reject` makes gossipsub penalise the peer that forwarded the message; `Ignore` drops it
//! without penalty. Neither is forwarded.

use std::collections::HashMap;

use crate::identity::PeerKey;
use crate::records::{Admission, RecordLimits, RejectionReason, SignedEntry};

/// Messages a subkey may send at once above its steady rate of one per `min_interval`.
pub const BURST: f64 = 4.0;

/// Length of a [`message_id`].
pub const MESSAGE_ID_LEN: usize = 20;

/// The id of a gossip message: the first 20 bytes of the SHA-256 of its bytes, so two copies of
/// one message are one message and duplicates are dropped before any signature check.
pub fn message_id(bytes: &[u8]) -> [u8; MESSAGE_ID_LEN] {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut id = [0u8; MESSAGE_ID_LEN];
    id.copy_from_slice(&digest.as_ref()[..MESSAGE_ID_LEN]);
    id
}

/// What a receiver does with a gossip message.
// A verdict is a return value, consumed at once and never stored: boxing the accepted entry
// would add an allocation per message to save stack bytes.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum GossipVerdict {
    /// Valid and new: deliver it and forward it.
    Accept(PeerKey, SignedEntry),
    /// Drop without penalty (stale, expired, too far ahead, no room).
    Ignore(RejectionReason),
    /// Drop and penalise the sender (malformed, forged, oversized, rate-limited).
    Reject(RejectionReason),
}

impl GossipVerdict {
    /// The reason it was not accepted.
    pub fn reason(&self) -> Option<RejectionReason> {
        match self {
            GossipVerdict::Accept(..) => None,
            GossipVerdict::Ignore(r) | GossipVerdict::Reject(r) => Some(*r),
        }
    }
}

#[derive(Debug, Clone)]
struct Held {
    entry: SignedEntry,
    tokens: f64,
    refilled_at: f64,
}

/// The admission state of one key's gossip topic (module docs).
#[derive(Debug, Clone)]
pub struct GossipGate {
    key: String,
    limits: RecordLimits,
    min_interval: f64,
    admission: Admission,
    held: HashMap<PeerKey, Held>,
}

impl GossipGate {
    /// A gate for messages under `key` with the record `limits` and the swarm's
    /// `publish_min_interval`.
    pub fn new(key: impl Into<String>, limits: RecordLimits, min_interval: f64) -> Self {
        Self {
            key: key.into(),
            limits,
            min_interval: min_interval.max(f64::MIN_POSITIVE),
            admission: Admission::OPEN,
            held: HashMap::new(),
        }
    }

    /// This gate, admitting only what `admission` lets count.
    pub fn with_admission(mut self, admission: Admission) -> Self {
        self.admission = admission;
        self
    }

    /// The key this gate admits messages for.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Subkeys with a live accepted entry.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Whether no subkey is held.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Forgets subkeys whose newest entry has expired.
    pub fn prune_expired(&mut self, now: f64) {
        self.held.retain(|_, h| h.entry.is_live(now));
    }

    /// Records an entry this peer published itself (so its own echoes are stale).
    pub fn note_own(&mut self, subkey: PeerKey, entry: &SignedEntry, now: f64) {
        self.held.insert(
            subkey,
            Held {
                entry: entry.clone(),
                tokens: BURST,
                refilled_at: now,
            },
        );
    }

    /// Judges one message's bytes at `now` (module docs for the order of the checks).
    pub fn admit(&mut self, bytes: &[u8], now: f64) -> GossipVerdict {
        // The encoded entry (subkey included) is what `max_entry_bytes` bounds.
        if bytes.len() > self.limits.max_entry_bytes {
            return GossipVerdict::Reject(RejectionReason::Oversized);
        }
        let (subkey, entry) = match SignedEntry::decode(bytes) {
            Ok(decoded) => decoded,
            Err(e) => return GossipVerdict::Reject(e.reason()),
        };
        match entry.check_bounds(now, &self.limits) {
            Ok(()) => {}
            Err(RejectionReason::Oversized) => {
                return GossipVerdict::Reject(RejectionReason::Oversized)
            }
            Err(other) => return GossipVerdict::Ignore(other),
        }
        if let Err(reason) = self.admission.screen(&subkey, &entry) {
            return GossipVerdict::Reject(reason);
        }
        match self.held.get(&subkey) {
            Some(held) if held.entry.is_live(now) => {
                if !entry.recency_cmp(&held.entry).is_gt() {
                    return GossipVerdict::Ignore(RejectionReason::Stale);
                }
            }
            _ => {
                if self.held.len() >= self.limits.max_entries {
                    self.prune_expired(now);
                    if self.held.len() >= self.limits.max_entries {
                        return GossipVerdict::Ignore(RejectionReason::TooManyEntries);
                    }
                }
            }
        }
        if !entry.verify(&self.key, &subkey) {
            return GossipVerdict::Reject(RejectionReason::BadSignature);
        }
        if let Err(reason) = entry.check_peer_id(&subkey) {
            return GossipVerdict::Reject(reason);
        }
        if self.admission.verify_tokens(&[&entry]) != [true] {
            return GossipVerdict::Reject(RejectionReason::TokenForged);
        }
        let min_interval = self.min_interval;
        let held = self.held.entry(subkey).or_insert_with(|| Held {
            entry: entry.clone(),
            tokens: BURST,
            refilled_at: now,
        });
        let refill = (now - held.refilled_at).max(0.0) / min_interval;
        held.tokens = (held.tokens + refill).min(BURST);
        held.refilled_at = now;
        if held.tokens < 1.0 {
            return GossipVerdict::Reject(RejectionReason::RateLimited);
        }
        held.tokens -= 1.0;
        held.entry = entry.clone();
        GossipVerdict::Accept(subkey, entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use crate::progress::LocalProgress;

    const KEY: &str = "run_progress";

    fn entry(id: &Identity, samples: u64, expiration: f64) -> Vec<u8> {
        let progress = LocalProgress {
            peer_id: id.peer_id(),
            epoch: 1,
            samples_accumulated: samples,
            samples_per_second: 10.0,
            time: expiration - 60.0,
            client_mode: false,
        };
        SignedEntry::sign(id, KEY, Some(&progress), expiration)
            .unwrap()
            .encode(&id.public_key())
    }

    fn gate() -> GossipGate {
        GossipGate::new(KEY, RecordLimits::default(), 0.5)
    }

    #[test]
    fn a_valid_message_is_accepted_once_then_stale() {
        let id = Identity::generate().unwrap();
        let mut g = gate();
        let bytes = entry(&id, 10, 100.0);
        assert!(matches!(g.admit(&bytes, 40.0), GossipVerdict::Accept(..)));
        assert_eq!(
            g.admit(&bytes, 41.0),
            GossipVerdict::Ignore(RejectionReason::Stale)
        );
        let older = entry(&id, 5, 99.0);
        assert_eq!(
            g.admit(&older, 41.0),
            GossipVerdict::Ignore(RejectionReason::Stale)
        );
        assert!(matches!(
            g.admit(&entry(&id, 20, 101.0), 41.5),
            GossipVerdict::Accept(..)
        ));
    }

    #[test]
    fn forged_and_malformed_messages_are_rejected_by_reason() {
        let id = Identity::generate().unwrap();
        let other = Identity::generate().unwrap();
        let mut g = gate();
        let mut forged = entry(&id, 10, 100.0);
        let last = forged.len() - 1;
        forged[last] ^= 1;
        assert_eq!(
            g.admit(&forged, 40.0),
            GossipVerdict::Reject(RejectionReason::BadSignature)
        );
        assert_eq!(
            g.admit(b"garbage", 40.0),
            GossipVerdict::Reject(RejectionReason::Malformed)
        );
        assert_eq!(
            g.admit(&vec![0u8; 5000], 40.0),
            GossipVerdict::Reject(RejectionReason::Oversized)
        );
        // Signed by `other` under `id`'s subkey: the signature does not verify for the subkey.
        let mut swapped = entry(&other, 10, 100.0);
        swapped[..32].copy_from_slice(&entry(&id, 10, 100.0)[..32]);
        assert!(matches!(g.admit(&swapped, 40.0), GossipVerdict::Reject(_)));
        // None of them took a slot.
        assert!(g.is_empty());
    }

    #[test]
    fn late_and_far_future_copies_are_ignored_without_penalty() {
        let id = Identity::generate().unwrap();
        let mut g = gate();
        assert_eq!(
            g.admit(&entry(&id, 10, 100.0), 100.5),
            GossipVerdict::Ignore(RejectionReason::Expired)
        );
        assert_eq!(
            g.admit(&entry(&id, 10, 10_000.0), 0.0),
            GossipVerdict::Ignore(RejectionReason::ExpirationTooFar)
        );
    }

    #[test]
    fn a_flooding_peer_gets_a_burst_then_one_per_interval() {
        let id = Identity::generate().unwrap();
        let mut g = gate();
        let mut accepted = 0;
        let mut limited = 0;
        // 200 fresh messages over 10 s (20 per second; the interval allows 2 per second).
        for i in 0..200u64 {
            let now = 40.0 + i as f64 * 0.05;
            match g.admit(&entry(&id, i, 100.0 + i as f64 * 0.001), now) {
                GossipVerdict::Accept(..) => accepted += 1,
                GossipVerdict::Reject(RejectionReason::RateLimited) => limited += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        // BURST + 10 s / 0.5 s, give or take one refill.
        assert!((23..=25).contains(&accepted), "accepted {accepted}");
        assert_eq!(accepted + limited, 200);
    }

    #[test]
    fn a_full_gate_keeps_its_incumbents() {
        let limits = RecordLimits {
            max_entries: 2,
            ..RecordLimits::default()
        };
        let mut g = GossipGate::new(KEY, limits, 0.5);
        let ids: Vec<Identity> = (0..3).map(|_| Identity::generate().unwrap()).collect();
        assert!(matches!(
            g.admit(&entry(&ids[0], 1, 100.0), 40.0),
            GossipVerdict::Accept(..)
        ));
        assert!(matches!(
            g.admit(&entry(&ids[1], 1, 100.0), 40.0),
            GossipVerdict::Accept(..)
        ));
        assert_eq!(
            g.admit(&entry(&ids[2], 1, 100.0), 40.0),
            GossipVerdict::Ignore(RejectionReason::TooManyEntries)
        );
        assert!(matches!(
            g.admit(&entry(&ids[0], 2, 101.0), 41.0),
            GossipVerdict::Accept(..)
        ));
        // Once the incumbents expire, room returns.
        assert!(matches!(
            g.admit(&entry(&ids[2], 1, 200.0), 150.0),
            GossipVerdict::Accept(..)
        ));
    }

    #[test]
    fn message_ids_name_the_bytes() {
        assert_eq!(message_id(b"a"), message_id(b"a"));
        assert_ne!(message_id(b"a"), message_id(b"b"));
    }

    #[test]
    fn a_private_gate_rejects_strangers_and_forwards_members() {
        use crate::admission_token::{AdmissionToken, Role};
        let authority = Identity::generate().unwrap();
        let member = Identity::generate().unwrap();
        let stranger = Identity::generate().unwrap();
        let mut g = gate().with_admission(Admission::private(authority.public_key(), []));
        let progress = |id: &Identity| LocalProgress {
            peer_id: id.peer_id(),
            epoch: 1,
            samples_accumulated: 5,
            samples_per_second: 10.0,
            time: 40.0,
            client_mode: false,
        };
        assert_eq!(
            g.admit(&entry(&stranger, 5, 100.0), 40.0),
            GossipVerdict::Reject(RejectionReason::TokenMissing)
        );
        let token = AdmissionToken::issue(&authority, member.public_key(), Role::Trainer, 1_000);
        let signed = |id: &Identity, token: &AdmissionToken, expiration: f64| {
            SignedEntry::sign_admitted(id, Some(token), KEY, Some(&progress(id)), expiration)
                .unwrap()
                .encode(&id.public_key())
        };
        // The member's token on the stranger's entry.
        assert_eq!(
            g.admit(&signed(&stranger, &token, 100.0), 40.0),
            GossipVerdict::Reject(RejectionReason::TokenOtherPeer)
        );
        assert!(matches!(
            g.admit(&signed(&member, &token, 100.0), 40.0),
            GossipVerdict::Accept(..)
        ));
        // Past the token's expiry a copy is ignored, as an expired entry is.
        assert_eq!(
            g.admit(&signed(&member, &token, 1_050.0), 1_000.0),
            GossipVerdict::Ignore(RejectionReason::TokenExpired)
        );
    }
}
