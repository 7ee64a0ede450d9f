//! Field access on generic JSON objects for the controllers: names, labels, owner
//! references, label selectors (evaluated by the shared `ferrokube-apimachinery`
//! implementation), pod conditions and timestamps.
//!
//! Every accessor tolerates unexpected shapes (a missing or mistyped field reads as
//! empty), so a controller never panics on an object a user wrote by hand.
//!
//! Deeper fields are read through one path helper, [`at`] (and its typed variants
//! [`str_at`], [`int_at`], [`bool_at`], [`array_at`]), which takes the path as a slice
//! of segments (`&["spec", "template", "metadata", "labels"]`) and walks it with
//! `get`. `Value::pointer` reads the same fields but copies every segment of its path
//! into a new `String` on every call, and these reads run for every object of every
//! controller pass; the controllers therefore never call it ([`at_mut`] likewise
//! stands in for `Value::pointer_mut`).

use ferrokube_apimachinery::labels::Selector;
use serde_json::{json, Map, Value};

pub use super::json::{AsJson, Json, JsonObject};

/// `obj.metadata.<key>`.
fn meta_field<'a, J: Json>(obj: &'a J, key: &str) -> Option<&'a J> {
    obj.get("metadata")?.get(key)
}

/// `obj.status.<key>`.
fn status_field<'a, J: Json>(obj: &'a J, key: &str) -> Option<&'a J> {
    obj.get("status")?.get(key)
}

/// `metadata.name` ("" when unset).
pub fn name<O: AsJson + ?Sized>(obj: &O) -> &str {
    let obj = obj.json();
    meta_field(obj, "name").and_then(Json::as_str).unwrap_or("")
}

/// `metadata.namespace`.
pub fn namespace<O: AsJson + ?Sized>(obj: &O) -> Option<&str> {
    let obj = obj.json();
    meta_field(obj, "namespace").and_then(Json::as_str).filter(|s| !s.is_empty())
}

/// `metadata.uid` ("" when unset).
pub fn uid<O: AsJson + ?Sized>(obj: &O) -> &str {
    let obj = obj.json();
    meta_field(obj, "uid").and_then(Json::as_str).unwrap_or("")
}

/// `metadata.resourceVersion` ("" when unset).
pub fn resource_version<O: AsJson + ?Sized>(obj: &O) -> &str {
    let obj = obj.json();
    meta_field(obj, "resourceVersion").and_then(Json::as_str).unwrap_or("")
}

/// `metadata.generation` (0 when unset).
pub fn generation<O: AsJson + ?Sized>(obj: &O) -> i64 {
    let obj = obj.json();
    meta_field(obj, "generation").and_then(Json::as_i64).unwrap_or(0)
}

/// `metadata.creationTimestamp` ("" when unset; RFC 3339 strings sort by time).
pub fn created<O: AsJson + ?Sized>(obj: &O) -> &str {
    let obj = obj.json();
    meta_field(obj, "creationTimestamp").and_then(Json::as_str).unwrap_or("")
}

/// Whether `metadata.deletionTimestamp` is set.
pub fn is_deleting<O: AsJson + ?Sized>(obj: &O) -> bool {
    let obj = obj.json();
    meta_field(obj, "deletionTimestamp").is_some_and(|v| !v.is_null())
}

/// `metadata.labels` (empty when unset), copied: for code that edits or keeps them;
/// reads use [`labels_of`] or [`label`].
pub fn labels<O: AsJson + ?Sized>(obj: &O) -> Map<String, Value> {
    let obj = obj.json();
    labels_of(obj).map(|l| l.iter().map(|(k, v)| (k.to_owned(), v.to_value())).collect()).unwrap_or_default()
}

/// `metadata.labels`, borrowed (`None` when unset or not an object).
pub fn labels_of<O: AsJson + ?Sized>(obj: &O) -> Option<&<O::J as Json>::Object> {
    let obj = obj.json();
    meta_field(obj, "labels").and_then(Json::as_object)
}

