//! The benchmark command end to end: small runs in scale mode (in-memory transport, nodes on
//! their own or on shared threads) and in process mode (one OS process per peer), each checked
//! for its figures; process mode also for leaving no peer process behind.

use std::process::Command;

/// Runs a small benchmark (3 peers, 4 s of 1 s epochs, 100 ms steps, 5 latency calls) with
/// `mode_args` and `env`; checks it succeeded and printed `row`; returns its JSON report.
fn small_bench(mode_args: &[&str], env: &[(&str, &str)], row: &str) -> serde_json::Value {
    let path = std::env::temp_dir().join(format!(
        "swarm-progress-bench-{}-{}.json",
        mode_args.join("-"),
        std::process::id()
    ));
    let output = Command::new(env!("CARGO_BIN_EXE_swarm-progress-bench"))
        .envs(env.iter().copied())
        .arg("run")
        .args(mode_args)
        .args(["--peers", "3", "--duration", "4", "--epoch-seconds", "1"])
        .args(["--period-ms", "100", "--latency-calls", "5", "--out"])
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains(row), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(report["complete_epochs"].as_u64().unwrap() >= 1, "{report}");
    assert_eq!(report["entries_seen"], 3, "{report}");
    report
}

#[test]
fn a_small_benchmark_runs_and_writes_its_figures() {
    let report = small_bench(&[], &[], "| scale (memory) | v1 | 3 | fast |");
    assert_eq!(report["peers"], 3);
    assert!(report["lag_s"]["p50"].is_number(), "{report}");
    assert!(
        report["cpu_s_per_min_per_peer"].as_f64().unwrap() > 0.0,
        "{report}"
    );
}

#[test]
fn a_small_benchmark_with_nodes_on_shared_threads_completes_epochs() {
    // 3 nodes (and the seed on its own thread) on 2 shared threads: NodeThreads with real nodes.
    let report = small_bench(
        &["--node-threads", "2"],
        &[],
        "| scale (memory, nodes on 2 threads) | v1 | 3 | fast |",
    );
    assert_eq!(report["node_threads"], 2, "{report}");
}

