//! [`SignedEntry`]: one peer's signed value under the progress key, its wire encoding and its
//! validation.
//!
//! ## What is signed
//! The signature (Ed25519, by the subkey's private key) covers a canonical, versioned,
//! length-prefixed message built from what travels, never from a re-serialization:
//!
//! ```text
//! "swarm-progress/entry/v1"             domain tag and format version
//! u32be len(key)     | key              the DHT key, e.g. "my-run_progress"
//! u32be len(subkey)  | subkey           the 32-byte Ed25519 public key
//! u8 kind                               0 = tombstone, 1 = progress as JSON, 2 = compact progress
//! u32be len(value)   | value            the exact value bytes (empty for a tombstone)
//! u64be expiration.to_bits()            the exact bits of the f64 expiration
//! ```
//!
//! An entry that carries an admission token (a private collaboration, PROTOCOL.md §3.5) is
//! signed with the tag `"swarm-progress/entry/v2"` and the token's 138 bytes appended, so the
//! token cannot be stripped from an entry or swapped for another.
//!
//! ## Wire form of one entry
//! ```text
//! u8 version (= 1) | subkey[32] | u8 kind | (u32be len | value JSON, only for kind 1)
//! | (value[33], only for kind 2) | u64be expiration bits | signature[64]
//! ```
//! Version 2 is the same with the token (`admission_token.rs`) between the expiration and the
//! signature.
//!
//! ## The two forms of a progress value
//! [`SignedEntry::sign`] writes the compact form (kind 2, [`ValueEncoding::Compact`]): 33 fixed
//! bytes, `u64be epoch | u64be samples_accumulated | f64 bits samples_per_second | f64 bits
//! time | u8 client_mode`, with no `peer_id`: the reader takes it from the subkey, so it cannot
//! disagree. An entry is then 139 bytes instead of ~290 with the JSON form (kind 1,
//! [`ValueEncoding::Json`]), which every reader still accepts.
//! Decoding is strict (exact lengths, no trailing bytes, finite expiration, value that passes
//! the `LocalProgress` schema), so changing any byte of an encoded entry makes decoding or
//! verification fail.

use std::cmp::Ordering;

use crate::admission_token::{AdmissionToken, TOKEN_LEN};
use crate::identity::{Identity, PeerKey, PUBLIC_KEY_LEN, SIGNATURE_LEN};
use crate::progress::{LocalProgress, SchemaError};
use crate::records::rejection::RejectionReason;
use crate::records::wire::{put_prefixed, Reader, WireError};
use crate::records::RecordLimits;
use thiserror::Error;

/// Domain tag and version of the signed message.
const SIGNING_TAG: &[u8] = b"swarm-progress/entry/v1";
/// Domain tag of the signed message of an entry that carries an admission token.
const SIGNING_TAG_ADMITTED: &[u8] = b"swarm-progress/entry/v2";
/// Version byte of the entry wire format.
const ENTRY_VERSION: u8 = 1;
/// Version byte of an entry that carries an admission token.
const ENTRY_VERSION_ADMITTED: u8 = 2;
const KIND_TOMBSTONE: u8 = 0;
const KIND_PROGRESS_JSON: u8 = 1;
const KIND_PROGRESS_COMPACT: u8 = 2;
/// Length of a compact value: epoch, samples, speed, time (8 bytes each) and client mode.
pub const COMPACT_VALUE_LEN: usize = 33;
/// Length of an entry with a compact value: version, subkey, kind, value, expiration,
/// signature.
pub const COMPACT_ENTRY_LEN: usize = 1 + PUBLIC_KEY_LEN + 1 + COMPACT_VALUE_LEN + 8 + SIGNATURE_LEN;

/// How a progress value is written in an entry (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueEncoding {
    /// Kind 2: 33 fixed bytes, the peer id taken from the subkey. What [`SignedEntry::sign`]
    /// writes.
    Compact,
    /// Kind 1: the `LocalProgress` JSON object, `peer_id` included (the form of the first
    /// release; still read).
    Json,
}

fn encode_compact(progress: &LocalProgress) -> Vec<u8> {
    let mut out = Vec::with_capacity(COMPACT_VALUE_LEN);
    out.extend_from_slice(&progress.epoch.to_be_bytes());
    out.extend_from_slice(&progress.samples_accumulated.to_be_bytes());
    out.extend_from_slice(&progress.samples_per_second.to_bits().to_be_bytes());
    out.extend_from_slice(&progress.time.to_bits().to_be_bytes());
    out.push(u8::from(progress.client_mode));
    out
}

fn decode_compact(raw: &[u8], subkey: &PeerKey) -> Result<LocalProgress, EntryDecodeError> {
    let schema = |e: &dyn std::fmt::Display| EntryDecodeError::Schema(e.to_string());
    let u64_at = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&raw[i..i + 8]);
        u64::from_be_bytes(b)
    };
    let client_mode = match raw[32] {
        0 => false,
        1 => true,
        other => {
            return Err(schema(&format!(
                "client_mode byte must be 0 or 1, got {other}"
            )))
        }
    };
    let progress = LocalProgress {
        peer_id: subkey.peer_id(),
        epoch: u64_at(0),
        samples_accumulated: u64_at(8),
        samples_per_second: f64::from_bits(u64_at(16)),
        time: f64::from_bits(u64_at(24)),
        client_mode,
    };
    progress.check().map_err(|e| schema(&e))?;
    Ok(progress)
}

