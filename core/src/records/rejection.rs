//! Why an entry was not accepted, and counters of rejections by reason.
//!
//! Stores and readers never fail on a bad entry: they drop it, count it under its
//! [`RejectionReason`], and log it at debug.

use std::fmt;

/// Why one entry was not accepted into a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectionReason {
    /// The entry's bytes are not a well-formed entry (version, kind, lengths, non-finite expiration).
    Malformed,
    /// The value is not a valid `LocalProgress` (wrong types, unknown fields, bad numbers).
    Schema,
    /// The encoded entry is larger than the per-entry limit.
    Oversized,
    /// The entry had already expired.
    Expired,
    /// The expiration lies further ahead than the limit allows.
    ExpirationTooFar,
    /// The signature does not verify for this key and subkey.
    BadSignature,
    /// The value names a peer id other than the subkey's.
    PeerIdMismatch,
    /// A newer (or identical) entry for the subkey is already held: a replay or a late copy.
    Stale,
    /// The record was full: a new subkey is refused (incumbents are never evicted), or a record
    /// that arrived over the limit lost this entry (parked furthest in the future).
    TooManyEntries,
    /// A gossip message from a peer that publishes far more often than the minimum interval
    /// (the excess over a short burst).
    RateLimited,
    /// Private collaboration: the entry carries no admission token.
    TokenMissing,
    /// Private collaboration: the token names the configured authority but its signature does
    /// not verify (a forgery, or a token altered after issue).
    TokenForged,
    /// Private collaboration: the token was issued by another authority.
    TokenOtherAuthority,
    /// Private collaboration: the token admits another peer than the entry's signer.
    TokenOtherPeer,
    /// The entry's admission token has expired (checked on every read, message and estimate,
    /// whether or not an authority is set).
    TokenExpired,
    /// Private collaboration: the signer is on the revocation list.
    TokenRevoked,
    /// Private collaboration: a client token on an entry that counts samples or speed, or is
    /// not in client mode (a client never drives the epoch).
    TokenRole,
}

impl RejectionReason {
    /// Every reason, in a fixed order.
    pub const ALL: [RejectionReason; 17] = [
        RejectionReason::Malformed,
        RejectionReason::Schema,
        RejectionReason::Oversized,
        RejectionReason::Expired,
        RejectionReason::ExpirationTooFar,
        RejectionReason::BadSignature,
        RejectionReason::PeerIdMismatch,
        RejectionReason::Stale,
        RejectionReason::TooManyEntries,
        RejectionReason::RateLimited,
        RejectionReason::TokenMissing,
        RejectionReason::TokenForged,
        RejectionReason::TokenOtherAuthority,
        RejectionReason::TokenOtherPeer,
        RejectionReason::TokenExpired,
        RejectionReason::TokenRevoked,
        RejectionReason::TokenRole,
    ];

    /// A stable snake_case label (for metrics and logs).
    pub fn as_str(self) -> &'static str {
        match self {
            RejectionReason::Malformed => "malformed",
            RejectionReason::Schema => "schema",
            RejectionReason::Oversized => "oversized",
            RejectionReason::Expired => "expired",
            RejectionReason::ExpirationTooFar => "expiration_too_far",
            RejectionReason::BadSignature => "bad_signature",
            RejectionReason::PeerIdMismatch => "peer_id_mismatch",
            RejectionReason::Stale => "stale",
            RejectionReason::TooManyEntries => "too_many_entries",
            RejectionReason::RateLimited => "rate_limited",
            RejectionReason::TokenMissing => "token_missing",
            RejectionReason::TokenForged => "token_forged",
            RejectionReason::TokenOtherAuthority => "token_other_authority",
            RejectionReason::TokenOtherPeer => "token_other_peer",
            RejectionReason::TokenExpired => "token_expired",
            RejectionReason::TokenRevoked => "token_revoked",
            RejectionReason::TokenRole => "token_role",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for RejectionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Rejections counted by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RejectionCounts {
    counts: [u64; RejectionReason::ALL.len()],
}

impl RejectionCounts {
    /// Counts one rejection.
    pub fn record(&mut self, reason: RejectionReason) {
        let slot = &mut self.counts[reason.index()];
        *slot = slot.saturating_add(1);
    }

    /// Rejections counted for `reason`.
    pub fn get(&self, reason: RejectionReason) -> u64 {
        self.counts[reason.index()]
    }

    /// All rejections.
    pub fn total(&self) -> u64 {
        self.counts.iter().fold(0, |a, b| a.saturating_add(*b))
    }

    /// Adds another set of counts into this one.
    pub fn add(&mut self, other: &RejectionCounts) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts) {
            *mine = mine.saturating_add(theirs);
        }
    }

    /// The non-zero counts, by reason.
    pub fn iter(&self) -> impl Iterator<Item = (RejectionReason, u64)> + '_ {
        RejectionReason::ALL
            .into_iter()
            .map(|r| (r, self.get(r)))
            .filter(|(_, n)| *n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_reason() {
        let mut counts = RejectionCounts::default();
        counts.record(RejectionReason::BadSignature);
        counts.record(RejectionReason::BadSignature);
        counts.record(RejectionReason::Expired);
        assert_eq!(counts.get(RejectionReason::BadSignature), 2);
        assert_eq!(counts.get(RejectionReason::Schema), 0);
        assert_eq!(counts.total(), 3);
        let mut more = RejectionCounts::default();
        more.add(&counts);
        more.record(RejectionReason::Stale);
        assert_eq!(more.total(), 4);
        let listed: Vec<_> = more.iter().map(|(r, n)| (r.as_str(), n)).collect();
        assert_eq!(listed, [("expired", 1), ("bad_signature", 2), ("stale", 1)]);
    }

    #[test]
    fn labels_are_unique_and_indices_match_all() {
        for (i, reason) in RejectionReason::ALL.into_iter().enumerate() {
            assert_eq!(reason.index(), i);
        }
        let mut labels: Vec<_> = RejectionReason::ALL.iter().map(|r| r.as_str()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), RejectionReason::ALL.len());
    }
}
