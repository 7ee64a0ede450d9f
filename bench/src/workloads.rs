//! One function per (workload, client). Each returns the raw figure of one run; the
//! harness in `main.rs` alternates clients (ABAB) and takes medians.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, WatchParams};
use kube::runtime::{reflector, watcher, WatchStreamExt};

use crate::clients::Raw;
use crate::data::NAMESPACE;

/// ferrokube's wire format for a row: JSON, or Kubernetes protobuf as its typed clients
/// and informers ask for it (`Accept: application/vnd.kubernetes.protobuf,
/// application/json`). Both run in the same run, beside kube-rs and client-go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire {
    /// `Accept: application/json` (the raw RESTClient's default).
    Json,
    /// Protobuf first, JSON for what has no protobuf form.
    Protobuf,
}

const ACCEPT_PROTOBUF: &str = "application/vnd.kubernetes.protobuf, application/json";

/// `r`, asking for protobuf when `wire` says so.
fn ferrokube_accept(r: ferrokube::rest::Request, wire: Wire) -> ferrokube::rest::Request {
    match wire {
        Wire::Protobuf => r.header("Accept", ACCEPT_PROTOBUF),
        Wire::Json => r,
    }
}

/// Checks (untimed) that the server answers ferrokube's pod LIST in protobuf when asked,
/// so a protobuf row never measures JSON; the error is the reason those cells are n/a.
pub async fn check_ferrokube_protobuf(c: &ferrokube::RESTClient) -> Result<(), String> {
    let r = ferrokube_accept(c.get().namespace(NAMESPACE).resource("pods").param("limit", "1"), Wire::Protobuf);
    let response = r.send().await.map_err(|e| format!("protobuf probe: {e}"))?;
    if response.is_protobuf() {
        Ok(())
    } else {
        Err("the server answered ferrokube's protobuf pod LIST in JSON".into())
    }
}

fn key(pod: &Pod) -> String {
    format!("{}/{}", pod.metadata.namespace.as_deref().unwrap_or(""), pod.metadata.name.as_deref().unwrap_or(""))
}

// ---------------------------------------------------------------------------------
// (1) LIST

/// One LIST of every pod with typed decode (`into_list`, which the typed clients' `list`
/// uses: large lists decode on several threads), or every page of `limit` with
/// `tools::pager::ListPager`; returns
/// (objects, seconds). With `strip`, managedFields are skipped while decoding
/// (`List<WithoutManagedFields<Pod>>`). The decoded lists are freed after the clock
/// stops (the same for every client).
pub async fn list_ferrokube(
    c: &ferrokube::RESTClient,
    limit: Option<u32>,
    strip: bool,
    wire: Wire,
) -> Result<(usize, f64), String> {
    use ferrokube::tools::cache::WithoutManagedFields;
    if strip {
        list_ferrokube_as::<WithoutManagedFields<Pod>>(c, limit, wire).await
    } else {
        list_ferrokube_as::<Pod>(c, limit, wire).await
    }
}

async fn list_ferrokube_as<K>(c: &ferrokube::RESTClient, limit: Option<u32>, wire: Wire) -> Result<(usize, f64), String>
where
    K: k8s_openapi::ListableResource + serde::de::DeserializeOwned + Send,
{
    let request = |o: &ferrokube::rest::ListOptions| {
        ferrokube_accept(c.get().namespace(NAMESPACE).resource("pods").versioned_params(o), wire)
    };
    let start = Instant::now();
    let lists: Vec<k8s_openapi::List<K>> = match limit {
        // Paged: `tools::pager::ListPager`, which fetches the next page while the
        // current one decodes.
        Some(l) => ferrokube::tools::pager::ListPager::new(l.into())
            .pages(&Default::default(), request)
            .await
            .map_err(|e| format!("ferrokube paged list: {e}"))?,
        None => vec![request(&Default::default()).into_list().await.map_err(|e| format!("ferrokube list: {e}"))?],
    };
    let secs = start.elapsed().as_secs_f64();
    let n = lists.iter().map(|l| l.items.len()).sum();
    drop(lists);
    Ok((n, secs))
}

