//! [`Command`]: what a [`super::NodeHandle`] asks of the event loop, each with the oneshot
//! channel its answer comes back on.

use libp2p::PeerId;
use tokio::sync::oneshot;

use super::gossip::PushSink;
use super::NodeInfo;
use crate::dht::DhtError;
use crate::identity::PeerKey;
use crate::records::{ProgressRecord, SignedEntry};

/// Requests to the event loop.
pub(super) enum Command {
    Store {
        key: String,
        subkey: PeerKey,
        entry: SignedEntry,
        reply: oneshot::Sender<Result<bool, DhtError>>,
    },
    Get {
        key: String,
        latest: bool,
        reply: oneshot::Sender<Result<Option<ProgressRecord>, DhtError>>,
    },
    /// v2: publish an entry on the key's topic.
    Push {
        key: String,
        subkey: PeerKey,
        entry: SignedEntry,
        reply: oneshot::Sender<Result<(), DhtError>>,
    },
    /// v2: deliver the key's accepted gossip entries to `sink`.
    Subscribe {
        key: String,
        sink: PushSink,
        reply: oneshot::Sender<Result<(), DhtError>>,
    },
    PushRaw {
        key: String,
        value: Vec<u8>,
        reply: oneshot::Sender<Result<(), DhtError>>,
    },
    PutRaw {
        key: String,
        value: Vec<u8>,
        reply: oneshot::Sender<Result<(), DhtError>>,
    },
    Info {
        reply: oneshot::Sender<NodeInfo>,
    },
    Block {
        peers: Vec<PeerId>,
        blocked: bool,
        reply: oneshot::Sender<Result<(), DhtError>>,
    },
    Stop,
}
