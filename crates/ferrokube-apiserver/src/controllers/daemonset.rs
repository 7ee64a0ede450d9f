//! The DaemonSet controller: one pod per eligible node.
//!
//! Eligible nodes are the Ready nodes whose labels satisfy the template's
//! `nodeSelector` (taints and affinities are not evaluated; the simulated node has
//! none). Pods get generateName `<ds>-`, a node affinity on `metadata.name` as kube
//! writes it, `spec.nodeName` (so the kubelet starts them without binding) and the
//! labels `controller-revision-hash` and `pod-template-generation`. A template
//! change (RollingUpdate) deletes outdated pods one node at a time (they are then
//! recreated); `OnDelete` waits for the user. Status: desired/current/updated
//! NumberScheduled, numberReady, numberAvailable, numberUnavailable,
//! numberMisscheduled, observedGeneration.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::client::{is_conflict, is_not_found};
use super::compact::Node;
use super::hash::pod_template_hash;
use super::informer::Waiter;
use super::objects::{self, Json, JsonObject};
use super::ownership::{self, Owner};
use super::Context;

const COMPONENT: &str = "daemonset-controller";
const REVISION_LABEL: &str = "controller-revision-hash";

fn eligible(ds: &Node, node: &Node) -> bool {
    if !objects::condition_true(node, "Ready") || objects::is_deleting(node) {
        return false;
    }
    let labels = objects::labels_of(node);
    match objects::object_at(ds, &["spec", "template", "spec", "nodeSelector"]) {
        Some(sel) => sel.iter().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v)),
        None => true,
    }
}

fn pod_for(ds: &Node, owner: &Owner<'_>, node: &str, revision: &str) -> Value {
    let mut template = objects::at(ds, &["spec", "template"]).map(Json::to_value).unwrap_or_else(|| json!({}));
    {
        let md = objects::meta_mut(&mut template);
        let labels = md.entry("labels").or_insert_with(|| json!({}));
        if let Some(l) = labels.as_object_mut() {
            l.insert(REVISION_LABEL.into(), json!(revision));
            l.insert("pod-template-generation".into(), json!(objects::generation(ds).to_string()));
        }
    }
    let mut pod = ownership::pod_from_template(&template, owner, None, &format!("{}-", objects::name(ds)));
    if let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("nodeName".into(), json!(node));
        spec.insert(
            "affinity".into(),
            json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
            ]}}}),
        );
    }
    pod
}

async fn sync_ds(ctx: &Context, ds: &Node, nodes: &[Arc<Node>], candidates: &[Arc<Node>]) {
    let c = &ctx.client;
    let ns = objects::namespace(ds);
    let selector = objects::at(ds, &["spec", "selector"]).map(Json::to_value).unwrap_or(Value::Null);
    let owner = Owner { object: ds, api_version: "apps/v1", kind: "DaemonSet", selector: &selector };
    let owned = ownership::claim(c, &c.res.pods, &owner, candidates).await;
    let owned: Vec<&Node> = owned.iter().map(|p| p.as_ref()).collect();
    let revision = pod_template_hash(objects::at(ds, &["spec", "template"]).unwrap_or(&super::compact::NULL), None);
    let on_delete = objects::at(ds, &["spec", "updateStrategy", "type"]).and_then(Json::as_str) == Some("OnDelete");
    let targets: Vec<&str> = nodes.iter().filter(|n| eligible(ds, n)).map(objects::name).collect();
    let node_of = |p: &Node| objects::str_at(p, &["spec", "nodeName"]).to_owned();
    let active: Vec<&Node> = owned.iter().copied().filter(objects::pod_active).collect();
    if !objects::is_deleting(ds) {
        let mut acted = false;
        for node in &targets {
            if !active.iter().any(|p| node_of(p) == *node) {
                match c.create(&c.res.pods, ns, &pod_for(ds, &owner, node, &revision)).await {
                    Ok(p) => {
                        let msg = format!("Created pod: {}", objects::name(&p));
                        ctx.event(ds, "Normal", "SuccessfulCreate", &msg, COMPONENT).await;
                    }
                    Err(e) => {
                        tracing::debug!(ds = %objects::name(ds), error = %e.message, "daemonset: create pod failed")
                    }
                }
                acted = true;
            }
        }
        for p in active.iter().filter(|p| !targets.contains(&node_of(p).as_str())) {
            let _ = c.delete(&c.res.pods, ns, objects::name(p), &json!({})).await;
            acted = true;
        }
        let all_ready = active.iter().all(objects::pod_ready);
        if !acted && !on_delete && all_ready {
            let outdated = active.iter().find(|p| objects::label(p, REVISION_LABEL) != Some(revision.as_str()));
            if let Some(p) = outdated {
                let _ = c.delete(&c.res.pods, ns, objects::name(p), &json!({})).await;
                let msg = format!("Deleted pod: {}", objects::name(p));
                ctx.event(ds, "Normal", "SuccessfulDelete", &msg, COMPONENT).await;
            }
        }
    }
    let scheduled: Vec<&&Node> = active.iter().filter(|p| targets.contains(&node_of(p).as_str())).collect();
    let ready = scheduled.iter().filter(objects::pod_ready).count();
    let updated = scheduled.iter().filter(|p| objects::label(p, REVISION_LABEL) == Some(revision.as_str())).count();
    let desired = targets.len();
    let mut status = ds.get("status").map(Json::to_value).filter(Value::is_object).unwrap_or_else(|| json!({}));
    if let Some(st) = status.as_object_mut() {
        st.insert("currentNumberScheduled".into(), json!(scheduled.len()));
        st.insert("desiredNumberScheduled".into(), json!(desired));
        st.insert("numberMisscheduled".into(), json!(active.len() - scheduled.len()));
        st.insert("numberReady".into(), json!(ready));
        st.insert("observedGeneration".into(), json!(objects::generation(ds)));
        st.insert("updatedNumberScheduled".into(), json!(updated));
        if ready > 0 {
            st.insert("numberAvailable".into(), json!(ready));
        } else {
            st.remove("numberAvailable");
        }
        if desired > ready {
            st.insert("numberUnavailable".into(), json!(desired - ready));
        } else {
            st.remove("numberUnavailable");
        }
    }
    if !ds.get("status").is_some_and(|s| *s == status) {
        let mut out = ds.to_value();
        if let Some(m) = out.as_object_mut() {
            m.insert("status".into(), status);
        }
        if let Err(e) = c.update_status(&c.res.daemonsets, &out).await {
            if !is_conflict(&e) && !is_not_found(&e) {
                tracing::warn!(ds = %objects::name(ds), error = %e.message, "daemonset: status update failed");
            }
        }
    }
}

/// One pass over every DaemonSet.
pub async fn reconcile(ctx: &Context) -> Option<Duration> {
    let c = &ctx.client;
    let sets = ctx.informers.list(&c.res.daemonsets).await;
    let nodes = ctx.informers.list(&c.res.nodes).await;
    let pods = ctx.informers.fresh(&c.res.pods).await;
    for ds in &sets {
        let candidates = pods.claimable(objects::namespace(ds).unwrap_or(""), objects::uid(ds));
        sync_ds(ctx, ds, &nodes, &candidates).await;
    }
    None
}

/// The DaemonSet controller loop.
pub async fn run(ctx: Context, mut waiter: Waiter) {
    loop {
        let next = reconcile(&ctx).await;
        if !waiter.wait(next).await {
            return;
        }
    }
}