/// kube-rs: `Api::<Pod>::namespaced(..).list(..)`, paged with `limit` if given; with
/// `strip`, each item's managedFields are cleared after decoding (inside the clock:
/// it is part of what stripping costs with kube-rs).
pub async fn list_kube(c: &kube::Client, limit: Option<u32>, strip: bool) -> Result<(usize, f64), String> {
    let api: Api<Pod> = Api::namespaced(c.clone(), NAMESPACE);
    let start = Instant::now();
    let mut lists = Vec::new();
    let mut cont: Option<String> = None;
    let mut n = 0;
    loop {
        let mut lp = ListParams::default();
        if let Some(l) = limit {
            lp = lp.limit(l);
        }
        if let Some(t) = cont.take() {
            lp = lp.continue_token(&t);
        }
        let mut list = api.list(&lp).await.map_err(|e| format!("kube-rs list: {e}"))?;
        if strip {
            for p in &mut list.items {
                p.metadata.managed_fields = None;
            }
        }
        n += list.items.len();
        let next = list.metadata.continue_.clone().filter(|t| !t.is_empty());
        lists.push(list);
        match next {
            Some(t) if limit.is_some() => cont = Some(t),
            _ => break,
        }
    }
    let secs = start.elapsed().as_secs_f64();
    drop(lists);
    Ok((n, secs))
}

/// Server alone: the same LIST read as bytes, not decoded; returns (bytes, seconds).
/// The continue token is found with a substring search, not a JSON parse.
pub async fn list_raw(raw: &Raw, limit: Option<u32>) -> Result<(usize, f64), String> {
    let start = Instant::now();
    let mut bytes = 0;
    let mut cont: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/namespaces/{NAMESPACE}/pods");
        if let Some(l) = limit {
            path.push_str(&format!("?limit={l}"));
            if let Some(t) = cont.take() {
                path.push_str(&format!("&continue={}", url_escape(&t)));
            }
        }
        let body = raw.get_bytes(&path).await?;
        bytes += body.len();
        // `metadata` (with `continue`) may come before or after `items`.
        let next = find_continue(&body[..body.len().min(4096)])
            .or_else(|| find_continue(&body[body.len().saturating_sub(4096)..]));
        match next {
            Some(t) if limit.is_some() => cont = Some(t),
            _ => break,
        }
    }
    Ok((bytes, start.elapsed().as_secs_f64()))
}

fn find_continue(part: &[u8]) -> Option<String> {
    let s = String::from_utf8_lossy(part);
    let at = s.find("\"continue\":\"")? + "\"continue\":\"".len();
    let rest = &s[at..];
    let end = rest.find('"')?;
    let t = &rest[..end];
    (!t.is_empty()).then(|| t.to_owned())
}

fn url_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ---------------------------------------------------------------------------------
// (2) Watch

/// Watches from `rv` (the server replays its history) and applies `n` ADDED/MODIFIED
/// events to a `HashMap<namespace/name, Arc<Pod>>`; returns seconds from sending the
/// request to applying the n-th event. With `strip`, managedFields are skipped while
/// decoding (`WithoutManagedFields<Pod>`), so the cache holds what kube-rs's
/// decode-then-clear gives.
pub async fn watch_ferrokube(
    c: &ferrokube::RESTClient,
    rv: u64,
    n: usize,
    strip: bool,
    wire: Wire,
) -> Result<f64, String> {
    use ferrokube::tools::cache::WithoutManagedFields;
    if strip {
        watch_ferrokube_as::<WithoutManagedFields<Pod>>(c, rv, n, |w| w.0, wire).await
    } else {
        watch_ferrokube_as::<Pod>(c, rv, n, |p| p, wire).await
    }
}

