//! The `swarm-progress` binary, run as a user would.

use std::process::Command;

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
