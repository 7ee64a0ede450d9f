//! The command line of `ferrokube-kubelet`: flags, their checks, and what they turn
//! into (the client configuration and the [`KubeletOptions`]).
//!
//! Flag names follow the kubelet's where one exists (`--kubeconfig`,
//! `--node-lease-duration-seconds`, `--node-status-report-frequency`,
//! `--kube-api-qps`, `--kube-api-burst`) and kwok's otherwise. Durations are written
//! as Go writes them: `1s`, `500ms`, `1m30s`, `0`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Parser};

use ferrokube::clientcmd::{self, ClientConfig, ClientConfigLoadingRules, ConfigOverrides};
use ferrokube::rest;
use ferrokube_apimachinery::duration::{self, DurationError};
use ferrokube_apiserver::controllers::kubelet::KubeletOptions;
use ferrokube_apiserver::controllers::node::{NodeConfig, NodeLeaseOptions, MAX_NUMBERED_NODES};

/// Simulated nodes and their kubelet for any Kubernetes cluster: registers N Ready
/// Nodes, renews their Leases, and runs the pods bound to them (Pending ->
/// ContainerCreating -> Running/Ready, pod IPs, graceful deletion, Events) without
/// running any container.
///
/// The cluster is found like kubectl finds it: --kubeconfig, else $KUBECONFIG, else
/// ~/.kube/config, else the in-cluster service account. The user needs to write
/// nodes, nodes/status, pods/status, pods (delete), events and leases in
/// kube-node-lease (an admin kubeconfig does). Prints `nodes ready: NAME...` on
/// stdout once every node reports Ready; SIGTERM or Ctrl-C stops it (exit 0); the
/// Nodes stay registered, as a stopped kubelet's do.
#[derive(Debug, Parser)]
#[command(name = "ferrokube-kubelet", version)]
pub struct Args {
    /// Kubeconfig file to use (the only one read).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use instead of the current one.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// How many nodes to simulate.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub nodes: usize,
    /// Node names are this prefix followed by 0, 1, ... N-1.
    #[arg(long, default_value = "ferrokube-node-", value_name = "PREFIX")]
    pub node_name_prefix: String,
    /// Time a pod bound to a node spends in ContainerCreating before it is Running
    /// and Ready.
    #[arg(long, default_value = "1s", value_parser = parse_duration, value_name = "DURATION")]
    pub pod_startup_delay: Duration,
    /// Time a run-to-completion pod (restartPolicy Never or OnFailure) runs before it
    /// Succeeds.
    #[arg(long, default_value = "2s", value_parser = parse_duration, value_name = "DURATION")]
    pub pod_run_duration: Duration,
    /// Longest time a deleted pod stays Terminating (its grace period, when shorter,
    /// wins); then it is deleted with gracePeriodSeconds 0.
    #[arg(long, default_value = "1s", value_parser = parse_duration, value_name = "DURATION")]
    pub pod_termination_delay: Duration,
    /// Also act as the scheduler: bind unscheduled pods of the default scheduler to
    /// these nodes (for a cluster without kube-scheduler).
    #[arg(long)]
    pub schedule: bool,
    /// Duration of the node Leases in kube-node-lease, renewed every quarter of it; 0
    /// turns the Leases off.
    #[arg(long, default_value_t = 40, value_name = "SECONDS")]
    pub node_lease_duration_seconds: u64,
    /// How often a node's status is rewritten when nothing changed.
    #[arg(long, default_value = "5m", value_parser = parse_duration, value_name = "DURATION")]
    pub node_status_report_frequency: Duration,
    /// How often every pod and node is looked at again without a watch event.
    #[arg(long, default_value = "5s", value_parser = parse_duration, value_name = "DURATION")]
    pub resync_period: Duration,
    /// Record Events (Pulled, Created, Started, Killing).
    #[arg(long, action = ArgAction::Set, default_value_t = true, num_args = 0..=1, default_missing_value = "true")]
    pub record_events: bool,
    /// Requests per second to the API server (the client's rate limiter; 0 turns it
    /// off). Default: the kubelet's 50 per simulated node, as N kubelets would send.
    #[arg(long, value_name = "QPS")]
    pub kube_api_qps: Option<f32>,
    /// Burst of requests allowed above --kube-api-qps. Default: the kubelet's 100 per
    /// simulated node.
    #[arg(long, value_name = "N")]
    pub kube_api_burst: Option<u32>,
    /// More logging (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, action = ArgAction::Count)]
    pub verbose: u8,
}

