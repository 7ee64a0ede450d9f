//! A tiny in-process API client for the controllers.
//!
//! Controllers reach the registry exactly as an external controller reaches
//! kube-apiserver over HTTP, only without the wire: every call builds an
//! [`ApiRequest`] (verb, resource, namespace, name, subresource, query, JSON body, a
//! `system:` user) and awaits [`Registry::handle`]. Validation, resourceVersion
//! conflicts, generation bumps and watch events therefore apply to controller writes
//! as they apply to kubectl's.
//!
//! Objects are plain `serde_json::Value`s; errors are the registry's [`ApiError`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

use super::objects;
use crate::api::{ApiError, ApiRequest, ApiResponse, ResourceInfo, ServedResponse, UserInfo, Verb, WatchStream};
use crate::catalog::Catalog;
use crate::registry::Registry;

/// The `User-Agent` the controllers' requests carry, so that their writes are recorded
/// in managedFields under the manager name `kube-controller-manager`, as in a cluster.
const CONTROLLER_USER_AGENT: &str = "kube-controller-manager/v1.37.0 (linux/amd64) ferrokube";

/// Whether an error is a 404 NotFound.
pub fn is_not_found(e: &ApiError) -> bool {
    e.code == 404
}

/// Whether an error is a 409 Conflict (or AlreadyExists).
pub fn is_conflict(e: &ApiError) -> bool {
    e.code == 409
}

/// Every served resource, one entry per `group/plural` (its preferred version), and
/// a `(group, kind)` index for resolving ownerReferences.
#[derive(Clone, Debug, Default)]
pub struct ResourceIndex {
    /// One resource per `group/plural`, preferred version.
    pub all: Vec<Arc<ResourceInfo>>,
    by_kind: HashMap<(String, String), Arc<ResourceInfo>>,
}

impl ResourceIndex {
    /// Indexes a catalog (built-in resources, plus CRDs for a registry's live one).
    pub fn new(catalog: &Catalog) -> ResourceIndex {
        let mut idx = ResourceIndex::default();
        for gv in catalog.groups() {
            // Versions are listed preferred first.
            for v in &gv.versions {
                for r in catalog.resources_in(&gv.group, v) {
                    if !idx.all.iter().any(|a| a.group == r.group && a.plural == r.plural) {
                        idx.all.push(Arc::clone(r));
                    }
                    idx.by_kind.entry((r.group.clone(), r.kind.clone())).or_insert_with(|| Arc::clone(r));
                }
            }
        }
        idx
    }

    /// The resource of objects with this `apiVersion` and `kind` (as an
    /// ownerReference names them).
    pub fn for_kind(&self, api_version: &str, kind: &str) -> Option<&Arc<ResourceInfo>> {
        let group = match api_version.split_once('/') {
            Some((g, _)) => g,
            None => "",
        };
        self.by_kind.get(&(group.to_owned(), kind.to_owned()))
    }
}

/// The resources the controllers use, resolved once from the built-in catalog.
#[derive(Clone, Debug)]
pub struct Resources {
    /// core/v1 pods.
    pub pods: Arc<ResourceInfo>,
    /// core/v1 nodes.
    pub nodes: Arc<ResourceInfo>,
    /// core/v1 namespaces.
    pub namespaces: Arc<ResourceInfo>,
    /// core/v1 events.
    pub events: Arc<ResourceInfo>,
    /// apps/v1 replicasets.
    pub replicasets: Arc<ResourceInfo>,
    /// apps/v1 deployments.
    pub deployments: Arc<ResourceInfo>,
    /// apps/v1 statefulsets.
    pub statefulsets: Arc<ResourceInfo>,
    /// apps/v1 daemonsets.
    pub daemonsets: Arc<ResourceInfo>,
    /// batch/v1 jobs.
    pub jobs: Arc<ResourceInfo>,
    /// coordination.k8s.io/v1 leases (the nodes' heartbeats).
    pub leases: Arc<ResourceInfo>,
    /// The built-in resources, indexed.
    pub builtin: ResourceIndex,
}

