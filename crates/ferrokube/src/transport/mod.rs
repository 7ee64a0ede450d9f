//! `transport`: everything between a finished [`rest::Request`](crate::rest::Request) and
//! the bytes on the wire — TLS (rustls with the provider of the `aws-lc-rs` or `ring` feature), authentication headers
//! (bearer token, token file, basic auth, dynamic credentials), impersonation, the user
//! agent, and proxies.
//!
//! The [`RESTClient`](crate::rest::RESTClient) builds these pieces once from a
//! `rest::Config`: [`tls`] makes the rustls configuration, [`proxy`] decides the route,
//! [`connector`] turns both into a pooled HTTP/1.1 + HTTP/2 client, and [`headers`]
//! stamps each request with its credentials. [`auth`] is the seam through which
//! `clientcmd` plugs in exec plugins and the `oidc` provider.
pub mod auth;
pub mod connector;
pub mod headers;
pub mod proxy;
pub mod tls;