/// A peer's value (or tombstone) with its expiration and signature.
///
/// Built only by [`SignedEntry::sign`] or [`SignedEntry::decode`], so the decoded value and the
/// signed bytes always agree.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedEntry {
    /// The decoded value; `None` is a tombstone.
    value: Option<LocalProgress>,
    /// The exact value bytes that were signed (empty for a tombstone).
    value_bytes: Vec<u8>,
    /// The wire kind: tombstone, JSON or compact progress.
    kind: u8,
    /// DHT time after which the entry is dead.
    expiration: f64,
    /// The signer's admission token, in a private collaboration. Inline: a read compares and
    /// clones every held entry, and a token behind a pointer cost it ~10 % more than inline
    /// (`bench-results/admission/`).
    token: Option<AdmissionToken>,
    /// Ed25519 signature of the signing message.
    signature: [u8; SIGNATURE_LEN],
}

/// Why an entry could not be signed.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SignError {
    /// The value breaks the schema.
    #[error("value breaks the schema: {0}")]
    Schema(#[from] SchemaError),
    /// The expiration is NaN or infinite.
    #[error("expiration must be finite, got {0}")]
    NonFiniteExpiration(f64),
    /// The value could not be serialized (never signed as empty bytes).
    #[error("value cannot be serialized: {0}")]
    Serialize(String),
    /// A compact value carries no peer id: it must be the signer's own.
    #[error("a compact value must name the signer's peer id {signer}, not {named}")]
    NotTheSigner {
        /// The signer's peer id.
        signer: String,
        /// The peer id the value names.
        named: String,
    },
}

/// Why bytes are not an entry.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum EntryDecodeError {
    /// Bad structure: lengths, version, kind, expiration.
    #[error("malformed entry: {0}")]
    Malformed(String),
    /// The value is not a valid `LocalProgress`.
    #[error("value breaks the schema: {0}")]
    Schema(String),
}

impl From<WireError> for EntryDecodeError {
    fn from(e: WireError) -> Self {
        EntryDecodeError::Malformed(e.to_string())
    }
}

impl EntryDecodeError {
    /// The rejection reason this error is counted under.
    pub fn reason(&self) -> RejectionReason {
        match self {
            EntryDecodeError::Malformed(_) => RejectionReason::Malformed,
            EntryDecodeError::Schema(_) => RejectionReason::Schema,
        }
    }
}

fn signing_message(
    key: &str,
    subkey: &PeerKey,
    kind: u8,
    value: &[u8],
    expiration: f64,
    token: Option<&AdmissionToken>,
) -> Vec<u8> {
    let mut msg = Vec::with_capacity(
        SIGNING_TAG.len() + 4 + key.len() + 4 + 32 + 1 + 4 + value.len() + 8 + TOKEN_LEN,
    );
    msg.extend_from_slice(match token {
        None => SIGNING_TAG,
        Some(_) => SIGNING_TAG_ADMITTED,
    });
    put_prefixed(&mut msg, key.as_bytes());
    put_prefixed(&mut msg, subkey.as_bytes());
    msg.push(kind);
    put_prefixed(&mut msg, value);
    msg.extend_from_slice(&expiration.to_bits().to_be_bytes());
    if let Some(token) = token {
        token.encode_into(&mut msg);
    }
    msg
}

impl SignedEntry {
    /// Signs `value` (or a tombstone for `None`) under `key` with `identity`, whose public key is
    /// the subkey, in the compact form (module docs): the value must name `identity`'s own
    /// peer id.
    pub fn sign(
        identity: &Identity,
        key: &str,
        value: Option<&LocalProgress>,
        expiration: f64,
    ) -> Result<Self, SignError> {
        Self::sign_admitted(identity, None, key, value, expiration)
    }

    /// [`SignedEntry::sign`] with the signer's admission `token` (if any) carried in the entry
    /// and covered by the signature: what a peer of a private collaboration publishes.
    pub fn sign_admitted(
        identity: &Identity,
        token: Option<&AdmissionToken>,
        key: &str,
        value: Option<&LocalProgress>,
        expiration: f64,
    ) -> Result<Self, SignError> {
        Self::sign_full(
            identity,
            token,
            key,
            value,
            expiration,
            ValueEncoding::Compact,
        )
    }

    /// [`SignedEntry::sign`] with the value written as `encoding` says. The JSON form can name
    /// any peer id (readers reject a mismatch as `peer_id_mismatch`); tests use it to play the
    /// first release or a liar.
    pub fn sign_as(
        identity: &Identity,
        key: &str,
        value: Option<&LocalProgress>,
        expiration: f64,
        encoding: ValueEncoding,
    ) -> Result<Self, SignError> {
        Self::sign_full(identity, None, key, value, expiration, encoding)
    }

