//! [`NodeThreads`]: a fixed set of Arbiter threads that many nodes share. By default each node
//! runs on a thread of its own, which is right for one peer per process; a host that runs
//! hundreds of nodes (scale mode, a machine with several trainers) puts them on a few shared
//! threads instead, so it pays for a few runtimes and stacks and few context switches rather
//! than one thread per node.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix::{Arbiter, ArbiterHandle, System};

/// Shared Arbiter threads, handed out round-robin. Cloning shares the same threads; they stop
/// when the last clone is dropped (nodes still on them stop with them).
#[derive(Clone)]
pub struct NodeThreads {
    inner: Arc<Inner>,
}

struct Inner {
    arbiters: Vec<Arbiter>,
    next: AtomicUsize,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for arbiter in &self.arbiters {
            arbiter.stop();
        }
    }
}

impl std::fmt::Debug for NodeThreads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeThreads")
            .field("threads", &self.inner.arbiters.len())
            .finish()
    }
}

impl NodeThreads {
    /// `threads` new Arbiter threads (at least one). Needs a running actix `System` on the
    /// calling thread (an error says so otherwise); fails if a thread or its runtime cannot be
    /// created.
    pub fn new(threads: usize) -> std::io::Result<Self> {
        if System::try_current().is_none() {
            return Err(std::io::Error::other(
                "NodeThreads::new needs a running actix System on the calling thread",
            ));
        }
        let arbiters = (0..threads.max(1))
            .map(|_| Arbiter::try_new())
            .collect::<std::io::Result<_>>()?;
        Ok(Self {
            inner: Arc::new(Inner {
                arbiters,
                next: AtomicUsize::new(0),
            }),
        })
    }

    /// How many threads there are.
    pub fn len(&self) -> usize {
        self.inner.arbiters.len()
    }

    /// Always false: there is at least one thread.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The thread for the next node (round-robin).
    pub fn pick(&self) -> ArbiterHandle {
        let i = self.inner.next.fetch_add(1, Ordering::Relaxed) % self.inner.arbiters.len();
        self.inner.arbiters[i].handle()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn threads_are_handed_out_round_robin() {
        let _system = actix_rt::System::new();
        let threads = NodeThreads::new(3).unwrap();
        assert_eq!(threads.len(), 3);
        let ids: Vec<_> = (0..6)
            .map(|_| {
                let (tx, rx) = std::sync::mpsc::channel();
                assert!(threads.pick().spawn(async move {
                    let _ = tx.send(std::thread::current().id());
                }));
                rx.recv().unwrap()
            })
            .collect();
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 3);
        assert_eq!(ids[0..3], ids[3..6]);
    }

    #[test]
    fn zero_threads_means_one() {
        let _system = actix_rt::System::new();
        assert_eq!(NodeThreads::new(0).unwrap().len(), 1);
    }
}
