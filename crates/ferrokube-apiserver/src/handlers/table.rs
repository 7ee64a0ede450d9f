//! `meta.k8s.io` Tables: what `kubectl get` prints, computed on the server.
//!
//! Also the metadata-only forms (`PartialObjectMetadata[List]`) of client-go's metadata
//! client.
//!
//! Every resource gets `Name` and `Age`; pods, deployments, replicasets, namespaces,
//! services, nodes, configmaps and secrets get the columns kubectl users know. Rows
//! carry the object as `PartialObjectMetadata` (`includeObject=Metadata`, the default),
//! in full (`Object`), or not at all (`None`). Custom resources get their CRD's
//! `additionalPrinterColumns` ([`render_with`]).

use serde_json::{json, Value};

use super::negotiate::IncludeObject;
use crate::api::ResourceInfo;
use crate::apiextensions::printer::{self, PrinterColumn};

struct Column {
    name: &'static str,
    kind: &'static str,
    priority: u8,
    description: Description,
}

/// Where a column's description comes from. kube-apiserver's printers describe most
/// columns with the API documentation of the field they show, and a few in words of their
/// own; the field documentation is read from the compiled-in OpenAPI definitions, so it is
/// the same text `kubectl explain` prints.
#[derive(Clone, Copy)]
enum Description {
    /// The printer's own words.
    Text(&'static str),
    /// The documentation of `field` of the OpenAPI definition `definition`.
    Field(&'static str, &'static str),
}

impl Description {
    fn text(self) -> String {
        match self {
            Description::Text(text) => text.to_owned(),
            Description::Field(definition, field) => crate::openapi::definitions()
                .and_then(|defs| defs.get(definition))
                .and_then(|schema| schema.pointer(&format!("/properties/{field}/description")))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        }
    }
}

const fn col(name: &'static str, kind: &'static str, priority: u8, description: Description) -> Column {
    Column { name, kind, priority, description }
}

const fn text(text: &'static str) -> Description {
    Description::Text(text)
}

const fn field(definition: &'static str, field: &'static str) -> Description {
    Description::Field(definition, field)
}

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
const POD_SPEC: &str = "io.k8s.api.core.v1.PodSpec";
const POD_STATUS: &str = "io.k8s.api.core.v1.PodStatus";
const SERVICE_SPEC: &str = "io.k8s.api.core.v1.ServiceSpec";
const EVENT: &str = "io.k8s.api.core.v1.Event";
const NAME: Column = col("Name", "string", 0, field(OBJECT_META, "name"));
const AGE: Column = col("Age", "string", 0, field(OBJECT_META, "creationTimestamp"));
const CONTAINERS: Column = col("Containers", "string", 1, text("Names of each container in the template."));
const IMAGES: Column = col("Images", "string", 1, text("Images referenced by each container in the template."));

/// Whether the resource is core/v1 or events.k8s.io Events, whose table (like
/// kubectl's) has no leading Name column.
fn is_events(resource: &ResourceInfo) -> bool {
    resource.plural == "events" && (resource.group.is_empty() || resource.group == "events.k8s.io")
}

/// The columns of kube-apiserver 1.37's printers (names, types, priorities and
/// descriptions), where this server prints the resource; others get Name and Age.
fn columns(resource: &ResourceInfo) -> Vec<Column> {
    if is_events(resource) {
        return vec![
            col("Last Seen", "string", 0, field(EVENT, "lastTimestamp")),
            col("Type", "string", 0, field(EVENT, "type")),
            col("Reason", "string", 0, field(EVENT, "reason")),
            col("Object", "string", 0, field(EVENT, "involvedObject")),
            col("Message", "string", 0, field(EVENT, "message")),
            col("Count", "integer", 1, field(EVENT, "count")),
            col("Name", "string", 1, field(OBJECT_META, "name")),
        ];
    }
    let core = resource.group.is_empty();
    let mut cols = vec![NAME];
    match (core, resource.group.as_str(), resource.plural.as_str()) {
        (true, _, "pods") => cols.extend([
            col("Ready", "string", 0, text("The aggregate readiness state of this pod for accepting traffic.")),
            col("Status", "string", 0, text("The aggregate status of the containers in this pod.")),
            col(
                "Restarts",
                "string",
                0,
                text(
                    "The number of times the containers in this pod have been restarted and when the last \
                     container in this pod has restarted.",
                ),
            ),
            AGE,
            col("IP", "string", 1, field(POD_STATUS, "podIP")),
            col("Node", "string", 1, field(POD_SPEC, "nodeName")),
        ]),
        (false, "apps", "deployments") => cols.extend([
            col("Ready", "string", 0, text("Number of the pod with ready state")),
            col("Up-to-date", "string", 0, field("io.k8s.api.apps.v1.DeploymentStatus", "updatedReplicas")),
            col("Available", "string", 0, field("io.k8s.api.apps.v1.DeploymentStatus", "availableReplicas")),
            AGE,
            CONTAINERS,
            IMAGES,
            col("Selector", "string", 1, field("io.k8s.api.apps.v1.DeploymentSpec", "selector")),
        ]),
        (false, "apps", "replicasets") => cols.extend([
            col("Desired", "integer", 0, field("io.k8s.api.apps.v1.ReplicaSetSpec", "replicas")),
            col("Current", "integer", 0, field("io.k8s.api.apps.v1.ReplicaSetStatus", "replicas")),
            col("Ready", "integer", 0, field("io.k8s.api.apps.v1.ReplicaSetStatus", "readyReplicas")),
            AGE,
        ]),
        (true, _, "namespaces") => cols.extend([col("Status", "string", 0, text("The status of the namespace")), AGE]),
        (true, _, "services") => cols.extend([
            col("Type", "string", 0, field(SERVICE_SPEC, "type")),
            col("Cluster-IP", "string", 0, field(SERVICE_SPEC, "clusterIP")),
            col("External-IP", "string", 0, field(SERVICE_SPEC, "externalIPs")),
            col("Port(s)", "string", 0, field(SERVICE_SPEC, "ports")),
            AGE,
            col("Selector", "string", 1, field(SERVICE_SPEC, "selector")),
        ]),
        (true, _, "nodes") => cols.extend([
            col("Status", "string", 0, text("The status of the node")),
            col("Roles", "string", 0, text("The roles of the node")),
            AGE,
            col("Version", "string", 0, field("io.k8s.api.core.v1.NodeSystemInfo", "kubeletVersion")),
        ]),
        (true, _, "configmaps") => {
            cols.extend([col("Data", "string", 0, field("io.k8s.api.core.v1.ConfigMap", "data")), AGE])
        }
        (true, _, "secrets") => cols.extend([
            col("Type", "string", 0, field("io.k8s.api.core.v1.Secret", "type")),
            col("Data", "string", 0, field("io.k8s.api.core.v1.Secret", "data")),
            AGE,
        ]),
        (false, "apiextensions.k8s.io", "customresourcedefinitions") => {
            cols.push(col("Created At", "date", 0, field(OBJECT_META, "creationTimestamp")))
        }
        _ => cols.push(AGE),
    }
    cols
}

/// The cells of an Event row (see [`columns`]).
fn event_cells(obj: &Value, name: &str, now: jiff::Timestamp) -> Vec<Value> {
    let mut last_seen = str_at(obj, &["lastTimestamp"]);
    for fallback in [&["eventTime"][..], &["series", "lastObservedTime"], &["metadata", "creationTimestamp"]] {
        if last_seen.is_empty() {
            last_seen = str_at(obj, fallback);
        }
    }
    let (kind, object_name) = if obj.get("regarding").is_some() {
        (str_at(obj, &["regarding", "kind"]), str_at(obj, &["regarding", "name"]))
    } else {
        (str_at(obj, &["involvedObject", "kind"]), str_at(obj, &["involvedObject", "name"]))
    };
    let message = if obj.get("note").is_some() { str_at(obj, &["note"]) } else { str_at(obj, &["message"]) };
    let count = int_at(obj, &["count"]).max(1);
    vec![
        json!(age(last_seen, now)),
        json!(str_at(obj, &["type"])),
        json!(str_at(obj, &["reason"])),
        json!(format!("{}/{object_name}", kind.to_ascii_lowercase())),
        json!(message),
        json!(count),
        json!(name),
    ]
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter().try_fold(v, |v, k| v.get(*k)).and_then(Value::as_str).unwrap_or("")
}

fn int_at(v: &Value, path: &[&str]) -> i64 {
    path.iter().try_fold(v, |v, k| v.get(*k)).and_then(Value::as_i64).unwrap_or(0)
}

fn or_none(s: String) -> String {
    if s.is_empty() {
        "<none>".into()
    } else {
        s
    }
}

fn cells(resource: &ResourceInfo, obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let age = age(str_at(obj, &["metadata", "creationTimestamp"]), now);
    let name = str_at(obj, &["metadata", "name"]);
    if is_events(resource) {
        return event_cells(obj, name, now);
    }
    let core = resource.group.is_empty();
    match (core, resource.group.as_str(), resource.plural.as_str()) {
        (true, _, "pods") => {
            let statuses = obj.pointer("/status/containerStatuses").and_then(Value::as_array);
            let total = obj.pointer("/spec/containers").and_then(Value::as_array).map_or(0, Vec::len);
            let ready = statuses.map_or(0, |s| s.iter().filter(|c| c["ready"] == true).count());
            let restarts: i64 = statuses.map_or(0, |s| s.iter().map(|c| int_at(c, &["restartCount"])).sum());
            let mut phase = str_at(obj, &["status", "reason"]);
            if phase.is_empty() {
                phase = str_at(obj, &["status", "phase"]);
            }
            // As kubectl's printer: a container's waiting or terminated reason
            // (ContainerCreating, Completed, ...) says more than the phase.
            if let Some(reason) = statuses.into_iter().flatten().find_map(|c| {
                ["waiting", "terminated"]
                    .iter()
                    .find_map(|state| c.pointer(&format!("/state/{state}/reason")).and_then(Value::as_str))
            }) {
                phase = reason;
            }
            if obj.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null()) {
                phase = "Terminating";
            }
            let phase = if phase.is_empty() { "Pending" } else { phase };
            vec![
                json!(name),
                json!(format!("{ready}/{total}")),
                json!(phase),
                json!(restarts.to_string()),
                json!(age),
                json!(or_none(str_at(obj, &["status", "podIP"]).to_owned())),
                json!(or_none(str_at(obj, &["spec", "nodeName"]).to_owned())),
            ]
        }
        (false, "apps", "deployments") => {
            let containers = obj.pointer("/spec/template/spec/containers").and_then(Value::as_array);
            let join = |key: &str| {
                containers.map_or(String::new(), |c| c.iter().map(|c| str_at(c, &[key])).collect::<Vec<_>>().join(","))
            };
            let desired = obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
            vec![
                json!(name),
                json!(format!("{}/{}", int_at(obj, &["status", "readyReplicas"]), desired)),
                json!(int_at(obj, &["status", "updatedReplicas"])),
                json!(int_at(obj, &["status", "availableReplicas"])),
                json!(age),
                json!(join("name")),
                json!(join("image")),
                json!(or_none(selector(obj.pointer("/spec/selector/matchLabels")))),
            ]
        }
        (false, "apps", "replicasets") => vec![
            json!(name),
            json!(obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1)),
            json!(int_at(obj, &["status", "replicas"])),
            json!(int_at(obj, &["status", "readyReplicas"])),
            json!(age),
        ],
        (true, _, "namespaces") => {
            let phase = str_at(obj, &["status", "phase"]);
            vec![json!(name), json!(if phase.is_empty() { "Active" } else { phase }), json!(age)]
        }
        (true, _, "services") => {
            let ports = obj.pointer("/spec/ports").and_then(Value::as_array).map_or(String::new(), |ps| {
                ps.iter()
                    .map(|p| {
                        let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
                        match p.get("nodePort").and_then(Value::as_i64) {
                            Some(np) if np != 0 => {
                                format!("{}:{}/{}", int_at(p, &["port"]), np, proto)
                            }
                            _ => format!("{}/{}", int_at(p, &["port"]), proto),
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            });
            let ty = str_at(obj, &["spec", "type"]);
            let external = obj
                .pointer("/spec/externalIPs")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","))
                .unwrap_or_default();
            vec![
                json!(name),
                json!(if ty.is_empty() { "ClusterIP" } else { ty }),
                json!(or_none(str_at(obj, &["spec", "clusterIP"]).to_owned())),
                json!(or_none(external)),
                json!(or_none(ports)),
                json!(age),
                json!(or_none(selector(obj.pointer("/spec/selector")))),
            ]
        }
        (true, _, "nodes") => {
            let ready = obj
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
                .map(|c| c["status"] == "True");
            let mut status = match ready {
                Some(true) => "Ready".to_owned(),
                Some(false) => "NotReady".to_owned(),
                None => "Unknown".to_owned(),
            };
            if obj.pointer("/spec/unschedulable") == Some(&json!(true)) {
                status.push_str(",SchedulingDisabled");
            }
            let roles: Vec<&str> = obj
                .pointer("/metadata/labels")
                .and_then(Value::as_object)
                .map(|l| l.keys().filter_map(|k| k.strip_prefix("node-role.kubernetes.io/")).collect())
                .unwrap_or_default();
            vec![
                json!(name),
                json!(status),
                json!(or_none(roles.join(","))),
                json!(age),
                json!(str_at(obj, &["status", "nodeInfo", "kubeletVersion"])),
            ]
        }
        (true, _, "configmaps") => {
            let n = ["data", "binaryData"]
                .iter()
                .filter_map(|k| obj.get(*k).and_then(Value::as_object))
                .map(|m| m.len())
                .sum::<usize>();
            vec![json!(name), json!(n), json!(age)]
        }
        (true, _, "secrets") => {
            let n = obj.get("data").and_then(Value::as_object).map_or(0, |m| m.len());
            let ty = str_at(obj, &["type"]);
            vec![json!(name), json!(if ty.is_empty() { "Opaque" } else { ty }), json!(n), json!(age)]
        }
        (false, "apiextensions.k8s.io", "customresourcedefinitions") => {
            vec![json!(name), json!(str_at(obj, &["metadata", "creationTimestamp"]))]
        }
        _ => vec![json!(name), json!(age)],
    }
}

