//! Unit tests of server-side apply and field ownership, at fixed times (they call
//! the time-taking `apply_at` and `update_at`).

use serde_json::json;

use super::super::schema::root_type;
use super::managed::update_at;
use super::*;

const T1: &str = "2026-01-01T00:00:00Z";
const T2: &str = "2026-01-01T00:01:00Z";

fn deploy() -> Option<&'static TypeSchema> {
    root_type("apps", "Deployment")
}

fn config(replicas: i64, labels: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}]}
            }
        }
    })
}

fn entry(obj: &Value, manager: &str) -> Option<ManagedFieldsEntry> {
    managed_fields(obj).into_iter().find(|e| e.manager == manager)
}

fn path(s: &[&str]) -> FieldPath {
    s.iter()
        .map(|e| match e.split_once(':') {
            Some(("k", k)) => PathElement::Key(k.to_string()),
            Some(("v", v)) => PathElement::Value(v.to_string()),
            _ => PathElement::Field(e.to_string()),
        })
        .collect()
}

#[test]
fn first_apply_records_manager_fields() {
    let out = apply_at(None, &config(2, json!({"app": "web"})), "kubectl", false, deploy(), T1).unwrap();
    assert!(out.created);
    let obj = out.object;
    assert_eq!(obj["spec"]["replicas"], 2);
    let mf = obj["metadata"]["managedFields"].as_array().unwrap();
    assert_eq!(mf.len(), 1);
    assert_eq!(mf[0]["manager"], "kubectl");
    assert_eq!(mf[0]["operation"], "Apply");
    assert_eq!(mf[0]["apiVersion"], "apps/v1");
    assert_eq!(mf[0]["time"], T1);
    assert_eq!(mf[0]["fieldsType"], "FieldsV1");
    assert_eq!(
        mf[0]["fieldsV1"],
        json!({
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                // metav1.LabelSelector is atomic, as in kube-apiserver.
                "f:selector": {},
                "f:template": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {".": {}, "f:image": {}, "f:name": {}}}}
                }
            }
        })
    );
    // Round trip of the encoding.
    let set = FieldSet::from_fields_v1(&mf[0]["fieldsV1"]).unwrap();
    assert!(set.contains(&path(&["spec", "template", "spec", "containers", "k:{\"name\":\"nginx\"}"])));
    assert!(set.contains(&path(&["spec", "template", "spec", "containers", "k:{\"name\":\"nginx\"}", "image"])));
    assert_eq!(set.to_fields_v1(), mf[0]["fieldsV1"]);
}

#[test]
fn repeated_apply_is_a_no_op() {
    let first = apply_at(None, &config(2, json!({"app": "web"})), "kubectl", false, deploy(), T1).unwrap();
    assert!(first.changed);
    let again =
        apply_at(Some(&first.object), &config(2, json!({"app": "web"})), "kubectl", false, deploy(), T2).unwrap();
    assert!(!again.changed);
    assert_eq!(again.object, first.object);
    let scaled =
        apply_at(Some(&first.object), &config(3, json!({"app": "web"})), "kubectl", false, deploy(), T2).unwrap();
    assert!(scaled.changed);
    assert_eq!(scaled.object["metadata"]["managedFields"][0]["time"], T2);
}

#[test]
fn second_manager_conflicts_on_replicas() {
    let live = apply_at(None, &config(2, json!({"app": "web"})), "kubectl", false, deploy(), T1).unwrap().object;
    let err = apply_at(Some(&live), &config(5, json!({"app": "web"})), "hpa-tool", false, deploy(), T2).unwrap_err();
    let ApplyError::Conflict(c) = err else { panic!("expected a conflict, got {err:?}") };
    assert_eq!(
        c.conflicts,
        vec![FieldConflict {
            manager: "kubectl".into(),
            operation: Operation::Apply,
            api_version: "apps/v1".into(),
            subresource: None,
            field: ".spec.replicas".into()
        }]
    );
    assert_eq!(c.message(), "Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas");
    let status = c.to_status();
    assert_eq!(status["code"], 409);
    assert_eq!(status["reason"], "Conflict");
    assert_eq!(
        status["details"]["causes"][0],
        json!({"reason": "FieldManagerConflict", "message": "conflict with \"kubectl\"", "field": ".spec.replicas"})
    );
}

