//! Kubernetes API machinery shared by the ferrokube client (`ferrokube`) and the embedded
//! server (`ferrokube-apiserver`), as `k8s.io/apimachinery` is shared by client-go and
//! kube-apiserver.
//!
//! What lives here is what both sides must get exactly alike, so it has one home:
//! - [`protobuf`]: the Kubernetes protobuf wire format of the built-in types
//!   (`application/vnd.kubernetes.protobuf`): the `k8s\0` + `runtime.Unknown` envelope and
//!   the field tables generated from the Kubernetes type definitions, with a decoder into
//!   the objects' JSON.
//! - [`labels`]: label selectors (`k8s.io/apimachinery/pkg/labels`): parsing with
//!   Kubernetes' grammar, validation and messages, matching, the string form, and the
//!   conversion of a `metav1.LabelSelector`; the client's listers and the server's
//!   list/watch, controllers and PodDisruptionBudgets all select through it.
//! - [`duration`]: Go durations (`time.ParseDuration`, `Duration.String()`), the text
//!   of `metav1.Duration`, the `timeout` parameter and command-line flags.
//! - [`x509`]: the parts of an X.509 certificate both ends read — the user and groups a
//!   client certificate names, and what checking an X.509 v1 certificate takes (webpki
//!   refuses v1; kube accepts it).
//! - [`wait`]: the backoff schedule and jitter (client-go `wait.Backoff`, `wait.Jitter`).
//! - With the `workqueue` feature (tokio's clock): [`workqueue`], the rate-limited work
//!   queues controllers hand keys through (client-go `util/workqueue`), and
//!   [`flowcontrol`], the token bucket of client-side rate limiting: the client's
//!   controller toolkit and the server's controllers share them.
//!
//! Dependencies point one way: `ferrokube` and `ferrokube-apiserver` depend on this crate;
//! it depends on neither, and on no Kubernetes version (it does not use k8s-openapi).

pub mod duration;
#[cfg(feature = "workqueue")]
pub mod flowcontrol;
pub mod labels;
pub mod protobuf;
pub mod wait;
#[cfg(feature = "workqueue")]
pub mod workqueue;
pub mod x509;
