//! Integration tests of swarm-progress, one binary with a module per area (build time matters).

mod api_surface;
mod faults;
mod garbage;
mod kademlia;
mod liar;
mod private;
mod push;
mod record_flow;
mod skew;
mod supervision;
mod support;
mod swarm;
mod tombstone;
mod tracker_basics;