fn selector(labels: Option<&Value>) -> String {
    labels
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect::<Vec<_>>().join(","))
        .unwrap_or_default()
}

/// kubectl's short human duration since `created` (RFC 3339), e.g. `5m`, `3h12m`, `2d`.
pub fn age(created: &str, now: jiff::Timestamp) -> String {
    let Ok(t) = created.parse::<jiff::Timestamp>() else {
        return "<unknown>".into();
    };
    let secs = now.as_second().saturating_sub(t.as_second()).max(0);
    human_duration(secs)
}

/// Format seconds as kube's `duration.HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86400);
    if secs < 120 {
        format!("{secs}s")
    } else if m < 10 {
        if secs % 60 == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{}s", secs % 60)
        }
    } else if h < 3 {
        format!("{m}m")
    } else if h < 8 {
        if m % 60 == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{}m", m % 60)
        }
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        if h % 24 == 0 {
            format!("{d}d")
        } else {
            format!("{d}d{}h", h % 24)
        }
    } else if d < 365 * 2 {
        format!("{d}d")
    } else if d < 365 * 8 {
        if d % 365 == 0 {
            format!("{}y", d / 365)
        } else {
            format!("{}y{}d", d / 365, d % 365)
        }
    } else {
        format!("{}y", d / 365)
    }
}

