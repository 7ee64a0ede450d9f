//! Field-by-field comparison of two normalised responses, and the list of deliberate
//! differences (`tests/differential/deliberate.yaml`) that a difference may be
//! excused by.
//!
//! A difference is one path where the values differ: `status`, `contentType`,
//! `warnings[0]`, `body.metadata.labels.app`, `body[2].object.spec` (a watch's third
//! event), ... Paths a step ignores are dropped first. A deliberate entry names steps
//! (`FILE/ID`, `*` matching any run of characters) and optionally path prefixes; a
//! difference is deliberate when an entry matching its step covers its path.

use std::path::Path;

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

/// One differing path.
#[derive(Debug, Clone)]
pub struct Difference {
    /// Where, e.g. `body.metadata.labels`.
    pub path: String,
    /// realkube's value (`None`: absent).
    pub expected: Option<Value>,
    /// The embedded server's value (`None`: absent).
    pub actual: Option<Value>,
}

/// Every path where `expected` and `actual` differ.
pub fn diff(expected: &Value, actual: &Value) -> Vec<Difference> {
    let mut out = Vec::new();
    walk("", Some(expected), Some(actual), &mut out);
    out
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

fn walk(path: &str, expected: Option<&Value>, actual: Option<&Value>, out: &mut Vec<Difference>) {
    match (expected, actual) {
        (Some(Value::Object(e)), Some(Value::Object(a))) => {
            let mut keys: Vec<&String> = e.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                walk(&join(path, key), e.get(key), a.get(key), out);
            }
        }
        (Some(Value::Array(e)), Some(Value::Array(a))) if e.len() == a.len() => {
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                walk(&format!("{path}[{i}]"), Some(ev), Some(av), out);
            }
        }
        (e, a) if e == a => {}
        (e, a) => out.push(Difference { path: path.to_owned(), expected: e.cloned(), actual: a.cloned() }),
    }
}

/// Whether `path` is `prefix` or lies under it.
pub fn covers(prefix: &str, path: &str) -> bool {
    path == prefix || (path.starts_with(prefix) && matches!(path.as_bytes().get(prefix.len()), Some(b'.') | Some(b'[')))
}

/// A deliberate difference, as written in `deliberate.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deliberate {
    /// Steps it applies to: `FILE/ID` patterns, `*` matching anything.
    pub steps: Vec<String>,
    /// Path prefixes it excuses (none: every path of those steps).
    #[serde(default)]
    pub paths: Vec<String>,
    /// Why the difference is kept.
    pub reason: String,
    /// Where it is tracked (an issue), if anywhere.
    #[serde(default)]
    pub issue: Option<String>,
    #[serde(skip)]
    patterns: Vec<Option<Regex>>,
    #[serde(skip)]
    path_patterns: Vec<Option<Regex>>,
}

/// `deliberate.yaml` could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeliberateError {
    /// Reading or parsing failed.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
}

/// Reads the list of deliberate differences.
pub fn load_deliberate(path: &Path) -> Result<Vec<Deliberate>, DeliberateError> {
    let invalid = |message: String| DeliberateError::Invalid { path: path.display().to_string(), message };
    let text = std::fs::read_to_string(path).map_err(|e| invalid(e.to_string()))?;
    let mut entries: Vec<Deliberate> = serde_yaml_ng::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    for entry in &mut entries {
        entry.patterns = entry
            .steps
            .iter()
            .map(|p| {
                let pattern = format!("^{}$", regex::escape(p).replace(r"\*", ".*"));
                Regex::new(&pattern).ok()
            })
            .collect();
        entry.path_patterns = entry
            .paths
            .iter()
            .map(|p| {
                let pattern = format!(r"^{}([.\[].*)?$", regex::escape(p).replace(r"\*", ".*"));
                Regex::new(&pattern).ok()
            })
            .collect();
    }
    Ok(entries)
}

impl Deliberate {
    /// Whether it excuses `difference` of step `step` (`FILE/ID`).
    pub fn excuses(&self, step: &str, difference: &Difference) -> bool {
        let step_matches = self.patterns.iter().flatten().any(|re| re.is_match(step));
        step_matches
            && (self.paths.is_empty() || self.path_patterns.iter().flatten().any(|re| re.is_match(&difference.path)))
    }
}
