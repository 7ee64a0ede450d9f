//! The benchmark's data: realistic pods (labels, annotations, owner reference, two
//! containers with env, resources and probes, volumes, status with conditions and
//! container statuses, and two managedFields entries), about 8 KB of JSON each, loaded
//! straight into the embedded server's registry (no HTTP on the load path).

use std::sync::Arc;

use ferrokube_apiserver::api::{ApiRequest, ApiResponse, ResourceInfo, Verb};
use ferrokube_apiserver::catalog::Catalog;
use ferrokube_apiserver::registry::Registry;
use serde_json::{json, Value};

/// The namespace every workload uses (each workload has its own server).
pub const NAMESPACE: &str = "default";

/// Name of pod `i`.
pub fn pod_name(i: usize) -> String {
    format!("web-{:03}-{}-{:05}", i % 97, hex(i as u64 * 7919, 10), i)
}

fn hex(seed: u64, len: usize) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut s = String::with_capacity(len);
    while s.len() < len {
        x ^= x >> 33;
        x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        x ^= x >> 29;
        s.push_str(&format!("{:016x}", x));
    }
    s.truncate(len);
    s
}

fn uid(seed: u64) -> String {
    let h = hex(seed, 32);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

fn container(i: usize, c: usize, app: &str) -> Value {
    let name = if c == 0 { "app".to_owned() } else { "sidecar-proxy".to_owned() };
    let env: Vec<Value> = (0..6)
        .map(|k| json!({"name": format!("{}_SETTING_{}", name.to_uppercase().replace('-', "_"), k), "value": format!("value-{}-{}", hex((i * 31 + c * 7 + k) as u64, 12), k)}))
        .chain([
            json!({"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}),
            json!({"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}}),
        ])
        .collect();
    json!({
        "name": name,
        "image": if c == 0 { format!("registry.example.com/team/{app}:v1.{}.{}", i % 13, i % 7) } else { "docker.io/envoyproxy/envoy:v1.31.2".to_owned() },
        "imagePullPolicy": "IfNotPresent",
        "args": ["--config=/etc/app/config.yaml", format!("--shard={}", i % 16), "--log-level=info"],
        "ports": [
            {"name": "http", "containerPort": 8080 + c as i32, "protocol": "TCP"},
            {"name": "metrics", "containerPort": 9090 + c as i32, "protocol": "TCP"}
        ],
        "env": env,
        "resources": {
            "requests": {"cpu": format!("{}m", 100 + (i % 10) * 50), "memory": format!("{}Mi", 128 + (i % 8) * 64)},
            "limits": {"cpu": "1", "memory": format!("{}Mi", 512 + (i % 4) * 256)}
        },
        "volumeMounts": [
            {"name": "config", "mountPath": "/etc/app", "readOnly": true},
            {"name": "kube-api-access-x7k2p", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}
        ],
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080 + c as i32, "scheme": "HTTP"}, "initialDelaySeconds": 10, "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080 + c as i32, "scheme": "HTTP"}, "timeoutSeconds": 1, "periodSeconds": 5, "successThreshold": 1, "failureThreshold": 3},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "runAsNonRoot": true, "capabilities": {"drop": ["ALL"]}}
    })
}

fn fields_v1_spec() -> Value {
    let c = |name: &str| {
        json!({
            format!("k:{{\"name\":\"{name}\"}}"): {
                ".": {}, "f:args": {}, "f:env": {".": {}, "k:{\"name\":\"POD_NAME\"}": {".": {}, "f:name": {}, "f:valueFrom": {".": {}, "f:fieldRef": {}}}},
                "f:image": {}, "f:imagePullPolicy": {}, "f:livenessProbe": {".": {}, "f:failureThreshold": {}, "f:httpGet": {".": {}, "f:path": {}, "f:port": {}, "f:scheme": {}}},
                "f:name": {}, "f:ports": {".": {}, "k:{\"containerPort\":8080,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}, "f:name": {}, "f:protocol": {}}},
                "f:resources": {".": {}, "f:limits": {".": {}, "f:cpu": {}, "f:memory": {}}, "f:requests": {".": {}, "f:cpu": {}, "f:memory": {}}},
                "f:securityContext": {".": {}, "f:allowPrivilegeEscalation": {}, "f:capabilities": {".": {}, "f:drop": {}}},
                "f:terminationMessagePath": {}, "f:terminationMessagePolicy": {}, "f:volumeMounts": {".": {}, "k:{\"mountPath\":\"/etc/app\"}": {".": {}, "f:mountPath": {}, "f:name": {}, "f:readOnly": {}}}
            }
        })
    };
    let mut containers = serde_json::Map::new();
    for name in ["app", "sidecar-proxy"] {
        if let Value::Object(m) = c(name) {
            containers.extend(m);
        }
    }
    json!({
        "f:metadata": {"f:annotations": {".": {}, "f:checksum/config": {}, "f:prometheus.io/port": {}, "f:prometheus.io/scrape": {}},
                        "f:generateName": {}, "f:labels": {".": {}, "f:app": {}, "f:pod-template-hash": {}, "f:tier": {}},
                        "f:ownerReferences": {".": {}, "k:{\"uid\":\"x\"}": {}}},
        "f:spec": {"f:containers": containers, "f:dnsPolicy": {}, "f:enableServiceLinks": {}, "f:restartPolicy": {}, "f:schedulerName": {},
                   "f:securityContext": {}, "f:terminationGracePeriodSeconds": {}, "f:volumes": {".": {}, "k:{\"name\":\"config\"}": {".": {}, "f:configMap": {".": {}, "f:defaultMode": {}, "f:name": {}}, "f:name": {}}}}
    })
}

fn fields_v1_status() -> Value {
    let cond = |t: &str| {
        (
            format!("k:{{\"type\":\"{t}\"}}"),
            json!({".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:status": {}, "f:type": {}}),
        )
    };
    let mut conds = serde_json::Map::new();
    for t in ["ContainersReady", "Initialized", "PodReadyToStartContainers", "PodScheduled", "Ready"] {
        let (k, v) = cond(t);
        conds.insert(k, v);
    }
    json!({"f:status": {"f:conditions": conds, "f:containerStatuses": {}, "f:hostIP": {}, "f:hostIPs": {}, "f:phase": {}, "f:podIP": {}, "f:podIPs": {".": {}, "k:{\"ip\":\"10.244.1.7\"}": {".": {}, "f:ip": {}}}, "f:startTime": {}}})
}

/// Pod `i` as JSON (no resourceVersion: the server assigns it).
pub fn pod(i: usize, namespace: &str) -> Value {
    let app = format!("svc-{:02}", i % 40);
    let hash = hex(i as u64 / 10, 10);
    let rs = format!("{app}-{hash}");
    let ts = format!("2026-10-{:02}T{:02}:{:02}:{:02}Z", 1 + i % 28, i % 24, i % 60, (i * 7) % 60);
    let conds: Vec<Value> = ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]
        .iter()
        .map(|t| json!({"type": t, "status": "True", "lastProbeTime": null, "lastTransitionTime": ts}))
        .collect();
    let statuses: Vec<Value> = ["app", "sidecar-proxy"]
        .iter()
        .enumerate()
        .map(|(c, n)| json!({
            "name": n, "ready": true, "restartCount": (i + c) % 3, "started": true,
            "state": {"running": {"startedAt": ts}},
            "image": if c == 0 { format!("registry.example.com/team/{app}:v1.{}.{}", i % 13, i % 7) } else { "docker.io/envoyproxy/envoy:v1.31.2".to_owned() },
            "imageID": format!("docker-pullable://registry.example.com/team/{app}@sha256:{}", hex(i as u64 + 11, 64)),
            "containerID": format!("containerd://{}", hex(i as u64 * 3 + c as u64, 64))
        }))
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name(i),
            "generateName": format!("{rs}-"),
            "namespace": namespace,
            "labels": {
                "app": app, "app.kubernetes.io/name": app, "app.kubernetes.io/instance": format!("{app}-prod"),
                "app.kubernetes.io/version": format!("1.{}.{}", i % 13, i % 7), "pod-template-hash": hash, "tier": "backend"
            },
            "annotations": {
                "checksum/config": hex(i as u64 + 5, 64),
                "prometheus.io/scrape": "true",
                "prometheus.io/port": "9090",
                "kubectl.kubernetes.io/restartedAt": ts
            },
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs, "uid": uid(i as u64 / 10), "controller": true, "blockOwnerDeletion": true}],
            "managedFields": [
                {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1", "time": ts, "fieldsType": "FieldsV1", "fieldsV1": fields_v1_spec()},
                {"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": ts, "fieldsType": "FieldsV1", "fieldsV1": fields_v1_status(), "subresource": "status"}
            ]
        },
        "spec": {
            "containers": [container(i, 0, &app), container(i, 1, &app)],
            "volumes": [
                {"name": "config", "configMap": {"name": format!("{app}-config"), "defaultMode": 420}},
                {"name": "kube-api-access-x7k2p", "projected": {"defaultMode": 420, "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
                ]}}
            ],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default",
            "serviceAccount": "default",
            "nodeName": format!("node-{:03}", i % 120),
            "securityContext": {"runAsUser": 1000, "fsGroup": 2000},
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
            "conditions": conds,
            "hostIP": format!("10.0.{}.{}", i % 120 / 250, i % 120 + 2),
            "hostIPs": [{"ip": format!("10.0.0.{}", i % 120 + 2)}],
            "podIP": format!("10.244.{}.{}", (i / 250) % 250, i % 250 + 2),
            "podIPs": [{"ip": format!("10.244.{}.{}", (i / 250) % 250, i % 250 + 2)}],
            "startTime": ts,
            "containerStatuses": statuses,
            "qosClass": "Burstable"
        }
    })
}

