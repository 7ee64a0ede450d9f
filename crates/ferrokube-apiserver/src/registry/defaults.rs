//! Defaulting done by kube-apiserver's per-resource strategies that clients observe:
//! an empty `status` on built-in objects that have one, `spec.replicas: 1` for scalable
//! workloads, `status.phase: Pending` for new pods,
//! namespace `spec.finalizers`/`status.phase`, and for services the type, a cluster IP
//! from `10.96.0.0/12`, node ports from 30000-32767, port protocol and target port.

use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{json, Map, Value};

use crate::api::ResourceInfo;

/// Hands out service cluster IPs and node ports (never reused: enough for a test
/// server's lifetime).
#[derive(Debug)]
pub struct Allocator {
    next_ip: AtomicU32,
    next_node_port: AtomicU32,
}

impl Default for Allocator {
    fn default() -> Self {
        // 10.96.0.1 is the `kubernetes` service's address in a real cluster.
        Allocator { next_ip: AtomicU32::new(10), next_node_port: AtomicU32::new(0) }
    }
}

impl Allocator {
    /// The next cluster IP of `10.96.0.0/12`.
    pub fn cluster_ip(&self) -> String {
        let n = self.next_ip.fetch_add(1, Ordering::Relaxed) % (1 << 20);
        let ip = (10u32 << 24) | (96 << 16) | n;
        format!("{}.{}.{}.{}", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff)
    }

    /// The next node port of 30000-32767.
    pub fn node_port(&self) -> u32 {
        30000 + self.next_node_port.fetch_add(1, Ordering::Relaxed) % 2768
    }

    /// Continues after the cluster IPs and node ports `services` hold (a restored
    /// store), so new Services do not get addresses in use.
    #[cfg(feature = "durable")]
    pub fn resume_after<'a>(&self, services: impl Iterator<Item = &'a Value>) {
        for svc in services {
            let spec = svc.get("spec");
            let ips = spec.and_then(|s| s.get("clusterIPs")).and_then(Value::as_array).into_iter().flatten();
            for ip in ips.filter_map(Value::as_str) {
                let octets: Vec<u32> = ip.split('.').filter_map(|o| o.parse().ok()).collect();
                if let [10, second @ 96..=111, third, fourth] = octets[..] {
                    let n = ((second - 96) << 16) | (third << 8) | fourth;
                    self.next_ip.fetch_max(n + 1, Ordering::Relaxed);
                }
            }
            let ports = spec.and_then(|s| s.get("ports")).and_then(Value::as_array).into_iter().flatten();
            for port in ports.filter_map(|p| p.get("nodePort")).filter_map(Value::as_u64) {
                if let Some(n) = u32::try_from(port).ok().and_then(|p| p.checked_sub(30000)) {
                    self.next_node_port.fetch_max(n + 1, Ordering::Relaxed);
                }
            }
        }
    }
}

fn is(info: &ResourceInfo, group: &str, plural: &str) -> bool {
    info.group == group && info.plural == plural
}

fn object_entry<'m>(map: &'m mut Map<String, Value>, key: &str) -> Option<&'m mut Map<String, Value>> {
    let v = map.entry(key).or_insert_with(|| json!({}));
    if v.is_null() {
        *v = json!({});
    }
    v.as_object_mut()
}

