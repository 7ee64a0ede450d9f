//! Cached discovery (client-go `discovery/cached/memory` and `discovery/cached/disk`).
//!
//! [`MemCacheClient`] keeps the last [`Discovery`] snapshot in memory until
//! [`invalidate`](CachedDiscovery::invalidate). [`DiskCachedDiscoveryClient`] adds
//! kubectl's on-disk cache: `servergroups.json` (an `APIGroupList`, core group
//! included) and `<group>/<version>/serverresources.json` (an `APIResourceList`) under
//! `~/.kube/cache/discovery/<host_port>/` (or `$KUBECACHEDIR/discovery/...`). A file
//! older than the TTL (default 6 h, as kubectl) is stale; a missing, stale or corrupt
//! file makes the client refetch everything from the server (a corrupt file is logged,
//! never an error). Files are written to a temporary file in the same directory and
//! renamed into place, so readers never see half a file.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures_util::future::BoxFuture;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{APIGroupList, APIResourceList};

use super::{CachedDiscovery, Discovery, DiscoveryClient, DiscoverySource};
use crate::rest::{Config, Error};

/// kubectl's discovery cache TTL: 6 hours.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(6 * 60 * 60);

/// A snapshot cached in memory, refetched after `invalidate` (client-go
/// `memory.NewMemCacheClient`).
pub struct MemCacheClient {
    delegate: DiscoveryClient,
    cache: tokio::sync::Mutex<Option<Arc<Discovery>>>,
    invalidated: AtomicBool,
    fresh: AtomicBool,
}

impl std::fmt::Debug for MemCacheClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemCacheClient").field("delegate", &self.delegate).finish_non_exhaustive()
    }
}

impl MemCacheClient {
    /// A memory cache in front of `delegate`.
    pub fn new(delegate: DiscoveryClient) -> Self {
        MemCacheClient {
            delegate,
            cache: tokio::sync::Mutex::new(None),
            invalidated: AtomicBool::new(false),
            fresh: AtomicBool::new(false),
        }
    }

    /// The discovery client the cache asks on a miss.
    pub fn delegate(&self) -> &DiscoveryClient {
        &self.delegate
    }
}

impl CachedDiscovery for MemCacheClient {
    fn discover(&self) -> BoxFuture<'_, Result<Arc<Discovery>, Error>> {
        Box::pin(async move {
            let mut cache = self.cache.lock().await;
            if self.invalidated.swap(false, Ordering::SeqCst) {
                *cache = None;
            }
            if let Some(d) = cache.as_ref() {
                self.fresh.store(false, Ordering::SeqCst);
                return Ok(d.clone());
            }
            let d = Arc::new(self.delegate.server_groups_and_resources().await?);
            *cache = Some(d.clone());
            self.fresh.store(true, Ordering::SeqCst);
            Ok(d)
        })
    }

    fn invalidate(&self) {
        self.invalidated.store(true, Ordering::SeqCst);
    }

    fn fresh(&self) -> bool {
        self.fresh.load(Ordering::SeqCst)
    }
}

/// The directory name kubectl uses for a server: the host without `https://` or
/// `http://`, every character outside `[A-Za-z0-9_/.()]` replaced by `_`
/// (`https://127.0.0.1:6443` -> `127.0.0.1_6443`).
pub fn host_cache_dir_name(host: &str) -> String {
    let schemeless = host.replacen("https://", "", 1).replacen("http://", "", 1);
    schemeless
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '/' | '.' | '(' | ')') { c } else { '_' })
        .collect()
}

/// kubectl's discovery cache directory for `host`:
/// `$KUBECACHEDIR/discovery/<name>` or `~/.kube/cache/discovery/<name>`. `None` when
/// neither `KUBECACHEDIR` nor `HOME` is set.
pub fn default_cache_dir(host: &str) -> Option<PathBuf> {
    let base = match std::env::var_os("KUBECACHEDIR").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let home =
                std::env::var_os("HOME").or_else(|| std::env::var_os("USERPROFILE")).filter(|v| !v.is_empty())?;
            PathBuf::from(home).join(".kube").join("cache")
        }
    };
    Some(base.join("discovery").join(host_cache_dir_name(host)))
}

