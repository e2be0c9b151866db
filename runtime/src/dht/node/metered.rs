//! Byte metering of a node's connections: [`Metered`] wraps the raw stream of every TCP and
//! in-memory connection (below Noise and Yamux, so the counts are what goes over the wire,
//! encryption and framing included) and adds the bytes read and written to the node's
//! [`NodeStats`].

use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::{AsyncRead, AsyncWrite};

use super::NodeStats;

/// A stream whose traffic is counted in `stats.bytes_in` / `stats.bytes_out`.
#[derive(Debug)]
pub struct Metered<S> {
    inner: S,
    stats: Arc<NodeStats>,
}

impl<S> Metered<S> {
    /// Wraps `inner`, counting into `stats`.
    pub fn new(inner: S, stats: Arc<NodeStats>) -> Self {
        Self { inner, stats }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Metered<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(n)) = &polled {
            this.stats.bytes_in.fetch_add(*n as u64, Ordering::Relaxed);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Metered<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &polled {
            this.stats.bytes_out.fetch_add(*n as u64, Ordering::Relaxed);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn counts_what_passes_in_both_directions() {
        futures::executor::block_on(async {
            let stats = Arc::new(NodeStats::default());
            let mut stream = Metered::new(futures::io::Cursor::new(vec![0u8; 0]), stats.clone());
            stream.write_all(b"hello world").await.unwrap();
            stream.inner.set_position(0);
            let mut back = [0u8; 5];
            stream.read_exact(&mut back).await.unwrap();
            assert_eq!(&back, b"hello");
            assert_eq!(stats.bytes_out.load(Ordering::Relaxed), 11);
            assert_eq!(stats.bytes_in.load(Ordering::Relaxed), 5);
        });
    }
}