impl Resources {
    /// Resolves the resources from the built-in catalog (`None` if one is missing,
    /// which would be a bug in the generated catalog).
    pub fn builtin() -> Option<Resources> {
        let catalog = Catalog::builtin();
        let get = |g: &str, p: &str| catalog.lookup(g, "v1", p).cloned();
        Some(Resources {
            pods: get("", "pods")?,
            nodes: get("", "nodes")?,
            namespaces: get("", "namespaces")?,
            events: get("", "events")?,
            replicasets: get("apps", "replicasets")?,
            deployments: get("apps", "deployments")?,
            statefulsets: get("apps", "statefulsets")?,
            daemonsets: get("apps", "daemonsets")?,
            jobs: get("batch", "jobs")?,
            leases: get("coordination.k8s.io", "leases")?,
            builtin: ResourceIndex::new(&catalog),
        })
    }

    /// The built-in resource of objects with this `apiVersion` and `kind`.
    pub fn for_kind(&self, api_version: &str, kind: &str) -> Option<&Arc<ResourceInfo>> {
        self.builtin.for_kind(api_version, kind)
    }
}

/// What a request addresses: resource, namespace, name, subresource.
struct Path<'a> {
    res: &'a Arc<ResourceInfo>,
    ns: Option<&'a str>,
    name: Option<&'a str>,
    subresource: Option<&'a str>,
}

fn path<'a>(
    res: &'a Arc<ResourceInfo>,
    ns: Option<&'a str>,
    name: Option<&'a str>,
    subresource: Option<&'a str>,
) -> Path<'a> {
    Path { res, ns, name, subresource }
}

/// The in-process client: a registry, the identity requests carry, and the resources.
#[derive(Clone)]
pub struct Client {
    registry: Arc<Registry>,
    user: UserInfo,
    /// The resources controllers use.
    pub res: Arc<Resources>,
}

impl Client {
    /// A client acting as `user` (with groups `system:masters` and
    /// `system:authenticated`).
    pub fn new(registry: Arc<Registry>, res: Arc<Resources>, user: &str) -> Client {
        Client {
            registry,
            user: UserInfo {
                name: user.to_owned(),
                uid: String::new(),
                groups: vec!["system:masters".into(), "system:authenticated".into()],
                extra: Default::default(),
            },
            res,
        }
    }

    /// The same client acting as another user.
    pub fn as_user(&self, user: &str) -> Client {
        let mut c = self.clone();
        c.user.name = user.to_owned();
        c
    }

    fn request(&self, verb: Verb, path: Path<'_>, query: &[(&str, &str)], body: Option<&Value>) -> ApiRequest {
        let Path { res, ns, name, subresource } = path;
        let mut q: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in query {
            q.entry((*k).to_owned()).or_default().push((*v).to_owned());
        }
        let body = match body {
            Some(b) => Bytes::from(serde_json::to_vec(b).unwrap_or_default()),
            None => Bytes::new(),
        };
        ApiRequest {
            verb,
            resource: Arc::clone(res),
            namespace: if res.namespaced { ns.map(str::to_owned) } else { None },
            name: name.map(str::to_owned),
            subresource: subresource.map(str::to_owned),
            query: q,
            content_type: if body.is_empty() { None } else { Some("application/json".into()) },
            body,
            user: self.user.clone(),
            user_agent: Some(CONTROLLER_USER_AGENT.to_owned()),
        }
    }

    async fn object(&self, req: ApiRequest) -> Result<Value, ApiError> {
        match self.registry.handle(req).await? {
            ApiResponse::Object { body, .. } => Ok(body),
            ApiResponse::Watch(_) => Err(ApiError::new(500, "InternalError", "unexpected watch response")),
        }
    }

