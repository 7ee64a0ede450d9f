//! Name validation as kube-apiserver does it: DNS-1123 subdomain for most resources,
//! DNS-1123 label for namespaces, DNS-1035 label for services, path-segment names for
//! RBAC objects (whose names such as `system:controller:x` contain colons).

use ferrokube_apimachinery::labels::validation::{is_label_key, is_label_value};
use ferrokube_apimachinery::labels::Selector;
use serde_json::{json, Value};

use super::errors::FieldError;
use crate::api::ResourceInfo;

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

/// Which rule a resource's object names follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    /// DNS-1123 subdomain (most resources).
    Subdomain,
    /// DNS-1123 label (namespaces).
    Label,
    /// DNS-1035 label (services).
    Dns1035,
    /// Any path segment: not `.`/`..`, no `/` or `%` (RBAC).
    PathSegment,
}

/// The name rule of a resource.
pub fn name_rule(info: &ResourceInfo) -> NameRule {
    match (info.group.as_str(), info.plural.as_str()) {
        ("", "namespaces") => NameRule::Label,
        ("", "services") => NameRule::Dns1035,
        ("rbac.authorization.k8s.io", _) => NameRule::PathSegment,
        _ => NameRule::Subdomain,
    }
}

fn is_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty() && is_alnum(b[0]) && is_alnum(b[b.len() - 1]) && b.iter().all(|&c| is_alnum(c) || c == b'-')
}

/// Whether `s` is a DNS-1123 subdomain (length not checked).
pub fn is_subdomain_syntax(s: &str) -> bool {
    s.split('.').all(is_label)
}

/// Problems with `name` under `rule` (empty when valid).
pub fn name_problems(name: &str, rule: NameRule) -> Vec<String> {
    let mut out = Vec::new();
    match rule {
        NameRule::Subdomain => {
            if name.len() > 253 {
                out.push("must be no more than 253 characters".to_owned());
            }
            if !is_subdomain_syntax(name) {
                out.push(SUBDOMAIN_MSG.to_owned());
            }
        }
        NameRule::Label => {
            if name.len() > 63 {
                out.push("must be no more than 63 characters".to_owned());
            }
            if !is_label(name) {
                out.push(LABEL_MSG.to_owned());
            }
        }
        NameRule::Dns1035 => {
            if name.len() > 63 {
                out.push("must be no more than 63 characters".to_owned());
            }
            let starts_alpha = name.as_bytes().first().is_some_and(u8::is_ascii_lowercase);
            if !starts_alpha || !is_label(name) {
                out.push(DNS1035_MSG.to_owned());
            }
        }
        NameRule::PathSegment => {
            if name == "." || name == ".." {
                out.push(format!("may not be '{name}'"));
            }
            for bad in ['/', '%'] {
                if name.contains(bad) {
                    out.push(format!("may not contain '{bad}'"));
                }
            }
        }
    }
    out
}

/// Field errors for `metadata.name` of an object of `info` (empty when valid).
pub fn validate_name(info: &ResourceInfo, name: &str) -> Vec<FieldError> {
    name_problems(name, name_rule(info))
        .iter()
        .map(|p| FieldError::invalid("metadata.name", &Value::String(name.to_owned()), p))
        .collect()
}

/// Field errors for `metadata.labels` (keys must be qualified names, values valid
/// label values).
pub fn validate_labels(obj: &Value) -> Vec<FieldError> {
    let mut out = Vec::new();
    let Some(labels) = obj.pointer("/metadata/labels") else {
        return out;
    };
    let Some(map) = labels.as_object() else {
        if !labels.is_null() {
            out.push(FieldError::invalid("metadata.labels", labels, "must be a map of strings"));
        }
        return out;
    };
    for (k, v) in map {
        for e in is_label_key(k) {
            out.push(FieldError::invalid("metadata.labels", &Value::String(k.clone()), &e));
        }
        match v.as_str() {
            Some(s) => {
                for e in is_label_value(s) {
                    out.push(FieldError::invalid("metadata.labels", v, &e));
                }
            }
            None => out.push(FieldError::invalid(&format!("metadata.labels[{k}]"), v, "must be a string")),
        }
    }
    out
}