/// The defaults kube-apiserver applies when it decodes a new object (its
/// `SetDefaults_*` functions): they are part of what the client sent, so the
/// creating field manager owns them.
pub fn spec_defaults(info: &ResourceInfo, builtin: bool, obj: &mut Value, alloc: &Allocator) {
    if !builtin {
        return;
    }
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    let scalable = is(info, "apps", "deployments")
        || is(info, "apps", "replicasets")
        || is(info, "apps", "statefulsets")
        || is(info, "", "replicationcontrollers");
    if scalable {
        if let Some(spec) = map.get_mut("spec").and_then(Value::as_object_mut) {
            spec.entry("replicas").or_insert(json!(1));
        }
    }
    if is(info, "apps", "deployments") {
        if let Some(spec) = map.get_mut("spec").and_then(Value::as_object_mut) {
            spec.entry("progressDeadlineSeconds").or_insert(json!(600));
            spec.entry("revisionHistoryLimit").or_insert(json!(10));
            if let Some(strategy) = object_entry(spec, "strategy") {
                let ty = strategy.entry("type").or_insert(json!("RollingUpdate")).clone();
                if ty == "RollingUpdate" {
                    if let Some(ru) = object_entry(strategy, "rollingUpdate") {
                        ru.entry("maxSurge").or_insert(json!("25%"));
                        ru.entry("maxUnavailable").or_insert(json!("25%"));
                    }
                }
            }
        }
    }
    let template = match (info.group.as_str(), info.plural.as_str()) {
        ("apps", "deployments" | "replicasets" | "statefulsets" | "daemonsets")
        | ("batch", "jobs")
        | ("", "replicationcontrollers") => Some("/spec/template/spec"),
        ("batch", "cronjobs") => Some("/spec/jobTemplate/spec/template/spec"),
        ("", "podtemplates") => Some("/template/spec"),
        _ => None,
    };
    if let Some(pointer) = template {
        if let Some(spec) = obj.pointer_mut(pointer).and_then(Value::as_object_mut) {
            pod_spec_defaults(spec, false);
        }
    }
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    if is(info, "", "pods") {
        if let Some(spec) = map.get_mut("spec").and_then(Value::as_object_mut) {
            pod_spec_defaults(spec, true);
        }
    } else if is(info, "", "namespaces") {
        let name = map.get("metadata").and_then(|m| m.get("name")).cloned();
        if let (Some(name), Some(md)) = (name, object_entry(map, "metadata")) {
            if let Some(labels) = object_entry(md, "labels") {
                labels.insert("kubernetes.io/metadata.name".into(), name);
            }
        }
    } else if is(info, "", "services") {
        if let Some(spec) = object_entry(map, "spec") {
            service_defaults(spec, alloc);
        }
    } else if is(info, "", "secrets") {
        secret_defaults(map);
    } else if is(info, "batch", "jobs") {
        job_defaults(map);
    }
}

/// `SetDefaults_Job`: completions and parallelism 1 when neither is set (parallelism
/// 1 when unset), backoffLimit 6 (2^31-1 with backoffLimitPerIndex), completionMode
/// NonIndexed, suspend and manualSelector false, podReplacementPolicy Failed with a
/// podFailurePolicy and TerminatingOrFailed without, and the template's labels as the
/// Job's when it has none.
fn job_defaults(job: &mut Map<String, Value>) {
    let template_labels = job.get("spec").and_then(|s| s.pointer("/template/metadata/labels")).cloned();
    let Some(spec) = job.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let unset = |spec: &Map<String, Value>, k: &str| spec.get(k).is_none_or(Value::is_null);
    if unset(spec, "completions") && unset(spec, "parallelism") {
        spec.insert("completions".into(), json!(1));
    }
    if unset(spec, "parallelism") {
        spec.insert("parallelism".into(), json!(1));
    }
    if unset(spec, "backoffLimit") {
        let limit = if unset(spec, "backoffLimitPerIndex") { 6 } else { i32::MAX };
        spec.insert("backoffLimit".into(), json!(limit));
    }
    if unset(spec, "completionMode") {
        spec.insert("completionMode".into(), json!("NonIndexed"));
    }
    if unset(spec, "suspend") {
        spec.insert("suspend".into(), json!(false));
    }
    if unset(spec, "podReplacementPolicy") {
        let policy = if unset(spec, "podFailurePolicy") { "TerminatingOrFailed" } else { "Failed" };
        spec.insert("podReplacementPolicy".into(), json!(policy));
    }
    if unset(spec, "manualSelector") {
        spec.insert("manualSelector".into(), json!(false));
    }
    if let Some(Value::Object(labels)) = template_labels {
        if let Some(md) = object_entry(job, "metadata") {
            if md.get("labels").and_then(Value::as_object).is_none_or(|l| l.is_empty()) {
                md.insert("labels".into(), Value::Object(labels));
            }
        }
    }
}

