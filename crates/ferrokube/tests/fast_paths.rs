//! Every fast decode path returns exactly what the reference serde_json path returns,
//! on all shared fixtures (`k8s-api-testdata/HEAD/*.json`) and on generated pods like
//! the benchmark's (labels, annotations, two containers, status, managedFields):
//!
//! * watch events: `decode_event` (one pass) vs `decode_event_reference` (envelope with
//!   a `RawValue`, then the object), and `WatchDecoder` (newline fast path) vs
//!   `JsonFramer` + the reference decode, on streams cut into chunks of many sizes,
//!   event by event and in batches decoded on several threads;
//! * LIST bodies: `rest::list_decode::decode_list` (items split over threads) vs
//!   `serde_json::from_str` of the whole list, typed and with every fixture as an
//!   untyped item;
//! * `WithoutManagedFields<K>` (managedFields skipped while decoding) vs decoding
//!   everything and removing them, on every fixture;
//! * the compact cache form: `Compact::<K>::object()` vs decoding the JSON directly,
//!   with and without managedFields skipped.

#[path = "support/testdata.rs"]
mod testdata;

use ferrokube::tools::cache::{Compact, WithoutManagedFields};
use ferrokube::watch::event::{decode_event, decode_event_reference};
use ferrokube::watch::{DecodeError, JsonFramer, WatchDecoder, WatchEvent};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod, Service};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

/// (file name, JSON text) of every fixture.
fn fixtures() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(testdata::fixtures_dir())
        .expect("fixtures directory")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
        .collect();
    out.sort();
    assert!(out.len() > 150, "expected the shared fixtures, found {}", out.len());
    out
}

/// A pod shaped like the benchmark's.
fn generated_pod(i: usize) -> Value {
    let env: Vec<Value> =
        (0..6).map(|k| json!({"name": format!("SETTING_{k}"), "value": format!("v-{i}-{k}")})).collect();
    let container = |name: &str| {
        json!({
            "name": name, "image": format!("registry.example.com/app:v1.{}", i % 7), "imagePullPolicy": "IfNotPresent",
            "args": ["--config=/etc/app/config.yaml", format!("--shard={}", i % 16)],
            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
            "env": env, "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"}, "periodSeconds": 10},
            "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}
        })
    };
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": format!("web-{i:05}"), "namespace": "default", "uid": format!("uid-{i}"), "resourceVersion": (100 + i).to_string(),
            "creationTimestamp": "2026-10-01T00:00:00Z",
            "labels": {"app": format!("svc-{}", i % 40), "tier": "backend", "pod-template-hash": format!("{:x}", i * 7919)},
            "annotations": {"checksum/config": format!("{:064x}", i), "note": "quote \" backslash \\ newline \n unicode ünï"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u", "controller": true}],
            "managedFields": [{"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": "2026-10-01T00:00:00Z",
                "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {"f:conditions": {"k:{\"type\":\"Ready\"}": {".": {}, "f:status": {}}}}},
                "subresource": "status"}]
        },
        "spec": {"containers": [container("app"), container("sidecar")], "nodeName": format!("node-{}", i % 120),
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]},
        "status": {"phase": "Running", "podIP": format!("10.244.0.{}", i % 250),
            "conditions": [{"type": "Ready", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-10-01T00:00:00Z"}],
            "containerStatuses": [{"name": "app", "ready": true, "restartCount": i % 3, "image": "i", "imageID": "id", "state": {"running": {"startedAt": "2026-10-01T00:00:00Z"}}}]}
    })
}

fn event_line(kind: &str, object: &str) -> String {
    format!("{{\"type\":\"{kind}\",\"object\":{object}}}")
}

/// Decodes every way and checks the fast paths agree with the reference.
fn check_event<T: DeserializeOwned + PartialEq + std::fmt::Debug>(frame: &str, what: &str) {
    let reference = decode_event_reference::<T>(frame.as_bytes());
    let fast = decode_event::<T>(frame.as_bytes());
    assert_eq!(fast, reference, "{what}: {}", &frame[..frame.len().min(120)]);
}

#[test]
fn watch_events_on_all_fixtures() {
    let kinds = ["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR", "UNKNOWN"];
    for (name, text) in fixtures() {
        let compact = serde_json::to_string(&serde_json::from_str::<Value>(&text).unwrap()).unwrap();
        for kind in kinds {
            for object in [text.as_str(), compact.as_str()] {
                let frame = event_line(kind, object);
                check_event::<Value>(&frame, &name);
                check_event::<Pod>(&frame, &name);
                check_event::<ConfigMap>(&frame, &name);
                // object before type, and extra keys: handled by the reference path.
                let swapped = format!("{{\"object\":{object},\"x\":[1],\"type\":\"{kind}\"}}");
                check_event::<Value>(&swapped, &name);
                check_event::<Pod>(&swapped, &name);
            }
        }
    }
}

