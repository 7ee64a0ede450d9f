//! Controller references, shared by the workload controllers: claiming objects
//! (adopting matching orphans, releasing owned objects whose labels stopped
//! matching) and stamping pods out of a pod template, as kube's
//! `ControllerRefManager` and `PodControl` do.

use std::sync::Arc;

use serde_json::{json, Value};

use super::client::{is_conflict, is_not_found, Client};
use super::compact::Node;
use super::objects::{self, AsJson, Json, JsonObject};
use crate::api::ResourceInfo;

/// The owner side of a claim: the object, its apiVersion/kind and its selector.
pub struct Owner<'a> {
    /// The owning object.
    pub object: &'a Node,
    /// `apiVersion` to write in ownerReferences (`apps/v1`).
    pub api_version: &'a str,
    /// `kind` to write in ownerReferences (`ReplicaSet`).
    pub kind: &'a str,
    /// The owner's `spec.selector`.
    pub selector: &'a Value,
}

/// Of `candidates` (objects of `res` in the owner's namespace), the ones `owner`
/// controls after adopting matching orphans and releasing owned non-matching ones.
pub async fn claim(
    client: &Client,
    res: &Arc<ResourceInfo>,
    owner: &Owner<'_>,
    candidates: &[Arc<Node>],
) -> Vec<Arc<Node>> {
    let owner_uid = objects::uid(owner.object);
    let owner_deleting = objects::is_deleting(owner.object);
    let selector = objects::owner_selector(owner.selector);
    let mut owned = Vec::new();
    for obj in candidates {
        let labels = objects::labels_of(obj);
        let matches =
            selector.as_ref().is_some_and(|s| s.matches_with(|k| labels.and_then(|l| l.get(k)).and_then(Json::as_str)));
        match objects::controller_uid(obj) {
            Some(uid) if uid == owner_uid => {
                if matches || owner_deleting {
                    owned.push(Arc::clone(obj));
                } else {
                    // Release: drop our ownerReference.
                    let mut released = obj.to_value();
                    let refs: Vec<Value> = objects::owner_refs(obj)
                        .into_iter()
                        .filter(|r| r.get("uid").and_then(Value::as_str) != Some(owner_uid))
                        .collect();
                    objects::set_owner_refs(&mut released, refs);
                    if let Err(e) = client.update(res, &released).await {
                        log_write_error("release", obj, &e);
                    }
                }
            }
            Some(_) => {}
            None => {
                if !matches || owner_deleting || objects::is_deleting(obj) {
                    continue;
                }
                let mut adopted = obj.to_value();
                let mut refs = objects::owner_refs(obj);
                refs.push(objects::controller_ref(owner.object, owner.api_version, owner.kind));
                objects::set_owner_refs(&mut adopted, refs);
                match client.update(res, &adopted).await {
                    Ok(o) => owned.push(Arc::new(Node::without_managed_fields(&o))),
                    Err(e) => log_write_error("adopt", obj, &e),
                }
            }
        }
    }
    owned
}

fn log_write_error(what: &str, obj: &Node, e: &crate::api::ApiError) {
    if is_conflict(e) || is_not_found(e) {
        tracing::debug!(object = %objects::name(obj), error = %e.message, "{what} raced; retrying next pass");
    } else {
        tracing::warn!(object = %objects::name(obj), error = %e.message, "{what} failed");
    }
}

/// A pod built from `template` (`spec.template` of a workload), controlled by
/// `owner`, named `name` or generated from `generate_name`.
pub fn pod_from_template<T: AsJson + ?Sized>(
    template: &T,
    owner: &Owner<'_>,
    name: Option<&str>,
    generate_name: &str,
) -> Value {
    let template = template.json();
    let mut md = serde_json::Map::new();
    for k in ["labels", "annotations", "finalizers"] {
        if let Some(v) = objects::at(template, &["metadata", k]) {
            md.insert(k.into(), v.to_value());
        }
    }
    match name {
        Some(n) => md.insert("name".into(), json!(n)),
        None => md.insert("generateName".into(), json!(generate_name)),
    };
    if let Some(ns) = objects::namespace(owner.object) {
        md.insert("namespace".into(), json!(ns));
    }
    md.insert("ownerReferences".into(), json!([objects::controller_ref(owner.object, owner.api_version, owner.kind)]));
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": Value::Object(md),
        "spec": template.get("spec").map(Json::to_value).unwrap_or_else(|| json!({})),
    })
}
