//! The `paths` of the OpenAPI documents: one operation per served verb of a resource,
//! with the query parameters kube-apiserver declares for it.
//!
//! kubectl looks for the `fieldValidation` query parameter on the PATCH operation whose
//! `x-kubernetes-group-version-kind` is the kind of the object it sends: that is how it
//! learns that the server validates fields itself. The operations are built once in a
//! neutral form ([`Operation`]) and rendered as Swagger 2.0 ([`render_v2`]) or
//! OpenAPI 3.0 ([`render_v3`]).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::{kind_schema, Definitions};
use crate::api::ResourceInfo;
use crate::catalog;

/// The definition of a PATCH body and of a DELETE body.
const PATCH_DEF: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
const DELETE_OPTIONS_DEF: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
const STATUS_DEF: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";

/// The media types of PATCH bodies of kinds without a Go type (custom resources): no
/// strategic merge patch. kubectl computes a strategic merge patch for `apply` only when
/// the PATCH operation lists `application/strategic-merge-patch+json`.
const CUSTOM_PATCH_TYPES: &[&str] =
    &["application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"];
/// The media types of PATCH bodies of built-in kinds.
const PATCH_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];
/// The media types of other bodies and of responses.
const OBJECT_TYPES: &[&str] = &["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"];

const LIST_PARAMS: &[&str] = &[
    "allowWatchBookmarks",
    "continue",
    "fieldSelector",
    "labelSelector",
    "limit",
    "resourceVersion",
    "resourceVersionMatch",
    "sendInitialEvents",
    "timeoutSeconds",
    "watch",
];
const WRITE_PARAMS: &[&str] = &["dryRun", "fieldManager", "fieldValidation"];
const PATCH_PARAMS: &[&str] = &["dryRun", "fieldManager", "fieldValidation", "force"];
const DELETE_PARAMS: &[&str] = &["dryRun", "gracePeriodSeconds", "orphanDependents", "propagationPolicy"];
const DELETE_COLLECTION_PARAMS: &[&str] = &[
    "continue",
    "dryRun",
    "fieldSelector",
    "gracePeriodSeconds",
    "labelSelector",
    "limit",
    "orphanDependents",
    "propagationPolicy",
    "resourceVersion",
    "resourceVersionMatch",
    "sendInitialEvents",
    "timeoutSeconds",
];

/// A query or path parameter: JSON type and description.
fn param_info(name: &str) -> (&'static str, &'static str) {
    match name {
        "allowWatchBookmarks" => ("boolean", "Ask for BOOKMARK events in a watch."),
        "continue" => (
            "string",
            "The continue token of the previous page of a paged list.",
        ),
        "dryRun" => (
            "string",
            "`All` processes the request without persisting it.",
        ),
        "fieldManager" => (
            "string",
            "The name of the actor making the change, recorded in managedFields.",
        ),
        "fieldSelector" => ("string", "Restrict the returned objects by their fields."),
        "fieldValidation" => (
            "string",
            "How to treat unknown or duplicate fields in the request body: `Ignore`, `Warn` or `Strict` (reject the request).",
        ),
        "force" => (
            "boolean",
            "Take ownership of fields other managers own (apply requests only).",
        ),
        "gracePeriodSeconds" => (
            "integer",
            "Seconds before the object is deleted; 0 deletes immediately.",
        ),
        "labelSelector" => ("string", "Restrict the returned objects by their labels."),
        "limit" => (
            "integer",
            "The maximum number of objects in one page of a list.",
        ),
        "orphanDependents" => ("boolean", "Deprecated: use propagationPolicy."),
        "propagationPolicy" => (
            "string",
            "Garbage collection of dependents: `Orphan`, `Background` or `Foreground`.",
        ),
        "resourceVersion" => (
            "string",
            "Which resourceVersion the result must be at least as new as (or exactly, with resourceVersionMatch).",
        ),
        "resourceVersionMatch" => (
            "string",
            "How resourceVersion applies to a list: `Exact` or `NotOlderThan`.",
        ),
        "sendInitialEvents" => (
            "boolean",
            "Start a watch with synthetic ADDED events for the current objects.",
        ),
        "timeoutSeconds" => ("integer", "Time limit of a list or watch call."),
        "watch" => ("boolean", "Watch for changes instead of listing."),
        "pretty" => ("string", "Indent the output."),
        "name" => ("string", "The name of the object."),
        "namespace" => ("string", "The namespace of the object."),
        _ => ("string", ""),
    }
}

