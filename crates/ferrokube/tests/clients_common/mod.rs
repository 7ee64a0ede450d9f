//! Shared setup of the `clients_*` integration tests: start the embedded API server
//! in-process and load its kubeconfig through `clientcmd`, as a user program would.
#![allow(dead_code)]

use std::path::Path;

use ferrokube::clientcmd::{ClientConfig, ConfigOverrides, DirectClientConfig};
use ferrokube_apiserver::{EmbeddedServer, ServerOptions};

/// A running embedded server and a client config for its admin user.
pub struct Env {
    pub server: EmbeddedServer,
    pub config: ferrokube::rest::Config,
}

pub async fn start() -> Env {
    // These tests check API semantics (subresources, conflicts, status), so no
    // controller writes to the objects behind their back.
    let options = ServerOptions { controllers: false, ..ServerOptions::default() };
    let server = EmbeddedServer::start(options).await.expect("embedded server starts");
    let yaml = server.kubeconfig_yaml();
    let raw = ferrokube::clientcmd::load_from_str(&yaml, Path::new("embedded.kubeconfig")).expect("kubeconfig parses");
    let mut config = DirectClientConfig::new(raw, ConfigOverrides::default()).client_config().expect("client config");
    // Tests issue many requests quickly; the client-side limiter is not under test.
    config.rate_limiter = ferrokube::rest::RateLimiterChoice::Disabled;
    Env { server, config }
}
