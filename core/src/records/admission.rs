//! [`Admission`]: which entries may count in a private collaboration (PROTOCOL.md §3.5).
//!
//! Open (the default), every validly signed entry counts, as in hivemind. With a run authority
//! set, an entry counts only if it carries an [`AdmissionToken`] that
//! 1. exists ([`RejectionReason::TokenMissing`]),
//! 2. was issued by this authority ([`RejectionReason::TokenOtherAuthority`]),
//! 3. admits the entry's own signer ([`RejectionReason::TokenOtherPeer`]),
//! 4. whose peer is not on the revocation list ([`RejectionReason::TokenRevoked`]),
//! 5. grants a role that allows the entry: a client's entry must count nothing
//!    ([`RejectionReason::TokenRole`]),
//! 6. and is signed by the authority ([`RejectionReason::TokenForged`]).
//!
//! Checks 1-5 need no signature ([`Admission::screen`]) and run before the entry's own
//! signature; check 6 runs after it ([`Admission::verify_tokens`]). A token's signature is
//! checked once: verified tokens are remembered (the whole token, not its signature alone), so
//! a peer's later entries, which carry the same token, cost no second signature check. Expiry is
//! not checked here but wherever an entry's life is ([`SignedEntry::is_live`],
//! [`RejectionReason::TokenExpired`]), so an expired token stops counting at the next read,
//! message or estimate, authority or not.
//!
//! The same `Admission` judges every path an entry comes by: a DHT store, a DHT read and a
//! gossip message. The revocation list can change while it runs ([`Admission::set_revoked`]):
//! every clone sees the change, and entries already held are checked against it on every read
//! and estimate, so a peer revoked at run time drops out at once.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::admission_token::{AdmissionToken, Role};
use crate::estimator::ACTIVE_SPEED;
use crate::identity::PeerKey;
use crate::records::{RejectionReason, SignedEntry};

/// Verified tokens remembered at most; past it the memory starts again (a flood of distinct
/// valid tokens can only cost signature checks, never admit anything).
const MAX_VERIFIED_TOKENS: usize = 16_384;

/// Who may count (module docs). Cheap to clone: clones share the rules and the memory of
/// verified tokens.
#[derive(Debug, Clone, Default)]
pub struct Admission(Option<Arc<Rules>>);

#[derive(Debug)]
struct Rules {
    authority: PeerKey,
    revoked: RwLock<HashSet<PeerKey>>,
    /// Whether `revoked` is non-empty: reads of held entries skip the lock when it is not.
    any_revoked: AtomicBool,
    verified: Mutex<HashSet<AdmissionToken>>,
}

impl Admission {
    /// Everyone counts (no authority).
    pub const OPEN: Admission = Admission(None);

    /// Only peers with a token from `authority` count, except the `revoked` ones.
    pub fn private(authority: PeerKey, revoked: impl IntoIterator<Item = PeerKey>) -> Self {
        let revoked: HashSet<PeerKey> = revoked.into_iter().collect();
        Self(Some(Arc::new(Rules {
            authority,
            any_revoked: AtomicBool::new(!revoked.is_empty()),
            revoked: RwLock::new(revoked),
            verified: Mutex::new(HashSet::new()),
        })))
    }

    /// Replaces the revocation list, for this value and every clone (a reloaded setting).
    /// Returns false, changing nothing, for open admission (nobody is admitted, nobody can be
    /// revoked).
    pub fn set_revoked(&self, revoked: impl IntoIterator<Item = PeerKey>) -> bool {
        let Some(rules) = &self.0 else {
            return false;
        };
        let mut list = rules.revoked.write().unwrap_or_else(|p| p.into_inner());
        *list = revoked.into_iter().collect();
        rules.any_revoked.store(!list.is_empty(), Ordering::Release);
        true
    }

    /// The run authority, if the collaboration is private.
    pub fn authority(&self) -> Option<&PeerKey> {
        self.0.as_ref().map(|r| &r.authority)
    }

    /// Whether `peer` is on the revocation list.
    pub fn is_revoked(&self, peer: &PeerKey) -> bool {
        self.0.as_ref().is_some_and(|r| {
            r.any_revoked.load(Ordering::Acquire)
                && r.revoked
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .contains(peer)
        })
    }