/// A flag value that parsed but makes no sense, or a cluster that cannot be reached.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// `--nodes` out of range.
    #[error("--nodes {0}: must be between 1 and {max}", max = MAX_NUMBERED_NODES)]
    NodeCount(usize),
    /// `--node-name-prefix` does not make valid node names.
    #[error("--node-name-prefix {prefix:?}: {reason}")]
    NodePrefix {
        /// The prefix given.
        prefix: String,
        /// What is wrong with the names it makes.
        reason: String,
    },
    /// `--kube-api-qps` negative or not a number.
    #[error("--kube-api-qps {0}: must be 0 (no limit) or more")]
    Qps(f32),
    /// The kubeconfig could not be loaded or used.
    #[error("loading the kubeconfig: {0}")]
    Kubeconfig(#[from] clientcmd::Error),
}

/// Parses a Go duration (`0`, `250ms`, `1.5s`, `1h30m`; units `ns`, `us`, `ms`, `s`,
/// `m`, `h`), with the shared `ferrokube_apimachinery::duration` parser, as Kubernetes
/// components read their duration flags.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    duration::parse(text.trim())
}

/// Whether `name` is a valid node name (a DNS subdomain: at most 253 lowercase
/// letters, digits, `-` and `.`, starting and ending with a letter or digit).
fn node_name_error(name: &str) -> Option<String> {
    if name.len() > 253 {
        return Some(format!("node names such as {name:?} are longer than 253 characters"));
    }
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.';
    if let Some(c) = name.chars().find(|c| !ok_char(*c)) {
        return Some(format!("node names may only hold lowercase letters, digits, '-' and '.', not {c:?}"));
    }
    if name.starts_with(['-', '.']) {
        return Some("node names must start with a lowercase letter or a digit".to_owned());
    }
    if name.split('.').any(|label| label.is_empty() || label.starts_with('-') || label.ends_with('-')) {
        return Some(format!("{name:?} is not a DNS subdomain (empty label, or a label starting or ending with '-')"));
    }
    None
}

impl Args {
    /// The kubelet options these flags ask for.
    pub fn kubelet_options(&self) -> Result<KubeletOptions, CliError> {
        if self.nodes == 0 || self.nodes > MAX_NUMBERED_NODES {
            return Err(CliError::NodeCount(self.nodes));
        }
        for index in [0, self.nodes - 1] {
            if let Some(reason) = node_name_error(&format!("{}{index}", self.node_name_prefix)) {
                return Err(CliError::NodePrefix { prefix: self.node_name_prefix.clone(), reason });
            }
        }
        let nodes = (0..self.nodes)
            .map(|i| NodeConfig::numbered(&self.node_name_prefix, i))
            .collect::<Option<Vec<_>>>()
            .ok_or(CliError::NodeCount(self.nodes))?;
        let mut options = KubeletOptions::new(nodes);
        options.schedule = self.schedule;
        options.pod_startup_delay = self.pod_startup_delay;
        options.pod_run_duration = self.pod_run_duration;
        options.pod_termination_delay = self.pod_termination_delay;
        options.resync_period = self.resync_period.max(Duration::from_millis(100));
        options.record_events = self.record_events;
        options.node_status_report_frequency = self.node_status_report_frequency;
        options.node_lease = (self.node_lease_duration_seconds > 0).then(|| {
            let duration = Duration::from_secs(self.node_lease_duration_seconds);
            NodeLeaseOptions { duration, renew_interval: duration / 4 }
        });
        Ok(options)
    }