#[test]
fn watch_events_on_generated_pods() {
    for i in 0..200 {
        let object = generated_pod(i).to_string();
        for kind in ["ADDED", "MODIFIED", "DELETED", "BOOKMARK"] {
            check_event::<Pod>(&event_line(kind, &object), "generated");
            check_event::<Value>(&event_line(kind, &object), "generated");
        }
    }
    for bad in [
        r#"{"type":"ADDED"}"#,
        r#"{"type":"ADDED","type":"ADDED","object":{}}"#,
        r#"{"type":5,"object":{}}"#,
        "[1]",
        r#"{"type":"ADDED","object":{"kind":"Service","apiVersion":"v1"}}"#,
    ] {
        check_event::<Pod>(bad, "bad");
    }
}

/// Reference stream decoding: the framer, then the reference decode of each frame.
fn reference_stream<T: DeserializeOwned>(bytes: &[u8]) -> Vec<Result<WatchEvent<T>, DecodeError>> {
    let mut f = JsonFramer::new();
    f.push(bytes);
    let mut out = Vec::new();
    loop {
        match f.next_frame() {
            Ok(Some(frame)) => out.push(decode_event_reference::<T>(&frame).map_err(DecodeError::Event)),
            Ok(None) => break,
            Err(e) => {
                out.push(Err(DecodeError::Frame(e)));
                break;
            }
        }
    }
    out
}

fn decoder_stream<T: DeserializeOwned + Send>(bytes: &[u8], chunk: usize) -> Vec<Result<WatchEvent<T>, DecodeError>> {
    decoder_stream_batched(bytes, chunk, None)
}

/// The decoder fed `chunk` bytes at a time; with `batch_threads`, buffered complete
/// lines are first decoded as a batch on that many threads (the watch stream's path).
fn decoder_stream_batched<T: DeserializeOwned + Send>(
    bytes: &[u8],
    chunk: usize,
    batch_threads: Option<usize>,
) -> Vec<Result<WatchEvent<T>, DecodeError>> {
    let mut d = WatchDecoder::new();
    let mut out = Vec::new();
    let mut batch = std::collections::VecDeque::new();
    let chunks: Vec<&[u8]> = bytes.chunks(chunk).collect();
    for (i, c) in chunks.iter().enumerate() {
        d.push(c);
        if i + 1 == chunks.len() {
            d.finish();
        }
        loop {
            if let Some(threads) = batch_threads {
                d.decode_buffered_lines_on::<T>(threads, &mut batch);
                out.extend(batch.drain(..).map(Ok));
            }
            let Some(e) = d.next_event::<T>() else { break };
            let fatal = e.as_ref().err().is_some_and(DecodeError::is_fatal);
            out.push(e);
            if fatal {
                return out;
            }
        }
    }
    out
}

