//! The hostile-content checklist of issue 7, at the unit level: every kind of forged, replayed,
//! malformed or oversized entry a peer can put on the wire, in one record next to honest
//! entries, is dropped and counted under its own [`RejectionReason`] while the honest entries
//! come through unchanged. (The same attacks over real libp2p nodes: `tests/it/kademlia.rs`.)

use super::*;
use crate::identity::{Identity, PeerKey};
use crate::progress::LocalProgress;
use crate::records::wire::put_prefixed;

const KEY: &str = "hostile_progress";
const NOW: f64 = 50_000.0;

fn progress(id: &Identity, samples: u64) -> LocalProgress {
    LocalProgress {
        peer_id: id.peer_id(),
        epoch: 4,
        samples_accumulated: samples,
        samples_per_second: 3.0,
        time: NOW,
        client_mode: false,
    }
}

/// Signed by `id`: in the compact form when the value is `id`'s own, else in the JSON form (the
/// only one that can name another peer).
fn signed(id: &Identity, value: Option<&LocalProgress>, expiration: f64) -> SignedEntry {
    let own = value.is_none_or(|v| v.peer_id == id.peer_id());
    let encoding = if own {
        ValueEncoding::Compact
    } else {
        ValueEncoding::Json
    };
    SignedEntry::sign_as(id, KEY, value, expiration, encoding).unwrap()
}

/// The wire form of an entry with an arbitrary JSON value and signature.
fn raw_entry(subkey: &PeerKey, json: &[u8], expiration_bits: u64, signature: [u8; 64]) -> Vec<u8> {
    let mut out = vec![1u8];
    out.extend_from_slice(subkey.as_bytes());
    out.push(1);
    put_prefixed(&mut out, json);
    out.extend_from_slice(&expiration_bits.to_be_bytes());
    out.extend_from_slice(&signature);
    out
}

/// A record of already-encoded entries, in this order (duplicates allowed, as an attacker may).
fn raw_record(entries: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"SPRG\x01".to_vec();
    out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
    for e in entries {
        put_prefixed(&mut out, e);
    }
    out
}

fn json_with(id: &Identity, field: &str, value: &str) -> Vec<u8> {
    let mut v = serde_json::to_value(progress(id, 5)).unwrap();
    if let Some(obj) = v.as_object_mut() {
        obj.remove(field);
    }
    let without = v.to_string();
    // Re-insert the field as raw text (NaN / 1e999 are not JSON values serde would write).
    format!("{},\"{field}\":{value}}}", &without[..without.len() - 1]).into_bytes()
}