/// Total size limit of `metadata.annotations` (keys and values), as kube-apiserver.
pub const ANNOTATIONS_MAX_BYTES: usize = 256 * 1024;

/// Field errors for `metadata.annotations` (qualified-name keys, string values, at most
/// [`ANNOTATIONS_MAX_BYTES`] in total).
pub fn validate_annotations(obj: &Value) -> Vec<FieldError> {
    let mut out = Vec::new();
    let Some(annotations) = obj.pointer("/metadata/annotations") else {
        return out;
    };
    let Some(map) = annotations.as_object() else {
        if !annotations.is_null() {
            out.push(FieldError::invalid("metadata.annotations", annotations, "must be a map of strings"));
        }
        return out;
    };
    let mut total = 0;
    for (k, v) in map {
        total += k.len();
        for e in is_label_key(&k.to_ascii_lowercase()) {
            out.push(FieldError::invalid("metadata.annotations", &Value::String(k.clone()), &e));
        }
        match v.as_str() {
            Some(s) => total += s.len(),
            None => out.push(FieldError::invalid(&format!("metadata.annotations[{k}]"), v, "must be a string")),
        }
    }
    if total > ANNOTATIONS_MAX_BYTES {
        out.push(FieldError {
            reason: "FieldValueTooLong",
            field: "metadata.annotations".into(),
            body: format!("Too long: may not be more than {ANNOTATIONS_MAX_BYTES} bytes"),
        });
    }
    out
}

/// Field errors of `metadata.labels` and `metadata.annotations`.
pub fn validate_metadata(obj: &Value) -> Vec<FieldError> {
    let mut out = validate_labels(obj);
    out.extend(validate_annotations(obj));
    out
}

/// kube's limit on the total size of a ConfigMap's (or Secret's) data.
pub const MAX_DATA_SIZE: usize = 1024 * 1024;

/// Field errors of a ConfigMap's size: its `data` values and its decoded `binaryData`
/// together may not exceed [`MAX_DATA_SIZE`] bytes (kube names the whole object, `[]`).
pub fn validate_config_map(info: &ResourceInfo, obj: &Value) -> Vec<FieldError> {
    if !(info.group.is_empty() && info.plural == "configmaps") {
        return Vec::new();
    }
    let sum = |field: &str, size: fn(&str) -> usize| -> usize {
        obj.get(field).and_then(Value::as_object).map_or(0, |m| m.values().filter_map(Value::as_str).map(size).sum())
    };
    let decoded = |b64: &str| {
        let padding = b64.bytes().rev().take_while(|b| *b == b'=').count();
        (b64.len() / 4 * 3).saturating_sub(padding) + (b64.len() % 4).saturating_sub(1)
    };
    let total = sum("data", str::len) + sum("binaryData", decoded);
    if total <= MAX_DATA_SIZE {
        return Vec::new();
    }
    vec![FieldError {
        reason: "FieldValueTooLong",
        field: "[]".to_owned(),
        body: format!("Too long: may not be more than {MAX_DATA_SIZE} bytes"),
    }]
}

/// The spec fields a pod update may change, as kube-apiserver lists them.
const POD_UPDATABLE: &str = "'spec.containers[*].image','spec.initContainers[*].image',\
'spec.activeDeadlineSeconds','spec.tolerations' (only additions to existing tolerations),\
'spec.terminationGracePeriodSeconds' (allow it to be set to 1 if it was previously negative)";

