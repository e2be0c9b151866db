//! Property tests of the record format: merge laws, sign/verify round trips, tamper detection,
//! and decoding of arbitrary bytes.

use std::sync::OnceLock;

use proptest::prelude::*;

use super::*;
use crate::identity::{Identity, PeerKey};
use crate::progress::LocalProgress;

const KEY: &str = "prop_progress";
const NOW: f64 = 10_000.0;

fn identities() -> &'static [Identity] {
    static IDS: OnceLock<Vec<Identity>> = OnceLock::new();
    IDS.get_or_init(|| (0..5).map(|_| Identity::generate().unwrap()).collect())
}

/// A signed entry from one of a few identities; expirations include expired ones and ties.
fn arb_entry() -> impl Strategy<Value = (PeerKey, SignedEntry)> {
    (
        0..identities().len(),
        0u64..3,
        0u64..200,
        prop::sample::select(vec![-5.0, 0.0, 10.0, 20.0, 20.0, 30.5]),
        any::<bool>(),
    )
        .prop_map(|(who, epoch, samples, ahead, tombstone)| {
            let id = &identities()[who];
            let value = LocalProgress {
                peer_id: id.peer_id(),
                epoch,
                samples_accumulated: samples,
                samples_per_second: samples as f64 / 7.0,
                time: NOW - 1.0,
                client_mode: false,
            };
            let entry =
                SignedEntry::sign(id, KEY, (!tombstone).then_some(&value), NOW + ahead).unwrap();
            (id.public_key(), entry)
        })
}

fn arb_record() -> impl Strategy<Value = ProgressRecord> {
    prop::collection::vec(arb_entry(), 0..8).prop_map(|entries| {
        let mut record = ProgressRecord::new();
        for (k, e) in entries {
            record.insert(k, e, NOW);
        }
        record
    })
}

fn merged(a: &ProgressRecord, b: &ProgressRecord, max_entries: usize) -> ProgressRecord {
    let mut out = a.clone();
    out.merge(b, NOW);
    out.truncate(max_entries);
    out
}