async fn watch_ferrokube_as<D>(
    c: &ferrokube::RESTClient,
    rv: u64,
    n: usize,
    pod: fn(D) -> Pod,
    wire: Wire,
) -> Result<f64, String>
where
    D: serde::de::DeserializeOwned + Send,
{
    use ferrokube::watch::WatchEvent;
    let start = Instant::now();
    let mut cache: HashMap<String, Arc<Pod>> = HashMap::new();
    let mut events = ferrokube_accept(c.get().namespace(NAMESPACE).resource("pods"), wire)
        .param("resourceVersion", rv.to_string())
        .watch::<D>()
        .await
        .map_err(|e| format!("ferrokube watch: {e}"))?;
    let mut seen = 0;
    while seen < n {
        match events.next().await {
            Some(Ok(WatchEvent::Added(p) | WatchEvent::Modified(p))) => {
                let p = pod(p);
                cache.insert(key(&p), Arc::new(p));
                seen += 1;
            }
            Some(Ok(WatchEvent::Deleted(p))) => {
                cache.remove(&key(&pod(p)));
                seen += 1;
            }
            Some(Ok(WatchEvent::Bookmark(_))) => {}
            Some(Ok(WatchEvent::Error(s))) => return Err(format!("ferrokube watch: ERROR event {:?}", s.message)),
            Some(Err(e)) => return Err(format!("ferrokube watch: {e}")),
            None => return Err(format!("ferrokube watch ended after {seen} of {n} events")),
        }
    }
    let secs = start.elapsed().as_secs_f64();
    drop(events);
    drop(cache);
    Ok(secs)
}

/// kube-rs: `Api::watch(&WatchParams::default(), rv)`, same cache; with `strip`,
/// managedFields are cleared before inserting (what `.modify()` does in a reflector).
pub async fn watch_kube(c: &kube::Client, rv: u64, n: usize, strip: bool) -> Result<f64, String> {
    use kube::core::WatchEvent;
    let api: Api<Pod> = Api::namespaced(c.clone(), NAMESPACE);
    let start = Instant::now();
    let mut cache: HashMap<String, Arc<Pod>> = HashMap::new();
    let mut events =
        api.watch(&WatchParams::default(), &rv.to_string()).await.map_err(|e| format!("kube-rs watch: {e}"))?.boxed();
    let mut seen = 0;
    while seen < n {
        match events.try_next().await {
            Ok(Some(WatchEvent::Added(mut p) | WatchEvent::Modified(mut p))) => {
                if strip {
                    p.metadata.managed_fields = None;
                }
                cache.insert(key(&p), Arc::new(p));
                seen += 1;
            }
            Ok(Some(WatchEvent::Deleted(p))) => {
                cache.remove(&key(&p));
                seen += 1;
            }
            Ok(Some(WatchEvent::Bookmark(_))) => {}
            Ok(Some(WatchEvent::Error(e))) => return Err(format!("kube-rs watch: ERROR event {e:?}")),
            Err(e) => return Err(format!("kube-rs watch: {e}")),
            Ok(None) => return Err(format!("kube-rs watch ended after {seen} of {n} events")),
        }
    }
    let secs = start.elapsed().as_secs_f64();
    drop(events);
    drop(cache);
    Ok(secs)
}

/// Server alone: the same watch read as bytes; events counted by newlines (the server
/// writes one JSON object per line). Returns (bytes, seconds).
pub async fn watch_raw(raw: &Raw, rv: u64, n: usize) -> Result<(usize, f64), String> {
    use http_body_util::BodyExt;
    let start = Instant::now();
    let resp = raw.send(&format!("/api/v1/namespaces/{NAMESPACE}/pods?watch=true&resourceVersion={rv}")).await?;
    if !resp.status().is_success() {
        return Err(format!("raw watch: {}", resp.status()));
    }
    let mut body = resp.into_body();
    let (mut lines, mut bytes) = (0, 0);
    while lines < n {
        match body.frame().await {
            Some(Ok(f)) => {
                if let Ok(d) = f.into_data() {
                    bytes += d.len();
                    lines += d.iter().filter(|&&b| b == b'\n').count();
                }
            }
            Some(Err(e)) => return Err(format!("raw watch: {e}")),
            None => return Err(format!("raw watch ended after {lines} of {n} events")),
        }
    }
    Ok((bytes, start.elapsed().as_secs_f64()))
}

