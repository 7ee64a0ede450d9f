//! The `ferrokube-apiserver` binary: readiness line, kubeconfig, clean stop on SIGTERM,
//! clear errors for bad flags.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_ferrokube-apiserver");

#[test]
fn serves_writes_kubeconfig_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let mut child = Command::new(BIN)
        .args(["--secure-port", "0", "--write-kubeconfig"])
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.starts_with("serving on https://127.0.0.1:"), "{line:?}");
    let text = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(text.contains(line.trim().trim_start_matches("serving on ")), "{text}");
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
}

#[test]
fn bad_flags_and_files_fail_clearly() {
    let out = Command::new(BIN)
        .args(["--secure-port", "0", "--token-auth-file", "/nonexistent/tokens.csv"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--token-auth-file") && err.contains("/nonexistent/tokens.csv"), "{err}");
    let out = Command::new(BIN).args(["--secure-port", "nope"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--secure-port"));
    let out = Command::new(BIN).args(["--secure-port", "0", "--authorization-mode", "Node,RBAC"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--authorization-mode") && err.contains("expected RBAC or AlwaysAllow"), "{err}");
    let out = Command::new(BIN).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--controllers") && help.contains("simulated node"), "{help}");
}
