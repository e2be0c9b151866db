//! [`AdmissionToken`]: a run authority's signed statement that one peer may take part in a
//! private collaboration, in one [`Role`], until a time (PROTOCOL.md §3.5). A token travels
//! inside each of its peer's entries, so every reader checks it offline against the authority
//! it trusts (`records::admission`).
//!
//! ## Wire form (138 bytes)
//! ```text
//! u8 version (= 1) | authority[32] | peer[32] | u8 role | u64be expires_at | signature[64]
//! ```
//! `authority` and `peer` are Ed25519 public keys (the peer's is its subkey and libp2p
//! identity), `role` is 0 = trainer, 1 = client, `expires_at` is Unix seconds. The signature, by
//! the authority, covers `"swarm-progress/token/v1"` followed by every byte before it.
//!
//! ## File form
//! `#` comment lines saying what the token says, then the wire form in hex on one line. Only
//! the hex is read; the comments are for the people who pass token files around.

use std::fmt;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::identity::{Identity, PeerKey, PUBLIC_KEY_LEN, SIGNATURE_LEN};

/// Length of a token's wire form.
pub const TOKEN_LEN: usize = 1 + PUBLIC_KEY_LEN + PUBLIC_KEY_LEN + 1 + 8 + SIGNATURE_LEN;
const TOKEN_VERSION: u8 = 1;
const TOKEN_SIGNING_TAG: &[u8] = b"swarm-progress/token/v1";
const SIGNED_LEN: usize = TOKEN_LEN - SIGNATURE_LEN;

/// What a token lets its peer do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Trains: its samples and speed count, its epoch can drive the swarm's.
    Trainer,
    /// Watches: it may publish an entry, but only one that counts nothing (a client-mode entry
    /// with no samples and no speed), so it never drives the epoch.
    Client,
}

impl Role {
    fn byte(self) -> u8 {
        match self {
            Role::Trainer => 0,
            Role::Client => 1,
        }
    }

    /// `trainer` or `client`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Trainer => "trainer",
            Role::Client => "client",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = TokenError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "trainer" => Ok(Role::Trainer),
            "client" => Ok(Role::Client),
            other => Err(TokenError::Malformed(format!(
                "role must be \"trainer\" or \"client\", got {other:?}"
            ))),
        }
    }
}

/// Why bytes or a file are not a token.
#[derive(Debug, Error)]
pub enum TokenError {
    /// Wrong length, version, role byte or hex.
    #[error("not an admission token: {0}")]
    Malformed(String),
    /// The token file could not be read or written.
    #[error("token file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Why a peer cannot publish under its own token ([`check_own_token`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OwnTokenError {
    /// A private collaboration, and this peer has no token.
    #[error("tracker.authority is set but this peer has no admission token (dht.token_file): its entries would count nowhere")]
    Missing,
    /// The token admits another peer.
    #[error("the admission token admits peer {token_peer}, not this peer {own}")]
    OtherPeer {
        /// The peer the token admits.
        token_peer: String,
        /// This peer.
        own: String,
    },
    /// The token is from another authority than the configured one.
    #[error(
        "the admission token was issued by {token_authority}, not by tracker.authority {authority}"
    )]
    OtherAuthority {
        /// Who issued the token.
        token_authority: String,
        /// `tracker.authority`.
        authority: String,
    },
    /// The token has expired.
    #[error(
        "the admission token expired at {0} (Unix seconds); ask the run's authority for a new one"
    )]
    Expired(u64),
    /// The tracker's settings name an authority its node does not enforce (or the reverse).
    #[error("tracker.authority is {wanted} but the node admits {enforced}: build the node's config with admission = TrackerConfig::admission()")]
    NodeDoesNotEnforce {
        /// `tracker.authority`, or "unset".
        wanted: String,
        /// What the node admits.
        enforced: String,
    },
}

