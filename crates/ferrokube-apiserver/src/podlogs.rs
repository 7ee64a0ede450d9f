//! Simulated container logs: what `GET pods/<name>/log` shows of the embedded server's
//! pods, whose containers never run.
//!
//! A simulated container's log is a pure function of the pod object (and of the clock),
//! so nothing is stored per pod and nothing is spent on the pods nobody reads the logs of.
//! From the container status the simulated kubelet writes
//! (`crate::controllers::kubelet`: `state.running.startedAt`,
//! `state.terminated.{startedAt,finishedAt,exitCode,reason}`, `lastState`,
//! `containerID`) and the container's spec (image, command, args), the log of one
//! container instance is:
//!
//! 1. at `startedAt`, a start line naming the image (and the command and args, when set);
//! 2. at `startedAt + k × interval` (k = 1, 2, ...), one periodic line, up to now for a
//!    running container, up to `finishedAt` for a terminated one;
//! 3. at `finishedAt`, for a terminated instance, a line with its exit code and reason.
//!
//! Lines are numbered (0 is the start line), so a window of them (`sinceTime`,
//! `tailLines`) is found by arithmetic, not by rendering the whole log: a container
//! that has run for a year costs as little as one that started a second ago.
//! [`select_container`] and [`instance`] answer which container and which instance
//! a request means, refusing as kube-apiserver (`validateContainer`) and the kubelet
//! (`validateContainerLogStatus`) do, in their words ([`LogError`]); [`Instance`]
//! numbers and renders the lines; [`render`] is the whole non-streaming answer. The
//! HTTP side (query parsing, validation, `follow` streaming) is
//! `crate::handlers::logs`.
//!
//! Timestamps are written as the kubelet writes them with `timestamps=true`: RFC 3339
//! with nine fractional digits (`2026-01-02T03:04:05.000000000Z`). Differences from a
//! real kubelet, on purpose: the log is made up, everything goes to stdout; an instance
//! whose `state.terminated` has no `containerID` (the simulated kubelet writes init
//! containers that way) is identified by the status's `containerID` instead of being
//! refused as "terminated".

use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

/// Why a container has no log to show, worded as kube-apiserver and the kubelet word
/// it. Every one is a 400 Bad Request.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// No `container` was given and the pod has several.
    #[error("a container name must be specified for pod {pod}, choose one of: [{}]", .choices.join(" "))]
    ContainerRequired {
        /// The pod.
        pod: String,
        /// Its containers: init containers, containers, ephemeral containers.
        choices: Vec<String>,
    },
    /// No `container` was given and the pod has none.
    #[error("a container name must be specified for pod {pod}")]
    NoContainers {
        /// The pod.
        pod: String,
    },
    /// The pod has no container of that name.
    #[error("container {container} is not valid for pod {pod}")]
    InvalidContainer {
        /// The container asked for.
        container: String,
        /// The pod.
        pod: String,
    },
    /// The container has no status yet.
    #[error("container {container:?} in pod {pod:?} is not available")]
    NotAvailable {
        /// The container.
        container: String,
        /// The pod.
        pod: String,
    },
    /// `previous=true` and the container has no terminated previous instance.
    #[error("previous terminated container {container:?} in pod {pod:?} not found")]
    PreviousNotFound {
        /// The container.
        container: String,
        /// The pod.
        pod: String,
    },
    /// Terminated without a container id to read the log of.
    #[error("container {container:?} in pod {pod:?} is terminated")]
    Terminated {
        /// The container.
        container: String,
        /// The pod.
        pod: String,
    },
    /// The container has not started (`ContainerCreating` and the like).
    #[error("container {container:?} in pod {pod:?} is waiting to start: {reason}")]
    Waiting {
        /// The container.
        container: String,
        /// The pod.
        pod: String,
        /// The waiting reason, or the kubelet's phrase for an image pull failure.
        reason: String,
    },
    /// A status with no state at all.
    #[error("container {container:?} in pod {pod:?} is waiting to start - no logs yet")]
    NoLogsYet {
        /// The container.
        container: String,
        /// The pod.
        pod: String,
    },
}

/// The spec fields of the pod that hold containers, in kube's visiting order.
const CONTAINER_FIELDS: [&str; 3] = ["initContainers", "containers", "ephemeralContainers"];
/// The status fields matching [`CONTAINER_FIELDS`], in the kubelet's lookup order.
const STATUS_FIELDS: [&str; 3] = ["containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"];

