//! `transport::proxy`: whether and how connections to the API server go through a proxy.
//!
//! `rest::Config::proxy_url` wins when set (`http://` proxies are used through an HTTP
//! CONNECT tunnel, `socks5://`/`socks5h://` through SOCKS5). Otherwise the environment
//! decides, as Go's `http.ProxyFromEnvironment` does: `HTTPS_PROXY`/`https_proxy` for
//! https servers, `HTTP_PROXY`/`http_proxy` for http ones, with `NO_PROXY`/`no_proxy`
//! exceptions (host names, domain suffixes, `*`, IP addresses and CIDR ranges), and
//! never a proxy for `localhost` or loopback addresses. SOCKS5 needs the `socks5` Cargo
//! feature (on by default); without it a `socks5://` proxy is a
//! [`ConfigError::MissingFeature`]. The route is decided once per
//! client, because a client always talks to one host.

use http::Uri;
use hyper_util::client::proxy::matcher::Matcher;

use super::errors::{ConfigError, ProxyError};

/// How a client reaches its server.
#[derive(Clone)]
pub(crate) enum ProxyRoute {
    /// Connect directly.
    Direct,
    /// Through an HTTP CONNECT tunnel at `proxy`, with optional `Proxy-Authorization`.
    HttpConnect { proxy: Uri, auth: Option<http::HeaderValue> },
    /// Through a SOCKS5 proxy, with optional user name and password.
    #[cfg(feature = "socks5")]
    Socks5 { proxy: Uri, auth: Option<(String, String)>, remote_dns: bool },
}

impl std::fmt::Debug for ProxyRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProxyRoute::Direct => f.write_str("Direct"),
            ProxyRoute::HttpConnect { proxy, .. } => write!(f, "HttpConnect({})", strip_auth(proxy)),
            #[cfg(feature = "socks5")]
            ProxyRoute::Socks5 { proxy, .. } => write!(f, "Socks5({})", strip_auth(proxy)),
        }
    }
}

fn strip_auth(uri: &Uri) -> String {
    format!(
        "{}://{}",
        uri.scheme_str().unwrap_or("http"),
        uri.authority().map(|a| a.as_str().rsplit('@').next().unwrap_or_default()).unwrap_or_default()
    )
}

/// Decides the route to `server` from an explicit proxy URL or the environment.
pub(crate) fn route(server: &Uri, proxy_url: Option<&str>) -> Result<ProxyRoute, ConfigError> {
    match proxy_url.filter(|p| !p.is_empty()) {
        Some(p) => {
            let matcher = Matcher::builder().all(p.to_owned()).build();
            let route = route_with(server, &matcher, p)?;
            if matches!(route, ProxyRoute::Direct) {
                return Err(ConfigError::Proxy { proxy: redact(p), reason: ProxyError::NotAProxyUrl });
            }
            Ok(route)
        }
        None => {
            if is_loopback(server) {
                return Ok(ProxyRoute::Direct);
            }
            route_with(server, &Matcher::from_env(), "from HTTPS_PROXY/HTTP_PROXY/ALL_PROXY")
        }
    }
}

/// The proxy URL without user name and password, for messages.
pub(crate) fn redact(p: &str) -> String {
    match url::Url::parse(p) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => "<unparsable>".to_owned(),
    }
}

fn is_loopback(server: &Uri) -> bool {
    let Some(host) = server.host() else { return false };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>().map(|ip| ip.is_loopback()).unwrap_or(false)
}

/// The route `matcher` picks for `server`; `label` names the proxy source in errors.
pub(crate) fn route_with(server: &Uri, matcher: &Matcher, label: &str) -> Result<ProxyRoute, ConfigError> {
    let Some(intercept) = matcher.intercept(server) else { return Ok(ProxyRoute::Direct) };
    let proxy = intercept.uri().clone();
    match proxy.scheme_str() {
        Some("http") => Ok(ProxyRoute::HttpConnect { proxy, auth: intercept.basic_auth().cloned() }),
        #[cfg(feature = "socks5")]
        Some(s @ ("socks5" | "socks5h")) => Ok(ProxyRoute::Socks5 {
            auth: intercept.raw_auth().map(|(u, p)| (u.to_owned(), p.to_owned())),
            remote_dns: s == "socks5h",
            proxy,
        }),
        #[cfg(not(feature = "socks5"))]
        Some("socks5" | "socks5h") => Err(ConfigError::MissingFeature {
            feature: "socks5",
            needed_for: format!("the SOCKS5 proxy {}", strip_auth(&proxy)),
            hint: Some("an http:// proxy works without it"),
        }),
        other => Err(ConfigError::Proxy {
            proxy: if label.contains("://") { redact(label) } else { label.to_owned() },
            reason: ProxyError::UnsupportedScheme(other.unwrap_or("").to_owned()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    #[test]
    fn explicit_http_proxy_tunnels() {
        let r = route(&uri("https://k8s.example:6443"), Some("http://user:pw@proxy:3128")).unwrap();
        match &r {
            ProxyRoute::HttpConnect { proxy, auth } => {
                assert_eq!(proxy.host(), Some("proxy"));
                assert!(auth.is_some());
            }
            other => panic!("{other:?}"),
        }
        assert!(!format!("{r:?}").contains("pw"));
    }

    #[cfg(feature = "socks5")]
    #[test]
    fn explicit_socks5_proxy() {
        let r = route(&uri("https://k8s.example:6443"), Some("socks5://proxy:1080")).unwrap();
        assert!(matches!(r, ProxyRoute::Socks5 { remote_dns: false, .. }));
    }

    #[cfg(not(feature = "socks5"))]
    #[test]
    fn socks5_without_the_feature_names_it() {
        let err = route(&uri("https://k8s.example:6443"), Some("socks5://user:pw@proxy:1080")).unwrap_err();
        assert!(matches!(err, ConfigError::MissingFeature { feature: "socks5", .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("\"socks5\"") && msg.contains("socks5://proxy:1080"), "{msg}");
        assert!(!msg.contains("pw"), "{msg}");
    }

    #[test]
    fn unsupported_scheme_is_an_error() {
        let err = route(&uri("https://k8s.example:6443"), Some("ftp://proxy:21")).unwrap_err();
        assert!(err.to_string().contains("proxy"), "{err}");
    }

    #[test]
    fn no_proxy_rules() {
        let m = Matcher::builder().https("http://proxy:3128").no("internal.example, 10.0.0.0/8, exact.host").build();
        let direct = |s: &str| matches!(route_with(&uri(s), &m, "env").unwrap(), ProxyRoute::Direct);
        assert!(direct("https://api.internal.example:6443"));
        assert!(direct("https://10.1.2.3:6443"));
        assert!(direct("https://exact.host"));
        assert!(!direct("https://k8s.example:6443"));
        assert!(!direct("https://11.1.2.3:6443"));
        let all = Matcher::builder().https("http://proxy:3128").no("*").build();
        assert!(matches!(route_with(&uri("https://x:1"), &all, "env").unwrap(), ProxyRoute::Direct));
    }

    #[test]
    fn loopback_is_never_proxied_from_env() {
        assert!(is_loopback(&uri("https://127.0.0.1:6443")));
        assert!(is_loopback(&uri("https://[::1]:6443")));
        assert!(is_loopback(&uri("https://localhost:6443")));
        assert!(!is_loopback(&uri("https://10.0.0.1:6443")));
    }
}
