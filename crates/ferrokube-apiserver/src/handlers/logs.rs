//! `GET /api/v1/namespaces/<ns>/pods/<name>/log`: the HTTP side of the simulated
//! container logs of [`crate::podlogs`].
//!
//! [`serve`] does what kube-apiserver and the kubelet do between them, in their order
//! and words: decode the `PodLogOptions` query (400 with Go's parse error), validate it
//! (422 `PodLogOptions "<pod>" is invalid: ...`: negative `tailLines`, `limitBytes` or
//! `sinceSeconds` under 1, both `sinceSeconds` and `sinceTime`, any `stream` since the
//! `PodLogsQuerySplitStreams` gate is off in 1.37), read the pod (404), pick the
//! container and its instance (400, [`crate::podlogs::LogError`]); for a pod not bound
//! to a node there is no kubelet to ask, and the answer is kube-apiserver's 204 No Content. The answer is `text/plain`: the lines written so far, or with
//! `follow=true` a chunked stream that sends each line when its time comes (one chunk
//! per wake-up) and ends when the container instance terminates, the pod is deleted,
//! the server shuts down, or `limitBytes` is reached. While following, a watch on the
//! pod (through the registry, in-process) reports the instance's end at once; should the
//! watch end, the pod is read again and the watch reopened.
//!
//! The kubelet writes `finishedAt` in whole seconds, so a follower may have been sent
//! periodic lines stamped after the instance's end; its exit line still comes last, and
//! a later read shows the log up to `finishedAt`.
//!
//! `insecureSkipTLSVerifyBackend` is accepted and ignored (there is no backend).
//! A `sinceTime` is truncated to whole seconds, as kube-apiserver passes it on to the
//! kubelet.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{header, HeaderValue, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use jiff::Timestamp;
use serde_json::{json, Value};
use tokio::sync::watch;

use super::{full, status, ResponseBody};
use crate::api::{ApiError, ApiRequest, ApiResponse, ServedResponse, Verb, WatchEvent, WatchStream};
use crate::object::errors::{invalid_kind, FieldError};
use crate::podlogs::{self, Instance, LogRequest};
use crate::registry::Registry;

/// What serving a log needs besides the request.
#[derive(Clone)]
pub(super) struct LogContext {
    /// Where the pod is read and watched.
    pub registry: Arc<Registry>,
    /// Turns `true` when the server stops (ends followed logs).
    pub shutdown: watch::Receiver<bool>,
    /// Time between two periodic lines of a simulated container.
    pub interval: Duration,
}

/// The decoded query: what the log shows, and whether to follow it.
#[derive(Debug, PartialEq)]
struct Options {
    log: LogRequest,
    follow: bool,
}

/// Go's `%q` of a string (enough for what a query carries).
fn go_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn query_bool(req: &ApiRequest, key: &str) -> bool {
    req.query_param(key).is_some_and(|v| !(v == "0" || v.eq_ignore_ascii_case("false")))
}

/// An `int64` parameter as kube's parameter codec reads it (Go's `strconv.ParseInt`).
fn query_int64(req: &ApiRequest, key: &str) -> Result<Option<i64>, ApiError> {
    let Some(value) = req.query_param(key) else { return Ok(None) };
    value.parse::<i64>().map(Some).map_err(|e| {
        let why = match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => "value out of range",
            _ => "invalid syntax",
        };
        status::bad_request(format!("strconv.ParseInt: parsing {}: {why}", go_quote(value)))
    })
}

