//! `transport`: everything between a finished [`rest::Request`](crate::rest::Request) and
//! the bytes on the wire — TLS (rustls with the provider of the `aws-lc-rs` or `ring`
//! feature), authentication headers (bearer token, token file, basic auth, dynamic
//! credentials), impersonation, the user agent, proxies and user middleware.
//!
//! `transport` depends on no other module of the request path: `rest` turns its
//! `rest::Config` into a transport [`Config`]
//! ([`rest::Config::transport_config`](crate::rest::Config::transport_config), as
//! client-go's `TransportConfig`) and builds one [`Transport`] per client from it. In
//! there, [`tls`] makes the rustls configuration, [`proxy`] decides the route,
//! [`connector`] turns both into a pooled HTTP/1.1 + HTTP/2 client, the [`hooks`] wrap it
//! in the user's tower layers, and [`headers`] stamps each request with its credentials.
//! [`auth`] is the seam through which `clientcmd` plugs in exec plugins and the `oidc`
//! provider. Failures are the transport's own [`errors`], which `rest::Error` carries.
pub mod auth;
pub mod body;
mod client;
pub mod config;
pub mod connector;
pub mod errors;
pub mod headers;
pub mod hooks;
pub mod proxy;
pub mod tls;

pub use client::Transport;
pub use config::Config;
