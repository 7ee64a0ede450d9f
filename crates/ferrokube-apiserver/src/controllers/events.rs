//! core/v1 Events recorded by the controllers and the kubelet, so that
//! `kubectl describe` and `kubectl get events` show what happened (`Scheduled`,
//! `Pulled`, `Created`, `Started`, `SuccessfulCreate`, `ScalingReplicaSet`, ...).
//!
//! Events are written like client-go's event recorder writes them: a `v1` Event in
//! the object's namespace with `involvedObject`, `reason`, `message`, `type`,
//! `source.component`, first/last timestamps and `count: 1`. Failures are logged and
//! otherwise ignored; an Event is never worth failing a reconcile for.

use serde_json::{json, Value};

use super::cache::Selection;
use super::kube_api::KubeApi;
use super::objects::{self, AsJson, Json};

/// Records one Event about `obj` (which must carry `kind` and `apiVersion`).
pub async fn record<A: KubeApi, O: AsJson + Sync + ?Sized>(
    client: &A,
    obj: &O,
    ty: &str,
    reason: &str,
    message: &str,
    component: &str,
) {
    record_from(client, obj, ty, reason, message, component, None).await;
}

/// Records one Event about `obj` from `component` on `host` (a kubelet's node: the
/// Event's `source.host` and `reportingInstance`).
pub async fn record_from<A: KubeApi, O: AsJson + Sync + ?Sized>(
    client: &A,
    obj: &O,
    ty: &str,
    reason: &str,
    message: &str,
    component: &str,
    host: Option<&str>,
) {
    let obj = obj.json();
    let ns = objects::namespace(obj).unwrap_or("default").to_owned();
    let name = objects::name(obj);
    let now = objects::now();
    let event = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": format!("{name}."), "namespace": ns},
        "involvedObject": {
            "apiVersion": obj.get("apiVersion").map(Json::to_value).unwrap_or(Value::Null),
            "kind": obj.get("kind").map(Json::to_value).unwrap_or(Value::Null),
            "name": name,
            "namespace": objects::namespace(obj),
            "uid": objects::uid(obj),
            "resourceVersion": objects::at(obj, &["metadata", "resourceVersion"]).map(Json::to_value).unwrap_or(Value::Null),
        },
        "reason": reason,
        "message": message,
        "type": ty,
        "source": match host {
            Some(host) => json!({"component": component, "host": host}),
            None => json!({"component": component}),
        },
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "reportingComponent": component,
        "reportingInstance": host.unwrap_or(""),
    });
    if let Err(e) = client.create(&client.resources().events, Some(&ns), &event).await {
        tracing::debug!(reason, error = %e.message, "could not record event");
    }
}

/// What the expiry reads of an Event: its key and its times. The cache holds only
/// these (a pod brings five Events, and their whole trees would outweigh the pod's).
pub const EXPIRY: Selection = Selection {
    name: "event-ttl",
    keep: |_| true,
    keeps_cached: |_| true,
    fields: Some(&[
        &["metadata", "name"],
        &["metadata", "namespace"],
        &["metadata", "resourceVersion"],
        &["metadata", "creationTimestamp"],
        &["lastTimestamp"],
        &["eventTime"],
    ]),
};

/// Deletes Events older than the TTL (kube-apiserver's `--event-ttl`, 1 hour by
/// default), judged by `lastTimestamp`, else `eventTime`, else `creationTimestamp`.
pub async fn expire(ctx: &super::Context) {
    let c = &ctx.client;
    let ttl = i64::try_from(ctx.options.event_ttl.as_secs()).unwrap_or(i64::MAX);
    let now = objects::now_secs();
    let events = ctx.informers.list_selected(&c.res.events, EXPIRY).await;
    for e in events {
        let stamp: &[&[&str]] = &[&["lastTimestamp"], &["eventTime"], &["metadata", "creationTimestamp"]];
        let stamp = stamp.iter().find_map(|p| objects::at(&e, p).and_then(Json::as_str).and_then(objects::parse_time));
        if stamp.is_some_and(|t| now.saturating_sub(t) > ttl) {
            let _ = c.delete(&c.res.events, objects::namespace(&e), objects::name(&e), &json!({})).await;
        }
    }
}

/// The Event expiry loop (runs on the resync period).
pub async fn run(ctx: super::Context, mut waiter: super::informer::Waiter) {
    loop {
        expire(&ctx).await;
        if !waiter.wait(None).await {
            return;
        }
    }
}