    /// GET one object.
    pub async fn get(&self, res: &Arc<ResourceInfo>, ns: Option<&str>, name: &str) -> Result<Value, ApiError> {
        self.object(self.request(Verb::Get, path(res, ns, Some(name), None), &[], None)).await
    }

    /// GET one object, `None` when it does not exist.
    pub async fn get_opt(
        &self,
        res: &Arc<ResourceInfo>,
        ns: Option<&str>,
        name: &str,
    ) -> Result<Option<Value>, ApiError> {
        super::kube_api::get_opt(self, res, ns, name).await
    }

    /// LIST (all namespaces when `ns` is `None`): the items and the list's
    /// resourceVersion.
    pub async fn list(&self, res: &Arc<ResourceInfo>, ns: Option<&str>) -> Result<(Vec<Value>, String), ApiError> {
        let (mut items, rv) = Client::split_list(
            self.registry.handle(self.request(Verb::List, path(res, ns, None, None), &[], None)).await?,
        )?;
        // kube leaves `kind`/`apiVersion` off list items; controllers want them (for
        // Events' involvedObject and ownerReferences).
        for item in &mut items {
            crate::object::meta::set_type(item, res);
        }
        Ok((items, rv))
    }

    /// A LIST answer's items and resourceVersion.
    fn split_list(answer: ApiResponse) -> Result<(Vec<Value>, String), ApiError> {
        let ApiResponse::Object { body: mut list, .. } = answer else {
            return Err(ApiError::new(500, "InternalError", "unexpected watch response"));
        };
        let rv = objects::str_at(&list, &["metadata", "resourceVersion"]).to_owned();
        let items = match list.get_mut("items").map(Value::take) {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        };
        Ok((items, rv))
    }

    /// LIST of all namespaces, the items shared with the store (typed as
    /// [`list`](Self::list)'s are; an item is copied only when it lacks its type).
    pub async fn list_shared(&self, res: &Arc<ResourceInfo>) -> Result<(Vec<Arc<Value>>, String), ApiError> {
        let req = self.request(Verb::List, path(res, None, None, None), &[], None);
        match self.registry.handle_served(req).await? {
            ServedResponse::List(list) => {
                let rv = objects::str_at(&list.metadata, &["resourceVersion"]).to_owned();
                let mut items = list.items;
                for item in &mut items {
                    if !crate::object::meta::is_typed(item, res) {
                        crate::object::meta::set_type(Arc::make_mut(item), res);
                    }
                }
                Ok((items, rv))
            }
            other => {
                let (mut items, rv) = Client::split_list(other.into_api())?;
                for item in &mut items {
                    crate::object::meta::set_type(item, res);
                }
                Ok((items.into_iter().map(Arc::new).collect(), rv))
            }
        }
    }

    /// resourceVersion of the store's newest write to `res`: a cache that has seen it
    /// holds every write made so far.
    pub fn freshness_target(&self, res: &ResourceInfo) -> u64 {
        self.registry.store().resource_rv(&crate::object::meta::resource_key(res))
    }

    /// LIST, items only.
    pub async fn list_items(&self, res: &Arc<ResourceInfo>, ns: Option<&str>) -> Result<Vec<Value>, ApiError> {
        Ok(self.list(res, ns).await?.0)
    }

    /// POST.
    pub async fn create(&self, res: &Arc<ResourceInfo>, ns: Option<&str>, obj: &Value) -> Result<Value, ApiError> {
        self.object(self.request(Verb::Create, path(res, ns, None, None), &[], Some(obj))).await
    }

    /// POST to a subresource (e.g. `pods/binding`).
    pub async fn create_subresource(
        &self,
        res: &Arc<ResourceInfo>,
        ns: Option<&str>,
        name: &str,
        subresource: &str,
        obj: &Value,
    ) -> Result<Value, ApiError> {
        self.object(self.request(Verb::Create, path(res, ns, Some(name), Some(subresource)), &[], Some(obj))).await
    }