fn pod_name(pod: &Value) -> String {
    pod.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_owned()
}

fn items<'a>(v: &'a Value, pointer: &str) -> &'a [Value] {
    v.pointer(pointer).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

fn name_of(v: &Value) -> &str {
    v.get("name").and_then(Value::as_str).unwrap_or("")
}

/// The container a request means (kube-apiserver's `validateContainer`): `asked` when
/// the pod has a container (of any kind) of that name, else the only container.
pub fn select_container(pod: &Value, asked: Option<&str>) -> Result<String, LogError> {
    let pod_name = pod_name(pod);
    match asked.filter(|a| !a.is_empty()) {
        Some(name) => {
            let known =
                CONTAINER_FIELDS.iter().any(|f| items(pod, &format!("/spec/{f}")).iter().any(|c| name_of(c) == name));
            if known {
                Ok(name.to_owned())
            } else {
                Err(LogError::InvalidContainer { container: name.to_owned(), pod: pod_name })
            }
        }
        None => match items(pod, "/spec/containers") {
            [only] => Ok(name_of(only).to_owned()),
            [] => Err(LogError::NoContainers { pod: pod_name }),
            _ => {
                let choices = CONTAINER_FIELDS
                    .iter()
                    .flat_map(|f| items(pod, &format!("/spec/{f}")))
                    .map(|c| name_of(c).to_owned())
                    .collect();
                Err(LogError::ContainerRequired { pod: pod_name, choices })
            }
        },
    }
}

/// How one container instance ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Termination {
    /// `finishedAt`.
    pub at: Timestamp,
    /// `exitCode`.
    pub exit_code: i64,
    /// `reason` (`Completed`, `Error`, ...), possibly empty.
    pub reason: String,
}

/// One run of a container, whose log lines [`Instance::line`] writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    /// The container's name.
    pub container: String,
    /// What identifies this run: its `containerID` (or its start time, lacking one).
    pub id: String,
    /// The image, as the spec names it.
    pub image: String,
    /// The spec's `command`.
    pub command: Vec<String>,
    /// The spec's `args`.
    pub args: Vec<String>,
    /// `startedAt`.
    pub started: Timestamp,
    /// Set once the instance has terminated.
    pub ended: Option<Termination>,
}

fn timestamp(v: Option<&Value>) -> Option<Timestamp> {
    v.and_then(Value::as_str).and_then(|s| s.parse::<Timestamp>().ok())
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// The status of container `name` (containers, then init, then ephemeral containers, as
/// the kubelet looks it up).
fn container_status<'a>(pod: &'a Value, name: &str) -> Option<&'a Value> {
    STATUS_FIELDS.iter().flat_map(|f| items(pod, &format!("/status/{f}"))).find(|s| name_of(s) == name)
}

/// The instance of a `terminated` state (of `state` or `lastState`), `id` its
/// container id. `now` stands in for missing times.
fn terminated_instance(spec: &Value, name: &str, id: &str, t: &Value, now: Timestamp) -> Instance {
    let finished = timestamp(t.get("finishedAt")).or_else(|| timestamp(t.get("startedAt"))).unwrap_or(now);
    let started = timestamp(t.get("startedAt")).unwrap_or(finished);
    let mut inst = running_instance(spec, name, id, started);
    inst.ended = Some(Termination {
        at: finished.max(started),
        exit_code: t.get("exitCode").and_then(Value::as_i64).unwrap_or(0),
        reason: t.get("reason").and_then(Value::as_str).unwrap_or("").to_owned(),
    });
    inst
}

fn running_instance(spec: &Value, name: &str, id: &str, started: Timestamp) -> Instance {
    Instance {
        container: name.to_owned(),
        id: id.to_owned(),
        image: spec.get("image").and_then(Value::as_str).unwrap_or("").to_owned(),
        command: strings(spec.get("command")),
        args: strings(spec.get("args")),
        started,
        ended: None,
    }
}