fn custom_cells(columns: &[PrinterColumn], obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let name = obj.pointer("/metadata/name").cloned().unwrap_or(Value::Null);
    let mut cells = vec![name];
    cells.extend(columns.iter().map(|c| printer::cell(c, obj, |ts| age(ts, now))));
    cells
}

fn row(
    resource: &ResourceInfo,
    printer: Option<&[PrinterColumn]>,
    obj: &Value,
    include: IncludeObject,
    now: jiff::Timestamp,
    meta_version: &str,
) -> Value {
    let cells = match printer {
        Some(columns) => custom_cells(columns, obj, now),
        None => cells(resource, obj, now),
    };
    let mut row = json!({"cells": cells});
    match include {
        // kube-apiserver writes the row's (empty) RawExtension as `"object": null`.
        IncludeObject::None => row["object"] = Value::Null,
        IncludeObject::Object => row["object"] = obj.clone(),
        IncludeObject::Metadata => row["object"] = partial_metadata(obj, meta_version),
    }
    row
}

/// Render `body` (one object, or a list with `items`) as a Table of `meta.k8s.io/<version>`,
/// with a custom resource's printer columns (after `Name`) instead of the built-in
/// columns when `printer` is set. `with_columns` false leaves out `columnDefinitions`
/// (watch events after the first).
pub fn render_with(
    resource: &ResourceInfo,
    printer: Option<&[PrinterColumn]>,
    body: &Value,
    include: IncludeObject,
    version: &str,
    with_columns: bool,
) -> Value {
    let now = jiff::Timestamp::now();
    let (rows, list_meta): (Vec<Value>, Value) = match body.get("items").and_then(Value::as_array) {
        Some(items) => {
            (items.iter().map(|o| row(resource, printer, o, include, now, version)).collect(), typed_list_meta(body))
        }
        None => {
            let rv = body.pointer("/metadata/resourceVersion").cloned();
            (
                vec![row(resource, printer, body, include, now, version)],
                rv.map_or_else(|| json!({}), |rv| json!({"resourceVersion": rv})),
            )
        }
    };
    let mut table = json!({
        "kind": "Table",
        "apiVersion": format!("meta.k8s.io/{version}"),
        "metadata": list_meta,
        "rows": rows,
    });
    table["columnDefinitions"] = if let (true, Some(columns)) = (with_columns, printer) {
        let mut defs = vec![json!({
            "name": NAME.name, "type": NAME.kind, "format": "name",
            "description": NAME.description.text(), "priority": 0,
        })];
        defs.extend(columns.iter().map(|c| {
            json!({"name": c.name, "type": c.column_type, "format": c.format,
                   "description": c.description, "priority": c.priority})
        }));
        Value::Array(defs)
    } else if with_columns {
        json!(columns(resource)
            .iter()
            .map(|c| {
                let mut d = json!({
                    "name": c.name,
                    "type": c.kind,
                    "format": "",
                    "description": c.description.text(),
                    "priority": c.priority,
                });
                if c.name == "Name" {
                    d["format"] = json!("name");
                }
                d
            })
            .collect::<Vec<_>>())
    } else {
        json!([])
    };
    table
}

