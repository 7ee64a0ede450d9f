//! `load`: a load run of the `ferrokube-apiserver` binary driven by the ferrokube
//! client — many watchers and writers for a fixed time — reporting throughput,
//! latencies and the server's memory. A benchmark program, not a test: it prints
//! figures and asserts nothing.
//!
//! ```text
//! cargo build --release -p ferrokube-apiserver
//! cargo run --release -p ferrokube-bench --bin load -- [--watchers 200] [--writers 50]
//!     [--duration 60] [--objects-per-writer 10] [--controllers=true|false]
//!     [--server PATH] [--quick] [--markdown PATH]
//! ```
//!
//! How it runs:
//! 1. starts the server binary as a child process (`--secure-port 0`, in-memory
//!    storage, `--write-kubeconfig`), so that its memory is its own: resident memory is
//!    read from `/proc/PID/status` (`VmRSS` every second, `VmHWM` at the end) and CPU
//!    time from `/proc/PID/stat`;
//! 2. creates namespace `load` and `objects-per-writer` ConfigMaps per writer;
//! 3. starts the watchers: each lists the namespace's ConfigMaps and watches them from
//!    the list's resourceVersion (resuming from the last event when the server ends a
//!    watch), decoding every event as a `ConfigMap`; every watcher sees every write.
//!    Watchers share a client (one HTTPS connection) by tens, writers by tens;
//! 4. runs the writers for `duration`: each, in a closed loop, merge-patches its own
//!    ConfigMaps in turn (`data.seq`), recording the latency of each write (request to
//!    answer) and the moment its answer came back, keyed by the new resourceVersion;
//! 5. a watcher that receives an event looks its resourceVersion up: the delivery
//!    latency is event seen − write answered, 0 for an event that arrived before its
//!    writer got the answer (those are also counted); and event seen − write sent,
//!    from the send time the writer stamps into the object (`data.sent`).
//!
//! Reported: writes/s, watch events delivered/s (all watchers), write latency p50/p99,
//! delivery latency p50/p99 (from the answer and from the send), the server's peak RSS, its RSS at half time and at the
//! end (memory bounded: the second is not much above the first), its CPU use (also
//! per write and per delivered event: figures that hold on a shared machine, where
//! the rates depend on the CPU the run gets) and the client process's CPU.
//! `--quick`: 20 watchers, 5 writers, 10 s.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use ferrokube::clientcmd::{ClientConfig, ConfigOverrides, DirectClientConfig};
use ferrokube::rest::{ListOptions, PatchType, RESTClient, RateLimiterChoice};
use ferrokube::watch::WatchEvent;
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::json;

const NS: &str = "load";

/// The clock writers stamp into their objects (`data.sent`, microseconds since it).
static EPOCH: OnceLock<Instant> = OnceLock::new();

fn since_epoch_us(at: Instant) -> u64 {
    at.saturating_duration_since(*EPOCH.get_or_init(Instant::now)).as_micros() as u64
}

/// Command-line settings.
#[derive(Clone, Debug)]
struct Args {
    watchers: usize,
    writers: usize,
    duration: Duration,
    objects_per_writer: usize,
    controllers: bool,
    server: PathBuf,
    markdown: Option<PathBuf>,
}

fn usage() -> ! {
    eprintln!(
        "usage: load [--watchers N] [--writers N] [--duration SECONDS] [--objects-per-writer N] \
         [--controllers=true|false] [--server PATH] [--quick] [--markdown PATH]"
    );
    std::process::exit(2)
}

fn default_server() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("target"));
    target.join("release").join("ferrokube-apiserver")
}

fn parse_args() -> Args {
    let mut args = Args {
        watchers: 200,
        writers: 50,
        duration: Duration::from_secs(60),
        objects_per_writer: 10,
        controllers: true,
        server: default_server(),
        markdown: None,
    };
    let mut it = std::env::args().skip(1);
    let number = |v: Option<String>| -> usize { v.and_then(|v| v.parse().ok()).unwrap_or_else(|| usage()) };
    while let Some(a) = it.next() {
        match a.as_str() {
            "--watchers" => args.watchers = number(it.next()),
            "--writers" => args.writers = number(it.next()),
            "--duration" => args.duration = Duration::from_secs(number(it.next()) as u64),
            "--objects-per-writer" => args.objects_per_writer = number(it.next()).max(1),
            "--controllers" | "--controllers=true" => args.controllers = true,
            "--controllers=false" => args.controllers = false,
            "--server" => args.server = it.next().map(PathBuf::from).unwrap_or_else(|| usage()),
            "--markdown" => args.markdown = Some(it.next().map(PathBuf::from).unwrap_or_else(|| usage())),
            "--quick" => {
                args.watchers = 20;
                args.writers = 5;
                args.duration = Duration::from_secs(10);
            }
            _ => usage(),
        }
    }
    args
}

