//! The typed Clientset against the test server (embedded or realkube, see
//! `support::cluster`): every verb on a namespaced resource (ConfigMap) and a
//! cluster-scoped one (ClusterRole), status and scale subresources on Deployments, pod
//! subresources, and the metadata and scale clients.
//!
//! Each test works in its own namespace. On realkube the controllers run: they write
//! Deployment and Pod status, and add `kube-root-ca.crt` to every namespace, so the
//! read-modify-write steps retry on conflict (as client code must) and lists and
//! watches look only at the test's own objects.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStatus};
use k8s_openapi::api::core::v1::{ConfigMap, Container, Namespace, Pod, PodSpec, PodTemplateSpec};
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde_json::json;

use ferrokube::kubernetes::Clientset;
use ferrokube::metadata::MetadataClient;
use ferrokube::rest::{
    ApplyOptions, CreateOptions, DeleteOptions, GetOptions, ListOptions, PatchOptions, PatchType, Preconditions,
    PropagationPolicy, UpdateOptions,
};
use ferrokube::scale::ScaleClient;
use ferrokube::schema::GroupVersionResource;
use ferrokube::util::retry::{retry_on_conflict, DEFAULT_RETRY};
use ferrokube::watch::WatchEvent;
use support::cluster::{ClusterOptions, TestCluster};

fn labels(pairs: &[(&str, &str)]) -> Option<BTreeMap<String, String>> {
    Some(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

fn config_map(name: &str, data: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta { name: Some(name.into()), labels: labels(&[("suite", "typed")]), ..Default::default() },
        data: labels(data),
        ..Default::default()
    }
}

fn deployment(name: &str, replicas: i32) -> Deployment {
    let l = labels(&[("app", name)]);
    Deployment {
        metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
        spec: DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector { match_labels: l.clone(), ..Default::default() },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: l, ..Default::default() }),
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: "web".into(),
                        image: Some("nginx:1.12".into()),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            },
            ..Default::default()
        },
        ..Default::default()
    }
}

async fn namespace(cs: &Clientset, name: &str) {
    let ns = Namespace { metadata: ObjectMeta { name: Some(name.into()), ..Default::default() }, ..Default::default() };
    cs.core_v1().namespaces().create(&ns, &CreateOptions::default()).await.expect("create namespace");
}

