//! Replays a corpus file against both servers, step by step: the same step goes to
//! realkube and the embedded server at the same time, each with its own variables
//! (`{ns}` is shared; captures are per server), and the two answers are normalised and
//! compared. Before the first step each file's namespace is created on both servers and
//! the runner waits (by polling, observably) until its `default` ServiceAccount exists,
//! which kube-apiserver's controller manager creates asynchronously.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;

use crate::client::{RawResponse, ServerClient};
use crate::compare::{diff, Difference};
use crate::corpus::{CorpusFile, Step, User};
use crate::normalize::{normalize, Context, Normalized};
use crate::servers::{ADMIN_TOKEN, ALICE_TOKEN};

/// Characters kept as they are in query values (RFC 3986 unreserved).
const QUERY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// The User-Agent of every request: its first segment becomes the field manager.
const USER_AGENT: &str = "differential/v0.0.0";

/// One server during a run: its client and its variables.
pub struct Side {
    /// `realkube` or `embedded`.
    pub name: &'static str,
    client: ServerClient,
    vars: BTreeMap<String, String>,
}

impl Side {
    /// A side with no variables yet.
    pub fn new(name: &'static str, client: ServerClient) -> Side {
        Side { name, client, vars: BTreeMap::new() }
    }
}

/// What one step produced on both servers.
#[derive(Debug, Clone)]
pub struct StepResult {
    /// `FILE/ID`.
    pub key: String,
    /// `METHOD path?query` as written in the corpus.
    pub request: String,
    /// Whether it was compared.
    pub compared: bool,
    /// realkube's normalised response.
    pub expected: Normalized,
    /// The embedded server's normalised response.
    pub actual: Normalized,
    /// The differences, ignored paths left out.
    pub differences: Vec<Difference>,
}

/// Replaces `{name}` by the variable's value (unknown names stay as written).
fn substitute(text: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = text.to_owned();
    for (name, value) in vars {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

fn substitute_value(v: Value, vars: &BTreeMap<String, String>) -> Value {
    match v {
        Value::String(s) => Value::String(substitute(&s, vars)),
        Value::Array(items) => Value::Array(items.into_iter().map(|i| substitute_value(i, vars)).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, substitute_value(v, vars))).collect()),
        other => other,
    }
}

/// The value at a dotted path (`items.0.metadata.name`).
pub fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').filter(|s| !s.is_empty()).try_fold(v, |v, segment| match v {
        Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => v.get(segment),
    })
}

/// The request a step sends, built for one side.
struct Built {
    method: String,
    path_and_query: String,
    headers: Vec<(String, String)>,
    body: Bytes,
}

fn build(step: &Step, vars: &BTreeMap<String, String>) -> Built {
    let mut path_and_query = substitute(&step.path, vars);
    if let Some(query) = &step.query {
        let encoded: Vec<String> = query
            .pairs()
            .into_iter()
            .map(|(k, v)| {
                let v = substitute(&v, vars);
                format!("{}={}", utf8_percent_encode(&k, QUERY), utf8_percent_encode(&v, QUERY))
            })
            .collect();
        if !encoded.is_empty() {
            path_and_query.push(if path_and_query.contains('?') { '&' } else { '?' });
            path_and_query.push_str(&encoded.join("&"));
        }
    }
    let mut headers: Vec<(String, String)> = vec![("user-agent".into(), USER_AGENT.into())];
    match step.user {
        User::Admin => headers.push(("authorization".into(), format!("Bearer {ADMIN_TOKEN}"))),
        User::Alice => headers.push(("authorization".into(), format!("Bearer {ALICE_TOKEN}"))),
        User::Anonymous => {}
    }
    let has = |name: &str| step.headers.keys().any(|k| k.eq_ignore_ascii_case(name));
    let body = if let Some(body) = &step.body {
        let json: Value = serde_json::to_value(body).unwrap_or(Value::Null);
        let json = substitute_value(json, vars);
        Bytes::from(serde_json::to_vec(&json).unwrap_or_default())
    } else if let Some(raw) = &step.raw {
        Bytes::from(substitute(raw, vars).into_bytes())
    } else if let Some(size) = step.oversize {
        let head = format!(
            "{{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{{\"name\":\"big\",\"namespace\":\"{}\"}},\"data\":{{\"k\":\"",
            vars.get("ns").map(String::as_str).unwrap_or_default()
        );
        let tail = "\"}}";
        let pad = size.saturating_sub(head.len() + tail.len());
        Bytes::from(format!("{head}{}{tail}", "a".repeat(pad)))
    } else {
        Bytes::new()
    };
    if !body.is_empty() && !has("content-type") {
        headers.push(("content-type".into(), "application/json".into()));
    }
    if !has("accept") {
        headers.push(("accept".into(), "application/json".into()));
    }
    for (name, value) in &step.headers {
        headers.push((name.to_ascii_lowercase(), substitute(value, vars)));
    }
    Built { method: step.method.to_ascii_uppercase(), path_and_query, headers, body }
}