#[test]
fn conflict_with_update_manager() {
    let created =
        update_at(None, &config(2, json!({"app": "web"})), "kubectl-client-side-apply", None, deploy(), T1).unwrap();
    let e = entry(&created, "kubectl-client-side-apply").unwrap();
    assert_eq!(e.operation, Operation::Update);
    assert!(e.fields.contains(&path(&["spec", "replicas"])));
    let err = apply_at(Some(&created), &config(3, json!({"app": "web"})), "kubectl", false, deploy(), T2).unwrap_err();
    let ApplyError::Conflict(c) = err else { panic!("{err:?}") };
    assert_eq!(c.conflicts.len(), 1);
    assert_eq!(c.conflicts[0].manager, "kubectl-client-side-apply");
    assert_eq!(c.conflicts[0].field, ".spec.replicas");
}

#[test]
fn force_transfers_ownership() {
    let live = apply_at(None, &config(2, json!({"app": "web"})), "kubectl", false, deploy(), T1).unwrap().object;
    let out = apply_at(Some(&live), &config(5, json!({"app": "web"})), "hpa-tool", true, deploy(), T2).unwrap();
    assert_eq!(out.forced.len(), 1);
    assert_eq!(out.object["spec"]["replicas"], 5);
    let replicas = path(&["spec", "replicas"]);
    assert!(!entry(&out.object, "kubectl").unwrap().fields.contains(&replicas));
    assert!(entry(&out.object, "hpa-tool").unwrap().fields.contains(&replicas));
    // The old owner now conflicts in turn.
    let err =
        apply_at(Some(&out.object), &config(2, json!({"app": "web"})), "kubectl", false, deploy(), T2).unwrap_err();
    assert!(matches!(err, ApplyError::Conflict(ref c) if c.conflicts[0].manager == "hpa-tool"), "{err:?}");
}

#[test]
fn shared_field_same_value_no_conflict() {
    let live = apply_at(None, &config(2, json!({"app": "web"})), "a", false, deploy(), T1).unwrap().object;
    let out = apply_at(Some(&live), &config(2, json!({"app": "web"})), "b", false, deploy(), T2).unwrap();
    let replicas = path(&["spec", "replicas"]);
    assert!(entry(&out.object, "a").unwrap().fields.contains(&replicas));
    assert!(entry(&out.object, "b").unwrap().fields.contains(&replicas));
    // "b" dropping replicas keeps the value: "a" still owns it.
    let mut cfg = config(2, json!({"app": "web"}));
    cfg["spec"].as_object_mut().unwrap().remove("replicas");
    let out = apply_at(Some(&out.object), &cfg, "b", false, deploy(), T2).unwrap();
    assert_eq!(out.object["spec"]["replicas"], 2);
}

#[test]
fn dropped_fields_are_removed() {
    let live =
        apply_at(None, &config(2, json!({"app": "web", "tier": "fe"})), "kubectl", false, deploy(), T1).unwrap().object;
    let mut live = live;
    live["status"] = json!({"replicas": 2});
    let out = apply_at(Some(&live), &config(2, json!({"app": "web"})), "kubectl", false, deploy(), T2).unwrap();
    assert_eq!(out.object["metadata"]["labels"], json!({"app": "web"}));
    assert_eq!(out.object["status"], json!({"replicas": 2}), "fields nobody applied stay");
    // A dropped container is removed; a label owned by someone else stays.
    let with_other = update_at(
        Some(&out.object),
        &{
            let mut o = out.object.clone();
            o["metadata"]["labels"]["team"] = json!("x");
            o
        },
        "kubectl-label",
        None,
        deploy(),
        T2,
    )
    .unwrap();
    let mut cfg = config(2, json!({"app": "web", "team": "x"}));
    cfg["spec"]["template"]["spec"]["containers"] = json!([{"name": "other", "image": "o"}]);
    let out = apply_at(Some(&with_other), &cfg, "kubectl", false, deploy(), T2).unwrap();
    assert_eq!(out.object["spec"]["template"]["spec"]["containers"], json!([{"name": "other", "image": "o"}]));
    let cfg = config(2, json!({"app": "web"}));
    let out = apply_at(Some(&out.object), &cfg, "kubectl", false, deploy(), T2).unwrap();
    assert_eq!(out.object["metadata"]["labels"]["team"], "x", "co-owned by kubectl-label");
}

