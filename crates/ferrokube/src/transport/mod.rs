//! HTTP transport: TLS, authentication headers, impersonation, user agent, proxy.
pub mod auth;