/// One operation of one path, before rendering.
#[derive(Clone, Debug)]
pub struct Operation {
    /// URL path template, e.g. `/apis/apps/v1/namespaces/{namespace}/deployments/{name}`.
    pub path: String,
    /// Lowercase HTTP method.
    pub method: &'static str,
    /// `operationId`, e.g. `patchAppsV1NamespacedDeployment`.
    pub id: String,
    /// `x-kubernetes-action`: get, list, post, put, patch, delete, deletecollection.
    pub action: &'static str,
    /// `x-kubernetes-group-version-kind` of the operation.
    pub gvk: (String, String, String),
    /// Query parameters (besides `pretty`, declared on the path).
    pub query: &'static [&'static str],
    /// Definition of the request body and its media types, if the operation has a body.
    pub body: Option<(String, &'static [&'static str])>,
    /// Definition of the success response.
    pub response: String,
    /// Success status codes.
    pub codes: &'static [&'static str],
    /// Path parameters (`namespace`, `name`).
    pub path_params: Vec<&'static str>,
    /// Tag: the group-version, e.g. `apps_v1`.
    pub tag: String,
}

fn camel(s: &str) -> String {
    s.split(['.', '-'])
        .filter(|p| !p.is_empty() && *p != "k8s" && *p != "io")
        .map(|p| {
            let mut c = p.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect::<String>(),
                None => String::new(),
            }
        })
        .collect()
}

/// What a verb's operation looks like.
struct VerbSpec {
    /// Served on the collection path (`.../deployments`) rather than an object's.
    collection: bool,
    /// Lowercase HTTP method.
    method: &'static str,
    /// First word of the `operationId`.
    id: &'static str,
    /// `x-kubernetes-action`.
    action: &'static str,
    /// Query parameters.
    query: &'static [&'static str],
    /// The request body, if any.
    body: Option<Body>,
    /// The success response.
    reply: Reply,
    /// Success status codes.
    codes: &'static [&'static str],
}

/// The body of an operation.
#[derive(Clone, Copy)]
enum Body {
    /// An object of the operation's kind.
    Object,
    /// A patch.
    Patch,
    /// `DeleteOptions`.
    DeleteOptions,
}

/// The success response of an operation.
#[derive(Clone, Copy)]
enum Reply {
    /// An object of the operation's kind.
    Object,
    /// The kind's list.
    List,
    /// A `Status`.
    Status,
}

/// The operation of a discovery verb, or `None` for verbs without one of their own
/// (`watch` is `list` with `?watch=true`).
fn verb_spec(verb: &str, subresource: bool) -> Option<VerbSpec> {
    const OK: &[&str] = &["200"];
    const WRITTEN: &[&str] = &["200", "201"];
    let spec = match verb {
        "list" if !subresource => VerbSpec {
            collection: true,
            method: "get",
            id: "list",
            action: "list",
            query: LIST_PARAMS,
            body: None,
            reply: Reply::List,
            codes: OK,
        },
        "create" => VerbSpec {
            collection: true,
            method: "post",
            id: "create",
            action: "post",
            query: WRITE_PARAMS,
            body: Some(Body::Object),
            reply: Reply::Object,
            codes: &["200", "201", "202"],
        },
        "deletecollection" if !subresource => VerbSpec {
            collection: true,
            method: "delete",
            id: "deleteCollection",
            action: "deletecollection",
            query: DELETE_COLLECTION_PARAMS,
            body: Some(Body::DeleteOptions),
            reply: Reply::Status,
            codes: OK,
        },
        "get" => VerbSpec {
            collection: false,
            method: "get",
            id: "read",
            action: "get",
            query: &[],
            body: None,
            reply: Reply::Object,
            codes: OK,
        },
        "update" => VerbSpec {
            collection: false,
            method: "put",
            id: "replace",
            action: "put",
            query: WRITE_PARAMS,
            body: Some(Body::Object),
            reply: Reply::Object,
            codes: WRITTEN,
        },
        "patch" => VerbSpec {
            collection: false,
            method: "patch",
            id: "patch",
            action: "patch",
            query: PATCH_PARAMS,
            body: Some(Body::Patch),
            reply: Reply::Object,
            codes: WRITTEN,
        },
        "delete" if !subresource => VerbSpec {
            collection: false,
            method: "delete",
            id: "delete",
            action: "delete",
            query: DELETE_PARAMS,
            body: Some(Body::DeleteOptions),
            reply: Reply::Status,
            codes: &["200", "202"],
        },
        _ => return None,
    };
    // A subresource path is always below one object.
    Some(VerbSpec { collection: spec.collection && !subresource, ..spec })
}