/// The raw bytes of the first `n` events of the watch from `rv` (for the in-memory
/// decode split).
pub async fn watch_capture(raw: &Raw, rv: u64, n: usize) -> Result<Vec<u8>, String> {
    use http_body_util::BodyExt;
    let resp = raw.send(&format!("/api/v1/namespaces/{NAMESPACE}/pods?watch=true&resourceVersion={rv}")).await?;
    let mut body = resp.into_body();
    let mut buf = Vec::new();
    let mut lines = 0;
    while lines < n {
        match body.frame().await {
            Some(Ok(f)) => {
                if let Ok(d) = f.into_data() {
                    for (i, b) in d.iter().enumerate() {
                        if *b == b'\n' {
                            lines += 1;
                            if lines == n {
                                buf.extend_from_slice(&d[..=i]);
                                return Ok(buf);
                            }
                        }
                    }
                    buf.extend_from_slice(&d);
                }
            }
            Some(Err(e)) => return Err(format!("raw watch: {e}")),
            None => return Err(format!("raw watch ended after {lines} of {n} events")),
        }
    }
    Ok(buf)
}

/// In-memory decode of captured watch bytes, fed in 16 KiB chunks, per client's decoder.
/// Returns seconds for: ferrokube `WatchDecoder` (framing + event decode), ferrokube
/// `JsonFramer` alone, ferrokube `decode_event` alone (per line), kube-rs's path
/// (split lines, UTF-8 check, `serde_json::from_str::<kube::core::WatchEvent<Pod>>`),
/// and a plain `serde_json::from_slice::<Pod>` of each object (the floor).
pub fn decode_split(bytes: &[u8]) -> Result<[(&'static str, f64); 5], String> {
    use ferrokube::watch::{JsonFramer, WatchDecoder};
    let chunks: Vec<&[u8]> = bytes.chunks(16 * 1024).collect();
    let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
    let n = lines.len();
    let t = Instant::now();
    let mut d = WatchDecoder::new();
    let mut got = 0;
    for c in &chunks {
        d.push(c);
        while let Some(ev) = d.next_event::<Pod>() {
            ev.map_err(|e| format!("ferrokube decoder: {e:?}"))?;
            got += 1;
        }
    }
    let ferro = t.elapsed().as_secs_f64();
    if got != n {
        return Err(format!("ferrokube decoder gave {got} events, expected {n}"));
    }
    let t = Instant::now();
    let mut f = JsonFramer::new();
    let mut frames = 0;
    for c in &chunks {
        f.push(c);
        while let Some(fr) = f.next_frame().map_err(|e| e.to_string())? {
            frames += fr.len().min(1);
        }
    }
    let framer = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for l in &lines {
        let _: ferrokube::watch::WatchEvent<Pod> =
            ferrokube::watch::event::decode_event(l).map_err(|e| e.to_string())?;
    }
    let decode_event = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for l in &lines {
        let s = std::str::from_utf8(l).map_err(|e| e.to_string())?.to_owned();
        let _: kube::core::WatchEvent<Pod> = serde_json::from_str(&s).map_err(|e| e.to_string())?;
    }
    let kube = t.elapsed().as_secs_f64();
    // The floor: typed decode of the event with no framing (serde's derive on a
    // {type, object} struct).
    #[derive(serde::Deserialize)]
    struct Ev {
        #[allow(dead_code)]
        r#type: String,
        #[allow(dead_code)]
        object: Pod,
    }
    let t = Instant::now();
    for l in &lines {
        let _: Ev = serde_json::from_slice(l).map_err(|e| e.to_string())?;
    }
    let floor = t.elapsed().as_secs_f64();
    let mut copies: Vec<Vec<u8>> = lines.iter().map(|l| l.to_vec()).collect();
    let t = Instant::now();
    for l in copies.iter_mut() {
        let _: Ev = simd_json::serde::from_slice(l).map_err(|e| e.to_string())?;
    }
    let simd = t.elapsed().as_secs_f64();
    eprintln!("    simd-json {{type, object: Pod}}: {:.1} us/event", simd * 1e6 / n as f64);
    let _ = frames;
    Ok([
        ("ferrokube WatchDecoder", ferro),
        ("ferrokube JsonFramer only", framer),
        ("ferrokube decode_event only", decode_event),
        ("kube-rs lines + from_str", kube),
        ("serde_json {type, object: Pod}", floor),
    ])
}

// ---------------------------------------------------------------------------------
// (3) Cache memory

/// What a client's cache holds after building it: objects and live heap bytes.
pub struct CacheSize {
    /// Objects in the cache.
    pub objects: usize,
    /// Live heap bytes (counting allocator) the cache holds.
    pub bytes: isize,
}

/// Settles the heap: lets the server finish closing connections and watches.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(400)).await;
}