/// The server child process; killed when dropped.
struct Server {
    child: Child,
    kubeconfig: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(binary: &Path, controllers: bool) -> Server {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let kubeconfig = dir.path().join("kubeconfig");
        let mut child = Command::new(binary)
            .args(["--secure-port", "0", &format!("--controllers={controllers}"), "--write-kubeconfig"])
            .arg(&kubeconfig)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {}: {e} (cargo build --release -p ferrokube-apiserver)", binary.display())
            });
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("the readiness line");
        assert!(line.starts_with("serving on https://"), "unexpected readiness line: {line:?}");
        let kubeconfig = std::fs::read_to_string(&kubeconfig).expect("the kubeconfig");
        Server { child, kubeconfig, _dir: dir }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// `VmRSS` and `VmHWM` of `pid`, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// User + system CPU time of `pid`, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 here.
    let ticks: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    ticks as f64 / 100.0
}

fn client(kubeconfig: &str) -> RESTClient {
    let raw = ferrokube::clientcmd::load_from_str(kubeconfig, Path::new("load.kubeconfig")).expect("kubeconfig");
    let mut config = DirectClientConfig::new(raw, ConfigOverrides::default()).client_config().expect("client config");
    config.rate_limiter = RateLimiterChoice::Disabled;
    RESTClient::new(&config).expect("client")
}

/// When each write was answered, by resourceVersion (sharded to keep the watchers'
/// lookups from contending).
struct Acks {
    shards: Vec<Mutex<HashMap<u64, Instant>>>,
}

impl Acks {
    fn new() -> Self {
        Acks { shards: (0..64).map(|_| Mutex::new(HashMap::new())).collect() }
    }
    fn shard(&self, rv: u64) -> &Mutex<HashMap<u64, Instant>> {
        &self.shards[(rv % self.shards.len() as u64) as usize]
    }
    fn record(&self, rv: u64, at: Instant) {
        self.shard(rv).lock().unwrap().insert(rv, at);
    }
    fn get(&self, rv: u64) -> Option<Instant> {
        self.shard(rv).lock().unwrap().get(&rv).copied()
    }
}