/// The operations served for one resource (and its subresources). `custom` is the CRD
/// schema of a custom resource. Kinds without a generated schema get one from `custom`
/// (or a permissive one), added to `extra`.
pub fn operations(
    r: &ResourceInfo,
    defs: &Definitions,
    custom: Option<&Value>,
    extra: &mut BTreeMap<String, Value>,
) -> Vec<Operation> {
    let prefix =
        if r.group.is_empty() { format!("/api/{}", r.version) } else { format!("/apis/{}/{}", r.group, r.version) };
    let group_word = if r.group.is_empty() { "Core".to_owned() } else { camel(&r.group) };
    let gv_id = format!("{group_word}{}", camel(&r.version));
    let tag = if r.group.is_empty() { format!("core_{}", r.version) } else { format!("{}_{}", r.group, r.version) };
    let (kind_def, synthetic) = kind_schema(defs, &r.group, &r.version, &r.kind, custom);
    let custom_kind = synthetic.is_some();
    if let Some(s) = synthetic {
        extra.insert(kind_def.clone(), s);
    }
    let list_kind = format!("{}List", r.kind);
    let list_def = match defs.name_of(&r.group, &r.version, &list_kind) {
        Some(n) if !custom_kind => n.to_owned(),
        _ => {
            let name = super::synthetic_name(&r.group, &r.version, &list_kind);
            let schema = list_schema(&kind_def, &r.group, &r.version, &r.kind, &r.plural);
            extra.insert(name.clone(), schema);
            name
        }
    };
    let (collection, collection_params, ns_word) = if r.namespaced {
        let path = format!("{prefix}/namespaces/{{namespace}}/{}", r.plural);
        (path, vec!["namespace"], "Namespaced")
    } else {
        (format!("{prefix}/{}", r.plural), vec![], "")
    };
    let item = format!("{collection}/{{name}}");
    let mut item_params = collection_params.clone();
    item_params.push("name");

    // One operation from a verb's spec, for an object of definition `def` (whose kind
    // is `gvk`; `custom` kinds have no strategic merge patch).
    let build = |spec: &VerbSpec,
                 path: &str,
                 params: &[&'static str],
                 id: String,
                 gvk: (String, String, String),
                 def: &str,
                 custom: bool| {
        let body = spec.body.map(|b| match b {
            Body::Object => (def.to_owned(), OBJECT_TYPES),
            Body::Patch => (PATCH_DEF.to_owned(), if custom { CUSTOM_PATCH_TYPES } else { PATCH_TYPES }),
            Body::DeleteOptions => (DELETE_OPTIONS_DEF.to_owned(), OBJECT_TYPES),
        });
        let response = match spec.reply {
            Reply::Object => def.to_owned(),
            Reply::List => list_def.clone(),
            Reply::Status => STATUS_DEF.to_owned(),
        };
        Operation {
            path: path.to_owned(),
            method: spec.method,
            id,
            action: spec.action,
            gvk,
            query: spec.query,
            body,
            response,
            codes: spec.codes,
            path_params: params.to_vec(),
            tag: tag.clone(),
        }
    };
    let gvk = || (r.group.clone(), r.version.clone(), r.kind.clone());
    let mut out = Vec::new();
    for verb in &r.verbs {
        let Some(spec) = verb_spec(verb, false) else {
            continue;
        };
        let (path, params) = if spec.collection { (&collection, &collection_params) } else { (&item, &item_params) };
        let id = format!("{}{gv_id}{ns_word}{}", spec.id, r.kind);
        out.push(build(&spec, path, params, id, gvk(), &kind_def, custom_kind));
        if verb == "list" && r.namespaced {
            let id = format!("list{gv_id}{}ForAllNamespaces", r.kind);
            let all = format!("{prefix}/{}", r.plural);
            out.push(build(&spec, &all, &[], id, gvk(), &kind_def, custom_kind));
        }
    }
    for sub in catalog::subresources(r) {
        if sub.name == "log" {
            continue; // plain text, no schema
        }
        let (group, version) = match sub.version {
            Some(v) => (sub.group.to_owned(), v.to_owned()),
            None => (r.group.clone(), r.version.clone()),
        };
        let kind = sub.kind.unwrap_or(&r.kind).to_owned();
        let same_kind = kind == r.kind && group == r.group && version == r.version;
        let (def, synthetic, custom) = if same_kind {
            (kind_def.clone(), None, custom_kind)
        } else {
            let (def, synthetic) = kind_schema(defs, &group, &version, &kind, None);
            let custom = synthetic.is_some();
            (def, synthetic, custom)
        };
        if let Some(s) = synthetic {
            extra.insert(def.clone(), s);
        }
        let path = format!("{item}/{}", sub.name);
        for verb in sub.verbs {
            let Some(spec) = verb_spec(verb, true) else {
                continue;
            };
            let id = format!("{}{gv_id}{ns_word}{}{}", spec.id, r.kind, camel(sub.name));
            let sub_gvk = (group.clone(), version.clone(), kind.clone());
            out.push(build(&spec, &path, &item_params, id, sub_gvk, &def, custom));
        }
    }
    out
}

/// The schema of `<Kind>List` for a kind without a generated one (a custom resource's),
/// worded as kube-apiserver words it for CRDs.
fn list_schema(item_def: &str, group: &str, version: &str, kind: &str, plural: &str) -> Value {
    json!({
        "description": format!("{kind}List is a list of {kind}"),
        "type": "object",
        "properties": {
            "apiVersion": {"description": super::API_VERSION_DESCRIPTION, "type": "string"},
            "items": {
                "description": format!("List of {plural}. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"),
                "type": "array",
                "items": {"$ref": format!("#/definitions/{item_def}")},
            },
            "kind": {"description": super::KIND_DESCRIPTION, "type": "string"},
            "metadata": {
                "$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta",
                "description": "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
            },
        },
        "required": ["items"],
        "x-kubernetes-group-version-kind": [{"group": group, "kind": format!("{kind}List"), "version": version}],
    })
}

/// Every definition the operations name (bodies and responses).
pub fn referenced_definitions(ops: &[Operation]) -> Vec<String> {
    let mut out: Vec<String> = ops
        .iter()
        .flat_map(|o| o.body.iter().map(|(d, _)| d.clone()).chain(std::iter::once(o.response.clone())))
        .collect();
    out.sort();
    out.dedup();
    out
}

fn gvk_value(gvk: &(String, String, String)) -> Value {
    json!({"group": gvk.0, "kind": gvk.2, "version": gvk.1})
}

fn description(o: &Operation) -> String {
    let what = match o.action {
        "list" => "list or watch objects of kind",
        "post" => "create",
        "deletecollection" => "delete a collection of",
        "get" => "read the specified",
        "put" => "replace the specified",
        "patch" => "partially update the specified",
        "delete" => "delete",
        _ => "operate on",
    };
    format!("{what} {}", o.gvk.2)
}

/// Group operations by path, in path order.
fn by_path(ops: &[Operation]) -> BTreeMap<&str, Vec<&Operation>> {
    let mut m: BTreeMap<&str, Vec<&Operation>> = BTreeMap::new();
    for o in ops {
        m.entry(o.path.as_str()).or_default().push(o);
    }
    m
}

/// The Swagger 2.0 `paths` object.
pub fn render_v2(ops: &[Operation]) -> Value {
    let mut paths = Map::new();
    for (path, ops) in by_path(ops) {
        let mut item = Map::new();
        let mut params: Vec<Value> = Vec::new();
        for p in &ops[0].path_params {
            let (ty, desc) = param_info(p);
            params.push(json!({"name": p, "in": "path", "required": true, "type": ty, "uniqueItems": true, "description": desc}));
        }
        let (ty, desc) = param_info("pretty");
        params.push(json!({"name": "pretty", "in": "query", "type": ty, "uniqueItems": true, "description": desc}));
        item.insert("parameters".into(), Value::Array(params));
        for o in ops {
            let mut parameters: Vec<Value> = Vec::new();
            if let Some((def, _)) = &o.body {
                parameters.push(json!({"name": "body", "in": "body", "required": o.action != "delete" && o.action != "deletecollection",
                    "schema": {"$ref": format!("#/definitions/{def}")}}));
            }
            for q in o.query {
                let (ty, desc) = param_info(q);
                parameters
                    .push(json!({"name": q, "in": "query", "type": ty, "uniqueItems": true, "description": desc}));
            }
            let mut responses = Map::new();
            for c in o.codes {
                responses.insert(
                    (*c).into(),
                    json!({"description": "OK", "schema": {"$ref": format!("#/definitions/{}", o.response)}}),
                );
            }
            responses.insert("401".into(), json!({"description": "Unauthorized"}));
            item.insert(
                o.method.into(),
                json!({
                    "description": description(o),
                    "consumes": o.body.as_ref().map(|(_, t)| t.to_vec()).unwrap_or_else(|| vec!["*/*"]),
                    "produces": OBJECT_TYPES,
                    "schemes": ["https"],
                    "tags": [o.tag],
                    "operationId": o.id,
                    "parameters": parameters,
                    "responses": responses,
                    "x-kubernetes-action": o.action,
                    "x-kubernetes-group-version-kind": gvk_value(&o.gvk),
                }),
            );
        }
        paths.insert(path.to_owned(), Value::Object(item));
    }
    Value::Object(paths)
}

/// The OpenAPI 3.0 `paths` object.
pub fn render_v3(ops: &[Operation]) -> Value {
    let mut paths = Map::new();
    let content = |def: &str, types: &[&str]| -> Value {
        let schema = json!({"$ref": format!("#/components/schemas/{def}")});
        Value::Object(types.iter().map(|t| ((*t).to_owned(), json!({ "schema": schema }))).collect())
    };
    for (path, ops) in by_path(ops) {
        let mut item = Map::new();
        let mut params: Vec<Value> = Vec::new();
        for p in &ops[0].path_params {
            let (ty, desc) = param_info(p);
            params.push(json!({"name": p, "in": "path", "required": true, "description": desc, "schema": {"type": ty, "uniqueItems": true}}));
        }
        let (ty, desc) = param_info("pretty");
        params.push(
            json!({"name": "pretty", "in": "query", "description": desc, "schema": {"type": ty, "uniqueItems": true}}),
        );
        item.insert("parameters".into(), Value::Array(params));
        for o in ops {
            let parameters: Vec<Value> = o
                .query
                .iter()
                .map(|q| {
                    let (ty, desc) = param_info(q);
                    json!({"name": q, "in": "query", "description": desc, "schema": {"type": ty, "uniqueItems": true}})
                })
                .collect();
            let mut responses = Map::new();
            for c in o.codes {
                responses
                    .insert((*c).into(), json!({"description": "OK", "content": content(&o.response, OBJECT_TYPES)}));
            }
            responses.insert("401".into(), json!({"description": "Unauthorized"}));
            let mut operation = json!({
                "tags": [o.tag],
                "description": description(o),
                "operationId": o.id,
                "parameters": parameters,
                "responses": responses,
                "x-kubernetes-action": o.action,
                "x-kubernetes-group-version-kind": gvk_value(&o.gvk),
            });
            if let Some((def, types)) = &o.body {
                operation["requestBody"] = json!({
                    "content": content(def, types),
                    "required": o.action != "delete" && o.action != "deletecollection",
                });
            }
            item.insert(o.method.into(), operation);
        }
        paths.insert(path.to_owned(), Value::Object(item));
    }
    Value::Object(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_ids_follow_kube() {
        assert_eq!(camel("rbac.authorization.k8s.io"), "RbacAuthorization");
        assert_eq!(camel("apps"), "Apps");
        assert_eq!(camel("v1beta1"), "V1beta1");
        let catalog = crate::catalog::Catalog::builtin();
        let defs = super::super::definitions().unwrap();
        let mut extra = BTreeMap::new();
        let deploy = catalog.lookup("apps", "v1", "deployments").unwrap();
        let ops = operations(deploy, defs, None, &mut extra);
        assert!(extra.is_empty());
        let ids: Vec<&str> = ops.iter().map(|o| o.id.as_str()).collect();
        for id in [
            "listAppsV1NamespacedDeployment",
            "listAppsV1DeploymentForAllNamespaces",
            "createAppsV1NamespacedDeployment",
            "patchAppsV1NamespacedDeployment",
            "readAppsV1NamespacedDeploymentScale",
            "patchAppsV1NamespacedDeploymentStatus",
        ] {
            assert!(ids.contains(&id), "{id} not in {ids:?}");
        }
        let scale = ops.iter().find(|o| o.id == "patchAppsV1NamespacedDeploymentScale").unwrap();
        assert_eq!(scale.gvk.2, "Scale");
        assert_eq!(scale.response, "io.k8s.api.autoscaling.v1.Scale");
    }
}