/// Go's `time.Parse(time.RFC3339, s)`, its error text the message.
fn parse_rfc3339(s: &str) -> Result<Timestamp, String> {
    const LAYOUT: &str = "2006-01-02T15:04:05Z07:00";
    let q = go_quote(s);
    let fail = |rest: &str, elem: &str| {
        format!("parsing time {q} as {}: cannot parse {} as {}", go_quote(LAYOUT), go_quote(rest), go_quote(elem))
    };
    // The layout's elements: digits of a width, or a literal.
    let elems: [(&str, usize); 11] = [
        ("2006", 4),
        ("-", 0),
        ("01", 2),
        ("-", 0),
        ("02", 2),
        ("T", 0),
        ("15", 2),
        (":", 0),
        ("04", 2),
        (":", 0),
        ("05", 2),
    ];
    let mut rest = s;
    let mut fields = Vec::new();
    for (elem, width) in elems {
        if width == 0 {
            match rest.strip_prefix(elem) {
                Some(r) => rest = r,
                None => return Err(fail(rest, elem)),
            }
        } else {
            let digits = rest.bytes().take(width).filter(u8::is_ascii_digit).count();
            if digits < width {
                return Err(fail(rest, elem));
            }
            fields.push(rest[..width].parse::<u32>().unwrap_or(0));
            rest = &rest[width..];
        }
    }
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        rest = &frac[n..];
    }
    let zone_ok = rest.starts_with('Z') || {
        let b = rest.as_bytes();
        b.len() >= 6 && (b[0] == b'+' || b[0] == b'-') && b[3] == b':'
    };
    if !zone_ok {
        return Err(fail(rest, "Z07:00"));
    }
    let zone_len = if rest.starts_with('Z') { 1 } else { 6 };
    if rest.len() > zone_len {
        return Err(format!("parsing time {q}: extra text: {}", go_quote(&rest[zone_len..])));
    }
    let ranges = [("month", 1, 12), ("day", 1, 31), ("hour", 0, 23), ("minute", 0, 59), ("second", 0, 59)];
    for ((what, lo, hi), v) in ranges.iter().zip(&fields[1..]) {
        if v < lo || v > hi {
            return Err(format!("parsing time {q}: {what} out of range"));
        }
    }
    s.parse::<Timestamp>().map_err(|_| format!("parsing time {q}: day out of range"))
}

/// Decodes and validates the query as kube-apiserver does (`PodLogOptions`), `name` the
/// pod's, `now` what `sinceSeconds` counts back from.
fn parse(req: &ApiRequest, name: &str, now: Timestamp) -> Result<Options, ApiError> {
    // Decoding, field by field in PodLogOptions' order: the first failure is a 400.
    let container = req.query_param("container").filter(|c| !c.is_empty()).map(str::to_owned);
    let follow = query_bool(req, "follow");
    let previous = query_bool(req, "previous");
    let since_seconds = query_int64(req, "sinceSeconds")?;
    let since_time = match req.query_param("sinceTime") {
        None => None,
        Some("" | "null") => Some(Timestamp::UNIX_EPOCH.min(now)),
        Some(s) => Some(parse_rfc3339(s).map_err(status::bad_request)?),
    };
    let timestamps = query_bool(req, "timestamps");
    let tail_lines = query_int64(req, "tailLines")?;
    let limit_bytes = query_int64(req, "limitBytes")?;
    let stream = req.query_param("stream");

    let mut errors = Vec::new();
    if let Some(n) = tail_lines.filter(|n| *n < 0) {
        errors.push(FieldError::invalid("tailLines", &json!(n), "must be greater than or equal to 0"));
    }
    if let Some(n) = limit_bytes.filter(|n| *n < 1) {
        errors.push(FieldError::invalid("limitBytes", &json!(n), "must be greater than 0"));
    }
    match (since_seconds, since_time) {
        (Some(_), Some(_)) => {
            errors.push(FieldError::forbidden("[]", "at most one of `sinceTime` or `sinceSeconds` may be specified"))
        }
        (Some(n), None) if n < 1 => {
            errors.push(FieldError::invalid("sinceSeconds", &json!(n), "must be greater than 0"))
        }
        _ => {}
    }
    if stream.is_some() {
        errors.push(FieldError::forbidden("stream", "may not be specified"));
    }
    if !errors.is_empty() {
        return Err(invalid_kind("", "PodLogOptions", name, &errors));
    }

    let since = match (since_seconds, since_time) {
        (Some(secs), _) => Some(podlogs_since(now, secs)),
        // Passed on to the kubelet in whole seconds.
        (None, Some(t)) => Some(Timestamp::from_second(t.as_second()).unwrap_or(t)),
        (None, None) => None,
    };
    let log = LogRequest {
        container,
        previous,
        timestamps,
        since,
        tail_lines: tail_lines.map(|n| n as u64),
        limit_bytes: limit_bytes.map(|n| n as u64),
    };
    Ok(Options { log, follow })
}

