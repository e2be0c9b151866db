//! `ProgressStore`: the Kademlia `RecordStore` of a swarm-progress node. It keeps one merged
//! [`ProgressRecord`] per key and applies the merge rule on every put, so a put carrying one
//! peer's entry adds to the dictionary instead of replacing it. Every put is validated (decode,
//! signatures, schema, expirations, limits); bad entries are dropped and counted by reason.
//! The stored `Record`'s expiry is the latest entry expiration, mapped from DHT time to a local
//! `Instant`. The stock store's 64 KiB value cap does not apply; explicit limits do.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use libp2p::kad::store::{self, RecordStore};
use libp2p::kad::{ProviderRecord, Record, RecordKey};
use libp2p::PeerId;
use tracing::debug;

use crate::clock::SharedClock;
use crate::records::{
    Admission, ProgressRecord, RecordLimits, RejectionCounts, RejectionReason, Validated,
};

/// Rejections counted by a node (store puts and records read from the network).
#[derive(Debug, Clone, Default)]
pub struct SharedRejections(Arc<Mutex<RejectionCounts>>);

impl SharedRejections {
    fn lock(&self) -> MutexGuard<'_, RejectionCounts> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds counts.
    pub fn add(&self, counts: &RejectionCounts) {
        self.lock().add(counts);
    }

    /// Counts `n` rejections for `reason`.
    pub fn record(&self, reason: RejectionReason, n: u64) {
        let mut counts = self.lock();
        for _ in 0..n {
            counts.record(reason);
        }
    }

    /// The counts so far.
    pub fn get(&self) -> RejectionCounts {
        *self.lock()
    }
}

/// One key's merged record and its encoded form (what `get` serves).
pub struct Held {
    progress: ProgressRecord,
    record: Record,
}

/// The node's record store.
pub struct ProgressStore {
    by_key: HashMap<RecordKey, Held>,
    clock: SharedClock,
    limits: RecordLimits,
    /// Who may count (private collaborations): applied to every put and every read.
    admission: Admission,
    /// Most keys held; puts of new keys beyond it fail with `MaxRecords`.
    max_keys: usize,
    rejections: SharedRejections,
}

impl ProgressStore {
    /// An empty store.
    pub fn new(
        clock: SharedClock,
        limits: RecordLimits,
        max_keys: usize,
        rejections: SharedRejections,
    ) -> Self {
        Self {
            by_key: HashMap::new(),
            clock,
            limits,
            admission: Admission::OPEN,
            max_keys,
            rejections,
        }
    }

    /// This store, admitting only what `admission` lets count.
    pub fn with_admission(mut self, admission: Admission) -> Self {
        self.admission = admission;
        self
    }

    /// Decodes and validates a record value held under `key`, counting rejections. Entries
    /// identical to ones already held under `key`, or in `also_known`, are not re-verified.
    pub fn validate(
        &self,
        key: &RecordKey,
        value: &[u8],
        also_known: Option<&ProgressRecord>,
    ) -> Option<ProgressRecord> {
        let Ok(key_str) = std::str::from_utf8(key.as_ref()) else {
            debug!("record key is not UTF-8");
            return None;
        };
        let known = also_known.or_else(|| self.by_key.get(key).map(|held| &held.progress));
        let now = self.clock.now();
        let admission = &self.admission;
        match ProgressRecord::decode_known(key_str, value, now, &self.limits, known, admission) {
            Ok(Validated { record, rejections }) => {
                self.rejections.add(&rejections);
                Some(record)
            }
            Err(e) => {
                debug!(error = %e, "undecodable record");
                self.rejections.record(RejectionReason::Malformed, 1);
                None
            }
        }
    }

    /// Merges already-validated entries under `key` into the store.
    pub fn merge(
        &mut self,
        key: &RecordKey,
        incoming: &ProgressRecord,
    ) -> Result<(), store::Error> {
        let now = self.clock.now();
        if !self.by_key.contains_key(key) && self.by_key.len() >= self.max_keys {
            self.prune(now);
            if self.by_key.len() >= self.max_keys {
                return Err(store::Error::MaxRecords);
            }
        }
        let held = self.by_key.entry(key.clone()).or_insert_with(|| Held {
            progress: ProgressRecord::new(),
            record: Record::new(key.clone(), Vec::new()),
        });
        // Incumbent subkeys are never evicted by newcomers (records::record, "Per-key limit").
        let refused = held
            .progress
            .merge_bounded(incoming, now, self.limits.max_entries);
        if refused > 0 {
            debug!(
                refused,
                held = held.progress.len(),
                "record full: new subkeys refused"
            );
        }
        self.rejections
            .record(RejectionReason::TooManyEntries, refused as u64);
        held.record.value = held.progress.encode();
        held.record.expires = expiry_instant(&held.progress, now);
        if held.progress.is_empty() {
            self.by_key.remove(key);
        }
        Ok(())
    }

