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
use super::expectations::Expectations;
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
/// its pods, deletes surplus ones or creates missing ones when its expectations are
/// met, writes its status. It reads the caches as they are: the expectations say when
/// they lag the controller's own writes.
async fn sync(ctx: &Context, expectations: &Expectations, key: String) -> Synced {
    let c = &ctx.client;
    let Some((ns, name)) = key.split_once('/') else { return Synced::Done };
    let rss = ctx.informers.cache(&c.res.replicasets);
    let pods = ctx.informers.cache(&c.res.pods);
    if !rss.synced() || !pods.synced() {
        return Synced::After(Duration::from_millis(100));
    }
    let Some(rs) = rss.get(Some(ns), name) else {
        expectations.forget(&key);
        return Synced::Done;
    };
    let selector = objects::at(&rs, &["spec", "selector"]).map(Json::to_value).unwrap_or(Value::Null);
    let owner = Owner { object: &rs, api_version: "apps/v1", kind: "ReplicaSet", selector: &selector };
    let candidates = pods.claimable(ns, objects::uid(&rs));
    let owned = ownership::claim(c, &c.res.pods, &owner, &candidates).await;
    let mut active: Vec<&Arc<Node>> = owned.iter().filter(objects::pod_active).collect();
    let want = objects::int_at(&rs, &["spec", "replicas"], 1).max(0) as usize;
    let mut failed = false;
    if !objects::is_deleting(&rs) && expectations.satisfied(&key) {
        if active.len() > want {
            active.sort_by_key(|p| deletion_rank(p));
            let surplus = &active[..active.len() - want];
            expectations.expect(&key, 0, surplus.iter().map(|p| objects::uid(p).to_owned()));
            for pod in surplus {
                if !delete_pod(ctx, &rs, pod).await {
                    expectations.deletion_observed(&key, objects::uid(pod));
                    failed = true;
                }
            }
        } else if active.len() < want {
            let missing = want - active.len();
            expectations.expect(&key, missing, []);
            let created = create_pods(ctx, &rs, &owner, missing).await;
            for _ in created..missing {
                expectations.creation_observed(&key);
            }
            failed |= created < missing;
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

/// Creates up to `count` pods from `rs`'s template; how many were created (the rest
/// wait for the retry, as kube's slow-start batches stop at the first error).
async fn create_pods(ctx: &Context, rs: &Node, owner: &Owner<'_>, count: usize) -> usize {
    let c = &ctx.client;
    let Some(template) = objects::at(rs, &["spec", "template"]) else {
        tracing::warn!(rs = %objects::name(rs), "replicaset without spec.template; skipped");
        return count;
    };
    let pod = ownership::pod_from_template(template, owner, None, &format!("{}-", objects::name(rs)));
    for created in 0..count {
        match c.create(&c.res.pods, objects::namespace(rs), &pod).await {
            Ok(created) => {
                let msg = format!("Created pod: {}", objects::name(&created));
                ctx.event(rs, "Normal", "SuccessfulCreate", &msg, COMPONENT).await;
            }
            Err(e) => {
                tracing::debug!(rs = %objects::name(rs), error = %e.message, "replicaset: create pod failed");
                let msg = format!("Error creating: {}", e.message);
                ctx.event(rs, "Warning", "FailedCreate", &msg, COMPONENT).await;
                return created;
            }
        }
    }
    count
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
    let expectations = Arc::new(Expectations::default());
    let queue = keys.clone();
    replicasets.on_change(Arc::new(move |before: Option<&Node>, after: Option<&Node>| {
        if let Some(rs) = after.or(before) {
            queue.add(key_of(rs));
        }
    }));
    let (queue, in_namespace, expected) = (keys.clone(), Arc::clone(&replicasets), Arc::clone(&expectations));
    pods.on_change(Arc::new(move |before: Option<&Node>, after: Option<&Node>| {
        for pod in [before, after].into_iter().flatten() {
            if let Some(rs) = controlling_replicaset(pod) {
                queue.add(rs);
            } else if objects::controller_uid(pod).is_none() {
                // An orphan: a ReplicaSet of its namespace may adopt it.
                for rs in in_namespace.list(objects::namespace(pod)) {
                    queue.add(key_of(&rs));
                }
            }
        }
        // What the ReplicaSet's expectations count: a pod seen for the first time, a
        // pod that starts deleting or is gone.
        match (before, after) {
            (None, Some(new)) => {
                if let Some(rs) = controlling_replicaset(new) {
                    expected.creation_observed(&rs);
                }
            }
            (Some(old), new) if new.is_none_or(|n| objects::is_deleting(n) && !objects::is_deleting(old)) => {
                if let Some(rs) = controlling_replicaset(old) {
                    expected.deletion_observed(&rs, objects::uid(old));
                }
            }
            _ => {}
        }
    }));
    let all = move || replicasets.list(None).iter().map(|rs| key_of(rs)).collect();
    keyed::run(keys, shutdown, ctx.options.resync_period, passes, all, |key| sync(&ctx, &expectations, key)).await;
}

/// `namespace/name` of the ReplicaSet controlling `pod`, if one does.
fn controlling_replicaset(pod: &Node) -> Option<String> {
    let r = objects::owner_refs_of(pod).iter().find(|r| objects::bool_at(*r, &["controller"]))?;
    (objects::str_at(r, &["kind"]) == "ReplicaSet")
        .then(|| format!("{}/{}", objects::namespace(pod).unwrap_or(""), objects::str_at(r, &["name"])))
}
