//! `swarm-progress keygen`: writes a new identity and prints its peer id.

use std::path::PathBuf;

use clap::Args;
use swarm_progress::Identity;

use crate::error::CliError;

/// Flags of `keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write it (refuses to overwrite).
    #[arg(long)]
    out: PathBuf,
}

/// Writes a new Ed25519 identity (PKCS#8, mode 0600) to `--out` and prints its peer id.
pub fn run(args: KeygenArgs) -> Result<(), CliError> {
    let identity = Identity::generate()?;
    identity.save(&args.out)?;
    println!("{}", identity.peer_id());
    Ok(())
}