fn arb_progress() -> impl Strategy<Value = LocalProgress> {
    (
        any::<u64>(),
        any::<u64>(),
        0.0f64..1e12,
        0.0f64..4e9,
        any::<bool>(),
    )
        .prop_map(|(epoch, samples, speed, time, client_mode)| LocalProgress {
            peer_id: String::new(),
            epoch,
            samples_accumulated: samples,
            samples_per_second: speed,
            time,
            client_mode,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn merge_is_commutative(a in arb_record(), b in arb_record(), max in 1usize..6) {
        prop_assert_eq!(merged(&a, &b, max), merged(&b, &a, max));
        prop_assert_eq!(merged(&a, &b, usize::MAX), merged(&b, &a, usize::MAX));
    }

    /// Below the limit merging is a CRDT join. (Over it, which subkeys are dropped depends on
    /// what was held first, by design: see record.rs, "Per-key limit".)
    #[test]
    fn merge_is_associative(a in arb_record(), b in arb_record(), c in arb_record()) {
        let limit = usize::MAX;
        let left = merged(&merged(&a, &b, limit), &c, limit);
        let right = merged(&a, &merged(&b, &c, limit), limit);
        prop_assert_eq!(left, right);
    }

    /// Whatever is merged in, a bounded merge never drops or downgrades an entry it held, and
    /// never holds more than the limit (unless it already did).
    #[test]
    fn bounded_merge_never_evicts_incumbents(
        held in arb_record(), incoming in arb_record(), max in 1usize..6
    ) {
        let mut held = held;
        held.truncate(max);
        let mut after = held.clone();
        let refused = after.merge_bounded(&incoming, NOW, max);
        prop_assert!(after.len() <= max);
        for (k, e) in held.iter() {
            let kept = after.get(k);
            prop_assert!(kept.is_some(), "incumbent evicted");
            prop_assert!(kept.unwrap().recency_cmp(e).is_ge());
        }
        // Every incoming live subkey is either held now or counted as refused.
        let missing = incoming.iter().filter(|(k, e)| e.is_live(NOW) && after.get(k).is_none()).count();
        prop_assert_eq!(missing, refused);
    }

    #[test]
    fn merge_is_idempotent(a in arb_record(), b in arb_record()) {
        let once = merged(&a, &b, usize::MAX);
        prop_assert_eq!(merged(&once, &once, usize::MAX), once.clone());
        prop_assert_eq!(merged(&once, &b, usize::MAX), once);
    }

    #[test]
    fn sign_then_verify_round_trips(
        who in 0..5usize, progress in arb_progress(), tombstone in any::<bool>(), ahead in 0.001f64..600.0
    ) {
        let id = &identities()[who];
        let value = LocalProgress { peer_id: id.peer_id(), ..progress };
        let entry = SignedEntry::sign(id, KEY, (!tombstone).then_some(&value), NOW + ahead).unwrap();
        let bytes = entry.encode(&id.public_key());
        let (subkey, decoded) = SignedEntry::decode(&bytes).unwrap();
        prop_assert_eq!(subkey, id.public_key());
        prop_assert_eq!(&decoded, &entry);
        prop_assert_eq!(decoded.validate(KEY, &subkey, NOW, &RecordLimits::default()), Ok(()));
        if !tombstone {
            // Bit-exact floats through JSON.
            let back = decoded.value().unwrap();
            prop_assert_eq!(back.samples_per_second.to_bits(), value.samples_per_second.to_bits());
            prop_assert_eq!(back.time.to_bits(), value.time.to_bits());
        }
    }
}

/// The decoders on hostile input: the same entry and record decoding + validation that the
/// `fuzz/` targets drive, with enough cases to matter in every CI run (the cheap properties
/// take a few seconds in a debug build).
const DECODE_CASES: u32 = 4_000;

#[test]
fn some_schema_fuzzed_entries_decode() {
    // A well-formed object with every field valid: decodes, so the property above is not vacuous.
    let json = br#"{"peer_id":"12D3KooWxyz","epoch":7,"samples_accumulated":0,"samples_per_second":3.5,"time":7,"client_mode":false}"#;
    let mut bytes = vec![1u8];
    bytes.extend_from_slice(identities()[0].public_key().as_bytes());
    bytes.push(1);
    crate::records::wire::put_prefixed(&mut bytes, json);
    bytes.extend_from_slice(&NOW.to_bits().to_be_bytes());
    bytes.extend_from_slice(&[0u8; 64]);
    assert!(SignedEntry::decode(&bytes).is_ok());
}

/// Entry bytes behind a valid version byte and subkey: JSON-ish values made of the tokens that
/// break schemas (NaN, huge exponents, negative numbers, unknown fields, wrong types).
fn arb_json_value() -> impl Strategy<Value = Vec<u8>> {
    let token = prop::sample::select(vec![
        "{",
        "}",
        "\"peer_id\":",
        "\"epoch\":",
        "\"samples_accumulated\":",
        "\"samples_per_second\":",
        "\"time\":",
        "\"client_mode\":",
        "\"extra\":",
        ",",
        "NaN",
        "1e999",
        "-1",
        "-0.0",
        "0",
        "18446744073709551616",
        "3.5",
        "true",
        "null",
        "\"12D3KooW\"",
        "\"\"",
        "[]",
    ]);
    let soup = prop::collection::vec(token, 0..24).prop_map(|t| t.concat().into_bytes());
    // Well-formed objects whose fields take good and bad values, so some decode.
    let number = || {
        prop::sample::select(vec![
            // Valid for every field, weighted up so about one object in ten decodes.
            "0",
            "7",
            "42",
            "0",
            "7",
            "42",
            "0",
            "7",
            "42",
            "0",
            "7",
            "42",
            "3.5",
            "1e300",
            "-1",
            "-0.0",
            "NaN",
            "1e999",
            "\"5\"",
            "null",
            "18446744073709551615",
            "18446744073709551616",
        ])
    };
    let object = (
        prop::sample::select(vec![
            "\"12D3KooWxyz\"",
            "\"12D3KooWxyz\"",
            "\"12D3KooWxyz\"",
            "\"\"",
            "\"0OIl\"",
            "5",
        ]),
        number(),
        number(),
        number(),
        number(),
        prop::sample::select(vec!["true", "false", "0"]),
        any::<bool>(),
    )
        .prop_map(|(peer, epoch, samples, speed, time, client, extra)| {
            format!(
                "{{\"peer_id\":{peer},\"epoch\":{epoch},\"samples_accumulated\":{samples},\
                 \"samples_per_second\":{speed},\"time\":{time},\"client_mode\":{client}{}}}",
                if extra { ",\"x\":1" } else { "" }
            )
            .into_bytes()
        });
    prop_oneof![soup, object]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: DECODE_CASES, ..ProptestConfig::default() })]

    #[test]
    fn flipping_any_byte_breaks_decoding_or_verification(
        (subkey, entry) in arb_entry(), index in any::<prop::sample::Index>(), flip in 1u8..=255
    ) {
        let mut bytes = entry.encode(&subkey);
        let i = index.index(bytes.len());
        bytes[i] ^= flip;
        if let Ok((k, e)) = SignedEntry::decode(&bytes) {
            prop_assert!(!e.verify(KEY, &k), "byte {} flipped by {:#04x} still verifies", i, flip);
        }
    }

    #[test]
    fn schema_breaking_values_never_decode_into_an_entry(
        json in arb_json_value(), kind in 0u8..3, expiration in any::<u64>()
    ) {
        let mut bytes = vec![1u8];
        bytes.extend_from_slice(identities()[0].public_key().as_bytes());
        bytes.push(kind);
        crate::records::wire::put_prefixed(&mut bytes, &json);
        bytes.extend_from_slice(&expiration.to_be_bytes());
        bytes.extend_from_slice(&[0u8; 64]);
        if let Ok((subkey, entry)) = SignedEntry::decode(&bytes) {
            prop_assert!(entry.expiration().is_finite());
            // Decoding is canonical, as the `entry` fuzz target checks.
            prop_assert_eq!(entry.encode(&subkey), bytes.clone());
            if let Some(v) = entry.value() {
                prop_assert!(v.check().is_ok(), "{:?}", v);
            }
            // A zero signature never verifies.
            prop_assert!(entry.validate(KEY, &identities()[0].public_key(), NOW, &RecordLimits::default()).is_err());
        }
    }

    #[test]
    fn decoding_random_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = SignedEntry::decode(&bytes);
        let _ = ProgressRecord::decode(KEY, &bytes, NOW, &RecordLimits::default());
        // Also behind a valid header, so the framing code is exercised past the magic.
        let mut framed = b"SPRG\x01".to_vec();
        framed.extend_from_slice(&bytes);
        let _ = ProgressRecord::decode(KEY, &framed, NOW, &RecordLimits::default());
    }

    #[test]
    fn mutated_records_never_panic_and_keep_only_valid_entries(
        record in arb_record(), edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)
    ) {
        let mut bytes = record.encode();
        for (index, byte) in edits {
            let i = index.index(bytes.len());
            bytes[i] = byte;
        }
        if let Ok(validated) = ProgressRecord::decode(KEY, &bytes, NOW, &RecordLimits::default()) {
            for (k, e) in validated.record.iter() {
                prop_assert!(e.verify(KEY, k));
                prop_assert!(e.is_live(NOW));
            }
        }
    }
}
