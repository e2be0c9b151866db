//! [`PeerClocks`]: how far each other peer's clock is from this peer's, as far as this peer can
//! tell from when their entries reach it (PROTOCOL.md §6.1). Two uses:
//!
//! - **Extrapolation** (the estimator): an entry's `time` is the publisher's clock. Read with the
//!   reader's clock, a publisher 5 s behind looks 5 s older than it is and is extrapolated 5 s
//!   too far, so the swarm steps early; one ahead is not extrapolated at all and stalls it. Each
//!   entry is instead anchored at `time + offset`, where the publisher's `offset` is the
//!   smallest `first_seen - time` over its last [`CLOCK_SAMPLES`] entry versions (`first_seen`:
//!   this peer's clock when it first held that version). Since no entry is seen before it is
//!   made, `time + offset` is never earlier than the true moment of publication, whatever the
//!   publisher's clock says: the anchor errs late by the smallest delay observed (milliseconds
//!   over gossip, part of a read period over DHT reads), never early.
//! - **Expirations this peer signs**: [`PeerClocks::swarm_offset`], the median of the others'
//!   offsets, says how far this peer's clock is from the swarm's typical one.
//!   [`signing_expiration`] signs `now - swarm_offset + metadata_expiration`, so a peer whose
//!   clock is minutes behind still signs expirations the others see as live.
//!
//! Offsets are clamped to ±[`MAX_CLOCK_OFFSET`]. A publisher not seen for [`FORGET_AFTER`]
//! seconds is forgotten. This is pure bookkeeping: the StateKeeper observes every entry it
//! receives (push or read) before it re-estimates.

use std::collections::HashMap;

use crate::progress::LocalProgress;

/// How many of a publisher's latest entry versions its offset is the minimum of. Few enough
/// that a publisher's clock being stepped backwards is forgotten after that many versions.
pub const CLOCK_SAMPLES: usize = 8;

/// Offsets smaller than this (seconds, either way) are not corrected: the entry is anchored at
/// its own `time`, as in hivemind. A measured offset is the clock difference *plus* the
/// smallest delivery delay seen, and on a busy machine or through DHT reads that delay alone
/// is tenths of a second: corrected, it made the ETA late by as much (at N = 64 processes on 2
/// cores, v2's detection lag went from 0.01 to 0.17 s at the median). A clock within this of
/// ours costs at most this many seconds of one peer's progress, as in hivemind.
pub const CLOCK_TOLERANCE: f64 = 2.0;

/// The largest clock offset (seconds) this peer assumes or corrects for, either way. Equal to
/// the default `max_expiration_ahead`: a peer further ahead has its entries refused anyway.
pub const MAX_CLOCK_OFFSET: f64 = 600.0;

/// When [`PeerClocks::swarm_offset`] moves by more than this (seconds), a tracker signs its
/// entry again at once instead of at its next publication: a peer that learns its clock is
/// minutes off must not wait out a republish period before the others can count it.
pub const RESIGN_STEP: f64 = 1.0;

/// A publisher not observed for this long (seconds) is forgotten.
pub const FORGET_AFTER: f64 = 600.0;

/// One publisher's clock, as seen from here.
#[derive(Debug, Clone, PartialEq)]
struct PeerClock {
    /// `time` of the latest entry version seen (a new version is a different `time`).
    version_time: f64,
    /// When any of its entries was last observed (this peer's clock).
    observed_at: f64,
    /// `first_seen - time` of its latest versions (a ring).
    samples: [f64; CLOCK_SAMPLES],
    len: usize,
    next: usize,
    /// Minimum of `samples`, clamped.
    offset: f64,
}

impl PeerClock {
    fn new(progress: &LocalProgress, now: f64) -> Self {
        let mut clock = Self {
            version_time: progress.time,
            observed_at: now,
            samples: [0.0; CLOCK_SAMPLES],
            len: 0,
            next: 0,
            offset: 0.0,
        };
        clock.push(now - progress.time);
        clock
    }

    fn push(&mut self, sample: f64) {
        self.samples[self.next] = sample.clamp(-MAX_CLOCK_OFFSET, MAX_CLOCK_OFFSET);
        self.next = (self.next + 1) % CLOCK_SAMPLES;
        self.len = (self.len + 1).min(CLOCK_SAMPLES);
        self.offset = self.samples[..self.len]
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min);
    }
}

/// Clock offsets of the other peers, keyed by peer id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PeerClocks {
    /// This peer's id: its own entry (in a v1 read) is on its own clock and is not observed.
    own: String,
    peers: HashMap<String, PeerClock>,
}

impl PeerClocks {
    /// No publisher known: every entry is anchored at its own `time` (hivemind's arithmetic).
    pub fn new() -> Self {
        Self::default()
    }

    /// [`PeerClocks::new`] for the peer `own`, whose own entries are never observed.
    pub fn for_peer(own: &str) -> Self {
        Self {
            own: own.to_owned(),
            peers: HashMap::new(),
        }
    }

