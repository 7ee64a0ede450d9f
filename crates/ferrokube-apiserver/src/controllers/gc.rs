//! The garbage collector: ownerReferences and the three deletion propagation
//! policies, as kube-controller-manager's garbage collector implements them.
//!
//! - Background: the owner is gone at once; its dependents (objects whose
//!   ownerReferences name the owner's uid) are then deleted here, because every
//!   owner they name is gone ("dangling" references).
//! - Foreground: the registry's delete adds the `foregroundDeletion` finalizer (see
//!   the registry's `finalizers_for_propagation`, which decides them at delete time, as
//!   kube-apiserver's delete handler does), so the owner stays with a `deletionTimestamp`;
//!   here its dependents are deleted (in foreground too, so the wait cascades down
//!   Deployment -> ReplicaSet -> Pod), and once no dependent with
//!   `blockOwnerDeletion: true` is left the finalizer is removed and the owner goes.
//! - Orphan: the registry's delete adds the `orphan` finalizer; here the owner's uid
//!   is removed from its dependents' ownerReferences, then the finalizer.
//!
//! A dependent with some owners gone and others still there only loses the
//! references to the gone ones. Before acting on a reference that looks dangling the
//! owner is read live (by kind, name and uid), so an owner created after the pass's
//! listing is never mistaken for a deleted one.
//!
//! Each pass reads every populated resource the registry serves, custom resources
//! included, from the shared caches (kube's collector runs an informer per
//! deletable resource it discovers, the same way), keeping only the objects that take
//! part: those with ownerReferences and those being deleted ([`PART_OF_COLLECTION`]).
//! kube's collector keeps every object's metadata; here an owner that is not in the
//! pass (no owners of its own, not deleting) is read live before its dependents are
//! judged, so the Events and other owner-less objects of a large cluster cost the
//! collector nothing held. The pass holds the cached objects (`Arc`s, not copies) and
//! builds its uid graph over them with borrowed uids: two tables per pass, whatever
//! the number of objects.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::cache::Selection;
use super::client::{is_conflict, is_not_found, Client, ResourceIndex};
use super::compact;
use super::informer::Waiter;
use super::json::{AsJson, Json};
use super::{objects, Context};
use crate::api::ResourceInfo;
use crate::registry::{finalizers_for_propagation, FOREGROUND_DELETION, ORPHAN};

/// One object seen by a pass.
struct Node {
    info: Arc<ResourceInfo>,
    obj: Arc<compact::Node>,
}

/// How one ownerReference of a dependent resolves.
enum OwnerState {
    /// The owner exists and is not waiting for its dependents.
    Solid,
    /// The owner is gone (or was replaced by another object of the same name).
    Dangling,
    /// The owner is being deleted in foreground.
    WaitingForDependents,
}

fn ref_uid<J: Json>(r: &J) -> &str {
    r.get("uid").and_then(Json::as_str).unwrap_or("")
}

fn waiting_for_dependents<O: AsJson + ?Sized>(obj: &O) -> bool {
    objects::is_deleting(obj) && objects::finalizers(obj).iter().any(|f| f == FOREGROUND_DELETION)
}

/// The objects a pass looks at: dependents (they have ownerReferences) and objects
/// being deleted (owners waiting for, or orphaning, their dependents).
pub const PART_OF_COLLECTION: Selection =
    Selection { name: "garbage-collection", keep: part_of_collection, keeps_cached: part_of_collection, fields: None };

fn part_of_collection<O: AsJson + ?Sized>(obj: &O) -> bool {
    !objects::owner_refs_of(obj).is_empty() || objects::is_deleting(obj)
}

/// The objects of the populated resources that take part, as the caches hold them.
async fn snapshot(ctx: &Context, index: &ResourceIndex) -> Vec<Node> {
    let mut nodes = Vec::new();
    for info in ctx.client.populated_resources(index) {
        let items = ctx.informers.list_selected(&info, PART_OF_COLLECTION).await;
        nodes.extend(items.into_iter().map(|obj| Node { info: Arc::clone(&info), obj }));
    }
    nodes
}

/// The garbage collector's pass state: the objects of the pass and their uid graph,
/// whose uids are borrowed from the objects.
struct Pass<'a> {
    client: &'a Client,
    index: &'a ResourceIndex,
    nodes: &'a [Node],
    by_uid: HashMap<&'a str, usize>,
    /// (owner uid, dependent) for every ownerReference, sorted: an owner's
    /// dependents are one run of it, in object order.
    edges: Vec<(&'a str, usize)>,
}

