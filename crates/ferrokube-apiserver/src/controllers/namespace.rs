//! The namespace controller: finishes the deletion of Terminating namespaces.
//!
//! The registry's DELETE of a namespace already marks it Terminating
//! (`deletionTimestamp`, `status.phase: Terminating`), deletes its content and removes
//! it when nothing is left. Content that cannot go at once (objects with finalizers,
//! such as an owner deleted in foreground, or pods that are terminating) keeps it
//! Terminating; this controller then keeps deleting whatever is left in it and, once
//! it is empty, removes the `kubernetes` finalizer from `spec.finalizers` (through the
//! `finalize` subresource when served, else an update) and deletes the namespace again
//! so the registry removes it.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::client::{is_conflict, is_not_found};
use super::compact::Node;
use super::informer::Waiter;
use super::json::Json;
use super::{objects, Context};
use crate::api::ResourceInfo;

/// The finalizer kube puts in every namespace's `spec.finalizers`.
pub const KUBERNETES_FINALIZER: &str = "kubernetes";

/// Deletes what is left in namespace `ns`; returns how many objects remain.
async fn delete_content(ctx: &Context, ns: &str, resources: &[Arc<ResourceInfo>]) -> usize {
    let c = &ctx.client;
    let mut remaining = 0;
    for info in resources.iter().filter(|r| r.namespaced) {
        let items = match c.list_items(info, Some(ns)).await {
            Ok(items) => items,
            Err(e) => {
                tracing::debug!(resource = %info.plural, error = %e.message, "namespace controller: list failed");
                remaining += 1;
                continue;
            }
        };
        for item in items {
            remaining += 1;
            if objects::is_deleting(&item) {
                continue;
            }
            let opts = json!({"propagationPolicy": "Background"});
            match c.delete(info, Some(ns), objects::name(&item), &opts).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) || is_conflict(&e) => {}
                Err(e) => {
                    tracing::warn!(object = %objects::name(&item), error = %e.message, "namespace controller: delete failed")
                }
            }
        }
    }
    remaining
}

/// Removes the `kubernetes` finalizer from `spec.finalizers`.
async fn finalize(ctx: &Context, ns_obj: &Node) -> Option<Value> {
    let c = &ctx.client;
    let mut updated = ns_obj.to_value();
    let fins: Vec<Value> = objects::array_at(ns_obj, &["spec", "finalizers"])
        .iter()
        .filter(|f| f.as_str() != Some(KUBERNETES_FINALIZER))
        .map(Json::to_value)
        .collect();
    if let Some(m) = updated.as_object_mut() {
        m.insert("spec".into(), json!({"finalizers": fins}));
    }
    match c.put(&c.res.namespaces, &updated, Some("finalize")).await {
        Ok(o) => return Some(o),
        Err(e) if e.code == 404 || e.code == 405 => {}
        Err(e) => {
            tracing::debug!(error = %e.message, "namespace controller: finalize failed");
            return None;
        }
    }
    match c.update(&c.res.namespaces, &updated).await {
        Ok(o) => Some(o),
        Err(e) => {
            tracing::debug!(error = %e.message, "namespace controller: finalizer update failed");
            None
        }
    }
}

/// One pass over the namespaces; requeues while some are still Terminating.
pub async fn reconcile(ctx: &Context) -> Option<Duration> {
    let c = &ctx.client;
    let namespaces = ctx.informers.list(&c.res.namespaces).await;
    let mut pending = false;
    for ns_obj in namespaces.into_iter().filter(objects::is_deleting) {
        let ns = objects::name(&ns_obj).to_owned();
        let resources = c.populated_resources(&c.live_index());
        if delete_content(ctx, &ns, &resources).await > 0 {
            pending = true;
            continue;
        }
        let has_finalizer = objects::array_at(&ns_obj, &["spec", "finalizers"])
            .iter()
            .any(|f| f.as_str() == Some(KUBERNETES_FINALIZER));
        if has_finalizer && finalize(ctx, &ns_obj).await.is_none() {
            pending = true;
            continue;
        }
        match c.delete(&c.res.namespaces, None, &ns, &json!({})).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                tracing::debug!(namespace = %ns, error = %e.message, "namespace controller: delete failed");
                pending = true;
            }
        }
        // Still there (metadata finalizers)? Look again later.
        if let Ok(Some(_)) = c.get_opt(&c.res.namespaces, None, &ns).await {
            pending = true;
        }
    }
    pending.then(|| (ctx.options.resync_period / 4).max(Duration::from_millis(10)))
}

/// The namespace controller loop.
pub async fn run(ctx: Context, mut waiter: Waiter) {
    loop {
        let next = reconcile(&ctx).await;
        if !waiter.wait(next).await {
            return;
        }
    }
}
