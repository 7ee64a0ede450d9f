//! The corpus: YAML files under `tests/differential/corpus/`, each a sequence of
//! requests replayed in order against both servers. This module only reads and checks
//! them; `run` sends them and `compare` judges the answers.
//!
//! A file is a mapping with an optional `namespace` (the value of `{ns}`, default
//! `d-` plus the file's stem) and `steps`, a list of requests:
//!
//! ```yaml
//! namespace: d-crud            # optional
//! steps:
//! - id: create                 # unique in the file; the report names it FILE/ID
//!   method: POST               # default GET
//!   path: /api/v1/namespaces/{ns}/configmaps
//!   query: {dryRun: All}       # mapping (or list of [key, value] pairs for repeats)
//!   headers: {Accept: application/json;as=Table;v=v1;g=meta.k8s.io}
//!   user: admin                # admin (default), alice (no rights), anonymous
//!   body: {kind: ConfigMap}    # any YAML value, sent as JSON (Content-Type
//!                              # application/json unless headers say otherwise)
//!   raw: "{not json"           # or a body sent as is
//!   oversize: 3145728          # or a JSON ConfigMap padded to this many bytes
//!   capture: {rv0: metadata.resourceVersion}   # per-server variables, used as {rv0}
//!   watch: {events: 2}         # a streaming response: read this many events
//!   wait: {status: 200, path: status.phase, equals: Running}   # repeat until true
//!   compare: false             # send, capture, but do not compare
//!   ignore: [body.status]      # paths left out of the comparison
//!   unordered: [body.details.causes]   # arrays compared in any order
//! ```
//!
//! Variables are written `{name}`: `{ns}` and the captures of earlier steps (each
//! server has its own values, so a captured resourceVersion or name is that server's).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A corpus file that could not be read or is malformed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CorpusError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a valid corpus file.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// One corpus file.
#[derive(Debug, Clone)]
pub struct CorpusFile {
    /// The file's stem, e.g. `crud`.
    pub name: String,
    /// The value of `{ns}`.
    pub namespace: String,
    /// The requests, in order.
    pub steps: Vec<Step>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    namespace: Option<String>,
    steps: Vec<Step>,
}

/// Who sends a request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum User {
    /// `differential-admin`, group `system:masters`.
    #[default]
    Admin,
    /// `alice`, no groups: RBAC allows her only what every authenticated user may do.
    Alice,
    /// No credentials.
    Anonymous,
}

/// The query: a mapping, or a list of pairs when a key repeats.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Query {
    /// `{key: value}`.
    Map(BTreeMap<String, serde_yaml_ng::Value>),
    /// `[[key, value], ...]`.
    Pairs(Vec<(String, String)>),
}

impl Query {
    /// The pairs in order, values as strings.
    pub fn pairs(&self) -> Vec<(String, String)> {
        match self {
            Query::Map(map) => map.iter().map(|(k, v)| (k.clone(), scalar(v))).collect(),
            Query::Pairs(pairs) => pairs.clone(),
        }
    }
}

/// A YAML scalar as query text (`true`, `5`, `All`).
fn scalar(v: &serde_yaml_ng::Value) -> String {
    match v {
        serde_yaml_ng::Value::String(s) => s.clone(),
        serde_yaml_ng::Value::Bool(b) => b.to_string(),
        serde_yaml_ng::Value::Number(n) => n.to_string(),
        serde_yaml_ng::Value::Null => String::new(),
        other => serde_yaml_ng::to_string(other).unwrap_or_default().trim().to_owned(),
    }
}

/// Read a streaming (watch) response.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchSpec {
    /// Stop after this many events (the stream ending earlier also stops).
    pub events: usize,
    /// Leave out BOOKMARK events other than the one ending the initial events of a
    /// WatchList (periodic bookmarks come at each server's own pace).
    #[serde(default = "yes")]
    pub drop_bookmarks: bool,
    /// Give up waiting for more events after this many seconds (default 15).
    pub timeout: Option<u64>,
}

fn yes() -> bool {
    true
}

/// Repeat a request until its answer satisfies this, for state a server reaches
/// asynchronously (a controller's work). Not a sleep: the condition is observed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitSpec {
    /// The status code to wait for (default 200).
    pub status: Option<u16>,
    /// A dotted path into the JSON body whose value must equal `equals` (or, without
    /// `equals`, exist).
    pub path: Option<String>,
    /// The value wanted at `path`.
    pub equals: Option<serde_json::Value>,
    /// Give up after this many seconds (default 60).
    pub timeout: Option<u64>,
}

/// One request of the corpus.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Its name, unique in the file.
    pub id: String,
    /// The HTTP method (default GET).
    #[serde(default = "get")]
    pub method: String,
    /// The path, with `{variables}`.
    pub path: String,
    /// Query parameters.
    pub query: Option<Query>,
    /// Request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Who sends it.
    #[serde(default)]
    pub user: User,
    /// A body, sent as JSON.
    pub body: Option<serde_yaml_ng::Value>,
    /// A body sent as is.
    pub raw: Option<String>,
    /// A body of this many bytes: a ConfigMap whose data value pads it.
    pub oversize: Option<usize>,
    /// Variables to take from the (JSON) response: name -> dotted path.
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
    /// A streaming response.
    pub watch: Option<WatchSpec>,
    /// Repeat until.
    pub wait: Option<WaitSpec>,
    /// Compare the responses (default true; false for set-up and waits).
    pub compare: Option<bool>,
    /// Paths left out of the comparison (`status`, `body.metadata.labels`, ...).
    #[serde(default)]
    pub ignore: Vec<String>,
    /// Dotted paths of arrays compared as multisets (sorted on both sides first), for
    /// answers whose order kube-apiserver leaves to Go's map iteration.
    #[serde(default)]
    pub unordered: Vec<String>,
}

fn get() -> String {
    "GET".to_owned()
}

impl Step {
    /// Whether the responses are compared: by default yes, except for waits.
    pub fn compared(&self) -> bool {
        self.compare.unwrap_or(self.wait.is_none())
    }
}

/// Reads every `*.yaml` file of `dir`, sorted by name.
pub fn load_dir(dir: &Path) -> Result<Vec<CorpusFile>, CorpusError> {
    let entries = std::fs::read_dir(dir).map_err(|source| CorpusError::Read { path: dir.to_owned(), source })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    paths.iter().map(|p| load_file(p)).collect()
}

/// Reads one corpus file.
pub fn load_file(path: &Path) -> Result<CorpusFile, CorpusError> {
    let text = std::fs::read_to_string(path).map_err(|source| CorpusError::Read { path: path.to_owned(), source })?;
    let invalid = |message: String| CorpusError::Invalid { path: path.to_owned(), message };
    let raw: RawFile = serde_yaml_ng::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let mut seen = std::collections::BTreeSet::new();
    for step in &raw.steps {
        if !seen.insert(step.id.clone()) {
            return Err(invalid(format!("step id {:?} appears twice", step.id)));
        }
        let bodies = [step.body.is_some(), step.raw.is_some(), step.oversize.is_some()];
        if bodies.iter().filter(|b| **b).count() > 1 {
            return Err(invalid(format!("step {}: at most one of body, raw, oversize", step.id)));
        }
    }
    let namespace = raw.namespace.unwrap_or_else(|| format!("d-{name}"));
    Ok(CorpusFile { name, namespace, steps: raw.steps })
}