/// Loads pods into a registry without HTTP.
pub struct Loader {
    registry: Arc<Registry>,
    pods: Arc<ResourceInfo>,
}

impl Loader {
    /// A loader for `registry`.
    pub fn new(registry: Arc<Registry>) -> Loader {
        let pods = Catalog::builtin().lookup("", "v1", "pods").expect("core/v1 pods in the catalog").clone();
        Loader { registry, pods }
    }

    /// Creates pods `range` in `namespace`.
    pub async fn create(&self, range: std::ops::Range<usize>, namespace: &str) -> Result<(), String> {
        for i in range {
            let req = ApiRequest::new(Verb::Create, self.pods.clone())
                .with_namespace(namespace)
                .with_json(&pod(i, namespace), "application/json");
            match self.registry.handle(req).await {
                Ok(ApiResponse::Object { .. }) => {}
                Ok(ApiResponse::Watch(_)) => return Err("create answered with a watch".into()),
                Err(e) => return Err(format!("create pod {i}: {} {}", e.code, e.message)),
            }
        }
        Ok(())
    }

    /// Modifies pod `i` (an annotation and the restart count), producing one MODIFIED event.
    pub async fn modify(&self, i: usize, generation: usize, namespace: &str) -> Result<(), String> {
        let patch = json!({"metadata": {"annotations": {"bench.ferrokube.io/generation": generation.to_string()}},
                            "status": {"startTime": format!("2026-11-{:02}T00:00:00Z", 1 + generation % 28)}});
        let req = ApiRequest::new(Verb::Patch, self.pods.clone())
            .with_namespace(namespace)
            .with_name(pod_name(i))
            .with_json(&patch, "application/merge-patch+json");
        match self.registry.handle(req).await {
            Ok(_) => Ok(()),
            Err(e) => Err(format!("patch pod {i}: {} {}", e.code, e.message)),
        }
    }

    /// The store's current resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.registry.store().current_rv()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn pod_is_a_valid_pod_of_the_right_size() {
        let v = super::pod(1234, "default");
        let s = serde_json::to_vec(&v).unwrap();
        assert!((6_000..=10_500).contains(&s.len()), "{} bytes", s.len());
        let _: k8s_openapi::api::core::v1::Pod = serde_json::from_slice(&s).unwrap();
    }
}
