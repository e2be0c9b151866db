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
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_swarm-progress-bench"))
            .arg("run")
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
    }
}