    /// The client configuration: kubectl's loading rules (with `--kubeconfig` the only
    /// file), then the in-cluster service account; `--context` overrides; the rate
    /// limiter from `--kube-api-qps`/`--kube-api-burst` (default 50 and 100 per node).
    pub fn client_config(&self) -> Result<rest::Config, CliError> {
        let nodes = u32::try_from(self.nodes.max(1)).unwrap_or(u32::MAX);
        let qps = self.kube_api_qps.unwrap_or(crate::http::KUBELET_QPS * nodes as f32);
        let burst = self.kube_api_burst.unwrap_or(crate::http::KUBELET_BURST.saturating_mul(nodes));
        if qps.is_nan() || qps < 0.0 {
            return Err(CliError::Qps(qps));
        }
        let mut rules = ClientConfigLoadingRules::from_process_env();
        if let Some(path) = &self.kubeconfig {
            rules.explicit_path = Some(path.clone());
        }
        let mut overrides = ConfigOverrides::default();
        if let Some(context) = &self.context {
            overrides = overrides.with_context(context.clone());
        }
        let mut config = clientcmd::DeferredLoadingClientConfig::new(rules, overrides).client_config()?;
        if qps == 0.0 {
            config.rate_limiter = rest::RateLimiterChoice::Disabled;
        } else {
            config.qps = qps;
            config.burst = burst.max(1);
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("ferrokube-kubelet").chain(extra.iter().copied()))
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert!(parse_duration("5").unwrap_err().to_string().contains("missing unit"));
        assert!(parse_duration("5d").unwrap_err().to_string().contains("unknown unit"));
        assert_eq!(parse_duration("s"), Err(DurationError::Invalid("s".into())));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn defaults_are_the_kubelets() {
        let o = args(&[]).unwrap().kubelet_options().unwrap();
        assert_eq!(o.nodes.len(), 1);
        assert_eq!(o.nodes[0].name, "ferrokube-node-0");
        assert!(!o.schedule);
        let lease = o.node_lease.unwrap();
        assert_eq!((lease.duration.as_secs(), lease.renew_interval.as_secs()), (40, 10));
        assert_eq!(o.node_status_report_frequency, Duration::from_secs(300));
    }

    #[test]
    fn flags() {
        let a = args(&["--nodes", "3", "--node-name-prefix", "sim-", "--pod-startup-delay", "200ms", "--schedule"]);
        let o = a.unwrap().kubelet_options().unwrap();
        let names: Vec<_> = o.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["sim-0", "sim-1", "sim-2"]);
        assert_eq!(o.pod_startup_delay, Duration::from_millis(200));
        assert!(o.schedule);
        let o = args(&["--node-lease-duration-seconds", "0", "--record-events=false"]).unwrap();
        let o = o.kubelet_options().unwrap();
        assert!(o.node_lease.is_none() && !o.record_events);
    }

    #[test]
    fn bad_flags_are_named() {
        let e = args(&["--nodes", "0"]).unwrap().kubelet_options().unwrap_err();
        assert_eq!(e.to_string(), format!("--nodes 0: must be between 1 and {MAX_NUMBERED_NODES}"));
        let e = args(&["--node-name-prefix", "Sim_"]).unwrap().kubelet_options().unwrap_err();
        assert!(e.to_string().starts_with("--node-name-prefix \"Sim_\": node names may only hold"), "{e}");
        let e = args(&["--node-name-prefix=-x"]).unwrap().kubelet_options().unwrap_err();
        assert!(e.to_string().contains("must start with"), "{e}");
        let e = args(&["--pod-startup-delay", "soon"]).unwrap_err();
        assert!(e.to_string().contains("invalid duration \"soon\""), "{e}");
        assert!(args(&["--nodes", "many"]).is_err());
        assert!(args(&["--no-such-flag"]).is_err());
    }

    #[test]
    fn rate_limit_scales_with_the_nodes() {
        let dir = std::env::temp_dir().join(format!("ferrokube-kubelet-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let kc = dir.join("kubeconfig");
        std::fs::write(
            &kc,
            "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:6443'}}]\n\
             users: [{name: u, user: {}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n",
        )
        .unwrap();
        let kc = kc.to_str().unwrap();
        let c = args(&["--kubeconfig", kc, "--nodes", "4"]).unwrap().client_config().unwrap();
        assert_eq!((c.qps, c.burst), (200.0, 400));
        let c = args(&["--kubeconfig", kc, "--kube-api-qps", "7", "--kube-api-burst", "9"]).unwrap();
        let c = c.client_config().unwrap();
        assert_eq!((c.qps, c.burst), (7.0, 9));
        let e = args(&["--kubeconfig", kc, "--kube-api-qps=-1"]).unwrap().client_config().unwrap_err();
        assert_eq!(e.to_string(), "--kube-api-qps -1: must be 0 (no limit) or more");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_kubeconfig_is_an_error() {
        let a = args(&["--kubeconfig", "/nonexistent/ferrokube-kubelet/kubeconfig"]).unwrap();
        let e = a.client_config().unwrap_err();
        assert!(e.to_string().starts_with("loading the kubeconfig: "), "{e}");
        assert!(e.to_string().contains("/nonexistent/ferrokube-kubelet/kubeconfig"), "{e}");
    }
}