    /// The merged record under `key`, live entries only.
    pub fn progress(&mut self, key: &RecordKey) -> Option<ProgressRecord> {
        let now = self.clock.now();
        let held = self.by_key.get_mut(key)?;
        if held.progress.prune_expired(now) > 0 {
            held.record.value = held.progress.encode();
        }
        (!held.progress.is_empty()).then(|| held.progress.clone())
    }

    fn prune(&mut self, now: f64) {
        self.by_key.retain(|_, held| {
            if held.progress.prune_expired(now) > 0 {
                held.record.value = held.progress.encode();
            }
            !held.progress.is_empty()
        });
    }

    /// Drops expired entries (and keys left empty) so peers are not served dead entries.
    pub fn prune_expired(&mut self) {
        let now = self.clock.now();
        self.prune(now);
    }
}

/// The local `Instant` at which the last entry of `record` expires.
fn expiry_instant(record: &ProgressRecord, now: f64) -> Option<Instant> {
    let last = record
        .iter()
        .map(|(_, e)| e.expiration())
        .fold(f64::NEG_INFINITY, f64::max);
    let ahead = Duration::try_from_secs_f64((last - now).max(0.0)).ok()?;
    Instant::now().checked_add(ahead)
}

fn borrow(record: &Held) -> Cow<'_, Record> {
    Cow::Borrowed(&record.record)
}

impl RecordStore for ProgressStore {
    type RecordsIter<'a> = std::iter::Map<
        std::collections::hash_map::Values<'a, RecordKey, Held>,
        fn(&'a Held) -> Cow<'a, Record>,
    >;
    type ProvidedIter<'a> = std::vec::IntoIter<Cow<'a, ProviderRecord>>;

    fn get(&self, key: &RecordKey) -> Option<Cow<'_, Record>> {
        self.by_key.get(key).map(|held| Cow::Borrowed(&held.record))
    }

    fn put(&mut self, record: Record) -> store::Result<()> {
        let max_bytes = self.limits.max_record_bytes();
        if record.value.len() > max_bytes {
            self.rejections.record(RejectionReason::Oversized, 1);
            return Err(store::Error::ValueTooLarge);
        }
        let Some(valid) = self.validate(&record.key, &record.value, None) else {
            return Ok(());
        };
        if valid.is_empty() {
            return Ok(());
        }
        // Count replays: entries older than what is held for their subkey.
        if let Some(held) = self.by_key.get(&record.key) {
            let stale = valid
                .iter()
                .filter(|(subkey, entry)| {
                    held.progress
                        .get(subkey)
                        .is_some_and(|mine| mine.recency_cmp(entry).is_gt())
                })
                .count();
            self.rejections.record(RejectionReason::Stale, stale as u64);
        }
        self.merge(&record.key, &valid)
    }

    fn remove(&mut self, key: &RecordKey) {
        self.by_key.remove(key);
    }

    fn records(&self) -> Self::RecordsIter<'_> {
        self.by_key
            .values()
            .map(borrow as fn(&Held) -> Cow<'_, Record>)
    }

    fn add_provider(&mut self, _record: ProviderRecord) -> store::Result<()> {
        // This DHT serves progress records only.
        Ok(())
    }

    fn providers(&self, _key: &RecordKey) -> Vec<ProviderRecord> {
        Vec::new()
    }

