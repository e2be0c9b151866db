//! `swarm-progress authority`: a private collaboration's run authority. `new` writes its key
//! and prints the `tracker.authority` every peer sets; `issue` signs an admission token for one
//! peer, in one role, for a time.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand};
use swarm_progress::{AdmissionToken, Identity, PeerKey, Role};

use crate::error::CliError;

/// Flags of `authority`.
#[derive(Debug, Args)]
pub struct AuthorityArgs {
    #[command(subcommand)]
    command: AuthorityCommand,
}

#[derive(Debug, Subcommand)]
enum AuthorityCommand {
    /// Write a new authority key (Ed25519 PKCS#8, mode 0600; keep it off the peers) and print
    /// the tracker.authority setting every peer of the collaboration uses.
    New {
        /// Where to write the key (refuses to overwrite).
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign an admission token for one peer and write it to a file for that peer
    /// (dht.token_file, --token-file).
    Issue {
        /// The authority key written by `authority new`.
        #[arg(long)]
        key: PathBuf,
        /// The peer's id (12D3KooW..., as `keygen` and `node` print it).
        #[arg(long)]
        peer: String,
        /// trainer (its samples count) or client (it may watch; its entries count nothing).
        #[arg(long, default_value = "trainer")]
        role: Role,
        /// How long the token admits the peer: a number with a unit, s, m, h or d (30d, 12h).
        #[arg(long)]
        expires: String,
        /// Where to write the token (refuses to overwrite).
        #[arg(long)]
        out: PathBuf,
    },
}

/// Runs `authority new` or `authority issue`.
pub fn run(args: AuthorityArgs) -> Result<(), CliError> {
    match args.command {
        AuthorityCommand::New { out } => {
            let authority = Identity::generate()?;
            authority.save(&out)?;
            println!("authority key written to {}", out.display());
            println!("every peer of the collaboration sets (settings file, [tracker] section):");
            println!("authority = \"{}\"", authority.peer_id());
            Ok(())
        }
        AuthorityCommand::Issue {
            key,
            peer,
            role,
            expires,
            out,
        } => {
            let authority = Identity::load(&key)?;
            let peer = PeerKey::from_peer_id(&peer)
                .map_err(|e| CliError::Arguments(format!("--peer {peer:?}: {e}")))?;
            let lifetime = parse_lifetime(&expires)?;
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_err(|e| CliError::Io(format!("the system clock is before 1970: {e}")))?
                .as_secs();
            let token = AdmissionToken::issue(&authority, peer, role, now.saturating_add(lifetime));
            token.save(&out)?;
            println!(
                "token for {peer} ({role}) until {} (Unix seconds) written to {}",
                token.expires_at(),
                out.display()
            );
            Ok(())
        }
    }
}

/// Seconds in `30d`, `12h`, `90m`, `3600s` (or a bare number of seconds).
fn parse_lifetime(text: &str) -> Result<u64, CliError> {
    let bad = || {
        CliError::Arguments(format!(
            "--expires {text:?}: expected a positive number with a unit, s, m, h or d (30d, 12h)"
        ))
    };
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    let number: u64 = number.parse().map_err(|_| bad())?;
    match number.checked_mul(scale) {
        Some(seconds) if seconds > 0 => Ok(seconds),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_parse_with_their_units_and_nonsense_is_refused() {
        assert_eq!(parse_lifetime("30d").unwrap(), 30 * 86_400);
        assert_eq!(parse_lifetime("12h").unwrap(), 12 * 3_600);
        assert_eq!(parse_lifetime("90m").unwrap(), 5_400);
        assert_eq!(parse_lifetime("45").unwrap(), 45);
        for bad in ["", "d", "0d", "-3d", "3w", "1.5d", "99999999999999999999d"] {
            assert!(parse_lifetime(bad).is_err(), "{bad:?}");
        }
    }
}