#[test]
fn a_small_process_mode_benchmark_runs_its_peers_as_processes_and_cleans_up() {
    // Inherited by the peer processes: how to find them afterwards, and only them.
    let marker = format!(
        "bench-process-test-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    // With the reference's speed spread and protocol v2: the children get both (peers step
    // every 50, 100 and 150 ms).
    let report = small_bench(
        &[
            "--mode",
            "process",
            "--latency-limit",
            "5",
            "--rate-spread",
            "0.5",
            "--protocol",
            "v2",
        ],
        &[("SWARM_PROGRESS_TEST_MARKER", &marker)],
        "| process (tcp) | v2 | 3 | fast | 16 / 0.10 s ±50 % |",
    );
    assert_eq!(report["mode"], "process");
    assert_eq!(report["protocol"], "v2");
    assert!(
        report["late_probe_lag_s"]["p95"].as_f64().unwrap() >= 0.0,
        "{report}"
    );
    let bytes = &report["per_peer"]["kib_per_min"];
    assert!(bytes["median"].as_f64().unwrap() > 0.0, "{report}");
    assert!(
        bytes["max_over_median"].as_f64().unwrap() >= 1.0,
        "{report}"
    );
    assert_eq!(report["rate_spread"], 0.5, "{report}");
    assert!(report["complete_epochs"].as_u64().unwrap() >= 1, "{report}");
    assert_eq!(report["entries_seen"], 3, "{report}");
    let per_peer = &report["per_peer"];
    for field in [
        "cpu_s_per_min",
        "peak_rss_mib",
        "sent_kib_per_min",
        "received_kib_per_min",
    ] {
        assert!(per_peer[field].as_f64().unwrap() > 0.0, "{field}: {report}");
    }
    assert!(
        per_peer["stores_per_min"].as_f64().unwrap() > 0.0,
        "{report}"
    );
    // Every peer process was stopped and reaped before the command returned.
    let needle = format!("SWARM_PROGRESS_TEST_MARKER={marker}");
    let left: Vec<String> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| {
            std::fs::read(e.path().join("environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == needle.as_bytes()))
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.is_empty(), "peer processes left behind: {left:?}");
}

#[test]
fn impossible_workload_flags_exit_with_code_two_and_name_the_flag() {
    for (args, flag) in [
        (&["--peers", "0"][..], "--peers"),
        (&["--duration=-1"][..], "--duration"),
        (&["--probe-ms", "0"][..], "--probe-ms"),
        (&["--rate-spread", "1.5"][..], "--rate-spread"),
        (&["--idle-timeout-s=-1"][..], "--idle-timeout-s"),
    ] {
        assert_bad_flag("run", &[], args, flag);
    }
}

/// `swarm-progress-bench <command> <common> <args>` exits with code 2 and names `flag`.
fn assert_bad_flag(command: &str, common: &[&str], args: &[&str], flag: &str) {
    let output = Command::new(env!("CARGO_BIN_EXE_swarm-progress-bench"))
        .arg(command)
        .args(common)
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains(flag), "{args:?}: {stderr}");
}

/// Three standalone peers, each started on its own with no parent to coordinate them (as under
/// the Shadow simulator): the seed with an identity from a key file, so its address is known
/// before it runs; all start their epoch phase at one agreed time, write their figures and
/// exit 0; `collect` makes one report of the files.
#[test]
fn standalone_peers_run_on_their_own_and_are_collected_into_one_report() {
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
    use swarm_progress::identity::Identity;

    let dir =
        std::env::temp_dir().join(format!("swarm-progress-standalone-{}", std::process::id()));
    let results = dir.join("results");
    std::fs::create_dir_all(&results).unwrap();
    let key = dir.join("seed.key");
    let seed = Identity::generate().unwrap();
    seed.save(&key).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let seed_addr = format!("/ip4/127.0.0.1/tcp/{port}/p2p/{}", seed.peer_id());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let start_at = format!("{:.3}", now + 4.0);
    let workload = [
        "--peers",
        "3",
        "--duration",
        "4",
        "--epoch-seconds",
        "1",
        "--period-ms",
        "100",
    ];
    let mut peers = Vec::new();
    for index in 0..3 {
        let mut command = Command::new(env!("CARGO_BIN_EXE_swarm-progress-bench"));
        command
            .arg("standalone")
            .args(workload)
            .args([
                "--index",
                &index.to_string(),
                "--linger",
                "1",
                "--start-at",
                &start_at,
            ])
            .arg("--out")
            .arg(results.join(format!("{index}.json")));
        if index == 0 {
            command
                .args(["--listen", &format!("/ip4/127.0.0.1/tcp/{port}")])
                .arg("--key-file")
                .arg(&key);
        } else {
            command.args(["--bootstrap", &seed_addr, "--fresh-ports"]);
        }
        peers.push(command.spawn().unwrap());
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for (index, peer) in peers.iter_mut().enumerate() {
        let status = loop {
            if let Some(status) = peer.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "peer {index} never exited");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "peer {index}: {status}");
    }
    let report_path = dir.join("report.json");
    let output = Command::new(env!("CARGO_BIN_EXE_swarm-progress-bench"))
        .arg("collect")
        .args(workload)
        .arg("--results")
        .arg(&results)
        .args(["--setup", "4", "--out"])
        .arg(&report_path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("| standalone (tcp) | v1 | 3 | fast |"),
        "{stdout}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(report["mode"], "standalone", "{report}");
    assert!(report["complete_epochs"].as_u64().unwrap() >= 2, "{report}");
    assert!(
        report["per_peer"]["sent_kib_per_min"].as_f64().unwrap() > 0.0,
        "{report}"
    );
}

#[test]
fn standalone_flags_that_cannot_work_exit_with_code_two_and_name_the_flag() {
    let common = ["--peers", "3", "--out", "/nonexistent/x.json"];
    for (args, flag) in [
        (&["--index", "3", "--start-after", "1"][..], "--index"),
        (&["--index", "0"][..], "--start-after"),
        (
            &["--index", "0", "--start-after", "1", "--listen", "nowhere"][..],
            "--listen",
        ),
        (
            &["--index", "0", "--start-after", "1", "--bootstrap", "x"][..],
            "--bootstrap",
        ),
        (
            &[
                "--index",
                "0",
                "--start-after",
                "1",
                "--key-file",
                "/nonexistent/key",
            ][..],
            "--key-file",
        ),
    ] {
        assert_bad_flag("standalone", &common, args, flag);
    }
}

/// The Shadow scenario for a small N: a configuration Shadow can read (JSON is YAML 1.2), one
/// host per peer on its own address, the seed's key written beside it and its address (from
/// that key) in every other peer's arguments, the same start time for all, and a graph file.
#[test]
fn the_shadow_scenario_for_a_small_swarm_is_complete_and_consistent() {
    use swarm_progress::identity::Identity;
    let dir = std::env::temp_dir().join(format!("swarm-progress-shadow-{}", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_swarm-progress-bench"))
        .arg("shadow-config")
        .args(["--peers", "5", "--protocol", "v2", "--graph", "volunteer"])
        .args(["--setup", "30", "--join-spread", "10", "--duration", "20"])
        .arg("--dir")
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("shadow.yaml")).unwrap()).unwrap();
    let seed = Identity::load(&dir.join("seed.key")).unwrap();
    let seed_addr = format!("/ip4/11.0.0.1/tcp/4001/p2p/{}", seed.peer_id());
    assert!(stdout.contains(&seed_addr), "{stdout}");
    let hosts = config["hosts"].as_object().unwrap();
    assert_eq!(hosts.len(), 5);
    let mut addrs = std::collections::HashSet::new();
    let mut start_ats = std::collections::HashSet::new();
    for (name, host) in hosts {
        let index: usize = name.strip_prefix("peer").unwrap().parse().unwrap();
        assert!(addrs.insert(host["ip_addr"].as_str().unwrap().to_string()));
        assert_eq!(host["network_node_id"], index % 5, "{name}");
        let process = &host["processes"][0];
        assert_eq!(process["expected_final_state"]["exited"], 0);
        let args: Vec<&str> = process["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let after = |flag: &str| {
            args.iter()
                .position(|a| *a == flag)
                .map(|i| args[i + 1].to_string())
        };
        assert_eq!(args[0], "standalone");
        assert_eq!(after("--index"), Some(index.to_string()));
        assert_eq!(after("--protocol").as_deref(), Some("v2"));
        assert_eq!(
            after("--listen"),
            Some(format!(
                "/ip4/{}/tcp/4001",
                host["ip_addr"].as_str().unwrap()
            ))
        );
        assert!(args.contains(&"--fresh-ports"));
        start_ats.insert(after("--start-at").unwrap());
        if index == 0 {
            assert!(after("--key-file").unwrap().ends_with("seed.key"));
            assert_eq!(after("--bootstrap"), None);
        } else {
            assert_eq!(after("--bootstrap"), Some(seed_addr.clone()));
        }
        assert!(after("--out")
            .unwrap()
            .ends_with(&format!("results/{index}.json")));
    }
    // 2000-01-01 (Shadow's simulated start) + 30 s, for everyone.
    assert_eq!(start_ats.into_iter().collect::<Vec<_>>(), ["946684830.000"]);
    assert!(config["network"]["graph"]["file"]["path"]
        .as_str()
        .unwrap()
        .ends_with("/graph.gml"));
    let gml = std::fs::read_to_string(dir.join("graph.gml")).unwrap();
    assert!(
        gml.contains("north_america_east") && gml.contains("20 Mbit"),
        "{gml}"
    );
    assert!(dir.join("results").is_dir());
    std::fs::remove_dir_all(&dir).unwrap();
}