/// A clock, replaceable in tests.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// Discovery cached on disk (kubectl's layout) and in memory (client-go
/// `disk.NewCachedDiscoveryClientForConfig`).
pub struct DiskCachedDiscoveryClient {
    delegate: DiscoveryClient,
    dir: PathBuf,
    ttl: Duration,
    clock: Clock,
    memory: tokio::sync::Mutex<Option<Arc<Discovery>>>,
    invalidated: AtomicBool,
    fresh: AtomicBool,
    tmp_counter: AtomicU64,
    last_error: Mutex<Option<CacheFileError>>,
}

/// A problem with the discovery cache files. It never fails a request; it only causes
/// a refetch ([`DiskCachedDiscoveryClient::last_cache_error`]).
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheFileError {
    /// A cache file exists but cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// A cache file is not the JSON it should be; it is ignored.
    #[error("ignoring corrupt cache file {}: {source}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: Arc<serde_json::Error>,
    },
    /// The discovery documents could not be encoded for the cache.
    #[error("cannot encode the group list: {0}")]
    Encode(#[source] Arc<serde_json::Error>),
    /// A cache file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: Arc<std::io::Error>,
    },
}

impl std::fmt::Debug for DiskCachedDiscoveryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskCachedDiscoveryClient")
            .field("dir", &self.dir)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl DiskCachedDiscoveryClient {
    /// A disk cache in `dir` in front of `delegate`, valid for `ttl`.
    pub fn new(delegate: DiscoveryClient, dir: impl Into<PathBuf>, ttl: Duration) -> Self {
        DiskCachedDiscoveryClient {
            delegate,
            dir: dir.into(),
            ttl,
            clock: Arc::new(SystemTime::now),
            memory: tokio::sync::Mutex::new(None),
            invalidated: AtomicBool::new(false),
            fresh: AtomicBool::new(false),
            tmp_counter: AtomicU64::new(0),
            last_error: Mutex::new(None),
        }
    }

    /// kubectl's setup: the cache directory for `config.host` under `~/.kube/cache`
    /// (or `$KUBECACHEDIR`) and the 6 h TTL. Falls back to the system temporary
    /// directory when no home directory is known.
    pub fn for_config(config: &Config) -> Result<Self, Error> {
        let dir = default_cache_dir(&config.host).unwrap_or_else(|| {
            std::env::temp_dir().join("kube-cache").join("discovery").join(host_cache_dir_name(&config.host))
        });
        Ok(Self::new(DiscoveryClient::new(config)?, dir, DEFAULT_CACHE_TTL))
    }

    /// Replaces the clock used to judge file age (for tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The TTL of cache files.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The last problem met with the cache files (unreadable, corrupt, not writable),
    /// if any. Such problems never fail a request; they only cause a refetch.
    pub fn last_cache_error(&self) -> Option<CacheFileError> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }

    fn note(&self, problem: CacheFileError) {
        tracing::debug!("discovery cache: {problem}");
        if let Ok(mut e) = self.last_error.lock() {
            *e = Some(problem);
        }
    }

    fn groups_file(&self) -> PathBuf {
        self.dir.join("servergroups.json")
    }

    fn resources_file(&self, group_version: &str) -> PathBuf {
        let mut p = self.dir.clone();
        for part in group_version.split('/') {
            p.push(part);
        }
        p.join("serverresources.json")
    }

    /// Reads and decodes one cache file if it exists, is younger than the TTL and
    /// decodes; otherwise `None` (problems are noted, not returned).
    async fn read_fresh<T: serde::de::DeserializeOwned>(&self, path: &Path) -> Option<T> {
        let meta = tokio::fs::metadata(path).await.ok()?;
        let modified = meta.modified().ok()?;
        let age = (self.clock)().duration_since(modified).unwrap_or(Duration::ZERO);
        if age > self.ttl {
            return None;
        }
        let bytes = match tokio::fs::read(path).await {
            Ok(b) => b,
            Err(e) => {
                self.note(CacheFileError::Read { path: path.to_owned(), source: Arc::new(e) });
                return None;
            }
        };
        match serde_json::from_slice(&bytes) {
            Ok(v) => Some(v),
            Err(e) => {
                self.note(CacheFileError::Corrupt { path: path.to_owned(), source: Arc::new(e) });
                None
            }
        }
    }

    async fn read_disk(&self) -> Option<Discovery> {
        let groups: APIGroupList = self.read_fresh(&self.groups_file()).await?;
        let mut d = Discovery {
            groups: groups.groups,
            resources: Default::default(),
            failed: Default::default(),
            source: DiscoverySource::Cache,
        };
        let gvs: Vec<String> =
            d.groups.iter().flat_map(|g| g.versions.iter().map(|v| v.group_version.clone())).collect();
        for gv in gvs {
            let list: APIResourceList = self.read_fresh(&self.resources_file(&gv)).await?;
            d.resources.insert(gv, list);
        }
        Some(d)
    }

    /// Writes `bytes` to `path` atomically (temporary file in the same directory, then
    /// rename).
    async fn write_atomic(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let dir = path.parent().unwrap_or(&self.dir);
        tokio::fs::create_dir_all(dir).await?;
        let n = self.tmp_counter.fetch_add(1, Ordering::SeqCst);
        let file_name = path.file_name().and_then(|f| f.to_str()).unwrap_or("cache");
        let tmp = dir.join(format!(".{file_name}.{}.{n}.tmp", std::process::id()));
        tokio::fs::write(&tmp, bytes).await?;
        if let Err(e) = tokio::fs::rename(&tmp, path).await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
        Ok(())
    }

    async fn write_disk(&self, d: &Discovery) {
        let mut files: Vec<(PathBuf, Vec<u8>)> = Vec::new();
        match serde_json::to_vec(&d.group_list()) {
            Ok(b) => files.push((self.groups_file(), b)),
            Err(e) => return self.note(CacheFileError::Encode(Arc::new(e))),
        }
        for (gv, list) in &d.resources {
            if let Ok(b) = serde_json::to_vec(list) {
                files.push((self.resources_file(gv), b));
            }
        }
        // Resource files first, the group list last: a reader that finds a fresh group
        // list also finds the resource files it names.
        files.rotate_left(1);
        for (path, bytes) in files {
            if let Err(e) = self.write_atomic(&path, &bytes).await {
                return self.note(CacheFileError::Write { path, source: Arc::new(e) });
            }
        }
    }
}

