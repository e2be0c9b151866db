//! [`PauseGuard`]: holds a tracker's updates paused (hivemind's `pause_updates()`); only a
//! paused tracker can move to a new epoch, so `update_epoch` is a method of the guard.
//!
//! The guard either borrows the tracker ([`ProgressTracker::pause_updates`]) or holds an `Arc` of
//! it ([`ProgressTracker::pause_updates_owned_blocking`]), for callers that cannot keep a borrow
//! alive across calls, such as a language binding's context manager.

use std::ops::Deref;

use crate::actors::messages::{ResumeUpdates, UpdateEpoch};
use crate::status::TrackerError;

use super::ProgressTracker;

/// Holds updates paused; dropping it resumes them. `T` is how it holds the tracker: `&` or
/// `Arc`.
pub struct PauseGuard<T: Deref<Target = ProgressTracker>> {
    tracker: T,
    active: bool,
}

impl<T: Deref<Target = ProgressTracker>> PauseGuard<T> {
    /// The guard of a tracker whose updates were just paused.
    pub(super) fn new(tracker: T) -> Self {
        Self {
            tracker,
            active: true,
        }
    }

    /// Moves to `new_epoch` (default: local epoch + 1): local progress is reset to (new epoch,
    /// 0) and published. Returns the new epoch.
    pub async fn update_epoch(&self, new_epoch: Option<u64>) -> Result<u64, TrackerError> {
        self.tracker
            .supervisor
            .send(UpdateEpoch { new_epoch })
            .await?
    }

    /// [`PauseGuard::update_epoch`] for plain threads.
    pub fn update_epoch_blocking(&self, new_epoch: Option<u64>) -> Result<u64, TrackerError> {
        let request = self.tracker.supervisor.send(UpdateEpoch { new_epoch });
        self.tracker.block_on(
            async move { request.await? },
            self.tracker.config.request_timeout(),
        )
    }

    /// Resumes updates now (same as dropping the guard).
    pub fn resume(mut self) {
        self.release();
    }

    fn release(&mut self) {
        if std::mem::take(&mut self.active) {
            self.tracker.supervisor.do_send(ResumeUpdates);
        }
    }
}

impl<T: Deref<Target = ProgressTracker>> Drop for PauseGuard<T> {
    fn drop(&mut self) {
        self.release();
    }
}