/// The instance of container `name` whose log a request means (the kubelet's
/// `validateContainerLogStatus`): with `previous`, the last terminated one
/// (`lastState.terminated`); else the running one, or the terminated one. `name` must be
/// a container of the pod ([`select_container`]); `now` stands in for times the status
/// lacks.
pub fn instance(pod: &Value, name: &str, previous: bool, now: Timestamp) -> Result<Instance, LogError> {
    let err_names = || (name.to_owned(), pod_name(pod));
    let spec = CONTAINER_FIELDS
        .iter()
        .flat_map(|f| items(pod, &format!("/spec/{f}")))
        .find(|c| name_of(c) == name)
        .cloned()
        .unwrap_or(Value::Null);
    let Some(status) = container_status(pod, name) else {
        let (container, pod) = err_names();
        return Err(LogError::NotAvailable { container, pod });
    };
    let last = status.pointer("/lastState/terminated");
    let last_id = last.and_then(|t| t.get("containerID")).and_then(Value::as_str).filter(|id| !id.is_empty());
    let state = status.get("state").unwrap_or(&Value::Null);
    let status_id = status.get("containerID").and_then(Value::as_str).unwrap_or("");
    if previous {
        return match (last, last_id) {
            (Some(t), Some(id)) => Ok(terminated_instance(&spec, name, id, t, now)),
            _ => {
                let (container, pod) = err_names();
                Err(LogError::PreviousNotFound { container, pod })
            }
        };
    }
    if let Some(running) = state.get("running") {
        let started = timestamp(running.get("startedAt")).unwrap_or(now);
        let id = if status_id.is_empty() {
            running.get("startedAt").and_then(Value::as_str).unwrap_or("")
        } else {
            status_id
        };
        return Ok(running_instance(&spec, name, id, started));
    }
    if let Some(t) = state.get("terminated") {
        let own = t.get("containerID").and_then(Value::as_str).filter(|id| !id.is_empty());
        return match (own.or((!status_id.is_empty()).then_some(status_id)), last, last_id) {
            (Some(id), _, _) => Ok(terminated_instance(&spec, name, id, t, now)),
            (None, Some(l), Some(id)) => Ok(terminated_instance(&spec, name, id, l, now)),
            _ => {
                let (container, pod) = err_names();
                Err(LogError::Terminated { container, pod })
            }
        };
    }
    if let Some(t) = last {
        return match last_id {
            Some(id) => Ok(terminated_instance(&spec, name, id, t, now)),
            None => {
                let (container, pod) = err_names();
                Err(LogError::Terminated { container, pod })
            }
        };
    }
    let (container, pod) = err_names();
    match state.get("waiting") {
        Some(w) => {
            let reason = match w.get("reason").and_then(Value::as_str).unwrap_or("") {
                "ErrImagePull" => "image can't be pulled".to_owned(),
                "ImagePullBackOff" => "trying and failing to pull image".to_owned(),
                other => other.to_owned(),
            };
            Err(LogError::Waiting { container, pod, reason })
        }
        None => Err(LogError::NoLogsYet { container, pod }),
    }
}

fn nanos(ts: Timestamp) -> i128 {
    ts.as_nanosecond()
}

fn from_nanos(n: i128) -> Timestamp {
    Timestamp::from_nanosecond(n).unwrap_or(if n < 0 { Timestamp::MIN } else { Timestamp::MAX })
}

/// `ts` as the kubelet writes a line's timestamp: RFC 3339, nine fractional digits, UTC.
pub fn format_timestamp(ts: Timestamp) -> String {
    let whole = Timestamp::from_second(ts.as_second()).unwrap_or(ts).to_string();
    let base = whole.strip_suffix('Z').unwrap_or(&whole);
    format!("{base}.{:09}Z", ts.subsec_nanosecond().max(0))
}

impl Instance {
    /// How many periodic lines fall in `(started, until]`.
    fn ticks_until(&self, until: Timestamp, interval: Duration) -> u64 {
        let step = interval.as_nanos() as i128;
        let span = nanos(until) - nanos(self.started);
        if step == 0 || span < 0 {
            return 0;
        }
        u64::try_from(span / step).unwrap_or(u64::MAX - 2)
    }

    /// The periodic lines of a terminated instance.
    fn final_ticks(&self, interval: Duration) -> Option<u64> {
        self.ended.as_ref().map(|e| self.ticks_until(e.at, interval))
    }

    /// How many lines the instance has written by `now` (all of them, once terminated).
    pub fn written_by(&self, now: Timestamp, interval: Duration) -> u64 {
        match self.final_ticks(interval) {
            Some(ticks) => ticks + 2,
            None => 1 + self.ticks_until(now, interval),
        }
    }