impl CachedDiscovery for DiskCachedDiscoveryClient {
    fn discover(&self) -> BoxFuture<'_, Result<Arc<Discovery>, Error>> {
        Box::pin(async move {
            let mut memory = self.memory.lock().await;
            let invalidated = self.invalidated.swap(false, Ordering::SeqCst);
            if invalidated {
                *memory = None;
            }
            if let Some(d) = memory.as_ref() {
                self.fresh.store(false, Ordering::SeqCst);
                return Ok(d.clone());
            }
            if !invalidated {
                if let Some(d) = self.read_disk().await {
                    let d = Arc::new(d);
                    *memory = Some(d.clone());
                    self.fresh.store(false, Ordering::SeqCst);
                    return Ok(d);
                }
            }
            let d = self.delegate.server_groups_and_resources().await?;
            self.write_disk(&d).await;
            let d = Arc::new(d);
            *memory = Some(d.clone());
            self.fresh.store(true, Ordering::SeqCst);
            Ok(d)
        })
    }

    fn invalidate(&self) {
        self.invalidated.store(true, Ordering::SeqCst);
    }

    fn fresh(&self) -> bool {
        self.fresh.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_dir_names_like_kubectl() {
        assert_eq!(host_cache_dir_name("https://127.0.0.1:6443"), "127.0.0.1_6443");
        assert_eq!(host_cache_dir_name("http://localhost:8080"), "localhost_8080");
        assert_eq!(host_cache_dir_name("https://rancher.example/k8s/clusters/c-1"), "rancher.example/k8s/clusters/c_1");
        assert_eq!(host_cache_dir_name("https://[::1]:6443"), "___1__6443");
        assert_eq!(host_cache_dir_name("my_host(1)"), "my_host(1)");
    }

    /// A client whose server is unreachable: every refetch fails, so a successful
    /// `discover` proves the answer came from the files.
    fn offline(dir: &Path, ttl: Duration, offset: Arc<std::sync::atomic::AtomicU64>) -> DiskCachedDiscoveryClient {
        let mut config = Config::new("http://127.0.0.1:1");
        config.max_retries = 1;
        let dc = DiscoveryClient::new(&config).unwrap();
        let clock: Clock = Arc::new(move || SystemTime::now() + Duration::from_secs(offset.load(Ordering::SeqCst)));
        DiskCachedDiscoveryClient::new(dc, dir, ttl).with_clock(clock)
    }

    fn write_cache(dir: &Path) {
        std::fs::create_dir_all(dir.join("apps/v1")).unwrap();
        std::fs::create_dir_all(dir.join("v1")).unwrap();
        let groups = serde_json::json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            {"name": "", "versions": [{"groupVersion": "v1", "version": "v1"}], "preferredVersion": {"groupVersion": "v1", "version": "v1"}},
            {"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}], "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}
        ]});
        std::fs::write(dir.join("servergroups.json"), groups.to_string()).unwrap();
        let res = |gv: &str, name: &str, kind: &str| {
            serde_json::json!({"kind": "APIResourceList", "groupVersion": gv,
            "resources": [{"name": name, "singularName": "", "namespaced": true, "kind": kind, "verbs": ["get"]}]})
            .to_string()
        };
        std::fs::write(dir.join("v1/serverresources.json"), res("v1", "pods", "Pod")).unwrap();
        std::fs::write(dir.join("apps/v1/serverresources.json"), res("apps/v1", "deployments", "Deployment")).unwrap();
    }

    #[tokio::test]
    async fn fresh_files_are_used_until_the_ttl_passes() {
        let dir = tempfile::tempdir().unwrap();
        write_cache(dir.path());
        let offset = Arc::new(AtomicU64::new(0));
        let c = offline(dir.path(), Duration::from_secs(60), offset.clone());
        let d = c.discover().await.unwrap();
        assert_eq!(d.source, DiscoverySource::Cache);
        assert!(!c.fresh());
        assert_eq!(d.resources_for("apps/v1").unwrap().resources[0].kind, "Deployment");

        offset.store(61, Ordering::SeqCst);
        let stale = offline(dir.path(), Duration::from_secs(60), offset.clone());
        let err = stale.discover().await.unwrap_err();
        assert!(err.to_string().contains("127.0.0.1:1"), "stale files make it ask the server: {err}");

        // invalidate() skips even fresh files.
        offset.store(0, Ordering::SeqCst);
        let c = offline(dir.path(), Duration::from_secs(60), offset.clone());
        c.invalidate();
        assert!(c.discover().await.is_err());
    }

    #[tokio::test]
    async fn corrupt_or_missing_files_are_a_miss_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        write_cache(dir.path());
        std::fs::write(dir.path().join("v1/serverresources.json"), b"\x00garbage").unwrap();
        let c = offline(dir.path(), DEFAULT_CACHE_TTL, Arc::new(AtomicU64::new(0)));
        let err = c.discover().await.unwrap_err();
        assert!(matches!(err, Error::Transport { .. }), "{err}");
        let err = c.last_cache_error().unwrap();
        assert!(matches!(err, CacheFileError::Corrupt { .. }) && err.to_string().contains("corrupt"), "{err}");
        std::fs::remove_file(dir.path().join("v1/serverresources.json")).unwrap();
        assert!(c.discover().await.is_err());
    }

    #[tokio::test]
    async fn files_are_written_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let c = offline(dir.path(), DEFAULT_CACHE_TTL, Arc::new(AtomicU64::new(0)));
        let path = dir.path().join("a/b/serverresources.json");
        c.write_atomic(&path, b"{}").await.unwrap();
        c.write_atomic(&path, b"{\"x\":1}").await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"x\":1}");
        let names: Vec<_> =
            std::fs::read_dir(dir.path().join("a/b")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "no temporary files left: {names:?}");
    }
}