/// One label, if set to a string.
pub fn label<'a, O: AsJson + ?Sized>(obj: &'a O, key: &str) -> Option<&'a str> {
    let obj = obj.json();
    labels_of(obj)?.get(key).and_then(Json::as_str)
}

/// One annotation.
pub fn annotation<'a, O: AsJson + ?Sized>(obj: &'a O, key: &str) -> Option<&'a str> {
    let obj = obj.json();
    meta_field(obj, "annotations").and_then(|a| a.get(key)).and_then(Json::as_str)
}

/// Sets one annotation.
pub fn set_annotation(obj: &mut Value, key: &str, value: &str) {
    let m = meta_mut(obj);
    let a = m.entry("annotations").or_insert_with(|| json!({}));
    if !a.is_object() {
        *a = json!({});
    }
    if let Some(a) = a.as_object_mut() {
        a.insert(key.to_owned(), json!(value));
    }
}

/// `metadata`, created if missing (a non-object value is replaced by an object).
pub fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    crate::object::meta::meta_mut(obj)
}

/// `metadata.finalizers`.
pub fn finalizers<O: AsJson + ?Sized>(obj: &O) -> Vec<String> {
    let obj = obj.json();
    meta_field(obj, "finalizers")
        .and_then(Json::as_array)
        .map(|a| a.iter().filter_map(Json::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Replaces `metadata.finalizers`.
pub fn set_finalizers(obj: &mut Value, finalizers: &[String]) {
    let m = meta_mut(obj);
    if finalizers.is_empty() {
        m.remove("finalizers");
    } else {
        m.insert("finalizers".into(), json!(finalizers));
    }
}

/// `metadata.ownerReferences`.
pub fn owner_refs<O: AsJson + ?Sized>(obj: &O) -> Vec<Value> {
    let obj = obj.json();
    owner_refs_of(obj).iter().map(Json::to_value).collect()
}

/// `metadata.ownerReferences`, borrowed.
pub fn owner_refs_of<O: AsJson + ?Sized>(obj: &O) -> &[O::J] {
    let obj = obj.json();
    meta_field(obj, "ownerReferences").and_then(Json::as_array).unwrap_or(&[])
}

/// Replaces `metadata.ownerReferences`.
pub fn set_owner_refs(obj: &mut Value, refs: Vec<Value>) {
    let m = meta_mut(obj);
    if refs.is_empty() {
        m.remove("ownerReferences");
    } else {
        m.insert("ownerReferences".into(), Value::Array(refs));
    }
}

/// The owner reference marked `controller: true`, if any.
pub fn controller_ref_of<O: AsJson + ?Sized>(obj: &O) -> Option<&O::J> {
    owner_refs_of(obj).iter().find(|r| r.get("controller").and_then(Json::as_bool) == Some(true))
}

/// The uid of the owner reference marked `controller: true`, if any.
pub fn controller_uid<O: AsJson + ?Sized>(obj: &O) -> Option<&str> {
    controller_ref_of(obj).and_then(|r| r.get("uid").and_then(Json::as_str))
}

/// The cache key of an object: `namespace/name`, or `name` when cluster-scoped.
pub fn key<O: AsJson + ?Sized>(obj: &O) -> String {
    match namespace(obj) {
        Some(ns) => format!("{ns}/{}", name(obj)),
        None => name(obj).to_owned(),
    }
}

/// An ownerReference naming `owner` as the controller (`blockOwnerDeletion: true`).
pub fn controller_ref<O: AsJson + ?Sized>(owner: &O, api_version: &str, kind: &str) -> Value {
    let owner = owner.json();
    json!({
        "apiVersion": api_version,
        "kind": kind,
        "name": name(owner),
        "uid": uid(owner),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// The selector of a workload's `spec.selector` (a `metav1.LabelSelector`), through
/// the shared implementation ([`ferrokube_apimachinery::labels`]); `None` when it is
/// missing, empty or malformed: the workload controllers then select nothing
/// (validation refuses such workloads; a controller must not adopt every pod).
pub fn owner_selector(selector: &Value) -> Option<Selector> {
    Selector::from_label_selector(selector).ok().flatten().filter(|s| !s.is_empty())
}

/// Whether `labels` satisfies a `metav1.LabelSelector` (matchLabels and
/// matchExpressions), as [`owner_selector`] reads it.
pub fn selector_matches<L: JsonObject<J>, J: Json>(selector: &Value, labels: &L) -> bool {
    owner_selector(selector).is_some_and(|s| s.matches_with(|k| labels.get(k).and_then(Json::as_str)))
}

/// A pod's condition of type `ty`, if present.
pub fn condition<'a, O: AsJson + ?Sized>(obj: &'a O, ty: &str) -> Option<&'a O::J> {
    let obj = obj.json();
    status_field(obj, "conditions")
        .and_then(Json::as_array)?
        .iter()
        .find(|c| c.get("type").and_then(Json::as_str) == Some(ty))
}

/// Whether condition `ty` has status `True`.
pub fn condition_true<O: AsJson + ?Sized>(obj: &O, ty: &str) -> bool {
    let obj = obj.json();
    condition(obj, ty).and_then(|c| c.get("status")).and_then(Json::as_str) == Some("True")
}

/// `status.phase` of a pod ("" when unset).
pub fn phase<O: AsJson + ?Sized>(pod: &O) -> &str {
    let pod = pod.json();
    status_field(pod, "phase").and_then(Json::as_str).unwrap_or("")
}

/// Whether a pod counts as active for its controller: not terminated, not deleting.
pub fn pod_active<O: AsJson + ?Sized>(pod: &O) -> bool {
    let pod = pod.json();
    !is_deleting(pod) && !matches!(phase(pod), "Succeeded" | "Failed")
}

/// Whether a pod is Ready.
pub fn pod_ready<O: AsJson + ?Sized>(pod: &O) -> bool {
    let pod = pod.json();
    condition_true(pod, "Ready") && !is_deleting(pod)
}

/// Whether a pod has been Ready for at least `min_ready_seconds` (at `now`, seconds
/// since the epoch). With 0, Ready means available.
pub fn pod_available<O: AsJson + ?Sized>(pod: &O, min_ready_seconds: i64, now: i64) -> bool {
    let pod = pod.json();
    if !pod_ready(pod) {
        return false;
    }
    if min_ready_seconds <= 0 {
        return true;
    }
    let since =
        condition(pod, "Ready").and_then(|c| c.get("lastTransitionTime")).and_then(Json::as_str).and_then(parse_time);
    since.is_some_and(|t| t + min_ready_seconds <= now)
}

/// Seconds since the epoch of an RFC 3339 time.
pub fn parse_time(s: &str) -> Option<i64> {
    s.parse::<jiff::Timestamp>().ok().map(|t| t.as_second())
}

/// Now, seconds since the epoch.
pub fn now_secs() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// Now, RFC 3339 with seconds (as kube writes timestamps).
pub fn now() -> String {
    crate::object::meta::now_rfc3339()
}

/// The value at `path` under `obj`, without allocating: each segment names a field
/// of an object or, on an array, an element by its decimal index (`"0"`, `"12"`; no
/// sign, no leading zero). It finds what `Value::pointer` finds for the pointer made
/// of the same segments (`&["spec", "containers", "0", "name"]` reads
/// `/spec/containers/0/name`), with the segments taken literally: a key holding `/`
/// or `~` needs no escaping. The empty path is `obj` itself; a missing field, an index
/// out of range or a segment that meets a scalar give `None`.
pub fn at<'a, O: AsJson + ?Sized>(obj: &'a O, path: &[&str]) -> Option<&'a O::J> {
    let obj = obj.json();
    path.iter().try_fold(obj, |v, seg| match (v.as_object(), v.as_array()) {
        (Some(m), _) => m.get(seg),
        (_, Some(a)) => array_index(seg).and_then(|i| a.get(i)),
        _ => None,
    })
}

/// [`at`] for writing: the value at `path`, mutably (`Value::pointer_mut` without
/// its copies of the segments).
pub fn at_mut<'a>(obj: &'a mut Value, path: &[&str]) -> Option<&'a mut Value> {
    path.iter().try_fold(obj, |v, seg| match v {
        Value::Object(m) => m.get_mut(*seg),
        Value::Array(a) => array_index(seg).and_then(|i| a.get_mut(i)),
        _ => None,
    })
}