#[tokio::test]
async fn namespaced_resource_every_verb() {
    let env = TestCluster::start(ClusterOptions::new("typed")).await;
    let cs = Clientset::new(&env.config).unwrap();
    let ns = env.namespace.as_str();
    let cms = cs.core_v1().config_maps(ns);

    // create + get
    let created = cms.create(&config_map("one", &[("a", "1")]), &CreateOptions::default()).await.unwrap();
    assert!(created.metadata.uid.is_some());
    assert_eq!(created.metadata.namespace.as_deref(), Some(ns));
    let got = cms.get("one", &GetOptions::default()).await.unwrap();
    assert_eq!(got.data, labels(&[("a", "1")]));
    let missing = cms.get("nope", &GetOptions::default()).await.unwrap_err();
    assert!(missing.is_not_found(), "{missing}");
    let dup = cms.create(&config_map("one", &[]), &CreateOptions::default()).await.unwrap_err();
    assert!(dup.is_already_exists(), "{dup}");

    // watch from here on
    let mut events = cms
        .watch(&ListOptions { resource_version: created.metadata.resource_version.clone(), ..Default::default() })
        .await
        .unwrap();

    // update, and a conflict with a stale resourceVersion
    let mut changed = got.clone();
    changed.data = labels(&[("a", "2")]);
    let updated = cms.update(&changed, &UpdateOptions::default()).await.unwrap();
    assert_eq!(updated.data, labels(&[("a", "2")]));
    let conflict = cms.update(&changed, &UpdateOptions::default()).await.unwrap_err();
    assert!(conflict.is_conflict(), "{conflict}");

    // patches: merge, JSON, strategic merge, server-side apply
    let p = cms.patch("one", PatchType::Merge, &json!({"data": {"b": "3"}}), &PatchOptions::default()).await.unwrap();
    assert_eq!(p.data.as_ref().unwrap()["b"], "3");
    let p = cms
        .patch(
            "one",
            PatchType::Json,
            &json!([{"op": "replace", "path": "/data/a", "value": "4"}]),
            &PatchOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(p.data.as_ref().unwrap()["a"], "4");
    let p = cms
        .patch("one", PatchType::StrategicMerge, &json!({"metadata": {"labels": {"x": "y"}}}), &PatchOptions::default())
        .await
        .unwrap();
    assert_eq!(p.metadata.labels.as_ref().unwrap()["x"], "y");
    let applied = cms
        .apply(
            "applied",
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}, "data": {"k": "v"}}),
            &ApplyOptions::new("ferrokube-test"),
        )
        .await
        .unwrap();
    assert_eq!(applied.data, labels(&[("k", "v")]));
    let mut typed_apply = config_map("applied", &[("k", "w")]);
    typed_apply.metadata.labels = None;
    let applied = cms.apply("applied", &typed_apply, &ApplyOptions::new("ferrokube-test").force()).await.unwrap();
    assert_eq!(applied.data, labels(&[("k", "w")]));
    assert!(applied.metadata.managed_fields.iter().flatten().any(|m| m.manager.as_deref() == Some("ferrokube-test")));

    // list, with a selector and across namespaces
    cms.create(&config_map("two", &[]), &CreateOptions::default()).await.unwrap();
    let list =
        cms.list(&ListOptions { label_selector: Some("suite=typed".into()), ..Default::default() }).await.unwrap();
    let mut names: Vec<_> = list.items.iter().filter_map(|c| c.metadata.name.clone()).collect();
    names.sort();
    assert_eq!(names, ["one", "two"]);
    assert!(list.metadata.resource_version.is_some());
    let all = cs.core_v1().config_maps("").list(&ListOptions::default()).await.unwrap();
    assert!(all.items.iter().any(|c| c.metadata.namespace.as_deref() == Some(ns)));

    // delete with preconditions: wrong UID is a conflict, right UID deletes
    let wrong = DeleteOptions {
        preconditions: Some(Preconditions { uid: Some("not-the-uid".into()), resource_version: None }),
        ..Default::default()
    };
    let err = cms.delete("one", &wrong).await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    let right = DeleteOptions {
        preconditions: Some(Preconditions { uid: created.metadata.uid.clone(), resource_version: None }),
        propagation_policy: Some(PropagationPolicy::Background),
        ..Default::default()
    };
    cms.delete("one", &right).await.unwrap();
    assert!(cms.get("one", &GetOptions::default()).await.unwrap_err().is_not_found());

    // delete_collection by label
    cms.delete_collection(
        &DeleteOptions::default(),
        &ListOptions { label_selector: Some("suite=typed".into()), ..Default::default() },
    )
    .await
    .unwrap();
    // (realkube's controller manager adds its own `kube-root-ca.crt`: only the test's
    // objects count)
    let left = cms.list(&ListOptions::default()).await.unwrap();
    let left: Vec<_> = left
        .items
        .iter()
        .filter_map(|c| c.metadata.name.as_deref())
        .filter(|n| ["one", "two", "applied"].contains(n))
        .collect();
    assert_eq!(left, ["applied"], "only the unlabelled object survives");

    // the watch saw the sequence
    let mut seen = Vec::new();
    while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_secs(5), events.next()).await {
        let ev = ev.unwrap();
        let name = ev.object().and_then(|o| o.metadata.name.clone()).unwrap_or_default();
        if !["one", "two", "applied"].contains(&name.as_str()) {
            continue;
        }
        seen.push(format!("{} {name}", ev.event_type()));
        if seen.iter().filter(|s| s.starts_with("DELETED")).count() == 2 {
            break;
        }
    }
    assert_eq!(seen.first().map(String::as_str), Some("MODIFIED one"), "{seen:?}");
    assert!(seen.contains(&"ADDED applied".to_owned()), "{seen:?}");
    assert!(seen.contains(&"DELETED one".to_owned()), "{seen:?}");
    assert!(seen.contains(&"DELETED two".to_owned()), "{seen:?}");
}

