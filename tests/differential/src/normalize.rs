//! Normalisation: a raw response becomes the value compared, with everything that
//! legitimately differs between two servers (or two runs) replaced by a placeholder:
//!
//! | what | how recognised | placeholder |
//! | --- | --- | --- |
//! | uids | key `uid`; any UUID inside a string or an object key (managedFields' `k:{"uid":"..."}` of an owner reference) | `<uid>` |
//! | timestamps | RFC 3339 strings | `<time>` |
//! | resourceVersions | keys `resourceVersion`, list `continue` tokens | `<rv>`, `<continue>` |
//! | generated names | `metadata.name` of an object with `generateName` | `PREFIX<gen>` |
//! | server hosts and ports | the two servers' URLs and `host:port` | `<server>` |
//! | certificates, tokens | PEM blocks; JWTs (`eyJ...`) | `<cert>`, `<token>` |
//! | allocated IPs and ports | keys `clusterIP(s)`, `podIP(s)`, `hostIP(s)`, `nodePort` | `<ip>`, `<port>` |
//! | resourceVersions inside messages | `resource version: N (M)` | `resource version: <rv> (<rv>)` |
//! | Table ages | the `Age` column's cells | `<age>` |
//! | the ServiceAccount plugin's volume | `kube-api-access-xxxxx` | `kube-api-access-<gen>` |
//! | OpenAPI document hashes | `?hash=HEX` | `?hash=<hash>` |
//! | the order of managedFields entries | key `managedFields` | sorted by operation, manager, subresource |
//!
//! kube orders managedFields by operation, then by each entry's time in whole seconds,
//! then by manager: whether a controller's status write and a client's patch fall in the
//! same second decides the order, which differs from run to run as the times do.
//! What stays is compared field by field (`compare`): status code, Content-Type,
//! Warning headers, the body (JSON and YAML parsed; protobuf reduced to its presence)
//! and, for a watch, the event sequence.

use std::sync::OnceLock;

use regex::Regex;
use serde_json::{Map, Value};

use crate::client::RawResponse;

/// A response ready to compare.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    /// The status code.
    pub status: u16,
    /// Content-Type, as sent (absent: empty).
    pub content_type: String,
    /// Warning headers, in order, normalised.
    pub warnings: Vec<String>,
    /// The body (JSON value; text as a string; binary as a placeholder), or for a watch
    /// the array of events.
    pub body: Value,
}

impl Normalized {
    /// The whole response as one JSON value, for the report and the path-wise diff.
    pub fn to_value(&self) -> Value {
        serde_json::json!({
            "status": self.status,
            "contentType": self.content_type,
            "warnings": self.warnings,
            "body": self.body,
        })
    }
}

/// Server-specific strings replaced everywhere: each server's base URL and `host:port`.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// `https://HOST:PORT` of both servers.
    pub urls: Vec<String>,
    /// Leave out periodic BOOKMARK events of watches.
    pub drop_bookmarks: bool,
}

fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).unwrap_or_else(|e| panic!("pattern {pattern}: {e}")))
}

fn time_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
}

fn uuid_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
}

fn pem_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"(?s)-----BEGIN [A-Z ]+-----.*?-----END [A-Z ]+-----\n?")
}

fn jwt_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
}

fn hash_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"\?hash=[0-9A-Fa-f]+")
}

fn api_access_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"kube-api-access-[a-z0-9]{5}")
}

fn rv_message_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"resource version: \d+ \(\d+\)")
}

/// Normalises one response.
pub fn normalize(raw: &RawResponse, ctx: &Context) -> Normalized {
    let content_type = raw.header_values("content-type").into_iter().next().unwrap_or_default();
    let warnings = raw.header_values("warning").iter().map(|w| string(w, ctx)).collect();
    let body = match &raw.events {
        Some(events) => Value::Array(
            events
                .iter()
                .filter(|e| !(ctx.drop_bookmarks && is_periodic_bookmark(e)))
                .map(|e| value(e.clone(), ctx))
                .collect(),
        ),
        None => body(&raw.body, &content_type, ctx),
    };
    Normalized { status: raw.status, content_type, warnings, body }
}

/// A BOOKMARK that does not end a WatchList's initial events.
fn is_periodic_bookmark(event: &Value) -> bool {
    event["type"] == "BOOKMARK"
        && event["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"] != Value::String("true".into())
}

