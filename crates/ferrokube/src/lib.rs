//! ferrokube: a Kubernetes client for Rust with the reach of Go's client-go.
//!
//! The request path mirrors client-go's packages:
//!
//! ```text
//! kubeconfig file(s) -> clientcmd (merge, pick context, resolve auth)
//!   -> rest::Config -> transport (TLS, auth headers, proxy)
//!   -> rest::RESTClient -> rest::Request (verb, namespace, resource, name, ...)
//!   -> rate limiter -> HTTP -> Status error or decoded object / watch::WatchEvent stream
//! ```
//!
//! Each module's documentation says which step it is and how it hands on to the next.
//!
//! # Cargo features
//!
//! The defaults give client-go's reach: every kubeconfig kubectl accepts works. An
//! application that needs less sets `default-features = false` and lists what it
//! wants (at least one crypto provider, unless it installs a rustls provider itself).
//! With a feature off its code is compiled out, and a kubeconfig or server that asks for
//! it gets an error naming the feature
//! ([`clientcmd::Error::MissingFeature`], [`rest::ConfigError::MissingFeature`]), never
//! a panic.
//!
//! | feature | default | what it brings |
//! | --- | --- | --- |
//! | `aws-lc-rs` | yes | rustls' aws-lc-rs crypto provider (rustls' recommendation) |
//! | `ring` | no | rustls' ring provider instead (smaller build; aws-lc-rs wins when both are on) |
//! | `exec` | yes | exec credential plugins (`clientcmd::exec`; tokio's `process`) |
//! | `oidc` | yes | the `oidc` auth-provider (`clientcmd::oidc`) |
//! | `socks5` | yes | `socks5://` and `socks5h://` proxies (HTTP CONNECT proxies need no feature) |
//! | `native-roots` | yes | the system's root certificates when a cluster names no CA (`rustls-native-certs`) |
//! | `gzip` | yes | asking servers for gzip and inflating responses (`flate2` stays: `Compact` uses it) |
//! | `metrics` | no | `tools::metrics::MetricsFacade` for the `metrics` crate |
//!
//! The embedded API server used by tests is a separate crate, `ferrokube-apiserver`
//! (a dev-dependency here); the library holds no test helper to gate.

pub mod clientcmd;
pub mod controller;
pub mod discovery;
pub mod dynamic;
pub mod kubernetes;
pub mod metadata;
pub mod parallel;
pub mod rest;
pub mod restmapper;
pub mod scale;
pub mod schema;
pub mod secret;
pub mod tools;
pub mod transport;
pub mod util;
pub mod watch;

pub use rest::{Config, RESTClient, Request};
