//! `controller::watches`: how informer events become keys in a controller's queue.
//!
//! Each watched informer gets one handler, `EnqueueHandler`, that maps every object it
//! sees to zero or more [`ObjectKey`]s of the controller's primary type and adds them to
//! the queue:
//!
//! * the primary type maps to its own key;
//! * an owned type maps to the owner named by its *controller* owner reference (the one
//!   with `controller: true`) when that owner is of the primary kind and API group
//!   ([`controller_owner_keys`], controller-runtime `EnqueueRequestForOwner` with
//!   `OnlyControllerOwner`);
//! * any other type maps through a user function (controller-runtime
//!   `EnqueueRequestsFromMapFunc`).
//!
//! An update enqueues the keys of both the old and the new object, so an owner that lost
//! an owned object hears about it too. Handlers run on their own listener threads (tools::cache) and only add
//! keys; the reconcile runs on the controller's workers.

use std::any::TypeId;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::{ClusterResourceScope, Metadata, Resource};

use super::object_key::ObjectKey;
use crate::tools::cache::{CachedResource, HandlerId, InformerHandle, ResourceEventHandler, SharedInformer};
use crate::util::workqueue::RateLimitingQueue;

/// Maps a watched object to the keys of the primary objects to reconcile.
pub(crate) type Mapper<W> = Arc<dyn Fn(&W) -> Vec<ObjectKey> + Send + Sync>;

/// Whether `K` is cluster-scoped.
pub(crate) fn is_cluster_scoped<K: Resource + 'static>() -> bool {
    TypeId::of::<K::Scope>() == TypeId::of::<ClusterResourceScope>()
}

/// The group of an `apiVersion` (`apps/v1` -> `apps`, `v1` -> `""`).
fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

/// The keys of the owners of kind `K` that control `obj`: its owner reference with
/// `controller: true`, if it names `K`'s kind and API group (any version). A namespaced
/// owner is looked for in `obj`'s namespace (owner references never cross namespaces).
pub fn controller_owner_keys<K, W>(obj: &W) -> Vec<ObjectKey>
where
    K: Resource + 'static,
    W: Metadata<Ty = ObjectMeta>,
{
    let md = obj.metadata();
    let namespace = if is_cluster_scoped::<K>() { String::new() } else { md.namespace.clone().unwrap_or_default() };
    md.owner_references
        .iter()
        .flatten()
        .filter(|r| r.controller == Some(true) && r.kind == K::KIND && group_of(&r.api_version) == K::GROUP)
        .map(|r| ObjectKey::new(namespace.clone(), r.name.clone()))
        .collect()
}

/// Adds the mapped keys of every object an informer reports to the queue.
pub(crate) struct EnqueueHandler<W> {
    pub(crate) queue: RateLimitingQueue<ObjectKey>,
    pub(crate) mapper: Mapper<W>,
}

impl<W> EnqueueHandler<W> {
    fn enqueue(&self, obj: &W) {
        for key in (self.mapper)(obj) {
            self.queue.add(key);
        }
    }
}

impl<W: Send + Sync> ResourceEventHandler<W> for EnqueueHandler<W> {
    fn on_add(&self, obj: &Arc<W>, _: bool) {
        self.enqueue(obj);
    }

    fn on_update(&self, old: &Arc<W>, new: &Arc<W>) {
        if !Arc::ptr_eq(old, new) {
            self.enqueue(old);
        }
        self.enqueue(new);
    }

    fn on_delete(&self, obj: &Arc<W>) {
        self.enqueue(obj);
    }
}

/// A watched informer, not yet started.
pub(crate) trait Source: Send {
    /// Registers the enqueue handler and starts the informer.
    fn start(self: Box<Self>, queue: &RateLimitingQueue<ObjectKey>) -> Running;
}

/// A started source: its informer runs until this is dropped, which also unregisters
/// the handler.
pub(crate) struct Running {
    pub(crate) informer: InformerHandle,
    unregister: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(unregister) = self.unregister.take() {
            unregister();
        }
    }
}

pub(crate) struct InformerSource<W> {
    pub(crate) informer: SharedInformer<W>,
    pub(crate) mapper: Mapper<W>,
}

impl<W: CachedResource> Source for InformerSource<W> {
    fn start(self: Box<Self>, queue: &RateLimitingQueue<ObjectKey>) -> Running {
        let id: HandlerId =
            self.informer.add_event_handler(EnqueueHandler { queue: queue.clone(), mapper: self.mapper });
        let handle = self.informer.start();
        let informer = self.informer;
        Running {
            informer: handle,
            unregister: Some(Box::new(move || {
                informer.remove_event_handler(id);
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    fn owned(refs: Vec<(&str, &str, &str, Option<bool>)>) -> Pod {
        Pod {
            metadata: ObjectMeta {
                namespace: Some("ns".into()),
                name: Some("p".into()),
                owner_references: Some(
                    refs.into_iter()
                        .map(|(api_version, kind, name, controller)| OwnerReference {
                            api_version: api_version.into(),
                            kind: kind.into(),
                            name: name.into(),
                            uid: format!("uid-{name}"),
                            controller,
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn only_the_controller_owner_of_the_primary_kind_and_group_is_enqueued() {
        let pod = owned(vec![
            ("apps/v1", "Deployment", "not-controller", Some(false)),
            ("apps/v1", "Deployment", "unset", None),
            ("v1", "ConfigMap", "other-kind", Some(true)),
            ("example.com/v1", "Deployment", "other-group", Some(true)),
            ("apps/v1beta2", "Deployment", "web", Some(true)),
        ]);
        assert_eq!(controller_owner_keys::<Deployment, _>(&pod), [ObjectKey::new("ns", "web")]);
        assert_eq!(controller_owner_keys::<ConfigMap, _>(&pod), [ObjectKey::new("ns", "other-kind")]);
        let cluster_owner = owned(vec![("v1", "Namespace", "ns", Some(true))]);
        assert_eq!(controller_owner_keys::<Namespace, _>(&cluster_owner), [ObjectKey::cluster("ns")]);
        assert!(controller_owner_keys::<Deployment, _>(&Pod::default()).is_empty());
    }
}