    /// Checks 1-5 of the module docs, for `entry` held under `subkey`: they need no signature.
    pub fn screen(&self, subkey: &PeerKey, entry: &SignedEntry) -> Result<(), RejectionReason> {
        let Some(rules) = &self.0 else {
            return Ok(());
        };
        let token = entry.token().ok_or(RejectionReason::TokenMissing)?;
        if token.authority() != &rules.authority {
            return Err(RejectionReason::TokenOtherAuthority);
        }
        if token.peer() != subkey {
            return Err(RejectionReason::TokenOtherPeer);
        }
        if self.is_revoked(subkey) {
            return Err(RejectionReason::TokenRevoked);
        }
        if token.role() == Role::Client && counts_something(entry) {
            return Err(RejectionReason::TokenRole);
        }
        Ok(())
    }

    /// Check 6 of the module docs for the tokens of entries that passed
    /// [`Admission::screen`] and their own signature check, in order: whether each is the
    /// authority's. Tokens verified before cost a lookup; the others are checked as
    /// [`PeerKey::verify_each`] does (as one batch from a few on), outside the lock, and
    /// remembered. Open admission accepts every token.
    pub fn verify_tokens(&self, entries: &[&SignedEntry]) -> Vec<bool> {
        let Some(rules) = &self.0 else {
            return vec![true; entries.len()];
        };
        let lock = || rules.verified.lock().unwrap_or_else(|p| p.into_inner());
        let mut verdicts: Vec<Option<bool>> = {
            let verified = lock();
            entries
                .iter()
                .map(|e| match e.token() {
                    None => Some(false),
                    Some(t) if verified.contains(t) => Some(true),
                    Some(_) => None,
                })
                .collect()
        };
        let unknown: Vec<&AdmissionToken> = entries
            .iter()
            .zip(&verdicts)
            .filter(|(_, v)| v.is_none())
            .filter_map(|(e, _)| e.token())
            .collect();
        let checked = verify_token_batch(&unknown);
        let mut verified = lock();
        if verified.len() + unknown.len() > MAX_VERIFIED_TOKENS {
            verified.clear();
        }
        for (token, ok) in unknown.iter().zip(&checked) {
            if *ok {
                verified.insert((*token).clone());
            }
        }
        let mut checked = checked.into_iter();
        for v in verdicts.iter_mut().filter(|v| v.is_none()) {
            *v = checked.next();
        }
        verdicts.into_iter().map(|v| v.unwrap_or(false)).collect()
    }

    /// Every check of the module docs for one entry whose own signature has been (or will be)
    /// checked: [`Admission::screen`], then [`Admission::verify_tokens`].
    pub fn check(&self, subkey: &PeerKey, entry: &SignedEntry) -> Result<(), RejectionReason> {
        self.screen(subkey, entry)?;
        if self.verify_tokens(&[entry]) == [true] {
            Ok(())
        } else {
            Err(RejectionReason::TokenForged)
        }
    }
}

/// Whether `entry` would count towards the swarm's samples, speed or epoch: a trainer's entry,
/// or a client-mode entry with samples or speed. A tombstone counts nothing.
fn counts_something(entry: &SignedEntry) -> bool {
    entry.value().is_some_and(|p| {
        !p.client_mode || p.samples_accumulated > 0 || p.samples_per_second > ACTIVE_SPEED
    })
}