    /// Whether line `index` is the last one this instance writes.
    pub fn is_last(&self, index: u64, interval: Duration) -> bool {
        self.exit_line(interval) == Some(index)
    }

    /// The index of the exit line, once the instance has terminated.
    pub fn exit_line(&self, interval: Duration) -> Option<u64> {
        self.final_ticks(interval).map(|t| t + 1)
    }

    /// When line `index` is (or will be) written.
    pub fn line_time(&self, index: u64, interval: Duration) -> Timestamp {
        match (&self.ended, self.final_ticks(interval)) {
            (Some(end), Some(ticks)) if index > ticks => end.at,
            _ => from_nanos(nanos(self.started) + interval.as_nanos() as i128 * i128::from(index)),
        }
    }

    /// The index of the first line written at or after `since` (kube's kubelet skips the
    /// lines before it); [`Instance::written_by`] when there is none yet.
    pub fn first_since(&self, since: Timestamp, now: Timestamp, interval: Duration) -> u64 {
        let written = self.written_by(now, interval);
        if since <= self.started {
            return 0;
        }
        let step = interval.as_nanos() as i128;
        let ticks = match self.final_ticks(interval) {
            Some(t) => t,
            None => written - 1,
        };
        if step > 0 {
            let span = nanos(since) - nanos(self.started);
            let k = u64::try_from((span + step - 1) / step).unwrap_or(u64::MAX);
            if k <= ticks {
                return k;
            }
        }
        match &self.ended {
            Some(end) if since <= end.at => ticks + 1,
            _ => written,
        }
    }

    /// The text of line `index` (with its newline), prefixed by its timestamp when
    /// `timestamps` is set.
    pub fn line(&self, index: u64, interval: Duration, timestamps: bool) -> String {
        let mut out = String::new();
        if timestamps {
            out.push_str(&format_timestamp(self.line_time(index, interval)));
            out.push(' ');
        }
        let name = &self.container;
        if index == 0 {
            out.push_str(&format!("container {name:?} started: image {:?}", self.image));
            if !self.command.is_empty() {
                out.push_str(&format!(", command {:?}", self.command));
            }
            if !self.args.is_empty() {
                out.push_str(&format!(", args {:?}", self.args));
            }
        } else if self.is_last(index, interval) {
            let end = self.ended.as_ref().map(|e| (e.exit_code, e.reason.as_str())).unwrap_or((0, ""));
            out.push_str(&format!("container {name:?} exited with code {}", end.0));
            if !end.1.is_empty() {
                out.push_str(&format!(" ({})", end.1));
            }
        } else {
            let up = interval.saturating_mul(u32::try_from(index).unwrap_or(u32::MAX));
            out.push_str(&format!(
                "container {name:?} is running: line {index}, up {}",
                ferrokube_apimachinery::duration::format(up)
            ));
        }
        out.push('\n');
        out
    }
}

/// Which lines a request shows, as the kubelet picks them: the last `tail_lines` (all
/// when `None`) of those written by `now`, less the ones before `since`.
pub fn window(
    inst: &Instance,
    now: Timestamp,
    interval: Duration,
    since: Option<Timestamp>,
    tail_lines: Option<u64>,
) -> std::ops::Range<u64> {
    let written = inst.written_by(now, interval);
    let from_tail = tail_lines.map_or(0, |t| written.saturating_sub(t));
    let from_since = since.map_or(0, |s| inst.first_since(s, now, interval));
    from_tail.max(from_since).min(written)..written
}

/// What a request asks of a log, already validated (kube's `PodLogOptions` less the
/// HTTP-only ones).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogRequest {
    /// The container (may be left out when the pod has one).
    pub container: Option<String>,
    /// The previous, terminated instance.
    pub previous: bool,
    /// Prefix every line with its timestamp.
    pub timestamps: bool,
    /// Only lines written at or after this time.
    pub since: Option<Timestamp>,
    /// Only the last this many lines.
    pub tail_lines: Option<u64>,
    /// Stop after this many bytes (the last line cut short).
    pub limit_bytes: Option<u64>,
}

