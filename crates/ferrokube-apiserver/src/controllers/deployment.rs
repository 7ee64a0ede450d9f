//! The Deployment controller: Deployment -> ReplicaSets -> (the ReplicaSet
//! controller) -> Pods, following kube's `pkg/controller/deployment`.
//!
//! - The ReplicaSet of the current template is `<deployment>-<pod-template-hash>`
//!   ([`super::hash`]), its template and selector carry the `pod-template-hash` label,
//!   and its annotations `deployment.kubernetes.io/revision`, `desired-replicas` and
//!   `max-replicas`. A hash collision bumps `status.collisionCount`.
//! - RollingUpdate: scale the new ReplicaSet up within `maxSurge` and old ones down
//!   within `maxUnavailable` (ints or percentages of `spec.replicas`; surge rounds up,
//!   unavailable down; both default to 25%; both 0 means unavailable 1), counting
//!   ReplicaSets' `spec.replicas` and `status.availableReplicas` as kube does.
//! - Recreate: scale old ReplicaSets to 0, wait until their pods are gone, then create
//!   (or scale) the new one.
//! - A change of `spec.replicas` alone is a scaling event: the active ReplicaSet is
//!   resized (proportionally across several during a rollout).
//! - `spec.paused` stops rollouts (scaling still applies); `revisionHistoryLimit`
//!   (default 10) bounds the old, scaled-down ReplicaSets kept.
//! - Status: observedGeneration, replicas, updatedReplicas, readyReplicas,
//!   availableReplicas, unavailableReplicas and the Available and Progressing
//!   conditions, which is what `kubectl rollout status` waits on.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::cache::Cache;
use super::client::{is_conflict, is_not_found};
use super::compact::{Fields, Node};
use super::hash::{pod_template_hash, POD_TEMPLATE_HASH};
use super::informer::Waiter;
use super::objects::{self, Json, JsonObject};
use super::ownership::{self, Owner};
use super::Context;

const COMPONENT: &str = "deployment-controller";
/// Revision annotation on Deployments and ReplicaSets.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// `spec.replicas` of the Deployment when it last resized the ReplicaSet.
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// `spec.replicas` + maxSurge of the Deployment when it last resized the ReplicaSet.
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";

/// Resolves an int-or-percent against `total`, rounding percentages up or down.
pub fn int_or_percent<J: Json>(v: Option<&J>, default_percent: i64, total: i64, round_up: bool) -> i64 {
    let percent = |p: i64| {
        let x = p * total;
        if round_up {
            (x + 99).div_euclid(100)
        } else {
            x.div_euclid(100)
        }
    };
    match v.map(|v| (v.as_f64().map(|_| v.as_i64()), v.as_str())) {
        Some((Some(n), _)) => n.unwrap_or(0),
        Some((None, Some(s))) => match s.strip_suffix('%') {
            Some(p) => p.trim().parse::<i64>().map(percent).unwrap_or(0),
            None => s.trim().parse::<i64>().unwrap_or(0),
        },
        _ => percent(default_percent),
    }
}

/// The rollout strategy of a Deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Kill all old pods, then create new ones.
    Recreate,
    /// Replace pods progressively.
    Rolling {
        /// Pods allowed above `spec.replicas`.
        max_surge: i64,
        /// Pods allowed below `spec.replicas` (never 0 together with `max_surge`).
        max_unavailable: i64,
    },
}

/// The strategy of `d`, with maxSurge/maxUnavailable resolved against its replicas.
pub fn strategy(d: &Node) -> Strategy {
    if objects::at(d, &["spec", "strategy", "type"]).and_then(Json::as_str) == Some("Recreate") {
        return Strategy::Recreate;
    }
    let replicas = desired(d);
    let ru = objects::at(d, &["spec", "strategy", "rollingUpdate"]);
    let max_surge = int_or_percent(ru.and_then(|r| r.get("maxSurge")), 25, replicas, true).max(0);
    let mut max_unavailable = int_or_percent(ru.and_then(|r| r.get("maxUnavailable")), 25, replicas, false).max(0);
    if max_unavailable > replicas {
        max_unavailable = replicas;
    }
    if max_surge == 0 && max_unavailable == 0 {
        max_unavailable = 1;
    }
    Strategy::Rolling { max_surge, max_unavailable }
}

fn desired(d: &Node) -> i64 {
    objects::int_at(d, &["spec", "replicas"], 1).max(0)
}

fn spec_replicas(rs: &Node) -> i64 {
    objects::int_at(rs, &["spec", "replicas"], 0).max(0)
}