/// The Job strategy's generated selector (unless `manualSelector`): the template gets
/// the `job-name` and `controller-uid` labels (both spellings), and the selector
/// matches `batch.kubernetes.io/controller-uid`.
fn job_selector(job: &mut Map<String, Value>) {
    let name = job.get("metadata").and_then(|m| m.get("name")).cloned().unwrap_or(Value::Null);
    let uid = job.get("metadata").and_then(|m| m.get("uid")).cloned().unwrap_or(Value::Null);
    let Some(spec) = job.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if spec.get("manualSelector") == Some(&json!(true)) {
        return;
    }
    if let Some(labels) =
        object_entry(spec, "template").and_then(|t| object_entry(t, "metadata")).and_then(|m| object_entry(m, "labels"))
    {
        for key in ["batch.kubernetes.io/job-name", "job-name"] {
            labels.entry(key).or_insert(name.clone());
        }
        for key in ["batch.kubernetes.io/controller-uid", "controller-uid"] {
            labels.entry(key).or_insert(uid.clone());
        }
    }
    if let Some(match_labels) = object_entry(spec, "selector").and_then(|s| object_entry(s, "matchLabels")) {
        match_labels.entry("batch.kubernetes.io/controller-uid").or_insert(uid);
    }
}

/// What kube-apiserver does to a Secret as it decodes one (`SetDefaults_Secret` and the
/// v1 -> internal conversion): `type` defaults to `Opaque`, and the write-only
/// `stringData` is merged into `data` (base64-encoded, its keys winning over `data`'s)
/// and never stored.
fn secret_defaults(secret: &mut Map<String, Value>) {
    use base64::Engine as _;
    match secret.get("type") {
        None | Some(Value::Null) => {
            secret.insert("type".into(), json!("Opaque"));
        }
        Some(Value::String(t)) if t.is_empty() => {
            secret.insert("type".into(), json!("Opaque"));
        }
        Some(_) => {}
    }
    let Some(Value::Object(string_data)) = secret.remove("stringData") else {
        return;
    };
    if string_data.is_empty() {
        return;
    }
    let Some(data) = object_entry(secret, "data") else {
        return;
    };
    for (key, value) in string_data {
        if let Value::String(text) = value {
            data.insert(key, json!(base64::engine::general_purpose::STANDARD.encode(text)));
        }
    }
}

/// `SetDefaults_PodSpec` and `SetDefaults_Container` (and, for a Pod itself,
/// `SetDefaults_Pod`: `enableServiceLinks`, requests defaulted from limits).
fn pod_spec_defaults(spec: &mut Map<String, Value>, pod: bool) {
    spec.entry("dnsPolicy").or_insert(json!("ClusterFirst"));
    spec.entry("restartPolicy").or_insert(json!("Always"));
    spec.entry("schedulerName").or_insert(json!("default-scheduler"));
    spec.entry("securityContext").or_insert(json!({}));
    spec.entry("terminationGracePeriodSeconds").or_insert(json!(30));
    if pod {
        spec.entry("enableServiceLinks").or_insert(json!(true));
    }
    for list in ["initContainers", "containers"] {
        let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) else { continue };
        for c in containers.iter_mut().filter_map(Value::as_object_mut) {
            let image = c.get("image").and_then(Value::as_str).unwrap_or("");
            let tag = image.rsplit('/').next().unwrap_or("");
            let latest = !image.contains('@') && (!tag.contains(':') || tag.ends_with(":latest"));
            c.entry("imagePullPolicy").or_insert(json!(if latest { "Always" } else { "IfNotPresent" }));
            c.entry("terminationMessagePath").or_insert(json!("/dev/termination-log"));
            c.entry("terminationMessagePolicy").or_insert(json!("File"));
            let resources = c.entry("resources").or_insert(json!({}));
            if pod {
                if let Some(r) = resources.as_object_mut() {
                    if let Some(limits) = r.get("limits").and_then(Value::as_object).cloned() {
                        if let Some(requests) = object_entry(r, "requests") {
                            for (k, v) in limits {
                                requests.entry(k).or_insert(v);
                            }
                        }
                    }
                }
            }
            if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
                for port in ports.iter_mut().filter_map(Value::as_object_mut) {
                    port.entry("protocol").or_insert(json!("TCP"));
                }
            }
        }
    }
}

