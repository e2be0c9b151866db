//! Scenarios for the Shadow network simulator (`swarm-progress-bench shadow-config`): the
//! configuration and network graph of a run of N standalone peers ([`super::standalone`]), one
//! process per simulated host, and the seed's key (so its address is in every other peer's
//! arguments before anything runs).
//!
//! The configuration is written as JSON, which is YAML 1.2 and what Shadow reads. Two graphs:
//!
//! - **calibration**: one network node, 1 Gbit/s both ways, 50 µs one way (0.1 ms round trip),
//!   no loss: what process mode sees on loopback;
//! - **volunteer**: five regions ([`REGIONS`]) with round trips of 20 ms inside a region and
//!   70-250 ms between regions, 0.1 % loss on every path, and home links of 100 Mbit/s down and
//!   20 Mbit/s up; the seed sits in the first region on a 1 Gbit/s link (a small cloud VM).
//!   Peers are spread over the regions round-robin.
//!
//! Simulated time starts at 2000-01-01 00:00:00 UTC ([`SIMULATION_EPOCH`]); every peer starts its
//! epoch phase at the same simulated time, `--start-at`.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::BenchError;

/// Unix time at which Shadow's simulated clock starts.
pub const SIMULATION_EPOCH: f64 = 946_684_800.0;

/// The port every peer listens on (each on its own host address).
pub const PORT: u16 = 4001;

/// The volunteer graph's regions: name and one-way latency to each region, in milliseconds
/// (half the round trip).
pub const REGIONS: [(&str, [u32; 5]); 5] = [
    ("north_america_east", [10, 35, 45, 100, 60]),
    ("north_america_west", [35, 10, 75, 60, 90]),
    ("europe", [45, 75, 10, 125, 100]),
    ("east_asia", [100, 60, 125, 10, 125]),
    ("south_america", [60, 90, 100, 125, 10]),
];

/// Which network the peers are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Graph {
    /// Like loopback: 1 Gbit/s, 0.1 ms round trip, no loss.
    Calibration,
    /// Five regions, home links, a little loss.
    Volunteer,
}

impl Graph {
    /// Parses a graph name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "calibration" => Some(Graph::Calibration),
            "volunteer" => Some(Graph::Volunteer),
            _ => None,
        }
    }

    /// The graph's name.
    pub fn name(self) -> &'static str {
        match self {
            Graph::Calibration => "calibration",
            Graph::Volunteer => "volunteer",
        }
    }

    /// The GML text of the graph.
    pub fn gml(self) -> String {
        let mut out = String::from("graph [\n  directed 0\n");
        match self {
            Graph::Calibration => {
                out.push_str(
                    "  node [\n    id 0\n    label \"lan\"\n    host_bandwidth_down \"1 Gbit\"\n    \
                     host_bandwidth_up \"1 Gbit\"\n  ]\n  edge [\n    source 0\n    target 0\n    \
                     latency \"50 us\"\n    packet_loss 0.0\n  ]\n",
                );
            }
            Graph::Volunteer => {
                for (id, (name, _)) in REGIONS.iter().enumerate() {
                    let _ = write!(
                        out,
                        "  node [\n    id {id}\n    label \"{name}\"\n    host_bandwidth_down \
                         \"100 Mbit\"\n    host_bandwidth_up \"20 Mbit\"\n  ]\n"
                    );
                }
                for (a, (_, latencies)) in REGIONS.iter().enumerate() {
                    for (b, ms) in latencies.iter().enumerate().skip(a) {
                        let _ = write!(
                            out,
                            "  edge [\n    source {a}\n    target {b}\n    latency \"{ms} ms\"\n    \
                             packet_loss 0.001\n  ]\n"
                        );
                    }
                }
            }
        }
        out.push_str("]\n");
        out
    }

    /// The network node of peer `index`.
    fn node_of(self, index: usize) -> usize {
        match self {
            Graph::Calibration => 0,
            Graph::Volunteer => index % REGIONS.len(),
        }
    }
}

/// The address of simulated host `index`: 11.x.y.z, never .0 or .255 in the last octet.
pub fn host_addr(index: usize) -> Ipv4Addr {
    let last = 1 + (index % 254) as u8;
    let rest = index / 254;
    Ipv4Addr::new(11, (rest / 256 % 256) as u8, (rest % 256) as u8, last)
}

/// A scenario: N standalone peers on one graph.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Peers (host `peer0` is the seed).
    pub peers: usize,
    /// The network.
    pub graph: Graph,
    /// The `swarm-progress-bench` binary the hosts run (absolute).
    pub binary: PathBuf,
    /// The workload flags every peer gets (`--peers`, `--protocol`, `--refresh`, ...).
    pub workload_args: Vec<String>,
    /// Simulated seconds from the start to the common start of the epoch phase: the peers
    /// join in the first part of it.
    pub setup_s: f64,
    /// Simulated seconds over which the peers' processes are started (after the seed's).
    pub join_spread_s: f64,
    /// The epoch phase, seconds.
    pub duration_s: f64,
    /// How long peers train on after their phase, seconds.
    pub linger_s: f64,
    /// Shadow's worker threads.
    pub parallelism: usize,
}

/// What [`Scenario::write`] produced.
#[derive(Debug, Clone)]
pub struct Written {
    /// The Shadow configuration.
    pub config: PathBuf,
    /// Where the peers write their results.
    pub results: PathBuf,
    /// The seed's address.
    pub seed_addr: String,
}

