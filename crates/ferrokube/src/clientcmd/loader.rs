//! Finding and reading kubeconfig files (client-go `tools/clientcmd/loader.go`).
//!
//! [`ClientConfigLoadingRules`] decides which files to read, in kubectl's order:
//!
//! 1. an explicit path (`--kubeconfig`): it must exist;
//! 2. otherwise every file listed in `KUBECONFIG` (`:`-separated on unix, `;` on
//!    Windows), in order, duplicates dropped, missing files skipped;
//! 3. otherwise `~/.kube/config`, where a missing file simply means "no configuration".
//!
//! Each file is parsed into [`api::Config`](super::api::Config), every entry remembers
//! the file it came from (`location_of_origin`), and relative paths inside it
//! (`certificate-authority`, `client-certificate`, `client-key`, `tokenFile`, an exec
//! `command` containing a path separator, oidc `idp-certificate-authority`) are made
//! absolute against that file's directory. The files are then combined by
//! [`merge`] with "first file wins" precedence.
//!
//! The environment is read only by [`ClientConfigLoadingRules::default`]; tests and
//! programs that want control build the rules with
//! [`ClientConfigLoadingRules::from_env_values`] instead of mutating process variables.

use std::path::{Path, PathBuf};

use serde::Deserialize as _;

use super::api::Config;
use super::error::{Error, Result};
use super::merge::merge;

/// Environment variable listing kubeconfig files.
pub const RECOMMENDED_CONFIG_PATH_ENV_VAR: &str = "KUBECONFIG";

/// Which kubeconfig files to load and how (client-go `ClientConfigLoadingRules`).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ClientConfigLoadingRules {
    /// A file that must exist and is the only one read (`--kubeconfig`).
    pub explicit_path: Option<PathBuf>,
    /// Files read, merged with the first having priority, when there is no explicit
    /// path. Missing files are skipped.
    pub precedence: Vec<PathBuf>,
    /// Keep relative paths inside the files as written instead of resolving them.
    pub do_not_resolve_paths: bool,
}

/// The result of loading: the merged config and where it came from.
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    /// The merged config.
    pub config: Config,
    /// The files that existed and were read, in precedence order.
    pub files: Vec<PathBuf>,
    /// Every file that was looked for.
    pub searched: Vec<PathBuf>,
}

impl Default for ClientConfigLoadingRules {
    /// kubectl's rules from the process environment (`KUBECONFIG`, else `~/.kube/config`);
    /// same as [`ClientConfigLoadingRules::from_process_env`].
    fn default() -> Self {
        Self::from_process_env()
    }
}

impl ClientConfigLoadingRules {
    /// kubectl's rules from the process environment (`KUBECONFIG`, `HOME`).
    pub fn from_process_env() -> Self {
        let kubeconfig = std::env::var_os(RECOMMENDED_CONFIG_PATH_ENV_VAR);
        let home = home_dir();
        Self::from_env_values(kubeconfig.as_deref().and_then(|s| s.to_str()), home.as_deref())
    }

    /// kubectl's rules from given values of `KUBECONFIG` and the home directory,
    /// without touching the process environment.
    pub fn from_env_values(kubeconfig_env: Option<&str>, home: Option<&Path>) -> Self {
        let mut precedence: Vec<PathBuf> = Vec::new();
        match kubeconfig_env.filter(|v| !v.is_empty()) {
            Some(list) => {
                for part in list.split(LIST_SEPARATOR).filter(|p| !p.is_empty()) {
                    let path = PathBuf::from(part);
                    if !precedence.contains(&path) {
                        precedence.push(path);
                    }
                }
            }
            None => {
                if let Some(home) = home {
                    precedence.push(home.join(".kube").join("config"));
                }
            }
        }
        ClientConfigLoadingRules { explicit_path: None, precedence, do_not_resolve_paths: false }
    }

    /// Rules that read only `path`, which must exist.
    pub fn with_explicit_path(path: impl Into<PathBuf>) -> Self {
        ClientConfigLoadingRules {
            explicit_path: Some(path.into()),
            precedence: Vec::new(),
            do_not_resolve_paths: false,
        }
    }

    /// Sets the explicit path (builder style); an empty path means none.
    pub fn explicit_path(mut self, path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        self.explicit_path = if path.as_os_str().is_empty() { None } else { Some(path) };
        self
    }

    /// The files these rules read, in precedence order.
    pub fn files(&self) -> Vec<PathBuf> {
        match &self.explicit_path {
            Some(p) => vec![p.clone()],
            None => self.precedence.clone(),
        }
    }

    /// Loads and merges the files (client-go `Load`).
    pub fn load(&self) -> Result<Config> {
        Ok(self.load_with_sources()?.config)
    }