/// A list's metadata for a typed list (Table, PartialObjectMetadataList): an empty
/// `continue` (which a custom resource's unstructured list writes) is left out, as
/// Go's `omitempty` does.
fn typed_list_meta(list: &Value) -> Value {
    let mut meta = list.get("metadata").cloned().unwrap_or_else(|| json!({}));
    if let Some(m) = meta.as_object_mut() {
        if m.get("continue").is_some_and(|c| c == "") {
            m.remove("continue");
        }
    }
    meta
}

/// `obj` as a `PartialObjectMetadata` of `meta.k8s.io/<version>`.
pub fn partial_metadata(obj: &Value, version: &str) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": format!("meta.k8s.io/{version}"),
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// `body` (one object, or a list with `items`) reduced to metadata:
/// `PartialObjectMetadata` or `PartialObjectMetadataList`.
pub fn render_metadata(body: &Value, version: &str) -> Value {
    match body.get("items").and_then(Value::as_array) {
        Some(items) => json!({
            "kind": "PartialObjectMetadataList",
            "apiVersion": format!("meta.k8s.io/{version}"),
            "metadata": typed_list_meta(body),
            "items": items.iter().map(|o| partial_metadata(o, version)).collect::<Vec<_>>(),
        }),
        None => partial_metadata(body, version),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    #[test]
    fn pod_rows() {
        let c = Catalog::builtin();
        let pods = c.lookup("", "v1", "pods").unwrap();
        let created = jiff::Timestamp::now().checked_sub(jiff::SignedDuration::from_secs(300)).unwrap();
        let list = json!({
            "kind": "PodList", "apiVersion": "v1",
            "metadata": {"resourceVersion": "42"},
            "items": [{
                "metadata": {"name": "web", "namespace": "default", "creationTimestamp": created.to_string()},
                "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
                "status": {"phase": "Running", "containerStatuses": [
                    {"ready": true, "restartCount": 2}, {"ready": false, "restartCount": 1}]}
            }]
        });
        let t = render_with(pods, None, &list, IncludeObject::Metadata, "v1", true);
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(t["metadata"]["resourceVersion"], "42");
        let names: Vec<&str> =
            t["columnDefinitions"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(&names[..5], ["Name", "Ready", "Status", "Restarts", "Age"]);
        let cells = &t["rows"][0]["cells"];
        assert_eq!(cells[0], "web");
        assert_eq!(cells[1], "1/2");
        assert_eq!(cells[2], "Running");
        assert_eq!(cells[3], "3");
        assert!(cells[4].as_str().unwrap().starts_with("5m") || cells[4] == "4m59s", "{}", cells[4]);
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(t["rows"][0]["object"]["metadata"]["name"], "web");
        let full = render_with(pods, None, &list, IncludeObject::Object, "v1", false);
        assert_eq!(full["rows"][0]["object"]["spec"]["containers"][0]["name"], "a");
        assert_eq!(full["columnDefinitions"], json!([]));
    }

    #[test]
    fn generic_and_deployment_rows() {
        let c = Catalog::builtin();
        let cm = c.lookup("", "v1", "serviceaccounts").unwrap();
        let t = render_with(cm, None, &json!({"metadata": {"name": "x"}}), IncludeObject::None, "v1", true);
        assert_eq!(t["rows"][0]["cells"], json!(["x", "<unknown>"]));
        assert_eq!(t["rows"][0].get("object"), Some(&Value::Null));
        let age = &t["columnDefinitions"][1];
        assert_eq!(age["name"], "Age");
        assert!(age["description"].as_str().unwrap().starts_with("CreationTimestamp is a timestamp"), "{age}");
        let d = c.lookup("apps", "v1", "deployments").unwrap();
        let obj = json!({"metadata": {"name": "d"}, "spec": {"replicas": 3}, "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
        let t = render_with(d, None, &obj, IncludeObject::Metadata, "v1", true);
        assert_eq!(t["rows"][0]["cells"][1], "2/3");
        assert_eq!(t["rows"][0]["cells"][2], 3);
    }

    #[test]
    fn metadata_only() {
        let list = json!({"kind": "PodList", "metadata": {"resourceVersion": "3"},
                          "items": [{"metadata": {"name": "a"}, "spec": {}}]});
        let m = render_metadata(&list, "v1");
        assert_eq!(m["kind"], "PartialObjectMetadataList");
        assert_eq!(m["metadata"]["resourceVersion"], "3");
        assert_eq!(
            m["items"][0],
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": {"name": "a"}})
        );
        assert_eq!(render_metadata(&list["items"][0], "v1")["kind"], "PartialObjectMetadata");
    }

    #[test]
    fn durations() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(150), "2m30s");
        assert_eq!(human_duration(3600), "60m");
        assert_eq!(human_duration(4 * 3600 + 60), "4h1m");
        assert_eq!(human_duration(10 * 3600), "10h");
        assert_eq!(human_duration(3 * 86400), "3d");
        assert_eq!(human_duration(30 * 86400), "30d");
    }
}
