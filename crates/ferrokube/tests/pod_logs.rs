//! Pod logs through `Pods::logs` over real HTTPS against the embedded server, whose
//! simulated containers write a start line, one line per `pod_log_interval` and an exit
//! line (`ferrokube_apiserver`'s `podlogs`): the whole log, `tailLines`, `timestamps`,
//! `sinceSeconds`, `limitBytes`, `follow` until a run-to-completion pod's container
//! terminates, and kube's refusals (several containers and none named, a container
//! still waiting, no previous instance, invalid options).
//!
//! Embedded only: realkube proxies logs to a kubelet port that the simulated
//! `ferrokube-kubelet` does not serve. Every wait is for something observable (a pod
//! status seen by a watch, lines arriving on a followed log), bounded by [`WITHIN`].

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{Container, ContainerState, ContainerStateTerminated, Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use ferrokube::kubernetes::{Clientset, LogOptions, ResourceClient};
use ferrokube::rest::{BodyStream, CreateOptions, Error, GetOptions, ListOptions, UpdateOptions};
use ferrokube::watch::WatchEvent;
use ferrokube_apiserver::controllers::ControllerOptions;
use support::cluster::{skip_unless_embedded, ClusterOptions, TestCluster};

/// A bound for each wait, only so that a broken server cannot hang the test.
const WITHIN: Duration = Duration::from_secs(30);
/// The simulated containers' line interval in these tests.
const INTERVAL: Duration = Duration::from_millis(20);
const EMBEDDED_ONLY: &str = "pod logs are simulated by the embedded server only";

/// An embedded server with controllers at test speed, tuned by `tune`.
async fn cluster(name: &str, tune: impl FnOnce(&mut ControllerOptions)) -> TestCluster {
    let mut options = ClusterOptions::new(name).with_controllers();
    let mut controllers = ControllerOptions::fast();
    controllers.pod_log_interval = INTERVAL;
    tune(&mut controllers);
    options.embedded.controller_options = controllers;
    TestCluster::start(options).await
}

fn pod(name: &str, containers: &[(&str, &str)], restart_policy: &str) -> Pod {
    Pod {
        metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
        spec: Some(PodSpec {
            containers: containers
                .iter()
                .map(|(n, image)| Container {
                    name: (*n).into(),
                    image: Some((*image).into()),
                    args: Some(vec!["--port=8080".into()]),
                    ..Default::default()
                })
                .collect(),
            restart_policy: Some(restart_policy.into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Creates `p` and waits (watching it) until `ready` holds of it.
/// A namespace of its own on a fresh server, and in it pod `web` (container `app`,
/// nginx) Running: the cluster (keep it), the pods client and the container's startedAt.
async fn running_web(base: &str) -> (TestCluster, ResourceClient<Pod>, jiff::Timestamp) {
    let cluster = cluster(base, |_| {}).await;
    let cs = Clientset::new(&cluster.config).expect("clientset");
    let pods = cs.core_v1().pods(&cluster.namespace);
    let running =
        create_and_wait(&pods, &pod("web", &[("app", "nginx:1.27")], "Always"), "Running", |p| phase(p) == "Running")
            .await;
    let started = container_status(&running, "app").state.and_then(|s| s.running).and_then(|r| r.started_at);
    (cluster, pods, started.expect("startedAt").0)
}

async fn create_and_wait(pods: &ResourceClient<Pod>, p: &Pod, what: &str, ready: impl Fn(&Pod) -> bool) -> Pod {
    let name = p.metadata.name.clone().unwrap_or_default();
    let created = pods.create(p, &CreateOptions::default()).await.expect("create pod");
    if ready(&created) {
        return created;
    }
    let opts = ListOptions {
        field_selector: Some(format!("metadata.name={name}")),
        resource_version: created.metadata.resource_version.clone(),
        ..Default::default()
    };
    let wait = async {
        let mut events = pods.watch(&opts).await.expect("watch pod");
        while let Some(ev) = events.next().await {
            if let WatchEvent::Modified(p) | WatchEvent::Added(p) = ev.expect("pod event") {
                if ready(&p) {
                    return p;
                }
            }
        }
        panic!("the watch of pod {name} ended before it was {what}");
    };
    tokio::time::timeout(WITHIN, wait).await.unwrap_or_else(|_| panic!("pod {name} not {what} within {WITHIN:?}"))
}

fn phase(p: &Pod) -> &str {
    p.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

/// A container's status of `p`.
fn container_status(p: &Pod, name: &str) -> k8s_openapi::api::core::v1::ContainerStatus {
    let statuses = p.status.as_ref().and_then(|s| s.container_statuses.clone()).unwrap_or_default();
    statuses.into_iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no status of container {name}"))
}

/// Everything a (non-following) log request returns.
async fn read_all(stream: BodyStream) -> String {
    let chunks: Vec<_> = stream.collect().await;
    let mut out = Vec::new();
    for c in chunks {
        out.extend_from_slice(&c.expect("log chunk"));
    }
    String::from_utf8(out).expect("UTF-8 log")
}

async fn log(pods: &ResourceClient<Pod>, name: &str, opts: &LogOptions) -> String {
    read_all(pods.logs(name, opts).await.expect("logs")).await
}

/// Follows the log of `name` until a complete line satisfies `until`; returns the lines.
async fn follow_until(pods: &ResourceClient<Pod>, name: &str, until: impl Fn(&str) -> bool) -> Vec<String> {
    let opts = LogOptions { follow: true, timestamps: true, ..Default::default() };
    let mut stream = pods.logs(name, &opts).await.expect("follow logs");
    let read = async {
        let mut buf = String::new();
        while let Some(chunk) = stream.next().await {
            buf.push_str(std::str::from_utf8(&chunk.expect("log chunk")).expect("UTF-8"));
            if buf.ends_with('\n') && buf.lines().any(&until) {
                return buf.lines().map(str::to_owned).collect();
            }
        }
        panic!("the followed log ended before the line waited for: {buf}");
    };
    tokio::time::timeout(WITHIN, read).await.expect("the awaited line within the bound")
}

/// The API error of a log request that must fail.
async fn log_error(pods: &ResourceClient<Pod>, name: &str, opts: &LogOptions) -> (u16, String) {
    let err: Error = match pods.logs(name, opts).await {
        Ok(stream) => panic!("expected an error, got the log {:?}", read_all(stream).await),
        Err(e) => e,
    };
    let message = err.status().and_then(|s| s.message.clone()).unwrap_or_else(|| panic!("no Status in {err}"));
    (err.code().expect("an HTTP code"), message)
}

/// `2026-01-02T03:04:05.000000000Z ` prefixed lines: the timestamp and the rest.
fn split_stamp(line: &str) -> (&str, &str) {
    let (stamp, rest) = line.split_once(' ').unwrap_or_else(|| panic!("no timestamp in {line:?}"));
    assert_eq!(stamp.len(), "2026-01-02T03:04:05.000000000Z".len(), "{stamp}");
    assert!(stamp.ends_with('Z') && stamp.as_bytes()[19] == b'.', "{stamp}");
    assert!(stamp.parse::<jiff::Timestamp>().is_ok(), "{stamp}");
    (stamp, rest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_tail_timestamps_and_limit_bytes() {
    if skip_unless_embedded(EMBEDDED_ONLY) {
        return;
    }
    let (_cluster, pods, started) = running_web("logs").await;
    // Until a few periodic lines are there (seen on a followed log).
    follow_until(&pods, "web", |l| l.contains("is running: line 5,")).await;

    let whole = log(&pods, "web", &LogOptions::default()).await;
    let lines: Vec<&str> = whole.lines().collect();
    assert_eq!(lines[0], r#"container "app" started: image "nginx:1.27", args ["--port=8080"]"#);
    assert!(lines.len() >= 6, "{whole}");
    for (k, line) in lines.iter().enumerate().skip(1) {
        assert!(line.starts_with(&format!("container \"app\" is running: line {k}, up ")), "{line}");
    }

    let tail = log(&pods, "web", &LogOptions { tail_lines: Some(2), ..Default::default() }).await;
    let tail: Vec<&str> = tail.lines().collect();
    assert_eq!(tail.len(), 2, "{tail:?}");
    let number = |l: &str| -> u64 {
        let rest = l.split("line ").nth(1).expect("a line number");
        rest.split(',').next().unwrap().parse().expect("a number")
    };
    assert_eq!(number(tail[1]), number(tail[0]) + 1);
    assert!(number(tail[1]) >= 5);
    assert_eq!(log(&pods, "web", &LogOptions { tail_lines: Some(0), ..Default::default() }).await, "");

    // Timestamps: the kubelet's nine-digit RFC 3339; the start line at startedAt, then
    // one line per interval.
    let stamped = log(&pods, "web", &LogOptions { timestamps: true, ..Default::default() }).await;
    let stamps: Vec<jiff::Timestamp> = stamped.lines().map(|l| split_stamp(l).0.parse().unwrap()).collect();
    assert_eq!(stamps[0], started);
    for (k, ts) in stamps.iter().enumerate() {
        let expected = started + jiff::SignedDuration::try_from(INTERVAL * k as u32).unwrap();
        assert_eq!(*ts, expected, "line {k}");
    }
    assert_eq!(split_stamp(stamped.lines().next().unwrap()).1, lines[0]);

    // limitBytes: the first bytes of the log, cut mid-line.
    let limited = log(&pods, "web", &LogOptions { limit_bytes: Some(20), ..Default::default() }).await;
    assert_eq!(limited, &whole[..20]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn since_seconds_leaves_out_older_lines() {
    if skip_unless_embedded(EMBEDDED_ONLY) {
        return;
    }
    let (_cluster, pods, started) = running_web("logs-since").await;
    // Until the log spans more than a second and a half.
    let later = started + jiff::SignedDuration::from_millis(1500);
    follow_until(&pods, "web", |l| split_stamp(l).0.parse::<jiff::Timestamp>().unwrap() >= later).await;

    let asked_at = jiff::Timestamp::now();
    let opts = LogOptions { since_seconds: Some(1), timestamps: true, ..Default::default() };
    let recent = log(&pods, "web", &opts).await;
    let lines: Vec<&str> = recent.lines().collect();
    assert!(!lines.is_empty());
    let oldest = asked_at - jiff::SignedDuration::from_secs(1);
    for line in &lines {
        let (stamp, text) = split_stamp(line);
        assert!(stamp.parse::<jiff::Timestamp>().unwrap() >= oldest, "{line} is older than {oldest}");
        assert!(text.contains("is running"), "{line}");
    }
    let all = log(&pods, "web", &LogOptions::default()).await;
    assert!(all.lines().count() > lines.len());

    // sinceTime: the lines from the given time on (the start line is older).
    let from = started + jiff::SignedDuration::from_secs(1);
    let opts = LogOptions { since_time: Some(from.to_string()), timestamps: true, ..Default::default() };
    let since_time = log(&pods, "web", &opts).await;
    assert!(since_time.lines().count() > 0);
    for line in since_time.lines() {
        assert!(split_stamp(line).0.parse::<jiff::Timestamp>().unwrap() >= from, "{line} is older than {from}");
    }
    assert!(since_time.lines().count() < all.lines().count(), "the start line is left out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_streams_until_the_container_terminates() {
    if skip_unless_embedded(EMBEDDED_ONLY) {
        return;
    }
    let cluster = cluster("logs-follow", |c| c.pod_run_duration = Duration::from_secs(1)).await;
    let cs = Clientset::new(&cluster.config).expect("clientset");
    let pods = cs.core_v1().pods(&cluster.namespace);
    create_and_wait(&pods, &pod("job", &[("work", "busybox:1.36")], "Never"), "Running", |p| phase(p) == "Running")
        .await;

    let opts = LogOptions { follow: true, ..Default::default() };
    let mut stream = pods.logs("job", &opts).await.expect("follow");
    let read = async {
        let mut chunks = 0;
        let mut text = String::new();
        while let Some(chunk) = stream.next().await {
            text.push_str(std::str::from_utf8(&chunk.expect("chunk")).unwrap());
            chunks += 1;
        }
        (chunks, text)
    };
    let (chunks, text) = tokio::time::timeout(WITHIN, read).await.expect("the log ends when the container does");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with(r#"container "work" started: image "busybox:1.36""#), "{text}");
    assert_eq!(*lines.last().unwrap(), r#"container "work" exited with code 0 (Completed)"#, "{text}");
    for (k, line) in lines.iter().enumerate().take(lines.len() - 1).skip(1) {
        assert!(line.starts_with(&format!("container \"work\" is running: line {k}, ")), "{text}");
    }
    // Lines came as they were written, not all at once.
    assert!(chunks > 1, "one chunk only: {text}");

    // The container has terminated: the pod says so, and its log ends the same way.
    // (The kubelet writes finishedAt in whole seconds, so the lines a follower saw in
    // the last fraction of a second may fall after it: a read now stops before them.)
    let done = pods.get("job", &GetOptions::default()).await.expect("get");
    assert_eq!(phase(&done), "Succeeded");
    let after = log(&pods, "job", &LogOptions::default()).await;
    let after: Vec<&str> = after.lines().collect();
    assert_eq!(after.last(), lines.last());
    assert!(lines.starts_with(&after[..after.len() - 1]), "{after:?} is not the start of {lines:?}");
    // Following a terminated container returns its log and ends.
    let again = read_all(pods.logs("job", &opts).await.expect("follow")).await;
    assert_eq!(again.lines().collect::<Vec<_>>(), after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_containers_need_one_named() {
    if skip_unless_embedded(EMBEDDED_ONLY) {
        return;
    }
    let cluster = cluster("logs-multi", |_| {}).await;
    let cs = Clientset::new(&cluster.config).expect("clientset");
    let pods = cs.core_v1().pods(&cluster.namespace);
    let p = pod("duo", &[("app", "nginx:1.27"), ("proxy", "envoyproxy/envoy:v1.31")], "Always");
    create_and_wait(&pods, &p, "Running", |p| phase(p) == "Running").await;

    let (code, message) = log_error(&pods, "duo", &LogOptions::default()).await;
    assert_eq!(
        (code, message.as_str()),
        (400, "a container name must be specified for pod duo, choose one of: [app proxy]")
    );
    let named = LogOptions { container: Some("proxy".into()), ..Default::default() };
    let proxy = log(&pods, "duo", &named).await;
    assert!(proxy.starts_with(r#"container "proxy" started: image "envoyproxy/envoy:v1.31""#), "{proxy}");
    let unknown = LogOptions { container: Some("nope".into()), ..Default::default() };
    assert_eq!(log_error(&pods, "duo", &unknown).await, (400, "container nope is not valid for pod duo".into()));
    let (code, _) = log_error(&pods, "missing", &LogOptions::default()).await;
    assert_eq!(code, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_container_has_no_log_yet() {
    if skip_unless_embedded(EMBEDDED_ONLY) {
        return;
    }
    // Containers stay in ContainerCreating for the whole test.
    let cluster = cluster("logs-waiting", |c| c.pod_startup_delay = Duration::from_secs(3600)).await;
    let cs = Clientset::new(&cluster.config).expect("clientset");
    let pods = cs.core_v1().pods(&cluster.namespace);
    create_and_wait(&pods, &pod("slow", &[("app", "nginx:1.27")], "Always"), "ContainerCreating", |p| {
        let statuses = p.status.as_ref().and_then(|s| s.container_statuses.clone()).unwrap_or_default();
        statuses.iter().any(|s| s.state.as_ref().and_then(|st| st.waiting.as_ref()).is_some())
    })
    .await;
    assert_eq!(
        log_error(&pods, "slow", &LogOptions::default()).await,
        (400, r#"container "app" in pod "slow" is waiting to start: ContainerCreating"#.into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn previous_needs_a_terminated_instance() {
    if skip_unless_embedded(EMBEDDED_ONLY) {
        return;
    }
    let cluster = cluster("logs-previous", |_| {}).await;
    let cs = Clientset::new(&cluster.config).expect("clientset");
    let pods = cs.core_v1().pods(&cluster.namespace);
    let running =
        create_and_wait(&pods, &pod("web", &[("app", "nginx:1.27")], "Always"), "Running", |p| phase(p) == "Running")
            .await;
    let previous = LogOptions { previous: true, ..Default::default() };
    assert_eq!(
        log_error(&pods, "web", &previous).await,
        (400, r#"previous terminated container "app" in pod "web" not found"#.into())
    );

    // A status with a terminated previous instance (as a restart leaves it): its log,
    // from its start to its exit.
    let mut restarted = running.clone();
    let status = restarted.status.as_mut().expect("status");
    let statuses = status.container_statuses.as_mut().expect("container statuses");
    let started = statuses[0].state.as_ref().and_then(|s| s.running.as_ref()).and_then(|r| r.started_at.clone());
    let started = started.expect("startedAt").0;
    // Times are kept in whole seconds.
    let before = |secs: i64| Time(started - jiff::SignedDuration::from_secs(secs));
    statuses[0].restart_count = 1;
    statuses[0].last_state = Some(ContainerState {
        terminated: Some(ContainerStateTerminated {
            container_id: Some("containerd://0123456789abcdef".into()),
            exit_code: 137,
            reason: Some("OOMKilled".into()),
            started_at: Some(before(10)),
            finished_at: Some(before(9)),
            ..Default::default()
        }),
        ..Default::default()
    });
    pods.update_status(&restarted, &UpdateOptions::default()).await.expect("update status");
    let old = log(&pods, "web", &LogOptions { previous: true, timestamps: true, ..Default::default() }).await;
    let lines: Vec<&str> = old.lines().collect();
    // Start, a line every 20 ms for a second, exit.
    assert_eq!(lines.len(), 52, "{old}");
    assert_eq!(split_stamp(lines[51]).1, r#"container "app" exited with code 137 (OOMKilled)"#);
    assert_eq!(split_stamp(lines[0]).0.parse::<jiff::Timestamp>().unwrap(), before(10).0);
    assert_eq!(split_stamp(lines[51]).0.parse::<jiff::Timestamp>().unwrap(), before(9).0);
    // The current instance's log is another one.
    let now = log(&pods, "web", &LogOptions::default()).await;
    assert!(!now.contains("exited"), "{now}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_options_are_refused_as_kube_does() {
    if skip_unless_embedded(EMBEDDED_ONLY) {
        return;
    }
    let cluster = cluster("logs-invalid", |_| {}).await;
    let cs = Clientset::new(&cluster.config).expect("clientset");
    let pods = cs.core_v1().pods(&cluster.namespace);
    // Validation comes before the pod is read: no pod is needed.
    let bad = LogOptions { tail_lines: Some(-1), limit_bytes: Some(0), ..Default::default() };
    assert_eq!(
        log_error(&pods, "any", &bad).await,
        (
            422,
            r#"PodLogOptions "any" is invalid: [tailLines: Invalid value: -1: must be greater than or equal to 0, limitBytes: Invalid value: 0: must be greater than 0]"#
                .into()
        )
    );
    let since = LogOptions { since_seconds: Some(0), ..Default::default() };
    assert_eq!(
        log_error(&pods, "any", &since).await,
        (422, r#"PodLogOptions "any" is invalid: sinceSeconds: Invalid value: 0: must be greater than 0"#.into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_a_log_needs_get_on_pods_log() {
    use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
    if skip_unless_embedded(EMBEDDED_ONLY) {
        return;
    }
    let cluster = cluster("logs-rbac", |_| {}).await;
    let ns = cluster.namespace.as_str();
    let cs = Clientset::new(&cluster.config).expect("clientset");
    let pods = cs.core_v1().pods(ns);
    create_and_wait(&pods, &pod("web", &[("app", "nginx:1.27")], "Always"), "Running", |p| phase(p) == "Running").await;
    // Two users: one may get pods and pods/log, the other pods only.
    for (user, resources) in [("log-reader", vec!["pods", "pods/log"]), ("pod-reader", vec!["pods"])] {
        let role = Role {
            metadata: ObjectMeta { name: Some(user.into()), ..Default::default() },
            rules: Some(vec![PolicyRule {
                api_groups: Some(vec![String::new()]),
                resources: Some(resources.iter().map(|r| (*r).to_owned()).collect()),
                verbs: vec!["get".into()],
                ..Default::default()
            }]),
        };
        cs.rbac_v1().roles(ns).create(&role, &CreateOptions::default()).await.expect("role");
        let binding = RoleBinding {
            metadata: ObjectMeta { name: Some(user.into()), ..Default::default() },
            role_ref: RoleRef {
                api_group: Some("rbac.authorization.k8s.io".into()),
                kind: "Role".into(),
                name: user.into(),
            },
            subjects: Some(vec![Subject {
                api_group: Some("rbac.authorization.k8s.io".into()),
                kind: "User".into(),
                name: user.into(),
                ..Default::default()
            }]),
        };
        cs.rbac_v1().role_bindings(ns).create(&binding, &CreateOptions::default()).await.expect("binding");
    }
    let as_user = |user: &str| {
        let mut config = cluster.config.clone();
        config.impersonate.user_name = Some(user.into());
        Clientset::new(&config).expect("clientset").core_v1().pods(ns)
    };
    let reader = as_user("log-reader");
    assert!(log(&reader, "web", &LogOptions::default()).await.starts_with(r#"container "app" started"#));
    let (code, message) = log_error(&as_user("pod-reader"), "web", &LogOptions::default()).await;
    assert_eq!(code, 403);
    assert_eq!(
        message,
        format!(
            r#"pods "web" is forbidden: User "pod-reader" cannot get resource "pods/log" in API group "" in the namespace "{ns}""#
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_ends_when_the_pod_is_deleted() {
    if skip_unless_embedded(EMBEDDED_ONLY) {
        return;
    }
    let cluster = cluster("logs-deleted", |_| {}).await;
    let cs = Clientset::new(&cluster.config).expect("clientset");
    let pods = cs.core_v1().pods(&cluster.namespace);
    create_and_wait(&pods, &pod("web", &[("app", "nginx:1.27")], "Always"), "Running", |p| phase(p) == "Running").await;
    let mut stream = pods.logs("web", &LogOptions { follow: true, ..Default::default() }).await.expect("follow");
    // The log is being followed: its first line has come.
    let first = tokio::time::timeout(WITHIN, stream.next()).await.expect("a first chunk").expect("not ended");
    assert!(std::str::from_utf8(&first.expect("chunk")).unwrap().starts_with(r#"container "app" started"#));
    pods.delete("web", &Default::default()).await.expect("delete");
    let rest = async {
        let mut text = String::new();
        while let Some(chunk) = stream.next().await {
            text.push_str(std::str::from_utf8(&chunk.expect("chunk")).unwrap());
        }
        text
    };
    let rest = tokio::time::timeout(WITHIN, rest).await.expect("the log ends with the pod");
    // The simulated kubelet stops the container before the pod goes: its exit line ends the log.
    assert!(rest.ends_with("container \"app\" exited with code 0 (Completed)\n"), "{rest}");
}
