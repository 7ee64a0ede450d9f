//! What kube-controller-manager's `serviceaccount` and `root-ca-cert-publisher`
//! controllers do: every namespace that is not terminating gets a ServiceAccount
//! `default` and a ConfigMap `kube-root-ca.crt` holding the server's CA bundle
//! (`data["ca.crt"]`), recreated when deleted and corrected when changed.
//!
//! As on a real cluster this happens asynchronously, shortly after the namespace is
//! created: woken by watches on namespaces, service accounts and config maps, the
//! loop checks each live namespace and creates what is missing.

use std::time::Duration;

use serde_json::json;

use super::client::{is_conflict, is_not_found};
use super::informer::Waiter;
use super::{objects, Context};

/// The ConfigMap the root CA publisher maintains in every namespace.
pub const ROOT_CA_CONFIGMAP: &str = "kube-root-ca.crt";
/// Its key holding the CA bundle.
pub const ROOT_CA_KEY: &str = "ca.crt";
/// The annotation kube-controller-manager puts on it.
const ROOT_CA_DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using \
internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across \
distributions of Kubernetes clusters.";

/// One pass over the namespaces; `Some(delay)` to look again soon after a failure.
pub async fn reconcile(ctx: &Context) -> Option<Duration> {
    let c = &ctx.client;
    let (Some(accounts), Some(configmaps)) =
        (c.res.for_kind("v1", "ServiceAccount").cloned(), c.res.for_kind("v1", "ConfigMap").cloned())
    else {
        return None;
    };
    let namespaces = ctx.informers.list(&c.res.namespaces).await;
    let sa_client = c.as_user("system:serviceaccount:kube-system:service-account-controller");
    let ca_client = c.as_user("system:serviceaccount:kube-system:root-ca-cert-publisher");
    let mut retry = false;
    for ns_obj in namespaces.iter().filter(|n| !objects::is_deleting(n)) {
        let ns = objects::name(ns_obj);
        match c.get_opt(&accounts, Some(ns), "default").await {
            Ok(Some(_)) => {}
            Ok(None) => {
                let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}});
                match sa_client.create(&accounts, Some(ns), &sa).await {
                    Ok(_) => {}
                    Err(e) if is_conflict(&e) || e.code == 409 => {}
                    Err(e) if is_not_found(&e) || e.code == 403 => {} // namespace going away
                    Err(e) => {
                        tracing::debug!(namespace = %ns, error = %e.message, "creating the default ServiceAccount");
                        retry = true;
                    }
                }
            }
            Err(_) => retry = true,
        }
        let Some(ca) = ctx.options.root_ca_pem.as_deref() else { continue };
        let wanted = json!({ROOT_CA_KEY: ca});
        match c.get_opt(&configmaps, Some(ns), ROOT_CA_CONFIGMAP).await {
            Ok(Some(existing)) if existing.get("data") == Some(&wanted) => {}
            Ok(Some(mut existing)) => {
                if let Some(m) = existing.as_object_mut() {
                    m.insert("data".into(), wanted);
                }
                if let Err(e) = ca_client.update(&configmaps, &existing).await {
                    if !is_conflict(&e) && !is_not_found(&e) {
                        tracing::debug!(namespace = %ns, error = %e.message, "updating kube-root-ca.crt");
                    }
                    retry = true;
                }
            }
            Ok(None) => {
                let cm = json!({
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {
                        "name": ROOT_CA_CONFIGMAP,
                        "annotations": {"kubernetes.io/description": ROOT_CA_DESCRIPTION},
                    },
                    "data": wanted,
                });
                match ca_client.create(&configmaps, Some(ns), &cm).await {
                    Ok(_) => {}
                    Err(e) if e.code == 409 || is_not_found(&e) || e.code == 403 => {}
                    Err(e) => {
                        tracing::debug!(namespace = %ns, error = %e.message, "creating kube-root-ca.crt");
                        retry = true;
                    }
                }
            }
            Err(_) => retry = true,
        }
    }
    retry.then(|| (ctx.options.resync_period / 4).max(Duration::from_millis(10)))
}

/// The controller loop.
pub async fn run(ctx: Context, mut waiter: Waiter) {
    loop {
        let next = reconcile(&ctx).await;
        if !waiter.wait(next).await {
            return;
        }
    }
}
