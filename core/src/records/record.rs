//! [`ProgressRecord`]: the subkey dictionary stored under one progress key, with the merge rule
//! of PROTOCOL.md §4.2 and validation against explicit limits.
//!
//! Merge rule (storage and readers alike): for each subkey keep the entry with the larger
//! expiration (exact ties broken by [`SignedEntry::recency_cmp`]); drop entries already expired
//! (alive means `expiration > now`). A tombstone wins like any other entry.
//!
//! ## Per-key limit: incumbents first (deviation from a plain "keep the latest" rule)
//! A record holds at most `max_entries` subkeys. Anyone can mint identities, so a flood of
//! validly signed entries from sybils is cheap, and sybils can sign the furthest expiration a
//! store allows (`now + max_expiration_ahead`, ten times an honest entry's). Keeping the latest
//! expirations would let such a flood evict every honest entry. Instead:
//! - **Incumbents are never evicted by newcomers.** A subkey the record already holds (live)
//!   is always updated under the merge rule; a *new* subkey is admitted only while the record
//!   has room, otherwise it is refused and counted as [`RejectionReason::TooManyEntries`]
//!   ([`ProgressRecord::accept`], [`ProgressRecord::merge_bounded`]: what stores do on every
//!   put and what a reader does when it merges what it found into what it already holds).
//! - **Among newcomers, and when one record arrives over the limit with nothing held
//!   ([`ProgressRecord::truncate`]), the entry parked furthest in the future goes first**:
//!   honest peers sign `now + metadata_expiration` and republish every half of it, so entries
//!   near the normal window outrank entries signed for the maximum horizon.
//!
//! The price: while a flood fills a record, a *new* honest peer is refused by the stores that
//! are full (until sybil entries expire, at most `max_expiration_ahead` after they were
//! signed), and the limit makes merging order-dependent once a record is full (below the limit
//! merging stays commutative, associative and idempotent).
//!
//! ## Wire form
//! ```text
//! "SPRG" | u8 version (= 1) | u32be count | count × (u32be len | entry)
//! ```
//! Each entry is length-prefixed, so a malformed or oversized entry is skipped and counted
//! while the rest of the record is still read.

use std::collections::BTreeMap;

use thiserror::Error;
use tracing::debug;

use crate::identity::{PeerKey, PUBLIC_KEY_LEN};
use crate::progress::LocalProgress;
use crate::records::entry::SignedEntry;
use crate::records::rejection::{RejectionCounts, RejectionReason};
use crate::records::wire::{put_prefixed, Reader, WireError};
use crate::records::{Admission, RecordLimits};

const RECORD_MAGIC: &[u8; 4] = b"SPRG";
const RECORD_VERSION: u8 = 1;
/// Magic, version and count.
const RECORD_HEADER_LEN: usize = 4 + 1 + 4;

/// What happened to an entry offered to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    /// The subkey was new.
    Added,
    /// The entry replaced an older one for its subkey.
    Replaced,
    /// The record already held this entry or a newer one; nothing changed.
    Stale,
    /// The entry had expired; nothing changed.
    Expired,
}

/// Why bytes are not a progress record at all (individual bad entries are counted instead).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecordDecodeError {
    /// The record is larger than the limits allow.
    #[error("record of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The bytes do not start with the record magic.
    #[error("not a progress record (bad magic)")]
    BadMagic,
    /// A record format this version does not read.
    #[error("unsupported record version {0}")]
    UnsupportedVersion(u8),
    /// Bad framing.
    #[error("malformed record: {0}")]
    Wire(#[from] WireError),
}

/// A record that passed validation, and what was dropped on the way.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Validated {
    /// The valid, live, merged entries.
    pub record: ProgressRecord,
    /// The entries that were dropped, by reason.
    pub rejections: RejectionCounts,
}

/// The progress dictionary: subkey (peer public key) -> signed entry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProgressRecord {
    entries: BTreeMap<PeerKey, SignedEntry>,
}

impl ProgressRecord {
    /// An empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of entries (tombstones included).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the record has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry held for `subkey`.
    pub fn get(&self, subkey: &PeerKey) -> Option<&SignedEntry> {
        self.entries.get(subkey)
    }

