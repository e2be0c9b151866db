//! `swarm-progress keygen`: writes a new identity and prints its peer id, or (`--network-key`)
//! a new network key for a private collaboration.

use std::path::PathBuf;

use clap::Args;
use ring::rand::{SecureRandom, SystemRandom};
use swarm_progress::identity::write_private_file;
use swarm_progress::{Identity, PreSharedKey};

use crate::error::CliError;

/// Flags of `keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write it (refuses to overwrite).
    #[arg(long)]
    out: PathBuf,
    /// Write a network key (libp2p's pre-shared key format, `/key/swarm/psk/1.0.0/`) instead of
    /// an identity: give the same file to every node of the collaboration
    /// (`dht.network_key_file`, `--network-key-file`).
    #[arg(long)]
    network_key: bool,
}

/// Writes a new Ed25519 identity (PKCS#8, mode 0600) to `--out` and prints its peer id; with
/// `--network-key`, a new random network key (mode 0600) and prints its fingerprint.
pub fn run(args: KeygenArgs) -> Result<(), CliError> {
    if args.network_key {
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| CliError::Io("the system random generator failed".into()))?;
        let key = PreSharedKey::new(bytes);
        write_private_file(&args.out, key.to_key_file().as_bytes())
            .map_err(|e| CliError::Io(format!("{}: {e}", args.out.display())))?;
        println!("network key written to {}", args.out.display());
        println!("fingerprint {}", key.fingerprint());
        return Ok(());
    }
    let identity = Identity::generate()?;
    identity.save(&args.out)?;
    println!("{}", identity.peer_id());
    Ok(())
}
