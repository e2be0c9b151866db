//! [`FreshPorts`]: a transport wrapper that dials every outbound connection from a fresh local
//! port (`PortUse::New`) instead of the listening port (`PortUse::Reuse`, libp2p's default for
//! the swarm's dials). Port reuse helps NAT traversal on real networks, but the Shadow network
//! simulator does not emulate it: there every dial of a listening node failed with
//! `EADDRINUSE`. `NodeConfig::dial_from_fresh_ports` turns this on.

use std::pin::Pin;
use std::task::{Context, Poll};

use libp2p::core::transport::{DialOpts, ListenerId, PortUse, TransportError, TransportEvent};
use libp2p::core::Transport;
use libp2p::Multiaddr;

/// `T`, with every dial from a fresh port when `fresh` is set.
pub(super) struct FreshPorts<T> {
    inner: T,
    fresh: bool,
}

impl<T> FreshPorts<T> {
    /// Wraps `inner`; dials from fresh ports only if `fresh`.
    pub(super) fn new(inner: T, fresh: bool) -> Self {
        Self { inner, fresh }
    }
}

impl<T: Transport + Unpin> Transport for FreshPorts<T> {
    type Output = T::Output;
    type Error = T::Error;
    type ListenerUpgrade = T::ListenerUpgrade;
    type Dial = T::Dial;

    fn listen_on(
        &mut self,
        id: ListenerId,
        addr: Multiaddr,
    ) -> Result<(), TransportError<Self::Error>> {
        self.inner.listen_on(id, addr)
    }

    fn remove_listener(&mut self, id: ListenerId) -> bool {
        self.inner.remove_listener(id)
    }

    fn dial(
        &mut self,
        addr: Multiaddr,
        mut opts: DialOpts,
    ) -> Result<Self::Dial, TransportError<Self::Error>> {
        if self.fresh {
            opts.port_use = PortUse::New;
        }
        self.inner.dial(addr, opts)
    }

    fn poll(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<TransportEvent<Self::ListenerUpgrade, Self::Error>> {
        Pin::new(&mut self.get_mut().inner).poll(cx)
    }
}