/// `now - secs` (the earliest time when that is before any representable one).
fn podlogs_since(now: Timestamp, secs: i64) -> Timestamp {
    now.checked_sub(jiff::SignedDuration::from_secs(secs)).unwrap_or(Timestamp::MIN)
}

fn text_stream_response(body: ResponseBody) -> Response<ResponseBody> {
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, private"));
    resp
}

/// kube-apiserver's answer when there is no kubelet to ask: 204, no body, no type.
fn no_content() -> Response<ResponseBody> {
    let mut resp = Response::new(full(Bytes::new()));
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, private"));
    resp
}

/// Reads the pod `template` names (a GET with no query).
async fn read_pod(registry: &Registry, template: &ApiRequest) -> Result<Arc<Value>, ApiError> {
    match registry.handle_served(template.clone()).await? {
        ServedResponse::Object { object, .. } => Ok(object),
        ServedResponse::Api(ApiResponse::Object { body, .. }) => Ok(Arc::new(body)),
        _ => Err(status::internal("reading the pod gave no object")),
    }
}

/// Serves `GET pods/<name>/log` (`req` is the pod's GET, the log options in its query).
pub(super) async fn serve(ctx: LogContext, req: ApiRequest) -> Result<Response<ResponseBody>, ApiError> {
    if req.verb != Verb::Get {
        // kube-apiserver routes only GET to pods/log.
        return Err(status::method_not_allowed());
    }
    let name = req.name.clone().unwrap_or_default();
    let now = Timestamp::now();
    let opts = parse(&req, &name, now)?;
    let mut template = req;
    template.verb = Verb::Get;
    template.query.clear();
    template.body = Bytes::new();
    template.content_type = None;
    let pod = read_pod(&ctx.registry, &template).await?;
    let rendered =
        podlogs::render(&pod, &opts.log, ctx.interval, now).map_err(|e| status::bad_request(e.to_string()))?;
    let podlogs::Rendered { instance, bytes, next, spent } = rendered;
    let inst = match instance {
        None => return Ok(no_content()),
        Some(inst) if opts.follow && !spent && inst.ended.is_none() => inst,
        Some(_) => return Ok(text_stream_response(full(Bytes::from(bytes)))),
    };
    let rv = pod.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or("").to_owned();
    let mut follow = Follow {
        registry: ctx.registry,
        template,
        watch: None,
        inst,
        next,
        interval: ctx.interval,
        timestamps: opts.log.timestamps,
        budget: opts.log.limit_bytes.map(|l| l.saturating_sub(bytes.len() as u64)),
        shutdown: ctx.shutdown,
        pending: Some(bytes),
        finished: false,
    };
    follow.open_watch(&rv).await;
    let chunks = futures_util::stream::unfold(follow, |mut f| async move {
        let chunk = f.next_chunk().await?;
        Some((Ok::<_, Infallible>(Frame::data(chunk)), f))
    });
    Ok(text_stream_response(StreamBody::new(chunks).boxed_unsync()))
}

/// A followed log: sends the lines as the instance writes them.
struct Follow {
    registry: Arc<Registry>,
    /// The pod's GET, for reading it again.
    template: ApiRequest,
    /// Events of the pod (`None` when none could be opened).
    watch: Option<WatchStream>,
    inst: Instance,
    /// The next line to send.
    next: u64,
    interval: Duration,
    timestamps: bool,
    budget: Option<u64>,
    shutdown: watch::Receiver<bool>,
    /// What the request found already written, sent first.
    pending: Option<Vec<u8>>,
    finished: bool,
}

/// How long a follower without a watch waits before reading the pod again.
const REREAD: Duration = Duration::from_secs(1);