/// Available replicas of a ReplicaSet, never more than it is scaled to (a status not
/// yet caught up with a scale-down must not count pods that are going away).
fn available(rs: &Node) -> i64 {
    objects::int_at(rs, &["status", "availableReplicas"], 0).min(spec_replicas(rs))
}

fn revision(rs: &Node) -> i64 {
    objects::annotation(rs, REVISION).and_then(|r| r.parse().ok()).unwrap_or(0)
}

fn max_surge(d: &Node) -> i64 {
    match strategy(d) {
        Strategy::Rolling { max_surge, .. } => max_surge,
        Strategy::Recreate => 0,
    }
}

fn max_unavailable(d: &Node) -> i64 {
    match strategy(d) {
        Strategy::Rolling { max_unavailable, .. } if desired(d) > 0 => max_unavailable,
        _ => 0,
    }
}

/// Whether the ReplicaSet's pod template is the Deployment's, ignoring the
/// `pod-template-hash` label (kube's `EqualIgnoreHash`). A template's labels without
/// that label, when left empty, count as absent, and so does its metadata then left
/// empty. Compared in place, without copying either template: this runs for every
/// ReplicaSet of every Deployment on every pass.
fn same_template(rs: &Node, d: &Node) -> bool {
    match (objects::at(rs, &["spec", "template"]), objects::at(d, &["spec", "template"])) {
        (Some(Node::Object(a)), Some(Node::Object(b))) => {
            same_except(a, b, "metadata")
                && same_or_both_empty(a.get("metadata"), b.get("metadata"), same_metadata, metadata_empty)
        }
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// Whether two template metadata objects agree once the hash label is dropped.
fn same_metadata(a: &Fields, b: &Fields) -> bool {
    same_except(a, b, "labels") && same_or_both_empty(a.get("labels"), b.get("labels"), same_labels, labels_empty)
}

/// Whether template metadata holds nothing once the hash label is dropped.
fn metadata_empty(m: &Fields) -> bool {
    m.iter().all(|(k, v)| k == "labels" && v.as_object().is_some_and(labels_empty))
}

/// Whether two label maps agree, the hash label aside.
fn same_labels(a: &Fields, b: &Fields) -> bool {
    let len = |m: &Fields| m.len() - usize::from(m.contains_key(POD_TEMPLATE_HASH));
    len(a) == len(b) && a.iter().filter(|(k, _)| *k != POD_TEMPLATE_HASH).all(|(k, v)| b.get(k) == Some(v))
}

/// Whether a label map holds nothing but the hash label.
fn labels_empty(m: &Fields) -> bool {
    m.iter().all(|(k, _)| k == POD_TEMPLATE_HASH)
}

/// Whether two objects have the same fields, `except` aside.
fn same_except(a: &Fields, b: &Fields, except: &str) -> bool {
    let len = |m: &Fields| m.len() - usize::from(m.contains_key(except));
    len(a) == len(b) && a.iter().filter(|(k, _)| *k != except).all(|(k, v)| b.get(k) == Some(v))
}

/// Two optional fields compared with `same` when both are objects; an object that
/// `empty` says is empty counts as the field being absent; other values compare as
/// they are.
fn same_or_both_empty(
    a: Option<&Node>,
    b: Option<&Node>,
    same: fn(&Fields, &Fields) -> bool,
    empty: fn(&Fields) -> bool,
) -> bool {
    match (a, b) {
        (Some(Node::Object(a)), Some(Node::Object(b))) => same(a, b),
        (Some(Node::Object(m)), None) | (None, Some(Node::Object(m))) => empty(m),
        (a, b) => a == b,
    }
}

/// Whether the Deployment's rollout is complete according to `status`.
pub fn complete<J: Json>(d: &Node, status: &J) -> bool {
    let n = desired(d);
    let get = |k: &str| status.get(k).and_then(Json::as_i64).unwrap_or(0);
    get("updatedReplicas") == n
        && get("replicas") == n
        && get("availableReplicas") == n
        && get("observedGeneration") >= objects::generation(d)
}

fn set_count(st: &mut Map<String, Value>, key: &str, n: i64) {
    if n == 0 {
        st.remove(key);
    } else {
        st.insert(key.into(), json!(n));
    }
}

/// One Deployment's rollout state during a pass.
struct Sync<'a> {
    ctx: &'a Context,
    /// The Deployment, the ReplicaSet of its template and the others: shared with
    /// the caches until written (a write stores the server's answer).
    d: Arc<Node>,
    new_rs: Option<Arc<Node>>,
    old: Vec<Arc<Node>>,
    /// The pods, for the old ReplicaSets' (Recreate waits until they are gone).
    pods: &'a Cache,
    created_new: bool,
}

impl<'a> Sync<'a> {
    fn all(&self) -> Vec<&Node> {
        self.old.iter().chain(self.new_rs.iter()).map(|rs| rs.as_ref()).collect()
    }

    fn replace(&mut self, rs: Value) {
        let rs = Arc::new(Node::without_managed_fields(&rs));
        let uid = objects::uid(&rs).to_owned();
        if self.new_rs.as_ref().is_some_and(|n| objects::uid(n) == uid) {
            self.new_rs = Some(rs);
        } else if let Some(slot) = self.old.iter_mut().find(|o| objects::uid(o) == uid) {
            *slot = rs;
        }
    }

    /// Sets a ReplicaSet's replicas and annotations; true when it was written.
    async fn scale(&mut self, rs: &Node, to: i64) -> bool {
        let c = &self.ctx.client;
        let from = spec_replicas(rs);
        let want_desired = desired(&self.d).to_string();
        let want_max = (desired(&self.d) + max_surge(&self.d)).to_string();
        if from == to
            && objects::annotation(rs, DESIRED_REPLICAS) == Some(want_desired.as_str())
            && objects::annotation(rs, MAX_REPLICAS) == Some(want_max.as_str())
        {
            return false;
        }
        let mut updated = rs.to_value();
        if let Some(spec) = updated.get_mut("spec").and_then(Value::as_object_mut) {
            spec.insert("replicas".into(), json!(to));
        }
        objects::set_annotation(&mut updated, DESIRED_REPLICAS, &want_desired);
        objects::set_annotation(&mut updated, MAX_REPLICAS, &want_max);
        match c.update(&c.res.replicasets, &updated).await {
            Ok(written) => {
                self.replace(written);
                if from != to {
                    let dir = if to > from { "up" } else { "down" };
                    let msg = format!("Scaled {dir} replica set {} from {from} to {to}", objects::name(rs));
                    self.ctx.event(&self.d, "Normal", "ScalingReplicaSet", &msg, COMPONENT).await;
                }
                true
            }
            Err(e) => {
                if !is_conflict(&e) && !is_not_found(&e) {
                    tracing::warn!(rs = %objects::name(rs), error = %e.message, "deployment: scale failed");
                }
                // Treat as progress made: the next pass re-reads everything.
                true
            }
        }
    }

    /// Sets revisions (and minReadySeconds) on the new ReplicaSet and the
    /// Deployment; creates the new ReplicaSet when `create` and it is missing.
    /// Returns false when the pass must stop (a write raced or failed).
    async fn ensure_new(&mut self, create: bool) -> bool {
        let c = &self.ctx.client;
        let max_old = self.old.iter().map(|r| revision(r)).max().unwrap_or(0);
        let new_revision = max_old + 1;
        if let Some(rs) = self.new_rs.clone() {
            // Copied only when something is to change.
            let bump = revision(&rs) < new_revision;
            let mrs = objects::at(&self.d, &["spec", "minReadySeconds"]);
            let mrs_differs = objects::at(&rs, &["spec", "minReadySeconds"]) != mrs;
            if bump || mrs_differs {
                let mut updated = rs.to_value();
                if bump {
                    objects::set_annotation(&mut updated, REVISION, &new_revision.to_string());
                }
                if mrs_differs {
                    if let Some(spec) = updated.get_mut("spec").and_then(Value::as_object_mut) {
                        match mrs {
                            Some(v) => spec.insert("minReadySeconds".into(), v.to_value()),
                            None => spec.remove("minReadySeconds"),
                        };
                    }
                }
                if *rs != updated {
                    match c.update(&c.res.replicasets, &updated).await {
                        Ok(w) => self.replace(w),
                        Err(_) => return false,
                    }
                }
            }
        } else if create {
            if !self.create_new(new_revision).await {
                return false;
            }
        } else {
            return true;
        }
        // The Deployment carries the revision of its new ReplicaSet.
        let rev = self.new_rs.as_ref().map(|r| revision(r)).unwrap_or(new_revision).to_string();
        if objects::annotation(&self.d, REVISION) != Some(rev.as_str()) {
            let mut d = self.d.to_value();
            objects::set_annotation(&mut d, REVISION, &rev);
            // Through the status subresource, as kube's deployment controller does.
            match c.update_status(&c.res.deployments, &d).await {
                Ok(w) => self.d = Arc::new(Node::without_managed_fields(&w)),
                Err(_) => return false,
            }
        }
        true
    }

    async fn create_new(&mut self, revision_number: i64) -> bool {
        let c = &self.ctx.client;
        let d = &self.d;
        let Some(template) = objects::at(d, &["spec", "template"]) else {
            tracing::warn!(deployment = %objects::name(d), "deployment without spec.template; skipped");
            return false;
        };
        let collision = objects::at(d, &["status", "collisionCount"]).and_then(Json::as_i64);
        let hash = pod_template_hash(template, collision);
        let mut template = template.to_value();
        {
            let md = objects::meta_mut(&mut template);
            let labels = md.entry("labels").or_insert_with(|| json!({}));
            if let Some(l) = labels.as_object_mut() {
                l.insert(POD_TEMPLATE_HASH.into(), json!(hash));
            }
        }
        let mut selector = objects::at(d, &["spec", "selector"]).map(Json::to_value).unwrap_or_else(|| json!({}));
        if let Some(sel) = selector.as_object_mut() {
            let ml = sel.entry("matchLabels").or_insert_with(|| json!({}));
            if let Some(ml) = ml.as_object_mut() {
                ml.insert(POD_TEMPLATE_HASH.into(), json!(hash));
            }
        }
        let mut annotations = Map::new();
        if let Some(a) = objects::object_at(d, &["metadata", "annotations"]) {
            for (k, v) in a {
                if k != "kubectl.kubernetes.io/last-applied-configuration"
                    && !k.starts_with("deployment.kubernetes.io/")
                {
                    annotations.insert(k.to_owned(), v.to_value());
                }
            }
        }
        annotations.insert(REVISION.into(), json!(revision_number.to_string()));
        annotations.insert(DESIRED_REPLICAS.into(), json!(desired(d).to_string()));
        annotations.insert(MAX_REPLICAS.into(), json!((desired(d) + max_surge(d)).to_string()));
        let replicas = match strategy(d) {
            Strategy::Recreate => desired(d),
            Strategy::Rolling { max_surge, .. } => {
                let current: i64 = self.all().iter().map(|r| spec_replicas(r)).sum();
                let max_total = desired(d) + max_surge;
                (max_total - current).clamp(0, desired(d))
            }
        };
        let name = format!("{}-{hash}", objects::name(d));
        let mut spec = json!({"replicas": replicas, "selector": selector, "template": template});
        if let Some(m) = objects::at(d, &["spec", "minReadySeconds"]) {
            spec["minReadySeconds"] = m.to_value();
        }
        let rs = json!({
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": objects::namespace(d),
                "labels": objects::at(&template, &["metadata", "labels"]).map(Json::to_value).unwrap_or_else(|| json!({})),
                "annotations": annotations,
                "ownerReferences": [objects::controller_ref(d, "apps/v1", "Deployment")],
            },
            "spec": spec,
        });
        match c.create(&c.res.replicasets, objects::namespace(d), &rs).await {
            Ok(created) => {
                let msg = format!("Scaled up replica set {name} from 0 to {replicas}");
                self.ctx.event(&self.d, "Normal", "ScalingReplicaSet", &msg, COMPONENT).await;
                self.new_rs = Some(Arc::new(Node::without_managed_fields(&created)));
                self.created_new = true;
                true
            }
            Err(e) if is_conflict(&e) => {
                // A ReplicaSet of that name exists: ours (a stale read) or a collision.
                if let Ok(Some(existing)) = c.get_opt(&c.res.replicasets, objects::namespace(d), &name).await {
                    let ours = objects::controller_uid(&existing) == Some(objects::uid(d));
                    if ours && same_template(&Node::new(&existing), d) {
                        return false;
                    }
                }
                let mut bumped = self.d.to_value();
                let next = collision.unwrap_or(0) + 1;
                if let Some(m) = bumped.as_object_mut() {
                    let st = m.entry("status").or_insert_with(|| json!({}));
                    if let Some(st) = st.as_object_mut() {
                        st.insert("collisionCount".into(), json!(next));
                    }
                }
                if let Err(e) = c.update_status(&c.res.deployments, &bumped).await {
                    tracing::debug!(error = %e.message, "deployment: collisionCount update failed");
                }
                false
            }
            Err(e) => {
                tracing::debug!(deployment = %objects::name(d), error = %e.message, "deployment: create replicaset failed");
                false
            }
        }
    }

    fn is_scaling_event(&self) -> bool {
        let want = desired(&self.d).to_string();
        self.all()
            .into_iter()
            .filter(|rs| spec_replicas(rs) > 0)
            .any(|rs| objects::annotation(rs, DESIRED_REPLICAS).is_some_and(|d| d != want))
    }

    /// kube's `scale`: resize the active ReplicaSet(s) to a new `spec.replicas`.
    async fn scale_event(&mut self) {
        let n = desired(&self.d);
        let active: Vec<Arc<Node>> =
            self.old.iter().chain(self.new_rs.iter()).filter(|rs| spec_replicas(rs) > 0).cloned().collect();
        let target = match active.len() {
            0 => {
                self.new_rs.clone().or_else(|| self.old.iter().max_by_key(|r| objects::created(r).to_owned()).cloned())
            }
            1 => active.first().cloned(),
            _ => None,
        };
        if let Some(rs) = target {
            self.scale(&rs, n).await;
            return;
        }
        let saturated = self.new_rs.as_ref().is_some_and(|rs| spec_replicas(rs) == n && available(rs) == n);
        if saturated {
            for rs in self.old.clone() {
                if spec_replicas(&rs) > 0 {
                    self.scale(&rs, 0).await;
                }
            }
            return;
        }
        // Proportional scaling across several active ReplicaSets.
        let allowed = if n > 0 { n + max_surge(&self.d) } else { 0 };
        let total: i64 = active.iter().map(|r| spec_replicas(r)).sum();
        let to_add = allowed - total;
        if to_add == 0 || total == 0 {
            return;
        }
        let mut sorted = active.clone();
        if to_add > 0 {
            sorted.sort_by_key(|r| {
                (std::cmp::Reverse(spec_replicas(r)), std::cmp::Reverse(objects::created(r).to_owned()))
            });
        } else {
            sorted.sort_by_key(|r| (std::cmp::Reverse(spec_replicas(r)), objects::created(r).to_owned()));
        }
        let mut added = 0;
        let mut targets: Vec<(Arc<Node>, i64)> = Vec::new();
        for rs in &sorted {
            let share = (spec_replicas(rs) * to_add) as f64 / total as f64;
            let share = if to_add > 0 { share.floor() as i64 } else { share.ceil() as i64 };
            targets.push((rs.clone(), spec_replicas(rs) + share));
            added += share;
        }
        if let Some(first) = targets.first_mut() {
            first.1 = (first.1 + to_add - added).max(0);
        }
        for (rs, to) in targets {
            self.scale(&rs, to.max(0)).await;
        }
    }

    /// kube's `reconcileNewReplicaSet`; true when it scaled.
    async fn reconcile_new(&mut self) -> bool {
        let Some(new_rs) = self.new_rs.clone() else { return false };
        let n = desired(&self.d);
        let cur = spec_replicas(&new_rs);
        if cur == n {
            return false;
        }
        if cur > n {
            return self.scale(&new_rs, n).await;
        }
        let Strategy::Rolling { max_surge, .. } = strategy(&self.d) else { return false };
        let current: i64 = self.all().iter().map(|r| spec_replicas(r)).sum();
        let max_total = n + max_surge;
        if current >= max_total {
            return false;
        }
        let up = (max_total - current).min(n - cur);
        self.scale(&new_rs, cur + up).await
    }

    /// kube's `reconcileOldReplicaSets`; true when it scaled down.
    async fn reconcile_old(&mut self) -> bool {
        let old_count: i64 = self.old.iter().map(|r| spec_replicas(r)).sum();
        if old_count == 0 {
            return false;
        }
        let all_count: i64 = self.all().iter().map(|r| spec_replicas(r)).sum();
        let min_available = desired(&self.d) - max_unavailable(&self.d);
        let new_unavailable = self.new_rs.as_ref().map_or(0, |r| spec_replicas(r) - available(r));
        let max_scaled_down = all_count - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return false;
        }
        // First clean up unhealthy old replicas (they do not count as available).
        let mut old_sorted = self.old.clone();
        old_sorted.sort_by_key(|r| (objects::created(r).to_owned(), objects::name(r).to_owned()));
        let mut cleaned = 0;
        let mut scaled = false;
        for rs in &old_sorted {
            if cleaned >= max_scaled_down {
                break;
            }
            let replicas = spec_replicas(rs);
            let unhealthy = replicas - available(rs);
            if replicas == 0 || unhealthy <= 0 {
                continue;
            }
            let down = unhealthy.min(max_scaled_down - cleaned);
            cleaned += down;
            scaled |= self.scale(rs, replicas - down).await;
        }
        if scaled {
            return true;
        }
        // Then scale down healthy old replicas while keeping minAvailable.
        let available_all: i64 = self.all().iter().map(|r| available(r)).sum();
        if available_all <= min_available {
            return false;
        }
        let total_down = (available_all - min_available).min(max_scaled_down - cleaned);
        let mut done = 0;
        for rs in self.old.clone().iter().filter(|r| spec_replicas(r) > 0) {
            if done >= total_down {
                break;
            }
            let down = spec_replicas(rs).min(total_down - done);
            done += down;
            scaled |= self.scale(rs, spec_replicas(rs) - down).await;
        }
        scaled
    }

    async fn rollout_rolling(&mut self) {
        if !self.ensure_new(true).await {
            return;
        }
        if self.reconcile_new().await {
            return self.sync_status().await;
        }
        if self.reconcile_old().await {
            return self.sync_status().await;
        }
        if complete(&self.d, self.d.get("status").unwrap_or(&super::compact::NULL)) {
            self.cleanup().await;
        }
        self.sync_status().await
    }

    async fn rollout_recreate(&mut self) {
        if !self.ensure_new(false).await {
            return;
        }
        let mut scaled = false;
        for rs in self.old.clone() {
            if spec_replicas(&rs) > 0 {
                scaled |= self.scale(&rs, 0).await;
            }
        }
        if scaled {
            return self.sync_status().await;
        }
        let old_pods_running = self.old.iter().any(|rs| {
            self.pods
                .controlled_by(objects::uid(rs))
                .iter()
                .any(|p| !matches!(objects::phase(p), "Succeeded" | "Failed"))
        });
        if old_pods_running {
            return self.sync_status().await;
        }
        if self.new_rs.is_none() && !self.ensure_new(true).await {
            return;
        }
        if let Some(new_rs) = self.new_rs.clone() {
            if self.scale(&new_rs, desired(&self.d)).await {
                return self.sync_status().await;
            }
        }
        if complete(&self.d, self.d.get("status").unwrap_or(&super::compact::NULL)) {
            self.cleanup().await;
        }
        self.sync_status().await
    }

    /// Deletes old, scaled-down ReplicaSets beyond `revisionHistoryLimit`.
    async fn cleanup(&mut self) {
        let limit = objects::int_at(&self.d, &["spec", "revisionHistoryLimit"], 10).max(0) as usize;
        let mut candidates: Vec<Arc<Node>> = self
            .old
            .iter()
            .filter(|r| {
                spec_replicas(r) == 0
                    && objects::int_at(r, &["status", "replicas"], 0) == 0
                    && !objects::is_deleting(r)
                    && objects::int_at(r, &["status", "observedGeneration"], 0) >= objects::generation(r)
            })
            .cloned()
            .collect();
        if candidates.len() <= limit {
            return;
        }
        candidates.sort_by_key(|r| (revision(r), objects::created(r).to_owned()));
        let c = &self.ctx.client;
        let surplus = candidates.len() - limit;
        for rs in &candidates[..surplus] {
            let opts = json!({"propagationPolicy": "Background", "preconditions": {"uid": objects::uid(rs)}});
            if let Err(e) = c.delete(&c.res.replicasets, objects::namespace(rs), objects::name(rs), &opts).await {
                tracing::debug!(rs = %objects::name(rs), error = %e.message, "deployment: history cleanup failed");
            }
        }
    }

    /// Computes and writes the Deployment's status.
    async fn sync_status(&mut self) {
        let d = &self.d;
        let n = desired(d);
        let all = self.all();
        let available_sum: i64 = all.iter().map(|r| objects::int_at(r, &["status", "availableReplicas"], 0)).sum();
        let spec_sum: i64 = all.iter().map(|r| spec_replicas(r)).sum();
        let actual: i64 = all.iter().map(|r| objects::int_at(r, &["status", "replicas"], 0)).sum();
        let ready: i64 = all.iter().map(|r| objects::int_at(r, &["status", "readyReplicas"], 0)).sum();
        let updated = self.new_rs.as_ref().map_or(0, |r| objects::int_at(r, &["status", "replicas"], 0));
        let mut status = d.get("status").map(Json::to_value).filter(Value::is_object).unwrap_or_else(|| json!({}));
        if let Some(st) = status.as_object_mut() {
            st.insert("observedGeneration".into(), json!(objects::generation(d)));
            set_count(st, "replicas", actual);
            set_count(st, "updatedReplicas", updated);
            set_count(st, "readyReplicas", ready);
            set_count(st, "availableReplicas", available_sum);
            set_count(st, "unavailableReplicas", (spec_sum - available_sum).max(0));
            // The sum of the ReplicaSets' terminatingReplicas; unknown (left out) while
            // a ReplicaSet the controller has synced does not report it.
            let mut terminating = Some(0i64);
            for r in &all {
                match objects::at(r, &["status", "terminatingReplicas"]).and_then(Json::as_i64) {
                    Some(n) => terminating = terminating.map(|t| t + n),
                    None if objects::int_at(r, &["status", "observedGeneration"], 0) == 0 => {}
                    None => terminating = None,
                }
            }
            match terminating {
                Some(t) => st.insert("terminatingReplicas".into(), json!(t)),
                None => st.remove("terminatingReplicas"),
            };
        }
        let mut holder = json!({"status": status});
        if available_sum >= n - max_unavailable(d) {
            objects::set_condition(
                &mut holder,
                "Available",
                "True",
                Some("MinimumReplicasAvailable"),
                Some("Deployment has minimum availability."),
                true,
            );
        } else {
            objects::set_condition(
                &mut holder,
                "Available",
                "False",
                Some("MinimumReplicasUnavailable"),
                Some("Deployment does not have minimum availability."),
                true,
            );
        }
        let paused = objects::bool_at(d, &["spec", "paused"]);
        let new_name = self.new_rs.as_ref().map(|r| objects::name(r).to_owned());
        let done = complete(d, &holder["status"]);
        match (paused, &new_name) {
            (true, _) => {
                objects::set_condition(
                    &mut holder,
                    "Progressing",
                    "Unknown",
                    Some("DeploymentPaused"),
                    Some("Deployment is paused"),
                    true,
                );
            }
            (false, Some(name)) if done => {
                let msg = format!("ReplicaSet \"{name}\" has successfully progressed.");
                objects::set_condition(
                    &mut holder,
                    "Progressing",
                    "True",
                    Some("NewReplicaSetAvailable"),
                    Some(&msg),
                    true,
                );
            }
            (false, Some(name)) if self.created_new => {
                let msg = format!("Created new replica set \"{name}\"");
                objects::set_condition(
                    &mut holder,
                    "Progressing",
                    "True",
                    Some("NewReplicaSetCreated"),
                    Some(&msg),
                    true,
                );
            }
            (false, Some(name)) => {
                let msg = format!("ReplicaSet \"{name}\" is progressing.");
                objects::set_condition(&mut holder, "Progressing", "True", Some("ReplicaSetUpdated"), Some(&msg), true);
            }
            (false, None) => {}
        }
        let status = holder["status"].take();
        if d.get("status").is_some_and(|s| *s == status) {
            return;
        }
        let mut out = d.to_value();
        if let Some(m) = out.as_object_mut() {
            m.insert("status".into(), status);
        }
        let c = &self.ctx.client;
        match c.update_status(&c.res.deployments, &out).await {
            Ok(w) => self.d = Arc::new(Node::without_managed_fields(&w)),
            Err(e) if is_conflict(&e) || is_not_found(&e) => {}
            Err(e) => {
                tracing::warn!(deployment = %objects::name(d), error = %e.message, "deployment: status update failed")
            }
        }
    }
}

