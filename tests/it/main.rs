//! Integration tests of swarm-progress, one binary with a module per area (build time matters).

mod record_flow;
mod support;
mod tracker_basics;
