//! The speed workload of the patch comparison: a pod-like object of about 10 KB (three
//! containers with env, ports, probes, mounts and resources; volumes; tolerations;
//! labels, annotations and managed fields; status with conditions) and the patches a
//! controller or `kubectl` typically sends to it.

use serde_json::{json, Value};

/// A pod-like object of about 10 KB of JSON.
pub fn pod() -> Value {
    let container = |name: &str, image: &str| {
        json!({
            "name": name,
            "image": image,
            "imagePullPolicy": "IfNotPresent",
            "command": ["/bin/server", "--port=8080", "--metrics-port=9090", "--log-level=info"],
            "ports": [
                {"name": "http", "containerPort": 8080, "protocol": "TCP"},
                {"name": "metrics", "containerPort": 9090, "protocol": "TCP"}
            ],
            "env": (0..12).map(|i| json!({"name": format!("SETTING_{i}"), "value": format!("value-{i}-abcdefghij")}))
                .chain([json!({"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}})])
                .collect::<Vec<_>>(),
            "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"}, "initialDelaySeconds": 10,
                "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
            "readinessProbe": {"httpGet": {"path": "/readyz", "port": 8080, "scheme": "HTTP"}, "periodSeconds": 5,
                "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
            "volumeMounts": [
                {"name": "config", "mountPath": "/etc/app", "readOnly": true},
                {"name": "data", "mountPath": "/var/lib/app"},
                {"name": "kube-api-access-x7k2p", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}
            ],
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
            "securityContext": {"runAsNonRoot": true, "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}
        })
    };
    let condition = |t: &str| json!({"type": t, "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-12-06T09:00:00Z"});
    let conditions: Vec<Value> =
        ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]
            .into_iter()
            .map(condition)
            .collect();
    let statuses: Vec<Value> = ["web", "sidecar"]
        .into_iter()
        .map(|n| {
            json!({
                "name": n, "ready": true, "restartCount": 0, "started": true,
                "image": format!("registry.example.com/{n}:1"),
                "imageID": format!("registry.example.com/{n}@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
                "containerID": "containerd://0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "state": {"running": {"startedAt": "2026-12-06T09:00:03Z"}}, "lastState": {}
            })
        })
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "web-7d9c8b6f5d-x2k4q",
            "generateName": "web-7d9c8b6f5d-",
            "namespace": "production",
            "uid": "6c1f2a3b-4d5e-6f70-8192-a3b4c5d6e7f8",
            "resourceVersion": "123456",
            "creationTimestamp": "2026-12-06T09:00:00Z",
            "labels": {"app": "web", "pod-template-hash": "7d9c8b6f5d", "tier": "frontend", "team": "payments"},
            "annotations": {
                "example.com/revision": "42",
                "prometheus.io/scrape": "true",
                "prometheus.io/port": "9090",
                "kubectl.kubernetes.io/restartedAt": "2026-12-01T12:00:00Z"
            },
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9c8b6f5d",
                "uid": "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9", "controller": true, "blockOwnerDeletion": true}],
            "managedFields": [
                {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
                 "time": "2026-12-06T09:00:00Z", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:metadata": {"f:generateName": {}, "f:labels": {".": {}, "f:app": {}, "f:pod-template-hash": {}},
                    "f:ownerReferences": {".": {}, "k:{\"uid\":\"0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9\"}": {}}},
                    "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}}}}}},
                {"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": "2026-12-06T09:00:05Z",
                 "fieldsType": "FieldsV1", "subresource": "status",
                 "fieldsV1": {"f:status": {"f:conditions": {".": {}}, "f:phase": {}, "f:podIP": {}}}}
            ]
        },
        "spec": {
            "initContainers": [container("migrate", "registry.example.com/web-migrate:1.4.2")],
            "containers": [container("web", "registry.example.com/web:1.4.2"), container("sidecar", "registry.example.com/proxy:2.0.1")],
            "volumes": [
                {"name": "config", "configMap": {"name": "web-config", "defaultMode": 420}},
                {"name": "data", "emptyDir": {}},
                {"name": "kube-api-access-x7k2p", "projected": {"defaultMode": 420, "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
                ]}}
            ],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "web",
            "nodeName": "node-3",
            "securityContext": {"fsGroup": 2000},
            "schedulerName": "default-scheduler",
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
            ],
            "priority": 0,
            "enableServiceLinks": true,
            "preemptionPolicy": "PreemptLowerPriority"
        },
        "status": {
            "phase": "Running",
            "conditions": conditions,
            "hostIP": "10.0.0.3",
            "podIP": "10.244.3.17",
            "podIPs": [{"ip": "10.244.3.17"}],
            "startTime": "2026-12-06T09:00:00Z",
            "containerStatuses": statuses,
            "qosClass": "Burstable"
        }
    })
}

/// A JSON patch as a controller or `kubectl patch --type=json` sends it: guard on the
/// resource version, change an image, add a label and an annotation (with `~1`), append
/// an env var, drop a toleration, bump a status field, copy and move members.
pub fn json_patch_body() -> String {
    json!([
        {"op": "test", "path": "/metadata/resourceVersion", "value": "123456"},
        {"op": "replace", "path": "/spec/containers/0/image", "value": "registry.example.com/web:1.4.3"},
        {"op": "add", "path": "/metadata/labels/version", "value": "1.4.3"},
        {"op": "add", "path": "/metadata/annotations/example.com~1revision", "value": "43"},
        {"op": "add", "path": "/spec/containers/0/env/-", "value": {"name": "FEATURE_X", "value": "on"}},
        {"op": "remove", "path": "/spec/tolerations/1"},
        {"op": "replace", "path": "/status/conditions/2/status", "value": "False"},
        {"op": "copy", "from": "/metadata/labels/app", "path": "/metadata/labels/app.kubernetes.io~1name"},
        {"op": "move", "from": "/metadata/labels/team", "path": "/metadata/labels/owner"}
    ])
    .to_string()
}

/// A merge patch as `kubectl patch --type=merge` or a controller sends it: labels and
/// annotations (one removed), a spec field, and the whole tolerations list.
pub fn merge_patch_body() -> String {
    json!({
        "metadata": {
            "labels": {"version": "1.4.3", "tier": null},
            "annotations": {"example.com/revision": "43", "kubectl.kubernetes.io/restartedAt": "2026-12-06T10:00:00Z"}
        },
        "spec": {
            "activeDeadlineSeconds": 3600,
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60}]
        },
        "status": {"phase": "Running", "podIP": "10.244.3.18"}
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_is_about_10_kb_and_both_sides_patch_it_alike() {
        let pod = pod();
        let size = pod.to_string().len();
        assert!((8_000..14_000).contains(&size), "{size} bytes");
        let ours = crate::patches::ours_json_patch(&pod, &json_patch_body());
        let krate = crate::patches::crate_json_patch(&pod, &json_patch_body());
        assert!(matches!(ours, crate::patches::Outcome::Doc(_)), "{ours:?}");
        assert_eq!(ours, krate);
        let ours = crate::patches::ours_merge_patch(&pod, &merge_patch_body());
        assert_eq!(ours, crate::patches::crate_merge_patch(&pod, &merge_patch_body()));
    }
}