#[test]
fn update_takes_ownership_from_others() {
    let live = apply_at(None, &config(2, json!({"app": "web"})), "kubectl", false, deploy(), T1).unwrap().object;
    let mut new = live.clone();
    new["spec"]["replicas"] = json!(7);
    let out = update_at(Some(&live), &new, "kubectl-scale", None, deploy(), T2).unwrap();
    let replicas = path(&["spec", "replicas"]);
    assert!(!entry(&out, "kubectl").unwrap().fields.contains(&replicas));
    let scale = entry(&out, "kubectl-scale").unwrap();
    assert_eq!(scale.operation, Operation::Update);
    assert_eq!(scale.fields.len(), 1);
    assert_eq!(out["metadata"]["managedFields"][1]["fieldsV1"], json!({"f:spec": {"f:replicas": {}}}));
}

#[test]
fn status_writes_record_the_subresource() {
    let live = apply_at(None, &config(2, json!({"app": "web"})), "kubectl", false, deploy(), T1).unwrap().object;
    let mut new = live.clone();
    new["status"] = json!({"replicas": 2, "readyReplicas": 2});
    let out = update_at(Some(&live), &new, "ferrokube-controllers", Some("status"), deploy(), T2).unwrap();
    let e = entry(&out, "ferrokube-controllers").unwrap();
    assert_eq!(e.subresource.as_deref(), Some("status"));
    assert_eq!(out["metadata"]["managedFields"][1]["subresource"], "status");
    assert!(e.fields.contains(&path(&["status", "readyReplicas"])));
    // Applying the main resource again neither conflicts with nor removes status.
    let again = apply_at(Some(&out), &config(2, json!({"app": "web"})), "kubectl", false, deploy(), T2).unwrap();
    assert_eq!(again.object["status"]["readyReplicas"], 2);
}

#[test]
fn keyed_list_items_owned_per_manager() {
    let live = apply_at(None, &config(2, json!({"app": "web"})), "a", false, deploy(), T1).unwrap().object;
    // "b" applies only a sidecar container (plus the identity it needs).
    let b_cfg = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "busybox"}]}}}
    });
    let out = apply_at(Some(&live), &b_cfg, "b", false, deploy(), T2).unwrap().object;
    let names: Vec<&str> = out["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["nginx", "sidecar"]);
    assert_eq!(
        entry(&out, "b").unwrap().fields.to_fields_v1(),
        json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"sidecar\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}})
    );
    // "a" re-applying its config (without the sidecar) keeps b's container.
    let out = apply_at(Some(&out), &config(2, json!({"app": "web"})), "a", false, deploy(), T2).unwrap().object;
    assert_eq!(out["spec"]["template"]["spec"]["containers"].as_array().unwrap().len(), 2);
    // "b" changing nginx's image conflicts with "a" on that item's field.
    let mut b2 = b_cfg.clone();
    b2["spec"]["template"]["spec"]["containers"] =
        json!([{"name": "sidecar", "image": "busybox"}, {"name": "nginx", "image": "nginx:2"}]);
    let err = apply_at(Some(&out), &b2, "b", false, deploy(), T2).unwrap_err();
    let ApplyError::Conflict(c) = err else { panic!("{err:?}") };
    assert_eq!(c.conflicts[0].field, ".spec.template.spec.containers[name=\"nginx\"].image");
    // "b" dropping the sidecar removes it (nobody else owns it).
    let out = apply_at(
        Some(&out),
        &json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}),
        "b",
        false,
        deploy(),
        T2,
    )
    .unwrap()
    .object;
    assert_eq!(out["spec"]["template"]["spec"]["containers"], json!([{"name": "nginx", "image": "nginx:1.25"}]));
    assert!(entry(&out, "b").is_none(), "an empty entry is dropped");
}