    fn provided(&self) -> Self::ProvidedIter<'_> {
        Vec::new().into_iter()
    }

    fn remove_provider(&mut self, _key: &RecordKey, _provider: &PeerId) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::identity::Identity;
    use crate::progress::LocalProgress;
    use crate::records::{RejectionReason, SignedEntry};

    const KEY: &str = "store_progress";
    const NOW: f64 = 10_000.0;

    fn entry(id: &Identity, samples: u64, expiration: f64) -> SignedEntry {
        let value = LocalProgress {
            peer_id: id.peer_id(),
            epoch: 0,
            samples_accumulated: samples,
            samples_per_second: 1.0,
            time: NOW,
            client_mode: false,
        };
        SignedEntry::sign(id, KEY, Some(&value), expiration).unwrap()
    }

    fn one(id: &Identity, samples: u64, expiration: f64) -> Record {
        let mut record = ProgressRecord::new();
        record.insert(id.public_key(), entry(id, samples, expiration), NOW);
        Record::new(RecordKey::new(&KEY), record.encode())
    }

    fn store(clock: &ManualClock, limits: RecordLimits) -> (ProgressStore, SharedRejections) {
        let rejections = SharedRejections::default();
        (
            ProgressStore::new(clock.shared(), limits, 4, rejections.clone()),
            rejections,
        )
    }

    #[test]
    fn puts_merge_per_subkey_instead_of_replacing() {
        let clock = ManualClock::new(NOW);
        let (mut s, rejections) = store(&clock, RecordLimits::default());
        let (a, b) = (Identity::generate().unwrap(), Identity::generate().unwrap());
        s.put(one(&a, 1, NOW + 60.0)).unwrap();
        s.put(one(&b, 2, NOW + 60.0)).unwrap();
        s.put(one(&a, 0, NOW + 30.0)).unwrap(); // a replay
        let key = RecordKey::new(&KEY);
        let held = s.progress(&key).unwrap();
        assert_eq!(held.len(), 2);
        assert_eq!(
            held.get(&a.public_key())
                .unwrap()
                .value()
                .unwrap()
                .samples_accumulated,
            1
        );
        assert_eq!(rejections.get().get(RejectionReason::Stale), 1);
        // What `get` serves is the encoded merged record, with an expiry.
        let served = s.get(&key).unwrap();
        assert_eq!(
            ProgressRecord::decode(KEY, &served.value, NOW, &RecordLimits::default())
                .unwrap()
                .record,
            held
        );
        assert!(served.expires.is_some());
        // Expiry.
        clock.set(NOW + 60.0);
        s.prune_expired();
        assert!(s.get(&key).is_none());
    }

    #[test]
    fn invalid_puts_are_counted_and_never_stored() {
        let clock = ManualClock::new(NOW);
        let limits = RecordLimits {
            max_entries: 2,
            ..RecordLimits::default()
        };
        let (mut s, rejections) = store(&clock, limits);
        let a = Identity::generate().unwrap();
        let key = RecordKey::new(&KEY);
        s.put(Record::new(key.clone(), b"garbage".to_vec()))
            .unwrap();
        assert!(matches!(
            s.put(Record::new(
                key.clone(),
                vec![0; limits.max_record_bytes() + 1]
            )),
            Err(store::Error::ValueTooLarge)
        ));
        s.put(one(&a, 1, NOW + 5000.0)).unwrap(); // too far ahead
        let counts = rejections.get();
        assert_eq!(counts.get(RejectionReason::Malformed), 1);
        assert_eq!(counts.get(RejectionReason::Oversized), 1);
        assert_eq!(counts.get(RejectionReason::ExpirationTooFar), 1);
        assert!(s.get(&key).is_none());
        // A full record keeps its incumbents: the third newcomer is refused.
        for i in 0..3 {
            let id = Identity::generate().unwrap();
            s.put(one(&id, i, NOW + 10.0 + i as f64)).unwrap();
        }
        assert_eq!(s.progress(&key).unwrap().len(), 2);
        assert_eq!(rejections.get().get(RejectionReason::TooManyEntries), 1);
    }

    #[test]
    fn key_limit_is_enforced() {
        let clock = ManualClock::new(NOW);
        let (mut s, _) = store(&clock, RecordLimits::default());
        let a = Identity::generate().unwrap();
        for i in 0..4 {
            let key = format!("k{i}_progress");
            let mut record = ProgressRecord::new();
            let e = SignedEntry::sign(
                &a,
                &key,
                Some(&LocalProgress {
                    peer_id: a.peer_id(),
                    epoch: 0,
                    samples_accumulated: 0,
                    samples_per_second: 0.0,
                    time: NOW,
                    client_mode: false,
                }),
                NOW + 60.0,
            )
            .unwrap();
            record.insert(a.public_key(), e, NOW);
            let put = s.put(Record::new(RecordKey::new(&key), record.encode()));
            assert!(put.is_ok(), "key {i}");
        }
        assert!(matches!(
            s.put(one(&a, 1, NOW + 60.0)),
            Err(store::Error::MaxRecords)
        ));
    }
}