#[tokio::test]
async fn cluster_scoped_resource_every_verb() {
    let env = TestCluster::start(ClusterOptions::new("typed")).await;
    let cs = Clientset::new(&env.config).unwrap();
    let roles = cs.rbac_v1().cluster_roles();
    // Cluster-scoped: names and the label unique to this test.
    let (reader, writer, suite) = (env.unique_name("reader"), env.unique_name("writer"), env.unique_name("typed"));
    let selector = format!("suite={suite}");
    let role = |name: &str, verbs: &[&str]| ClusterRole {
        metadata: ObjectMeta { name: Some(name.into()), labels: labels(&[("suite", &suite)]), ..Default::default() },
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec!["".into()]),
            resources: Some(vec!["pods".into()]),
            verbs: verbs.iter().map(|v| v.to_string()).collect(),
            ..Default::default()
        }]),
        ..Default::default()
    };
    let mut events =
        roles.watch(&ListOptions { label_selector: Some(selector.clone()), ..Default::default() }).await.unwrap();
    let created = roles.create(&role(&reader, &["get"]), &CreateOptions::default()).await.unwrap();
    assert_eq!(created.metadata.namespace, None);
    let mut got = roles.get(&reader, &GetOptions::default()).await.unwrap();
    got.rules.as_mut().unwrap()[0].verbs.push("list".into());
    let updated = roles.update(&got, &UpdateOptions::default()).await.unwrap();
    assert_eq!(updated.rules.as_ref().unwrap()[0].verbs, ["get", "list"]);
    let patched = roles
        .patch(&reader, PatchType::Merge, &json!({"metadata": {"annotations": {"a": "b"}}}), &PatchOptions::default())
        .await
        .unwrap();
    assert_eq!(patched.metadata.annotations.as_ref().unwrap()["a"], "b");
    let applied =
        roles.apply(&writer, &role(&writer, &["create"]), &ApplyOptions::new("ferrokube-test")).await.unwrap();
    assert_eq!(applied.rules.as_ref().unwrap()[0].verbs, ["create"]);
    let list = roles.list(&ListOptions { label_selector: Some(selector.clone()), ..Default::default() }).await.unwrap();
    assert_eq!(list.items.len(), 2);
    roles.delete(&reader, &DeleteOptions::default()).await.unwrap();
    roles
        .delete_collection(
            &DeleteOptions::default(),
            &ListOptions { label_selector: Some(selector.clone()), ..Default::default() },
        )
        .await
        .unwrap();
    assert!(roles
        .list(&ListOptions { label_selector: Some(selector.clone()), ..Default::default() })
        .await
        .unwrap()
        .items
        .is_empty());
    let mut types = Vec::new();
    while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_secs(5), events.next()).await {
        types.push(ev.unwrap().event_type());
        if types.iter().filter(|t| **t == "DELETED").count() == 2 {
            break;
        }
    }
    assert_eq!(types.iter().filter(|t| **t == "ADDED").count(), 2, "{types:?}");
    assert_eq!(types.iter().filter(|t| **t == "DELETED").count(), 2, "{types:?}");
}

