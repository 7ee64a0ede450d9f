//! The StatefulSet controller: ordinal pods `<name>-0` .. `<name>-(n-1)`.
//!
//! With the default `OrderedReady` policy a pod is created only when every lower
//! ordinal is Running and Ready, and scale-down removes the highest ordinal first,
//! one at a time; `Parallel` creates and deletes them all at once. Pods carry the
//! labels kube gives them (`statefulset.kubernetes.io/pod-name`,
//! `apps.kubernetes.io/pod-index`, `controller-revision-hash`), `hostname` and
//! `subdomain` (`spec.serviceName`). A template change (RollingUpdate) replaces pods
//! from the highest ordinal down, one at a time, honouring `partition`. Status:
//! replicas, readyReplicas, currentReplicas, updatedReplicas, availableReplicas,
//! currentRevision, updateRevision, observedGeneration. ControllerRevision objects
//! and volumeClaimTemplates (PVCs) are not created.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::client::{is_conflict, is_not_found};
use super::compact::Node;
use super::hash::pod_template_hash;
use super::informer::Waiter;
use super::objects::{self, Json};
use super::ownership::{self, Owner};
use super::Context;

const COMPONENT: &str = "statefulset-controller";
const REVISION_LABEL: &str = "controller-revision-hash";

fn ordinal(set_name: &str, pod: &Node) -> Option<usize> {
    objects::name(pod).strip_prefix(set_name)?.strip_prefix('-')?.parse().ok()
}

fn revision_of(pod: &Node) -> String {
    objects::label(pod, REVISION_LABEL).unwrap_or("").to_owned()
}

fn pod_for(set: &Node, i: usize, revision: &str) -> Value {
    let name = objects::name(set);
    let selector = objects::at(set, &["spec", "selector"]).map(Json::to_value).unwrap_or(Value::Null);
    let owner = Owner { object: set, api_version: "apps/v1", kind: "StatefulSet", selector: &selector };
    let mut template = objects::at(set, &["spec", "template"]).map(Json::to_value).unwrap_or_else(|| json!({}));
    {
        let md = objects::meta_mut(&mut template);
        let labels = md.entry("labels").or_insert_with(|| json!({}));
        if let Some(l) = labels.as_object_mut() {
            l.insert("statefulset.kubernetes.io/pod-name".into(), json!(format!("{name}-{i}")));
            l.insert("apps.kubernetes.io/pod-index".into(), json!(i.to_string()));
            l.insert(REVISION_LABEL.into(), json!(revision));
        }
    }
    let mut pod = ownership::pod_from_template(&template, &owner, Some(&format!("{name}-{i}")), "");
    if let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("hostname".into(), json!(format!("{name}-{i}")));
        if let Some(svc) = objects::at(set, &["spec", "serviceName"]).and_then(Json::as_str).filter(|s| !s.is_empty()) {
            spec.insert("subdomain".into(), json!(svc));
        }
    }
    pod
}