impl<'a> Pass<'a> {
    fn new(client: &'a Client, index: &'a ResourceIndex, nodes: &'a [Node]) -> Pass<'a> {
        let mut by_uid = HashMap::with_capacity(nodes.len());
        let mut edges = Vec::with_capacity(nodes.len());
        for (i, n) in nodes.iter().enumerate() {
            by_uid.insert(objects::uid(&n.obj), i);
            edges.extend(objects::owner_refs_of(&n.obj).iter().map(|r| (ref_uid(r), i)));
        }
        edges.sort_unstable();
        Pass { client, index, nodes, by_uid, edges }
    }

    /// The objects with an ownerReference to `uid`, in object order.
    fn dependents<'s>(&'s self, uid: &'s str) -> impl Iterator<Item = usize> + 's {
        let start = self.edges.partition_point(|(owner, _)| *owner < uid);
        self.edges[start..].iter().take_while(move |(owner, _)| *owner == uid).map(|&(_, i)| i)
    }

    /// Resolves one ownerReference of `dependent`.
    async fn owner_state(&self, dependent: &compact::Node, r: &compact::Node) -> OwnerState {
        if let Some(&i) = self.by_uid.get(ref_uid(r)) {
            return if waiting_for_dependents(&self.nodes[i].obj) {
                OwnerState::WaitingForDependents
            } else {
                OwnerState::Solid
            };
        }
        // Not in this pass's snapshot: read it live before calling it dangling.
        let api_version = r.get("apiVersion").and_then(Json::as_str).unwrap_or("");
        let kind = r.get("kind").and_then(Json::as_str).unwrap_or("");
        let name = r.get("name").and_then(Json::as_str).unwrap_or("");
        let Some(info) = self.index.for_kind(api_version, kind) else {
            // An owner kind we cannot resolve: leave the reference alone.
            return OwnerState::Solid;
        };
        let ns = if info.namespaced { objects::namespace(dependent) } else { None };
        match self.client.get_opt(info, ns, name).await {
            Ok(Some(owner)) if objects::uid(&owner) == ref_uid(r) => {
                if waiting_for_dependents(&owner) {
                    OwnerState::WaitingForDependents
                } else {
                    OwnerState::Solid
                }
            }
            Ok(_) => OwnerState::Dangling,
            Err(_) => OwnerState::Solid,
        }
    }

    async fn delete(&self, n: &Node, policy: &str) {
        // Give the dependent the finalizer its policy calls for before deleting it,
        // as kube-apiserver's delete does; a no-op once the registry does it itself
        // (see `finalizers_for_propagation`), and what makes foreground deletion
        // cascade (Deployment -> ReplicaSet -> Pod) until then.
        let current = n.obj.to_value();
        if let Some(fins) = finalizers_for_propagation(Some(policy), None, &current) {
            let mut marked = current;
            objects::set_finalizers(&mut marked, &fins);
            if let Err(e) = self.client.update(&n.info, &marked).await {
                tracing::debug!(object = %objects::name(&n.obj), error = %e.message, "gc: could not add deletion finalizer");
                return;
            }
        }
        let opts = json!({"propagationPolicy": policy, "preconditions": {"uid": objects::uid(&n.obj)}});
        match self.client.delete(&n.info, objects::namespace(&n.obj), objects::name(&n.obj), &opts).await {
            Ok(_) => tracing::debug!(object = %objects::name(&n.obj), policy, "gc: deleted dependent"),
            Err(e) if is_not_found(&e) || is_conflict(&e) => {}
            Err(e) => tracing::warn!(object = %objects::name(&n.obj), error = %e.message, "gc: delete failed"),
        }
    }

    /// Removes the references to `uids` from `n`'s ownerReferences; true on success.
    async fn remove_refs(&self, n: &Node, uids: &[&str]) -> bool {
        let refs: Vec<Value> =
            objects::owner_refs(&n.obj).into_iter().filter(|r| !uids.contains(&ref_uid(r))).collect();
        let mut updated = n.obj.to_value();
        objects::set_owner_refs(&mut updated, refs);
        match self.client.update(&n.info, &updated).await {
            Ok(_) => true,
            Err(e) if is_not_found(&e) => true,
            Err(e) => {
                tracing::debug!(object = %objects::name(&n.obj), error = %e.message, "gc: ownerReference removal failed");
                false
            }
        }
    }

    async fn remove_finalizer(&self, n: &Node, finalizer: &str) {
        let fins: Vec<String> = objects::finalizers(&n.obj).into_iter().filter(|f| f != finalizer).collect();
        let mut updated = n.obj.to_value();
        objects::set_finalizers(&mut updated, &fins);
        match self.client.update(&n.info, &updated).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) || is_conflict(&e) => {}
            Err(e) => {
                tracing::warn!(object = %objects::name(&n.obj), error = %e.message, "gc: finalizer removal failed")
            }
        }
    }

    /// Owners being deleted with the `orphan` or `foregroundDeletion` finalizer.
    async fn process_owners(&self) -> bool {
        let mut pending = false;
        for n in self.nodes {
            if !objects::is_deleting(&n.obj) {
                continue;
            }
            let uid = objects::uid(&n.obj);
            let fins = objects::finalizers(&n.obj);
            if fins.iter().any(|f| f == ORPHAN) {
                let mut all_ok = true;
                for d in self.dependents(uid) {
                    all_ok &= self.remove_refs(&self.nodes[d], &[uid]).await;
                }
                if all_ok {
                    self.remove_finalizer(n, ORPHAN).await;
                } else {
                    pending = true;
                }
            } else if fins.iter().any(|f| f == FOREGROUND_DELETION) {
                let mut blocking = 0;
                for d in self.dependents(uid) {
                    let dep = &self.nodes[d];
                    let blocks = objects::owner_refs_of(&dep.obj).iter().any(|r| {
                        ref_uid(r) == uid && r.get("blockOwnerDeletion").and_then(Json::as_bool) == Some(true)
                    });
                    if blocks {
                        blocking += 1;
                    }
                    if !objects::is_deleting(&dep.obj) {
                        self.delete(dep, "Foreground").await;
                    }
                }
                if blocking == 0 {
                    self.remove_finalizer(n, FOREGROUND_DELETION).await;
                } else {
                    pending = true;
                }
            }
        }
        pending
    }

    /// Dependents with dangling references or owners waiting in foreground.
    async fn process_dependents(&self) {
        for n in self.nodes {
            let refs = objects::owner_refs_of(&n.obj);
            if refs.is_empty() || objects::is_deleting(&n.obj) {
                continue;
            }
            let mut solid = 0;
            let mut gone: Vec<&str> = Vec::new();
            let mut waiting: Vec<&str> = Vec::new();
            for r in refs {
                match self.owner_state(&n.obj, r).await {
                    OwnerState::Solid => solid += 1,
                    OwnerState::Dangling => gone.push(ref_uid(r)),
                    OwnerState::WaitingForDependents => waiting.push(ref_uid(r)),
                }
            }
            if gone.is_empty() && waiting.is_empty() {
                continue;
            }
            if solid > 0 {
                let mut uids = gone.clone();
                uids.extend(waiting.iter().copied());
                self.remove_refs(n, &uids).await;
            } else if !waiting.is_empty() {
                self.delete(n, "Foreground").await;
            } else {
                let fins = objects::finalizers(&n.obj);
                let policy = if fins.iter().any(|f| f == ORPHAN) {
                    "Orphan"
                } else if fins.iter().any(|f| f == FOREGROUND_DELETION) {
                    "Foreground"
                } else {
                    "Background"
                };
                self.delete(n, policy).await;
            }
        }
    }
}