#[tokio::test]
async fn status_and_scale_subresources() {
    let env = TestCluster::start(ClusterOptions::new("sub")).await;
    let cs = Clientset::new(&env.config).unwrap();
    let ns = env.namespace.as_str();
    let deploys = cs.apps_v1().deployments(ns);
    deploys.create(&deployment("web", 2), &CreateOptions::default()).await.unwrap();

    // scale (the deployment controller, where one runs, writes status in between:
    // every read-modify-write retries on conflict)
    let scale = deploys.get_scale("web", &GetOptions::default()).await.unwrap();
    assert_eq!(scale.spec.as_ref().and_then(|s| s.replicas), Some(2));
    let s = retry_on_conflict(DEFAULT_RETRY, || async {
        let mut s = deploys.get_scale("web", &GetOptions::default()).await?;
        s.spec.get_or_insert_with(Default::default).replicas = Some(3);
        deploys.update_scale("web", &s, &UpdateOptions::default()).await
    })
    .await
    .unwrap();
    assert_eq!(s.spec.as_ref().and_then(|s| s.replicas), Some(3));
    let d = deploys.get("web", &GetOptions::default()).await.unwrap();
    assert_eq!(d.spec.replicas, Some(3));
    deploys
        .patch_scale("web", PatchType::Merge, &json!({"spec": {"replicas": 1}}), &PatchOptions::default())
        .await
        .unwrap();

    // the generic scale client by GVR
    let scales = ScaleClient::new(&env.config).unwrap();
    let gvr = GroupVersionResource::new("apps", "v1", "deployments");
    let s = scales.get(&gvr, ns, "web").await.unwrap();
    assert_eq!(s.spec.as_ref().and_then(|s| s.replicas), Some(1));
    let s = scales
        .patch(&gvr, ns, "web", PatchType::Merge, &json!({"spec": {"replicas": 4}}), &PatchOptions::default())
        .await
        .unwrap();
    assert_eq!(s.spec.as_ref().and_then(|s| s.replicas), Some(4));
    let s2 = retry_on_conflict(DEFAULT_RETRY, || async {
        let mut s2 = scales.get(&gvr, ns, "web").await?;
        s2.spec.get_or_insert_with(Default::default).replicas = Some(2);
        scales.update(&gvr, ns, &s2).await
    })
    .await
    .unwrap();
    assert_eq!(s2.spec.and_then(|s| s.replicas), Some(2));

    // status: update_status changes status only; update ignores status
    let after = retry_on_conflict(DEFAULT_RETRY, || async {
        let mut d = deploys.get_status("web", &GetOptions::default()).await?;
        d.status = Some(DeploymentStatus { observed_generation: Some(99), replicas: Some(7), ..Default::default() });
        d.spec.replicas = Some(9);
        deploys.update_status(&d, &UpdateOptions::default()).await
    })
    .await
    .unwrap();
    assert_eq!(after.spec.replicas, Some(2), "spec is not changed through /status");
    let p = deploys
        .patch_status("web", PatchType::Merge, &json!({"status": {"collisionCount": 5}}), &PatchOptions::default())
        .await
        .unwrap();
    assert_eq!(p.status.as_ref().and_then(|s| s.collision_count), Some(5));
    let a = deploys
        .apply_status(
            "web",
            &json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "status": {"collisionCount": 6}}),
            &ApplyOptions::new("status-writer").force(),
        )
        .await
        .unwrap();
    assert_eq!(a.status.as_ref().and_then(|s| s.collision_count), Some(6), "server-side apply on /status");
    assert_eq!(a.spec.replicas, Some(2), "spec is not changed through /status");
    let entry = a
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .find(|e| e.manager.as_deref() == Some("status-writer"))
        .expect("the status applier's managedFields entry");
    assert_eq!((entry.operation.as_deref(), entry.subresource.as_deref()), (Some("Apply"), Some("status")));
    let d = deploys.get("web", &GetOptions::default()).await.unwrap();
    assert_eq!(d.status.and_then(|s| s.collision_count), Some(6));

    // foreground deletion
    deploys
        .delete("web", &DeleteOptions { propagation_policy: Some(PropagationPolicy::Foreground), ..Default::default() })
        .await
        .unwrap();
}