/// An array index as a path segment: ASCII digits only, and no leading zero except
/// for `0` itself (as a JSON Pointer reads it).
fn array_index(seg: &str) -> Option<usize> {
    let digits = !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit());
    if !digits || (seg.len() > 1 && seg.starts_with('0')) {
        return None;
    }
    seg.parse().ok()
}

/// The string at `path` ([`at`]); "" when missing or not a string.
pub fn str_at<'a, O: AsJson + ?Sized>(obj: &'a O, path: &[&str]) -> &'a str {
    let obj = obj.json();
    at(obj, path).and_then(Json::as_str).unwrap_or("")
}

/// The integer at `path` ([`at`]; `spec.replicas` and the like); `default` when
/// missing or not an integer.
pub fn int_at<O: AsJson + ?Sized>(obj: &O, path: &[&str], default: i64) -> i64 {
    let obj = obj.json();
    at(obj, path).and_then(Json::as_i64).unwrap_or(default)
}

/// Whether the value at `path` ([`at`]) is the boolean `true` (a missing or mistyped
/// field reads as `false`).
pub fn bool_at<O: AsJson + ?Sized>(obj: &O, path: &[&str]) -> bool {
    let obj = obj.json();
    at(obj, path).and_then(Json::as_bool) == Some(true)
}