/// One pass over every Deployment.
pub async fn reconcile(ctx: &Context) -> Option<Duration> {
    let c = &ctx.client;
    let deployments = ctx.informers.list(&c.res.deployments).await;
    let rss = ctx.informers.fresh(&c.res.replicasets).await;
    let pods = ctx.informers.fresh(&c.res.pods).await;
    for d in deployments {
        let ns = objects::namespace(&d).unwrap_or("").to_owned();
        let selector = objects::at(&d, &["spec", "selector"]).map(Json::to_value).unwrap_or(Value::Null);
        let owner = Owner { object: &d, api_version: "apps/v1", kind: "Deployment", selector: &selector };
        let candidates = rss.claimable(&ns, objects::uid(&d));
        let owned = ownership::claim(c, &c.res.replicasets, &owner, &candidates).await;
        let mut owned = owned;
        owned.sort_by(|a, b| (objects::created(a), objects::name(a)).cmp(&(objects::created(b), objects::name(b))));
        let new_pos = owned.iter().position(|rs| same_template(rs, &d));
        let new_rs = new_pos.map(|i| owned.remove(i));
        let mut sync = Sync { ctx, d: Arc::clone(&d), new_rs, old: owned, pods: &pods, created_new: false };
        if objects::is_deleting(&d) {
            sync.sync_status().await;
            continue;
        }
        let paused = objects::bool_at(&d, &["spec", "paused"]);
        if paused || sync.is_scaling_event() {
            if !sync.ensure_new(false).await {
                continue;
            }
            sync.scale_event().await;
            if paused && complete(&sync.d, sync.d.get("status").unwrap_or(&super::compact::NULL)) {
                sync.cleanup().await;
            }
            sync.sync_status().await;
            continue;
        }
        match strategy(&d) {
            Strategy::Recreate => sync.rollout_recreate().await,
            Strategy::Rolling { .. } => sync.rollout_rolling().await,
        }
    }
    None
}