/// Checks that a peer `own` can take part with `token` in a collaboration whose settings name
/// the authority `wanted` and whose node judges entries by the authority `enforced`, at `now`:
/// the two agree, the token is there when an authority is set, admits `own`, comes from that
/// authority and has not expired. A token without an authority is carried and not judged.
/// Returns the token's role, if any.
pub fn check_own_token(
    token: Option<&AdmissionToken>,
    own: &PeerKey,
    wanted: Option<&PeerKey>,
    enforced: Option<&PeerKey>,
    now: f64,
) -> Result<Option<Role>, OwnTokenError> {
    if wanted != enforced {
        return Err(OwnTokenError::NodeDoesNotEnforce {
            wanted: wanted.map_or("unset".into(), |a| a.peer_id()),
            enforced: enforced.map_or("everyone".into(), |a| format!("the tokens of {a}")),
        });
    }
    let authority = enforced;
    let Some(token) = token else {
        return match authority {
            Some(_) => Err(OwnTokenError::Missing),
            None => Ok(None),
        };
    };
    if token.peer() != own {
        return Err(OwnTokenError::OtherPeer {
            token_peer: token.peer().peer_id(),
            own: own.peer_id(),
        });
    }
    if let Some(authority) = authority.filter(|a| *a != token.authority()) {
        return Err(OwnTokenError::OtherAuthority {
            token_authority: token.authority().peer_id(),
            authority: authority.peer_id(),
        });
    }
    if !token.is_live(now) {
        return Err(OwnTokenError::Expired(token.expires_at()));
    }
    Ok(Some(token.role()))
}

/// A run authority's signed admission of one peer (module docs). Built by
/// [`AdmissionToken::issue`] or decoded; decoding does not check the signature
/// ([`AdmissionToken::verify`] does).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct AdmissionToken {
    authority: PeerKey,
    peer: PeerKey,
    role: Role,
    expires_at: u64,
    signature: [u8; SIGNATURE_LEN],
}

impl AdmissionToken {
    /// The authority's token admitting `peer` as `role` until `expires_at` (Unix seconds).
    pub fn issue(authority: &Identity, peer: PeerKey, role: Role, expires_at: u64) -> Self {
        let mut token = Self {
            authority: authority.public_key(),
            peer,
            role,
            expires_at,
            signature: [0; SIGNATURE_LEN],
        };
        token.signature = authority.sign(&token.signing_message());
        token
    }

    /// The authority that signed it (by its own account: [`AdmissionToken::verify`] checks).
    pub fn authority(&self) -> &PeerKey {
        &self.authority
    }

    /// The peer it admits.
    pub fn peer(&self) -> &PeerKey {
        &self.peer
    }

    /// The role it grants.
    pub fn role(&self) -> Role {
        self.role
    }

    /// When it stops admitting, Unix seconds.
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// Whether it still admits at `now` (Unix seconds, the reader's clock).
    pub fn is_live(&self, now: f64) -> bool {
        now < self.expires_at as f64
    }

    /// Whether the signature is the named authority's.
    pub fn verify(&self) -> bool {
        self.authority
            .verify(&self.signing_message(), &self.signature)
    }

    /// The `(key, message, signature)` that [`AdmissionToken::verify`] checks, for batch
    /// verification.
    pub fn signed_parts(&self) -> (&PeerKey, Vec<u8>, &[u8; SIGNATURE_LEN]) {
        (&self.authority, self.signing_message(), &self.signature)
    }

    fn signing_message(&self) -> Vec<u8> {
        let mut msg = Vec::with_capacity(TOKEN_SIGNING_TAG.len() + SIGNED_LEN);
        msg.extend_from_slice(TOKEN_SIGNING_TAG);
        self.encode_signed_part(&mut msg);
        msg
    }

    fn encode_signed_part(&self, out: &mut Vec<u8>) {
        out.push(TOKEN_VERSION);
        out.extend_from_slice(self.authority.as_bytes());
        out.extend_from_slice(self.peer.as_bytes());
        out.push(self.role.byte());
        out.extend_from_slice(&self.expires_at.to_be_bytes());
    }

