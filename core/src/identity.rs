//! Peer identity: the Ed25519 key pair (ring) that signs progress entries, and [`PeerKey`], its
//! public half, which is the entry's subkey in the progress record.
//!
//! The same key is the peer's libp2p identity, so [`PeerKey::peer_id`] computes the libp2p peer
//! id (`12D3KooW…`) of the key without depending on libp2p: base58 of the identity multihash of
//! the protobuf-encoded public key.
//!
//! Keys are stored as PKCS#8 documents (v2 as ring writes them; v1 is accepted on load), in files
//! created with mode 0600.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use ring::rand::SystemRandom;
use ring::signature::{self, Ed25519KeyPair, KeyPair};
use thiserror::Error;

/// Length of an Ed25519 public key.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// The bytes of an Ed25519 peer id before its key: identity multihash (code 0x00, length 36) of
/// the protobuf `PublicKey` { Type = Ed25519 (field 1, varint 1), Data = key (field 2, 32 bytes) }.
const PEER_ID_ED25519_PREFIX: [u8; 6] = [0x00, 0x24, 0x08, 0x01, 0x12, 0x20];

/// Why a string is not the peer id of an Ed25519 key.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PeerIdError {
    /// Not base58.
    #[error("not a peer id (not base58: {0})")]
    NotBase58(String),
    /// Base58, but not an Ed25519 key inlined in an identity multihash (`12D3KooW…`).
    #[error("not the peer id of an Ed25519 key (12D3KooW…)")]
    NotEd25519,
}

/// Fewest signatures [`PeerKey::verify_each`] checks as one batch: below this, batch
/// verification saves little over one-by-one checks.
pub const BATCH_VERIFY_MIN: usize = 4;

/// An Ed25519 public key: a peer's subkey in the progress record.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerKey([u8; PUBLIC_KEY_LEN]);

impl PeerKey {
    /// Wraps raw public key bytes.
    pub const fn from_bytes(bytes: [u8; PUBLIC_KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// The raw public key bytes.
    pub fn as_bytes(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.0
    }

    /// The libp2p peer id of this key, base58 (`12D3KooW…`).
    pub fn peer_id(&self) -> String {
        let mut bytes = Vec::with_capacity(PEER_ID_ED25519_PREFIX.len() + PUBLIC_KEY_LEN);
        bytes.extend_from_slice(&PEER_ID_ED25519_PREFIX);
        bytes.extend_from_slice(&self.0);
        bs58::encode(bytes).into_string()
    }

    /// The key of a libp2p peer id string (`12D3KooW…`, an Ed25519 key inlined in an identity
    /// multihash): the inverse of [`PeerKey::peer_id`]. Other key types are refused.
    pub fn from_peer_id(peer_id: &str) -> Result<Self, PeerIdError> {
        let bytes = bs58::decode(peer_id)
            .into_vec()
            .map_err(|e| PeerIdError::NotBase58(e.to_string()))?;
        match bytes.strip_prefix(&PEER_ID_ED25519_PREFIX[..]) {
            Some(key) if key.len() == PUBLIC_KEY_LEN => {
                let mut out = [0u8; PUBLIC_KEY_LEN];
                out.copy_from_slice(key);
                Ok(Self(out))
            }
            _ => Err(PeerIdError::NotEd25519),
        }
    }

    /// Verifies an Ed25519 signature of `message` by this key.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        signature::UnparsedPublicKey::new(&signature::ED25519, &self.0)
            .verify(message, signature)
            .is_ok()
    }

    /// Each of `items`, in order: whether its signature is its key's. From
    /// [`BATCH_VERIFY_MIN`] items on they are checked together ([`PeerKey::verify_batch`]); only
    /// if the batch fails is each checked on its own, so a forger among them costs one batch
    /// more, and never wins.
    pub fn verify_each(items: &[(&PeerKey, &[u8], &[u8; SIGNATURE_LEN])]) -> Vec<bool> {
        let one_by_one = || items.iter().map(|(k, m, s)| k.verify(m, *s)).collect();
        if items.len() < BATCH_VERIFY_MIN {
            return one_by_one();
        }
        if Self::verify_batch(items) {
            vec![true; items.len()]
        } else {
            one_by_one()
        }
    }

    /// Checks many `(key, message, signature)` triples at once with Ed25519 batch verification
    /// (ed25519-dalek; about a third of the cost per signature of one-by-one checks at a few
    /// hundred). True only if every signature is valid. False says only that some triple failed
    /// (or a key is not a point, or is of small order): the caller finds which with
    /// [`PeerKey::verify`], which stays the judge of a single signature.
    pub fn verify_batch(items: &[(&PeerKey, &[u8], &[u8; SIGNATURE_LEN])]) -> bool {
        let mut keys = Vec::with_capacity(items.len());
        for (key, _, _) in items {
            match ed25519_dalek::VerifyingKey::from_bytes(&key.0) {
                Ok(k) if !k.is_weak() => keys.push(k),
                _ => return false,
            }
        }
        let messages: Vec<&[u8]> = items.iter().map(|(_, m, _)| *m).collect();
        let signatures: Vec<ed25519_dalek::Signature> = items
            .iter()
            .map(|(_, _, s)| ed25519_dalek::Signature::from_bytes(s))
            .collect();
        ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok()
    }
}

impl fmt::Debug for PeerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerKey({})", self.peer_id())
    }
}