/// Sends `step` on one side (repeating it while a `wait` is unmet), records captures.
async fn send(side: &mut Side, step: &Step) -> Result<RawResponse, String> {
    let built = build(step, &side.vars);
    let watch = step.watch.as_ref().map(|w| (w.events, Duration::from_secs(w.timeout.unwrap_or(15))));
    let attempt = || side.client.send(&built.method, &built.path_and_query, &built.headers, built.body.clone(), watch);
    let response = match &step.wait {
        None => attempt().await.map_err(|e| e.to_string())?,
        Some(wait) => {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(wait.timeout.unwrap_or(60));
            loop {
                let response = attempt().await.map_err(|e| e.to_string())?;
                let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
                let status_ok = response.status == wait.status.unwrap_or(200);
                let value_ok = match (&wait.path, &wait.equals) {
                    (Some(path), Some(want)) => lookup(&body, path) == Some(want),
                    (Some(path), None) => lookup(&body, path).is_some_and(|v| !v.is_null()),
                    (None, _) => true,
                };
                if status_ok && value_ok {
                    break response;
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(format!(
                        "{} {}: wait not satisfied (last status {})",
                        built.method, built.path_and_query, response.status
                    ));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    if !step.capture.is_empty() {
        let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        for (name, path) in &step.capture {
            let value = match lookup(&body, path) {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            side.vars.insert(name.clone(), value);
        }
    }
    Ok(response)
}

fn failed(message: String) -> Normalized {
    Normalized { status: 0, content_type: String::new(), warnings: Vec::new(), body: Value::String(message) }
}

/// Replays one file on both sides and returns its steps' results.
/// Sorts the array at the dotted `path` of `value` (if there is one) by each element's
/// JSON text: both sides get the same order whatever order each server chose.
fn sort_array_at(value: &mut serde_json::Value, path: &str) {
    let target = path.split('.').try_fold(value, |v, key| v.get_mut(key));
    if let Some(serde_json::Value::Array(items)) = target {
        items.sort_by_cached_key(|item| item.to_string());
    }
}

pub async fn run_file(file: &CorpusFile, real: &mut Side, embedded: &mut Side, ctx: &Context) -> Vec<StepResult> {
    for side in [&mut *real, &mut *embedded] {
        side.vars.clear();
        side.vars.insert("ns".into(), file.namespace.clone());
    }
    let setup = setup_steps(&file.namespace);
    for step in &setup {
        let (r, e) = tokio::join!(send(real, step), send(embedded, step));
        for (name, result) in [("realkube", r), ("embedded", e)] {
            if let Err(message) = result {
                eprintln!("differential: {}: set-up on {name}: {message}", file.name);
            }
        }
    }
    let mut results = Vec::new();
    for step in &file.steps {
        let mut ctx = ctx.clone();
        ctx.drop_bookmarks = step.watch.as_ref().is_some_and(|w| w.drop_bookmarks);
        let (r, e) = tokio::join!(send(real, step), send(embedded, step));
        let expected = r.map(|r| normalize(&r, &ctx)).unwrap_or_else(failed);
        let actual = e.map(|e| normalize(&e, &ctx)).unwrap_or_else(failed);
        let differences = if step.compared() {
            let (mut expected_value, mut actual_value) = (expected.to_value(), actual.to_value());
            for path in &step.unordered {
                sort_array_at(&mut expected_value, path);
                sort_array_at(&mut actual_value, path);
            }
            diff(&expected_value, &actual_value)
                .into_iter()
                .filter(|d| !step.ignore.iter().any(|ignored| crate::compare::covers(ignored, &d.path)))
                .collect()
        } else {
            Vec::new()
        };
        let mut request = format!("{} {}", step.method.to_ascii_uppercase(), step.path);
        if let Some(query) = &step.query {
            let pairs: Vec<String> = query.pairs().into_iter().map(|(k, v)| format!("{k}={v}")).collect();
            request.push('?');
            request.push_str(&pairs.join("&"));
        }
        results.push(StepResult {
            key: format!("{}/{}", file.name, step.id),
            request,
            compared: step.compared(),
            expected,
            actual,
            differences,
        });
    }
    results
}

/// The namespace, and the wait for its `default` ServiceAccount.
fn setup_steps(namespace: &str) -> Vec<Step> {
    let yaml = format!(
        r#"
- id: setup-namespace
  method: POST
  path: /api/v1/namespaces
  body: {{apiVersion: v1, kind: Namespace, metadata: {{name: {namespace}}}}}
- id: setup-default-sa
  path: /api/v1/namespaces/{namespace}/serviceaccounts/default
  wait: {{status: 200}}
"#
    );
    serde_yaml_ng::from_str(&yaml).unwrap_or_default()
}
