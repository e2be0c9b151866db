//! [`SwarmView`]: what a v2 peer knows of the others, the latest valid entry per subkey from
//! gossip and from DHT reads alike, merged with the record rule (the more recent entry wins,
//! expired entries go, at the size limit incumbents stay and newcomers are refused). This
//! peer's own entries are never held: the estimator counts this peer from its true local
//! progress instead ([`crate::TrackerState::apply_view`]).
//!
//! Entries reach the view already validated (by the gateway's gossip gate or the read path).
//! In a private collaboration the view also drops the entries of peers revoked since
//! ([`SwarmView::with_admission`]), so a revocation made at run time counts at the next estimate.

use crate::identity::PeerKey;
use crate::records::{Admission, InsertOutcome, ProgressRecord, SignedEntry};

/// The other peers' entries, as one v2 peer holds them.
#[derive(Debug, Clone)]
pub struct SwarmView {
    own: PeerKey,
    others: ProgressRecord,
    max_entries: usize,
    admission: Admission,
}

impl SwarmView {
    /// An empty view of the peer `own`, holding at most `max_entries` subkeys.
    pub fn new(own: PeerKey, max_entries: usize) -> Self {
        Self {
            own,
            others: ProgressRecord::new(),
            max_entries: max_entries.max(1),
            admission: Admission::OPEN,
        }
    }

    /// This view, dropping the entries of peers `admission` revokes.
    pub fn with_admission(mut self, admission: Admission) -> Self {
        self.admission = admission;
        self
    }

    /// The other peers' entries (tombstones included).
    pub fn others(&self) -> &ProgressRecord {
        &self.others
    }

    /// Offers one entry (from gossip); returns whether the view changed.
    pub fn offer(&mut self, subkey: PeerKey, entry: SignedEntry, now: f64) -> bool {
        if subkey == self.own || self.admission.is_revoked(&subkey) {
            return self.prune_expired(now);
        }
        let pruned = self.prune_expired(now);
        if self.others.get(&subkey).is_none() && self.others.len() >= self.max_entries {
            return pruned;
        }
        matches!(
            self.others.insert(subkey, entry, now),
            InsertOutcome::Added | InsertOutcome::Replaced
        ) || pruned
    }

    /// Merges a record read from the DHT; returns whether the view changed.
    pub fn merge(&mut self, record: &ProgressRecord, now: f64) -> bool {
        let before = self.others.clone();
        let mut incoming = record.clone();
        incoming.remove(&self.own);
        self.others.merge_bounded(&incoming, now, self.max_entries);
        self.prune_expired(now);
        self.others != before
    }

    /// Drops expired entries (their tokens' expiry included) and revoked peers' entries;
    /// returns whether any went.
    pub fn prune_expired(&mut self, now: f64) -> bool {
        let expired = self.others.prune_expired(now) > 0;
        let revoked = self.others.drop_revoked(&self.admission) > 0;
        expired || revoked
    }

    /// Live entries of other peers (tombstones included) at `now`.
    pub fn live_len(&self, now: f64) -> usize {
        self.others.iter().filter(|(_, e)| e.is_live(now)).count()
    }

    /// Other peers known to be in the swarm at `now`: live entries that are not tombstones.
    pub fn live_peers(&self, now: f64) -> usize {
        self.others
            .iter()
            .filter(|(_, e)| e.is_live(now) && !e.is_tombstone())
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use crate::progress::LocalProgress;

    const KEY: &str = "run_progress";

    fn signed(id: &Identity, samples: u64, expiration: f64) -> SignedEntry {
        let progress = LocalProgress {
            peer_id: id.peer_id(),
            epoch: 1,
            samples_accumulated: samples,
            samples_per_second: 1.0,
            time: 0.0,
            client_mode: false,
        };
        SignedEntry::sign(id, KEY, Some(&progress), expiration).unwrap()
    }

    #[test]
    fn gossip_and_reads_merge_under_one_rule() {
        let me = Identity::generate().unwrap();
        let a = Identity::generate().unwrap();
        let mut view = SwarmView::new(me.public_key(), 10);
        assert!(view.offer(a.public_key(), signed(&a, 5, 100.0), 0.0));
        // An older copy read from the DHT does not replace the pushed entry.
        let mut read = ProgressRecord::new();
        read.insert(a.public_key(), signed(&a, 1, 90.0), 0.0);
        read.insert(me.public_key(), signed(&me, 9, 100.0), 0.0);
        assert!(!view.merge(&read, 0.0));
        let held = view.others().get(&a.public_key()).unwrap();
        assert_eq!(held.value().unwrap().samples_accumulated, 5);
        // Our own entry is never held.
        assert!(view.others().get(&me.public_key()).is_none());
        assert!(!view.offer(me.public_key(), signed(&me, 10, 101.0), 0.0));
        // A newer one does.
        assert!(view.offer(a.public_key(), signed(&a, 7, 101.0), 0.0));
        assert_eq!(view.live_len(0.0), 1);
        // A tombstone is held (it wins the merge) but is not a live peer.
        let gone = SignedEntry::sign(&a, KEY, None, 102.0).unwrap();
        assert!(view.offer(a.public_key(), gone, 0.0));
        assert_eq!((view.live_len(0.0), view.live_peers(0.0)), (1, 0));
        assert!(view.prune_expired(200.0));
        assert_eq!(view.live_len(200.0), 0);
    }

    #[test]
    fn a_full_view_keeps_its_incumbents() {
        let me = Identity::generate().unwrap();
        let ids: Vec<Identity> = (0..3).map(|_| Identity::generate().unwrap()).collect();
        let mut view = SwarmView::new(me.public_key(), 2);
        assert!(view.offer(ids[0].public_key(), signed(&ids[0], 1, 100.0), 0.0));
        assert!(view.offer(ids[1].public_key(), signed(&ids[1], 1, 100.0), 0.0));
        assert!(!view.offer(ids[2].public_key(), signed(&ids[2], 1, 100.0), 0.0));
        let mut read = ProgressRecord::new();
        read.insert(ids[2].public_key(), signed(&ids[2], 2, 100.0), 0.0);
        assert!(!view.merge(&read, 0.0));
        assert!(view.offer(ids[0].public_key(), signed(&ids[0], 2, 101.0), 0.0));
    }

    #[test]
    fn a_peer_revoked_at_run_time_leaves_the_view_at_the_next_prune() {
        let me = Identity::generate().unwrap();
        let a = Identity::generate().unwrap();
        let b = Identity::generate().unwrap();
        let authority = Identity::generate().unwrap();
        let admission = Admission::private(authority.public_key(), []);
        let mut view = SwarmView::new(me.public_key(), 10).with_admission(admission.clone());
        assert!(view.offer(a.public_key(), signed(&a, 5, 100.0), 0.0));
        assert!(view.offer(b.public_key(), signed(&b, 5, 100.0), 0.0));
        assert_eq!(view.live_peers(0.0), 2);
        admission.set_revoked([a.public_key()]);
        assert!(view.prune_expired(0.0));
        assert_eq!(view.live_peers(0.0), 1);
        assert!(view.others().get(&a.public_key()).is_none());
        // Neither gossip nor a read brings it back.
        assert!(!view.offer(a.public_key(), signed(&a, 6, 101.0), 0.0));
        let mut read = ProgressRecord::new();
        read.insert(a.public_key(), signed(&a, 7, 102.0), 0.0);
        assert!(!view.merge(&read, 0.0));
        assert_eq!(view.live_peers(0.0), 1);
    }
}