    /// Notes that `progress` is held at `now`; returns whether it is a version not seen before
    /// (whose `now - time` became a sample). This peer's own entry is not observed.
    pub fn observe(&mut self, progress: &LocalProgress, now: f64) -> bool {
        if !(now.is_finite() && progress.time.is_finite()) || progress.peer_id == self.own {
            return false;
        }
        match self.peers.get_mut(&progress.peer_id) {
            None => {
                self.peers
                    .insert(progress.peer_id.clone(), PeerClock::new(progress, now));
                true
            }
            Some(clock) => {
                clock.observed_at = clock.observed_at.max(now);
                if clock.version_time.to_bits() == progress.time.to_bits() {
                    return false;
                }
                clock.version_time = progress.time;
                clock.push(now - progress.time);
                true
            }
        }
    }

    /// [`PeerClocks::observe`] for every live value (tombstones carry no time), then forgets
    /// publishers not observed for [`FORGET_AFTER`] seconds.
    pub fn observe_all<'a>(
        &mut self,
        values: impl IntoIterator<Item = Option<&'a LocalProgress>>,
        now: f64,
    ) {
        for progress in values.into_iter().flatten() {
            self.observe(progress, now);
        }
        self.peers
            .retain(|_, clock| now - clock.observed_at <= FORGET_AFTER);
    }

    /// The publisher's estimated offset (`this clock - its clock`, plus the smallest delay
    /// observed), if any of its entries was observed.
    pub fn offset(&self, peer_id: &str) -> Option<f64> {
        self.peers.get(peer_id).map(|clock| clock.offset)
    }

    /// The time, on this peer's clock, from which `progress` is extrapolated: `time + offset`,
    /// or its own `time` for a publisher never observed or within [`CLOCK_TOLERANCE`].
    pub fn anchor(&self, progress: &LocalProgress) -> f64 {
        progress.time + beyond_tolerance(self.offset(&progress.peer_id).unwrap_or(0.0))
    }

    /// The median of the known publishers' offsets (0 with none, or within
    /// [`CLOCK_TOLERANCE`]): how far this peer's clock is ahead of the swarm's typical clock,
    /// plus a typical delay.
    pub fn swarm_offset(&self) -> f64 {
        let mut offsets: Vec<f64> = self.peers.values().map(|clock| clock.offset).collect();
        if offsets.is_empty() {
            return 0.0;
        }
        offsets.sort_by(f64::total_cmp);
        let n = offsets.len();
        let median = if n % 2 == 1 {
            offsets[n / 2]
        } else {
            (offsets[n / 2 - 1] + offsets[n / 2]) / 2.0
        };
        beyond_tolerance(median)
    }

    /// How many publishers are known.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether no publisher is known.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }
}

/// `offset` if it is at least [`CLOCK_TOLERANCE`] either way, else 0.
fn beyond_tolerance(offset: f64) -> f64 {
    if offset.abs() >= CLOCK_TOLERANCE {
        offset
    } else {
        0.0
    }
}

/// The expiration to sign at `now` (this peer's clock): `now - swarm_offset + lifetime`, with
/// the offset clamped to ±[`MAX_CLOCK_OFFSET`], and never below `last_signed` (an entry's
/// successor must win the merge, PROTOCOL.md §4.2, and a tombstone must win over every entry
/// signed before it).
pub fn signing_expiration(now: f64, swarm_offset: f64, lifetime: f64, last_signed: f64) -> f64 {
    let offset = if swarm_offset.is_finite() {
        swarm_offset.clamp(-MAX_CLOCK_OFFSET, MAX_CLOCK_OFFSET)
    } else {
        0.0
    };
    let expiration = now - offset + lifetime;
    if expiration > last_signed {
        expiration
    } else {
        // The smallest step above: the successor ranks after the previous entry.
        next_up(last_signed)
    }
}

