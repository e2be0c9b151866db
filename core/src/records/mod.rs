//! Signed progress records (PROTOCOL.md §3-4): the [`SignedEntry`] one peer publishes under its
//! subkey, the [`ProgressRecord`] dictionary that stores and readers merge, their wire formats,
//! the limits every store enforces, and rejection counting.

mod admission;
mod entry;
pub mod gossip;
mod record;
mod rejection;
mod wire;

#[cfg(test)]
mod hostile;
#[cfg(test)]
mod proptests;

pub use admission::Admission;
pub use entry::{
    EntryDecodeError, SignError, SignedEntry, ValueEncoding, COMPACT_ENTRY_LEN, COMPACT_VALUE_LEN,
};
pub use gossip::{message_id, GossipGate, GossipVerdict};
pub use record::{InsertOutcome, ProgressRecord, RecordDecodeError, Validated};
pub use rejection::{RejectionCounts, RejectionReason};
pub use wire::WireError;

/// Explicit bounds on what a store accepts under one key.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecordLimits {
    /// Most entries (subkeys) one record holds; beyond it new subkeys are refused (see
    /// [`ProgressRecord`]'s "Per-key limit").
    pub max_entries: usize,
    /// Largest encoded entry, in bytes.
    pub max_entry_bytes: usize,
    /// How far beyond `now` an expiration may lie, in seconds.
    pub max_expiration_ahead: f64,
}

impl Default for RecordLimits {
    /// 4,096 entries of at most 1 KiB (an entry is 139 bytes, ~290 in the JSON form), expirations at most
    /// 10 minutes ahead (ten times the default `metadata_expiration`).
    fn default() -> Self {
        Self {
            max_entries: 4096,
            max_entry_bytes: 1024,
            max_expiration_ahead: 600.0,
        }
    }
}

impl RecordLimits {
    /// The largest encoded record these limits allow.
    pub fn max_record_bytes(&self) -> usize {
        9usize.saturating_add(
            self.max_entries
                .saturating_mul(self.max_entry_bytes.saturating_add(4)),
        )
    }
}
