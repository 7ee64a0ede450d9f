//! The ReplicaSet controller: keeps `spec.replicas` pods matching the selector.
//!
//! Each pass lists ReplicaSets and pods, claims pods for each ReplicaSet
//! (ownerReferences with `controller: true` and `blockOwnerDeletion: true`; matching
//! orphans are adopted), creates missing pods from the template with generateName
//! `<rs-name>-` and deletes surplus ones (unscheduled, pending, not ready and newest
//! first, as kube ranks them), then writes `status` (replicas, fullyLabeledReplicas,
//! readyReplicas, availableReplicas honouring `minReadySeconds`, terminatingReplicas,
//! observedGeneration). Deletions of a pass run before its creations, so a rolling
//! update never briefly holds more pods than the Deployment allows.

use std::cmp::Reverse;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::client::{is_conflict, is_not_found};
use super::compact::Node;
use super::informer::Waiter;
use super::objects::{self, Json, JsonObject};
use super::ownership::{self, Owner};
use super::Context;

const COMPONENT: &str = "replicaset-controller";

/// Kube's deletion rank of a pod: lower is deleted first.
fn deletion_rank(pod: &Node) -> impl Ord {
    let assigned = objects::at(pod, &["spec", "nodeName"]).and_then(Json::as_str).is_some_and(|n| !n.is_empty());
    let phase = match objects::phase(pod) {
        "Pending" | "" => 0,
        "Unknown" => 1,
        "Running" => 2,
        _ => 3,
    };
    let ready = objects::pod_ready(pod);
    let ready_since = objects::condition(pod, "Ready")
        .and_then(|c| c.get("lastTransitionTime"))
        .and_then(Json::as_str)
        .unwrap_or("")
        .to_owned();
    let restarts: i64 = objects::array_at(pod, &["status", "containerStatuses"])
        .iter()
        .filter_map(|s| s.get("restartCount").and_then(Json::as_i64))
        .sum();
    (
        assigned,
        phase,
        ready,
        Reverse(ready_since),
        Reverse(restarts),
        Reverse(objects::created(pod).to_owned()),
        Reverse(objects::name(pod).to_owned()),
    )
}

/// Status of a ReplicaSet-like owner computed from its pods; also whether a pod is
/// Ready but not yet available (so the caller requeues).
pub fn replica_status(owner: &Node, pods: &[&Node]) -> (Value, bool) {
    let min_ready = objects::int_at(owner, &["spec", "minReadySeconds"], 0);
    let now = objects::now_secs();
    let template_labels = objects::object_at(owner, &["spec", "template", "metadata", "labels"]);
    let replicas = pods.len();
    let fully = pods
        .iter()
        .filter(|p| {
            let l = objects::labels_of(p);
            template_labels.iter().flat_map(|t| t.iter()).all(|(k, v)| l.and_then(|l| l.get(k)) == Some(v))
        })
        .count();
    let ready = pods.iter().filter(objects::pod_ready).count();
    let available = pods.iter().filter(|p| objects::pod_available(p, min_ready, now)).count();
    let mut status = owner.get("status").map(Json::to_value).filter(Value::is_object).unwrap_or_else(|| json!({}));
    if let Some(st) = status.as_object_mut() {
        st.insert("replicas".into(), json!(replicas));
        st.insert("fullyLabeledReplicas".into(), json!(fully));
        st.insert("readyReplicas".into(), json!(ready));
        st.insert("availableReplicas".into(), json!(available));
        st.insert("observedGeneration".into(), json!(objects::generation(owner)));
    }
    (status, ready > available)
}

