//! The `swarm-progress` command: `demo` (a local collaboration, the main job), `node` (a
//! headless DHT node), `watch` (a live view of a collaboration), `train` (a simulated trainer
//! that joins one), `keygen` and `authority` (a private collaboration's tokens).
//!
//! Exit codes: 0 success, 1 runtime failure, 2 bad arguments or an impossible setting.
//!
//! # Layout
//!
//! - `main.rs`: the command line and the dispatch to one function per subcommand.
//! - `cmd/`: one file per subcommand (`demo`, `node`, `watch`, `train`, `keygen`, `authority`), each its
//!   flags and its `run`; `cmd/mod.rs` holds what they share (global flags, node flags, settings, logging).
//! - `error.rs`: [`error::CliError`], which carries the exit code.
//! - `demo_swarm.rs`: the demo's swarm of simulated trainers and its summary.
//! - `node_runner.rs`: a node (with a tracker, and for `train` a simulated trainer, when asked)
//!   running until a signal, printing the swarm's progress.
//! - `observability/`: `/metrics` (OpenMetrics or Prometheus text), `/status` and `/healthz`.

mod cmd;
mod demo_swarm;
mod error;
mod node_runner;
mod observability;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use swarm_progress::heap_trim::{HeapTrimmer, DEFAULT_HEAP_TRIM_PERIOD};

/// Tracks the training progress of a decentralized deep-learning collaboration.
#[derive(Debug, Parser)]
#[command(name = "swarm-progress", version, about)]
struct Cli {
    #[command(flatten)]
    global: cmd::GlobalFlags,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a local collaboration on 127.0.0.1: simulated trainers of different speeds, each with
    /// its own tracker and libp2p node, joined through one seed node; shows the progress live
    /// and prints a per-epoch summary.
    Demo(cmd::demo::DemoArgs),
    /// Run a headless DHT node: prints its peer id and listen addresses and serves records until
    /// SIGINT / SIGTERM. With --prefix it also tracks that collaboration in client mode and logs
    /// its progress.
    Node(cmd::node::NodeArgs),
    /// Join a collaboration as a client and print its progress on every update.
    Watch(cmd::watch::WatchArgs),
    /// Join a collaboration as a simulated trainer (BATCH samples every PERIOD), move epochs
    /// with the swarm and print its progress on every update, until --epochs or a signal.
    Train(cmd::train::TrainArgs),
    /// Write a new identity (Ed25519 PKCS#8, mode 0600) and print its peer id; with
    /// --network-key, a private collaboration's network key.
    Keygen(cmd::keygen::KeygenArgs),
    /// A private collaboration's run authority: `new` writes its key, `issue` signs a peer's
    /// admission token.
    Authority(cmd::authority::AuthorityArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The commands that run for long give the allocator's free pages back on a schedule: a
    // peer's heap otherwise stays at its busiest (runtime/src/heap_trim.rs).
    let long_running = !matches!(cli.command, Command::Keygen(_) | Command::Authority(_));
    let _trimmer = long_running
        .then(|| HeapTrimmer::start(DEFAULT_HEAP_TRIM_PERIOD))
        .and_then(|started| {
            started
                .map_err(|e| eprintln!("warning: the heap trimmer did not start: {e}"))
                .ok()
        });
    let result = match cli.command {
        Command::Demo(args) => cmd::demo::run(args, &cli.global),
        Command::Node(args) => cmd::node::run(args, &cli.global),
        Command::Watch(args) => cmd::watch::run(args, &cli.global),
        Command::Train(args) => cmd::train::run(args, &cli.global),
        Command::Keygen(args) => cmd::keygen::run(args),
        Command::Authority(args) => cmd::authority::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
