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
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {:?}\n{stdout}\n{stderr}",
        output.status,
    );
    // A normal run warns of nothing (it used to warn that the last tombstones were not stored).
    assert!(stderr.trim().is_empty(), "{stderr}");
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
        self.signal("-TERM")
    }

    /// Sends `signal` (as `kill` names it) and waits (bounded) for the exit code.
    fn signal(&mut self, signal: &str) -> Option<i32> {
        let pid = self.process.id().to_string();
        Command::new("kill").args([signal, &pid]).status().unwrap();
        self.wait()
    }

    /// Waits (bounded) for the exit code.
    fn wait(&mut self) -> Option<i32> {
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
    let tracker = tracker_via(&addr, "cli-watch");
    tracker.report_local_progress(0, 123).unwrap();
    let stderr_path =
        std::env::temp_dir().join(format!("swarm-progress-watch-{}", std::process::id()));
    let mut watch = Child::spawn_with_stderr(
        &[
            "watch",
            "--bootstrap",
            &addr,
            "--prefix",
            "cli-watch",
            "--json",
        ],
        std::fs::File::create(&stderr_path).unwrap().into(),
    );
    let line = watch
        .line_where(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .is_ok_and(|v| v["samples_accumulated"] == 123 && v["num_peers"] == 2)
        })
        .expect("watch never showed the tracker's samples");
    let value: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(value["num_clients"], 1, "the watcher itself is a client");
    // The swarm moves to epoch 2, then its only trainer leaves: the watcher keeps the epoch
    // the swarm reached (it follows the swarm's epoch) instead of falling back to 0.
    tracker.report_local_progress(2, 5).unwrap();
    watch
        .line_where(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .is_ok_and(|v| v["epoch"] == 2 && v["num_peers"] == 2)
        })
        .expect("watch never showed epoch 2");
    tracker
        .shutdown_blocking(std::time::Duration::from_secs(5))
        .unwrap();
    let alone = watch
        .line_where(|l| {
            serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| v["num_peers"] == 1)
        })
        .expect("watch never saw the trainer leave");
    let alone: serde_json::Value = serde_json::from_str(&alone).unwrap();
    assert_eq!(alone["epoch"], 2, "{alone}");
    // Ctrl-C: a clean exit, its tombstone stored, and nothing to warn about.
    assert_eq!(watch.signal("-INT"), Some(0));
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    std::fs::remove_file(&stderr_path).unwrap();
    assert!(stderr.trim().is_empty(), "{stderr}");
}

/// The README's walk-through: a seed `node` and two `train` processes make a swarm with no
/// code. Both trainers see each other, advance three epochs together and exit 0 with their
/// tombstones stored.
#[test]
fn two_train_processes_and_a_seed_node_advance_epochs_together() {
    let seed = Child::spawn(&["node"]);
    let addr = seed.listen_addr();
    let train = |period: &str| {
        Child::spawn(&[
            "train",
            "--bootstrap",
            &addr,
            "--prefix",
            "cli-train",
            "--target-batch-size",
            "300",
            "--batch-size",
            "10",
            "--period-ms",
            period,
            "--epochs",
            "3",
            "--json",
        ])
    };
    let mut trainers = [train("50"), train("80")];
    for trainer in &trainers {
        trainer
            .line_where(|l| {
                serde_json::from_str::<serde_json::Value>(l)
                    .is_ok_and(|v| v["num_peers"] == 2 && v["num_clients"] == 0)
            })
            .expect("a trainer never counted the other");
    }
    for trainer in &trainers {
        let done = trainer
            .line_where(|l| l.starts_with("trained to epoch "))
            .expect("a trainer did not finish its epochs");
        let epoch: u64 = done
            .trim_start_matches("trained to epoch ")
            .parse()
            .unwrap();
        assert!(epoch >= 3, "{done}");
    }
    for trainer in &mut trainers {
        assert_eq!(trainer.wait(), Some(0), "a trainer failed");
    }
}

#[test]
fn sigterm_on_a_tracking_node_stores_a_tombstone_that_others_see() {
    let seed = Child::spawn(&["node"]);
    let addr = seed.listen_addr();
    let mut client = Child::spawn(&["node", "--bootstrap", &addr, "--prefix", "cli-leave"]);
    client.listen_addr();
    let watcher = tracker_via(&addr, "cli-leave");
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
    let (status, _, body) = http(base, "GET", path, None);
    (status, body)
}

