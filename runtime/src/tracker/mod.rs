//! The embedding API: [`ProgressTracker`], the handle a trainer holds.
//!
//! Two ways to run it:
//! - [`ProgressTracker::start`] inside a running actix System (for actix-based trainers);
//! - [`ProgressTracker::spawn`], which runs its own System on a background thread (for trainers
//!   that are plain threads).
//!
//! Reads (`global_progress`, `ready_to_update_epoch`, …) never block: they read the latest
//! snapshot the StateKeeper published. Reports are sent without waiting and are applied in order
//! (typically within microseconds). Pausing returns a [`PauseGuard`]; `update_epoch` is a
//! method of the guard, so it cannot be called unpaused. Dropping the guard resumes updates;
//! dropping the tracker shuts it down in the background without blocking.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use crate::actors::child::SupervisionPolicy;
use crate::actors::messages::{
    InjectPanic, PauseUpdates, ReportProgress, RequestRefresh, Shutdown,
};
use crate::actors::supervisor::{Supervisor, TrackerChannels};
use crate::admission_token::{check_own_token, Role};
use crate::clock::{SharedClock, SystemClock};
use crate::config::TrackerConfig;
use crate::dht::GatewayFactory;
use crate::identity::PeerKey;
use crate::progress::{GlobalProgress, LocalProgress};
use crate::status::{ActorKind, Health, TrackerError, TrackerStats};
use crate::tracker_state::TrackerState;
use actix::prelude::*;
use tokio::sync::watch;

mod pause;
pub use pause::PauseGuard;

/// A read-only view of a tracker, for observers (cheap to clone, `Send + Sync`): what a metrics
/// or status endpoint reads.
#[derive(Debug, Clone)]
pub struct TrackerObserver {
    /// Snapshots of the tracker state.
    pub state: watch::Receiver<TrackerState>,
    /// The tracker's health.
    pub health: watch::Receiver<Health>,
    /// The actors' counters.
    pub stats: Arc<TrackerStats>,
    /// DHT time.
    pub clock: SharedClock,
    /// The tracker's peer id.
    pub peer_id: String,
}

/// Options beyond the tracker configuration.
#[derive(Debug, Clone)]
pub struct TrackerOptions {
    /// Where DHT time comes from (a `ManualClock` in tests).
    pub clock: SharedClock,
    /// Restart policy of the actors.
    pub supervision: SupervisionPolicy,
}

impl Default for TrackerOptions {
    fn default() -> Self {
        Self {
            clock: SystemClock::shared(),
            supervision: SupervisionPolicy::default(),
        }
    }
}

/// Reports this handle sent that the StateKeeper may not have applied yet: read-your-writes
/// views replay them, in order, on the latest snapshot ([`ProgressTracker::with_view`]).
#[derive(Debug)]
struct SentReports {
    /// Sequence number of the next report (the first is 1).
    next_seq: u64,
    /// Sent and not known to be applied, oldest first.
    pending: std::collections::VecDeque<ReportProgress>,
}

impl SentReports {
    /// Beyond this many unapplied reports (a StateKeeper far behind, or restarting) the oldest
    /// are dropped from views: they only approximate until it catches up.
    const MAX_PENDING: usize = 1024;
}

impl Default for SentReports {
    fn default() -> Self {
        Self {
            next_seq: 1,
            pending: std::collections::VecDeque::new(),
        }
    }
}

/// A background actix System owned by a tracker started with [`ProgressTracker::spawn`].
struct Background {
    thread: std::thread::JoinHandle<()>,
}