#[test]
fn invalid_configurations() {
    let bad = [
        json!([1]),
        json!({"kind": "Deployment"}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"managedFields": [{"manager": "x"}]}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": {"containers": [{"name": "a"}, {"name": "a"}]}}}}),
    ];
    for b in bad {
        let e = apply_at(None, &b, "m", false, deploy(), T1).unwrap_err();
        assert!(matches!(e, ApplyError::Invalid(_)), "{b}: {e:?}");
    }
    assert!(apply_at(None, &config(1, json!({})), "", false, deploy(), T1).is_err());
}

#[test]
fn custom_resources_without_schema() {
    let cr = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"sizes": [1, 2], "color": "red"}});
    let out = apply_at(None, &cr, "m", false, None, T1).unwrap();
    assert_eq!(
        out.object["metadata"]["managedFields"][0]["fieldsV1"],
        json!({"f:spec": {"f:color": {}, "f:sizes": {}}})
    );
}

#[test]
fn sets_and_manager_names() {
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": ["a/b"]}, "data": {"k": "v"}});
    let out = apply_at(None, &cm, "m", false, root_type("", "ConfigMap"), T1).unwrap();
    assert_eq!(
        out.object["metadata"]["managedFields"][0]["fieldsV1"],
        json!({"f:data": {"f:k": {}}, "f:metadata": {"f:finalizers": {"v:\"a/b\"": {}}}})
    );
    assert_eq!(default_field_manager(Some("kubectl/v1.33.0 (linux/amd64) kubernetes/abc")), "kubectl");
    assert_eq!(default_field_manager(None), "unknown");
    assert_eq!(
        path_to_string(&path(&["spec", "containers", "k:{\"name\":\"nginx\"}", "image"])),
        ".spec.containers[name=\"nginx\"].image"
    );
}

#[test]
fn multiple_conflicts_message() {
    let c = ApplyConflict {
        conflicts: vec![
            FieldConflict {
                manager: "m".into(),
                operation: Operation::Update,
                api_version: "apps/v1".into(),
                subresource: None,
                field: ".spec.replicas".into(),
            },
            FieldConflict {
                manager: "m".into(),
                operation: Operation::Update,
                api_version: "apps/v1".into(),
                subresource: None,
                field: ".spec.paused".into(),
            },
        ],
    };
    assert_eq!(
        c.message(),
        "Apply failed with 2 conflicts: conflicts with \"m\" using apps/v1:\n- .spec.replicas\n- .spec.paused"
    );
    assert_eq!(c.causes().len(), 2);
}