    /// PUT (the object's `metadata.resourceVersion`, when set, is a precondition).
    pub async fn update(&self, res: &Arc<ResourceInfo>, obj: &Value) -> Result<Value, ApiError> {
        self.put(res, obj, None).await
    }

    /// PUT of the `status` subresource.
    pub async fn update_status(&self, res: &Arc<ResourceInfo>, obj: &Value) -> Result<Value, ApiError> {
        self.put(res, obj, Some("status")).await
    }

    /// PUT of a subresource (`status`, `finalize`, ...).
    pub async fn put(&self, res: &Arc<ResourceInfo>, obj: &Value, sub: Option<&str>) -> Result<Value, ApiError> {
        let name = super::objects::name(obj);
        let ns = super::objects::namespace(obj);
        self.object(self.request(Verb::Update, path(res, ns, Some(name), sub), &[], Some(obj))).await
    }

    /// DELETE with a `DeleteOptions` body, e.g.
    /// `{"propagationPolicy": "Foreground"}` or `{"gracePeriodSeconds": 0}`.
    pub async fn delete(
        &self,
        res: &Arc<ResourceInfo>,
        ns: Option<&str>,
        name: &str,
        options: &Value,
    ) -> Result<Value, ApiError> {
        self.object(self.request(Verb::Delete, path(res, ns, Some(name), None), &[], Some(options))).await
    }

    /// WATCH from `resource_version` (`None`: a snapshot of ADDED events first), with
    /// bookmarks.
    pub async fn watch(
        &self,
        res: &Arc<ResourceInfo>,
        ns: Option<&str>,
        resource_version: Option<&str>,
    ) -> Result<WatchStream, ApiError> {
        let mut query = vec![("allowWatchBookmarks", "true")];
        if let Some(rv) = resource_version {
            query.push(("resourceVersion", rv));
        }
        match self.registry.handle(self.request(Verb::Watch, path(res, ns, None, None), &query, None)).await? {
            ApiResponse::Watch(s) => Ok(s),
            ApiResponse::Object { .. } => Err(ApiError::new(500, "InternalError", "expected a watch stream")),
        }
    }

    /// The resources served right now (built-in and CRDs), from the registry's live
    /// catalog.
    pub fn live_index(&self) -> ResourceIndex {
        ResourceIndex::new(&self.registry.catalog().snapshot())
    }

    /// Of `index`, the resources the store holds objects of (listable and
    /// deletable): a cheap stand-in for discovery that lets the garbage collector and
    /// the namespace controller list only populated resources.
    pub fn populated_resources(&self, index: &ResourceIndex) -> Vec<Arc<ResourceInfo>> {
        let keys = self.registry.store().resource_keys();
        index
            .all
            .iter()
            .filter(|r| keys.iter().any(|k| is_resource_key(k, &r.group, &r.plural)))
            .filter(|r| r.verbs.iter().any(|v| v == "list") && r.verbs.iter().any(|v| v == "delete"))
            .cloned()
            .collect()
    }
}

/// Whether a store resource key (`<group>/<plural>`, `/<plural>` for the core group)
/// names this group and plural; compared in place rather than formatting the key.
fn is_resource_key(key: &str, group: &str, plural: &str) -> bool {
    key.strip_prefix(group).and_then(|rest| rest.strip_prefix('/')) == Some(plural)
}

#[cfg(test)]
mod tests {
    use super::is_resource_key;

    #[test]
    fn resource_keys_compare_as_group_slash_plural() {
        assert!(is_resource_key("apps/deployments", "apps", "deployments"));
        assert!(is_resource_key("/pods", "", "pods"));
        assert!(!is_resource_key("pods", "", "pods"));
        assert!(!is_resource_key("apps/deployments", "apps", "deployment"));
        assert!(!is_resource_key("apps/deployments", "app", "sdeployments"));
        assert!(!is_resource_key("apps.x/deployments", "apps", "x/deployments"));
        assert!(!is_resource_key("/pods", "", "pods/x"));
    }
}