    fn sign_full(
        identity: &Identity,
        token: Option<&AdmissionToken>,
        key: &str,
        value: Option<&LocalProgress>,
        expiration: f64,
        encoding: ValueEncoding,
    ) -> Result<Self, SignError> {
        if !expiration.is_finite() {
            return Err(SignError::NonFiniteExpiration(expiration));
        }
        if let Some(progress) = value {
            progress.check()?;
        }
        let (kind, value_bytes) = match (value, encoding) {
            (None, _) => (KIND_TOMBSTONE, Vec::new()),
            (Some(progress), ValueEncoding::Compact) => {
                let signer = identity.peer_id();
                if progress.peer_id != signer {
                    return Err(SignError::NotTheSigner {
                        signer,
                        named: progress.peer_id.clone(),
                    });
                }
                (KIND_PROGRESS_COMPACT, encode_compact(progress))
            }
            (Some(progress), ValueEncoding::Json) => {
                // A checked LocalProgress (strings, integers, finite floats, bool) serializes;
                // were that ever to fail, the error is returned rather than empty bytes signed.
                let json = serde_json::to_vec(progress)
                    .map_err(|e| SignError::Serialize(e.to_string()))?;
                (KIND_PROGRESS_JSON, json)
            }
        };
        let msg = signing_message(
            key,
            &identity.public_key(),
            kind,
            &value_bytes,
            expiration,
            token,
        );
        Ok(Self {
            value: value.cloned(),
            value_bytes,
            kind,
            expiration,
            token: token.cloned(),
            signature: identity.sign(&msg),
        })
    }

    /// The value, or `None` for a tombstone.
    pub fn value(&self) -> Option<&LocalProgress> {
        self.value.as_ref()
    }

    /// Whether this entry is a tombstone (null value).
    pub fn is_tombstone(&self) -> bool {
        self.value.is_none()
    }

    /// The exact bytes of the value, as signed (empty for a tombstone).
    pub fn value_bytes(&self) -> &[u8] {
        &self.value_bytes
    }

    /// How the value is written (`None` for a tombstone).
    pub fn value_encoding(&self) -> Option<ValueEncoding> {
        match self.kind {
            KIND_PROGRESS_COMPACT => Some(ValueEncoding::Compact),
            KIND_PROGRESS_JSON => Some(ValueEncoding::Json),
            _ => None,
        }
    }

    /// DHT time after which the entry is dead.
    pub fn expiration(&self) -> f64 {
        self.expiration
    }

    /// The signature.
    pub fn signature(&self) -> &[u8; SIGNATURE_LEN] {
        &self.signature
    }

    /// The signer's admission token, if the entry carries one.
    pub fn token(&self) -> Option<&AdmissionToken> {
        self.token.as_ref()
    }

    /// Whether the entry is still alive at `now`: not expired, and its token (if any) neither.
    pub fn is_live(&self, now: f64) -> bool {
        self.expiration > now && self.token.as_ref().is_none_or(|t| t.is_live(now))
    }

    /// The merge order: larger expiration wins; at equal expiration a tombstone wins (a peer
    /// that left stays gone), and remaining ties are broken by value bytes and signature so that
    /// merging is deterministic whatever the order of arrival.
    pub fn recency_cmp(&self, other: &SignedEntry) -> Ordering {
        self.expiration
            .total_cmp(&other.expiration)
            .then_with(|| self.is_tombstone().cmp(&other.is_tombstone()))
            .then_with(|| self.value_bytes.cmp(&other.value_bytes))
            .then_with(|| self.signature.cmp(&other.signature))
    }

    fn signing_message(&self, key: &str, subkey: &PeerKey) -> Vec<u8> {
        signing_message(
            key,
            subkey,
            self.kind,
            &self.value_bytes,
            self.expiration,
            self.token.as_ref(),
        )
    }

    /// Checks the signature for `key` and `subkey`.
    pub fn verify(&self, key: &str, subkey: &PeerKey) -> bool {
        subkey.verify(&self.signing_message(key, subkey), &self.signature)
    }

    /// [`SignedEntry::verify`] of each of `entries` under `key`, in order, batched as
    /// [`PeerKey::verify_each`] does.
    pub fn verify_all(key: &str, entries: &[(&PeerKey, &SignedEntry)]) -> Vec<bool> {
        let messages: Vec<Vec<u8>> = entries
            .iter()
            .map(|(s, e)| e.signing_message(key, s))
            .collect();
        let items: Vec<(&PeerKey, &[u8], &[u8; SIGNATURE_LEN])> = entries
            .iter()
            .zip(&messages)
            .map(|((s, e), m)| (*s, m.as_slice(), &e.signature))
            .collect();
        PeerKey::verify_each(&items)
    }

    /// Full validation of an entry held under `key` / `subkey` at time `now`: size, expiry,
    /// expiration horizon, signature, and that the value names the subkey's own peer id.
    /// Cheap checks run first.
    pub fn validate(
        &self,
        key: &str,
        subkey: &PeerKey,
        now: f64,
        limits: &RecordLimits,
    ) -> Result<(), RejectionReason> {
        self.validate_known(key, subkey, now, limits, None)
    }