/// One pass over every ReplicaSet; returns a requeue delay when `minReadySeconds`
/// timers are pending.
pub async fn reconcile(ctx: &Context) -> Option<Duration> {
    let c = &ctx.client;
    let rss = ctx.informers.list(&c.res.replicasets).await;
    let pods = ctx.informers.fresh(&c.res.pods).await;
    let mut deletes: Vec<(Arc<Node>, Arc<Node>)> = Vec::new();
    let mut creates: Vec<(Arc<Node>, usize)> = Vec::new();
    let mut statuses: Vec<Value> = Vec::new();
    let mut requeue = None;
    for rs in rss {
        let ns = objects::namespace(&rs).unwrap_or("");
        let selector = objects::at(&rs, &["spec", "selector"]).map(Json::to_value).unwrap_or(Value::Null);
        let owner = Owner { object: &rs, api_version: "apps/v1", kind: "ReplicaSet", selector: &selector };
        let candidates = pods.claimable(ns, objects::uid(&rs));
        let owned = ownership::claim(c, &c.res.pods, &owner, &candidates).await;
        let mut active: Vec<&Arc<Node>> = owned.iter().filter(objects::pod_active).collect();
        let want = objects::int_at(&rs, &["spec", "replicas"], 1).max(0) as usize;
        if !objects::is_deleting(&rs) {
            if active.len() < want {
                creates.push((Arc::clone(&rs), want - active.len()));
            } else if active.len() > want {
                active.sort_by_key(|p| deletion_rank(p));
                for p in &active[..active.len() - want] {
                    deletes.push((Arc::clone(&rs), Arc::clone(p)));
                }
            }
        }
        let active: Vec<&Node> = active.into_iter().map(|p| p.as_ref()).collect();
        let (mut status, pending) = replica_status(&rs, &active);
        // Pods being deleted that have not finished, as kube's controller counts them
        // (`status.terminatingReplicas`, on by default since Kubernetes 1.35).
        let terminating = owned
            .iter()
            .filter(|p| {
                let phase = objects::str_at(p, &["status", "phase"]);
                objects::is_deleting(p) && phase != "Succeeded" && phase != "Failed"
            })
            .count();
        if let Some(st) = status.as_object_mut() {
            st.insert("terminatingReplicas".into(), json!(terminating));
        }
        if pending {
            requeue = Some(Duration::from_secs(1));
        }
        if !rs.get("status").is_some_and(|s| *s == status) {
            let mut updated = rs.to_value();
            if let Some(m) = updated.as_object_mut() {
                m.insert("status".into(), status);
            }
            statuses.push(updated);
        }
    }
    for (rs, pod) in deletes {
        let opts = json!({"preconditions": {"uid": objects::uid(&pod)}});
        match c.delete(&c.res.pods, objects::namespace(&pod), objects::name(&pod), &opts).await {
            Ok(_) => {
                let msg = format!("Deleted pod: {}", objects::name(&pod));
                ctx.event(&rs, "Normal", "SuccessfulDelete", &msg, COMPONENT).await;
            }
            Err(e) if is_not_found(&e) || is_conflict(&e) => {}
            Err(e) => tracing::warn!(pod = %objects::name(&pod), error = %e.message, "replicaset: delete pod failed"),
        }
    }
    for (rs, count) in creates {
        let selector = objects::at(&rs, &["spec", "selector"]).map(Json::to_value).unwrap_or(Value::Null);
        let owner = Owner { object: &rs, api_version: "apps/v1", kind: "ReplicaSet", selector: &selector };
        let Some(template) = objects::at(&rs, &["spec", "template"]) else {
            tracing::warn!(rs = %objects::name(&rs), "replicaset without spec.template; skipped");
            continue;
        };
        let pod = ownership::pod_from_template(template, &owner, None, &format!("{}-", objects::name(&rs)));
        for _ in 0..count {
            match c.create(&c.res.pods, objects::namespace(&rs), &pod).await {
                Ok(created) => {
                    let msg = format!("Created pod: {}", objects::name(&created));
                    ctx.event(&rs, "Normal", "SuccessfulCreate", &msg, COMPONENT).await;
                }
                Err(e) => {
                    tracing::debug!(rs = %objects::name(&rs), error = %e.message, "replicaset: create pod failed");
                    let msg = format!("Error creating: {}", e.message);
                    ctx.event(&rs, "Warning", "FailedCreate", &msg, COMPONENT).await;
                    break;
                }
            }
        }
    }
    for updated in statuses {
        if let Err(e) = c.update_status(&c.res.replicasets, &updated).await {
            if !is_conflict(&e) && !is_not_found(&e) {
                tracing::warn!(rs = %objects::name(&updated), error = %e.message, "replicaset: status update failed");
            }
        }
    }
    requeue
}

/// The ReplicaSet controller loop.
pub async fn run(ctx: Context, mut waiter: Waiter) {
    loop {
        let next = reconcile(&ctx).await;
        if !waiter.wait(next).await {
            return;
        }
    }
}