/// The Deployment controller loop.
pub async fn run(ctx: Context, mut waiter: Waiter) {
    loop {
        let next = reconcile(&ctx).await;
        if !waiter.wait(next).await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surge_and_unavailable_rounding() {
        assert_eq!(int_or_percent(None::<&Value>, 25, 2, true), 1);
        assert_eq!(int_or_percent(None::<&Value>, 25, 2, false), 0);
        assert_eq!(int_or_percent(Some(&json!("50%")), 25, 3, true), 2);
        assert_eq!(int_or_percent(Some(&json!("50%")), 25, 3, false), 1);
        assert_eq!(int_or_percent(Some(&json!(3)), 25, 10, false), 3);
        let d = json!({"spec": {"replicas": 1, "strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}}});
        assert_eq!(strategy(&Node::new(&d)), Strategy::Rolling { max_surge: 0, max_unavailable: 1 });
        let d = json!({"spec": {"replicas": 4}});
        assert_eq!(strategy(&Node::new(&d)), Strategy::Rolling { max_surge: 1, max_unavailable: 1 });
        let d = json!({"spec": {"strategy": {"type": "Recreate"}}});
        assert_eq!(strategy(&Node::new(&d)), Strategy::Recreate);
    }

    /// The template as kube's `EqualIgnoreHash` compares it, by copying: the
    /// reference `same_template` must agree with.
    fn template_without_hash(t: &Value) -> Value {
        let mut t = t.clone();
        if let Some(labels) = t.pointer_mut("/metadata/labels").and_then(Value::as_object_mut) {
            labels.remove(POD_TEMPLATE_HASH);
            if labels.is_empty() {
                if let Some(md) = t.get_mut("metadata").and_then(Value::as_object_mut) {
                    md.remove("labels");
                }
            }
        }
        if let Some(md) = t.get_mut("metadata").and_then(Value::as_object_mut) {
            if md.is_empty() {
                if let Some(m) = t.as_object_mut() {
                    m.remove("metadata");
                }
            }
        }
        t
    }

    #[test]
    fn templates_compare_in_place_as_copies_without_hash_do() {
        let h = POD_TEMPLATE_HASH;
        let templates = [
            json!({"metadata": {"labels": {"app": "x"}}, "spec": {"containers": []}}),
            json!({"metadata": {"labels": {"app": "x", h: "abc"}}, "spec": {"containers": []}}),
            json!({"metadata": {"labels": {"app": "x", h: "def"}}, "spec": {"containers": []}}),
            json!({"metadata": {"labels": {"app": "y", h: "abc"}}, "spec": {"containers": []}}),
            json!({"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c"}]}}),
            json!({"metadata": {"labels": {"app": "x"}, "annotations": {"a": "b"}}, "spec": {"containers": []}}),
            json!({"metadata": {"labels": {h: "abc"}}, "spec": {"containers": []}}),
            json!({"metadata": {"labels": {}}, "spec": {"containers": []}}),
            json!({"metadata": {}, "spec": {"containers": []}}),
            json!({"spec": {"containers": []}}),
            json!({"metadata": {"labels": {h: "abc"}, "annotations": {}}, "spec": {"containers": []}}),
            json!({"metadata": {"labels": "odd"}, "spec": {"containers": []}}),
            json!({"metadata": {"labels": null}, "spec": {"containers": []}}),
            json!({"metadata": ["labels"], "spec": {"containers": []}}),
            json!({"metadata": null, "spec": {"containers": []}}),
            json!({"spec": {"containers": []}, "extra": 1}),
            json!({}),
            json!("template"),
            json!(null),
        ];
        let wrap = |t: &Value| json!({"spec": {"template": t}});
        for a in &templates {
            for b in &templates {
                let want = template_without_hash(a) == template_without_hash(b);
                assert_eq!(same_template(&Node::new(&wrap(a)), &Node::new(&wrap(b))), want, "{a} vs {b}");
            }
        }
        // Without a template on either side, no match.
        assert!(!same_template(&Node::new(&json!({"spec": {}})), &Node::new(&wrap(&templates[0]))));
        assert!(!same_template(&Node::new(&wrap(&templates[0])), &Node::new(&json!({}))));
    }

    #[test]
    fn templates_compare_without_hash() {
        let d = json!({"spec": {"template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": []}}}});
        let rs = json!({"spec": {"template": {"metadata": {"labels": {"app": "x", POD_TEMPLATE_HASH: "abc"}}, "spec": {"containers": []}}}});
        assert!(same_template(&Node::new(&rs), &Node::new(&d)));
        let other = json!({"spec": {"template": {"metadata": {"labels": {"app": "y"}}, "spec": {"containers": []}}}});
        assert!(!same_template(&Node::new(&other), &Node::new(&d)));
    }
}
