//! Fuzz target: a whole record's bytes through decoding and validation (framing, per-entry
//! decoding, signatures, limits, merge, counting).
//!
//! Invariants: nothing panics; what survives is within the limits, alive and correctly signed;
//! re-encoding the survivors and decoding again keeps exactly them, with no rejection.

#![no_main]

use libfuzzer_sys::fuzz_target;
use swarm_progress_core::records::{ProgressRecord, RecordLimits};

const KEY: &str = "fuzz_progress";
const NOW: f64 = 1_700_000_000.0;

fuzz_target!(|data: &[u8]| {
    let limits = RecordLimits {
        max_entries: 64,
        ..RecordLimits::default()
    };
    let Ok(validated) = ProgressRecord::decode(KEY, data, NOW, &limits) else {
        return;
    };
    let record = validated.record;
    assert!(record.len() <= limits.max_entries);
    for (subkey, entry) in record.iter() {
        assert!(entry.is_live(NOW));
        assert!(entry.verify(KEY, subkey));
    }
    let again = ProgressRecord::decode(KEY, &record.encode(), NOW, &limits)
        .expect("a validated record re-encodes into a valid record");
    assert_eq!(again.record, record);
    assert_eq!(again.rejections.total(), 0);
});