/// Field errors of a pod update (kube's `ValidatePodUpdate`): containers may not be
/// added or removed, and of the spec only container images, `activeDeadlineSeconds`,
/// tolerations, scheduling gates and a negative `terminationGracePeriodSeconds` (to 1)
/// may change (ephemeral containers change through their own subresource). kube adds
/// a textual diff of its internal Go structs to the message; that is left out here.
pub fn validate_pod_update(info: &ResourceInfo, old: &Value, new: &Value) -> Vec<FieldError> {
    if !(info.group.is_empty() && info.plural == "pods") {
        return Vec::new();
    }
    let empty = serde_json::Map::new();
    let old_spec = old.get("spec").and_then(Value::as_object).unwrap_or(&empty);
    let new_spec = new.get("spec").and_then(Value::as_object).unwrap_or(&empty);
    let list =
        |spec: &serde_json::Map<String, Value>, k: &str| spec.get(k).and_then(Value::as_array).map_or(0, Vec::len);
    for field in ["containers", "initContainers"] {
        if list(old_spec, field) != list(new_spec, field) {
            return vec![FieldError::forbidden(
                &format!("spec.{field}"),
                "pod updates may not add or remove containers",
            )];
        }
    }
    let mut munged = new_spec.clone();
    for field in ["containers", "initContainers"] {
        if let (Some(Value::Array(items)), Some(old_items)) =
            (munged.get_mut(field), old_spec.get(field).and_then(Value::as_array))
        {
            for (item, old_item) in items.iter_mut().zip(old_items) {
                if let (Some(o), Some(image)) = (item.as_object_mut(), old_item.get("image")) {
                    o.insert("image".into(), image.clone());
                }
            }
        }
    }
    for field in ["activeDeadlineSeconds", "schedulingGates", "tolerations", "ephemeralContainers"] {
        match old_spec.get(field) {
            Some(v) => munged.insert(field.into(), v.clone()),
            None => munged.remove(field),
        };
    }
    let old_grace = old_spec.get("terminationGracePeriodSeconds").and_then(Value::as_i64);
    let new_grace = munged.get("terminationGracePeriodSeconds").and_then(Value::as_i64);
    if old_grace.is_some_and(|g| g < 0) && new_grace == Some(1) {
        munged.insert("terminationGracePeriodSeconds".into(), json!(old_grace));
    }
    if semantic(&Value::Object(munged)) == semantic(&Value::Object(old_spec.clone())) {
        return Vec::new();
    }
    vec![FieldError::forbidden("spec", &format!("pod updates may not change fields other than {POD_UPDATABLE}\n"))]
}

/// A value as Go's semantic equality sees a decoded struct: `null` members and empty
/// lists are the same as absent ones.
fn semantic(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(_, v)| !v.is_null() && !v.as_array().is_some_and(Vec::is_empty))
                .map(|(k, v)| (k.clone(), semantic(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(semantic).collect()),
        other => other.clone(),
    }
}

/// Field errors of a workload whose pod template must match its selector
/// (Deployments, ReplicaSets, StatefulSets, DaemonSets): `spec.selector` is required
/// and non-empty, and the template's labels must match it. Without this check a
/// controller would create pods its own selector never sees, without end.
pub fn validate_workload_selector(info: &ResourceInfo, obj: &Value) -> Vec<FieldError> {
    let workload = info.group == "apps"
        && matches!(info.plural.as_str(), "deployments" | "replicasets" | "statefulsets" | "daemonsets");
    if !workload {
        return Vec::new();
    }
    let mut out = Vec::new();
    let selector = obj.pointer("/spec/selector");
    let labels = obj.pointer("/spec/template/metadata/labels").cloned().unwrap_or(Value::Null);
    let empty_selector = selector.is_none_or(|s| {
        s.get("matchLabels").and_then(Value::as_object).is_none_or(|m| m.is_empty())
            && s.get("matchExpressions").and_then(Value::as_array).is_none_or(|a| a.is_empty())
    });
    if empty_selector {
        out.push(FieldError::required("spec.selector", ""));
        if selector.is_some() {
            out.push(FieldError::invalid(
                "spec.selector",
                selector.unwrap_or(&Value::Null),
                "empty selector is invalid for deployment",
            ));
        }
        return out;
    }
    let parsed = selector.and_then(|s| Selector::from_label_selector(s).ok().flatten());
    let matches = parsed.is_some_and(|sel| sel.matches_json(labels.as_object()));
    if !matches {
        out.push(FieldError::invalid(
            "spec.template.metadata.labels",
            &labels,
            "`selector` does not match template `labels`",
        ));
    }
    out
}