/// The tracker handle. See the module docs.
pub struct ProgressTracker {
    supervisor: Addr<Supervisor>,
    state: watch::Receiver<TrackerState>,
    global: watch::Receiver<GlobalProgress>,
    health: watch::Receiver<Health>,
    stats: Arc<TrackerStats>,
    clock: SharedClock,
    config: Arc<TrackerConfig>,
    peer: PeerKey,
    /// The arbiter that runs the actors, for blocking calls from other threads.
    arbiter: ArbiterHandle,
    /// The thread of that arbiter (blocking calls there would deadlock).
    home: ThreadId,
    shutdown_requested: AtomicBool,
    /// The last report sent, numbered; reads apply it to the snapshot until the StateKeeper has.
    last_report: Mutex<SentReports>,
    background: Mutex<Option<Background>>,
}

impl ProgressTracker {
    /// Starts a tracker on the current actix arbiter, with default options.
    pub async fn start(
        config: TrackerConfig,
        dht: impl GatewayFactory,
    ) -> Result<Self, TrackerError> {
        Self::start_with(config, dht, TrackerOptions::default()).await
    }

    /// Starts a tracker on the current actix arbiter. Like hivemind's tracker, it returns once
    /// its first read of the swarm is applied (so a peer joining a running swarm never
    /// believes it is alone or at epoch 0), or has failed, or `request_timeout` has passed.
    pub async fn start_with(
        config: TrackerConfig,
        dht: impl GatewayFactory,
        options: TrackerOptions,
    ) -> Result<Self, TrackerError> {
        let tracker = Self::launch(config, Box::new(dht), options)?;
        tracker.first_read().await;
        Ok(tracker)
    }

    /// Starts a tracker on its own actix System in a background thread, with default options.
    pub fn spawn(config: TrackerConfig, dht: impl GatewayFactory) -> Result<Self, TrackerError> {
        Self::spawn_with(config, dht, TrackerOptions::default())
    }