/// ferrokube: `tools::cache::Reflector` filling a `tools::cache::Store<K>` (paged
/// initial list, 500 per page, like kube-rs's watcher). `strip` turns on
/// `ReflectorOptions::skip_managed_fields` (managedFields skipped while decoding; the
/// stored objects are the same as with the `strip_managed_fields` transform). Runs until
/// synced, then the reflector and client are dropped and the store is kept.
/// `K` is `Pod` (objects as decoded) or `Compact<Pod>` (metadata decoded, the rest kept
/// compressed and decoded on read).
pub async fn cache_ferrokube<K: ferrokube::tools::cache::CachedResource>(
    kubeconfig: &std::path::Path,
    expect: usize,
    strip: bool,
) -> Result<CacheSize, String> {
    use ferrokube::tools::cache::{Reflector, ReflectorOptions, Store};
    let before = crate::alloc::live_bytes();
    let server_before = crate::alloc::server_live_bytes();
    let store = {
        let c = crate::clients::ferrokube(kubeconfig)?;
        let store: Store<K> = Store::new();
        let opts = ReflectorOptions::default().namespace(NAMESPACE).skip_managed_fields(strip);
        let handle = Reflector::new(c, store.clone(), opts).spawn();
        tokio::time::timeout(Duration::from_secs(600), handle.wait_for_sync())
            .await
            .map_err(|_| "ferrokube reflector did not sync in 600 s".to_owned())?;
        drop(handle);
        store
    };
    settle().await;
    let bytes = crate::alloc::live_bytes() - before;
    let objects = store.len();
    eprintln!("    ferrokube cache of {} (strip={strip}): server-thread heap changed by {:.1} MB during the measurement (not counted)", std::any::type_name::<K>(), (crate::alloc::server_live_bytes() - server_before) as f64 / 1e6);
    drop(store);
    if objects != expect {
        return Err(format!("ferrokube store holds {objects} objects, expected {expect}"));
    }
    Ok(CacheSize { objects, bytes })
}

/// The fallback used before `tools::cache` existed: a map namespace/name -> `Arc<Pod>`
/// filled by a paged LIST (kept to compare the store's own overhead).
#[allow(dead_code)]
pub async fn cache_ferrokube_map(
    kubeconfig: &std::path::Path,
    expect: usize,
    strip: bool,
) -> Result<CacheSize, String> {
    let before = crate::alloc::live_bytes();
    let store = {
        let c = crate::clients::ferrokube(kubeconfig)?;
        let mut store: HashMap<String, Arc<Pod>> = HashMap::new();
        let mut cont: Option<String> = None;
        loop {
            let mut req = c.get().namespace(NAMESPACE).resource("pods").param("limit", "500");
            if let Some(t) = cont.take() {
                req = req.param("continue", t);
            }
            let list: k8s_openapi::List<Pod> = req.into_object().await.map_err(|e| format!("ferrokube list: {e}"))?;
            let next = list.metadata.continue_.clone().filter(|t| !t.is_empty());
            for mut p in list.items {
                if strip {
                    p.metadata.managed_fields = None;
                }
                store.insert(key(&p), Arc::new(p));
            }
            match next {
                Some(t) => cont = Some(t),
                None => break,
            }
        }
        drop(c);
        store
    };
    settle().await;
    let bytes = crate::alloc::live_bytes() - before;
    let objects = store.len();
    drop(store);
    if objects != expect {
        return Err(format!("ferrokube cache holds {objects} objects, expected {expect}"));
    }
    Ok(CacheSize { objects, bytes })
}

