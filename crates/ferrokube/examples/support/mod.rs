//! What every example shares: its command line (`--kubeconfig PATH`, `--embedded`,
//! `--once`) and how it finds a cluster.
//!
//! Like client-go's examples, a program loads the kubeconfig the way kubectl does. When
//! no kubeconfig can be found (no `--kubeconfig`, no file in `KUBECONFIG`, no
//! `~/.kube/config`) or `--embedded` is given, it starts ferrokube's embedded API
//! server in-process instead, and says so on its first line of output.

#![allow(dead_code)] // each example uses a different part of this module

use std::path::PathBuf;

use ferrokube::clientcmd::{self, ClientConfig, ClientConfigLoadingRules, ConfigOverrides, DirectClientConfig};
use ferrokube::rest;
use ferrokube_apiserver::{EmbeddedServer, ServerOptions};

/// The flags the examples understand.
#[derive(Debug, Default)]
pub struct Flags {
    /// `--kubeconfig PATH`: the only kubeconfig file to read.
    pub kubeconfig: Option<PathBuf>,
    /// `--embedded`: use an in-process embedded API server even if a cluster is configured.
    pub embedded: bool,
    /// `--once`: do the work once instead of repeating (for scripts).
    pub once: bool,
}

impl Flags {
    /// Parses the process arguments; an unknown flag or a missing value is an error that
    /// names it.
    pub fn parse() -> Result<Flags, String> {
        Self::parse_from(std::env::args().skip(1))
    }

    /// Parses the process arguments, taking out `switch` (an example's own boolean flag,
    /// such as `--forever`) first: the shared flags and whether the switch was given.
    pub fn parse_with_switch(switch: &str) -> Result<(Flags, bool), String> {
        let (own, shared): (Vec<String>, Vec<String>) = std::env::args().skip(1).partition(|a| a == switch);
        Ok((Self::parse_from(shared)?, !own.is_empty()))
    }

    /// Parses `args` (without the program name).
    pub fn parse_from(args: impl IntoIterator<Item = String>) -> Result<Flags, String> {
        let mut flags = Flags::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--kubeconfig" => {
                    let value = args.next().ok_or("flag --kubeconfig needs a path")?;
                    flags.kubeconfig = Some(PathBuf::from(value));
                }
                s if s.starts_with("--kubeconfig=") => {
                    flags.kubeconfig = Some(PathBuf::from(&s["--kubeconfig=".len()..]));
                }
                "--embedded" => flags.embedded = true,
                "--once" => flags.once = true,
                other => {
                    return Err(format!("unknown argument {other:?} (expected --kubeconfig PATH, --embedded, --once)"))
                }
            }
        }
        Ok(flags)
    }
}

/// The cluster an example talks to: a configured one, or an embedded server that lives
/// as long as this value.
pub struct Cluster {
    /// How to reach it.
    pub config: rest::Config,
    /// The embedded server, when one was started.
    pub embedded: Option<EmbeddedServer>,
}

impl Cluster {
    /// Finds the cluster as described in the module docs. Prints one line saying which
    /// cluster is used when it is an embedded one.
    pub async fn connect(flags: &Flags) -> Result<Cluster, Box<dyn std::error::Error>> {
        if let Some(path) = &flags.kubeconfig {
            let config = clientcmd::build_config_from_flags(None, Some(path))?;
            return Ok(Cluster { config, embedded: None });
        }
        let rules = ClientConfigLoadingRules::default();
        let configured = rules.files().iter().any(|f| f.is_file());
        if configured && !flags.embedded {
            let config =
                clientcmd::DeferredLoadingClientConfig::new(rules, ConfigOverrides::default()).client_config()?;
            return Ok(Cluster { config, embedded: None });
        }
        let server = EmbeddedServer::start(ServerOptions::default()).await?;
        let why = if flags.embedded { "--embedded given" } else { "no kubeconfig found" };
        println!("Using an embedded ferrokube API server at {} ({why})", server.url());
        let kubeconfig = clientcmd::load_from_str(&server.kubeconfig_yaml(), std::path::Path::new("<embedded>"))?;
        let config = DirectClientConfig::new(kubeconfig, ConfigOverrides::default()).client_config()?;
        Ok(Cluster { config, embedded: Some(server) })
    }

    /// Stops the embedded server, if any.
    pub async fn shutdown(self) {
        if let Some(server) = self.embedded {
            server.shutdown().await;
        }
    }
}

/// Calls `check` every 100 ms until it returns `true`; gives up after `within` with an
/// error naming `what`.
pub async fn wait_until<F, Fut>(
    within: std::time::Duration,
    what: &str,
    mut check: F,
) -> Result<(), Box<dyn std::error::Error>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, ferrokube::rest::Error>>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !check().await? {
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("timed out after {within:?} waiting for {what}").into());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Ok(())
}
