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