#[test]
fn every_hostile_entry_is_rejected_by_reason_and_honest_entries_survive() {
    let limits = RecordLimits::default();
    let (a, b, mallory) = (
        Identity::generate().unwrap(),
        Identity::generate().unwrap(),
        Identity::generate().unwrap(),
    );
    let (ka, kb, km) = (a.public_key(), b.public_key(), mallory.public_key());
    let honest_a = signed(&a, Some(&progress(&a, 100)), NOW + 60.0);
    let honest_b = signed(&b, Some(&progress(&b, 200)), NOW + 60.0);
    let older_a = signed(&a, Some(&progress(&a, 1)), NOW + 30.0);
    let good_json = serde_json::to_vec(&progress(&mallory, 5)).unwrap();
    let exp = (NOW + 60.0).to_bits();

    let mut oversized_json = serde_json::to_vec(&progress(&mallory, 5)).unwrap();
    oversized_json.splice(1..1, std::iter::repeat_n(b' ', 2 * limits.max_entry_bytes));

    let attacks: Vec<(&str, Vec<u8>, RejectionReason)> = vec![
        (
            "forged signature (random bytes) on a's value",
            raw_entry(
                &ka,
                &serde_json::to_vec(&progress(&a, 9_999)).unwrap(),
                exp,
                [9u8; 64],
            ),
            RejectionReason::BadSignature,
        ),
        (
            "subkey is not the signer: mallory signs under a's subkey",
            signed(&mallory, Some(&progress(&a, 9_999)), NOW + 90.0).encode(&ka),
            RejectionReason::BadSignature,
        ),
        (
            "tombstone forged for b",
            signed(&mallory, None, NOW + 90.0).encode(&kb),
            RejectionReason::BadSignature,
        ),
        (
            "mallory's own entry naming a's peer id",
            signed(&mallory, Some(&progress(&a, 9_999)), NOW + 60.0).encode(&km),
            RejectionReason::PeerIdMismatch,
        ),
        (
            "replay of a's older entry (after the newer one)",
            older_a.encode(&ka),
            RejectionReason::Stale,
        ),
        (
            "far-future expiration",
            signed(&mallory, Some(&progress(&mallory, 5)), NOW + 1e6).encode(&km),
            RejectionReason::ExpirationTooFar,
        ),
        (
            "already expired",
            signed(&mallory, Some(&progress(&mallory, 5)), NOW - 1.0).encode(&km),
            RejectionReason::Expired,
        ),
        (
            "NaN expiration",
            raw_entry(&km, &good_json, f64::NAN.to_bits(), [0; 64]),
            RejectionReason::Malformed,
        ),
        (
            "infinite expiration",
            raw_entry(&km, &good_json, f64::INFINITY.to_bits(), [0; 64]),
            RejectionReason::Malformed,
        ),
        (
            "NaN speed",
            raw_entry(
                &km,
                &json_with(&mallory, "samples_per_second", "NaN"),
                exp,
                [0; 64],
            ),
            RejectionReason::Schema,
        ),
        (
            "infinite speed (1e999)",
            raw_entry(
                &km,
                &json_with(&mallory, "samples_per_second", "1e999"),
                exp,
                [0; 64],
            ),
            RejectionReason::Schema,
        ),
        (
            "negative speed",
            raw_entry(
                &km,
                &json_with(&mallory, "samples_per_second", "-1.5"),
                exp,
                [0; 64],
            ),
            RejectionReason::Schema,
        ),
        (
            "negative samples",
            raw_entry(
                &km,
                &json_with(&mallory, "samples_accumulated", "-5"),
                exp,
                [0; 64],
            ),
            RejectionReason::Schema,
        ),
        (
            "negative time",
            raw_entry(&km, &json_with(&mallory, "time", "-1.0"), exp, [0; 64]),
            RejectionReason::Schema,
        ),
        (
            "epoch as a string",
            raw_entry(&km, &json_with(&mallory, "epoch", "\"4\""), exp, [0; 64]),
            RejectionReason::Schema,
        ),
        (
            "unknown field",
            raw_entry(&km, &json_with(&mallory, "admin", "true"), exp, [0; 64]),
            RejectionReason::Schema,
        ),
        (
            "oversized entry",
            raw_entry(&km, &oversized_json, exp, [0; 64]),
            RejectionReason::Oversized,
        ),
        (
            "truncated entry",
            signed(&mallory, None, NOW + 60.0).encode(&km)[..50].to_vec(),
            RejectionReason::Malformed,
        ),
        (
            "unknown entry kind",
            {
                let mut e = signed(&mallory, None, NOW + 60.0).encode(&km);
                e[33] = 9;
                e
            },
            RejectionReason::Malformed,
        ),
    ];

    // Each attack alone, after the honest entries, and all of them together.
    let honest = [honest_a.encode(&ka), honest_b.encode(&kb)];
    let mut expected = RejectionCounts::default();
    let mut all = honest.to_vec();
    for (what, bytes, reason) in &attacks {
        let mut entries = honest.to_vec();
        entries.push(bytes.clone());
        let got = ProgressRecord::decode(KEY, &raw_record(&entries), NOW, &limits).unwrap();
        assert_eq!(got.rejections.total(), 1, "{what}: {:?}", got.rejections);
        assert_eq!(
            got.rejections.get(*reason),
            1,
            "{what}: {:?}",
            got.rejections
        );
        assert_eq!(got.record.len(), 2, "{what}");
        assert_eq!(got.record.get(&ka), Some(&honest_a), "{what}");
        assert_eq!(got.record.get(&kb), Some(&honest_b), "{what}");
        expected.record(*reason);
        all.push(bytes.clone());
    }
    let got = ProgressRecord::decode(KEY, &raw_record(&all), NOW, &limits).unwrap();
    assert_eq!(got.rejections, expected);
    assert_eq!(got.record.len(), 2);
    // 19 attacks over 8 reasons.
    assert_eq!(expected.total(), attacks.len() as u64);
    assert_eq!(expected.iter().count(), 8);
}

#[test]
fn the_same_attacks_through_accept_are_refused_one_by_one() {
    // What a store does with single puts: a replay and a forged tombstone after the real entry.
    let limits = RecordLimits::default();
    let (a, mallory) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let ka = a.public_key();
    let mut record = ProgressRecord::new();
    let real = signed(&a, Some(&progress(&a, 100)), NOW + 60.0);
    record.accept(KEY, ka, real.clone(), NOW, &limits).unwrap();
    let older = signed(&a, Some(&progress(&a, 1)), NOW + 30.0);
    assert_eq!(
        record.accept(KEY, ka, older, NOW, &limits),
        Err(RejectionReason::Stale)
    );
    // An exact replay of the entry held is stale too.
    assert_eq!(
        record.accept(KEY, ka, real.clone(), NOW, &limits),
        Err(RejectionReason::Stale)
    );
    let forged = signed(&mallory, None, NOW + 90.0);
    assert_eq!(
        record.accept(KEY, ka, forged, NOW, &limits),
        Err(RejectionReason::BadSignature)
    );
    assert_eq!(record.get(&ka), Some(&real));
}