/// A minimal HTTP/1.1 request on loopback with an optional `Accept`; returns (status line,
/// headers, body).
fn http(base: &str, method: &str, path: &str, accept: Option<&str>) -> (String, String, String) {
    use std::io::{Read, Write};
    let host = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let accept = accept
        .map(|a| format!("Accept: {a}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{accept}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    (status.to_owned(), headers.to_lowercase(), body.to_owned())
}

/// Checks a scrape of `base`'s `/metrics` with real parsers of both formats: Prometheus text
/// 0.0.4 by default (every family with help text, counters named `_total`, no `_sum` outside
/// histograms), OpenMetrics when asked for, `HEAD` answered without a body; and with
/// `promtool check metrics` when it is installed. Returns the 0.0.4 body.
fn check_metrics_endpoint(base: &str) -> String {
    use openmetrics_parser::PrometheusType;
    let (status, headers, text) = http(base, "GET", "/metrics", None);
    assert!(status.contains("200"), "{status}");
    assert!(
        headers.contains("content-type: text/plain; version=0.0.4"),
        "{headers}"
    );
    let parsed = openmetrics_parser::prometheus::parse_prometheus(&text)
        .unwrap_or_else(|e| panic!("not Prometheus text 0.0.4: {e:?}\n{text}"));
    assert!(parsed.families.len() > 10, "{text}");
    for (name, family) in &parsed.families {
        assert!(!family.help.is_empty(), "{name} has no help text");
        let is_counter = family.family_type == PrometheusType::Counter;
        assert_eq!(
            is_counter,
            name.ends_with("_total"),
            "{name}: _total iff counter"
        );
        if family.family_type != PrometheusType::Histogram {
            assert!(!name.ends_with("_sum"), "{name}: _sum outside a histogram");
        }
    }
    let (status, headers, openmetrics) = http(
        base,
        "GET",
        "/metrics",
        Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"),
    );
    assert!(status.contains("200"), "{status}");
    assert!(
        headers.contains("content-type: application/openmetrics-text; version=1.0.0"),
        "{headers}"
    );
    assert!(openmetrics.ends_with("# EOF\n"), "{openmetrics}");
    openmetrics_parser::openmetrics::parse_openmetrics(&openmetrics)
        .unwrap_or_else(|e| panic!("not OpenMetrics: {e:?}\n{openmetrics}"));
    let (status, headers, body) = http(base, "HEAD", "/metrics", None);
    assert!(status.contains("200"), "HEAD: {status}");
    assert!(headers.contains("content-type: text/plain"), "{headers}");
    assert!(body.is_empty(), "HEAD has no body: {body}");
    if let Some(verdict) = promtool_check(&text) {
        assert_eq!(verdict, Ok(()), "promtool check metrics\n{text}");
    }
    text
}

/// `promtool check metrics` on `body`: `None` when promtool is not installed, else its verdict
/// (any output, even a warning with exit 0, is a failure).
fn promtool_check(body: &str) -> Option<Result<(), String>> {
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Some(if output.status.success() && said.trim().is_empty() {
        Ok(())
    } else {
        Err(format!("{}: {said}", output.status))
    })
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
    let body = check_metrics_endpoint(&base);
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
        "swarm_progress_network_bytes_total{direction=\"sent\"}",
        "swarm_progress_connected_peers",
        "swarm_progress_dht_store_seconds_total",
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

/// The demo's first trainer serves the same endpoint; scraped mid-run (v2, so that gossip
/// figures exist), it parses in both formats (and passes promtool where installed), and every
/// metric the example Grafana dashboard queries is one it serves.
#[test]
fn the_demos_metrics_parse_and_feed_the_example_dashboard() {
    let demo = Child::spawn(&[
        "demo",
        "--peers",
        "2",
        "--epochs",
        "1000",
        "--quiet",
        "--period-ms",
        "100",
        "--protocol",
        "v2",
        "--http",
        "127.0.0.1:0",
    ]);
    let base = demo
        .line_where(|l| l.contains("metrics and status on http://"))
        .expect("the demo printed its http address");
    let base = base.rsplit("on ").next().unwrap().trim().to_owned();
    let dashboard = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/monitoring/grafana-dashboard.json"
    ))
    .unwrap();
    let queried = metric_names(&dashboard);
    assert!(queried.len() > 15, "{queried:?}");
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let served = metric_names(&check_metrics_endpoint(&base));
        let missing: Vec<_> = queried.difference(&served).collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the dashboard queries metrics the demo does not serve: {missing:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Every `swarm_progress_*` name in `text`.
fn metric_names(text: &str) -> std::collections::BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("swarm_progress_"))
        .map(str::to_owned)
        .collect()
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

/// Runs the binary to completion; returns (exit code, stdout, stderr).
fn run_to_end(args: &[&str]) -> (Option<i32>, String, String) {
    let output = binary().args(args).output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The README's private collaboration, through the binary: a network key, an authority, two
/// tokens; two trainers advance epochs together, a peer without a token is refused at start.
#[test]
fn a_private_collaboration_runs_from_the_command_line() {
    let dir = std::env::temp_dir().join(format!("swarm-progress-private-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = |name: &str| dir.join(name).display().to_string();

    let (code, out, _) = run_to_end(&["keygen", "--network-key", "--out", &path("swarm.key")]);
    assert_eq!(code, Some(0), "{out}");
    let key_text = std::fs::read_to_string(path("swarm.key")).unwrap();
    assert!(key_text.starts_with("/key/swarm/psk/1.0.0/"), "{key_text}");
    let (code, out, _) = run_to_end(&["authority", "new", "--out", &path("authority.key")]);
    assert_eq!(code, Some(0), "{out}");
    let authority = out
        .lines()
        .find_map(|l| l.strip_prefix("authority = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("authority new prints the setting")
        .to_owned();
    let mut peers = Vec::new();
    for name in ["t1", "t2", "t3", "w"] {
        let role = if name == "w" { "client" } else { "trainer" };
        let (code, out, _) = run_to_end(&["keygen", "--out", &path(&format!("{name}.key"))]);
        assert_eq!(code, Some(0));
        let peer = out.trim().to_owned();
        let (code, out, err) = run_to_end(&[
            "authority",
            "issue",
            "--key",
            &path("authority.key"),
            "--peer",
            &peer,
            "--role",
            role,
            "--expires",
            "1d",
            "--out",
            &path(&format!("{name}.token")),
        ]);
        assert_eq!(code, Some(0), "{out}{err}");
        peers.push(peer);
    }
    // Bad arguments name themselves and exit 2.
    let authority_key = path("authority.key");
    for (flag, value) in [("--expires", "3w"), ("--peer", "not-a-peer")] {
        let mut args = vec![
            "authority",
            "issue",
            "--key",
            &authority_key,
            "--peer",
            &peers[0],
            "--expires",
            "1d",
            "--out",
        ];
        let out_path = path("never.token");
        args.push(&out_path);
        let at = args.iter().position(|a| *a == flag).unwrap();
        args[at + 1] = value;
        let (code, _, err) = run_to_end(&args);
        assert_eq!(code, Some(2), "{flag} {value}: {err}");
        assert!(err.contains(flag), "{err}");
    }

    let network_key = path("swarm.key");
    let private = [
        "--network-key-file",
        &network_key,
        "--authority",
        &authority,
    ];
    let mut seed_args = vec!["node"];
    seed_args.extend(private);
    let seed = Child::spawn(&seed_args);
    let addr = seed.listen_addr();
    let train_args = |name: &str, token: bool, epochs: &str| -> Vec<String> {
        let mut args: Vec<String> = [
            "train",
            "--bootstrap",
            &addr,
            "--prefix",
            "cli-private",
            "--target-batch-size",
            "300",
            "--batch-size",
            "10",
            "--period-ms",
            "50",
            "--epochs",
            epochs,
            "--json",
            "--key-file",
            &path(&format!("{name}.key")),
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        if token {
            args.extend(["--token-file".into(), path(&format!("{name}.token"))]);
        }
        args.extend(private.iter().map(|a| a.to_string()));
        args
    };
    let spawn = |args: &[String]| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Child::spawn(&args)
    };
    // A watcher with a client token follows the run; its settings file holds the revocation
    // list, reloaded on SIGHUP.
    let watch_key = path("w.key");
    let watch_token = path("w.token");
    let watch_config = path("watch.toml");
    let write_config = |revoked: &str| {
        std::fs::write(
            &watch_config,
            format!("[tracker]\nauthority = \"{authority}\"\nrevoked_peers = [{revoked}]\n"),
        )
        .unwrap()
    };
    write_config("");
    let mut watch_args = vec![
        "--config",
        &watch_config,
        "watch",
        "--bootstrap",
        &addr,
        "--prefix",
        "cli-private",
        "--target-batch-size",
        "300",
        "--json",
        "--key-file",
        &watch_key,
        "--token-file",
        &watch_token,
    ];
    watch_args.extend(private);
    let watcher = Child::spawn(&watch_args);
    let _long = spawn(&train_args("t3", true, "1000"));
    let mut trainers = [
        spawn(&train_args("t1", true, "2")),
        spawn(&train_args("t2", true, "2")),
    ];
    for trainer in &trainers {
        trainer
            .line_where(|l| {
                serde_json::from_str::<serde_json::Value>(l)
                    .is_ok_and(|v| v["num_peers"].as_u64().is_some_and(|n| n >= 2))
            })
            .expect("a trainer never counted the other");
    }
    for trainer in &mut trainers {
        trainer
            .line_where(|l| l.starts_with("trained to epoch "))
            .expect("a trainer did not finish its epochs");
        assert_eq!(trainer.wait(), Some(0), "a trainer failed");
    }
    watcher
        .line_where(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .is_ok_and(|v| v["epoch"].as_u64().is_some_and(|e| e >= 1))
        })
        .expect("the watcher never saw the trainers' epochs");
    // t1 and t2 left (tombstones): the watcher counts t3 and itself (a client).
    let counts = |peers: u64| {
        move |l: &str| {
            serde_json::from_str::<serde_json::Value>(l)
                .is_ok_and(|v| v["num_peers"] == peers && v["num_clients"] == 1)
        }
    };
    watcher
        .line_where(counts(2))
        .expect("the watcher never counted t3 alone");
    // t3 revoked in the file, then SIGHUP: the watcher drops it at once.
    write_config(&format!("\"{}\"", peers[2]));
    let pid = watcher.process.id().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    watcher
        .line_where(counts(1))
        .expect("the watcher still counts the revoked t3");
    drop(watcher);
    // A peer of the collaboration without a token is refused before it starts.
    let (code, _, err) = {
        let args = train_args("stranger", false, "2");
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_to_end(&args)
    };
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no admission token"), "{err}");
    drop(seed);
    std::fs::remove_dir_all(&dir).ok();
}