/// What the strategy sets on create after the field manager has recorded the
/// request: an empty `status` on built-in objects that have one, a new pod's phase and
/// QoS class, a namespace's finalizer and phase, a Job's generated selector.
pub fn system_fields(info: &ResourceInfo, builtin: bool, obj: &mut Value) {
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    // A built-in type's `status` is a Go struct, not a pointer: kube-apiserver writes
    // `"status": {}` for an object nobody has given a status yet, and clients (the
    // Python client's generated models, for one) read a missing status as none at all.
    if builtin && info.has_status {
        object_entry(map, "status");
    }
    if is(info, "", "pods") {
        let qos = map.get("spec").map(qos_class).unwrap_or("BestEffort");
        if let Some(status) = object_entry(map, "status") {
            status.entry("phase").or_insert(json!("Pending"));
            status.entry("qosClass").or_insert(json!(qos));
        }
    } else if is(info, "", "namespaces") {
        map.insert("spec".into(), json!({"finalizers": ["kubernetes"]}));
        map.insert("status".into(), json!({"phase": "Active"}));
    } else if builtin && is(info, "batch", "jobs") {
        job_selector(map);
    } else if builtin && is(info, "", "services") {
        // ServiceStatus.loadBalancer is a struct, written even when empty.
        if let Some(status) = object_entry(map, "status") {
            status.entry("loadBalancer").or_insert(json!({}));
        }
    }
}

/// A pod's QoS class from its containers' requests and limits (cpu and memory).
fn qos_class(spec: &Value) -> &'static str {
    let mut any = false;
    let mut guaranteed = true;
    for list in ["initContainers", "containers"] {
        for c in spec.get(list).and_then(Value::as_array).into_iter().flatten() {
            let requests = c.pointer("/resources/requests").and_then(Value::as_object);
            let limits = c.pointer("/resources/limits").and_then(Value::as_object);
            for res in ["cpu", "memory"] {
                let request = requests.and_then(|r| r.get(res));
                let limit = limits.and_then(|l| l.get(res));
                if request.is_some() || limit.is_some() {
                    any = true;
                }
                if limit.is_none() || request.is_some_and(|r| Some(r) != limit) {
                    guaranteed = false;
                }
            }
        }
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}

/// The mutations of kube-apiserver's admission plugins on a new pod that need no other
/// object: `DefaultTolerationSeconds` (tolerate not-ready and unreachable nodes for
/// 300 s) and `Priority` (priority 0, `PreemptLowerPriority`). The ServiceAccount
/// plugin's part is in the registry (it reads the ServiceAccount).
pub fn admit_pod(spec: &mut Map<String, Value>) {
    if spec.get("priorityClassName").is_none_or(Value::is_null) {
        spec.entry("priority").or_insert(json!(0));
    }
    spec.entry("preemptionPolicy").or_insert(json!("PreemptLowerPriority"));
    let tolerations = spec.entry("tolerations").or_insert(json!([]));
    if let Some(list) = tolerations.as_array_mut() {
        for key in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
            let present = list.iter().any(|t| {
                (t["key"] == key || (t["key"].is_null() && t["operator"] == "Exists"))
                    && (t["effect"] == "NoExecute" || t["effect"].is_null())
            });
            if !present {
                list.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
            }
        }
    }
}