/// Field errors of a new Pod's containers and a Service's ports, as kube's
/// `ValidatePod`/`ValidateService` word them: a container needs a name that is a DNS
/// label and an image; a service's ports need distinct DNS-label names when there are
/// several, and a port and a numeric target port must be within 1-65535.
pub fn validate_spec(info: &ResourceInfo, obj: &Value) -> Vec<FieldError> {
    let mut out = Vec::new();
    if !info.group.is_empty() {
        return out;
    }
    match info.plural.as_str() {
        "pods" => {
            for list in ["initContainers", "containers"] {
                let containers = obj.pointer(&format!("/spec/{list}")).and_then(Value::as_array);
                for (i, c) in containers.into_iter().flatten().enumerate() {
                    let at = format!("spec.{list}[{i}]");
                    match c.get("name").and_then(Value::as_str).unwrap_or("") {
                        "" => out.push(FieldError::required(&format!("{at}.name"), "")),
                        name if !name_problems(name, NameRule::Label).is_empty() => {
                            out.push(FieldError::invalid(&format!("{at}.name"), &Value::from(name), LABEL_MSG))
                        }
                        _ => {}
                    }
                    if c.get("image").and_then(Value::as_str).unwrap_or("").is_empty() {
                        out.push(FieldError::required(&format!("{at}.image"), ""));
                    }
                }
            }
        }
        "services" => {
            let ports: &[Value] = obj.pointer("/spec/ports").and_then(Value::as_array).map_or(&[], Vec::as_slice);
            let mut names = std::collections::HashSet::new();
            for (i, p) in ports.iter().enumerate() {
                let at = format!("spec.ports[{i}].name");
                match p.get("name").and_then(Value::as_str).unwrap_or("") {
                    "" if ports.len() > 1 => out.push(FieldError::required(&at, "")),
                    "" => {}
                    name if !name_problems(name, NameRule::Label).is_empty() => {
                        out.push(FieldError::invalid(&at, &Value::from(name), LABEL_MSG))
                    }
                    name if !names.insert(name) => out.push(FieldError::duplicate(&at, &Value::from(name))),
                    _ => {}
                }
                for key in ["port", "targetPort"] {
                    let Some(v) = p.get(key).filter(|v| v.is_number()) else { continue };
                    if !v.as_i64().is_some_and(|n| (1..=65535).contains(&n)) {
                        out.push(FieldError::invalid(
                            &format!("spec.ports[{i}].{key}"),
                            v,
                            "must be between 1 and 65535, inclusive",
                        ));
                    }
                }
            }
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_updates() {
        let catalog = crate::catalog::Catalog::builtin();
        let pods = catalog.builtin_resources().iter().find(|r| r.group.is_empty() && r.plural == "pods").unwrap();
        let old =
            json!({"spec": {"containers": [{"name": "a", "image": "x", "env": [{"name": "X"}]}], "tolerations": []}});
        let image = json!({"spec": {"containers": [{"name": "a", "image": "y", "env": [{"name": "X"}]}], "tolerations": [{"key": "k"}]}});
        assert!(validate_pod_update(pods, &old, &image).is_empty());
        let added = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "x"}]}});
        assert_eq!(
            validate_pod_update(pods, &old, &added)[0].to_string(),
            "spec.containers: Forbidden: pod updates may not add or remove containers"
        );
        let env = json!({"spec": {"containers": [{"name": "a", "image": "x", "env": []}]}});
        let e = validate_pod_update(pods, &old, &env);
        assert_eq!(e[0].field, "spec");
        assert!(e[0]
            .body
            .starts_with("Forbidden: pod updates may not change fields other than 'spec.containers[*].image'"));
    }

    #[test]
    fn config_map_size() {
        let catalog = crate::catalog::Catalog::builtin();
        let cm = catalog.builtin_resources().iter().find(|r| r.group.is_empty() && r.plural == "configmaps").unwrap();
        let big = "a".repeat(MAX_DATA_SIZE);
        assert!(validate_config_map(cm, &serde_json::json!({"data": {"k": big}})).is_empty());
        let e = validate_config_map(cm, &serde_json::json!({"data": {"k": big, "l": "x"}}));
        assert_eq!(e[0].to_string(), "[]: Too long: may not be more than 1048576 bytes");
        // binaryData counts decoded bytes: "eHk=" is two.
        assert!(validate_config_map(
            cm,
            &serde_json::json!({"data": {"k": "a".repeat(MAX_DATA_SIZE - 2)}, "binaryData": {"b": "eHk="}})
        )
        .is_empty());
        assert_eq!(
            validate_config_map(
                cm,
                &serde_json::json!({"data": {"k": "a".repeat(MAX_DATA_SIZE - 1)}, "binaryData": {"b": "eHk="}})
            )
            .len(),
            1
        );
    }

    #[test]
    fn rules() {
        assert!(name_problems("my-app.example", NameRule::Subdomain).is_empty());
        assert!(!name_problems("Bad_Name", NameRule::Subdomain).is_empty());
        assert!(!name_problems("-a", NameRule::Subdomain).is_empty());
        assert!(!name_problems("a..b", NameRule::Subdomain).is_empty());
        assert!(!name_problems(&"a".repeat(254), NameRule::Subdomain).is_empty());
        assert!(name_problems("kube-system", NameRule::Label).is_empty());
        assert!(!name_problems("a.b", NameRule::Label).is_empty());
        assert!(!name_problems(&"a".repeat(64), NameRule::Label).is_empty());
        assert!(name_problems("web", NameRule::Dns1035).is_empty());
        assert!(!name_problems("1web", NameRule::Dns1035).is_empty());
        assert!(name_problems("system:controller:x", NameRule::PathSegment).is_empty());
        assert_eq!(name_problems("a/b", NameRule::PathSegment), vec!["may not contain '/'"]);
        assert_eq!(name_problems("..", NameRule::PathSegment), vec!["may not be '..'"]);
        assert!(name_problems("", NameRule::Subdomain).len() == 1);
    }

    #[test]
    fn pod_containers_and_service_ports() {
        use serde_json::json;
        let catalog = crate::catalog::Catalog::builtin();
        let pods = catalog.lookup("", "v1", "pods").unwrap();
        let e =
            validate_spec(pods, &json!({"spec": {"containers": [{"name": "Bad Name"}, {"name": "ok", "image": "x"}]}}));
        let shown: Vec<String> = e.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 2, "{shown:?}");
        assert!(
            shown[0].starts_with("spec.containers[0].name: Invalid value: \"Bad Name\": a lowercase RFC 1123 label")
        );
        assert_eq!(shown[1], "spec.containers[0].image: Required value");
        let services = catalog.lookup("", "v1", "services").unwrap();
        let e = validate_spec(
            services,
            &json!({"spec": {"ports": [{"port": 0, "targetPort": 0}, {"port": 80, "targetPort": "http"}]}}),
        );
        let shown: Vec<String> = e.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "spec.ports[0].name: Required value",
                "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
                "spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive",
                "spec.ports[1].name: Required value",
            ]
        );
        let named = |a: &str, b: &str| json!({"spec": {"ports": [{"name": a, "port": 80}, {"name": b, "port": 81}]}});
        let shown: Vec<String> =
            validate_spec(services, &named("web", "web")).iter().map(ToString::to_string).collect();
        assert_eq!(shown, [r#"spec.ports[1].name: Duplicate value: "web""#]);
        assert!(validate_spec(services, &named("web", "metrics")).is_empty());
        assert!(
            validate_spec(services, &json!({"spec": {"ports": [{"port": 80}]}})).is_empty(),
            "one port needs no name"
        );
    }

    #[test]
    fn metadata_maps() {
        use serde_json::json;
        assert!(validate_metadata(&json!({"metadata": {"labels": {"app.kubernetes.io/name": "x"}, "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}"}}})).is_empty());
        let e = validate_metadata(
            &json!({"metadata": {"labels": {"bad key": "x", "k": "bad value"}, "annotations": {"a": 1}}}),
        );
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(e[0].to_string().starts_with("metadata.labels: Invalid value: \"bad key\": name part must consist of"));
        let big = "x".repeat(ANNOTATIONS_MAX_BYTES);
        let e = validate_metadata(&json!({"metadata": {"annotations": {"a": big}}}));
        assert_eq!(e[0].reason, "FieldValueTooLong");
    }
}
