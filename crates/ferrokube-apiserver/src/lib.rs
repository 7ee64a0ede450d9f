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
//! Authorization is RBAC, as kube-apiserver's (`auth::rbac`, the bootstrap roles and
//! bindings of Kubernetes 1.37, escalation checks, access reviews, impersonation);
//! [`AuthorizationMode::AlwaysAllow`] turns it off.
//!
//! # Public surface
//!
//! Deliberately small: [`EmbeddedServer`] with [`ServerOptions`] (what tests and the
//! binary use); the pieces other crates reuse — [`registry::Registry`] with the
//! request types of [`api`] (in-process requests without HTTP; the bench and the
//! differential suite), [`storage::StoreConfig`], [`catalog::Catalog`],
//! [`tls::CertAuthority`], the pure patch functions of [`patch`], and of
//! [`controllers`] the node, kubelet and API-call trait that `ferrokube-kubelet` runs
//! over HTTP; [`AuthorizationMode`]. `handlers`, `auth`, `apiextensions`, `openapi`,
//! `object`, the server's start-up code, the registry's internals and the workload
//! controllers are crate-private.

pub mod api;
pub(crate) mod apiextensions;
pub(crate) mod auth;
pub mod catalog;
pub mod controllers;
pub(crate) mod handlers;
pub(crate) mod object;
pub(crate) mod openapi;
pub mod patch;
pub(crate) mod podlogs;
pub mod registry;
mod server;
pub mod storage;
pub mod tls;

pub use auth::rbac::AuthorizationMode;
pub use server::{EmbeddedServer, SecretToken, ServerOptions, StartError, SHUTDOWN_GRACE};