impl Follow {
    /// Watches the pod from `rv` (left unwatched when that fails).
    async fn open_watch(&mut self, rv: &str) {
        let mut req = self.template.clone();
        req.verb = Verb::Watch;
        req.name = None;
        let name = self.template.name.clone().unwrap_or_default();
        req.query.insert("fieldSelector".into(), vec![format!("metadata.name={name}")]);
        req.query.insert("resourceVersion".into(), vec![rv.to_owned()]);
        self.watch = match self.registry.handle(req).await {
            Ok(ApiResponse::Watch(events)) => Some(events),
            _ => None,
        };
    }

    /// Reads the pod again and reopens the watch; false when the pod is gone or the
    /// instance is no more.
    async fn reread(&mut self) -> bool {
        let Ok(pod) = read_pod(&self.registry, &self.template).await else { return false };
        if !self.update(&pod) {
            return false;
        }
        let rv = pod.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or("").to_owned();
        self.open_watch(&rv).await;
        true
    }

    /// Takes the followed instance's state from `pod`; false when the pod no longer
    /// shows it (replaced by another run, or the container gone).
    fn update(&mut self, pod: &Value) -> bool {
        let now = Timestamp::now();
        for previous in [false, true] {
            if let Ok(inst) = podlogs::instance(pod, &self.inst.container, previous, now) {
                if inst.id == self.inst.id {
                    self.inst = inst;
                    return true;
                }
            }
        }
        false
    }

    fn line(&self, index: u64) -> String {
        self.inst.line(index, self.interval, self.timestamps)
    }