fn body(bytes: &[u8], content_type: &str, ctx: &Context) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    let ct = content_type.to_ascii_lowercase();
    if ct.contains("protobuf") {
        return Value::String("<protobuf>".into());
    }
    if ct.contains("yaml") {
        if let Ok(v) = serde_yaml_ng::from_slice::<Value>(bytes) {
            return value(v, ctx);
        }
    }
    if let Ok(v) = serde_json::from_slice::<Value>(bytes) {
        return value(v, ctx);
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Value::String(string(text, ctx)),
        Err(_) => Value::String("<binary>".into()),
    }
}

/// Normalises a string found anywhere.
pub fn string(s: &str, ctx: &Context) -> String {
    if time_re().is_match(s) {
        return "<time>".into();
    }
    let mut out = s.to_owned();
    for url in &ctx.urls {
        out = out.replace(url.as_str(), "<server>");
        if let Some(hostport) = url.strip_prefix("https://") {
            out = out.replace(hostport, "<server>");
        }
    }
    if out.contains("-----BEGIN") {
        out = pem_re().replace_all(&out, "<cert>").into_owned();
    }
    if out.contains("eyJ") {
        out = jwt_re().replace_all(&out, "<token>").into_owned();
    }
    out = uuid_re().replace_all(&out, "<uid>").into_owned();
    if out.contains("kube-api-access-") {
        out = api_access_re().replace_all(&out, "kube-api-access-<gen>").into_owned();
    }
    if out.contains("?hash=") {
        out = hash_re().replace_all(&out, "?hash=<hash>").into_owned();
    }
    rv_message_re().replace_all(&out, "resource version: <rv> (<rv>)").into_owned()
}

fn value(v: Value, ctx: &Context) -> Value {
    match v {
        Value::String(s) => Value::String(string(&s, ctx)),
        Value::Array(items) => Value::Array(items.into_iter().map(|i| value(i, ctx)).collect()),
        Value::Object(map) => Value::Object(object(map, ctx)),
        other => other,
    }
}

fn placeholder(v: &Value, text: &str) -> Value {
    match v {
        Value::String(s) if s.is_empty() => v.clone(),
        Value::Array(items) => Value::Array(items.iter().map(|i| placeholder(i, text)).collect()),
        Value::Null => Value::Null,
        _ => Value::String(text.into()),
    }
}

fn object(map: Map<String, Value>, ctx: &Context) -> Map<String, Value> {
    let generate = map.get("generateName").and_then(Value::as_str).map(str::to_owned);
    let age_column = age_column(&map);
    let mut out = Map::new();
    for (key, v) in map {
        let normalised = match key.as_str() {
            "uid" => placeholder(&v, "<uid>"),
            "resourceVersion" => placeholder(&v, "<rv>"),
            "continue" => placeholder(&v, "<continue>"),
            "clusterIP" | "clusterIPs" | "podIP" | "hostIP" => placeholder(&v, "<ip>"),
            "podIPs" | "hostIPs" => Value::String("<ips>".into()),
            "nodePort" => placeholder(&v, "<port>"),
            "managedFields" => {
                let mut entries = value(v, ctx);
                if let Some(list) = entries.as_array_mut() {
                    let key = |e: &Value| {
                        ["operation", "manager", "subresource"].map(|k| e[k].as_str().unwrap_or("").to_owned())
                    };
                    list.sort_by_key(key);
                }
                entries
            }
            "name" => match (&generate, v.as_str()) {
                (Some(prefix), Some(name)) if name.starts_with(prefix.as_str()) && name.len() > prefix.len() => {
                    Value::String(format!("{prefix}<gen>"))
                }
                _ => value(v, ctx),
            },
            "rows" if age_column.is_some() => {
                let column = age_column.unwrap_or_default();
                let mut rows = value(v, ctx);
                if let Some(rows) = rows.as_array_mut() {
                    for row in rows {
                        if let Some(cell) = row.get_mut("cells").and_then(|c| c.get_mut(column)) {
                            *cell = Value::String("<age>".into());
                        }
                    }
                }
                rows
            }
            _ => value(v, ctx),
        };
        let key = match uuid_re().replace_all(&key, "<uid>") {
            std::borrow::Cow::Owned(k) => k,
            std::borrow::Cow::Borrowed(_) => key,
        };
        out.insert(key, normalised);
    }
    out
}

/// The index of a Table's `Age` column.
fn age_column(map: &Map<String, Value>) -> Option<usize> {
    map.get("columnDefinitions")?.as_array()?.iter().position(|c| c["name"] == "Age")
}