    /// [`SignedEntry::validate`], except that the signature and the peer id are not checked
    /// again when `known` is this very entry (same value bytes, expiration and signature), taken from a record
    /// already validated under the same `key` and `subkey`. Reading a record whose entries are
    /// mostly unchanged then costs comparisons instead of signature checks.
    pub fn validate_known(
        &self,
        key: &str,
        subkey: &PeerKey,
        now: f64,
        limits: &RecordLimits,
        known: Option<&SignedEntry>,
    ) -> Result<(), RejectionReason> {
        self.check_bounds(now, limits)?;
        if known == Some(self) {
            // Signature and peer id were checked when this exact entry was first admitted.
            return Ok(());
        }
        if !self.verify(key, subkey) {
            return Err(RejectionReason::BadSignature);
        }
        self.check_peer_id(subkey)
    }

    /// The checks of [`SignedEntry::validate`] that need no signature: size, expiry and the
    /// expiration horizon.
    pub fn check_bounds(&self, now: f64, limits: &RecordLimits) -> Result<(), RejectionReason> {
        if self.encoded_len() > limits.max_entry_bytes {
            return Err(RejectionReason::Oversized);
        }
        if self.expiration <= now {
            return Err(RejectionReason::Expired);
        }
        if !self.is_live(now) {
            return Err(RejectionReason::TokenExpired);
        }
        if self.expiration > now + limits.max_expiration_ahead {
            return Err(RejectionReason::ExpirationTooFar);
        }
        Ok(())
    }

    /// The value, if any, names the subkey's own peer id (checked after the signature).
    pub fn check_peer_id(&self, subkey: &PeerKey) -> Result<(), RejectionReason> {
        match &self.value {
            // A compact value has no peer id of its own: it was taken from the subkey.
            Some(_) if self.kind == KIND_PROGRESS_COMPACT => Ok(()),
            Some(progress) if progress.peer_id != subkey.peer_id() => {
                Err(RejectionReason::PeerIdMismatch)
            }
            _ => Ok(()),
        }
    }

    /// Length of [`SignedEntry::encode`]'s output.
    pub fn encoded_len(&self) -> usize {
        let value = match self.kind {
            KIND_PROGRESS_JSON => 4 + self.value_bytes.len(),
            _ => self.value_bytes.len(),
        };
        let token = if self.token.is_some() { TOKEN_LEN } else { 0 };
        1 + PUBLIC_KEY_LEN + 1 + value + 8 + token + SIGNATURE_LEN
    }

    /// The version byte of its wire form: 2 with a token, 1 without.
    fn version(&self) -> u8 {
        match self.token {
            None => ENTRY_VERSION,
            Some(_) => ENTRY_VERSION_ADMITTED,
        }
    }

    /// Appends the wire form of this entry, held under `subkey`, to `out`.
    pub fn encode_into(&self, subkey: &PeerKey, out: &mut Vec<u8>) {
        out.push(self.version());
        out.extend_from_slice(subkey.as_bytes());
        out.push(self.kind);
        match self.kind {
            KIND_PROGRESS_JSON => put_prefixed(out, &self.value_bytes),
            _ => out.extend_from_slice(&self.value_bytes),
        }
        out.extend_from_slice(&self.expiration.to_bits().to_be_bytes());
        if let Some(token) = &self.token {
            token.encode_into(out);
        }
        out.extend_from_slice(&self.signature);
    }

    /// Whether `raw` is exactly the wire form of this entry held under `subkey`, compared in
    /// place. A read uses it to reuse an entry it has already validated instead of decoding the
    /// same bytes again.
    pub fn is_encoded_as(&self, subkey: &PeerKey, raw: &[u8]) -> bool {
        if raw.len() != self.encoded_len() {
            return false;
        }
        // The fields of `encode_into`, in its order, each compared where it lies.
        let mut rest = raw;
        let mut next = |n: usize| {
            let (field, tail) = rest.split_at(n);
            rest = tail;
            field
        };
        let value_len = (self.value_bytes.len() as u32).to_be_bytes();
        next(1) == [self.version()]
            && next(PUBLIC_KEY_LEN) == subkey.as_bytes()
            && next(1) == [self.kind]
            && (self.kind != KIND_PROGRESS_JSON || next(4) == value_len)
            && next(self.value_bytes.len()) == self.value_bytes.as_slice()
            && next(8) == self.expiration.to_bits().to_be_bytes()
            && self
                .token
                .as_ref()
                .is_none_or(|t| t.is_encoded_as(next(TOKEN_LEN)))
            && next(SIGNATURE_LEN) == self.signature
    }