fn verify_token_batch(tokens: &[&AdmissionToken]) -> Vec<bool> {
    let parts: Vec<_> = tokens.iter().map(|t| t.signed_parts()).collect();
    let items: Vec<_> = parts
        .iter()
        .map(|(key, message, signature)| (*key, message.as_slice(), *signature))
        .collect();
    PeerKey::verify_each(&items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use crate::progress::LocalProgress;

    const KEY: &str = "run_progress";
    const NOW: f64 = 1_000_000.0;
    const EXPIRES: u64 = 2_000_000;

    struct Run {
        authority: Identity,
        admission: Admission,
    }

    fn run() -> Run {
        let authority = Identity::generate().unwrap();
        let admission = Admission::private(authority.public_key(), []);
        Run {
            authority,
            admission,
        }
    }

    fn progress(id: &Identity, samples: u64, speed: f64, client_mode: bool) -> LocalProgress {
        LocalProgress {
            peer_id: id.peer_id(),
            epoch: 3,
            samples_accumulated: samples,
            samples_per_second: speed,
            time: NOW,
            client_mode,
        }
    }

    fn signed(id: &Identity, token: Option<&AdmissionToken>, value: &LocalProgress) -> SignedEntry {
        SignedEntry::sign_admitted(id, token, KEY, Some(value), NOW + 60.0).unwrap()
    }

    #[test]
    fn open_admission_takes_every_entry_with_or_without_a_token() {
        let id = Identity::generate().unwrap();
        let entry = signed(&id, None, &progress(&id, 5, 1.0, false));
        assert_eq!(Admission::OPEN.check(&id.public_key(), &entry), Ok(()));
        assert_eq!(Admission::OPEN.authority(), None);
    }

    #[test]
    fn each_failed_check_is_rejected_by_its_own_reason() {
        let run = run();
        let peer = Identity::generate().unwrap();
        let other = Identity::generate().unwrap();
        let stranger_authority = Identity::generate().unwrap();
        let key = peer.public_key();
        let trains = progress(&peer, 50, 2.0, false);
        let trainer = AdmissionToken::issue(&run.authority, key, Role::Trainer, EXPIRES);

        let ok = signed(&peer, Some(&trainer), &trains);
        assert_eq!(run.admission.check(&key, &ok), Ok(()));

        let cases: [(SignedEntry, RejectionReason); 4] = [
            (signed(&peer, None, &trains), RejectionReason::TokenMissing),
            (
                signed(
                    &peer,
                    Some(&AdmissionToken::issue(
                        &stranger_authority,
                        key,
                        Role::Trainer,
                        EXPIRES,
                    )),
                    &trains,
                ),
                RejectionReason::TokenOtherAuthority,
            ),
            (
                signed(
                    &peer,
                    Some(&AdmissionToken::issue(
                        &run.authority,
                        other.public_key(),
                        Role::Trainer,
                        EXPIRES,
                    )),
                    &trains,
                ),
                RejectionReason::TokenOtherPeer,
            ),
            (
                signed(
                    &peer,
                    Some(&AdmissionToken::issue(
                        &run.authority,
                        key,
                        Role::Client,
                        EXPIRES,
                    )),
                    &trains,
                ),
                RejectionReason::TokenRole,
            ),
        ];
        for (entry, reason) in cases {
            assert_eq!(run.admission.check(&key, &entry), Err(reason));
        }

        // A token claiming the authority but signed by another key.
        let mut bytes =
            AdmissionToken::issue(&stranger_authority, key, Role::Trainer, EXPIRES).encode();
        bytes[1..33].copy_from_slice(run.authority.public_key().as_bytes());
        let forged = AdmissionToken::decode(&bytes).unwrap();
        let entry = signed(&peer, Some(&forged), &trains);
        assert_eq!(run.admission.screen(&key, &entry), Ok(()));
        assert_eq!(
            run.admission.check(&key, &entry),
            Err(RejectionReason::TokenForged)
        );

        let revoked = Admission::private(run.authority.public_key(), [key]);
        assert_eq!(revoked.check(&key, &ok), Err(RejectionReason::TokenRevoked));
        assert!(revoked.is_revoked(&key));
        // Lifted, then revoked again at run time, through a clone.
        let clone = revoked.clone();
        assert!(clone.set_revoked([]));
        assert_eq!(revoked.check(&key, &ok), Ok(()));
        assert!(clone.set_revoked([key]));
        assert_eq!(revoked.check(&key, &ok), Err(RejectionReason::TokenRevoked));
        assert!(!Admission::OPEN.set_revoked([key]));
    }

    #[test]
    fn a_client_token_admits_only_entries_that_count_nothing() {
        let run = run();
        let peer = Identity::generate().unwrap();
        let key = peer.public_key();
        let client = AdmissionToken::issue(&run.authority, key, Role::Client, EXPIRES);
        let watcher = signed(&peer, Some(&client), &progress(&peer, 0, 1e-20, true));
        assert_eq!(run.admission.check(&key, &watcher), Ok(()));
        let tombstone =
            SignedEntry::sign_admitted(&peer, Some(&client), KEY, None, NOW + 60.0).unwrap();
        assert_eq!(run.admission.check(&key, &tombstone), Ok(()));
        for counting in [
            progress(&peer, 0, 1e-20, false),
            progress(&peer, 1, 1e-20, true),
            progress(&peer, 0, 0.5, true),
        ] {
            let entry = signed(&peer, Some(&client), &counting);
            assert_eq!(
                run.admission.check(&key, &entry),
                Err(RejectionReason::TokenRole),
                "{counting:?}"
            );
        }
    }

    #[test]
    fn a_read_drops_strangers_by_reason_and_trusts_known_entries_without_a_second_check() {
        use crate::records::{ProgressRecord, RecordLimits};
        let run = run();
        let limits = RecordLimits::default();
        let member = Identity::generate().unwrap();
        let stranger = Identity::generate().unwrap();
        let token =
            AdmissionToken::issue(&run.authority, member.public_key(), Role::Trainer, EXPIRES);
        let mut record = ProgressRecord::new();
        let admitted = signed(&member, Some(&token), &progress(&member, 8, 1.0, false));
        record.insert(member.public_key(), admitted, NOW);
        let lone = signed(&stranger, None, &progress(&stranger, 1_000_000, 1.0, false));
        record.insert(stranger.public_key(), lone, NOW);
        let bytes = record.encode();
        let read =
            ProgressRecord::decode_known(KEY, &bytes, NOW, &limits, None, &run.admission).unwrap();
        assert_eq!(read.record.len(), 1);
        assert!(read.record.get(&member.public_key()).is_some());
        assert_eq!(read.rejections.get(RejectionReason::TokenMissing), 1);
        // Read again with the member's entry known: kept.
        let again = ProgressRecord::decode_known(
            KEY,
            &bytes,
            NOW,
            &limits,
            Some(&read.record),
            &run.admission,
        )
        .unwrap();
        assert_eq!(again.record, read.record);
        // Revoked at run time: the known entry is dropped at the next read.
        run.admission.set_revoked([member.public_key()]);
        let revoked = ProgressRecord::decode_known(
            KEY,
            &bytes,
            NOW,
            &limits,
            Some(&read.record),
            &run.admission,
        )
        .unwrap();
        assert!(revoked.record.is_empty());
        assert_eq!(revoked.rejections.get(RejectionReason::TokenRevoked), 1);
        run.admission.set_revoked([]);
        // A token that expires before the entry: the entry counts until then, known or not.
        let brief = AdmissionToken::issue(
            &run.authority,
            member.public_key(),
            Role::Trainer,
            NOW as u64 + 5,
        );
        let mut short = ProgressRecord::new();
        let entry = signed(&member, Some(&brief), &progress(&member, 8, 1.0, false));
        short.insert(member.public_key(), entry, NOW);
        let short_bytes = short.encode();
        let before =
            ProgressRecord::decode_known(KEY, &short_bytes, NOW, &limits, None, &run.admission)
                .unwrap();
        assert_eq!(before.record.len(), 1);
        let after = ProgressRecord::decode_known(
            KEY,
            &short_bytes,
            NOW + 5.0,
            &limits,
            Some(&before.record),
            &run.admission,
        )
        .unwrap();
        assert!(after.record.is_empty());
        assert_eq!(after.rejections.get(RejectionReason::TokenExpired), 1);
        // Open admission reads both.
        let open = ProgressRecord::decode(KEY, &bytes, NOW, &limits).unwrap();
        assert_eq!(open.record.len(), 2);
    }

    #[test]
    fn batch_token_checks_agree_with_one_by_one_and_remember_only_good_tokens() {
        let run = run();
        let stranger_authority = Identity::generate().unwrap();
        let peers: Vec<Identity> = (0..12).map(|_| Identity::generate().unwrap()).collect();
        let entries: Vec<SignedEntry> = peers
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let token = if i % 4 == 1 {
                    let mut bytes = AdmissionToken::issue(
                        &stranger_authority,
                        p.public_key(),
                        Role::Trainer,
                        EXPIRES,
                    )
                    .encode();
                    bytes[1..33].copy_from_slice(run.authority.public_key().as_bytes());
                    AdmissionToken::decode(&bytes).unwrap()
                } else {
                    AdmissionToken::issue(&run.authority, p.public_key(), Role::Trainer, EXPIRES)
                };
                signed(p, Some(&token), &progress(p, 10, 1.0, false))
            })
            .collect();
        let refs: Vec<&SignedEntry> = entries.iter().collect();
        let expected: Vec<bool> = (0..refs.len()).map(|i| i % 4 != 1).collect();
        assert_eq!(run.admission.verify_tokens(&refs), expected);
        // Asked again, the good ones come from memory, the forged ones are checked again.
        assert_eq!(run.admission.verify_tokens(&refs), expected);
        let remembered = run
            .admission
            .0
            .as_ref()
            .unwrap()
            .verified
            .lock()
            .unwrap()
            .len();
        assert_eq!(remembered, expected.iter().filter(|ok| **ok).count());
        for n in [1, 3] {
            assert_eq!(run.admission.verify_tokens(&refs[..n]), expected[..n]);
        }
    }
}