    /// Starts a tracker on its own actix System in a background thread.
    pub fn spawn_with(
        config: TrackerConfig,
        dht: impl GatewayFactory,
        options: TrackerOptions,
    ) -> Result<Self, TrackerError> {
        config.validate()?;
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(format!("swarm-progress-{}", config.prefix))
            .spawn(move || {
                let system = System::new();
                let started = system.block_on(async move {
                    let tracker = Self::launch(config, Box::new(dht), options)?;
                    tracker.first_read().await;
                    Ok::<_, TrackerError>(tracker)
                });
                let health = started.as_ref().ok().map(|t| t.health.clone());
                let _ = tx.send(started);
                if let Some(health) = health {
                    // Run the actors until the Supervisor has stopped (or died), then give
                    // pending replies a moment to reach their callers.
                    system.block_on(async move {
                        let mut health = health;
                        while *health.borrow_and_update() != Health::Stopped {
                            if health.changed().await.is_err() {
                                break;
                            }
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    });
                }
            })
            .map_err(|e| TrackerError::Runtime(e.to_string()))?;
        let tracker = rx
            .recv()
            .map_err(|_| TrackerError::Runtime("tracker thread exited during start".into()))??;
        *lock(&tracker.background) = Some(Background { thread });
        Ok(tracker)
    }

    fn launch(
        config: TrackerConfig,
        dht: Box<dyn GatewayFactory>,
        options: TrackerOptions,
    ) -> Result<Self, TrackerError> {
        config.validate()?;
        let mut config = config;
        if let Some(Role::Client) = Self::check_admission(&config, dht.as_ref(), &options)? {
            // A client token admits only entries that count nothing (`records::Admission`).
            if config.client_mode == Some(false) {
                return Err(TrackerError::Admission(
                    "this peer's token has the client role: tracker.client_mode cannot be false"
                        .into(),
                ));
            }
            config.client_mode = Some(true);
        }
        // Unset: follows the node (hivemind's `client_mode=None`).
        config.client_mode = Some(config.client_mode.unwrap_or_else(|| dht.is_client()));
        if System::try_current().is_none() {
            return Err(TrackerError::Runtime(
                "ProgressTracker::start needs a running actix System; use ProgressTracker::spawn"
                    .into(),
            ));
        }
        let config = Arc::new(config);
        let identity = dht.identity();
        let initial = TrackerState::new(config.clone(), identity.peer_id(), options.clock.now());
        let channels = TrackerChannels::new(initial);
        let handle = Self {
            supervisor: Supervisor::new(
                config.clone(),
                options.clock.clone(),
                options.supervision,
                dht,
                channels.clone(),
            )
            .start(),
            state: channels.state.subscribe(),
            global: channels.global.subscribe(),
            health: channels.health.subscribe(),
            stats: channels.stats.clone(),
            clock: options.clock,
            config,
            peer: identity.public_key(),
            arbiter: Arbiter::current(),
            home: std::thread::current().id(),
            shutdown_requested: AtomicBool::new(false),
            last_report: Mutex::new(SentReports::default()),
            background: Mutex::default(),
        };
        Ok(handle)
    }

    /// Checks that this peer can take part as `config` says: the gateway enforces
    /// `tracker.authority`, and this peer's own token is there, its own, from that authority
    /// and unexpired ([`check_own_token`]). Returns the token's role, if any.
    fn check_admission(
        config: &TrackerConfig,
        dht: &dyn GatewayFactory,
        options: &TrackerOptions,
    ) -> Result<Option<Role>, TrackerError> {
        check_own_token(
            dht.admission_token().as_ref(),
            &dht.identity().public_key(),
            config.admission()?.authority(),
            dht.admission().authority(),
            options.clock.now(),
        )
        .map_err(|e| TrackerError::Admission(e.to_string()))
    }

    /// Waits until the first read of the swarm is applied or has failed, the tracker is no
    /// longer running, or `request_timeout` has passed (PROTOCOL.md §6.5).
    async fn first_read(&self) {
        let deadline = Instant::now() + self.config.request_timeout();
        let mut state = self.state.clone();
        loop {
            let applied = state.borrow_and_update().fetched_this_epoch();
            let failed = self.stats.fetches_failed.load(Ordering::Relaxed) > 0;
            if applied || failed || *self.health.borrow() != Health::Running {
                return;
            }
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            // A failed read changes no state: look at the counters again every 20 ms.
            let wait = (deadline - now).min(Duration::from_millis(20));
            let _ = tokio::time::timeout(wait, state.changed()).await;
        }
    }

    // ---- non-blocking reads -------------------------------------------------------------

    /// Runs `read` on the latest snapshot, with this handle's last report applied if the
    /// StateKeeper has not applied it yet (read-your-writes: a report is visible to the very next
    /// read). Clones the snapshot only in that case.
    fn with_view<R>(&self, read: impl FnOnce(&TrackerState) -> R) -> R {
        let mut sent = self
            .last_report
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let snapshot = self.state.borrow();
        let applied = snapshot.applied_report();
        while sent.pending.front().is_some_and(|r| r.seq <= applied) {
            sent.pending.pop_front();
        }
        if sent.pending.is_empty() {
            return read(&snapshot);
        }
        let mut view = snapshot.clone();
        drop(snapshot);
        let now = self.clock.now();
        for r in &sent.pending {
            view.report_with(r.epoch, r.samples, r.update_global_samples, now);
        }
        drop(sent);
        read(&view)
    }

    /// What this peer believes of the swarm.
    pub fn global_progress(&self) -> GlobalProgress {
        self.with_view(|s| s.global_progress().clone())
    }

    /// This peer's progress (including a report sent a moment ago).
    pub fn local_progress(&self) -> LocalProgress {
        self.with_view(|s| s.local_progress().clone())
    }

    /// The swarm's epoch.
    pub fn global_epoch(&self) -> u64 {
        self.state.borrow().global_progress().epoch
    }

    /// Whether this peer may move to the next epoch now.
    pub fn ready_to_update_epoch(&self) -> bool {
        let now = self.clock.now();
        self.with_view(|s| s.ready_to_update_epoch(now))
    }

    /// `now` if ready, else the estimated DHT time of the next epoch.
    pub fn estimated_next_update_time(&self) -> f64 {
        let now = self.clock.now();
        self.with_view(|s| s.estimated_next_update_time(now))
    }

    /// This peer's speed estimate (samples per second).
    pub fn samples_per_second(&self) -> f64 {
        self.state.borrow().samples_per_second()
    }

    /// Whether the swarm's progress was read since the last epoch change.
    pub fn fetched_this_epoch(&self) -> bool {
        self.state.borrow().fetched_this_epoch()
    }

    /// Whether updates are paused.
    pub fn is_paused(&self) -> bool {
        self.state.borrow().is_paused()
    }

    /// The tracker's health.
    pub fn health(&self) -> Health {
        let health = self.health.borrow().clone();
        if health == Health::Running && !self.supervisor.connected() {
            return Health::Failed {
                reason: "supervisor stopped unexpectedly".into(),
            };
        }
        health
    }

    /// A receiver that sees every change of the global progress.
    pub fn subscribe(&self) -> watch::Receiver<GlobalProgress> {
        self.global.clone()
    }

    /// A receiver of the whole tracker state, updated on every change.
    pub fn subscribe_state(&self) -> watch::Receiver<TrackerState> {
        self.state.clone()
    }

    /// A read-only, thread-safe view of this tracker (for metrics and status endpoints).
    pub fn observer(&self) -> TrackerObserver {
        TrackerObserver {
            state: self.state.clone(),
            health: self.health.clone(),
            stats: self.stats.clone(),
            clock: self.clock.clone(),
            peer_id: self.peer_id(),
        }
    }

    /// The actors' counters.
    pub fn stats(&self) -> &TrackerStats {
        &self.stats
    }

    /// This peer's public key (its subkey in the progress record).
    pub fn peer_key(&self) -> PeerKey {
        self.peer
    }

    /// This peer's libp2p peer id.
    pub fn peer_id(&self) -> String {
        self.peer.peer_id()
    }

    /// The tracker's configuration.
    pub fn config(&self) -> &TrackerConfig {
        &self.config
    }

    /// The clock the tracker reads DHT time from.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    // ---- commands ---------------------------------------------------------------------------

    fn check_usable(&self) -> Result<(), TrackerError> {
        match self.health() {
            Health::Running => Ok(()),
            Health::Failed { reason } => Err(TrackerError::Failed(reason)),
            Health::Stopped => Err(TrackerError::Stopped),
        }
    }

    /// Reports the local epoch and the samples accumulated in it. Does not wait; reports are
    /// applied in order and published by the Reporter.
    pub fn report_local_progress(&self, epoch: u64, samples: u64) -> Result<(), TrackerError> {
        self.report_local_progress_with(epoch, samples, true)
    }

    /// [`ProgressTracker::report_local_progress`] with hivemind's `update_global_samples`:
    /// `false` publishes the local progress but leaves this peer's global samples as they are
    /// until the next read.
    pub fn report_local_progress_with(
        &self,
        epoch: u64,
        samples: u64,
        update_global_samples: bool,
    ) -> Result<(), TrackerError> {
        self.check_usable()?;
        let mut last = self
            .last_report
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let report = ReportProgress {
            epoch,
            samples,
            update_global_samples,
            seq: last.next_seq,
        };
        last.next_seq += 1;
        if last.pending.len() == SentReports::MAX_PENDING {
            last.pending.pop_front();
        }
        last.pending.push_back(report);
        // Sent under the lock so sequence numbers reach the StateKeeper in order.
        self.supervisor.do_send(report);
        Ok(())
    }

    /// "State updated": read the swarm's progress now instead of at the scheduled time.
    pub fn request_refresh(&self) {
        self.supervisor.do_send(RequestRefresh);
    }

    /// Pauses updates: fetched progress is held back and the speed estimate does not count
    /// time until the guard is dropped.
    pub async fn pause_updates(&self) -> Result<PauseGuard<&Self>, TrackerError> {
        self.check_usable()?;
        self.supervisor.send(PauseUpdates).await??;
        Ok(PauseGuard::new(self))
    }

    /// [`ProgressTracker::pause_updates`] for plain threads (not the tracker's own thread).
    pub fn pause_updates_blocking(&self) -> Result<PauseGuard<&Self>, TrackerError> {
        self.pause_blocking()?;
        Ok(PauseGuard::new(self))
    }

    /// [`ProgressTracker::pause_updates_blocking`] with a guard that holds the tracker by `Arc`
    /// instead of borrowing it.
    pub fn pause_updates_owned_blocking(
        self: &Arc<Self>,
    ) -> Result<PauseGuard<Arc<Self>>, TrackerError> {
        self.pause_blocking()?;
        Ok(PauseGuard::new(self.clone()))
    }

    fn pause_blocking(&self) -> Result<(), TrackerError> {
        self.check_usable()?;
        let request = self.supervisor.send(PauseUpdates);
        self.block_on(async move { request.await? }, self.config.request_timeout())
    }

    /// Shuts down: stops reporting and fetching, stores a tombstone so the others stop
    /// counting this peer, then stops. Returns once the tombstone is stored, or with
    /// [`TrackerError::Timeout`] after `timeout`.
    pub async fn shutdown(&self, timeout: Duration) -> Result<(), TrackerError> {
        self.shutdown_requested.store(true, Ordering::SeqCst);
        let request = self.supervisor.send(Shutdown { timeout });
        match tokio::time::timeout(timeout + Duration::from_millis(200), request).await {
            Ok(reply) => reply.unwrap_or(Ok(())),
            Err(_) => Err(TrackerError::Timeout(timeout)),
        }
    }

    /// [`ProgressTracker::shutdown`] for plain threads; also waits for a background System to
    /// finish (bounded by `timeout`).
    pub fn shutdown_blocking(&self, timeout: Duration) -> Result<(), TrackerError> {
        self.shutdown_requested.store(true, Ordering::SeqCst);
        let request = self.supervisor.send(Shutdown { timeout });
        let result = self.block_on(
            async move { request.await.unwrap_or(Ok(())) },
            timeout + Duration::from_millis(200),
        );
        let background = lock(&self.background).take();
        if let Some(Background { thread }) = background {
            let deadline = std::time::Instant::now() + Duration::from_secs(2);
            while !thread.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
        result
    }

    /// Test hook: makes one of the tracker's actors panic inside a handler.
    #[doc(hidden)]
    pub fn inject_panic(&self, kind: ActorKind) {
        self.supervisor.do_send(InjectPanic(kind));
    }

    /// Runs `fut` on the tracker's arbiter and waits for it from this thread.
    fn block_on<F, T>(&self, fut: F, timeout: Duration) -> Result<T, TrackerError>
    where
        F: Future<Output = Result<T, TrackerError>> + Send + 'static,
        T: Send + 'static,
    {
        if std::thread::current().id() == self.home {
            return Err(TrackerError::WouldBlock);
        }
        let (tx, rx) = mpsc::channel();
        let spawned = self.arbiter.spawn(async move {
            let _ = tx.send(fut.await);
        });
        if !spawned {
            return Err(TrackerError::Stopped);
        }
        match rx.recv_timeout(timeout) {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(TrackerError::Timeout(timeout)),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(TrackerError::Stopped),
        }
    }
}

impl Drop for ProgressTracker {
    fn drop(&mut self) {
        if !self.shutdown_requested.swap(true, Ordering::SeqCst) {
            self.supervisor.do_send(Shutdown {
                timeout: self.config.request_timeout(),
            });
        }
        // A background System ends once the Supervisor has stopped; its thread is detached
        // rather than joined, so dropping never blocks.
    }
}

/// Locks `mutex`, whose data stays consistent even if a holder panicked.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
