//! Fuzz target: one entry's bytes through decoding and validation.
//!
//! Invariants: nothing panics; an entry that decodes has a finite expiration and a value that
//! passes the `LocalProgress` schema; decoding is canonical (re-encoding gives the input back);
//! validation returns a reason instead of failing.

#![no_main]

use libfuzzer_sys::fuzz_target;
use swarm_progress_core::records::{RecordLimits, SignedEntry};

const KEY: &str = "fuzz_progress";
const NOW: f64 = 1_700_000_000.0;

fuzz_target!(|data: &[u8]| {
    if let Ok((subkey, entry)) = SignedEntry::decode(data) {
        assert!(entry.expiration().is_finite());
        if let Some(value) = entry.value() {
            assert!(value.check().is_ok(), "{value:?}");
        }
        assert_eq!(entry.encode(&subkey), data, "decoding is not canonical");
        let _ = entry.validate(KEY, &subkey, NOW, &RecordLimits::default());
    }
});