async fn sync_set(ctx: &Context, set: &Node, candidates: &[Arc<Node>]) -> Option<Duration> {
    let c = &ctx.client;
    let name = objects::name(set).to_owned();
    let ns = objects::namespace(set);
    let selector = objects::at(set, &["spec", "selector"]).map(Json::to_value).unwrap_or(Value::Null);
    let owner = Owner { object: set, api_version: "apps/v1", kind: "StatefulSet", selector: &selector };
    let owned = ownership::claim(c, &c.res.pods, &owner, candidates).await;
    let owned: Vec<&Node> = owned.iter().map(|p| p.as_ref()).collect();
    let replicas = objects::int_at(set, &["spec", "replicas"], 1).max(0) as usize;
    let parallel = objects::at(set, &["spec", "podManagementPolicy"]).and_then(Json::as_str) == Some("Parallel");
    let on_delete = objects::at(set, &["spec", "updateStrategy", "type"]).and_then(Json::as_str) == Some("OnDelete");
    let partition = objects::int_at(set, &["spec", "updateStrategy", "rollingUpdate", "partition"], 0).max(0) as usize;
    let update_revision = format!(
        "{name}-{}",
        pod_template_hash(
            objects::at(set, &["spec", "template"]).unwrap_or(&super::compact::NULL),
            objects::at(set, &["status", "collisionCount"]).and_then(Json::as_i64).filter(|c| *c > 0)
        )
    );
    let mut by_ordinal: Vec<Option<&Node>> = vec![None; replicas];
    let mut surplus: Vec<(usize, &Node)> = Vec::new();
    for p in &owned {
        match ordinal(&name, p) {
            Some(i) if i < replicas => by_ordinal[i] = Some(p),
            Some(i) => surplus.push((i, p)),
            None => surplus.push((usize::MAX, p)),
        }
    }
    let healthy = |p: &Node| objects::phase(p) == "Running" && objects::pod_ready(p);
    if !objects::is_deleting(set) {
        let mut acted = false;
        // Create missing ordinals (in order, waiting for readiness unless Parallel).
        for (i, slot) in by_ordinal.iter().enumerate() {
            match slot {
                Some(p) if healthy(p) || parallel => continue,
                Some(_) => break,
                None => {
                    let rev = if i < partition {
                        objects::at(set, &["status", "currentRevision"])
                            .and_then(Json::as_str)
                            .unwrap_or(&update_revision)
                            .to_owned()
                    } else {
                        update_revision.clone()
                    };
                    match c.create(&c.res.pods, ns, &pod_for(set, i, &rev)).await {
                        Ok(_) => {
                            let msg = format!("create Pod {name}-{i} in StatefulSet {name} successful");
                            ctx.event(set, "Normal", "SuccessfulCreate", &msg, COMPONENT).await;
                        }
                        Err(e) => tracing::debug!(set = %name, error = %e.message, "statefulset: create pod failed"),
                    }
                    acted = true;
                    if !parallel {
                        break;
                    }
                }
            }
        }
        // Scale down: highest ordinal first.
        if !acted {
            surplus.sort_by_key(|(i, _)| std::cmp::Reverse(*i));
            let take = if parallel { surplus.len() } else { surplus.len().min(1) };
            for (_, p) in surplus.iter().take(take) {
                if objects::is_deleting(p) {
                    continue;
                }
                let _ = c.delete(&c.res.pods, ns, objects::name(p), &json!({})).await;
                let msg = format!("delete Pod {} in StatefulSet {name} successful", objects::name(p));
                ctx.event(set, "Normal", "SuccessfulDelete", &msg, COMPONENT).await;
                acted = true;
            }
        }
        // Rolling update: replace the highest outdated ordinal once all are healthy.
        let all_healthy = by_ordinal.iter().all(|p| p.is_some_and(healthy));
        if !acted && !on_delete && all_healthy {
            if let Some(p) =
                (partition..replicas).rev().filter_map(|i| by_ordinal[i]).find(|p| revision_of(p) != update_revision)
            {
                let _ = c.delete(&c.res.pods, ns, objects::name(p), &json!({})).await;
            }
        }
    }
    let pods: Vec<&Node> = by_ordinal.iter().flatten().copied().filter(|p| !objects::is_deleting(p)).collect();
    let ready = pods.iter().filter(objects::pod_ready).count();
    let updated = pods.iter().filter(|p| revision_of(p) == update_revision).count();
    let all_updated = updated == replicas && ready == replicas;
    let old_current = objects::at(set, &["status", "currentRevision"]).and_then(Json::as_str).map(str::to_owned);
    let current_revision = match old_current {
        Some(cur) if !all_updated => cur,
        _ => update_revision.clone(),
    };
    let current = pods.iter().filter(|p| revision_of(p) == current_revision).count();
    let mut status = set.get("status").map(Json::to_value).filter(Value::is_object).unwrap_or_else(|| json!({}));
    if let Some(st) = status.as_object_mut() {
        st.insert("observedGeneration".into(), json!(objects::generation(set)));
        st.insert("replicas".into(), json!(pods.len()));
        st.insert("readyReplicas".into(), json!(ready));
        st.insert("currentReplicas".into(), json!(current));
        st.insert("updatedReplicas".into(), json!(updated));
        st.insert("availableReplicas".into(), json!(ready));
        st.insert("currentRevision".into(), json!(current_revision));
        st.insert("updateRevision".into(), json!(update_revision));
        st.entry("collisionCount").or_insert(json!(0));
    }
    if !set.get("status").is_some_and(|s| *s == status) {
        let mut out = set.to_value();
        if let Some(m) = out.as_object_mut() {
            m.insert("status".into(), status);
        }
        if let Err(e) = c.update_status(&c.res.statefulsets, &out).await {
            if !is_conflict(&e) && !is_not_found(&e) {
                tracing::warn!(set = %name, error = %e.message, "statefulset: status update failed");
            }
        }
    }
    None
}

/// One pass over every StatefulSet.
pub async fn reconcile(ctx: &Context) -> Option<Duration> {
    let c = &ctx.client;
    let sets = ctx.informers.list(&c.res.statefulsets).await;
    let pods = ctx.informers.fresh(&c.res.pods).await;
    for set in &sets {
        let candidates = pods.claimable(objects::namespace(set).unwrap_or(""), objects::uid(set));
        sync_set(ctx, set, &candidates).await;
    }
    None
}

/// The StatefulSet controller loop.
pub async fn run(ctx: Context, mut waiter: Waiter) {
    loop {
        let next = reconcile(&ctx).await;
        if !waiter.wait(next).await {
            return;
        }
    }
}