/// kube-rs: `reflector::store()` fed by `watcher(api, Config::default())` (paged initial
/// list, 500 per page), with `.modify()` clearing managedFields when `strip`. The
/// reflector runs until the store holds `expect` objects, then the watcher, writer and
/// client are dropped and the reader is kept.
pub async fn cache_kube(kubeconfig_yaml: &str, expect: usize, strip: bool) -> Result<CacheSize, String> {
    let before = crate::alloc::live_bytes();
    let server_before = crate::alloc::server_live_bytes();
    let reader = {
        let c = crate::clients::kube_rs(kubeconfig_yaml).await?;
        let api: Api<Pod> = Api::namespaced(c, NAMESPACE);
        let (reader, writer) = reflector::store::<Pod>();
        let stream = watcher(api, watcher::Config::default())
            .default_backoff()
            .modify(move |p: &mut Pod| {
                if strip {
                    p.metadata.managed_fields = None;
                }
            })
            .reflect(writer)
            .applied_objects();
        let r2 = reader.clone();
        let driver = async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(ev) = stream.next().await {
                if let Err(e) = ev {
                    return Err(format!("kube-rs watcher: {e}"));
                }
                if r2.len() >= expect {
                    break;
                }
            }
            Ok(())
        };
        // The initial list arrives as one Init..InitDone batch: wait for readiness.
        let ready = async {
            reader.wait_until_ready().await.map_err(|e| format!("kube-rs store: {e}"))?;
            Ok::<_, String>(())
        };
        tokio::select! {
            r = driver => r?,
            r = ready => r?,
        }
        reader
    };
    settle().await;
    let bytes = crate::alloc::live_bytes() - before;
    let objects = reader.len();
    eprintln!("    kube-rs cache (strip={strip}): server-thread heap changed by {:.1} MB during the measurement (not counted)", (crate::alloc::server_live_bytes() - server_before) as f64 / 1e6);
    drop(reader);
    if objects != expect {
        return Err(format!("kube-rs store holds {objects} objects, expected {expect}"));
    }
    Ok(CacheSize { objects, bytes })
}

/// Live heap bytes per object of one LIST body decoded in memory, the way each client
/// decodes it: `serde_json::from_slice::<k8s_openapi::List<Pod>>` (ferrokube's
/// `into_object`) and `serde_json::from_str::<kube::core::ObjectList<Pod>>` (kube-rs's
/// `Client::request`). Separates the decoded form's size from transport and store costs.
pub fn decoded_size(body: &[u8]) -> Result<(f64, f64), String> {
    let before = crate::alloc::live_bytes();
    let a: k8s_openapi::List<Pod> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let fa = (crate::alloc::live_bytes() - before) as f64 / a.items.len().max(1) as f64;
    drop(a);
    let text = std::str::from_utf8(body).map_err(|e| e.to_string())?.to_owned();
    let before = crate::alloc::live_bytes();
    let b: kube::core::ObjectList<Pod> = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let kb = (crate::alloc::live_bytes() - before) as f64 / b.items.len().max(1) as f64;
    drop(b);
    Ok((fa, kb))
}

// ---------------------------------------------------------------------------------
// (4) Small GET

/// Requests per second and latency percentiles of one GET run.
#[derive(Clone, Copy, Debug)]
pub struct GetStats {
    /// Completed requests per second.
    pub rps: f64,
    /// Median latency, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency, milliseconds.
    pub p99_ms: f64,
    /// Client-side CPU microseconds per request (all non-server threads).
    pub cpu_us: f64,
}

