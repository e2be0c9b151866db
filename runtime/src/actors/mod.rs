//! The running tracker (ARCHITECTURE.md, "The running tracker"), private to this crate: the [`Supervisor`] and its
//! children ([`StateKeeper`], [`Reporter`], [`Fetcher`], and the DHT gateway), and the messages
//! between them. A trainer reaches them only through the [`crate::ProgressTracker`] handle.
//!
//! [`StateKeeper`]: state_keeper::StateKeeper
//! [`Reporter`]: reporter::Reporter
//! [`Fetcher`]: fetcher::Fetcher
//! [`Supervisor`]: supervisor::Supervisor

pub(crate) mod child;
pub(crate) mod fetcher;
pub(crate) mod messages;
pub(crate) mod reporter;
pub(crate) mod signing_clock;
pub(crate) mod state_keeper;
pub(crate) mod supervisor;