#[test]
fn ports_are_keyed_by_port_and_protocol() {
    // kube's Go types key container ports by containerPort and protocol, the latter
    // defaulting to TCP when the configuration leaves it out.
    let mut cfg = config(1, json!({"app": "web"}));
    cfg["spec"]["template"]["spec"]["containers"][0]["ports"] =
        json!([{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP"}]);
    let out = apply_at(None, &cfg, "kubectl", false, deploy(), T1).unwrap();
    let fields = &out.object["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:template"]["f:spec"]
        ["f:containers"]["k:{\"name\":\"nginx\"}"]["f:ports"];
    assert!(fields.get("k:{\"containerPort\":80,\"protocol\":\"TCP\"}").is_some(), "{fields}");
    assert!(fields.get("k:{\"containerPort\":53,\"protocol\":\"UDP\"}").is_some(), "{fields}");
}

#[test]
fn conflicts_with_several_managers_are_grouped_and_sorted() {
    let conflict = |manager: &str, operation, field: &str| FieldConflict {
        manager: manager.into(),
        operation,
        api_version: "apps/v1".into(),
        subresource: None,
        field: field.into(),
    };
    let c = ApplyConflict {
        conflicts: vec![
            conflict("zeta", Operation::Apply, ".spec.replicas"),
            conflict("alpha", Operation::Update, ".spec.paused"),
            conflict("zeta", Operation::Apply, ".spec.minReadySeconds"),
        ],
    };
    assert_eq!(
        c.message(),
        "Apply failed with 3 conflicts: conflicts with \"alpha\" using apps/v1:\n- .spec.paused\n\
         conflicts with \"zeta\":\n- .spec.replicas\n- .spec.minReadySeconds"
    );
    assert_eq!(c.causes()[0]["message"], "conflict with \"zeta\"");
}

#[test]
fn dropping_the_last_label_removes_the_emptied_map() {
    let cm = |labels: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": labels}, "data": {"a": "1"}});
    let root = root_type("", "ConfigMap");
    let live = apply_at(None, &cm(json!({"owner": "alpha"})), "alpha", false, root, T1).unwrap().object;
    let config = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}});
    let out = apply_at(Some(&live), &config, "alpha", false, root, T2).unwrap().object;
    assert!(out["metadata"].get("labels").is_none(), "{out}");
    assert_eq!(out["data"], json!({"a": "1"}));
}

#[test]
fn atomic_structs_and_multi_key_lists_follow_the_go_markers() {
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "b", "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "u1"}]},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
    });
    let out = apply_at(None, &binding, "m", false, root_type("rbac.authorization.k8s.io", "RoleBinding"), T1).unwrap();
    let fields = &out.object["metadata"]["managedFields"][0]["fieldsV1"];
    assert_eq!(fields["f:roleRef"], json!({}));
    assert_eq!(fields["f:metadata"]["f:ownerReferences"], json!({"k:{\"uid\":\"u1\"}": {}}));

    let mut d = config(1, json!({}));
    d["spec"]["template"]["spec"]["containers"][0]["ports"] = json!([{"containerPort": 80, "protocol": "TCP"}]);
    let out = apply_at(None, &d, "m", false, deploy(), T1).unwrap();
    let c = &out.object["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]
        ["k:{\"name\":\"nginx\"}"];
    assert!(c["f:ports"].get("k:{\"containerPort\":80,\"protocol\":\"TCP\"}").is_some(), "{c}");
}

#[test]
fn a_missing_key_field_is_keyed_by_its_default() {
    let svc = |ports: Value| json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": ports}});
    let root = root_type("", "Service");
    // Created by an ordinary write, defaulted as stored: the creator owns the TCP port.
    let live =
        update_at(None, &svc(json!([{"port": 80, "protocol": "TCP", "targetPort": 80}])), "creator", None, root, T1)
            .unwrap();
    let err =
        apply_at(Some(&live), &svc(json!([{"port": 80, "targetPort": 8080}])), "applier", false, root, T2).unwrap_err();
    let ApplyError::Conflict(c) = err else { panic!("expected a conflict, got {err:?}") };
    assert_eq!(c.conflicts[0].field, ".spec.ports[port=80,protocol=\"TCP\"].targetPort");
    let out =
        apply_at(Some(&live), &svc(json!([{"port": 80, "targetPort": 8080}])), "applier", true, root, T2).unwrap();
    let applier = entry(&out.object, "applier").unwrap();
    assert!(applier.fields.contains(&path(&["spec", "ports", "k:{\"port\":80,\"protocol\":\"TCP\"}"])));
    assert_eq!(out.object["spec"]["ports"].as_array().unwrap().len(), 1, "{}", out.object);
}