/// The next representable `f64` above a finite `x`.
fn next_up(x: f64) -> f64 {
    if x == 0.0 {
        return f64::from_bits(1);
    }
    let bits = x.to_bits();
    if x > 0.0 {
        f64::from_bits(bits + 1)
    } else {
        f64::from_bits(bits - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(peer: &str, time: f64) -> LocalProgress {
        LocalProgress {
            peer_id: peer.into(),
            epoch: 0,
            samples_accumulated: 0,
            samples_per_second: 1.0,
            time,
            client_mode: false,
        }
    }

    #[test]
    fn an_unknown_publisher_is_anchored_at_its_own_time() {
        let clocks = PeerClocks::new();
        assert_eq!(clocks.anchor(&at("a", 123.0)), 123.0);
        assert_eq!(clocks.swarm_offset(), 0.0);
    }

    #[test]
    fn the_offset_is_the_smallest_delay_plus_skew_over_recent_versions() {
        let mut clocks = PeerClocks::new();
        // "a" runs 5 s behind; its entries arrive 0.3, 0.05 and 1.0 s after they are made.
        let skew = -5.0;
        for (made, delay) in [(100.0, 0.3), (101.0, 0.05), (102.0, 1.0)] {
            assert!(clocks.observe(&at("a", made + skew), made + delay));
        }
        let offset = clocks.offset("a").unwrap();
        assert!((offset - 5.05).abs() < 1e-9, "{offset}");
        // The same version seen again is not a new sample.
        assert!(!clocks.observe(&at("a", 102.0 + skew), 110.0));
        // Anchored at its true making time plus the smallest delay: never before it was made.
        let anchor = clocks.anchor(&at("a", 103.0 + skew));
        assert!((anchor - 103.05).abs() < 1e-9, "{anchor}");
    }

    #[test]
    fn offsets_within_the_tolerance_are_not_corrected() {
        let mut clocks = PeerClocks::new();
        // On time, but every entry arrives 0.3 s after it was made (a busy machine, a read
        // period): anchored at its own time, as in hivemind.
        clocks.observe(&at("a", 100.0), 100.3);
        assert!((clocks.offset("a").unwrap() - 0.3).abs() < 1e-9);
        assert_eq!(clocks.anchor(&at("a", 101.0)), 101.0);
        // 1.9 s behind: still within; 2 s behind: corrected.
        clocks.observe(&at("b", 98.1), 100.0);
        assert_eq!(clocks.anchor(&at("b", 99.0)), 99.0);
        clocks.observe(&at("c", 98.0), 100.0);
        assert_eq!(clocks.anchor(&at("c", 99.0)), 101.0);
        // The median offset (1.9) is within too: expirations are signed on this clock.
        assert_eq!(clocks.swarm_offset(), 0.0);
    }

    #[test]
    fn a_clock_stepped_back_is_forgotten_after_clock_samples_versions() {
        let mut clocks = PeerClocks::new();
        let mut t = 0.0;
        for _ in 0..CLOCK_SAMPLES {
            t += 1.0;
            clocks.observe(&at("a", t), t);
        }
        assert_eq!(clocks.offset("a"), Some(0.0));
        // Its clock goes 10 s back: the old samples still say 0 until they leave the ring.
        for i in 0..CLOCK_SAMPLES {
            t += 1.0;
            clocks.observe(&at("a", t - 10.0), t);
            let expected = if i + 1 < CLOCK_SAMPLES { 0.0 } else { 10.0 };
            assert_eq!(
                clocks.offset("a"),
                Some(expected),
                "after {} versions",
                i + 1
            );
        }
    }

    #[test]
    fn offsets_are_clamped_and_non_finite_times_ignored() {
        let mut clocks = PeerClocks::new();
        clocks.observe(&at("future", 1e12), 0.0);
        clocks.observe(&at("past", 0.0), 1e12);
        assert_eq!(clocks.offset("future"), Some(-MAX_CLOCK_OFFSET));
        assert_eq!(clocks.offset("past"), Some(MAX_CLOCK_OFFSET));
        assert!(!clocks.observe(&at("nan", 0.0), f64::NAN));
        assert_eq!(clocks.len(), 2);
        let mut mine = PeerClocks::for_peer("me");
        assert!(!mine.observe(&at("me", 0.0), 5.0));
        assert!(mine.is_empty());
    }

    #[test]
    fn the_swarm_offset_is_the_median_and_silent_publishers_are_forgotten() {
        let mut clocks = PeerClocks::new();
        // This peer is 120 s behind three of four publishers.
        let now = 1000.0;
        let entries = [
            at("a", now + 120.0),
            at("b", now + 120.0),
            at("c", now + 120.0),
        ];
        clocks.observe_all(entries.iter().map(Some).chain([None]), now);
        clocks.observe(&at("d", now), now);
        assert_eq!(clocks.swarm_offset(), -120.0);
        // Only "d" keeps publishing.
        clocks.observe_all(
            [Some(&at("d", now + FORGET_AFTER))],
            now + FORGET_AFTER + 1.0,
        );
        assert_eq!(clocks.len(), 1);
        assert_eq!(clocks.swarm_offset(), 0.0);
    }

    #[test]
    fn signed_expirations_follow_the_swarm_and_never_go_back() {
        // 120 s behind the swarm: signs as if its clock were right.
        assert_eq!(signing_expiration(1000.0, -120.0, 60.0, 0.0), 1180.0);
        // Clamped correction.
        assert_eq!(signing_expiration(1000.0, -1e6, 60.0, 0.0), 1660.0);
        assert_eq!(signing_expiration(1000.0, f64::NAN, 60.0, 0.0), 1060.0);
        // Learning it is 30 s ahead would sign an earlier expiration than the last one: the
        // successor still ranks after it.
        let last = signing_expiration(1000.0, 0.0, 60.0, 0.0);
        let next = signing_expiration(1001.0, 30.0, 60.0, last);
        assert!(next > last && next - last < 1e-9);
        assert!(next_up(-1.0) > -1.0 && next_up(0.0) > 0.0);
    }
}
