//! ferrokube-apiserver: an embedded, Kubernetes-compatible API server.
//!
//! A test starts it in-process in milliseconds ([`EmbeddedServer::start`]); a user runs
//! the `ferrokube-apiserver` binary and points kubectl at it. Requests flow:
//!
//! ```text
//! TLS (rustls, HTTP/2 + HTTP/1.1)            tls, server
//!   -> auth (client cert / token -> UserInfo)  auth
//!   -> handlers (routing, discovery, content negotiation, Status errors)
//!                                              handlers, catalog
//!   -> api::ApiRequest -> registry (per-resource semantics) -> storage (versioned store,
//!      watch history)
//! ```
//!
//! The catalog of served resources is shared by handlers and registry
//! ([`catalog::SharedCatalog`]): writing a CustomResourceDefinition changes it, so its
//! resource is routed and listed in discovery as soon as the CRD is Established
//! (`apiextensions`).
//!
//! Authorization is "every authenticated user may do everything": RBAC is not
//! implemented.

pub mod api;
pub(crate) mod apiextensions;
pub mod auth;
pub mod catalog;
pub mod controllers;
pub mod handlers;
pub(crate) mod openapi;
pub mod patch;
pub mod registry;
pub mod server;
pub mod storage;
pub mod tls;

pub use server::{EmbeddedServer, SecretToken, ServerOptions, StartError};
