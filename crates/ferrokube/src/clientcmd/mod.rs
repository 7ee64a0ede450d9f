//! `clientcmd`: from kubeconfig files (or a pod's service account) to a
//! [`rest::Config`](crate::rest::Config), the way kubectl and client-go's
//! `tools/clientcmd` do it.
//!
//! The pieces, in the order a request's configuration flows through them:
//!
//! - [`api`]: the kubeconfig types (clusters, users, contexts) with kubeconfig's field names.
//! - [`loader`]: which files to read (`--kubeconfig`, `KUBECONFIG`, `~/.kube/config`),
//!   parsing, relative-path resolution; [`merge`]: kubectl's "first file wins" merging.
//! - [`overrides`]: `--context`, `--server`, `--token`, ... applied on top.
//! - [`client_config`]: picks the context and builds the `rest::Config`, including the
//!   credential providers of [`exec`] plugins and the [`oidc`] auth provider.
//! - [`in_cluster`]: the config of a program running in a pod.
//! - [`error`]: what went wrong, naming the file, entry and field.
//!
//! [`exec`] needs the `exec` Cargo feature and [`oidc`] the `oidc` feature (both on by
//! default); without them a kubeconfig user that asks for one gets
//! [`Error::MissingFeature`].
//!
//! The usual entry point loads like kubectl with no flags:
//!
//! ```no_run
//! use ferrokube::clientcmd::{ClientConfig, ClientConfigLoadingRules, ConfigOverrides,
//!     DeferredLoadingClientConfig};
//!
//! let loader = DeferredLoadingClientConfig::new(
//!     ClientConfigLoadingRules::default(), // KUBECONFIG, else ~/.kube/config
//!     ConfigOverrides::default(),          // e.g. context: Some("prod".into())
//! );
//! let config = loader.client_config()?;    // falls back to in-cluster in a pod
//! let (namespace, _overridden) = loader.namespace()?;
//! # Ok::<(), ferrokube::clientcmd::Error>(())
//! ```
//!
//! or, like client-go's examples, `build_config_from_flags(master_url, kubeconfig_path)`.

pub mod api;
pub mod client_config;
pub mod error;
#[cfg(feature = "exec")]
pub mod exec;
pub mod in_cluster;
pub mod loader;
pub mod merge;
#[cfg(feature = "oidc")]
pub mod oidc;
pub mod overrides;

pub use client_config::{
    build_config_from_flags, build_config_from_flags_with, ClientConfig, DeferredLoadingClientConfig,
    DirectClientConfig, ResolvedContext,
};
pub use error::{Error, Result};
#[cfg(feature = "exec")]
pub use exec::{ExecClusterInfo, ExecCredentialProvider};
pub use in_cluster::{in_cluster_config, in_cluster_config_from, InClusterConfig};
pub use loader::{load_from_file, load_from_str, ClientConfigLoadingRules, Loaded};
#[cfg(feature = "oidc")]
pub use oidc::OidcAuthProvider;
pub use overrides::ConfigOverrides;