#[tokio::test]
async fn pod_subresources() {
    let env = TestCluster::start(ClusterOptions::new("pods")).await;
    let cs = Clientset::new(&env.config).unwrap();
    let ns = env.namespace.as_str();
    let pods = cs.core_v1().pods(ns);
    // A node selector no node matches keeps the pods unscheduled on any server, with a
    // scheduler and nodes (the embedded server with controllers) or without.
    let pod = Pod {
        metadata: ObjectMeta { name: Some("p".into()), ..Default::default() },
        spec: Some(PodSpec {
            containers: vec![Container { name: "c".into(), image: Some("busybox".into()), ..Default::default() }],
            node_selector: labels(&[("ferrokube.test/no-such-node", "true")]),
            ..Default::default()
        }),
        ..Default::default()
    };
    pods.create(&pod, &CreateOptions::default()).await.unwrap();

    // logs: a byte stream. The pod is not scheduled, so no kubelet holds a log:
    // kube-apiserver answers an unscheduled pod's log with 204 No Content, and
    // so does the embedded server.
    let mut stream = pods
        .logs("p", &ferrokube::kubernetes::LogOptions { tail_lines: Some(10), ..Default::default() })
        .await
        .expect("pods/log of an existing pod");
    let mut log = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(chunk) = stream.next().await {
            log.extend_from_slice(&chunk.expect("log chunk"));
        }
    })
    .await
    .expect("the log stream ends");
    assert!(log.is_empty(), "unexpected log: {:?}", String::from_utf8_lossy(&log));
    let missing = pods.logs("nope", &Default::default()).await.unwrap_err();
    assert!(missing.is_not_found(), "{missing}");

    // eviction deletes the pod (no PodDisruptionBudget)
    let eviction = k8s_openapi::api::policy::v1::Eviction {
        metadata: ObjectMeta { name: Some("p".into()), namespace: Some(ns.into()), ..Default::default() },
        delete_options: None,
    };
    pods.evict("p", &eviction).await.expect("evicting a pod no budget protects");
    let gone = pods.get("p", &GetOptions::default()).await.unwrap_err();
    assert!(gone.is_not_found(), "an unscheduled pod is deleted at once: {gone}");
    let again = pods.evict("p", &eviction).await.unwrap_err();
    assert!(again.is_not_found(), "{again}");

    // binding (as a scheduler does) and ephemeral containers
    let mut unscheduled = pod.clone();
    unscheduled.metadata.name = Some("q".into());
    pods.create(&unscheduled, &CreateOptions::default()).await.unwrap();
    let binding = k8s_openapi::api::core::v1::Binding {
        metadata: ObjectMeta { name: Some("q".into()), ..Default::default() },
        target: k8s_openapi::api::core::v1::ObjectReference {
            kind: Some("Node".into()),
            name: Some("node-x".into()),
            ..Default::default()
        },
    };
    pods.bind("q", &binding, &CreateOptions::default()).await.expect("binding an unassigned pod");
    let q = pods.get("q", &GetOptions::default()).await.unwrap();
    assert_eq!(q.spec.and_then(|s| s.node_name).as_deref(), Some("node-x"));
    let rebind = pods.bind("q", &binding, &CreateOptions::default()).await.unwrap_err();
    assert!(rebind.is_conflict(), "a bound pod cannot be bound again: {rebind}");
    let p = retry_on_conflict(DEFAULT_RETRY, || async {
        let mut q = pods.get("q", &GetOptions::default()).await?;
        q.spec.as_mut().unwrap().ephemeral_containers = Some(vec![k8s_openapi::api::core::v1::EphemeralContainer {
            name: "debug".into(),
            image: Some("busybox".into()),
            ..Default::default()
        }]);
        q.spec.as_mut().unwrap().containers[0].image = Some("nginx".into());
        pods.update_ephemeral_containers(&q, &UpdateOptions::default()).await
    })
    .await
    .expect("adding an ephemeral container");
    let spec = p.spec.unwrap();
    assert_eq!(spec.ephemeral_containers.unwrap()[0].name, "debug");
    assert_eq!(spec.containers[0].image.as_deref(), Some("busybox"), "only ephemeral containers change");
    let got = pods.get("q", &GetOptions::default()).await.unwrap();
    assert_eq!(got.spec.unwrap().ephemeral_containers.map(|c| c.len()), Some(1));

    // the metadata client sees pods (and anything else) as metadata only
    let meta = MetadataClient::new(&env.config).unwrap();
    let cms = meta.resource(&GroupVersionResource::new("", "v1", "namespaces"));
    let list = cms.list(&ListOptions::default()).await.unwrap();
    assert_eq!(list.kind, "PartialObjectMetadataList");
    assert!(list.items.iter().any(|o| o.metadata.name.as_deref() == Some(ns)));
    let one = cms.get(ns, &GetOptions::default()).await.unwrap();
    assert_eq!((one.kind.as_str(), one.metadata.name.as_deref()), ("PartialObjectMetadata", Some(ns)));
    let mut w = meta
        .resource(&GroupVersionResource::new("", "v1", "namespaces"))
        .watch(&ListOptions { resource_version: list.metadata.resource_version.clone(), ..Default::default() })
        .await
        .unwrap();
    let later = env.unique_name("later");
    namespace(&cs, &later).await;
    // Other tests' namespaces come and go on a shared server: the first event about
    // ours is its creation.
    let ev = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let ev = w.next().await.expect("namespace watch open").expect("namespace event");
            if ev.object().and_then(|o| o.metadata.name.as_deref()) == Some(later.as_str()) {
                return ev;
            }
        }
    })
    .await
    .expect("the new namespace's event in time");
    match ev {
        WatchEvent::Added(o) => assert_eq!(o.metadata.name.as_deref(), Some(later.as_str())),
        other => panic!("{other:?}"),
    }
    cs.core_v1().namespaces().delete(&later, &DeleteOptions::default()).await.unwrap();
}