impl fmt::Display for PeerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.peer_id())
    }
}

/// Why an identity could not be created, read or written.
#[derive(Debug, Error)]
pub enum IdentityError {
    /// The system random generator failed.
    #[error("could not generate an Ed25519 key")]
    Generate,
    /// The bytes are not an Ed25519 PKCS#8 document.
    #[error("not an Ed25519 PKCS#8 key: {0}")]
    InvalidKey(String),
    /// Reading or writing the key file failed.
    #[error("identity file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// DER prefix of an Ed25519 PKCS#8 v1 document (RFC 8410); the 32-byte seed follows.
const PKCS8_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
/// DER prefix of an Ed25519 PKCS#8 v2 document as ring writes it; seed, then the public key.
const PKCS8_V2_PREFIX: [u8; 16] = [
    0x30, 0x51, 0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// A peer's signing identity: an Ed25519 key pair and its PKCS#8 document.
pub struct Identity {
    keypair: Ed25519KeyPair,
    pkcs8: Vec<u8>,
    public: PeerKey,
}

impl Identity {
    /// A fresh random identity.
    pub fn generate() -> Result<Self, IdentityError> {
        let document = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| IdentityError::Generate)?;
        Self::from_pkcs8(document.as_ref())
    }

    /// An identity from a PKCS#8 document (v2 as ring writes it, or v1).
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, IdentityError> {
        let keypair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
            .map_err(|e| IdentityError::InvalidKey(e.to_string()))?;
        let mut public = [0u8; PUBLIC_KEY_LEN];
        public.copy_from_slice(keypair.public_key().as_ref());
        let identity = Self {
            keypair,
            pkcs8: pkcs8.to_vec(),
            public: PeerKey(public),
        };
        if identity.secret_seed().is_none() {
            return Err(IdentityError::InvalidKey(
                "unsupported PKCS#8 layout (expected RFC 8410 Ed25519)".into(),
            ));
        }
        Ok(identity)
    }

    /// The PKCS#8 document of this identity.
    pub fn to_pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The 32-byte Ed25519 seed (secret key), for building the libp2p identity of the same key.
    pub fn secret_seed(&self) -> Option<[u8; 32]> {
        let body = self
            .pkcs8
            .strip_prefix(&PKCS8_V2_PREFIX)
            .or_else(|| self.pkcs8.strip_prefix(&PKCS8_V1_PREFIX))?;
        body.get(..32)?.try_into().ok()
    }

    /// The public key (this peer's subkey).
    pub fn public_key(&self) -> PeerKey {
        self.public
    }

    /// This peer's libp2p peer id.
    pub fn peer_id(&self) -> String {
        self.public.peer_id()
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        let mut out = [0u8; SIGNATURE_LEN];
        out.copy_from_slice(self.keypair.sign(message).as_ref());
        out
    }

    /// Writes the PKCS#8 document to a new file (mode 0600 on Unix). Refuses to overwrite.
    pub fn save(&self, path: &Path) -> Result<(), IdentityError> {
        write_private_file(path, &self.pkcs8).map_err(|source| IdentityError::Io {
            path: path.to_owned(),
            source,
        })
    }

    /// Reads an identity from a PKCS#8 file.
    pub fn load(path: &Path) -> Result<Self, IdentityError> {
        let bytes = fs::read(path).map_err(|source| IdentityError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_pkcs8(&bytes)
    }

    /// Reads the identity at `path`, or creates and saves a new one if the file does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self, IdentityError> {
        if path.exists() {
            return Self::load(path);
        }
        let identity = Self::generate()?;
        identity.save(path)?;
        Ok(identity)
    }
}

/// Writes `bytes` to a new file at `path` that only its owner can read (mode 0600 on Unix),
/// synced to disk; refuses to overwrite. Identity files and network keys are written with it.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret.
        f.debug_struct("Identity")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "swarm-progress-identity-{}-{name}",
            std::process::id()
        ));
        let _ = fs::remove_file(&dir);
        dir
    }

    #[test]
    fn sign_and_verify() {
        let id = Identity::generate().unwrap();
        let sig = id.sign(b"hello");
        assert!(id.public_key().verify(b"hello", &sig));
        assert!(!id.public_key().verify(b"hellO", &sig));
        let other = Identity::generate().unwrap();
        assert!(!other.public_key().verify(b"hello", &sig));
    }

    #[test]
    fn peer_id_has_the_libp2p_ed25519_shape() {
        let id = Identity::generate().unwrap();
        let peer_id = id.peer_id();
        assert!(peer_id.starts_with("12D3KooW"), "{peer_id}");
        assert_eq!(peer_id.len(), 52);
        let decoded = bs58::decode(&peer_id).into_vec().unwrap();
        assert_eq!(&decoded[6..], id.public_key().as_bytes());
    }

    #[test]
    fn a_peer_id_parses_back_to_its_key_and_other_strings_are_refused() {
        let id = Identity::generate().unwrap();
        assert_eq!(PeerKey::from_peer_id(&id.peer_id()), Ok(id.public_key()));
        assert!(matches!(
            PeerKey::from_peer_id("not base58: 0OIl"),
            Err(PeerIdError::NotBase58(_))
        ));
        // A base58 string of the right kind but one byte short, and a sha256 multihash (RSA
        // peer ids, `Qm…`).
        let short =
            bs58::encode(&bs58::decode(id.peer_id()).into_vec().unwrap()[..37]).into_string();
        assert_eq!(PeerKey::from_peer_id(&short), Err(PeerIdError::NotEd25519));
        assert_eq!(
            PeerKey::from_peer_id("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"),
            Err(PeerIdError::NotEd25519)
        );
    }

    #[test]
    fn save_load_round_trip_with_private_mode() {
        let path = temp_path("roundtrip");
        let id = Identity::generate().unwrap();
        id.save(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let loaded = Identity::load(&path).unwrap();
        assert_eq!(loaded.public_key(), id.public_key());
        assert_eq!(loaded.secret_seed(), id.secret_seed());
        // Refuses to overwrite.
        assert!(matches!(id.save(&path), Err(IdentityError::Io { .. })));
        // load_or_create loads the existing one.
        assert_eq!(
            Identity::load_or_create(&path).unwrap().public_key(),
            id.public_key()
        );
        fs::remove_file(&path).unwrap();
        let created = Identity::load_or_create(&path).unwrap();
        assert_eq!(
            Identity::load(&path).unwrap().public_key(),
            created.public_key()
        );
        fs::remove_file(&path).unwrap();
    }

    #[test]
    fn v1_pkcs8_is_accepted_with_the_same_key() {
        let id = Identity::generate().unwrap();
        let mut v1 = PKCS8_V1_PREFIX.to_vec();
        v1.extend_from_slice(&id.secret_seed().unwrap());
        let from_v1 = Identity::from_pkcs8(&v1).unwrap();
        assert_eq!(from_v1.public_key(), id.public_key());
    }

    #[test]
    fn garbage_and_missing_files_are_errors() {
        assert!(matches!(
            Identity::from_pkcs8(b"not a key"),
            Err(IdentityError::InvalidKey(_))
        ));
        assert!(matches!(
            Identity::from_pkcs8(&[]),
            Err(IdentityError::InvalidKey(_))
        ));
        let missing = temp_path("missing");
        assert!(matches!(
            Identity::load(&missing),
            Err(IdentityError::Io { .. })
        ));
    }

    #[test]
    fn debug_does_not_print_the_secret() {
        let id = Identity::generate().unwrap();
        let shown = format!("{id:?}");
        assert!(shown.contains("12D3KooW"));
        assert!(!shown.contains("pkcs8"));
    }
}