fn service_defaults(spec: &mut Map<String, Value>, alloc: &Allocator) {
    let ty = spec.entry("type").or_insert(json!("ClusterIP")).as_str().unwrap_or("ClusterIP").to_owned();
    spec.entry("sessionAffinity").or_insert(json!("None"));
    if ty == "ExternalName" {
        return;
    }
    let ip = match spec.get("clusterIP").and_then(Value::as_str) {
        Some(ip) if !ip.is_empty() => ip.to_owned(),
        _ => alloc.cluster_ip(),
    };
    spec.insert("clusterIP".into(), json!(ip));
    spec.entry("clusterIPs").or_insert(json!([ip]));
    spec.entry("ipFamilies").or_insert(json!(["IPv4"]));
    spec.entry("ipFamilyPolicy").or_insert(json!("SingleStack"));
    spec.entry("internalTrafficPolicy").or_insert(json!("Cluster"));
    let node_ports = ty == "NodePort" || ty == "LoadBalancer";
    if node_ports {
        spec.entry("externalTrafficPolicy").or_insert(json!("Cluster"));
    }
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for port in ports.iter_mut().filter_map(Value::as_object_mut) {
            port.entry("protocol").or_insert(json!("TCP"));
            if let Some(p) = port.get("port").cloned() {
                port.entry("targetPort").or_insert(p);
            }
            if node_ports && port.get("nodePort").is_none_or(Value::is_null) {
                port.insert("nodePort".into(), json!(alloc.node_port()));
            }
        }
    }
}

/// The fields of a new object that kube-apiserver's REST storage (not the decoder's
/// defaulting) fills in, so that the creating field manager does not own them: a
/// service's allocated cluster IPs and IP families. `requested` is the object as the
/// client sent it; the answer lists, per field the client left out, its JSON pointer's
/// parent and key.
pub fn allocated_fields(info: &ResourceInfo, requested: &Value) -> Vec<(&'static str, &'static str)> {
    if !is(info, "", "services") {
        return Vec::new();
    }
    ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"]
        .into_iter()
        .filter(|k| requested.pointer("/spec").and_then(|s| s.get(*k)).is_none_or(Value::is_null))
        .map(|k| ("/spec", k))
        .collect()
}

/// What an update gets as kube-apiserver decodes it: the same decoding-time defaults as a
/// new object ([`spec_defaults`]: a patch that replaces a list of containers gets each
/// container's defaults again), after the fields an update may omit have taken their
/// stored value (a service's cluster IPs and node ports), so nothing is allocated twice.
pub fn on_update(info: &ResourceInfo, builtin: bool, old: &Value, new: &mut Value, alloc: &Allocator) {
    if builtin && is(info, "", "services") {
        keep_service_allocations(old, new);
    }
    spec_defaults(info, builtin, new, alloc);
}