    /// Appends the wire form to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        self.encode_signed_part(out);
        out.extend_from_slice(&self.signature);
    }

    /// Whether `raw` is exactly this token's wire form, compared in place (no allocation).
    pub fn is_encoded_as(&self, raw: &[u8]) -> bool {
        raw.len() == TOKEN_LEN
            && raw[0] == TOKEN_VERSION
            && raw[1..33] == *self.authority.as_bytes()
            && raw[33..65] == *self.peer.as_bytes()
            && raw[65] == self.role.byte()
            && raw[66..74] == self.expires_at.to_be_bytes()
            && raw[SIGNED_LEN..] == self.signature
    }

    /// The wire form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(TOKEN_LEN);
        self.encode_into(&mut out);
        out
    }

    /// Parses the wire form (exactly [`TOKEN_LEN`] bytes).
    pub fn decode(bytes: &[u8]) -> Result<Self, TokenError> {
        let bytes: &[u8; TOKEN_LEN] = bytes.try_into().map_err(|_| {
            TokenError::Malformed(format!("{} bytes, expected {TOKEN_LEN}", bytes.len()))
        })?;
        if bytes[0] != TOKEN_VERSION {
            return Err(TokenError::Malformed(format!(
                "unsupported token version {}",
                bytes[0]
            )));
        }
        let key_at = |at: usize| {
            let mut key = [0u8; PUBLIC_KEY_LEN];
            key.copy_from_slice(&bytes[at..at + PUBLIC_KEY_LEN]);
            PeerKey::from_bytes(key)
        };
        let role = match bytes[65] {
            0 => Role::Trainer,
            1 => Role::Client,
            other => return Err(TokenError::Malformed(format!("unknown role byte {other}"))),
        };
        let mut expires = [0u8; 8];
        expires.copy_from_slice(&bytes[66..74]);
        let mut signature = [0u8; SIGNATURE_LEN];
        signature.copy_from_slice(&bytes[SIGNED_LEN..]);
        Ok(Self {
            authority: key_at(1),
            peer: key_at(33),
            role,
            expires_at: u64::from_be_bytes(expires),
            signature,
        })
    }

    /// The file form (module docs).
    pub fn to_file_text(&self) -> String {
        let hex: String = self.encode().iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "# swarm-progress admission token\n# peer {}\n# role {}\n# expires_at {} (Unix seconds)\n# authority {}\n{hex}\n",
            self.peer, self.role, self.expires_at, self.authority
        )
    }

    /// Parses the file form: `#` lines and blank lines are skipped, the rest is the hex.
    pub fn from_file_text(text: &str) -> Result<Self, TokenError> {
        let hex: String = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        if !hex.len().is_multiple_of(2) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(TokenError::Malformed(
                "the token line must be hex digits, two per byte".into(),
            ));
        }
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
            .collect::<Result<_, _>>()
            .map_err(|e| TokenError::Malformed(e.to_string()))?;
        Self::decode(&bytes)
    }

    /// Reads a token file.
    pub fn load(path: &Path) -> Result<Self, TokenError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokenError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_file_text(&text)
    }

    /// Writes a token file (refuses to overwrite one).
    pub fn save(&self, path: &Path) -> Result<(), TokenError> {
        use std::io::Write;
        let io = |source| TokenError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(io)?;
        file.write_all(self.to_file_text().as_bytes()).map_err(io)
    }
}