    /// The wire form of this entry, held under `subkey`.
    pub fn encode(&self, subkey: &PeerKey) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(subkey, &mut out);
        out
    }

    /// Parses one entry (exactly, no trailing bytes). Does not verify the signature: see
    /// [`SignedEntry::validate`].
    pub fn decode(bytes: &[u8]) -> Result<(PeerKey, SignedEntry), EntryDecodeError> {
        let mut r = Reader::new(bytes);
        let version = r.u8()?;
        if version != ENTRY_VERSION && version != ENTRY_VERSION_ADMITTED {
            return Err(EntryDecodeError::Malformed(format!(
                "unsupported entry version {version}"
            )));
        }
        let subkey = PeerKey::from_bytes(r.array()?);
        let kind = r.u8()?;
        let (value, value_bytes) = match kind {
            KIND_TOMBSTONE => (None, Vec::new()),
            KIND_PROGRESS_JSON => {
                let raw = r.prefixed()?;
                let progress: LocalProgress = serde_json::from_slice(raw)
                    .map_err(|e| EntryDecodeError::Schema(e.to_string()))?;
                (Some(progress), raw.to_vec())
            }
            KIND_PROGRESS_COMPACT => {
                let raw = r.take(COMPACT_VALUE_LEN)?;
                (Some(decode_compact(raw, &subkey)?), raw.to_vec())
            }
            other => {
                return Err(EntryDecodeError::Malformed(format!(
                    "unknown entry kind {other}"
                )))
            }
        };
        let expiration = f64::from_bits(r.u64()?);
        if !expiration.is_finite() {
            return Err(EntryDecodeError::Malformed(format!(
                "expiration {expiration} is not finite"
            )));
        }
        let token = if version == ENTRY_VERSION_ADMITTED {
            let raw = r.take(TOKEN_LEN)?;
            Some(
                AdmissionToken::decode(raw)
                    .map_err(|e| EntryDecodeError::Malformed(e.to_string()))?,
            )
        } else {
            None
        };
        let signature = r.array()?;
        r.finish()?;
        Ok((
            subkey,
            SignedEntry {
                value,
                value_bytes,
                kind,
                expiration,
                token,
                signature,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::BATCH_VERIFY_MIN;

    const KEY: &str = "run_progress";
    const NOW: f64 = 1_000_000.0;

    fn progress(identity: &Identity) -> LocalProgress {
        LocalProgress {
            peer_id: identity.peer_id(),
            epoch: 2,
            samples_accumulated: 64,
            samples_per_second: 0.1 + 0.2, // not exactly representable in short decimal
            time: NOW - 1.0 / 3.0,
            client_mode: false,
        }
    }

    fn limits() -> RecordLimits {
        RecordLimits::default()
    }

    /// `entry` with one bit of its signature flipped (through the wire form).
    fn forged(subkey: &PeerKey, entry: &SignedEntry) -> SignedEntry {
        let mut bytes = entry.encode(subkey);
        let last = bytes.len() - 1;
        bytes[last - 7] ^= 0x10;
        SignedEntry::decode(&bytes).unwrap().1
    }

    #[test]
    fn batch_verification_agrees_with_one_by_one_checks() {
        let ids: Vec<Identity> = (0..40).map(|_| Identity::generate().unwrap()).collect();
        let signed: Vec<(PeerKey, SignedEntry)> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let value = (i % 5 != 0).then(|| progress(id));
                let entry = SignedEntry::sign(id, KEY, value.as_ref(), NOW + 60.0).unwrap();
                (id.public_key(), entry)
            })
            .collect();
        // Sizes below and above the batch threshold; forgeries nowhere, first, inside, last, twice.
        for n in [1, 3, BATCH_VERIFY_MIN, 10, 40] {
            let bad_sets: [&[usize]; 5] = [&[], &[0], &[n / 2], &[n - 1], &[0, n - 1]];
            for bad in bad_sets {
                let entries: Vec<(PeerKey, SignedEntry)> = signed[..n]
                    .iter()
                    .enumerate()
                    .map(|(i, (s, e))| {
                        (
                            *s,
                            if bad.contains(&i) {
                                forged(s, e)
                            } else {
                                e.clone()
                            },
                        )
                    })
                    .collect();
                let refs: Vec<(&PeerKey, &SignedEntry)> =
                    entries.iter().map(|(s, e)| (s, e)).collect();
                let expected: Vec<bool> = (0..n).map(|i| !bad.contains(&i)).collect();
                assert_eq!(
                    SignedEntry::verify_all(KEY, &refs),
                    expected,
                    "n = {n}, bad = {bad:?}"
                );
                let one_by_one: Vec<bool> = refs.iter().map(|(s, e)| e.verify(KEY, s)).collect();
                assert_eq!(one_by_one, expected);
            }
        }
        // An entry signed for another key fails the batch as it fails alone.
        let refs: Vec<(&PeerKey, &SignedEntry)> =
            signed[..10].iter().map(|(s, e)| (s, e)).collect();
        assert!(SignedEntry::verify_all("other_key", &refs)
            .iter()
            .all(|ok| !ok));
    }

    #[test]
    fn a_batch_with_a_key_that_is_not_a_point_or_of_small_order_fails() {
        let id = Identity::generate().unwrap();
        let entry = SignedEntry::sign(&id, KEY, None, NOW + 60.0).unwrap();
        let msg = b"message";
        let sig = entry.signature();
        let good = id.public_key();
        // The identity point (small order) and a y that is not on the curve.
        let mut identity = [0u8; PUBLIC_KEY_LEN];
        identity[0] = 1;
        let not_a_point = (2u8..64)
            .map(|y| {
                let mut bytes = [0u8; PUBLIC_KEY_LEN];
                bytes[0] = y;
                bytes
            })
            .find(|b| ed25519_dalek::VerifyingKey::from_bytes(b).is_err())
            .expect("about half of all y are not on the curve");
        for bad in [identity, not_a_point] {
            let bad = PeerKey::from_bytes(bad);
            let items = [(&good, &msg[..], sig), (&bad, &msg[..], sig)];
            assert!(!PeerKey::verify_batch(&items));
        }
    }

    #[test]
    fn sign_encode_decode_verify_round_trip() {
        let id = Identity::generate().unwrap();
        let entry = SignedEntry::sign(&id, KEY, Some(&progress(&id)), NOW + 60.0).unwrap();
        let bytes = entry.encode(&id.public_key());
        assert_eq!(bytes.len(), entry.encoded_len());
        let (subkey, decoded) = SignedEntry::decode(&bytes).unwrap();
        assert_eq!(subkey, id.public_key());
        assert_eq!(decoded, entry);
        assert_eq!(decoded.value().unwrap().samples_per_second, 0.1 + 0.2);
        assert_eq!(decoded.validate(KEY, &subkey, NOW, &limits()), Ok(()));
    }

    #[test]
    fn a_token_travels_in_the_entry_under_its_signature_and_bounds_its_life() {
        let id = Identity::generate().unwrap();
        let authority = Identity::generate().unwrap();
        let subkey = id.public_key();
        let token = |expires_at| {
            AdmissionToken::issue(&authority, subkey, crate::Role::Trainer, expires_at)
        };
        let until = token(NOW as u64 + 10);
        let entry =
            SignedEntry::sign_admitted(&id, Some(&until), KEY, Some(&progress(&id)), NOW + 60.0)
                .unwrap();
        let bytes = entry.encode(&subkey);
        assert_eq!(bytes.len(), COMPACT_ENTRY_LEN + TOKEN_LEN);
        assert_eq!(bytes[0], ENTRY_VERSION_ADMITTED);
        let (_, decoded) = SignedEntry::decode(&bytes).unwrap();
        assert_eq!(decoded, entry);
        assert_eq!(decoded.token(), Some(&until));
        assert_eq!(decoded.validate(KEY, &subkey, NOW, &limits()), Ok(()));

        // The token's expiry ends the entry's life before its own expiration.
        assert!(decoded.is_live(NOW + 9.0));
        assert!(!decoded.is_live(NOW + 10.0));
        assert_eq!(
            decoded.check_bounds(NOW + 10.0, &limits()),
            Err(RejectionReason::TokenExpired)
        );
        assert_eq!(
            decoded.check_bounds(NOW + 60.0, &limits()),
            Err(RejectionReason::Expired)
        );

        // Swapping the token for another one (even a later one for the same peer) or stripping
        // it breaks the signature.
        let later = token(NOW as u64 + 1000);
        let mut swapped = bytes.clone();
        let at = bytes.len() - SIGNATURE_LEN - TOKEN_LEN;
        swapped[at..at + TOKEN_LEN].copy_from_slice(&later.encode());
        let (_, swapped) = SignedEntry::decode(&swapped).unwrap();
        assert!(!swapped.verify(KEY, &subkey));
        let mut stripped = bytes[..at].to_vec();
        stripped.extend_from_slice(&bytes[at + TOKEN_LEN..]);
        stripped[0] = ENTRY_VERSION;
        let (_, stripped) = SignedEntry::decode(&stripped).unwrap();
        assert_eq!(stripped.token(), None);
        assert!(!stripped.verify(KEY, &subkey));
    }

    #[test]
    fn tombstone_round_trips_and_validates() {
        let id = Identity::generate().unwrap();
        let entry = SignedEntry::sign(&id, KEY, None, NOW + 60.0).unwrap();
        assert!(entry.is_tombstone());
        let (subkey, decoded) = SignedEntry::decode(&entry.encode(&id.public_key())).unwrap();
        assert!(decoded.is_tombstone());
        assert_eq!(decoded.validate(KEY, &subkey, NOW, &limits()), Ok(()));
    }

    #[test]
    fn signature_binds_key_and_subkey() {
        let id = Identity::generate().unwrap();
        let other = Identity::generate().unwrap();
        let entry = SignedEntry::sign(&id, KEY, Some(&progress(&id)), NOW + 60.0).unwrap();
        assert!(entry.verify(KEY, &id.public_key()));
        assert!(!entry.verify("other_progress", &id.public_key()));
        assert_eq!(
            entry.validate(KEY, &other.public_key(), NOW, &limits()),
            Err(RejectionReason::BadSignature)
        );
    }

    #[test]
    fn validation_rejects_by_reason() {
        let id = Identity::generate().unwrap();
        let subkey = id.public_key();
        let expired = SignedEntry::sign(&id, KEY, Some(&progress(&id)), NOW).unwrap();
        assert_eq!(
            expired.validate(KEY, &subkey, NOW, &limits()),
            Err(RejectionReason::Expired)
        );

        let far = SignedEntry::sign(&id, KEY, Some(&progress(&id)), NOW + 601.0).unwrap();
        assert_eq!(
            far.validate(KEY, &subkey, NOW, &limits()),
            Err(RejectionReason::ExpirationTooFar)
        );

        let mut impostor = progress(&id);
        impostor.peer_id = Identity::generate().unwrap().peer_id();
        let lying =
            SignedEntry::sign_as(&id, KEY, Some(&impostor), NOW + 60.0, ValueEncoding::Json)
                .unwrap();
        assert_eq!(
            lying.validate(KEY, &subkey, NOW, &limits()),
            Err(RejectionReason::PeerIdMismatch)
        );

        let tight = RecordLimits {
            max_entry_bytes: 100,
            ..limits()
        };
        let ok = SignedEntry::sign(&id, KEY, Some(&progress(&id)), NOW + 60.0).unwrap();
        assert_eq!(
            ok.validate(KEY, &subkey, NOW, &tight),
            Err(RejectionReason::Oversized)
        );
    }

    #[test]
    fn a_known_identical_entry_skips_only_the_signature_check() {
        let id = Identity::generate().unwrap();
        let subkey = id.public_key();
        let entry = SignedEntry::sign(&id, KEY, Some(&progress(&id)), NOW + 60.0).unwrap();
        // Same bytes under another key would fail verification; known, it is not re-verified.
        assert_eq!(
            entry.validate_known("other", &subkey, NOW, &limits(), Some(&entry)),
            Ok(())
        );
        // A different entry that is "known" is still verified.
        let other = SignedEntry::sign(&id, KEY, None, NOW + 60.0).unwrap();
        assert_eq!(
            entry.validate_known("other", &subkey, NOW, &limits(), Some(&other)),
            Err(RejectionReason::BadSignature)
        );
        // Every other rule still applies.
        assert_eq!(
            entry.validate_known(KEY, &subkey, NOW + 60.0, &limits(), Some(&entry)),
            Err(RejectionReason::Expired)
        );
    }

    #[test]
    fn sign_refuses_schema_breaking_values_and_non_finite_expiration() {
        let id = Identity::generate().unwrap();
        let mut bad = progress(&id);
        bad.samples_per_second = f64::NAN;
        assert!(matches!(
            SignedEntry::sign(&id, KEY, Some(&bad), NOW),
            Err(SignError::Schema(_))
        ));
        assert_eq!(
            SignedEntry::sign(&id, KEY, None, f64::INFINITY),
            Err(SignError::NonFiniteExpiration(f64::INFINITY))
        );
    }

    #[test]
    fn decode_rejects_bad_structure_and_bad_values() {
        let id = Identity::generate().unwrap();
        let entry = SignedEntry::sign(&id, KEY, Some(&progress(&id)), NOW + 60.0).unwrap();
        let good = entry.encode(&id.public_key());

        let mut wrong_version = good.clone();
        wrong_version[0] = 2;
        assert_eq!(
            SignedEntry::decode(&wrong_version).unwrap_err().reason(),
            RejectionReason::Malformed
        );

        let mut wrong_kind = good.clone();
        wrong_kind[33] = 7;
        assert_eq!(
            SignedEntry::decode(&wrong_kind).unwrap_err().reason(),
            RejectionReason::Malformed
        );

        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(
            SignedEntry::decode(&trailing).unwrap_err().reason(),
            RejectionReason::Malformed
        );

        assert!(SignedEntry::decode(&good[..good.len() - 1]).is_err());
        assert!(SignedEntry::decode(&[]).is_err());

        // A value with an unknown field, hand-built on the wire.
        let json = br#"{"peer_id":"abc","epoch":1,"samples_accumulated":2,"samples_per_second":1.0,"time":5.0,"client_mode":false,"x":1}"#;
        let mut forged = vec![ENTRY_VERSION];
        forged.extend_from_slice(id.public_key().as_bytes());
        forged.push(KIND_PROGRESS_JSON);
        put_prefixed(&mut forged, json);
        forged.extend_from_slice(&(NOW + 60.0).to_bits().to_be_bytes());
        forged.extend_from_slice(&[0u8; 64]);
        assert_eq!(
            SignedEntry::decode(&forged).unwrap_err().reason(),
            RejectionReason::Schema
        );

        // A NaN expiration.
        let mut nan = vec![ENTRY_VERSION];
        nan.extend_from_slice(id.public_key().as_bytes());
        nan.push(KIND_TOMBSTONE);
        nan.extend_from_slice(&f64::NAN.to_bits().to_be_bytes());
        nan.extend_from_slice(&[0u8; 64]);
        assert_eq!(
            SignedEntry::decode(&nan).unwrap_err().reason(),
            RejectionReason::Malformed
        );
    }

    #[test]
    fn the_compact_form_is_139_bytes_and_both_forms_round_trip_and_verify() {
        let id = Identity::generate().unwrap();
        let subkey = id.public_key();
        let value = LocalProgress {
            client_mode: true,
            ..progress(&id)
        };
        let compact = SignedEntry::sign(&id, KEY, Some(&value), NOW + 60.0).unwrap();
        let json =
            SignedEntry::sign_as(&id, KEY, Some(&value), NOW + 60.0, ValueEncoding::Json).unwrap();
        assert_eq!(compact.value_encoding(), Some(ValueEncoding::Compact));
        assert_eq!(json.value_encoding(), Some(ValueEncoding::Json));
        let bytes = compact.encode(&subkey);
        assert_eq!(bytes.len(), 139);
        assert_eq!(bytes.len(), COMPACT_ENTRY_LEN);
        assert_eq!(bytes.len(), compact.encoded_len());
        assert!(
            json.encoded_len() > 2 * bytes.len() - 10,
            "{}",
            json.encoded_len()
        );
        for entry in [&compact, &json] {
            let (got_subkey, decoded) = SignedEntry::decode(&entry.encode(&subkey)).unwrap();
            assert_eq!(got_subkey, subkey);
            assert_eq!(&decoded, entry);
            assert_eq!(decoded.value(), Some(&value));
            assert_eq!(decoded.validate(KEY, &subkey, NOW, &limits()), Ok(()));
        }
        // The kind is signed: the compact bytes relabelled as another kind do not verify.
        let (_, decoded) = SignedEntry::decode(&bytes).unwrap();
        assert!(decoded.verify(KEY, &subkey));
        let other = Identity::generate().unwrap();
        assert!(!decoded.verify(KEY, &other.public_key()));
    }

    #[test]
    fn a_compact_value_takes_its_peer_id_from_the_subkey_and_only_the_signer_can_sign_one() {
        let id = Identity::generate().unwrap();
        let other = Identity::generate().unwrap();
        // Signing a compact value that names another peer is refused...
        let theirs = progress(&other);
        assert!(matches!(
            SignedEntry::sign(&id, KEY, Some(&theirs), NOW + 60.0),
            Err(SignError::NotTheSigner { .. })
        ));
        // ...while the JSON form signs it and readers reject it by reason.
        let lie =
            SignedEntry::sign_as(&id, KEY, Some(&theirs), NOW + 60.0, ValueEncoding::Json).unwrap();
        assert_eq!(
            lie.validate(KEY, &id.public_key(), NOW, &limits()),
            Err(RejectionReason::PeerIdMismatch)
        );
        // A compact entry moved under another subkey decodes with that subkey's peer id, and
        // its signature fails.
        let mine = SignedEntry::sign(&id, KEY, Some(&progress(&id)), NOW + 60.0).unwrap();
        let mut moved = mine.encode(&id.public_key());
        moved[1..33].copy_from_slice(other.public_key().as_bytes());
        let (subkey, decoded) = SignedEntry::decode(&moved).unwrap();
        assert_eq!(decoded.value().unwrap().peer_id, other.peer_id());
        assert_eq!(
            decoded.validate(KEY, &subkey, NOW, &limits()),
            Err(RejectionReason::BadSignature)
        );
    }

    #[test]
    fn a_compact_value_breaking_the_schema_or_cut_short_is_rejected_by_reason() {
        let id = Identity::generate().unwrap();
        let entry = SignedEntry::sign(&id, KEY, Some(&progress(&id)), NOW + 60.0).unwrap();
        let good = entry.encode(&id.public_key());
        let value_at = 1 + 32 + 1;
        let with = |offset: usize, bytes: &[u8]| {
            let mut b = good.clone();
            b[value_at + offset..value_at + offset + bytes.len()].copy_from_slice(bytes);
            SignedEntry::decode(&b).map(|_| ()).map_err(|e| e.reason())
        };
        assert_eq!(
            with(32, &[2]),
            Err(RejectionReason::Schema),
            "client mode 2"
        );
        let nan = f64::NAN.to_bits().to_be_bytes();
        assert_eq!(with(16, &nan), Err(RejectionReason::Schema), "NaN speed");
        let negative = (-1.0f64).to_bits().to_be_bytes();
        assert_eq!(
            with(24, &negative),
            Err(RejectionReason::Schema),
            "negative time"
        );
        assert_eq!(with(32, &[1]), Ok(()), "client mode 1 is valid");
        // Cut inside the value: no length prefix to trust, the fixed length decides.
        let short = &good[..value_at + COMPACT_VALUE_LEN - 1];
        assert_eq!(
            SignedEntry::decode(short).unwrap_err().reason(),
            RejectionReason::Malformed
        );
    }

    #[test]
    fn recency_prefers_larger_expiration_then_breaks_ties_deterministically() {
        let id = Identity::generate().unwrap();
        let old = SignedEntry::sign(&id, KEY, Some(&progress(&id)), NOW + 10.0).unwrap();
        let new = SignedEntry::sign(&id, KEY, None, NOW + 20.0).unwrap();
        assert_eq!(new.recency_cmp(&old), Ordering::Greater);
        let a = SignedEntry::sign(&id, KEY, Some(&progress(&id)), NOW + 10.0).unwrap();
        let mut p = progress(&id);
        p.epoch += 1;
        let b = SignedEntry::sign(&id, KEY, Some(&p), NOW + 10.0).unwrap();
        assert_eq!(a.recency_cmp(&b), b.recency_cmp(&a).reverse());
        assert_ne!(a.recency_cmp(&b), Ordering::Equal);
        assert_eq!(a.recency_cmp(&a.clone()), Ordering::Equal);
        let tombstone = SignedEntry::sign(&id, KEY, None, NOW + 10.0).unwrap();
        assert_eq!(tombstone.recency_cmp(&a), Ordering::Greater);
    }
}