#[test]
fn watch_decoder_streams_match_the_framer() {
    let mut stream = String::new();
    for i in 0..40 {
        let object = generated_pod(i).to_string();
        let kind = ["ADDED", "MODIFIED", "DELETED", "BOOKMARK"][i % 4];
        stream.push_str(&event_line(kind, &object));
        // Mostly one event per line, as the API server writes; sometimes none, several
        // newlines, CRLF, or an event pretty-printed over many lines.
        stream.push_str(["\n", "", "\r\n", "\n\n  "][i % 4]);
        if i % 9 == 0 {
            let pretty =
                serde_json::to_string_pretty(&json!({"type": "MODIFIED", "object": generated_pod(i)})).unwrap();
            stream.push_str(&pretty);
            stream.push('\n');
        }
        if i % 13 == 0 {
            stream.push_str(&event_line("ADDED", r#"{"kind":"Service","apiVersion":"v1"}"#));
            stream.push('\n');
        }
    }
    let reference = reference_stream::<Pod>(stream.as_bytes());
    assert!(reference.len() > 40);
    for chunk in [1, 7, 100, 4096, 16 * 1024, stream.len()] {
        assert_eq!(decoder_stream::<Pod>(stream.as_bytes(), chunk), reference, "chunk {chunk}");
    }
    let reference_values = reference_stream::<Value>(stream.as_bytes());
    assert_eq!(decoder_stream::<Value>(stream.as_bytes(), 16 * 1024), reference_values);
    // Batches decoded on several threads, including the odd lines above.
    for (chunk, threads) in [(64 * 1024, 2), (stream.len(), 3), (stream.len(), 8)] {
        let got = decoder_stream_batched::<Pod>(stream.as_bytes(), chunk, Some(threads));
        assert_eq!(got, reference, "batched: chunk {chunk}, {threads} threads");
    }

    // On a clean newline-delimited stream, once the first event has shown the stream
    // newline-delimited, one batch takes every complete line.
    let clean: String = (0..100).map(|i| event_line("MODIFIED", &generated_pod(i).to_string()) + "\n").collect();
    let mut d = WatchDecoder::new();
    d.push(clean.as_bytes());
    assert!(d.next_event::<Pod>().is_some());
    let mut batch = std::collections::VecDeque::new();
    assert_eq!(d.decode_buffered_lines_on::<Pod>(2, &mut batch), 99);
    let batched: Vec<_> = batch.into_iter().map(Ok).collect();
    assert_eq!(batched[..], reference_stream::<Pod>(clean.as_bytes())[1..]);

    // A broken stream fails the same way.
    let broken = format!("{}\n<html>", event_line("ADDED", &generated_pod(1).to_string()));
    for chunk in [1, 5, broken.len()] {
        assert_eq!(decoder_stream::<Pod>(broken.as_bytes(), chunk), reference_stream::<Pod>(broken.as_bytes()));
    }
}

/// `Compact<K>` and `WithoutManagedFields<K>` (alone and around `Compact<K>`) against
/// the reference decode of `text`.
fn check_compact<K>(text: &str, what: &str)
where
    K: k8s_openapi::Metadata<Ty = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>
        + DeserializeOwned
        + Serialize
        + PartialEq
        + std::fmt::Debug,
{
    let reference: K = serde_json::from_str(text).unwrap_or_else(|e| panic!("{what}: the reference decode fails: {e}"));
    let compact: Compact<K> = serde_json::from_str(text).unwrap();
    assert_eq!(compact.object(), reference, "{what}");
    assert!(compact.metadata.managed_fields.is_none());
    let mut stripped = reference;
    stripped.metadata_mut().managed_fields = None;
    assert_eq!(
        serde_json::from_str::<WithoutManagedFields<K>>(text).unwrap().0,
        stripped,
        "{what} (WithoutManagedFields)"
    );
    let compact = serde_json::from_str::<WithoutManagedFields<Compact<K>>>(text).unwrap().0;
    assert_eq!(compact.object(), stripped, "{what} (managedFields skipped)");
}

#[test]
fn compact_objects_on_all_fixtures_and_generated_pods() {
    let mut checked = 0;
    for (name, text) in fixtures() {
        match name.as_str() {
            "core.v1.Pod.json" => check_compact::<Pod>(&text, &name),
            "core.v1.ConfigMap.json" => check_compact::<ConfigMap>(&text, &name),
            "core.v1.Node.json" => check_compact::<Node>(&text, &name),
            "core.v1.Service.json" => check_compact::<Service>(&text, &name),
            "apps.v1.Deployment.json" => check_compact::<Deployment>(&text, &name),
            _ => continue,
        }
        checked += 1;
    }
    assert_eq!(checked, 5);
    for i in 0..200 {
        check_compact::<Pod>(&generated_pod(i).to_string(), "generated pod");
    }
}

/// `{"kind": "<kind>List", ..., "items": [objects]}` with a resourceVersion.
fn list_body(kind: &str, objects: &[String]) -> String {
    format!(
        "{{\"kind\":\"{kind}List\",\"apiVersion\":\"v1\",\"metadata\":{{\"resourceVersion\":\"7\",\"continue\":\"c\"}},\"items\":[\n{}\n]}}",
        objects.join(",\n")
    )
}

fn check_list<K>(body: &str, what: &str)
where
    K: k8s_openapi::ListableResource + DeserializeOwned + Send + PartialEq + std::fmt::Debug,
{
    use ferrokube::rest::list_decode::decode_list_on;
    let reference = serde_json::from_str::<k8s_openapi::List<K>>(body).map_err(|e| e.to_string());
    for threads in [1, 2, 3, 8] {
        let fast = decode_list_on::<k8s_openapi::List<K>>(body, threads).map_err(|e| e.to_string());
        assert_eq!(fast, reference, "{what}, {threads} threads");
    }
}

#[test]
fn list_decode_on_generated_pods_and_fixtures() {
    let pods: Vec<String> = (0..300).map(|i| generated_pod(i).to_string()).collect();
    check_list::<Pod>(&list_body("Pod", &pods), "generated pods");
    // A bad item, a wrong list kind, items not an array: the reference's errors.
    let mut bad = pods.clone();
    bad[150] = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":5}}"#.to_owned();
    check_list::<Pod>(&list_body("Pod", &bad), "bad item");
    check_list::<Pod>(&list_body("Service", &pods), "wrong kind");
    check_list::<Pod>(r#"{"kind":"PodList","apiVersion":"v1","metadata":{},"items":null}"#, "null items");
    check_list::<Pod>(r#"{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[]}"#, "no items");
    // Every fixture of a listable kind, as a list of copies of itself.
    let mut checked = 0;
    for (name, text) in fixtures() {
        let copies = vec![text.trim().to_owned(); 20];
        match name.strip_prefix("core.v1.").and_then(|k| k.strip_suffix(".json")) {
            Some("Pod") => check_list::<Pod>(&list_body("Pod", &copies), &name),
            Some("ConfigMap") => check_list::<ConfigMap>(&list_body("ConfigMap", &copies), &name),
            Some("Service") => check_list::<Service>(&list_body("Service", &copies), &name),
            Some("Node") => check_list::<Node>(&list_body("Node", &copies), &name),
            _ => continue,
        }
        checked += 1;
    }
    assert!(checked >= 4, "expected v1 Pod, ConfigMap, Service and Node fixtures, checked {checked}");
}

/// A list of untyped items, so that every fixture (any kind) can go through the
/// parallel list decoder.
#[derive(serde::Deserialize, Debug, PartialEq)]
struct AnyList {
    kind: String,
    #[serde(default)]
    metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta,
    items: Vec<Value>,
}

impl ferrokube::rest::list_decode::ItemList for AnyList {
    type Item = Value;
    fn set_items(&mut self, items: Vec<Value>) {
        self.items = items;
    }
    fn continue_token(&self) -> Option<&str> {
        self.metadata.continue_.as_deref()
    }
}

#[test]
fn list_decode_of_every_fixture_as_untyped_items() {
    use ferrokube::rest::list_decode::decode_list_on;
    let all = fixtures();
    for (name, text) in &all {
        // Pretty-printed and compact copies side by side, as servers write either.
        let compact = serde_json::to_string(&serde_json::from_str::<Value>(text).unwrap()).unwrap();
        let items: Vec<String> = (0..10).flat_map(|_| [text.trim().to_owned(), compact.clone()]).collect();
        let body = list_body("Any", &items);
        let reference: AnyList = serde_json::from_str(&body).unwrap();
        assert_eq!(reference.items.len(), 20);
        for threads in [1, 2, 3] {
            let fast: AnyList =
                decode_list_on(&body, threads).unwrap_or_else(|e| panic!("{name}, {threads} threads: {e}"));
            assert_eq!(fast, reference, "{name}, {threads} threads");
        }
    }
    // Every fixture once, in one list.
    let body = list_body("Any", &all.iter().map(|(_, t)| t.trim().to_owned()).collect::<Vec<_>>());
    let reference: AnyList = serde_json::from_str(&body).unwrap();
    assert_eq!(decode_list_on::<AnyList>(&body, 4).unwrap(), reference);
}

#[test]
fn without_managed_fields_on_every_fixture() {
    let mut with_managed_fields = 0;
    for (name, text) in fixtures() {
        let mut reference: Value = serde_json::from_str(&text).unwrap();
        if let Some(meta) = reference.get_mut("metadata").and_then(Value::as_object_mut) {
            with_managed_fields += meta.remove("managedFields").is_some() as usize;
        }
        let fast = serde_json::from_str::<WithoutManagedFields<Value>>(&text).unwrap().0;
        assert_eq!(fast, reference, "{name}");
        // Nested objects keep theirs: only the top-level object's metadata is filtered.
        let wrapped = format!("{{\"metadata\":{{\"name\":\"outer\"}},\"spec\":{text}}}");
        let fast = serde_json::from_str::<WithoutManagedFields<Value>>(&wrapped).unwrap().0;
        assert_eq!(fast["spec"], serde_json::from_str::<Value>(&text).unwrap(), "{name} nested");
    }
    assert!(with_managed_fields > 100, "expected fixtures with managedFields, found {with_managed_fields}");
    // Typed: `compact_objects_on_all_fixtures_and_generated_pods` (check_compact).
}
