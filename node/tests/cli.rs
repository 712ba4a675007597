//! The command line: help and refused flags.

use std::process::Command;

fn node() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fsmstore-node"))
}

#[test]
fn help_mentions_every_flag() {
    let output = node().arg("--help").output().expect("run");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--id",
        "--addr",
        "--ready-file",
        "--dir",
        "--engine",
        "--sync-mode",
        "--snapshot-logs",
        "--heartbeat-ms",
        "--election-timeout-ms",
        "--request-timeout-ms",
        "--max-in-snapshot-log-to-keep",
    ] {
        assert!(
            help.contains(flag),
            "--help does not mention {flag}:\n{help}"
        );
    }
}

#[test]
fn non_loopback_addr_is_refused() {
    let dir = std::env::temp_dir().join(format!("fsmstore-node-cli-{}", std::process::id()));
    let output = node()
        .args(["--id", "1", "--addr", "10.1.2.3:7001", "--dir"])
        .arg(&dir)
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("loopback"), "{stderr}");
    assert!(!dir.exists(), "a refused node created its directory");
}

#[test]
fn unknown_sync_mode_is_refused() {
    let output = node()
        .args([
            "--id",
            "1",
            "--addr",
            "127.0.0.1:0",
            "--dir",
            "/nonexistent",
        ])
        .args(["--sync-mode", "sometimes"])
        .output()
        .expect("run");
    assert!(!output.status.success());
    assert_eq!(output.status.code(), Some(2), "a clap usage error");
}
