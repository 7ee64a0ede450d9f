//! Pod-specific verbs of the typed client (client-go `PodExpansion`): logs, eviction,
//! binding, ephemeral containers; and `serviceaccounts/<name>/token`.

use http::Method;
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{Binding, Pod, ServiceAccount};
use k8s_openapi::api::policy::v1::Eviction;
use serde::{Deserialize, Serialize};

use super::resource::{send_discard, ResourceClient};
use crate::rest::{BodyStream, CreateOptions, Error, UpdateOptions};

/// Query options of `pods/<name>/log` (`core/v1.PodLogOptions`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogOptions {
    /// The container; required when the pod has more than one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Keep the stream open and send new lines as they are written.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub follow: bool,
    /// Only the last this many lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tail_lines: Option<i64>,
    /// Only lines newer than this many seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since_seconds: Option<i64>,
    /// Only lines written at or after this RFC 3339 time (at most one of this and
    /// `since_seconds`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since_time: Option<String>,
    /// Prefix every line with its RFC 3339 timestamp.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub timestamps: bool,
    /// Logs of the previous, terminated instance of the container.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub previous: bool,
    /// Stop after this many bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_bytes: Option<i64>,
}

impl ResourceClient<Pod> {
    /// Streams the log of pod `name` as byte chunks as they arrive (with
    /// `follow: true`, until the container stops or the stream is dropped). No
    /// client-side timeout applies.
    pub async fn logs(&self, name: &str, opts: &LogOptions) -> Result<BodyStream, Error> {
        self.object_request(Method::GET, name, Some("log")).versioned_params(opts).stream().await
    }

    /// Evicts pod `name` through `pods/<name>/eviction`, honouring
    /// PodDisruptionBudgets (429 when a budget forbids it now).
    pub async fn evict(&self, name: &str, eviction: &Eviction) -> Result<(), Error> {
        send_discard(self.object_request(Method::POST, name, Some("eviction")).body(eviction)).await
    }

    /// Binds pod `name` to a node (`pods/<name>/binding`), as a scheduler does.
    pub async fn bind(&self, name: &str, binding: &Binding, opts: &CreateOptions) -> Result<(), Error> {
        send_discard(self.object_request(Method::POST, name, Some("binding")).versioned_params(opts).body(binding))
            .await
    }

    /// Replaces the ephemeral containers of `pod` (PUT
    /// `pods/<name>/ephemeralcontainers`), e.g. to attach a debug container.
    pub async fn update_ephemeral_containers(&self, pod: &Pod, opts: &UpdateOptions) -> Result<Pod, Error> {
        let name = pod.metadata.name.as_deref().unwrap_or("");
        self.object_request(Method::PUT, name, Some("ephemeralcontainers"))
            .versioned_params(opts)
            .body(pod)
            .into_object()
            .await
    }
}

impl ResourceClient<ServiceAccount> {
    /// Requests a token for service account `name` (`serviceaccounts/<name>/token`).
    pub async fn create_token(
        &self,
        name: &str,
        request: &TokenRequest,
        opts: &CreateOptions,
    ) -> Result<TokenRequest, Error> {
        self.object_request(Method::POST, name, Some("token")).versioned_params(opts).body(request).into_object().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_options_query() {
        let c = crate::kubernetes::json_client(&crate::rest::Config::new("http://h:1")).unwrap();
        let pods = ResourceClient::<Pod>::namespaced(c, "ns");
        let o = LogOptions { container: Some("app".into()), follow: true, tail_lines: Some(10), ..Default::default() };
        let url = pods.object_request(Method::GET, "p", Some("log")).versioned_params(&o).url();
        assert_eq!(url, "http://h:1/api/v1/namespaces/ns/pods/p/log?container=app&follow=true&tailLines=10");
    }
}
