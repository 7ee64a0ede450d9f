//! Field selectors (`k8s.io/apimachinery/pkg/fields`): `field=value`, `field==value`,
//! `field!=value`, comma-separated, with `\,` `\=` `\\` escapes. Each resource supports
//! `metadata.name` and `metadata.namespace` plus the fields kube-apiserver registers for
//! it (e.g. `spec.nodeName` and `status.phase` for pods).

use serde_json::Value;

use crate::api::ResourceInfo;

/// One `field op value` term.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldTerm {
    /// Field path, e.g. `spec.nodeName`.
    pub field: String,
    /// Whether the term is `!=`.
    pub negate: bool,
    /// The value compared with.
    pub value: String,
}

/// A parsed field selector; the empty selector matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector {
    /// Terms, all of which must hold.
    pub terms: Vec<FieldTerm>,
    /// The resource (`group`, `plural`) whose fields are selected.
    resource: (String, String),
}

/// Fields selectable on `group`/`plural` besides `metadata.name` and `metadata.namespace`.
pub fn extra_fields(group: &str, plural: &str) -> &'static [&'static str] {
    match (group, plural) {
        ("", "pods") => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        ("", "events") => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ("", "secrets") => &["type"],
        ("", "nodes") => &["spec.unschedulable"],
        ("", "namespaces") => &["status.phase"],
        ("", "replicationcontrollers") | ("apps", "replicasets") => &["status.replicas"],
        ("batch", "jobs") => &["status.successful"],
        ("certificates.k8s.io", "certificatesigningrequests") => &["spec.signerName"],
        _ => &[],
    }
}

fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            cur.push('\\');
            cur.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    if escaped {
        cur.push('\\');
    }
    out.push(cur);
    out
}

fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(e @ ('\\' | ',' | '=')) => out.push(e),
                Some(e) => return Err(format!("invalid field selector: invalid escape sequence: \\{e}")),
                None => return Err("invalid field selector: unterminated escape sequence".into()),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// Finds the first unescaped occurrence of `op` in `s`.
fn find_op(s: &str, op: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            i += 2;
            continue;
        }
        if b[i..].starts_with(op.as_bytes()) {
            return Some(i);
        }
        i += 1;
    }
    None
}

impl FieldSelector {
    /// Parses the string form for `info`'s resource; the error is the message of a 400.
    pub fn parse(s: &str, info: &ResourceInfo) -> Result<FieldSelector, String> {
        let mut terms = Vec::new();
        let resource = (info.group.clone(), info.plural.clone());
        if s.trim().is_empty() {
            return Ok(FieldSelector { terms, resource });
        }
        for part in split_unescaped(s, ',') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let parsed = [("!=", true), ("==", false), ("=", false)]
                .iter()
                .find_map(|(op, negate)| find_op(part, op).map(|i| (i, op.len(), *negate)));
            let Some((i, len, negate)) = parsed else {
                return Err(format!("invalid selector: '{s}'; can't understand '{part}'"));
            };
            let field = unescape(part[..i].trim())?;
            let value = unescape(part[i + len..].trim())?;
            let known = field == "metadata.name"
                || field == "metadata.namespace"
                || extra_fields(&info.group, &info.plural).contains(&field.as_str());
            if !known {
                // Kinds with fields of their own convert labels themselves; the others
                // go through apimachinery's default conversion, which words it so.
                if extra_fields(&info.group, &info.plural).is_empty() {
                    return Err(format!(
                        "{field:?} is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
                    ));
                }
                return Err(format!("field label not supported: {field}"));
            }
            terms.push(FieldTerm { field, negate, value });
        }
        Ok(FieldSelector { terms, resource })
    }

    /// Whether the selector has no term.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Whether `obj` satisfies every term.
    pub fn matches(&self, obj: &Value) -> bool {
        self.terms.iter().all(|t| {
            let v = field_value(&self.resource.0, &self.resource.1, obj, &t.field);
            (v == t.value) != t.negate
        })
    }
}

/// The value of a selectable field of `obj`, as kube-apiserver renders it for matching.
pub fn field_value(group: &str, plural: &str, obj: &Value, field: &str) -> String {
    let path = match field {
        "source" if group.is_empty() && plural == "events" => "/source/component".to_owned(),
        _ => format!("/{}", field.replace('.', "/")),
    };
    match obj.pointer(&path) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => String::new(),
        None => match field {
            "spec.hostNetwork" | "spec.unschedulable" => "false".into(),
            "status.replicas" | "status.successful" => "0".into(),
            _ => String::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn info(plural: &str) -> ResourceInfo {
        ResourceInfo {
            group: String::new(),
            version: "v1".into(),
            plural: plural.into(),
            singular: String::new(),
            kind: "Pod".into(),
            namespaced: true,
            short_names: vec![],
            categories: vec![],
            verbs: vec![],
            has_status: true,
            has_scale: false,
        }
    }

    #[test]
    fn pods_fields() {
        let pod = json!({"metadata": {"name": "p", "namespace": "ns"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
        let i = info("pods");
        let s = |q: &str| FieldSelector::parse(q, &i).unwrap().matches(&pod);
        assert!(s("metadata.name=p"));
        assert!(s("metadata.name==p,metadata.namespace=ns"));
        assert!(!s("metadata.name!=p"));
        assert!(s("spec.nodeName=n1,status.phase!=Pending"));
        assert!(s("spec.hostNetwork=false"));
        assert!(s("status.podIP="));
        assert!(s(""));
    }

    #[test]
    fn errors_and_escapes() {
        let i = info("pods");
        assert_eq!(FieldSelector::parse("spec.foo=x", &i).unwrap_err(), "field label not supported: spec.foo");
        assert!(FieldSelector::parse("garbage", &i).unwrap_err().contains("can't understand 'garbage'"));
        assert_eq!(
            FieldSelector::parse("type=x", &info("configmaps")).unwrap_err(),
            "\"type\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
        );
        assert!(FieldSelector::parse("type=kubernetes.io/tls", &info("secrets")).is_ok());
        let sel = FieldSelector::parse(r"metadata.name=a\,b", &i).unwrap();
        assert_eq!(sel.terms[0].value, "a,b");
        let ev = info("events");
        let e = json!({"involvedObject": {"kind": "Pod", "name": "p"}, "source": {"component": "kubelet"}, "type": "Normal"});
        assert!(FieldSelector::parse("involvedObject.kind=Pod,source=kubelet,type=Normal", &ev).unwrap().matches(&e));
    }
}
