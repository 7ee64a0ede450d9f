//! Object metadata helpers: uids, timestamps, generated names, field access, and the
//! conversion of stored objects to the version a request asked for.

use std::sync::Arc;

use rand::Rng;
use serde_json::{Map, Value};

use crate::api::ResourceInfo;

/// Store key of a resource: `group/plural` (`/pods` for the core group), shared by all
/// versions the resource is served at.
pub fn resource_key(info: &ResourceInfo) -> String {
    format!("{}/{}", info.group, info.plural)
}

/// Now, RFC 3339 in UTC with seconds precision (`2026-11-24T10:00:00Z`).
pub fn now_rfc3339() -> String {
    let secs = jiff::Timestamp::now().as_second();
    match jiff::Timestamp::from_second(secs) {
        Ok(ts) => ts.to_string(),
        Err(_) => jiff::Timestamp::now().to_string(),
    }
}

/// A random (version 4) UUID, e.g. `6f1c3a2e-...`.
pub fn new_uid() -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut b: [u8; 16] = rand::rng().random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut out = String::with_capacity(36);
    for (i, x) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(HEX[usize::from(x >> 4)] as char);
        out.push(HEX[usize::from(x & 0x0f)] as char);
    }
    out
}

const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// `base` (cut to 58 characters) followed by 5 random characters, as kube's
/// `SimpleNameGenerator`.
pub fn generate_name(base: &str) -> String {
    let mut cut = base.len().min(58);
    while !base.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut rng = rand::rng();
    let suffix: String = (0..5).map(|_| NAME_ALPHABET[rng.random_range(0..NAME_ALPHABET.len())] as char).collect();
    format!("{}{}", &base[..cut], suffix)
}

/// `metadata.<field>` as a string, if set.
pub fn meta_str<'v>(obj: &'v Value, field: &str) -> Option<&'v str> {
    obj.get("metadata")?.get(field)?.as_str()
}

/// `metadata` of an object, created if missing (the object must be a JSON object; a
/// non-object value yields a detached scratch map, which callers never produce since
/// bodies are checked to be objects first).
pub fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = Value::Object(Map::new());
    }
    let map = match obj {
        Value::Object(m) => m,
        _ => unreachable!("made an object above"),
    };
    let meta = map.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    match meta {
        Value::Object(m) => m,
        _ => unreachable!("made an object above"),
    }
}

/// `metadata.finalizers`, empty when unset.
pub fn finalizers(obj: &Value) -> Vec<&str> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Whether `metadata.deletionTimestamp` is set.
pub fn is_deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null())
}

/// `metadata.generation`, 0 when unset.
pub fn generation(obj: &Value) -> i64 {
    obj.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0)
}

/// Whether `kind` and `apiVersion` of `obj` are those of `info` (no allocation).
fn has_type(obj: &Value, info: &ResourceInfo) -> (bool, bool) {
    let kind_ok = obj.get("kind").and_then(Value::as_str) == Some(info.kind.as_str());
    let av_ok = match obj.get("apiVersion").and_then(Value::as_str) {
        Some(av) if info.group.is_empty() => av == info.version,
        Some(av) => av
            .strip_prefix(info.group.as_str())
            .and_then(|rest| rest.strip_prefix('/'))
            .is_some_and(|v| v == info.version),
        None => false,
    };
    (kind_ok, av_ok)
}

/// Whether `obj` carries the `kind` and `apiVersion` of `info`.
pub fn is_typed(obj: &Value, info: &ResourceInfo) -> bool {
    has_type(obj, info) == (true, true)
}

/// Sets `kind` and `apiVersion` to those of `info`.
pub fn set_type(obj: &mut Value, info: &ResourceInfo) {
    let (kind_ok, av_ok) = has_type(obj, info);
    if let Some(map) = obj.as_object_mut() {
        if !kind_ok {
            map.insert("kind".into(), Value::String(info.kind.clone()));
        }
        if !av_ok {
            map.insert("apiVersion".into(), Value::String(info.api_version()));
        }
    }
}

/// A stored object as served at `info`'s version (shared when nothing changes).
pub fn shared_for(obj: &Arc<Value>, info: &ResourceInfo) -> Arc<Value> {
    if has_type(obj, info) == (true, true) {
        Arc::clone(obj)
    } else {
        let mut v = (**obj).clone();
        set_type(&mut v, info);
        Arc::new(v)
    }
}

/// An owned copy of a stored object as served at `info`'s version.
pub fn owned_for(obj: &Arc<Value>, info: &ResourceInfo) -> Value {
    let mut v = (**obj).clone();
    set_type(&mut v, info);
    v
}

/// Whether objects of `info` carry `metadata.generation`: custom resources and the
/// built-in types whose kube-apiserver strategy sets it (workloads, pods,
/// policies, webhooks, CRDs, ...). ConfigMaps, Secrets, Namespaces, Services and the
/// like have none.
pub fn tracks_generation(info: &crate::api::ResourceInfo, custom: bool) -> bool {
    if custom {
        return true;
    }
    match info.group.as_str() {
        "apps" => matches!(info.plural.as_str(), "deployments" | "replicasets" | "statefulsets" | "daemonsets"),
        "batch" => matches!(info.plural.as_str(), "jobs" | "cronjobs"),
        "" => matches!(info.plural.as_str(), "pods" | "replicationcontrollers"),
        "networking.k8s.io" => matches!(info.plural.as_str(), "networkpolicies" | "ingresses" | "ingressclasses"),
        "policy" => info.plural == "poddisruptionbudgets",
        "admissionregistration.k8s.io" | "apiextensions.k8s.io" => true,
        "resource.k8s.io" => info.plural == "deviceclasses",
        "discovery.k8s.io" => info.plural == "endpointslices",
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_and_names() {
        let u = new_uid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_eq!([&u[8..9], &u[13..14], &u[18..19], &u[23..24]], ["-"; 4]);
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(new_uid(), u);
        let n = generate_name("web-");
        assert_eq!(n.len(), 9);
        assert!(n.starts_with("web-"));
        assert!(n[4..].bytes().all(|c| NAME_ALPHABET.contains(&c)));
        assert_eq!(generate_name(&"x".repeat(100)).len(), 63);
        let ts = now_rfc3339();
        assert!(ts.ends_with('Z') && ts.len() == 20, "{ts}");
    }
}