fn rv_of(cm: &ConfigMap) -> u64 {
    cm.metadata.resource_version.as_deref().and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// What one watcher measured.
#[derive(Default)]
struct WatchStats {
    events: u64,
    /// Write answered -> event seen, in microseconds (0 for an event seen before the
    /// writer had its answer).
    latencies_us: Vec<u32>,
    /// Write sent (stamped in the object) -> event seen, in microseconds.
    from_send_us: Vec<u32>,
    before_ack: u64,
    restarts: u64,
}

async fn watcher(client: RESTClient, acks: Arc<Acks>, stop: Arc<AtomicBool>, ready: Arc<AtomicU64>) -> WatchStats {
    let mut stats = WatchStats::default();
    let list: k8s_openapi::List<ConfigMap> = client
        .get()
        .group_version("", "v1")
        .namespace(NS)
        .resource("configmaps")
        .into_object()
        .await
        .expect("the watcher's list");
    let mut rv = list.metadata.resource_version.clone().unwrap_or_default();
    let mut first = true;
    while !stop.load(Ordering::Relaxed) {
        let opts = ListOptions {
            resource_version: Some(rv.clone()),
            allow_watch_bookmarks: Some(true),
            timeout_seconds: Some(300),
            ..Default::default()
        };
        let stream = client
            .get()
            .group_version("", "v1")
            .namespace(NS)
            .resource("configmaps")
            .versioned_params(&opts)
            .watch::<ConfigMap>()
            .await;
        let mut stream = match stream {
            Ok(s) => s,
            Err(e) => {
                eprintln!("watch failed: {e}");
                stats.restarts += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        if first {
            ready.fetch_add(1, Ordering::Relaxed);
            first = false;
        }
        loop {
            let event = tokio::select! {
                e = stream.next() => e,
                _ = wait_stop(&stop) => None,
            };
            let Some(event) = event else { break };
            let seen = Instant::now();
            match event {
                Ok(WatchEvent::Added(cm)) | Ok(WatchEvent::Modified(cm)) | Ok(WatchEvent::Deleted(cm)) => {
                    stats.events += 1;
                    let v = rv_of(&cm);
                    rv = v.to_string();
                    let sent = cm.data.as_ref().and_then(|d| d.get("sent")).and_then(|s| s.parse::<u64>().ok());
                    if let Some(sent) = sent {
                        let d = since_epoch_us(seen).saturating_sub(sent);
                        stats.from_send_us.push(d.min(u32::MAX as u64) as u32);
                        match acks.get(v) {
                            Some(acked) => {
                                let d = seen.saturating_duration_since(acked);
                                stats.latencies_us.push(d.as_micros().min(u32::MAX as u128) as u32);
                            }
                            None => {
                                stats.before_ack += 1;
                                stats.latencies_us.push(0);
                            }
                        }
                    }
                }
                Ok(WatchEvent::Bookmark(b)) => rv = b.resource_version,
                Ok(WatchEvent::Error(status)) => {
                    eprintln!("watch ERROR event: {:?}", status.message);
                    break;
                }
                Err(e) => {
                    eprintln!("watch stream error: {e}");
                    break;
                }
            }
        }
        stats.restarts += 1;
    }
    stats
}

/// Completes once `stop` is set (checked every 50 ms).
async fn wait_stop(stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What one writer measured.
#[derive(Default)]
struct WriteStats {
    writes: u64,
    errors: u64,
    latencies_us: Vec<u32>,
}

async fn writer(client: RESTClient, w: usize, objects: usize, acks: Arc<Acks>, stop: Arc<AtomicBool>) -> WriteStats {
    let mut stats = WriteStats::default();
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let name = format!("w{w}-{}", seq as usize % objects);
        seq += 1;
        let sent = Instant::now();
        let body = json!({"data": {"seq": seq.to_string(), "sent": since_epoch_us(sent).to_string()}});
        let result = client
            .patch(PatchType::Merge)
            .group_version("", "v1")
            .namespace(NS)
            .resource("configmaps")
            .name(&name)
            .body(&body)
            .into_object::<ConfigMap>()
            .await;
        let answered = Instant::now();
        match result {
            Ok(cm) => {
                acks.record(rv_of(&cm), answered);
                stats.writes += 1;
                stats.latencies_us.push((answered - sent).as_micros().min(u32::MAX as u128) as u32);
            }
            Err(e) => {
                stats.errors += 1;
                if stats.errors <= 3 {
                    eprintln!("write failed: {e}");
                }
            }
        }
    }
    stats
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn main() {
    EPOCH.get_or_init(Instant::now);
    let args = parse_args();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(run(args));
}

async fn run(args: Args) {
    let server = Server::start(&args.server, args.controllers);
    let pid = server.pid();
    let (rss_idle, _) = memory_kib(pid);
    eprintln!(
        "server pid {pid}: {} watchers, {} writers, {:?}, controllers {}",
        args.watchers, args.writers, args.duration, args.controllers
    );

    let setup = client(&server.kubeconfig);
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}});
    setup.post().group_version("", "v1").resource("namespaces").body(&ns).send().await.expect("namespace");
    for w in 0..args.writers {
        for i in 0..args.objects_per_writer {
            let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("w{w}-{i}"), "namespace": NS}, "data": {"seq": "0"}});
            setup
                .post()
                .group_version("", "v1")
                .namespace(NS)
                .resource("configmaps")
                .body(&cm)
                .send()
                .await
                .expect("create a ConfigMap");
        }
    }

    let acks = Arc::new(Acks::new());
    let stop = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(AtomicU64::new(0));
    let mut watch_clients = Vec::new();
    let mut watchers = Vec::new();
    for i in 0..args.watchers {
        if i % 10 == 0 {
            watch_clients.push(client(&server.kubeconfig));
        }
        let c = watch_clients.last().expect("a client").clone();
        watchers.push(tokio::spawn(watcher(c, Arc::clone(&acks), Arc::clone(&stop), Arc::clone(&ready))));
    }
    let ready_deadline = Instant::now() + Duration::from_secs(60);
    while (ready.load(Ordering::Relaxed) as usize) < args.watchers {
        assert!(Instant::now() < ready_deadline, "the watchers did not all start within 60 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (rss_watching, _) = memory_kib(pid);

    let writer_stop = Arc::new(AtomicBool::new(false));
    let mut write_clients = Vec::new();
    let mut writers = Vec::new();
    let cpu_start = cpu_seconds(pid);
    let own_cpu_start = cpu_seconds(std::process::id());
    let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let started = Instant::now();
    for w in 0..args.writers {
        if w % 10 == 0 {
            write_clients.push(client(&server.kubeconfig));
        }
        let c = write_clients.last().expect("a client").clone();
        writers.push(tokio::spawn(writer(c, w, args.objects_per_writer, Arc::clone(&acks), Arc::clone(&writer_stop))));
    }

    // Sample the server's memory every second.
    let mut samples: Vec<(f64, u64)> = Vec::new();
    let mut rss_half = 0;
    let half = args.duration / 2;
    while started.elapsed() < args.duration {
        tokio::time::sleep(Duration::from_secs(1).min(args.duration.saturating_sub(started.elapsed()))).await;
        let (rss, _) = memory_kib(pid);
        samples.push((started.elapsed().as_secs_f64(), rss));
        if rss_half == 0 && started.elapsed() >= half {
            rss_half = rss;
        }
    }
    writer_stop.store(true, Ordering::Relaxed);
    let mut write_stats = Vec::new();
    for w in writers {
        write_stats.push(w.await.expect("a writer"));
    }
    let elapsed = started.elapsed();
    let cpu = cpu_seconds(pid) - cpu_start;
    let own_cpu = cpu_seconds(std::process::id()) - own_cpu_start;
    let (rss_end, hwm) = memory_kib(pid);
    // Let the watchers drain what is still in flight, then stop them.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let mut watch_stats = Vec::new();
    for w in watchers {
        watch_stats.push(w.await.expect("a watcher"));
    }

    let writes: u64 = write_stats.iter().map(|s| s.writes).sum();
    let write_errors: u64 = write_stats.iter().map(|s| s.errors).sum();
    let mut write_lat: Vec<u32> = write_stats.into_iter().flat_map(|s| s.latencies_us).collect();
    write_lat.sort_unstable();
    let events: u64 = watch_stats.iter().map(|s| s.events).sum();
    let before_ack: u64 = watch_stats.iter().map(|s| s.before_ack).sum();
    let restarts: u64 = watch_stats.iter().map(|s| s.restarts.saturating_sub(1)).sum();
    let mut from_send: Vec<u32> = watch_stats.iter().flat_map(|s| s.from_send_us.iter().copied()).collect();
    from_send.sort_unstable();
    let mut delivery: Vec<u32> = watch_stats.into_iter().flat_map(|s| s.latencies_us).collect();
    delivery.sort_unstable();
    let expected_events = writes * args.watchers as u64;

    let secs = elapsed.as_secs_f64();
    let mib = |kib: u64| kib as f64 / 1024.0;
    let growth = if rss_half > 0 { (rss_end as f64 / rss_half as f64 - 1.0) * 100.0 } else { f64::NAN };
    let report = format!(
        "| setting | value |\n|---|---|\n\
         | watchers / writers / duration | {} / {} / {:.0} s |\n\
         | objects (ConfigMaps) | {} |\n\
         | controllers | {} |\n\
         | writes | {writes} ({write_errors} failed) |\n\
         | **writes/s** | **{:.0}** |\n\
         | watch events delivered | {events} of {expected_events} expected (writes × watchers) |\n\
         | **watch events delivered/s** | **{:.0}** |\n\
         | write latency p50 / p99 | {:.2} ms / {:.2} ms |\n\
         | **delivery latency (write answered → event seen) p50 / p99** | {:.2} ms / **{:.2} ms** |\n\
         | events seen before the writer had its answer (counted as 0 above) | {before_ack} |\n\
         | write sent → event seen p50 / p99 | {:.2} ms / {:.2} ms |\n\
         | watch restarts | {restarts} |\n\
         | server RSS idle / with watchers | {:.1} MiB / {:.1} MiB |\n\
         | **server peak RSS (VmHWM)** | **{:.1} MiB** |\n\
         | server RSS at {:.0} s / at {:.0} s | {:.1} MiB / {:.1} MiB ({growth:+.1} %) |\n\
         | server CPU during the writes | {:.2} cores |\n\
         | server CPU per write (with its delivery to every watcher) / per event delivered | {:.0} µs / {:.2} µs |\n\
         | client (this process: writers, watchers, decoding) CPU | {:.2} cores |\n\
         | machine load average before the writes | {} |\n",
        args.watchers,
        args.writers,
        secs,
        args.writers * args.objects_per_writer,
        args.controllers,
        writes as f64 / secs,
        events as f64 / secs,
        percentile(&write_lat, 0.5),
        percentile(&write_lat, 0.99),
        percentile(&delivery, 0.5),
        percentile(&delivery, 0.99),
        percentile(&from_send, 0.5),
        percentile(&from_send, 0.99),
        mib(rss_idle),
        mib(rss_watching),
        mib(hwm),
        half.as_secs_f64(),
        secs,
        mib(rss_half),
        mib(rss_end),
        cpu / secs,
        cpu * 1e6 / writes.max(1) as f64,
        cpu * 1e6 / events.max(1) as f64,
        own_cpu / secs,
        load_before.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    );
    println!("{report}");
    let curve: Vec<String> = samples.iter().map(|(t, kib)| format!("{t:.0}s {:.0}", mib(*kib))).collect();
    println!("RSS samples (MiB): {}", curve.join(", "));
    if let Some(path) = &args.markdown {
        let text = format!("{report}\nRSS samples (MiB): {}\n", curve.join(", "));
        std::fs::write(path, text).expect("write the markdown");
    }
    drop(server);
}