/// A service update that leaves out its cluster IPs or a port's node port keeps the
/// stored ones (kube's service strategy), a port matched by port number and protocol.
fn keep_service_allocations(old: &Value, new: &mut Value) {
    let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let old_spec = old.get("spec");
    for key in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
        let missing = match spec.get(key) {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.is_empty(),
            Some(_) => false,
        };
        if missing {
            if let Some(v) = old_spec.and_then(|s| s.get(key)) {
                spec.insert(key.into(), v.clone());
            }
        }
    }
    let old_ports = old_spec.and_then(|s| s.get("ports")).and_then(Value::as_array);
    let protocol = |p: &Value| p.get("protocol").and_then(Value::as_str).unwrap_or("TCP").to_owned();
    if let (Some(ports), Some(old_ports)) = (spec.get_mut("ports").and_then(Value::as_array_mut), old_ports) {
        for port in ports.iter_mut() {
            if port.get("nodePort").is_some_and(|n| !n.is_null()) {
                continue;
            }
            let stored = old_ports.iter().find(|o| o.get("port") == port.get("port") && protocol(o) == protocol(port));
            if let (Some(node_port), Some(port)) = (stored.and_then(|o| o.get("nodePort")), port.as_object_mut()) {
                port.insert("nodePort".into(), node_port.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What create applies: the decoding-time defaults, then the strategy's fields.
    fn on_create(info: &ResourceInfo, builtin: bool, obj: &mut Value, alloc: &Allocator) {
        spec_defaults(info, builtin, obj, alloc);
        system_fields(info, builtin, obj);
    }

    fn info(group: &str, plural: &str) -> ResourceInfo {
        ResourceInfo {
            group: group.into(),
            version: "v1".into(),
            plural: plural.into(),
            singular: String::new(),
            kind: String::new(),
            namespaced: true,
            short_names: vec![],
            categories: vec![],
            verbs: vec![],
            has_status: true,
            has_scale: false,
        }
    }

    #[test]
    fn services() {
        let a = Allocator::default();
        let mut svc = json!({"spec": {"type": "NodePort", "ports": [{"port": 80}]}});
        on_create(&info("", "services"), true, &mut svc, &a);
        assert_eq!(svc["spec"]["clusterIP"], "10.96.0.10");
        assert_eq!(svc["spec"]["clusterIPs"], json!(["10.96.0.10"]));
        assert_eq!(svc["spec"]["ports"][0]["targetPort"], 80);
        assert_eq!(svc["spec"]["ports"][0]["protocol"], "TCP");
        assert_eq!(svc["spec"]["ports"][0]["nodePort"], 30000);
        let mut headless = json!({"spec": {"clusterIP": "None"}});
        on_create(&info("", "services"), true, &mut headless, &a);
        assert_eq!(headless["spec"]["clusterIP"], "None");
        // An update that leaves out the allocations keeps them: nothing is allocated again.
        let mut upd = json!({"spec": {"type": "NodePort", "ports": [{"port": 80}]}});
        on_update(&info("", "services"), true, &svc, &mut upd, &a);
        assert_eq!(upd["spec"]["clusterIP"], "10.96.0.10");
        assert_eq!(upd["spec"]["ports"][0]["nodePort"], 30000);
        assert_eq!(upd["spec"]["ports"][0]["targetPort"], 80);
        assert_eq!(a.cluster_ip(), "10.96.0.11");
        assert_eq!(a.node_port(), 30001);
        // An update of a workload gets the decoding defaults again.
        let old = json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}});
        let mut d = json!({"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "y"}]}}}});
        on_update(&info("apps", "deployments"), true, &old, &mut d, &a);
        assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["terminationMessagePath"], "/dev/termination-log");
        assert_eq!(d["spec"]["replicas"], 1);
    }

    #[test]
    fn workloads_pods_namespaces() {
        let a = Allocator::default();
        let mut d = json!({"spec": {}});
        on_create(&info("apps", "deployments"), true, &mut d, &a);
        assert_eq!(d["spec"]["replicas"], 1);
        let mut p = json!({"spec": {}});
        on_create(&info("", "pods"), true, &mut p, &a);
        assert_eq!(p["status"]["phase"], "Pending");
        let mut n = json!({"metadata": {"name": "x"}});
        on_create(&info("", "namespaces"), true, &mut n, &a);
        assert_eq!(n["metadata"]["labels"]["kubernetes.io/metadata.name"], "x");
        assert_eq!(n["status"]["phase"], "Active");
    }

    #[test]
    fn secrets_default_their_type_and_merge_string_data_into_data() {
        let info = info("", "secrets");
        let mut secret = json!({"metadata": {"name": "s"}, "data": {"a": "eA==", "b": "eQ=="}, "stringData": {"b": "hunter2", "c": "z"}});
        spec_defaults(&info, true, &mut secret, &Allocator::default());
        assert_eq!(secret["type"], "Opaque");
        assert_eq!(secret["data"], json!({"a": "eA==", "b": "aHVudGVyMg==", "c": "eg=="}));
        assert!(secret.get("stringData").is_none(), "stringData is write-only");
        let mut typed = json!({"type": "kubernetes.io/tls", "stringData": {"k": "v"}});
        on_update(&info, true, &json!({}), &mut typed, &Allocator::default());
        assert_eq!(typed, json!({"type": "kubernetes.io/tls", "data": {"k": "dg=="}}));
    }
}