/// Appends `text` to `out` within the byte budget `remaining` (no limit when `None`);
/// returns whether the budget is spent.
pub fn push_limited(out: &mut Vec<u8>, text: &[u8], remaining: &mut Option<u64>) -> bool {
    match remaining {
        None => {
            out.extend_from_slice(text);
            false
        }
        Some(left) => {
            let take = usize::try_from(*left).unwrap_or(usize::MAX).min(text.len());
            out.extend_from_slice(&text[..take]);
            *left -= take as u64;
            *left == 0
        }
    }
}

/// What a request finds written of a log at some time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// The instance whose log it is; `None` for a pod not bound to a node, whose log
    /// is empty (kube-apiserver has no kubelet to ask).
    pub instance: Option<Instance>,
    /// The lines (with the byte limit applied).
    pub bytes: Vec<u8>,
    /// The index of the next line to send, for a follower.
    pub next: u64,
    /// Whether `limit_bytes` is used up.
    pub spent: bool,
}

/// The log of `pod` a request gets at `now`, lines every `interval`: the pure core of
/// `GET pods/<name>/log` (a follower then sends the lines from `next` on as they come).
pub fn render(pod: &Value, req: &LogRequest, interval: Duration, now: Timestamp) -> Result<Rendered, LogError> {
    let container = select_container(pod, req.container.as_deref())?;
    let mut out = Rendered { instance: None, bytes: Vec::new(), next: 0, spent: req.limit_bytes == Some(0) };
    if pod.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or("").is_empty() {
        return Ok(out);
    }
    let inst = instance(pod, &container, req.previous, now)?;
    let range = window(&inst, now, interval, req.since, req.tail_lines);
    out.next = range.end;
    let mut budget = req.limit_bytes;
    if !out.spent {
        for i in range {
            if push_limited(&mut out.bytes, inst.line(i, interval, req.timestamps).as_bytes(), &mut budget) {
                out.spent = true;
                break;
            }
        }
    }
    out.instance = Some(inst);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const IV: Duration = Duration::from_secs(10);

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn pod(statuses: Value) -> Value {
        json!({
            "metadata": {"name": "web"},
            "spec": {"nodeName": "n1", "containers": [{"name": "app", "image": "nginx:1.27", "args": ["-g", "daemon off;"]}]},
            "status": {"containerStatuses": statuses},
        })
    }

    fn running(started: &str) -> Value {
        pod(json!([{"name": "app", "containerID": "containerd://a1", "state": {"running": {"startedAt": started}}}]))
    }

    fn text(pod: &Value, req: &LogRequest, now: &str) -> String {
        String::from_utf8(render(pod, req, IV, ts(now)).unwrap().bytes).unwrap()
    }

    #[test]
    fn running_container_writes_a_start_line_and_one_line_per_interval() {
        let p = running("2026-01-02T03:04:00Z");
        let log = text(&p, &LogRequest::default(), "2026-01-02T03:04:35Z");
        assert_eq!(
            log,
            "container \"app\" started: image \"nginx:1.27\", args [\"-g\", \"daemon off;\"]\n\
             container \"app\" is running: line 1, up 10s\n\
             container \"app\" is running: line 2, up 20s\n\
             container \"app\" is running: line 3, up 30s\n"
        );
        // A line is written exactly at its time.
        let at = text(&p, &LogRequest::default(), "2026-01-02T03:04:40Z");
        assert!(at.ends_with("line 4, up 40s\n"), "{at}");
        // Before its start (clock skew): the start line only.
        assert_eq!(text(&p, &LogRequest::default(), "2026-01-02T03:03:00Z").lines().count(), 1);
    }

    #[test]
    fn timestamps_are_the_kubelets_nine_digit_rfc3339() {
        let p = running("2026-01-02T03:04:00Z");
        let req = LogRequest { timestamps: true, ..Default::default() };
        let log = text(&p, &req, "2026-01-02T03:04:25Z");
        let stamps: Vec<&str> = log.lines().map(|l| l.split(' ').next().unwrap()).collect();
        assert_eq!(
            stamps,
            ["2026-01-02T03:04:00.000000000Z", "2026-01-02T03:04:10.000000000Z", "2026-01-02T03:04:20.000000000Z"]
        );
        assert_eq!(format_timestamp(ts("2026-01-02T03:04:05.05Z")), "2026-01-02T03:04:05.050000000Z");
    }

    #[test]
    fn terminated_container_ends_with_its_exit_line() {
        let p = pod(json!([{"name": "app", "containerID": "containerd://a1", "state": {"terminated": {
            "startedAt": "2026-01-02T03:04:00Z", "finishedAt": "2026-01-02T03:04:25Z",
            "exitCode": 3, "reason": "Error", "containerID": "containerd://a1"}}}]));
        let req = LogRequest { timestamps: true, ..Default::default() };
        // Long after it ended, the log is the same.
        let log = text(&p, &req, "2027-01-01T00:00:00Z");
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[3], "2026-01-02T03:04:25.000000000Z container \"app\" exited with code 3 (Error)");
        assert!(lines[2].starts_with("2026-01-02T03:04:20.000000000Z container \"app\" is running: line 2"));
    }

    #[test]
    fn tail_since_and_limit_pick_like_the_kubelet() {
        let p = running("2026-01-02T03:04:00Z");
        let now = "2026-01-02T03:05:00Z"; // lines 0..=6
        let tail = text(&p, &LogRequest { tail_lines: Some(2), ..Default::default() }, now);
        assert_eq!(
            tail,
            "container \"app\" is running: line 5, up 50s\ncontainer \"app\" is running: line 6, up 1m0s\n"
        );
        assert_eq!(text(&p, &LogRequest { tail_lines: Some(0), ..Default::default() }, now), "");
        assert_eq!(text(&p, &LogRequest { tail_lines: Some(100), ..Default::default() }, now).lines().count(), 7);
        // since: lines at or after it; between two lines, from the next one.
        let since = |s: &str| LogRequest { since: Some(ts(s)), ..Default::default() };
        assert!(text(&p, &since("2026-01-02T03:04:40Z"), now).starts_with("container \"app\" is running: line 4,"));
        assert!(text(&p, &since("2026-01-02T03:04:41Z"), now).starts_with("container \"app\" is running: line 5,"));
        assert_eq!(text(&p, &since("2026-01-02T03:06:00Z"), now), "");
        assert_eq!(text(&p, &since("2020-01-01T00:00:00Z"), now).lines().count(), 7);
        // tail and since together: the later start wins.
        let both = LogRequest { since: Some(ts("2026-01-02T03:04:55Z")), tail_lines: Some(3), ..Default::default() };
        assert_eq!(text(&p, &both, now).lines().count(), 1);
        // limitBytes cuts the output, mid-line if need be.
        let limited = text(&p, &LogRequest { limit_bytes: Some(12), ..Default::default() }, now);
        assert_eq!(limited, "container \"a");
    }

    #[test]
    fn since_reaches_the_exit_line_of_a_terminated_instance() {
        let p = pod(json!([{"name": "app", "containerID": "containerd://a1", "state": {"terminated": {
            "startedAt": "2026-01-02T03:04:00Z", "finishedAt": "2026-01-02T03:04:25Z", "exitCode": 0,
            "reason": "Completed", "containerID": "containerd://a1"}}}]));
        let req = LogRequest { since: Some(ts("2026-01-02T03:04:21Z")), ..Default::default() };
        assert_eq!(text(&p, &req, "2026-01-02T04:00:00Z"), "container \"app\" exited with code 0 (Completed)\n");
    }

    #[test]
    fn a_year_of_log_is_windowed_by_arithmetic() {
        let p = running("2025-01-01T00:00:00Z");
        let req = LogRequest { tail_lines: Some(1), ..Default::default() };
        let log = text(&p, &req, "2026-01-01T00:00:00Z");
        assert_eq!(log, "container \"app\" is running: line 3153600, up 8760h0m0s\n");
    }

    #[test]
    fn container_choice_and_refusals_use_kubes_words() {
        let mut p = running("2026-01-02T03:04:00Z");
        p["spec"]["initContainers"] = json!([{"name": "init", "image": "busybox"}]);
        p["spec"]["containers"].as_array_mut().unwrap().push(json!({"name": "side", "image": "envoy"}));
        let err = |req: LogRequest| render(&p, &req, IV, ts("2026-01-02T03:05:00Z")).unwrap_err().to_string();
        assert_eq!(
            err(LogRequest::default()),
            "a container name must be specified for pod web, choose one of: [init app side]"
        );
        assert_eq!(
            err(LogRequest { container: Some("nope".into()), ..Default::default() }),
            "container nope is not valid for pod web"
        );
        assert_eq!(
            err(LogRequest { container: Some("side".into()), ..Default::default() }),
            "container \"side\" in pod \"web\" is not available"
        );
        assert_eq!(
            err(LogRequest { container: Some("app".into()), previous: true, ..Default::default() }),
            "previous terminated container \"app\" in pod \"web\" not found"
        );
        let waiting = pod(json!([{"name": "app", "state": {"waiting": {"reason": "ContainerCreating"}}}]));
        assert_eq!(
            render(&waiting, &LogRequest::default(), IV, ts("2026-01-02T03:05:00Z")).unwrap_err().to_string(),
            "container \"app\" in pod \"web\" is waiting to start: ContainerCreating"
        );
        let pulling = pod(json!([{"name": "app", "state": {"waiting": {"reason": "ImagePullBackOff"}}}]));
        assert_eq!(
            render(&pulling, &LogRequest::default(), IV, ts("2026-01-02T03:05:00Z")).unwrap_err().to_string(),
            "container \"app\" in pod \"web\" is waiting to start: trying and failing to pull image"
        );
    }

    #[test]
    fn previous_is_the_last_terminated_instance() {
        let p = pod(json!([{"name": "app", "containerID": "containerd://b2", "restartCount": 1,
            "state": {"running": {"startedAt": "2026-01-02T03:05:00Z"}},
            "lastState": {"terminated": {"startedAt": "2026-01-02T03:04:00Z", "finishedAt": "2026-01-02T03:04:15Z",
                "exitCode": 137, "reason": "OOMKilled", "containerID": "containerd://a1"}}}]));
        let req = LogRequest { previous: true, ..Default::default() };
        let log = text(&p, &req, "2026-01-02T03:09:00Z");
        assert_eq!(log.lines().count(), 3);
        assert!(log.ends_with("container \"app\" exited with code 137 (OOMKilled)\n"), "{log}");
        let inst = instance(&p, "app", true, ts("2026-01-02T03:09:00Z")).unwrap();
        assert_eq!(inst.id, "containerd://a1");
        // The current one started over.
        let now = text(&p, &LogRequest::default(), "2026-01-02T03:05:10Z");
        assert_eq!(now.lines().count(), 2);
        // Without a container id, there is no previous log (kubelet).
        let mut anon = p.clone();
        anon["status"]["containerStatuses"][0]["lastState"]["terminated"]["containerID"] = json!("");
        assert!(matches!(render(&anon, &req, IV, ts("2026-01-02T03:09:00Z")), Err(LogError::PreviousNotFound { .. })));
    }

    #[test]
    fn init_containers_have_logs_too() {
        let mut p = running("2026-01-02T03:04:00Z");
        p["spec"]["initContainers"] = json!([{"name": "init", "image": "busybox", "command": ["sh", "-c", "true"]}]);
        // As the simulated kubelet writes it: the id on the status, not on the state.
        p["status"]["initContainerStatuses"] = json!([{"name": "init", "containerID": "containerd://i0",
            "state": {"terminated": {"startedAt": "2026-01-02T03:03:59Z", "finishedAt": "2026-01-02T03:03:59Z",
                "exitCode": 0, "reason": "Completed"}}}]);
        let req = LogRequest { container: Some("init".into()), ..Default::default() };
        assert_eq!(
            text(&p, &req, "2026-01-02T03:05:00Z"),
            "container \"init\" started: image \"busybox\", command [\"sh\", \"-c\", \"true\"]\n\
             container \"init\" exited with code 0 (Completed)\n"
        );
    }

    #[test]
    fn a_pod_on_no_node_has_an_empty_log() {
        let mut p = running("2026-01-02T03:04:00Z");
        p["spec"]["nodeName"] = json!("");
        let r = render(&p, &LogRequest::default(), IV, ts("2026-01-02T04:00:00Z")).unwrap();
        assert!(r.bytes.is_empty() && r.instance.is_none());
        // The container is checked all the same.
        let bad = LogRequest { container: Some("x".into()), ..Default::default() };
        assert!(matches!(render(&p, &bad, IV, ts("2026-01-02T04:00:00Z")), Err(LogError::InvalidContainer { .. })));
    }

    #[test]
    fn zero_interval_writes_no_periodic_lines() {
        let p = running("2026-01-02T03:04:00Z");
        let log = render(&p, &LogRequest::default(), Duration::ZERO, ts("2026-01-02T04:00:00Z")).unwrap().bytes;
        assert_eq!(log.iter().filter(|b| **b == b'\n').count(), 1);
    }
}
