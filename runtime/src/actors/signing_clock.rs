//! [`SigningClock`]: the expirations this tracker signs, shared by the StateKeeper (which learns
//! how far this peer's clock is from the swarm's, [`crate::peer_clocks::PeerClocks`]), the
//! Reporter (entries) and the Supervisor (the tombstone). The rule itself is pure:
//! [`crate::peer_clocks::signing_expiration`]; this type only holds its two inputs across
//! actors and restarts: the swarm offset and the last expiration signed (so each entry, and
//! the tombstone, ranks after the one before it).

use std::sync::{Arc, Mutex, PoisonError};

use crate::peer_clocks::signing_expiration;

#[derive(Debug, Default)]
struct Signing {
    swarm_offset: f64,
    last_signed: f64,
}

/// Shared by one tracker's actors; cloning shares it.
#[derive(Debug, Clone, Default)]
pub(crate) struct SigningClock(Arc<Mutex<Signing>>);

impl SigningClock {
    /// The StateKeeper's latest estimate of this clock minus the swarm's typical clock;
    /// returns the previous one.
    pub(crate) fn set_swarm_offset(&self, offset: f64) -> f64 {
        let mut signing = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut signing.swarm_offset, offset)
    }

    /// The expiration to sign now for an entry living `lifetime` seconds: on the swarm's clock,
    /// after every expiration signed before.
    pub(crate) fn expiration(&self, now: f64, lifetime: f64) -> f64 {
        let mut signing = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let expiration =
            signing_expiration(now, signing.swarm_offset, lifetime, signing.last_signed);
        signing.last_signed = expiration;
        expiration
    }
}