    /// All entries, ordered by subkey.
    pub fn iter(&self) -> impl Iterator<Item = (&PeerKey, &SignedEntry)> + '_ {
        self.entries.iter()
    }

    /// Every entry's value (`None` for tombstones): the estimator's input.
    pub fn values(&self) -> impl Iterator<Item = Option<&LocalProgress>> + '_ {
        self.entries.values().map(SignedEntry::value)
    }

    /// Offers one entry under the merge rule (no validation: see [`ProgressRecord::accept`]).
    pub fn insert(&mut self, subkey: PeerKey, entry: SignedEntry, now: f64) -> InsertOutcome {
        if !entry.is_live(now) {
            return InsertOutcome::Expired;
        }
        match self.entries.get_mut(&subkey) {
            None => {
                self.entries.insert(subkey, entry);
                InsertOutcome::Added
            }
            Some(held) if entry.recency_cmp(held).is_gt() => {
                *held = entry;
                InsertOutcome::Replaced
            }
            Some(_) => InsertOutcome::Stale,
        }
    }

    /// Merges `other` into `self`: per subkey the more recent entry wins, expired entries go.
    /// Commutative, associative and idempotent for a fixed `now`.
    pub fn merge(&mut self, other: &ProgressRecord, now: f64) {
        self.prune_expired(now);
        for (subkey, entry) in &other.entries {
            self.insert(*subkey, entry.clone(), now);
        }
    }

    /// Removes the entry held for `subkey`, if any.
    pub fn remove(&mut self, subkey: &PeerKey) -> Option<SignedEntry> {
        self.entries.remove(subkey)
    }

    /// Drops the entries of peers `admission` revokes (its list can change at run time);
    /// returns how many went.
    pub fn drop_revoked(&mut self, admission: &Admission) -> usize {
        let before = self.entries.len();
        self.entries
            .retain(|subkey, _| !admission.is_revoked(subkey));
        before - self.entries.len()
    }

    /// Drops entries that are no longer alive at `now`; returns how many.
    pub fn prune_expired(&mut self, now: f64) -> usize {
        let before = self.entries.len();
        self.entries.retain(|_, entry| entry.is_live(now));
        before - self.entries.len()
    }

    /// The order in which entries are kept when there is no room for all: the expiration
    /// nearest to now first (entries parked far in the future go first), ties by subkey.
    fn keep_order(a: (&PeerKey, &SignedEntry), b: (&PeerKey, &SignedEntry)) -> std::cmp::Ordering {
        a.1.expiration()
            .total_cmp(&b.1.expiration())
            .then_with(|| a.0.cmp(b.0))
    }

    /// Keeps at most `max_entries` entries, dropping those parked furthest in the future first
    /// (for a record that arrives over the limit, with no incumbents to protect); returns how
    /// many were dropped.
    pub fn truncate(&mut self, max_entries: usize) -> usize {
        if self.entries.len() <= max_entries {
            return 0;
        }
        let mut ranked: Vec<(&PeerKey, &SignedEntry)> = self.entries.iter().collect();
        ranked.sort_by(|a, b| Self::keep_order(*a, *b));
        let evicted: Vec<PeerKey> = ranked[max_entries..].iter().map(|(k, _)| **k).collect();
        for subkey in &evicted {
            self.entries.remove(subkey);
        }
        evicted.len()
    }

    /// Merges `incoming` into `self` under the per-key limit: expired entries go, subkeys
    /// already held are updated under the merge rule, and new subkeys are admitted (nearest
    /// expiration first) only while fewer than `max_entries` are held. Never evicts an entry
    /// `self` holds. Returns how many new subkeys were refused for lack of room.
    pub fn merge_bounded(
        &mut self,
        incoming: &ProgressRecord,
        now: f64,
        max_entries: usize,
    ) -> usize {
        self.prune_expired(now);
        let mut newcomers: Vec<(&PeerKey, &SignedEntry)> = Vec::new();
        for (subkey, entry) in &incoming.entries {
            if self.entries.contains_key(subkey) {
                self.insert(*subkey, entry.clone(), now);
            } else if entry.is_live(now) {
                newcomers.push((subkey, entry));
            }
        }
        newcomers.sort_by(|a, b| Self::keep_order(*a, *b));
        let room = max_entries.saturating_sub(self.entries.len());
        let refused = newcomers.len().saturating_sub(room);
        for (subkey, entry) in newcomers.into_iter().take(room) {
            self.entries.insert(*subkey, entry.clone());
        }
        refused
    }

    /// Validates one entry offered to the record held under `key` and inserts it: what a store
    /// does on every put. `Err` says why it was not taken (counted by the caller).
    pub fn accept(
        &mut self,
        key: &str,
        subkey: PeerKey,
        entry: SignedEntry,
        now: f64,
        limits: &RecordLimits,
    ) -> Result<InsertOutcome, RejectionReason> {
        entry.validate(key, &subkey, now, limits)?;
        self.prune_expired(now);
        if !self.entries.contains_key(&subkey) && self.entries.len() >= limits.max_entries {
            // Full: a newcomer never evicts an incumbent (module docs).
            return Err(RejectionReason::TooManyEntries);
        }
        match self.insert(subkey, entry, now) {
            InsertOutcome::Stale => Err(RejectionReason::Stale),
            InsertOutcome::Expired => Err(RejectionReason::Expired),
            outcome => Ok(outcome),
        }
    }

    /// Validates and merges candidate entries into a new record under `key`, counting every
    /// dropped entry by reason.
    pub fn admit<I>(key: &str, candidates: I, now: f64, limits: &RecordLimits) -> Validated
    where
        I: IntoIterator<Item = (PeerKey, SignedEntry)>,
    {
        Self::admit_known(key, candidates, now, limits, None, &Admission::OPEN)
    }

    /// [`ProgressRecord::admit`] under `admission`, trusting the signatures (and admission) of
    /// entries identical to those in `known`, a record already validated under the same `key`
    /// and `admission` (see [`SignedEntry::validate_known`]).
    pub fn admit_known<I>(
        key: &str,
        candidates: I,
        now: f64,
        limits: &RecordLimits,
        known: Option<&ProgressRecord>,
        admission: &Admission,
    ) -> Validated
    where
        I: IntoIterator<Item = (PeerKey, SignedEntry)>,
    {
        let flagged = candidates.into_iter().map(|(subkey, entry)| {
            let unknown = known.and_then(|k| k.get(&subkey)) != Some(&entry);
            (subkey, entry, unknown)
        });
        Self::admit_flagged(key, flagged, now, limits, admission)
    }

    /// [`ProgressRecord::admit_known`] with each candidate flagged `unknown` unless it is an
    /// entry already validated under the same key and admission (its signatures and token are
    /// then trusted).
    fn admit_flagged<I>(
        key: &str,
        candidates: I,
        now: f64,
        limits: &RecordLimits,
        admission: &Admission,
    ) -> Validated
    where
        I: IntoIterator<Item = (PeerKey, SignedEntry, bool)>,
    {
        let mut out = Validated::default();
        let mut reject = |subkey: &PeerKey, reason: RejectionReason| {
            debug!(%key, peer = %subkey, %reason, "rejected entry");
            out.rejections.record(reason);
        };
        // The checks of `SignedEntry::validate_known`, in its order, except that the signatures
        // still to check are checked together (batch verification) once the cheap checks
        // passed; admission (`admission.rs`) screens before them and checks tokens after.
        let mut passed: Vec<(PeerKey, SignedEntry, bool)> = Vec::new();
        for (subkey, entry, unknown) in candidates {
            if let Err(reason) = entry.check_bounds(now, limits) {
                reject(&subkey, reason);
                continue;
            }
            // A known entry passed the screen when it was admitted; only the revocation list can
            // have changed since.
            let screened = if unknown {
                admission.screen(&subkey, &entry)
            } else if admission.is_revoked(&subkey) {
                Err(RejectionReason::TokenRevoked)
            } else {
                Ok(())
            };
            if let Err(reason) = screened {
                reject(&subkey, reason);
                continue;
            }
            passed.push((subkey, entry, unknown));
        }
        let to_verify: Vec<(&PeerKey, &SignedEntry)> = passed
            .iter()
            .filter(|(_, _, unknown)| *unknown)
            .map(|(s, e, _)| (s, e))
            .collect();
        let mut verdicts = SignedEntry::verify_all(key, &to_verify).into_iter();
        let mut signed = Vec::with_capacity(passed.len());
        for (subkey, entry, unknown) in passed {
            if unknown {
                if !verdicts.next().unwrap_or(false) {
                    reject(&subkey, RejectionReason::BadSignature);
                    continue;
                }
                if let Err(reason) = entry.check_peer_id(&subkey) {
                    reject(&subkey, reason);
                    continue;
                }
            }
            signed.push((subkey, entry, unknown));
        }
        let new: Vec<&SignedEntry> = signed.iter().filter(|s| s.2).map(|s| &s.1).collect();
        let mut tokens = admission.verify_tokens(&new).into_iter();
        let mut admitted = Vec::with_capacity(signed.len());
        for (subkey, entry, unknown) in signed {
            if unknown && !tokens.next().unwrap_or(false) {
                reject(&subkey, RejectionReason::TokenForged);
                continue;
            }
            admitted.push((subkey, entry));
        }
        for (subkey, entry) in admitted {
            if out.record.insert(subkey, entry, now) == InsertOutcome::Stale {
                out.rejections.record(RejectionReason::Stale);
            }
        }
        let dropped = out.record.truncate(limits.max_entries);
        for _ in 0..dropped {
            out.rejections.record(RejectionReason::TooManyEntries);
        }
        out
    }

    /// This record's entries re-validated under `key` (e.g. a record relayed by another peer).
    pub fn validated(&self, key: &str, now: f64, limits: &RecordLimits) -> Validated {
        Self::admit(
            key,
            self.entries.iter().map(|(k, e)| (*k, e.clone())),
            now,
            limits,
        )
    }

    /// Length of [`ProgressRecord::encode`]'s output.
    pub fn encoded_len(&self) -> usize {
        RECORD_HEADER_LEN
            + self
                .entries
                .values()
                .map(|e| 4 + e.encoded_len())
                .sum::<usize>()
    }

    /// The wire form of the record.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.extend_from_slice(RECORD_MAGIC);
        out.push(RECORD_VERSION);
        let count = u32::try_from(self.entries.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&count.to_be_bytes());
        let mut scratch = Vec::new();
        for (subkey, entry) in &self.entries {
            scratch.clear();
            entry.encode_into(subkey, &mut scratch);
            put_prefixed(&mut out, &scratch);
        }
        out
    }

    /// Parses and validates a record held under `key`. Bad entries are dropped and counted;
    /// only bytes that are not a record at all (size, magic, version, framing) are an error.
    pub fn decode(
        key: &str,
        bytes: &[u8],
        now: f64,
        limits: &RecordLimits,
    ) -> Result<Validated, RecordDecodeError> {
        Self::decode_known(key, bytes, now, limits, None, &Admission::OPEN)
    }

    /// [`ProgressRecord::decode`] under `admission`, trusting the signatures of entries
    /// identical to those in `known` (a record already validated under the same `key` and
    /// `admission`).
    pub fn decode_known(
        key: &str,
        bytes: &[u8],
        now: f64,
        limits: &RecordLimits,
        known: Option<&ProgressRecord>,
        admission: &Admission,
    ) -> Result<Validated, RecordDecodeError> {
        let max = limits.max_record_bytes();
        if bytes.len() > max {
            return Err(RecordDecodeError::TooLarge {
                len: bytes.len(),
                max,
            });
        }
        let mut r = Reader::new(bytes);
        if r.take(RECORD_MAGIC.len())? != RECORD_MAGIC {
            return Err(RecordDecodeError::BadMagic);
        }
        let version = r.u8()?;
        if version != RECORD_VERSION {
            return Err(RecordDecodeError::UnsupportedVersion(version));
        }
        let count = r.u32()?;
        let mut structural = RejectionCounts::default();
        let mut candidates = Vec::new();
        for _ in 0..count {
            let raw = r.prefixed()?;
            if raw.len() > limits.max_entry_bytes {
                structural.record(RejectionReason::Oversized);
                continue;
            }
            if let Some((subkey, held)) = known.and_then(|k| Self::held_as(k, raw)) {
                candidates.push((subkey, held, false));
                continue;
            }
            match SignedEntry::decode(raw) {
                // Decoding is canonical: bytes unlike the held entry's are another entry.
                Ok((subkey, entry)) => candidates.push((subkey, entry, true)),
                Err(e) => {
                    debug!(%key, error = %e, "rejected entry");
                    structural.record(e.reason());
                }
            }
        }
        r.finish()?;
        let mut validated = Self::admit_flagged(key, candidates, now, limits, admission);
        validated.rejections.add(&structural);
        Ok(validated)
    }

    /// The entry of `known` whose wire form is exactly `raw`, if any: a read reuses it (with
    /// the signature already checked) instead of decoding the bytes again.
    fn held_as(known: &ProgressRecord, raw: &[u8]) -> Option<(PeerKey, SignedEntry)> {
        let subkey = PeerKey::from_bytes(raw.get(1..1 + PUBLIC_KEY_LEN)?.try_into().ok()?);
        let held = known.get(&subkey)?;
        held.is_encoded_as(&subkey, raw)
            .then(|| (subkey, held.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use crate::records::ValueEncoding;

    const KEY: &str = "run_progress";
    const NOW: f64 = 5_000.0;

    fn progress(id: &Identity, epoch: u64) -> LocalProgress {
        LocalProgress {
            peer_id: id.peer_id(),
            epoch,
            samples_accumulated: 10 * epoch,
            samples_per_second: 2.5,
            time: NOW,
            client_mode: false,
        }
    }

    fn entry(id: &Identity, epoch: u64, expiration: f64) -> SignedEntry {
        SignedEntry::sign(id, KEY, Some(&progress(id, epoch)), expiration).unwrap()
    }

    #[test]
    fn larger_expiration_wins_and_tombstones_win_like_entries() {
        let id = Identity::generate().unwrap();
        let k = id.public_key();
        let mut record = ProgressRecord::new();
        assert_eq!(
            record.insert(k, entry(&id, 1, NOW + 10.0), NOW),
            InsertOutcome::Added
        );
        assert_eq!(
            record.insert(k, entry(&id, 0, NOW + 5.0), NOW),
            InsertOutcome::Stale
        );
        assert_eq!(record.get(&k).unwrap().value().unwrap().epoch, 1);
        assert_eq!(
            record.insert(k, entry(&id, 2, NOW + 20.0), NOW),
            InsertOutcome::Replaced
        );
        let tombstone = SignedEntry::sign(&id, KEY, None, NOW + 30.0).unwrap();
        assert_eq!(record.insert(k, tombstone, NOW), InsertOutcome::Replaced);
        assert!(record.get(&k).unwrap().is_tombstone());
        assert_eq!(record.values().collect::<Vec<_>>(), vec![None]);
        assert_eq!(
            record.insert(k, entry(&id, 3, NOW + 25.0), NOW),
            InsertOutcome::Stale
        );
    }

    #[test]
    fn expired_entries_are_dropped() {
        let a = Identity::generate().unwrap();
        let b = Identity::generate().unwrap();
        let mut record = ProgressRecord::new();
        assert_eq!(
            record.insert(a.public_key(), entry(&a, 1, NOW), NOW),
            InsertOutcome::Expired
        );
        record.insert(a.public_key(), entry(&a, 1, NOW + 1.0), NOW);
        record.insert(b.public_key(), entry(&b, 1, NOW + 10.0), NOW);
        assert_eq!(record.prune_expired(NOW + 1.0), 1);
        assert_eq!(record.len(), 1);
        let mut other = ProgressRecord::new();
        other.merge(&record, NOW + 10.0);
        assert!(other.is_empty());
    }

    #[test]
    fn truncate_drops_the_entries_parked_furthest_in_the_future() {
        let ids: Vec<_> = (0..5).map(|_| Identity::generate().unwrap()).collect();
        let mut record = ProgressRecord::new();
        for (i, id) in ids.iter().enumerate() {
            record.insert(id.public_key(), entry(id, 0, NOW + 10.0 + i as f64), NOW);
        }
        assert_eq!(record.truncate(3), 2);
        let kept: Vec<f64> = record.iter().map(|(_, e)| e.expiration()).collect();
        let mut kept_sorted = kept.clone();
        kept_sorted.sort_by(f64::total_cmp);
        assert_eq!(kept_sorted, vec![NOW + 10.0, NOW + 11.0, NOW + 12.0]);
    }

    /// `count` sybils, each a fresh identity signing the furthest expiration the limits allow.
    fn sybils(count: usize, limits: &RecordLimits) -> Vec<(PeerKey, SignedEntry)> {
        (0..count)
            .map(|_| {
                let id = Identity::generate().unwrap();
                let e = entry(&id, 1_000_000, NOW + limits.max_expiration_ahead);
                (id.public_key(), e)
            })
            .collect()
    }

    #[test]
    fn a_sybil_flood_never_evicts_incumbents_and_is_refused_as_too_many_entries() {
        let limits = RecordLimits {
            max_entries: 8,
            ..RecordLimits::default()
        };
        let honest: Vec<_> = (0..3).map(|_| Identity::generate().unwrap()).collect();
        let mut record = ProgressRecord::new();
        for id in &honest {
            record
                .accept(KEY, id.public_key(), entry(id, 1, NOW + 60.0), NOW, &limits)
                .unwrap();
        }
        let before = record.clone();
        // 200 validly signed sybils (expiration now + 600), offered one by one as puts.
        let mut counts = RejectionCounts::default();
        for (k, e) in sybils(200, &limits) {
            if let Err(reason) = record.accept(KEY, k, e, NOW, &limits) {
                counts.record(reason);
            }
        }
        assert_eq!(record.len(), 8);
        assert_eq!(counts.get(RejectionReason::TooManyEntries), 195);
        assert_eq!(counts.total(), 195);
        for id in &honest {
            let k = id.public_key();
            assert_eq!(record.get(&k), before.get(&k));
        }
        // Incumbents still update while full; a new honest peer waits for room.
        let update = entry(&honest[0], 2, NOW + 90.0);
        assert_eq!(
            record.accept(KEY, honest[0].public_key(), update.clone(), NOW, &limits),
            Ok(InsertOutcome::Replaced)
        );
        let late = Identity::generate().unwrap();
        assert_eq!(
            record.accept(
                KEY,
                late.public_key(),
                entry(&late, 1, NOW + 60.0),
                NOW,
                &limits
            ),
            Err(RejectionReason::TooManyEntries)
        );
        // The same flood as one record merged into what is held: same outcome.
        let mut held = before.clone();
        let mut flood = ProgressRecord::new();
        for (k, e) in sybils(50, &limits) {
            flood.insert(k, e, NOW);
        }
        flood.insert(honest[0].public_key(), update.clone(), NOW);
        assert_eq!(held.merge_bounded(&flood, NOW, limits.max_entries), 45);
        assert_eq!(held.len(), 8);
        assert_eq!(held.get(&honest[0].public_key()), Some(&update));
        for id in &honest[1..] {
            let k = id.public_key();
            assert_eq!(held.get(&k), before.get(&k));
        }
    }

    #[test]
    fn a_flooded_record_decoded_from_scratch_keeps_the_entries_near_the_normal_window() {
        // A reader with nothing held decodes a record that a hostile node stuffed over the
        // limit: the honest entries (now + 60) outrank the sybils (now + 600).
        let limits = RecordLimits {
            max_entries: 4,
            ..RecordLimits::default()
        };
        let honest: Vec<_> = (0..3).map(|_| Identity::generate().unwrap()).collect();
        let mut stuffed = ProgressRecord::new();
        for id in &honest {
            stuffed.insert(id.public_key(), entry(id, 1, NOW + 60.0), NOW);
        }
        for (k, e) in sybils(40, &limits) {
            stuffed.insert(k, e, NOW);
        }
        // (Decoding refuses a record over the byte limit outright; admission is what runs on
        // the entries of one that fits in bytes but not in entries.)
        let candidates = stuffed.iter().map(|(k, e)| (*k, e.clone()));
        let decoded = ProgressRecord::admit(KEY, candidates, NOW, &limits);
        assert_eq!(decoded.record.len(), 4);
        assert_eq!(decoded.rejections.get(RejectionReason::TooManyEntries), 39);
        for id in &honest {
            assert!(decoded.record.get(&id.public_key()).is_some());
        }
    }

    #[test]
    fn accept_validates_counts_stale_and_respects_the_entry_limit() {
        let limits = RecordLimits {
            max_entries: 2,
            ..RecordLimits::default()
        };
        let ids: Vec<_> = (0..3).map(|_| Identity::generate().unwrap()).collect();
        let mut record = ProgressRecord::new();
        let k0 = ids[0].public_key();
        assert_eq!(
            record.accept(KEY, k0, entry(&ids[0], 1, NOW + 30.0), NOW, &limits),
            Ok(InsertOutcome::Added)
        );
        assert_eq!(
            record.accept(KEY, k0, entry(&ids[0], 0, NOW + 20.0), NOW, &limits),
            Err(RejectionReason::Stale)
        );
        // Signed by ids[1] but offered under ids[0]'s subkey.
        assert_eq!(
            record.accept(KEY, k0, entry(&ids[1], 9, NOW + 40.0), NOW, &limits),
            Err(RejectionReason::BadSignature)
        );
        record
            .accept(
                KEY,
                ids[1].public_key(),
                entry(&ids[1], 1, NOW + 50.0),
                NOW,
                &limits,
            )
            .unwrap();
        // Full: a newcomer is refused whatever its expiration; incumbents stay.
        for ahead in [10.0, 60.0] {
            assert_eq!(
                record.accept(
                    KEY,
                    ids[2].public_key(),
                    entry(&ids[2], 1, NOW + ahead),
                    NOW,
                    &limits
                ),
                Err(RejectionReason::TooManyEntries)
            );
        }
        assert!(record.get(&k0).is_some());
        assert_eq!(record.len(), 2);
        // Once an incumbent expires, there is room again.
        assert_eq!(
            record.accept(
                KEY,
                ids[2].public_key(),
                entry(&ids[2], 1, NOW + 60.0),
                NOW + 30.0,
                &limits
            ),
            Ok(InsertOutcome::Added)
        );
        assert!(record.get(&k0).is_none());
        assert_eq!(record.len(), 2);
    }

    #[test]
    fn encode_decode_round_trip_and_counting() {
        let ids: Vec<_> = (0..4).map(|_| Identity::generate().unwrap()).collect();
        let mut record = ProgressRecord::new();
        // Both value forms in one record: two compact entries and two in JSON.
        for (i, id) in ids.iter().enumerate() {
            let encoding = [ValueEncoding::Compact, ValueEncoding::Json][i % 2];
            let value = progress(id, i as u64);
            let e = SignedEntry::sign_as(id, KEY, Some(&value), NOW + 60.0, encoding).unwrap();
            record.insert(id.public_key(), e, NOW);
        }
        let limits = RecordLimits::default();
        let bytes = record.encode();
        assert_eq!(bytes.len(), record.encoded_len());
        let decoded = ProgressRecord::decode(KEY, &bytes, NOW, &limits).unwrap();
        assert_eq!(decoded.record, record);
        assert_eq!(decoded.rejections.total(), 0);

        // Under another key every signature fails.
        let wrong_key = ProgressRecord::decode("other_progress", &bytes, NOW, &limits).unwrap();
        assert!(wrong_key.record.is_empty());
        assert_eq!(wrong_key.rejections.get(RejectionReason::BadSignature), 4);

        // Later, all expired.
        let later = ProgressRecord::decode(KEY, &bytes, NOW + 60.0, &limits).unwrap();
        assert_eq!(later.rejections.get(RejectionReason::Expired), 4);
    }

    #[test]
    fn a_read_reuses_a_held_entry_only_for_identical_bytes() {
        let limits = RecordLimits::default();
        let ids: Vec<_> = (0..3).map(|_| Identity::generate().unwrap()).collect();
        let authority = Identity::generate().unwrap();
        let mut held = ProgressRecord::new();
        for (i, id) in ids.iter().enumerate() {
            let value = progress(id, 1);
            let e = match i {
                0 => SignedEntry::sign(id, KEY, Some(&value), NOW + 60.0),
                1 => SignedEntry::sign_as(id, KEY, Some(&value), NOW + 60.0, ValueEncoding::Json),
                _ => {
                    let token = crate::AdmissionToken::issue(
                        &authority,
                        id.public_key(),
                        crate::Role::Trainer,
                        NOW as u64 + 600,
                    );
                    SignedEntry::sign_admitted(id, Some(&token), KEY, Some(&value), NOW + 60.0)
                }
            }
            .unwrap();
            held.insert(id.public_key(), e, NOW);
        }
        let again = ProgressRecord::decode_known(
            KEY,
            &held.encode(),
            NOW,
            &limits,
            Some(&held),
            &Admission::OPEN,
        )
        .unwrap();
        assert_eq!(again.record, held);
        assert_eq!(again.rejections.total(), 0);
        // Any one byte of a held entry changed (compact, JSON, with a token): the bytes are not
        // reused, so they are checked and refused.
        const RECORD_HEADER: usize = 4 + 1 + 4 + 4; // magic, version, count, entry length
        for id in &ids {
            let mut one = ProgressRecord::new();
            one.insert(
                id.public_key(),
                held.get(&id.public_key()).unwrap().clone(),
                NOW,
            );
            let clean = one.encode();
            let len = clean.len();
            for at in RECORD_HEADER..len {
                let mut bytes = clean.clone();
                bytes[at] ^= 0x01;
                let read = ProgressRecord::decode_known(
                    KEY,
                    &bytes,
                    NOW,
                    &limits,
                    Some(&held),
                    &Admission::OPEN,
                )
                .unwrap();
                assert!(read.record.is_empty(), "byte {at} of {len}");
                assert_eq!(read.rejections.total(), 1, "byte {at} of {len}");
            }
        }
    }

    #[test]
    fn a_bad_entry_is_skipped_and_the_rest_kept() {
        let good = Identity::generate().unwrap();
        let mut record = ProgressRecord::new();
        record.insert(good.public_key(), entry(&good, 1, NOW + 60.0), NOW);
        let mut bytes = record.encode();
        // Append a second framed entry that is garbage, and fix the count.
        put_prefixed(&mut bytes, b"garbage");
        bytes[5..9].copy_from_slice(&2u32.to_be_bytes());
        let decoded = ProgressRecord::decode(KEY, &bytes, NOW, &RecordLimits::default()).unwrap();
        assert_eq!(decoded.record.len(), 1);
        assert_eq!(decoded.rejections.get(RejectionReason::Malformed), 1);
    }

    #[test]
    fn not_a_record_is_an_error() {
        let limits = RecordLimits::default();
        assert_eq!(
            ProgressRecord::decode(KEY, b"NOPE\x01\0\0\0\0", NOW, &limits),
            Err(RecordDecodeError::BadMagic)
        );
        assert_eq!(
            ProgressRecord::decode(KEY, b"SPRG\x09\0\0\0\0", NOW, &limits),
            Err(RecordDecodeError::UnsupportedVersion(9))
        );
        assert!(matches!(
            ProgressRecord::decode(KEY, b"SPRG\x01\0\0\0\x05", NOW, &limits),
            Err(RecordDecodeError::Wire(WireError::Truncated { .. }))
        ));
        assert!(matches!(
            ProgressRecord::decode(KEY, b"SPRG\x01\0\0\0\0x", NOW, &limits),
            Err(RecordDecodeError::Wire(WireError::TrailingBytes(1)))
        ));
        let tiny = RecordLimits {
            max_entries: 1,
            max_entry_bytes: 10,
            ..limits
        };
        let big = vec![0u8; tiny.max_record_bytes() + 1];
        assert!(matches!(
            ProgressRecord::decode(KEY, &big, NOW, &tiny),
            Err(RecordDecodeError::TooLarge { .. })
        ));
        let empty = ProgressRecord::new().encode();
        assert!(ProgressRecord::decode(KEY, &empty, NOW, &limits)
            .unwrap()
            .record
            .is_empty());
    }
}
