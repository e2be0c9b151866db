//! An actix actor that trains (simulated steps) and uses the tracker the way hivemind's
//! optimizer does: report after every step, check readiness, pause, (average gradients), move to
//! the next epoch, and catch up when the swarm is ahead.
//!
//! Three trainers of different speeds share an in-process `MemoryNetwork` (swap in the libp2p
//! gateway for a real swarm). Run with `cargo run --example actix_trainer`.

use std::rc::Rc;
use std::time::Duration;

use actix::prelude::*;
use swarm_progress::{MemoryNetwork, ProgressTracker, SystemClock, TrackerConfig};

/// A simulated trainer.
struct Trainer {
    name: &'static str,
    tracker: Rc<ProgressTracker>,
    /// Samples per step.
    batch: u64,
    /// Time per step.
    period: Duration,
    epoch: u64,
    samples: u64,
    /// Stop after this epoch.
    last_epoch: u64,
    /// An epoch change is in progress (steps wait for it).
    changing_epoch: bool,
}

impl Trainer {
    fn step(&mut self, ctx: &mut Context<Self>) {
        if self.changing_epoch {
            return;
        }
        self.samples += self.batch;
        if let Err(e) = self.tracker.report_local_progress(self.epoch, self.samples) {
            eprintln!("{}: tracker unusable: {e}", self.name);
            ctx.stop();
            return;
        }
        if !self.tracker.ready_to_update_epoch() {
            return;
        }
        // Ready: either the swarm reached the target, or it is ahead of us (catch up).
        let next = (self.epoch + 1).max(self.tracker.global_epoch());
        let tracker = self.tracker.clone();
        self.changing_epoch = true;
        let change = async move {
            let guard = tracker.pause_updates().await?;
            // ... all-reduce the gradients and step the optimizer here ...
            guard.update_epoch(Some(next)).await
        };
        ctx.wait(change.into_actor(self).map(|result, act, ctx| {
            act.changing_epoch = false;
            match result {
                Ok(epoch) => {
                    let g = act.tracker.global_progress();
                    println!(
                        "{:>6}: epoch {} -> {epoch} ({} peers, {:.0} samples/s locally)",
                        act.name,
                        act.epoch,
                        g.num_peers,
                        act.tracker.samples_per_second()
                    );
                    act.epoch = epoch;
                    act.samples = 0;
                    if epoch >= act.last_epoch {
                        ctx.stop();
                    }
                }
                Err(e) => eprintln!("{}: epoch change failed, will retry: {e}", act.name),
            }
        }));
    }
}

impl Actor for Trainer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.period, |act, ctx| act.step(ctx));
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        println!("{:>6}: done at epoch {}", self.name, self.epoch);
    }
}

#[actix::main]
async fn main() {
    let network = MemoryNetwork::new(SystemClock::shared());
    let config = TrackerConfig {
        prefix: "example".into(),
        target_batch_size: 600,
        min_refresh_period: 0.1,
        default_refresh_period: 0.2,
        max_refresh_period: 0.5,
        ..TrackerConfig::default()
    };
    let mut trainers = Vec::new();
    for (name, batch, period_ms) in [("fast", 16, 20), ("medium", 16, 40), ("slow", 16, 80)] {
        let peer = network.peer().expect("identity");
        let tracker = Rc::new(
            ProgressTracker::start(config.clone(), peer)
                .await
                .expect("tracker starts"),
        );
        let addr = Trainer {
            name,
            tracker: tracker.clone(),
            batch,
            period: Duration::from_millis(period_ms),
            epoch: 0,
            samples: 0,
            last_epoch: 3,
            changing_epoch: false,
        }
        .start();
        trainers.push((addr, tracker));
    }
    while trainers.iter().any(|(addr, _)| addr.connected()) {
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    for (_, tracker) in &trainers {
        if let Err(e) = tracker.shutdown(Duration::from_secs(5)).await {
            eprintln!("shutdown: {e}");
        }
    }
}