/// The array at `path` ([`at`]), borrowed; empty when missing or not an array.
pub fn array_at<'a, O: AsJson + ?Sized>(obj: &'a O, path: &[&str]) -> &'a [O::J] {
    let obj = obj.json();
    at(obj, path).and_then(Json::as_array).unwrap_or(&[])
}

/// The object at `path` ([`at`]), if it is one.
pub fn object_at<'a, O: AsJson + ?Sized>(obj: &'a O, path: &[&str]) -> Option<&'a <O::J as Json>::Object> {
    let obj = obj.json();
    at(obj, path).and_then(Json::as_object)
}

/// Sets a condition in `status.conditions` (of `obj`), keeping `lastTransitionTime`
/// when the status does not change. `probe_time` adds `lastProbeTime` (pods) or
/// `lastUpdateTime` (workloads) as kube does for that kind.
pub fn set_condition(
    obj: &mut Value,
    ty: &str,
    status: &str,
    reason: Option<&str>,
    message: Option<&str>,
    update_time: bool,
) {
    let now = now();
    let old = condition(obj, ty).cloned();
    let mut c = Map::new();
    c.insert("type".into(), json!(ty));
    c.insert("status".into(), json!(status));
    let same_status = old.as_ref().and_then(|o| o.get("status")).and_then(Value::as_str) == Some(status);
    let transition = match (&old, same_status) {
        (Some(o), true) => o.get("lastTransitionTime").cloned().unwrap_or(json!(now)),
        _ => json!(now),
    };
    if update_time {
        let unchanged = same_status
            && old.as_ref().and_then(|o| o.get("reason")).and_then(Value::as_str) == reason
            && old.as_ref().and_then(|o| o.get("message")).and_then(Value::as_str) == message;
        let upd = match (&old, unchanged) {
            (Some(o), true) => o.get("lastUpdateTime").cloned().unwrap_or(json!(now)),
            _ => json!(now),
        };
        c.insert("lastUpdateTime".into(), upd);
    } else {
        c.insert("lastProbeTime".into(), Value::Null);
    }
    c.insert("lastTransitionTime".into(), transition);
    if let Some(r) = reason {
        c.insert("reason".into(), json!(r));
    }
    if let Some(m) = message {
        c.insert("message".into(), json!(m));
    }
    let Some(map) = obj.as_object_mut() else { return };
    let status_v = map.entry("status").or_insert_with(|| json!({}));
    if !status_v.is_object() {
        *status_v = json!({});
    }
    let Some(st) = status_v.as_object_mut() else { return };
    let conds = st.entry("conditions").or_insert_with(|| json!([]));
    if !conds.is_array() {
        *conds = json!([]);
    }
    if let Some(arr) = conds.as_array_mut() {
        match arr.iter_mut().find(|x| x.get("type").and_then(Value::as_str) == Some(ty)) {
            Some(slot) => *slot = Value::Object(c),
            None => arr.push(Value::Object(c)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors() {
        let labels = json!({"app": "web", "tier": "fe"});
        let labels = labels.as_object().unwrap();
        assert!(selector_matches(&json!({"matchLabels": {"app": "web"}}), labels));
        assert!(!selector_matches(&json!({"matchLabels": {"app": "db"}}), labels));
        assert!(!selector_matches(&json!({}), labels));
        assert!(selector_matches(
            &json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe", "be"]}]}),
            labels
        ));
        assert!(!selector_matches(&json!({"matchExpressions": [{"key": "x", "operator": "Exists"}]}), labels));
        assert!(selector_matches(&json!({"matchExpressions": [{"key": "x", "operator": "DoesNotExist"}]}), labels));
        assert!(!selector_matches(&json!("garbage"), labels));
        assert!(!selector_matches(&json!({"matchLabels": {}}), labels), "empty selects nothing");
        assert!(selector_matches(
            &json!({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["be"]}]}),
            labels
        ));
        assert!(!selector_matches(
            &json!({"matchExpressions": [{"key": "tier", "operator": "Gt", "values": ["1"]}]}),
            labels
        ));
    }

    #[test]
    fn accessors_read_what_a_json_pointer_reads() {
        let pod = json!({"metadata": {"name": "p", "namespace": "ns", "uid": "u", "generation": 3,
            "deletionTimestamp": "2020-01-01T00:00:00Z", "ownerReferences": [{"uid": "o", "controller": true}]},
            "status": {"phase": "Running"}});
        assert_eq!((name(&pod), namespace(&pod), uid(&pod), generation(&pod)), ("p", Some("ns"), "u", 3));
        assert!(is_deleting(&pod));
        assert_eq!(controller_uid(&pod), Some("o"));
        assert_eq!(controller_ref_of(&pod).and_then(|r| r.get("uid")), Some(&json!("o")));
        assert_eq!(key(&pod), "ns/p");
        assert_eq!(key(&json!({"metadata": {"name": "node-1"}})), "node-1", "cluster-scoped");
        assert_eq!(phase(&pod), "Running");
        // Mistyped shapes read as empty, as they do through `Value::pointer`.
        for odd in [json!({"metadata": ["name"], "status": "x"}), json!([{"metadata": {"name": "p"}}]), json!(null)] {
            assert_eq!((name(&odd), namespace(&odd), uid(&odd), phase(&odd)), ("", None, "", ""));
            assert!(!is_deleting(&odd) && owner_refs_of(&odd).is_empty() && controller_uid(&odd).is_none());
        }
        assert!(!is_deleting(&json!({"metadata": {"deletionTimestamp": null}})));
        let labelled = json!({"metadata": {"labels": {"app": "web", "n": 1}}});
        assert_eq!((label(&labelled, "app"), label(&labelled, "n"), label(&labelled, "x")), (Some("web"), None, None));
        assert_eq!(labels_of(&labelled), Some(&labels(&labelled)));
        assert_eq!((labels_of(&pod), label(&pod, "app")), (None, None));
        assert!(labels_of(&json!({"metadata": {"labels": "app"}})).is_none());
    }

    #[test]
    fn paths_read_what_a_json_pointer_reads() {
        let pod = json!({
            "metadata": {"name": "p", "labels": {"topology.kubernetes.io/zone": "z1", "a~b": "t"}},
            "spec": {"replicas": 3, "paused": true, "suspend": "true",
                     "containers": [{"name": "c0"}, {"name": "c1", "ports": [{"containerPort": 80}]}]},
            "status": {"podIP": "10.0.0.1", "podIPs": [], "nothing": null},
        });
        // Every path agrees with `Value::pointer` (and `at_mut` with `pointer_mut`) on
        // the same segments, escaped as a JSON Pointer escapes them.
        let paths: &[&[&str]] = &[
            &[],
            &["metadata", "name"],
            &["spec", "containers", "0", "name"],
            &["spec", "containers", "1", "ports", "0", "containerPort"],
            &["spec", "containers", "2", "name"],
            &["spec", "containers", "01", "name"],
            &["spec", "containers", "+1", "name"],
            &["spec", "containers", "-1", "name"],
            &["spec", "containers", "", "name"],
            &["spec", "containers", "name"],
            &["spec", "replicas", "x"],
            &["metadata", "missing", "deeper"],
            &["status", "nothing"],
            &["status", "nothing", "x"],
            &["spec", ""],
            &["metadata", "labels", "topology.kubernetes.io/zone"],
            &["metadata", "labels", "a~b"],
        ];
        for path in paths {
            let pointer: String =
                path.iter().map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1"))).collect();
            assert_eq!(at(&pod, path), pod.pointer(&pointer), "{path:?}");
            let (mut a, mut b) = (pod.clone(), pod.clone());
            assert_eq!(at_mut(&mut a, path), b.pointer_mut(&pointer), "{path:?}");
        }
        let mut edited = pod.clone();
        if let Some(Value::String(s)) = at_mut(&mut edited, &["spec", "containers", "1", "name"]) {
            s.push('x');
        }
        assert_eq!(edited["spec"]["containers"][1]["name"], "c1x");
        assert_eq!(at(&pod, &["spec", "containers", "1", "name"]), Some(&json!("c1")));
        // Segments are literal keys: no `~1` / `~0` escaping.
        assert_eq!(str_at(&pod, &["metadata", "labels", "topology.kubernetes.io/zone"]), "z1");
        assert_eq!(str_at(&pod, &["metadata", "labels", "a~b"]), "t");
        assert_eq!(at(&pod, &["metadata", "labels", "topology.kubernetes.io~1zone"]), None);
        // Typed reads: the value, or the default when missing or mistyped.
        assert_eq!(str_at(&pod, &["status", "podIP"]), "10.0.0.1");
        assert_eq!(str_at(&pod, &["spec", "replicas"]), "");
        assert_eq!(str_at(&pod, &["status", "missing"]), "");
        assert_eq!(int_at(&pod, &["spec", "replicas"], 1), 3);
        assert_eq!(int_at(&pod, &["spec", "missing"], 1), 1);
        assert_eq!(int_at(&pod, &["metadata", "name"], 7), 7);
        assert!(bool_at(&pod, &["spec", "paused"]));
        assert!(!bool_at(&pod, &["spec", "suspend"]), "a string is not a boolean");
        assert!(!bool_at(&pod, &["spec", "missing"]));
        assert_eq!(array_at(&pod, &["spec", "containers"]).len(), 2);
        assert!(array_at(&pod, &["status", "podIPs"]).is_empty());
        assert!(array_at(&pod, &["metadata", "name"]).is_empty());
        assert!(array_at(&pod, &["spec", "missing"]).is_empty());
        assert_eq!(object_at(&pod, &["metadata", "labels"]).map(Map::len), Some(2));
        assert!(object_at(&pod, &["spec", "containers"]).is_none());
        for odd in [json!(null), json!("x"), json!([1, 2]), json!(5)] {
            assert_eq!(at(&odd, &["spec", "replicas"]), None);
            assert_eq!(at(&odd, &[]), Some(&odd));
        }
        assert_eq!(at(&json!([1, 2]), &["1"]), Some(&json!(2)));
    }

    #[test]
    fn conditions_keep_transition_time() {
        let mut pod = json!({"status": {"conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": "2020-01-01T00:00:00Z"}
        ]}});
        set_condition(&mut pod, "Ready", "True", None, None, false);
        assert_eq!(condition(&pod, "Ready").unwrap()["lastTransitionTime"], "2020-01-01T00:00:00Z");
        set_condition(&mut pod, "Ready", "False", None, None, false);
        assert_ne!(condition(&pod, "Ready").unwrap()["lastTransitionTime"], "2020-01-01T00:00:00Z");
        assert!(!condition_true(&pod, "Ready"));
    }
}
