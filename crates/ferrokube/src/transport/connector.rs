//! `transport::connector`: the bottom of the request path — TCP (directly or through a
//! proxy), TLS, ALPN, and the pooled hyper client.
//!
//! `build_http_service` turns the transport parts of a `rest::Config` into an
//! [`HttpService`]: a hyper-util pooled client whose connector dials TCP (or tunnels
//! through a proxy, see [`proxy`](super::proxy)), then speaks TLS with the configuration
//! from [`tls`](super::tls), offering ALPN `h2` and `http/1.1`. Servers that accept `h2`
//! get one multiplexed HTTP/2 connection; others get pooled HTTP/1.1 connections. The
//! user's transport layers are wrapped around it by the
//! [`RESTClient`](crate::rest::RESTClient).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
#[cfg(feature = "socks5")]
use hyper_util::client::legacy::connect::proxy::SocksV5;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tower::Service;

use super::body::RequestBody;
use super::errors::{BoxError, ConfigError, TlsConfigError};
use super::hooks::{boxed_response_body, HttpService};
use super::proxy::ProxyRoute;

/// Dials TCP connections, directly or through a proxy.
#[derive(Clone)]
pub(crate) enum TcpConnector {
    Direct(HttpConnector),
    Tunnel(Tunnel<HttpConnector>),
    #[cfg(feature = "socks5")]
    Socks(SocksV5<HttpConnector>),
}

type Conn = TokioIo<tokio::net::TcpStream>;
type ConnFuture = Pin<Box<dyn Future<Output = Result<Conn, BoxError>> + Send>>;

impl Service<Uri> for TcpConnector {
    type Response = Conn;
    type Error = BoxError;
    type Future = ConnFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match self {
            TcpConnector::Direct(c) => c.poll_ready(cx).map_err(Into::into),
            TcpConnector::Tunnel(c) => c.poll_ready(cx).map_err(Into::into),
            #[cfg(feature = "socks5")]
            TcpConnector::Socks(c) => c.poll_ready(cx).map_err(|e| e.to_string().into()),
        }
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        match self {
            TcpConnector::Direct(c) => {
                let f = c.call(dst);
                Box::pin(async move { f.await.map_err(Into::into) })
            }
            TcpConnector::Tunnel(c) => {
                // The tunnel assumes port 443 when the URI has none; make it explicit.
                let f = c.call(with_explicit_port(dst));
                Box::pin(async move { f.await.map_err(|e| format!("proxy CONNECT tunnel: {e}").into()) })
            }
            #[cfg(feature = "socks5")]
            TcpConnector::Socks(c) => {
                let f = c.call(dst);
                Box::pin(async move { f.await.map_err(|e| format!("SOCKS5 proxy: {e}").into()) })
            }
        }
    }
}

fn with_explicit_port(uri: Uri) -> Uri {
    if uri.port().is_some() {
        return uri;
    }
    let (Some(host), Some(scheme)) = (uri.host(), uri.scheme_str()) else { return uri };
    let port = if scheme == "http" { 80 } else { 443 };
    format!("{scheme}://{host}:{port}/").parse().unwrap_or(uri)
}

fn tcp_connector(route: &ProxyRoute) -> TcpConnector {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(Duration::from_secs(30)));
    http.set_keepalive(Some(Duration::from_secs(30)));
    match route {
        ProxyRoute::Direct => TcpConnector::Direct(http),
        ProxyRoute::HttpConnect { proxy, auth } => {
            let t = Tunnel::new(proxy.clone(), http);
            TcpConnector::Tunnel(match auth {
                Some(a) => t.with_auth(a.clone()),
                None => t,
            })
        }
        #[cfg(feature = "socks5")]
        ProxyRoute::Socks5 { proxy, auth, remote_dns } => {
            let s = SocksV5::new(proxy.clone(), http).local_dns(!remote_dns);
            TcpConnector::Socks(match auth {
                Some((u, p)) => s.with_auth(u.clone(), p.clone()),
                None => s,
            })
        }
    }
}

/// The HTTP versions offered in ALPN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HttpVersions {
    Both,
    Http1,
    Http2,
}

impl HttpVersions {
    /// From `TlsClientConfig::next_protos`: empty = both.
    fn from_next_protos(protos: &[String]) -> Result<Self, ConfigError> {
        let (mut h1, mut h2) = (false, false);
        for p in protos {
            match p.as_str() {
                "http/1.1" => h1 = true,
                "h2" => h2 = true,
                other => {
                    return Err(ConfigError::Tls(TlsConfigError::UnsupportedProtocol { protocol: other.to_owned() }))
                }
            }
        }
        Ok(match (h1, h2) {
            (true, false) => HttpVersions::Http1,
            (false, true) => HttpVersions::Http2,
            _ => HttpVersions::Both,
        })
    }
}

/// Builds the pooled HTTP(S) client for one server.
pub(crate) fn build_http_service(
    tls: rustls::ClientConfig,
    server_name: Option<&str>,
    next_protos: &[String],
    route: &ProxyRoute,
) -> Result<HttpService, ConfigError> {
    let versions = HttpVersions::from_next_protos(next_protos)?;
    let builder = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http();
    let builder = match server_name {
        Some(name) => {
            let name = name.trim_start_matches('[').trim_end_matches(']').to_owned();
            let server_name = rustls::pki_types::ServerName::try_from(name.clone())
                .map_err(|source| ConfigError::Tls(TlsConfigError::ServerName { name: name.clone(), source }))?;
            builder.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(server_name))
        }
        None => builder,
    };
    let connector = match versions {
        HttpVersions::Both => builder.enable_all_versions().wrap_connector(tcp_connector(route)),
        HttpVersions::Http1 => builder.enable_http1().wrap_connector(tcp_connector(route)),
        HttpVersions::Http2 => builder.enable_http2().wrap_connector(tcp_connector(route)),
    };
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .http2_keep_alive_interval(Duration::from_secs(30))
        .http2_keep_alive_while_idle(false)
        .build::<_, RequestBody>(connector);
    let client = Arc::new(client);
    let svc = tower::service_fn(move |req: http::Request<RequestBody>| {
        let client = client.clone();
        async move {
            let resp = client.request(req).await.map_err(|e| Box::new(e) as BoxError)?;
            Ok::<_, BoxError>(resp.map(boxed_response_body))
        }
    });
    Ok(HttpService::new(svc))
}

#[cfg(test)]
mod tests {
    #[test]
    fn next_protos_choose_the_http_versions() {
        use super::HttpVersions;
        let v = |p: &[&str]| HttpVersions::from_next_protos(&p.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(v(&[]).unwrap(), HttpVersions::Both);
        assert_eq!(v(&["h2", "http/1.1"]).unwrap(), HttpVersions::Both);
        assert_eq!(v(&["http/1.1"]).unwrap(), HttpVersions::Http1);
        assert_eq!(v(&["h2"]).unwrap(), HttpVersions::Http2);
        let err = v(&["spdy/3"]).unwrap_err().to_string();
        assert!(err.contains("tls.next_protos") && err.contains("spdy/3"), "{err}");
    }

    use super::*;

    #[test]
    fn tunnel_targets_get_explicit_ports() {
        let p = |s: &str| with_explicit_port(s.parse().unwrap()).port_u16();
        assert_eq!(p("http://k8s.example/"), Some(80));
        assert_eq!(p("https://k8s.example/"), Some(443));
        assert_eq!(p("https://k8s.example:6443/"), Some(6443));
        assert_eq!(p("https://[::1]/"), Some(443));
    }
}