    /// The next chunk to send; `None` ends the stream.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        if let Some(first) = self.pending.take().filter(|b| !b.is_empty()) {
            return Some(Bytes::from(first));
        }
        loop {
            if self.finished {
                return None;
            }
            if let Some(exit) = self.inst.exit_line(self.interval) {
                // Terminated: the lines up to its end not sent yet, then the exit line
                // (whose time, in whole seconds, may be before lines already sent).
                self.finished = true;
                let mut out = Vec::new();
                let mut spent = false;
                for i in self.next.min(exit)..exit {
                    spent = podlogs::push_limited(&mut out, self.line(i).as_bytes(), &mut self.budget);
                    if spent {
                        break;
                    }
                }
                if !spent {
                    podlogs::push_limited(&mut out, self.line(exit).as_bytes(), &mut self.budget);
                }
                return Some(Bytes::from(out));
            }
            let now = Timestamp::now();
            let written = self.inst.written_by(now, self.interval);
            if self.next < written {
                let mut out = Vec::new();
                while self.next < written && !self.finished {
                    self.finished = podlogs::push_limited(&mut out, self.line(self.next).as_bytes(), &mut self.budget);
                    self.next += 1;
                }
                return Some(Bytes::from(out));
            }
            let due = self.inst.line_time(self.next, self.interval);
            let ahead = (due.as_nanosecond() - now.as_nanosecond()).clamp(1_000_000, u64::MAX as i128);
            let mut wait = Duration::from_nanos(ahead as u64);
            if self.watch.is_none() {
                wait = wait.min(REREAD);
            }
            let wake = {
                let shutdown = &mut self.shutdown;
                let watch = &mut self.watch;
                let event = async {
                    match watch.as_mut() {
                        Some(w) => w.next().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = shutdown.wait_for(|stop| *stop) => return None,
                    _ = tokio::time::sleep(wait) => None,
                    ev = event => Some(ev),
                }
            };
            match wake {
                // A line is due (and, without a watch, time to look at the pod).
                None => {
                    if self.watch.is_none() && !self.reread().await {
                        return None;
                    }
                }
                Some(Some(WatchEvent { event_type: "ADDED" | "MODIFIED", object })) => {
                    if !self.update(&object) {
                        return None;
                    }
                }
                Some(Some(WatchEvent { event_type: "DELETED", object })) => {
                    // Its last state may show the instance's end; either way no more
                    // lines come after that.
                    if !self.update(&object) || self.inst.ended.is_none() {
                        return None;
                    }
                }
                Some(Some(WatchEvent { event_type: "BOOKMARK", .. })) => {}
                // An error (history expired) or the watch ended: read the pod again.
                Some(_) => {
                    self.watch = None;
                    if !self.reread().await {
                        return None;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::UserInfo;
    use crate::catalog::Catalog;

    fn log_request(query: &str) -> ApiRequest {
        ApiRequest {
            verb: Verb::Get,
            resource: Catalog::builtin().lookup("", "v1", "pods").unwrap().clone(),
            namespace: Some("ns".into()),
            name: Some("web".into()),
            subresource: None,
            query: super::super::parse_query(Some(query)),
            body: Bytes::new(),
            content_type: None,
            user_agent: None,
            user: UserInfo::default(),
        }
    }

    fn parsed(query: &str) -> Result<Options, ApiError> {
        parse(&log_request(query), "web", "2026-01-02T03:04:05.5Z".parse().unwrap())
    }

    #[test]
    fn options_decode_as_kubes_parameter_codec() {
        let o = parsed("container=app&follow=true&previous=0&timestamps=yes&tailLines=3&limitBytes=10").unwrap();
        assert!(o.follow && o.log.timestamps && !o.log.previous);
        assert_eq!((o.log.container.as_deref(), o.log.tail_lines, o.log.limit_bytes), (Some("app"), Some(3), Some(10)));
        // sinceSeconds counts back from now; sinceTime is kept in whole seconds.
        let since = |q: &str| parsed(q).unwrap().log.since.map(|t| t.to_string());
        assert_eq!(since("sinceSeconds=5").as_deref(), Some("2026-01-02T03:04:00.5Z"));
        assert_eq!(since("sinceTime=2026-01-02T03:00:00.9Z").as_deref(), Some("2026-01-02T03:00:00Z"));
        assert_eq!(since("").as_deref(), None);
        let err = parsed("tailLines=x").unwrap_err();
        assert_eq!((err.code, err.message.as_str()), (400, r#"strconv.ParseInt: parsing "x": invalid syntax"#));
    }

    #[test]
    fn invalid_options_are_kubes_422() {
        let message = |q: &str| {
            let e = parsed(q).unwrap_err();
            assert_eq!(e.code, 422, "{q}");
            e.message
        };
        assert_eq!(
            message("sinceSeconds=1&sinceTime=2026-01-02T03:00:00Z"),
            "PodLogOptions \"web\" is invalid: []: Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified"
        );
        assert_eq!(message("stream=All"), "PodLogOptions \"web\" is invalid: stream: Forbidden: may not be specified");
        assert_eq!(
            message("sinceSeconds=-2"),
            "PodLogOptions \"web\" is invalid: sinceSeconds: Invalid value: -2: must be greater than 0"
        );
    }

    #[test]
    fn rfc3339_errors_read_like_gos() {
        assert!(parse_rfc3339("2026-01-02T03:04:05Z").is_ok());
        assert!(parse_rfc3339("2026-01-02T03:04:05.123+02:00").is_ok());
        assert_eq!(
            parse_rfc3339("yesterday").unwrap_err(),
            r#"parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as "2006""#
        );
        assert_eq!(
            parse_rfc3339("2026-01-02 03:04:05Z").unwrap_err(),
            r#"parsing time "2026-01-02 03:04:05Z" as "2006-01-02T15:04:05Z07:00": cannot parse " 03:04:05Z" as "T""#
        );
        assert_eq!(
            parse_rfc3339("2026-01-02T03:04:05").unwrap_err(),
            r#"parsing time "2026-01-02T03:04:05" as "2006-01-02T15:04:05Z07:00": cannot parse "" as "Z07:00""#
        );
        assert_eq!(
            parse_rfc3339("2026-13-02T03:04:05Z").unwrap_err(),
            r#"parsing time "2026-13-02T03:04:05Z": month out of range"#
        );
        assert_eq!(
            parse_rfc3339("2026-01-02T03:04:05Zjunk").unwrap_err(),
            r#"parsing time "2026-01-02T03:04:05Zjunk": extra text: "junk""#
        );
    }
}
