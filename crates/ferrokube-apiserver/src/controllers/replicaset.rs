//! The ReplicaSet controller: keeps `spec.replicas` pods matching the selector.
//!
//! Built per key ([`keyed`]), as kube's: a sync of one ReplicaSet claims its pods
//! (ownerReferences with `controller: true` and `blockOwnerDeletion: true`; matching
//! orphans are adopted), creates missing pods from the template with generateName
//! `<rs-name>-` or deletes surplus ones (unscheduled, pending, not ready and newest
//! first, as kube ranks them), then writes `status` (replicas, fullyLabeledReplicas,
//! readyReplicas, availableReplicas honouring `minReadySeconds`, terminatingReplicas,
//! observedGeneration). What queues a ReplicaSet: its own changes, its pods' changes
//! (through their controller ownerReference), a pod without a controller in its
//! namespace, the resync.

use std::cmp::Reverse;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::watch;

use super::client::{is_conflict, is_not_found};
use super::compact::Node;
use super::keyed::{self, Keys, Synced};
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

/// Syncs the ReplicaSet `key` (`namespace/name`), as kube's `syncReplicaSet`: claims
/// its pods, deletes surplus ones before creating missing ones, writes its status.
async fn sync(ctx: &Context, key: String) -> Synced {
    let c = &ctx.client;
    let Some((ns, name)) = key.split_once('/') else { return Synced::Done };
    let rss = ctx.informers.fresh(&c.res.replicasets).await;
    let Some(rs) = rss.get(Some(ns), name) else { return Synced::Done };
    let pods = ctx.informers.fresh(&c.res.pods).await;
    let selector = objects::at(&rs, &["spec", "selector"]).map(Json::to_value).unwrap_or(Value::Null);
    let owner = Owner { object: &rs, api_version: "apps/v1", kind: "ReplicaSet", selector: &selector };
    let candidates = pods.claimable(ns, objects::uid(&rs));
    let owned = ownership::claim(c, &c.res.pods, &owner, &candidates).await;
    let mut active: Vec<&Arc<Node>> = owned.iter().filter(objects::pod_active).collect();
    let want = objects::int_at(&rs, &["spec", "replicas"], 1).max(0) as usize;
    let mut failed = false;
    if !objects::is_deleting(&rs) {
        if active.len() > want {
            active.sort_by_key(|p| deletion_rank(p));
            for pod in &active[..active.len() - want] {
                failed |= !delete_pod(ctx, &rs, pod).await;
            }
        } else if active.len() < want {
            failed |= !create_pods(ctx, &rs, &owner, want - active.len()).await;
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
    if !rs.get("status").is_some_and(|s| *s == status) {
        let mut updated = rs.to_value();
        if let Some(m) = updated.as_object_mut() {
            m.insert("status".into(), status);
        }
        match c.update_status(&c.res.replicasets, &updated).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => return Synced::Done,
            Err(e) => {
                if !is_conflict(&e) {
                    tracing::warn!(rs = %name, error = %e.message, "replicaset: status update failed");
                }
                failed = true;
            }
        }
    }
    match (failed, pending) {
        (true, _) => Synced::Retry,
        (false, true) => Synced::After(Duration::from_secs(1)),
        (false, false) => Synced::Done,
    }
}

/// Deletes one surplus pod of `rs`; false when that failed for a reason worth a retry.
async fn delete_pod(ctx: &Context, rs: &Node, pod: &Node) -> bool {
    let c = &ctx.client;
    let opts = json!({"preconditions": {"uid": objects::uid(pod)}});
    match c.delete(&c.res.pods, objects::namespace(pod), objects::name(pod), &opts).await {
        Ok(_) => {
            let msg = format!("Deleted pod: {}", objects::name(pod));
            ctx.event(rs, "Normal", "SuccessfulDelete", &msg, COMPONENT).await;
            true
        }
        Err(e) if is_not_found(&e) || is_conflict(&e) => true,
        Err(e) => {
            tracing::warn!(pod = %objects::name(pod), error = %e.message, "replicaset: delete pod failed");
            false
        }
    }
}

/// Creates `count` pods from `rs`'s template; false when one failed (the rest wait for
/// the retry, as kube's slow-start batches stop at the first error).
async fn create_pods(ctx: &Context, rs: &Node, owner: &Owner<'_>, count: usize) -> bool {
    let c = &ctx.client;
    let Some(template) = objects::at(rs, &["spec", "template"]) else {
        tracing::warn!(rs = %objects::name(rs), "replicaset without spec.template; skipped");
        return true;
    };
    let pod = ownership::pod_from_template(template, owner, None, &format!("{}-", objects::name(rs)));
    for _ in 0..count {
        match c.create(&c.res.pods, objects::namespace(rs), &pod).await {
            Ok(created) => {
                let msg = format!("Created pod: {}", objects::name(&created));
                ctx.event(rs, "Normal", "SuccessfulCreate", &msg, COMPONENT).await;
            }
            Err(e) => {
                tracing::debug!(rs = %objects::name(rs), error = %e.message, "replicaset: create pod failed");
                let msg = format!("Error creating: {}", e.message);
                ctx.event(rs, "Warning", "FailedCreate", &msg, COMPONENT).await;
                return false;
            }
        }
    }
    true
}

/// `namespace/name` of an object.
fn key_of(obj: &Node) -> String {
    format!("{}/{}", objects::namespace(obj).unwrap_or(""), objects::name(obj))
}

/// The ReplicaSet controller: a sync per changed ReplicaSet key ([`keyed`]). A
/// ReplicaSet's own changes queue it; a pod's change queues its controlling
/// ReplicaSet, or, for a pod without a controller, every ReplicaSet of its namespace
/// (one may adopt it); the resync queues them all.
pub async fn run(ctx: Context, shutdown: watch::Receiver<bool>, passes: Arc<AtomicU64>) {
    let c = &ctx.client;
    let keys = Keys::new(COMPONENT);
    let replicasets = ctx.informers.cache(&c.res.replicasets);
    let pods = ctx.informers.cache(&c.res.pods);
    let queue = keys.clone();
    replicasets.on_change(Arc::new(move |rs: &Node| queue.add(key_of(rs))));
    let (queue, in_namespace) = (keys.clone(), Arc::clone(&replicasets));
    pods.on_change(Arc::new(move |pod: &Node| {
        let ns = objects::namespace(pod).unwrap_or("");
        let controller = objects::owner_refs_of(pod).iter().find(|r| objects::bool_at(*r, &["controller"]));
        match controller {
            Some(r) if objects::str_at(r, &["kind"]) == "ReplicaSet" => {
                queue.add(format!("{ns}/{}", objects::str_at(r, &["name"])));
            }
            Some(_) => {}
            None => {
                for rs in in_namespace.list(Some(ns)) {
                    queue.add(key_of(&rs));
                }
            }
        }
    }));
    let all = move || replicasets.list(None).iter().map(|rs| key_of(rs)).collect();
    keyed::run(keys, shutdown, ctx.options.resync_period, passes, all, |key| sync(&ctx, key)).await;
}