/// One garbage collection pass; asks for a quick requeue while owners wait.
pub async fn reconcile(ctx: &Context) -> Option<Duration> {
    let index = ctx.client.live_index();
    let nodes = snapshot(ctx, &index).await;
    let pass = Pass::new(&ctx.client, &index, &nodes);
    let pending = pass.process_owners().await;
    pass.process_dependents().await;
    pending.then(|| ctx.options.resync_period / 4)
}

/// The garbage collector loop.
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
    use crate::controllers::client::Resources;

    fn node(info: &Arc<ResourceInfo>, uid: &str, owners: &[&str]) -> Node {
        let refs: Vec<Value> = owners.iter().map(|o| json!({"uid": o, "kind": "ReplicaSet", "name": "o"})).collect();
        Node {
            info: Arc::clone(info),
            obj: Arc::new(compact::Node::new(&json!({"metadata": {"uid": uid, "ownerReferences": refs}}))),
        }
    }

    #[test]
    fn graph_finds_every_dependent_in_object_order() {
        let res = Arc::new(Resources::builtin().expect("catalog"));
        let client = Client::new(crate::registry::Registry::new(), Arc::clone(&res), "system:kube-controller-manager");
        let index = client.live_index();
        let pods = &res.pods;
        let nodes = vec![
            node(pods, "d1", &["u10", "u1"]),
            node(pods, "u1", &[]),
            node(pods, "d2", &["u1", "u1"]),
            node(pods, "d3", &["u2"]),
            node(pods, "d4", &["u1"]),
        ];
        let pass = Pass::new(&client, &index, &nodes);
        assert_eq!(pass.dependents("u1").collect::<Vec<_>>(), [0, 2, 2, 4], "a reference given twice counts twice");
        assert_eq!(pass.dependents("u10").collect::<Vec<_>>(), [0]);
        assert_eq!(pass.dependents("u").count(), 0, "a uid is no prefix of another");
        assert_eq!(pass.dependents("u3").count(), 0);
        assert_eq!(pass.by_uid.get("u1"), Some(&1));
    }
}
