//! Helpers of the registry integration tests (`registry_*.rs`): resource infos, a
//! request builder over [`ApiRequest`], calls through [`Registry::handle`] as the HTTP
//! front end makes them, watch-event reading, and a few objects.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ferrokube_apiserver::api::{ApiError, ApiRequest, ApiResponse, ResourceInfo, UserInfo, Verb, WatchStream};
use ferrokube_apiserver::registry::Registry;
use futures_util::StreamExt;
use serde_json::{json, Value};

pub fn res(
    group: &str,
    plural: &str,
    kind: &str,
    namespaced: bool,
    has_status: bool,
    has_scale: bool,
) -> Arc<ResourceInfo> {
    Arc::new(ResourceInfo {
        group: group.into(),
        version: "v1".into(),
        plural: plural.into(),
        singular: kind.to_lowercase(),
        kind: kind.into(),
        namespaced,
        short_names: vec![],
        categories: vec![],
        verbs: vec![],
        has_status,
        has_scale,
    })
}

pub fn pods() -> Arc<ResourceInfo> {
    res("", "pods", "Pod", true, true, false)
}
pub fn cms() -> Arc<ResourceInfo> {
    res("", "configmaps", "ConfigMap", true, false, false)
}
pub fn deploys() -> Arc<ResourceInfo> {
    res("apps", "deployments", "Deployment", true, true, true)
}
pub fn namespaces() -> Arc<ResourceInfo> {
    res("", "namespaces", "Namespace", false, true, false)
}

pub struct Req(pub ApiRequest);

impl Req {
    pub fn new(verb: Verb, info: Arc<ResourceInfo>) -> Req {
        Req(ApiRequest {
            verb,
            resource: info,
            namespace: None,
            name: None,
            subresource: None,
            query: BTreeMap::new(),
            body: Bytes::new(),
            content_type: Some("application/json".into()),
            user: UserInfo::default(),
            user_agent: None,
        })
    }
    pub fn ns(mut self, ns: &str) -> Req {
        self.0.namespace = Some(ns.into());
        self
    }
    pub fn name(mut self, n: &str) -> Req {
        self.0.name = Some(n.into());
        self
    }
    pub fn sub(mut self, s: &str) -> Req {
        self.0.subresource = Some(s.into());
        self
    }
    pub fn q(mut self, k: &str, v: &str) -> Req {
        self.0.query.entry(k.into()).or_default().push(v.into());
        self
    }
    pub fn body(mut self, v: Value) -> Req {
        self.0.body = Bytes::from(v.to_string());
        self
    }
    pub fn raw(mut self, b: &'static str) -> Req {
        self.0.body = Bytes::from_static(b.as_bytes());
        self
    }
    pub fn ct(mut self, ct: &str) -> Req {
        self.0.content_type = Some(ct.into());
        self
    }
}

pub async fn call(r: &Registry, req: Req) -> Result<(u16, Value), ApiError> {
    match r.handle(req.0).await? {
        ApiResponse::Object { code, body } => Ok((code, body)),
        ApiResponse::Watch(_) => panic!("unexpected watch"),
    }
}

pub async fn ok(r: &Registry, req: Req) -> Value {
    match call(r, req).await {
        Ok((_, v)) => v,
        Err(e) => panic!("request failed: {e:?}"),
    }
}

pub async fn err(r: &Registry, req: Req) -> ApiError {
    match call(r, req).await {
        Ok((c, v)) => panic!("expected an error, got {c} {v}"),
        Err(e) => e,
    }
}

pub async fn watch(r: &Registry, req: Req) -> WatchStream {
    match r.handle(req.0).await {
        Ok(ApiResponse::Watch(s)) => s,
        Ok(ApiResponse::Object { body, .. }) => panic!("expected a watch, got {body}"),
        Err(e) => panic!("watch failed: {e:?}"),
    }
}

pub async fn next(s: &mut WatchStream) -> (String, Value) {
    match tokio::time::timeout(Duration::from_secs(5), s.next()).await {
        Ok(Some(ev)) => (ev.event_type.to_owned(), (*ev.object).clone()),
        Ok(None) => panic!("stream ended"),
        Err(_) => panic!("no event within 5s"),
    }
}

pub fn rv(v: &Value) -> u64 {
    v["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap()
}

pub fn cm(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}})
}

pub fn deployment(name: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": {"app": name}},
           "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}}, "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})
}

pub async fn create_cm(r: &Registry, ns: &str, name: &str) -> Value {
    ok(r, Req::new(Verb::Create, cms()).ns(ns).body(cm(name))).await
}

pub fn bindings() -> Arc<ResourceInfo> {
    res("", "bindings", "Binding", true, false, false)
}
pub fn pdbs() -> Arc<ResourceInfo> {
    res("policy", "poddisruptionbudgets", "PodDisruptionBudget", true, true, false)
}

pub fn pod(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
}

/// The `Status` kube-apiserver answers a successful binding or eviction with.
pub fn assert_created_success(answer: Result<(u16, Value), ApiError>) {
    let (code, body) = answer.expect("request succeeds");
    assert_eq!(code, 201);
    assert_eq!(body, json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}));
}