/// Runs `op` from `concurrency` tasks for `duration` (after a warm-up of the same shape
/// so connections exist) and measures every request.
pub async fn get_run<F, Fut>(concurrency: usize, duration: Duration, op: F) -> Result<GetStats, String>
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let _ = get_phase(concurrency, duration / 5, op.clone()).await?;
    let c0 = crate::alloc::client_cpu_seconds().unwrap_or(f64::NAN);
    let (lat, secs) = get_phase(concurrency, duration, op).await?;
    let cpu = crate::alloc::client_cpu_seconds().unwrap_or(f64::NAN) - c0;
    let mut lat = lat;
    lat.sort_unstable();
    let pct = |q: f64| {
        let i = ((lat.len() as f64 * q).ceil() as usize).clamp(1, lat.len()) - 1;
        lat[i].as_secs_f64() * 1e3
    };
    Ok(GetStats {
        rps: lat.len() as f64 / secs,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        cpu_us: cpu * 1e6 / lat.len() as f64,
    })
}

async fn get_phase<F, Fut>(concurrency: usize, duration: Duration, op: F) -> Result<(Vec<Duration>, f64), String>
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(4096);
            while Instant::now() < deadline {
                let t = Instant::now();
                op().await?;
                lat.push(t.elapsed());
            }
            Ok::<_, String>(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.map_err(|e| e.to_string())??);
    }
    let secs = start.elapsed().as_secs_f64();
    if all.is_empty() {
        return Err("no request completed".into());
    }
    Ok((all, secs))
}

/// Diagnostic: where the time of an in-memory LIST decode goes (best of 5, ms; the
/// decoded lists are freed outside the clock): the UTF-8 check, the structural scan
/// that finds each item (`ScannedList::scan`), one-threaded serde_json, and
/// ferrokube's `decode_list`.
pub fn decode_list_split(body: &[u8]) {
    let Ok(text) = std::str::from_utf8(body) else {
        eprintln!("    in-memory LIST decode: the body is not UTF-8");
        return;
    };
    // Checked once, so that the timed decodes below (of the same text) cannot fail.
    if let Err(e) = serde_json::from_str::<k8s_openapi::List<Pod>>(text) {
        eprintln!("    in-memory LIST decode: the body is not a pod list: {e}");
        return;
    }
    fn best<T>(f: impl Fn() -> T) -> f64 {
        (0..5)
            .map(|_| {
                let t = Instant::now();
                let v = f();
                let ms = t.elapsed().as_secs_f64() * 1e3;
                drop(v);
                ms
            })
            .fold(f64::INFINITY, f64::min)
    }
    let utf8 = best(|| std::str::from_utf8(body).expect("utf-8").len());
    let prescan = best(|| ferrokube::rest::list_decode::ScannedList::<k8s_openapi::List<Pod>>::scan(text).is_some());
    let reference = best(|| serde_json::from_str::<k8s_openapi::List<Pod>>(text).expect("list"));
    let split = best(|| ferrokube::rest::list_decode::decode_list::<k8s_openapi::List<Pod>>(text).expect("list"));
    eprintln!("    in-memory LIST decode of {:.1} MB: utf-8 check {utf8:.2} ms, structural scan + envelope {prescan:.2} ms, serde_json {reference:.2} ms, decode_list {split:.2} ms (frees not timed)", body.len() as f64 / 1e6);
    // What a lazy object form could gain (a design question, see bench/README.md): the
    // same list decoded into metadata only, the rest of each object skipped unparsed
    // into values, on one thread; and the same with managedFields skipped too.
    #[derive(serde::Deserialize)]
    struct MetaOnly {
        #[allow(dead_code)]
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    }
    #[derive(serde::Deserialize)]
    struct Items<T> {
        #[allow(dead_code)]
        items: Vec<T>,
    }
    use ferrokube::tools::cache::WithoutManagedFields;
    let stripped = best(|| serde_json::from_str::<Items<WithoutManagedFields<Pod>>>(text).expect("list"));
    let meta = best(|| serde_json::from_str::<Items<MetaOnly>>(text).expect("list"));
    let meta_stripped = best(|| serde_json::from_str::<Items<WithoutManagedFields<MetaOnly>>>(text).expect("list"));
    eprintln!("    in-memory LIST decode, one thread: Pod {reference:.2} ms, Pod without managedFields {stripped:.2} ms, metadata only {meta:.2} ms, metadata without managedFields {meta_stripped:.2} ms");
}