    /// Like [`load`](Self::load), also reporting which files were read.
    pub fn load_with_sources(&self) -> Result<Loaded> {
        let mut configs = Vec::new();
        let mut files = Vec::new();
        if let Some(path) = &self.explicit_path {
            if !path.exists() {
                return Err(Error::MissingFile { path: path.clone() });
            }
        }
        for path in self.files() {
            match std::fs::read(&path) {
                Ok(bytes) => {
                    let config = parse_file(&bytes, &path, !self.do_not_resolve_paths)?;
                    configs.push(config);
                    files.push(path);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && self.explicit_path.is_none() => {
                    tracing::debug!(path = %path.display(), "kubeconfig file does not exist, skipping");
                }
                Err(source) => return Err(Error::Read { what: "kubeconfig".to_owned(), path, source }),
            }
        }
        if files.is_empty() && self.precedence.len() > 1 && self.explicit_path.is_none() {
            tracing::warn!(files = ?self.precedence, "none of the kubeconfig files listed in KUBECONFIG exist");
        }
        Ok(Loaded { config: merge(configs), files, searched: self.files() })
    }
}

#[cfg(windows)]
const LIST_SEPARATOR: char = ';';
#[cfg(not(windows))]
const LIST_SEPARATOR: char = ':';

fn home_dir() -> Option<PathBuf> {
    let var = if cfg!(windows) { "USERPROFILE" } else { "HOME" };
    std::env::var_os(var).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// Reads one kubeconfig file, records the origin of each entry and (unless told not to)
/// resolves relative paths against the file's directory.
pub fn load_from_file(path: &Path) -> Result<Config> {
    let bytes = std::fs::read(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::MissingFile { path: path.to_owned() }
        } else {
            Error::Read { what: "kubeconfig".to_owned(), path: path.to_owned(), source }
        }
    })?;
    parse_file(&bytes, path, true)
}

/// Parses kubeconfig text. `origin` is used for error messages and recorded as each
/// entry's `location_of_origin`; paths are not resolved.
pub fn load_from_str(text: &str, origin: &Path) -> Result<Config> {
    let mut config = parse(text, origin)?;
    set_origin(&mut config, origin);
    Ok(config)
}

fn parse_file(bytes: &[u8], path: &Path, resolve: bool) -> Result<Config> {
    let text = std::str::from_utf8(bytes).map_err(|e| Error::Parse {
        path: path.to_owned(),
        line: None,
        column: None,
        message: format!("file is not UTF-8: {e}"),
    })?;
    let mut config = parse(text, path)?;
    set_origin(&mut config, path);
    if resolve {
        let dir = path.parent().unwrap_or(Path::new("."));
        let base = if dir.is_absolute() {
            dir.to_owned()
        } else {
            std::env::current_dir().map(|cwd| cwd.join(dir)).unwrap_or_else(|_| dir.to_owned())
        };
        resolve_paths(&mut config, &base);
    }
    Ok(config)
}

fn parse(text: &str, path: &Path) -> Result<Config> {
    if text.trim().is_empty() {
        return Ok(Config::default());
    }
    // Two steps: YAML syntax errors keep their line and column; format errors (bad
    // base64, wrong types) then name the entry and field they are in.
    let mut value: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(|e| parse_error(path, &e))?;
    value.apply_merge().map_err(|e| parse_error(path, &e))?;
    if value.is_null() {
        return Ok(Config::default());
    }
    let config = Config::deserialize(value).map_err(|e| parse_error(path, &e))?;
    if let Some(kind) = config.kind.as_deref() {
        if !kind.is_empty() && kind != "Config" {
            return Err(Error::Parse {
                path: path.to_owned(),
                line: None,
                column: None,
                message: format!("kind is {kind:?}, expected \"Config\""),
            });
        }
    }
    Ok(config)
}

fn parse_error(path: &Path, e: &serde_yaml_ng::Error) -> Error {
    let loc = e.location();
    Error::Parse {
        path: path.to_owned(),
        line: loc.as_ref().map(|l| l.line()),
        column: loc.as_ref().map(|l| l.column()),
        // The parser's message already says "at line L column C" when it knows.
        message: e.to_string(),
    }
}

fn set_origin(config: &mut Config, origin: &Path) {
    for c in &mut config.clusters {
        c.cluster.location_of_origin = Some(origin.to_owned());
    }
    for u in &mut config.auth_infos {
        u.auth_info.location_of_origin = Some(origin.to_owned());
    }
    for c in &mut config.contexts {
        c.context.location_of_origin = Some(origin.to_owned());
    }
}

fn resolve(path: &mut Option<PathBuf>, base: &Path) {
    match path {
        Some(p) if p.as_os_str().is_empty() => *path = None,
        Some(p) if p.is_relative() => *p = base.join(&*p),
        _ => {}
    }
}

/// Makes relative file references of every entry absolute against `base` (client-go
/// `ResolveLocalPaths`). Empty paths become `None`.
pub fn resolve_paths(config: &mut Config, base: &Path) {
    for c in &mut config.clusters {
        resolve(&mut c.cluster.certificate_authority, base);
    }
    for u in &mut config.auth_infos {
        let a = &mut u.auth_info;
        resolve(&mut a.client_certificate, base);
        resolve(&mut a.client_key, base);
        resolve(&mut a.token_file, base);
        if let Some(exec) = &mut a.exec {
            // Only commands given as a path are resolved; bare names are looked up in PATH.
            let cmd = Path::new(&exec.command);
            if exec.command.contains(std::path::MAIN_SEPARATOR) && cmd.is_relative() {
                exec.command = base.join(cmd).to_string_lossy().into_owned();
            }
        }
        if let Some(provider) = &mut a.auth_provider {
            if let Some(ca) = provider.config.get_mut("idp-certificate-authority") {
                if !ca.is_empty() && Path::new(ca.as_str()).is_relative() {
                    *ca = base.join(ca.as_str()).to_string_lossy().into_owned();
                }
            }
        }
    }
}