impl Scenario {
    /// The Shadow configuration of the scenario, with the seed's peer id and key file, the
    /// graph file and the results directory (absolute paths: Shadow resolves them from its
    /// working directory).
    pub fn config(
        &self,
        seed_peer_id: &str,
        seed_key: &Path,
        graph: &Path,
        results: &Path,
    ) -> Value {
        let seed_addr = format!("/ip4/{}/tcp/{PORT}/p2p/{seed_peer_id}", host_addr(0));
        let start_at = SIMULATION_EPOCH + self.setup_s;
        let stop_s = (self.setup_s + self.duration_s + self.linger_s + 30.0).ceil();
        let mut hosts = serde_json::Map::new();
        for index in 0..self.peers {
            let mut args: Vec<String> = vec!["standalone".into()];
            args.extend(self.workload_args.iter().cloned());
            args.extend([
                "--index".into(),
                index.to_string(),
                "--listen".into(),
                format!("/ip4/{}/tcp/{PORT}", host_addr(index)),
                "--fresh-ports".into(),
                "--start-at".into(),
                format!("{start_at:.3}"),
                "--linger".into(),
                format!("{}", self.linger_s),
                "--out".into(),
                results.join(format!("{index}.json")).display().to_string(),
            ]);
            if index == 0 {
                args.extend(["--key-file".into(), seed_key.display().to_string()]);
            } else {
                args.extend(["--bootstrap".into(), seed_addr.clone()]);
            }
            // The seed first, then the others spread over the join window.
            let start_time = if index == 0 {
                1.0
            } else {
                2.0 + self.join_spread_s * (index - 1) as f64 / self.peers.max(2) as f64
            };
            let mut host = json!({
                "network_node_id": self.graph.node_of(index),
                "ip_addr": host_addr(index).to_string(),
                "processes": [{
                    "path": self.binary.display().to_string(),
                    "args": args,
                    "environment": { "RUST_LOG": "warn" },
                    // Shadow's times are integers with a unit.
                    "start_time": format!("{} ms", (start_time * 1000.0).round() as u64),
                    "expected_final_state": { "exited": 0 },
                }],
            });
            if index == 0 && self.graph == Graph::Volunteer {
                host["bandwidth_down"] = json!("1 Gbit");
                host["bandwidth_up"] = json!("1 Gbit");
            }
            hosts.insert(format!("peer{index}"), host);
        }
        json!({
            "general": {
                "stop_time": format!("{stop_s}s"),
                "model_unblocked_syscall_latency": true,
                "parallelism": self.parallelism,
                "progress": false,
            },
            "network": {
                "graph": { "type": "gml", "file": { "path": graph.display().to_string() } },
            },
            "hosts": hosts,
        })
    }

    /// Writes `dir/shadow.yaml`, `dir/graph.gml`, `dir/seed.key` and an empty `dir/results/`.
    pub fn write(&self, dir: &Path) -> Result<Written, BenchError> {
        let io = |path: &Path, e: &dyn std::fmt::Display| {
            BenchError::Output(format!("{}: {e}", path.display()))
        };
        if self.peers == 0 {
            return Err(BenchError::Options("--peers must be at least 1".into()));
        }
        if self.peers > 254 * 256 * 256 {
            return Err(BenchError::Options(
                "--peers: at most 16,646,144 hosts have an address".into(),
            ));
        }
        let results = dir.join("results");
        std::fs::create_dir_all(&results).map_err(|e| io(&results, &e))?;
        let dir = dir.canonicalize().map_err(|e| io(dir, &e))?;
        let results = dir.join("results");
        let key = dir.join("seed.key");
        let seed = swarm_progress::identity::Identity::generate()
            .map_err(|e| BenchError::Start(e.to_string()))?;
        seed.save(&key).map_err(|e| io(&key, &e))?;
        let graph = dir.join("graph.gml");
        std::fs::write(&graph, self.graph.gml()).map_err(|e| io(&graph, &e))?;
        let config = dir.join("shadow.yaml");
        let text =
            serde_json::to_string_pretty(&self.config(&seed.peer_id(), &key, &graph, &results))
                .map_err(|e| io(&config, &e))?;
        std::fs::write(&config, text + "\n").map_err(|e| io(&config, &e))?;
        Ok(Written {
            config,
            results,
            seed_addr: format!("/ip4/{}/tcp/{PORT}/p2p/{}", host_addr(0), seed.peer_id()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_addresses_are_distinct_and_never_end_in_0_or_255() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..100_000 {
            let a = host_addr(i);
            assert!(a.octets()[3] != 0 && a.octets()[3] != 255, "{a}");
            assert!(seen.insert(a), "{a} twice");
        }
        assert_eq!(host_addr(0), Ipv4Addr::new(11, 0, 0, 1));
    }

    #[test]
    fn the_volunteer_graph_is_symmetric_with_round_trips_from_20_to_250_ms() {
        for (a, (_, row)) in REGIONS.iter().enumerate() {
            for (b, ms) in row.iter().enumerate() {
                assert_eq!(*ms, REGIONS[b].1[a], "{a} {b}");
                let rtt = 2 * ms;
                assert!((20..=250).contains(&rtt), "{a} {b}: {rtt}");
            }
        }
        let gml = Graph::Volunteer.gml();
        // 5 nodes, 15 edges (the upper triangle with the self-loops).
        assert_eq!(gml.matches("  node [").count(), 5);
        assert_eq!(gml.matches("  edge [").count(), 15);
        assert_eq!(gml.matches('[').count(), gml.matches(']').count());
    }
}
