//! ferrokube-apiserver: an embedded, Kubernetes-compatible API server.
//!
//! A test starts it in-process in milliseconds ([`EmbeddedServer::start`]); a user runs
//! the `ferrokube-apiserver` binary and points kubectl at it. Requests flow:
//!
//! ```text
//! TLS (rustls, HTTP/2 + HTTP/1.1) -> auth (client cert / token -> UserInfo)
//!   -> handlers (routing, discovery, content negotiation, Status errors)
//!   -> api::ApiRequest -> registry (per-resource semantics) -> storage (versioned store,
//!      watch history)
//! ```

pub mod api;
pub mod auth;
pub mod handlers;
pub mod registry;
pub mod storage;
