//! `--data-dir`: the `ferrokube-apiserver` binary killed with SIGKILL in the middle of
//! writes and started again on the same directory has every write it acknowledged (and
//! none it reported deleted), resourceVersions keep rising, and watches resume as on a
//! cluster after a compaction: from the restored resourceVersion on, or 410 Gone before.
#![cfg(feature = "durable")]

mod server_support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use base64::Engine;
use bytes::Bytes;
use http::Method;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use server_support::Client;

const BIN: &str = env!("CARGO_BIN_EXE_ferrokube-apiserver");
const TOKEN: &str = "durable-admin-token";

/// The binary on `dir` (controllers off: only the test writes), and a client for it.
fn start(dir: &std::path::Path) -> (Child, Client) {
    let tokens = dir.join("tokens.csv");
    std::fs::write(&tokens, format!("{TOKEN},durable-admin,u1,\"system:masters\"\n")).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    let mut child = Command::new(BIN)
        .args(["--secure-port", "0", "--controllers=false", "--data-dir"])
        .arg(dir.join("data"))
        .arg("--token-auth-file")
        .arg(&tokens)
        .arg("--write-kubeconfig")
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().strip_prefix("serving on https://").unwrap_or_else(|| panic!("readiness line: {line:?}"));
    let config: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(&kubeconfig).unwrap()).unwrap();
    let ca = config["clusters"][0]["cluster"]["certificate-authority-data"].as_str().unwrap();
    let ca_pem = base64::engine::general_purpose::STANDARD.decode(ca).unwrap();
    let client = Client {
        addr: url.parse().unwrap(),
        ca_pem: String::from_utf8(ca_pem).unwrap(),
        token: Some(TOKEN.to_owned()),
        client_cert: None,
        alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
    };
    (child, client)
}

fn rv_of(obj: &Value) -> u64 {
    obj["metadata"]["resourceVersion"].as_str().and_then(|s| s.parse().ok()).expect("a resourceVersion")
}

/// What the writer saw acknowledged: `(name, resourceVersion)` of each create, and the
/// names whose deletion was acknowledged.
#[derive(Default)]
struct Acked {
    created: Vec<(String, u64)>,
    deleted: Vec<String>,
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9_and_watches_resume_as_after_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, client) = start(dir.path());
    let ns = client.post_json("/api/v1/namespaces", &json!({"metadata": {"name": "d"}})).await;
    assert_eq!(ns.status, 201, "{:?}", ns.body);

    // Write as fast as the server acknowledges: creates, and a delete of every fifth.
    let acked = Arc::new(Mutex::new(Acked::default()));
    let writer = {
        let (client, acked) = (client.clone(), Arc::clone(&acked));
        tokio::spawn(async move {
            for i in 0.. {
                let name = format!("cm-{i}");
                let body = json!({"metadata": {"name": name}, "data": {"i": i.to_string()}});
                let Ok(resp) = client
                    .request(
                        Method::POST,
                        "/api/v1/namespaces/d/configmaps",
                        &[("content-type", "application/json")],
                        serde_json::to_vec(&body).unwrap(),
                    )
                    .await
                else {
                    return;
                };
                if resp.status != 201 {
                    return;
                }
                acked.lock().unwrap().created.push((name, rv_of(&resp.json())));
                if i % 5 == 4 {
                    let victim = format!("cm-{}", i - 2);
                    let path = format!("/api/v1/namespaces/d/configmaps/{victim}");
                    match client.request(Method::DELETE, &path, &[], Bytes::new()).await {
                        Ok(r) if r.status == 200 => acked.lock().unwrap().deleted.push(victim),
                        _ => return,
                    }
                }
            }
        })
    };
    // Kill once enough writes went through, while the writer is still writing.
    while acked.lock().unwrap().created.len() < 60 {
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    writer.await.unwrap();
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    let newest_acked = acked.created.iter().map(|(_, rv)| *rv).max().unwrap();

    let (mut child, client) = start(dir.path());
    let list = client.get("/api/v1/namespaces/d/configmaps").await.json();
    let restored_rv: u64 = list["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap();
    assert!(restored_rv >= newest_acked, "restored at {restored_rv}, acknowledged up to {newest_acked}");
    let stored: std::collections::HashMap<String, u64> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["metadata"]["name"].as_str().unwrap().to_owned(), rv_of(o)))
        .collect();
    for (name, rv) in &acked.created {
        if acked.deleted.contains(name) {
            assert!(!stored.contains_key(name), "{name}: its deletion was acknowledged");
        } else {
            assert_eq!(stored.get(name), Some(rv), "{name}: acknowledged at {rv}");
        }
    }

    // A watch from before the restart is told to relist; one from the restored
    // resourceVersion sees the next write, whose resourceVersion is newer than any before.
    let stale =
        client.get(&format!("/api/v1/namespaces/d/configmaps?watch=1&resourceVersion={}", restored_rv - 1)).await;
    let event: Value = serde_json::from_slice(stale.body.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!((event["type"].as_str(), event["object"]["code"].as_u64()), (Some("ERROR"), Some(410)), "{event}");
    let path = format!("/api/v1/namespaces/d/configmaps?watch=1&resourceVersion={restored_rv}");
    let (resp, _) = client.send(Method::GET, &path, &[], Bytes::new()).await.unwrap();
    let mut body = resp.into_body();
    let after = client.post_json("/api/v1/namespaces/d/configmaps", &json!({"metadata": {"name": "after"}})).await;
    assert_eq!(after.status, 201);
    assert!(rv_of(&after.json()) > restored_rv);
    let mut line = Vec::new();
    while !line.contains(&b'\n') {
        let frame = body.frame().await.expect("a watch event").unwrap();
        line.extend_from_slice(&frame.into_data().unwrap_or_default());
    }
    let event: Value = serde_json::from_slice(line.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!((event["type"].as_str(), event["object"]["metadata"]["name"].as_str()), (Some("ADDED"), Some("after")));

    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_data_dir_that_cannot_be_used_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let out = Command::new(BIN).args(["--secure-port", "0", "--data-dir"]).arg(&file).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--data-dir") && err.contains("not-a-dir"), "{err}");
}
