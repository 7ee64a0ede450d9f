//! Errors of `clientcmd`: what is wrong with which kubeconfig file, entry or field.
//!
//! Every variant names where the problem is (file, cluster/user/context entry, field or
//! plugin command) and never carries a secret value: tokens, keys and exec plugin output
//! are not put into messages. Exec plugin failures include an excerpt of the plugin's
//! stderr (never its stdout, which carries the credential).

use std::path::PathBuf;

/// Result alias for `clientcmd`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a kubeconfig could not be loaded or turned into a [`rest::Config`](crate::rest::Config).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A kubeconfig named explicitly (`--kubeconfig`) does not exist.
    #[error("kubeconfig file {path:?} does not exist")]
    MissingFile {
        /// The path given.
        path: PathBuf,
    },
    /// A file could not be read.
    #[error("cannot read {what} {path:?}: {source}")]
    Read {
        /// What the file is, e.g. `kubeconfig`, `token file of user "alice"`.
        what: String,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A kubeconfig is not valid YAML or does not match the kubeconfig format.
    #[error("invalid kubeconfig {path:?}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem, when the parser knows it.
        line: Option<usize>,
        /// 1-based column of the problem, when the parser knows it.
        column: Option<usize>,
        /// What is wrong (names the entry and field for bad `*-data` values).
        message: String,
    },
    /// No kubeconfig was found and no server was given.
    #[error(
        "invalid configuration: no configuration has been provided (looked in: {}); \
         set KUBECONFIG, pass --kubeconfig or --server",
        display_paths(.searched)
    )]
    EmptyConfig {
        /// The files that were looked for.
        searched: Vec<PathBuf>,
    },
    /// The kubeconfig has contexts but none is selected.
    #[error("no context chosen: current-context is not set in {} and no --context was given", display_paths(.files))]
    NoContext {
        /// The kubeconfig files that were loaded.
        files: Vec<PathBuf>,
    },
    /// The selected context does not exist.
    #[error("context {name:?} was not found in {}", display_paths(.files))]
    ContextNotFound {
        /// The context asked for.
        name: String,
        /// The kubeconfig files that were loaded.
        files: Vec<PathBuf>,
    },
    /// The selected (or referenced) cluster does not exist.
    #[error("cluster {name:?}{} was not found in {}", referenced_by(.context), display_paths(.files))]
    ClusterNotFound {
        /// The cluster asked for.
        name: String,
        /// The context that refers to it, when it came from a context.
        context: Option<String>,
        /// The kubeconfig files that were loaded.
        files: Vec<PathBuf>,
    },
    /// The selected (or referenced) user does not exist.
    #[error("user {name:?}{} was not found in {}", referenced_by(.context), display_paths(.files))]
    UserNotFound {
        /// The user asked for.
        name: String,
        /// The context that refers to it, when it came from a context.
        context: Option<String>,
        /// The kubeconfig files that were loaded.
        files: Vec<PathBuf>,
    },
    /// A cluster entry (or the overrides) leaves something invalid.
    #[error("invalid cluster {cluster:?}{}: {message}", origin(.file))]
    InvalidCluster {
        /// Cluster name (empty when none was chosen).
        cluster: String,
        /// The file the entry came from.
        file: Option<PathBuf>,
        /// What is wrong.
        message: String,
    },
    /// The CA file of a cluster cannot be read.
    #[error("cannot read certificate-authority {path:?} of cluster {cluster:?}{}: {source}", origin(.file))]
    CaFile {
        /// Cluster name.
        cluster: String,
        /// The CA path.
        path: PathBuf,
        /// The file the entry came from.
        file: Option<PathBuf>,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A user entry is invalid.
    #[error("invalid user {user:?}{}: {message}", origin(.file))]
    InvalidUser {
        /// User name.
        user: String,
        /// The file the entry came from.
        file: Option<PathBuf>,
        /// What is wrong.
        message: String,
    },
    /// The user names an auth provider ferrokube does not implement.
    #[error(
        "user {user:?} uses auth-provider {provider:?}, which is not supported \
         (only \"oidc\"; gcp and azure were removed from client-go: use an exec plugin such as \
         gke-gcloud-auth-plugin or kubelogin)"
    )]
    UnsupportedAuthProvider {
        /// User name.
        user: String,
        /// Provider name.
        provider: String,
    },
    /// An exec credential plugin could not be found.
    #[error(
        "exec plugin of user {user:?}: executable {command:?} not found{}",
        install_hint.as_deref().map(|h| format!("\n\n{h}")).unwrap_or_default()
    )]
    ExecNotFound {
        /// User name.
        user: String,
        /// The command.
        command: String,
        /// The entry's `installHint`.
        install_hint: Option<String>,
    },
    /// An exec credential plugin could not be started or exited unsuccessfully.
    #[error("exec plugin of user {user:?}: executable {command:?} failed: {status}{}", stderr_excerpt(.stderr))]
    ExecFailed {
        /// User name.
        user: String,
        /// The command.
        command: String,
        /// Exit status or start error.
        status: String,
        /// The end of the plugin's stderr.
        stderr: String,
    },
    /// An exec credential plugin printed something that is not a usable ExecCredential.
    #[error("exec plugin of user {user:?}: executable {command:?} returned an invalid credential: {message}")]
    ExecOutput {
        /// User name.
        user: String,
        /// The command.
        command: String,
        /// What is wrong (never the output itself).
        message: String,
    },
    /// The `oidc` auth provider could not produce a token.
    #[error("oidc auth-provider of user {user:?}: {message}")]
    Oidc {
        /// User name.
        user: String,
        /// What is wrong.
        message: String,
    },
    /// Refreshed credentials could not be written back to the kubeconfig.
    #[error("cannot write refreshed credentials of user {user:?} to {path:?}: {message}")]
    Persist {
        /// User name.
        user: String,
        /// The kubeconfig file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The kubeconfig asks for something whose code this build of ferrokube left out
    /// (an exec plugin without the `exec` feature, the `oidc` auth-provider without
    /// `oidc`, a `socks5://` proxy without `socks5`).
    #[error(
        "{entry}{} needs {needed_for}, but ferrokube was built without its {feature:?} Cargo feature \
         (enable it in the application's Cargo.toml)",
        origin(.file)
    )]
    MissingFeature {
        /// The kubeconfig entry, e.g. `user "alice"` or `cluster "prod"`.
        entry: String,
        /// The file the entry came from.
        file: Option<PathBuf>,
        /// The Cargo feature that is off.
        feature: &'static str,
        /// What needs it, e.g. `an exec credential plugin`.
        needed_for: &'static str,
    },
    /// Not running in a pod: the in-cluster environment variables are missing.
    #[error(
        "unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and \
         KUBERNETES_SERVICE_PORT must be defined"
    )]
    NotInCluster,
}

fn display_paths(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "no kubeconfig file".to_owned();
    }
    paths.iter().map(|p| format!("{}", p.display())).collect::<Vec<_>>().join(", ")
}

fn referenced_by(context: &Option<String>) -> String {
    context.as_deref().map(|c| format!(" (referenced by context {c:?})")).unwrap_or_default()
}

fn origin(file: &Option<PathBuf>) -> String {
    file.as_deref().map(|f| format!(" in {}", f.display())).unwrap_or_default()
}

fn stderr_excerpt(stderr: &str) -> String {
    let trimmed = stderr.trim();
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("; stderr: {trimmed}")
    }
}

impl Error {
    /// True for [`Error::EmptyConfig`] (client-go `IsEmptyConfig`): nothing was configured
    /// at all, so callers may fall back to in-cluster configuration.
    pub fn is_empty_config(&self) -> bool {
        matches!(self, Error::EmptyConfig { .. })
    }
}