impl fmt::Debug for AdmissionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdmissionToken")
            .field("authority", &self.authority)
            .field("peer", &self.peer)
            .field("role", &self.role)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issued(role: Role) -> (Identity, Identity, AdmissionToken) {
        let authority = Identity::generate().unwrap();
        let peer = Identity::generate().unwrap();
        let token = AdmissionToken::issue(&authority, peer.public_key(), role, 2_000_000_000);
        (authority, peer, token)
    }

    #[test]
    fn an_issued_token_verifies_and_round_trips_through_bytes_and_file_text() {
        for role in [Role::Trainer, Role::Client] {
            let (authority, peer, token) = issued(role);
            assert!(token.verify());
            assert_eq!(token.authority(), &authority.public_key());
            assert_eq!(token.peer(), &peer.public_key());
            assert_eq!(token.role(), role);
            let bytes = token.encode();
            assert_eq!(bytes.len(), TOKEN_LEN);
            assert!(token.is_encoded_as(&bytes));
            assert_eq!(AdmissionToken::decode(&bytes).unwrap(), token);
            let text = token.to_file_text();
            assert!(text.contains(&peer.peer_id()), "{text}");
            assert_eq!(AdmissionToken::from_file_text(&text).unwrap(), token);
        }
    }

    #[test]
    fn changing_any_byte_breaks_the_token() {
        let (_, _, token) = issued(Role::Client);
        let bytes = token.encode();
        for i in 0..TOKEN_LEN {
            let mut changed = bytes.clone();
            changed[i] ^= 0x01;
            assert!(!token.is_encoded_as(&changed), "byte {i}");
            match AdmissionToken::decode(&changed) {
                Ok(decoded) => assert!(!decoded.verify(), "byte {i} changed and still verifies"),
                Err(TokenError::Malformed(_)) => assert!(i == 0 || i == 65, "byte {i}"),
                Err(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn a_peer_checks_its_own_token_before_publishing_under_it() {
        let (authority, peer, token) = issued(Role::Trainer);
        let own = peer.public_key();
        let auth = authority.public_key();
        let other = Identity::generate().unwrap().public_key();
        let check =
            |token, own, authority, now| check_own_token(token, own, authority, authority, now);
        assert_eq!(check(None, &own, None, 0.0), Ok(None));
        assert_eq!(
            check(None, &own, Some(&auth), 0.0),
            Err(OwnTokenError::Missing)
        );
        assert_eq!(
            check(Some(&token), &own, Some(&auth), 0.0),
            Ok(Some(Role::Trainer))
        );
        assert!(matches!(
            check(Some(&token), &other, Some(&auth), 0.0),
            Err(OwnTokenError::OtherPeer { .. })
        ));
        assert!(matches!(
            check(Some(&token), &own, Some(&other), 0.0),
            Err(OwnTokenError::OtherAuthority { .. })
        ));
        assert_eq!(
            check(Some(&token), &own, None, 2e9),
            Err(OwnTokenError::Expired(2_000_000_000))
        );
        for (wanted, enforced) in [
            (Some(&auth), None),
            (None, Some(&auth)),
            (Some(&other), Some(&auth)),
        ] {
            assert!(matches!(
                check_own_token(Some(&token), &own, wanted, enforced, 0.0),
                Err(OwnTokenError::NodeDoesNotEnforce { .. })
            ));
        }
    }

    #[test]
    fn a_token_is_live_until_its_expiry() {
        let (_, _, token) = issued(Role::Trainer);
        assert!(token.is_live(1_999_999_999.5));
        assert!(!token.is_live(2_000_000_000.0));
    }

    #[test]
    fn malformed_tokens_and_files_are_errors() {
        assert!(AdmissionToken::decode(&[1u8; TOKEN_LEN - 1]).is_err());
        assert!(AdmissionToken::from_file_text("# only a comment\n").is_err());
        assert!(AdmissionToken::from_file_text("zz").is_err());
        assert!(AdmissionToken::from_file_text("abc").is_err());
        assert!("admin".parse::<Role>().is_err());
        assert_eq!("client".parse::<Role>().unwrap(), Role::Client);
        let missing = Path::new("/nonexistent/swarm-progress.token");
        assert!(matches!(
            AdmissionToken::load(missing),
            Err(TokenError::Io { .. })
        ));
    }
}
