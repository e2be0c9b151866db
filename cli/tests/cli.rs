//! The `swarm-progress` binary, run as a user would.

use std::process::Command;

/// Generous bound for conditions that normally take well under a second (CI is a loaded
/// 2-core machine).
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(20);

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_swarm-progress"))
}

#[test]
fn demo_runs_two_epochs_and_prints_their_summary() {
    let output = binary()
        .args([
            "demo",
            "--peers",
            "3",
            "--epochs",
            "2",
            "--quiet",
            "--period-ms",
            "50",
        ])
        .args(["--target-batch-size", "400", "--timeout", "100"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "exit {:?}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("3 trainers, target 400 samples per epoch, 2 epochs"),
        "{stdout}"
    );
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| epoch"))
        .collect();
    assert_eq!(rows.len(), 2, "{stdout}");
    assert!(
        rows[0].starts_with("| 0 |") && rows[1].starts_with("| 1 |"),
        "{stdout}"
    );
    // Every row: 3 peers left the epoch with at least the target.
    for row in rows {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert_eq!(cells[3], "3", "{row}");
        assert!(cells[4].parse::<u64>().unwrap() >= 400, "{row}");
    }
}

#[test]
fn bad_arguments_exit_with_code_two() {
    for args in [
        vec!["demo", "--peers", "0"],
        vec!["demo", "--peers", "many"],
        vec!["demo", "--bogus"],
        vec!["demo", "--http", "nowhere"],
        vec!["node", "--status-interval", "0"],
        vec!["node", "--http", "nowhere"],
        vec!["node", "--protocol", "v3"],
        vec!["demo", "--protocol", "push"],
        vec!["nonsense"],
    ] {
        let output = binary().args(&args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(!output.stderr.is_empty(), "{args:?}: no message");
    }
}

#[test]
fn keygen_writes_a_private_identity_and_refuses_to_overwrite() {
    let dir = std::env::temp_dir().join(format!("swarm-progress-keygen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("id.key");
    let _ = std::fs::remove_file(&path);
    let output = binary()
        .args(["keygen", "--out"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(output.status.success());
    let peer_id = String::from_utf8(output.stdout).unwrap();
    let loaded = swarm_progress::Identity::load(&path).unwrap();
    assert_eq!(peer_id.trim(), loaded.peer_id());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let again = binary()
        .args(["keygen", "--out"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!again.status.success());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A running child whose stdout lines arrive on a channel; killed on drop.
struct Child {
    process: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Child {
    fn spawn(args: &[&str]) -> Child {
        Self::spawn_with_stderr(args, std::process::Stdio::null())
    }

    fn spawn_with_stderr(args: &[&str], stderr: std::process::Stdio) -> Child {
        let mut process = binary()
            .args(args)
            // Layered over the defaults through the environment: a livelier refresh for tests.
            .env("SWARM_PROGRESS__TRACKER__MAX_REFRESH_PERIOD", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let stdout = process.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Child { process, lines }
    }

    /// The first line (from now on) that satisfies `wanted`, within the test's patience.
    fn line_where(&self, wanted: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = std::time::Instant::now() + PATIENCE;
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) if wanted(&line) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }

    fn listen_addr(&self) -> String {
        let line = self
            .line_where(|l| l.starts_with("listening on "))
            .expect("the node printed its address");
        line.trim_start_matches("listening on ").to_owned()
    }

    /// Sends SIGTERM and waits (bounded) for the exit code.
    fn terminate(&mut self) -> Option<i32> {
        let pid = self.process.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = std::time::Instant::now() + PATIENCE;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.process.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn tracker_via(addr: &str, prefix: &str) -> swarm_progress::ProgressTracker {
    let config = swarm_progress::NodeConfig {
        bootstrap: vec![addr.parse().unwrap()],
        request_timeout: std::time::Duration::from_secs(5),
        ..swarm_progress::NodeConfig::default()
    };
    let peer = swarm_progress::KademliaPeer::new(
        std::sync::Arc::new(swarm_progress::Identity::generate().unwrap()),
        config,
        swarm_progress::SystemClock::shared(),
    );
    let config = swarm_progress::TrackerConfig {
        prefix: prefix.into(),
        target_batch_size: 1000,
        min_refresh_period: 0.1,
        default_refresh_period: 0.2,
        max_refresh_period: 0.5,
        request_timeout: 2.0,
        ..swarm_progress::TrackerConfig::default()
    };
    swarm_progress::ProgressTracker::spawn(config, peer).unwrap()
}

#[test]
fn watch_json_sees_a_trackers_progress_through_a_node() {
    let node = Child::spawn(&["node"]);
    let addr = node.listen_addr();
    let mut tracker = tracker_via(&addr, "cli-watch");
    tracker.report_local_progress(0, 123).unwrap();
    let watch = Child::spawn(&[
        "watch",
        "--bootstrap",
        &addr,
        "--prefix",
        "cli-watch",
        "--json",
    ]);
    let line = watch
        .line_where(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .is_ok_and(|v| v["samples_accumulated"] == 123 && v["num_peers"] == 2)
        })
        .expect("watch never showed the tracker's samples");
    let value: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(value["num_clients"], 1, "the watcher itself is a client");
    tracker
        .shutdown_blocking(std::time::Duration::from_secs(5))
        .unwrap();
}

#[test]
fn sigterm_on_a_tracking_node_stores_a_tombstone_that_others_see() {
    let seed = Child::spawn(&["node"]);
    let addr = seed.listen_addr();
    let mut client = Child::spawn(&["node", "--bootstrap", &addr, "--prefix", "cli-leave"]);
    client.listen_addr();
    let mut watcher = tracker_via(&addr, "cli-leave");
    let deadline = std::time::Instant::now() + PATIENCE;
    while watcher.global_progress().num_clients != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            watcher.global_progress()
        );
        watcher.request_refresh();
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(client.terminate(), Some(0), "graceful exit");
    // Long before the entry would expire (60 s), the tombstone removes the client.
    while watcher.global_progress().num_clients != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            watcher.global_progress()
        );
        watcher.request_refresh();
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    watcher
        .shutdown_blocking(std::time::Duration::from_secs(5))
        .unwrap();
}

#[test]
fn an_impossible_setting_exits_two_and_names_the_setting() {
    let output = binary()
        .arg("node")
        .env("SWARM_PROGRESS__TRACKER__PERFORMANCE_EMA_ALPHA", "2")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("tracker.performance_ema_alpha"), "{stderr}");

    let dir = std::env::temp_dir().join(format!("swarm-progress-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(&file, "[dht]\nlisten = [\"not an address\"]\n").unwrap();
    let output = binary()
        .arg("--config")
        .arg(&file)
        .arg("node")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("dht.listen"), "{stderr}");

    let output = binary()
        .args([
            "watch",
            "--bootstrap",
            "/ip4/127.0.0.1/tcp/1",
            "--prefix",
            "x",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "bootstrap without /p2p/");
    assert!(String::from_utf8_lossy(&output.stderr).contains("dht.bootstrap"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A minimal HTTP/1.1 GET on loopback; returns (status line, body).
fn http_get(base: &str, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let host = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (
        head.lines().next().unwrap_or("").to_owned(),
        body.to_owned(),
    )
}

#[test]
fn metrics_status_and_healthz_answer_on_a_tracking_node() {
    let node = Child::spawn(&[
        "node",
        "--prefix",
        "cli-obs",
        "--http",
        "127.0.0.1:0",
        "--protocol",
        "v2",
    ]);
    let base = node
        .line_where(|l| l.starts_with("http on "))
        .expect("the node printed its http address")
        .trim_start_matches("http on ")
        .to_owned();
    let (status, body) = http_get(&base, "/metrics");
    assert!(status.contains("200"), "{status}");
    for series in [
        "swarm_progress_global_epoch",
        "swarm_progress_samples_accumulated",
        "swarm_progress_peers",
        "swarm_progress_clients",
        "swarm_progress_reports_total",
        "swarm_progress_tracker_fetches_total{outcome=\"ok\"}",
        "swarm_progress_store_latency_seconds_bucket",
        "swarm_progress_fetch_latency_seconds_count",
        "swarm_progress_dht_stores_total{outcome=\"ok\"}",
        "swarm_progress_rejected_entries_total{reason=\"bad_signature\"}",
        "swarm_progress_actor_restarts_total{actor=\"fetcher\"}",
        "swarm_progress_up 1",
        "swarm_progress_publishes_total{reason=\"first\"} 1",
        "swarm_progress_gossip_messages_total{outcome=\"duplicate\"}",
        "swarm_progress_gossip_mesh_peers",
    ] {
        assert!(body.contains(series), "missing {series} in\n{body}");
    }
    let (status, body) = http_get(&base, "/status");
    assert!(status.contains("200"), "{status}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["tracker"]["health"], "running");
    assert_eq!(json["tracker"]["protocol"], "v2");
    assert_eq!(json["tracker"]["local"]["client_mode"], true);
    assert_eq!(json["tracker"]["global"]["target_batch_size"], 4096);
    assert!(json["node"]["peer_id"]
        .as_str()
        .unwrap()
        .starts_with("12D3KooW"));
    let (status, body) = http_get(&base, "/healthz");
    assert!(status.contains("200") && body == "ok", "{status} {body}");
}

#[test]
fn json_logs_carry_the_prefix_and_peer_id_in_spans() {
    let path = std::env::temp_dir().join(format!("swarm-progress-logs-{}", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    let mut node = Child::spawn_with_stderr(
        &["--log-format", "json", "node", "--prefix", "cli-logs"],
        file.into(),
    );
    node.listen_addr();
    assert_eq!(node.terminate(), Some(0));
    let logs = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["span"]["prefix"] == "cli-logs"
            && l["span"]["peer"]
                .as_str()
                .is_some_and(|p| p.starts_with("12D3KooW"))),
        "{logs}"
    );
}
