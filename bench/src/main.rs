//! ferrokube-bench: ferrokube, kube-rs, client-go (JSON and protobuf, a Go program in
//! `bench/clientgo`) and the official Python client side by side on the embedded API
//! server, in one run.
//!
//! ```text
//! cargo run --release -p ferrokube-bench -- [--quick] [--json PATH] [--python|--no-python] [--no-client-go]
//! ```
//!
//! The server runs in this process on its own tokio runtime (2 workers); the clients run
//! on a second runtime (2 workers). Every workload gets a fresh server loaded straight
//! through its registry. Rust clients alternate (ABAB...) for several rounds and the
//! median is reported; a raw hyper client that reads bytes without decoding gives the
//! "server alone" figure of the same request. See bench/README.md.

mod alloc;
mod clientgo;
mod clients;
mod data;
mod decode_only;
mod report;
mod workloads;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrokube::tools::cache::Compact;
use ferrokube_apiserver::registry::Registry;
use ferrokube_apiserver::storage::StoreConfig;
use ferrokube_apiserver::{EmbeddedServer, ServerOptions};
use k8s_openapi::api::core::v1::Pod;
use report::{median, Cell, Row};

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

/// Workload sizes; `--quick` divides them by ten.
#[derive(Clone, Debug)]
struct Sizes {
    list: usize,
    watch_events: usize,
    /// Events the watch server keeps in history; the watch workload replays it
    /// `watch_events / watch_history` times.
    watch_history: usize,
    cache: usize,
    get_duration: Duration,
    rounds: usize,
    py_watch_events: usize,
    py_get_duration: f64,
}

impl Sizes {
    fn new(quick: bool) -> Sizes {
        if quick {
            Sizes {
                list: 500,
                watch_events: 10_000,
                watch_history: 10_000,
                cache: 5_000,
                get_duration: Duration::from_millis(500),
                rounds: 3,
                py_watch_events: 1_000,
                py_get_duration: 0.5,
            }
        } else {
            Sizes {
                list: 5_000,
                watch_events: 100_000,
                watch_history: 25_000,
                cache: 50_000,
                get_duration: Duration::from_secs(2),
                rounds: 5,
                py_watch_events: 10_000,
                py_get_duration: 2.0,
            }
        }
    }
}

struct Args {
    quick: bool,
    json: Option<PathBuf>,
    python: Option<bool>,
    client_go: bool,
    only: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args { quick: false, json: None, python: None, client_go: true, only: None };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => a.quick = true,
            "--json" => a.json = Some(it.next().ok_or("--json needs a path")?.into()),
            "--python" => a.python = Some(true),
            "--no-python" => a.python = Some(false),
            "--no-client-go" => a.client_go = false,
            "--allocator=mimalloc" => {}
            // Kept for old command lines: both wire formats run in every run now.
            "--ferrokube-protobuf" => {}
            "--profile-decode" => {
                let spec = it.next().ok_or("--profile-decode needs list|watch|list-json|watch-json[:seconds]")?;
                if let Err(e) = decode_only::profile(&spec) {
                    eprintln!("error: {e}");
                    std::process::exit(1);
                }
                std::process::exit(0);
            }
            "--only" => a.only = Some(it.next().ok_or("--only needs one of list,watch,cache,get,decode")?),
            "-h" | "--help" => {
                println!(
                    "usage: ferrokube-bench [--quick] [--json PATH] [--python|--no-python] [--no-client-go] [--only list|watch|cache|get|decode] [--allocator=mimalloc] [--profile-decode list|watch|get|list-json|watch-json|get-json[:secs]]\n\
                     Runs ferrokube, kube-rs, client-go (bench/clientgo, built with Go; JSON and protobuf)\n\
                     (and the Python client when bench/.venv exists or --python)\n\
                     on the embedded API server; writes bench/results/latest.json and chart.svg.\n\
                     --allocator=mimalloc puts every client (and the server) on mimalloc instead of\n\
                     the system allocator. ferrokube's LIST and watch rows run twice, over JSON and\n\
                     over Kubernetes protobuf (as its typed clients ask), in the same rotation.\n\
                     --profile-decode: decode in a loop for a profiler, print CPU per item, exit.\n\
                     FERROKUBE_BENCH_ONLY=ferrokube|kube-rs runs one client only, for profiling."
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(a)
}

fn bench_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A server for one workload, on the server runtime.
struct Server {
    server: Option<EmbeddedServer>,
    registry: Arc<Registry>,
    _dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    kubeconfig_yaml: String,
}

impl Server {
    fn start(rt: &tokio::runtime::Runtime, history: usize) -> Result<Server, String> {
        let registry = Registry::with_options(
            StoreConfig { history_capacity: history, ..StoreConfig::default() },
            ferrokube_apiserver::registry::DEFAULT_BOOKMARK_INTERVAL,
        );
        let opts = ServerOptions { controllers: false, ..ServerOptions::default() };
        let server = rt
            .block_on(EmbeddedServer::start_with_registry(opts, registry.clone()))
            .map_err(|e| format!("server start: {e}"))?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let kubeconfig = dir.path().join("kubeconfig");
        server.write_kubeconfig(&kubeconfig).map_err(|e| e.to_string())?;
        let kubeconfig_yaml = server.kubeconfig_yaml();
        Ok(Server { server: Some(server), registry, _dir: dir, kubeconfig, kubeconfig_yaml })
    }

    fn raw(&self) -> Result<clients::Raw, String> {
        let s = self.server.as_ref().expect("running");
        clients::Raw::new(s.url(), s.ca_certificate_pem(), s.admin_token().expose())
    }

    fn stop(mut self, rt: &tokio::runtime::Runtime) {
        if let Some(s) = self.server.take() {
            let _ = rt.block_on(async { tokio::time::timeout(Duration::from_secs(6), s.shutdown()).await });
        }
    }
}

/// The Python client, if it is to run.
struct Python {
    exe: PathBuf,
    script: PathBuf,
}

impl Python {
    fn find(wanted: Option<bool>) -> Result<Option<Python>, String> {
        let exe = bench_dir().join(".venv/bin/python");
        let script = bench_dir().join("python_bench.py");
        match wanted {
            Some(false) => Ok(None),
            Some(true) if !exe.exists() => Err(format!(
                "--python: {} does not exist; create it with `python3 -m venv bench/.venv && bench/.venv/bin/pip install kubernetes`",
                exe.display()
            )),
            _ if exe.exists() => Ok(Some(Python { exe, script })),
            _ => Ok(None),
        }
    }

    /// Runs one workload; the script prints one JSON object.
    fn run(&self, kubeconfig: &Path, args: &[String]) -> Result<serde_json::Value, String> {
        let out = Command::new(&self.exe)
            .arg(&self.script)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(args)
            .output()
            .map_err(|e| format!("python: {e}"))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(format!("python {}: {}", args.join(" "), err.lines().last().unwrap_or("failed")));
        }
        serde_json::from_slice(&out.stdout).map_err(|e| format!("python output: {e}"))
    }
}

fn py_run(py: &Option<Python>, kubeconfig: &Path, args: &[String]) -> Result<serde_json::Value, String> {
    match py {
        None => Err("python client not run (no bench/.venv; see README)".into()),
        Some(p) => p.run(kubeconfig, args),
    }
}

fn py_field(v: &Result<serde_json::Value, String>, field: &str) -> Cell {
    match v {
        Ok(v) => match v.get(field).and_then(|x| x.as_f64()) {
            Some(x) => Cell::Val(x),
            None => Cell::Na(format!("python printed no {field}")),
        },
        Err(e) => Cell::Na(e.clone()),
    }
}

/// Median of per-round figures, or n/a with the first error.
fn cell(results: &[Result<f64, String>]) -> Cell {
    if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
        return Cell::Na(e.clone());
    }
    let v: Vec<f64> = results.iter().filter_map(|r| r.as_ref().ok().copied()).collect();
    if v.is_empty() {
        Cell::Na("not run".into())
    } else {
        Cell::Val(median(&v))
    }
}

fn log(msg: impl AsRef<str>) {
    eprintln!("[{:>7.1}s] {}", START.with(|s| s.elapsed().as_secs_f64()), msg.as_ref());
}

thread_local! {
    static START: Instant = Instant::now();
}

/// One GET row of the report: measure, unit, higher-is-better, the statistic, its JSON key.
type GetMetric = (&'static str, &'static str, bool, fn(&workloads::GetStats) -> f64, &'static str);
fn main() {
    if std::env::args().any(|a| a == "--allocator=mimalloc") {
        alloc::use_mimalloc();
    }
    START.with(|_| {});
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    // kube-rs is built without a default crypto provider feature choice at runtime:
    // install ring's explicitly (ferrokube and the raw client name ring themselves).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sizes = Sizes::new(args.quick);
    let python = match Python::find(args.python) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("apiserver")
        .on_thread_start(alloc::mark_server_thread)
        .enable_all()
        .build()
        .expect("server runtime");
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("client")
        .enable_all()
        .build()
        .expect("client runtime");
    let cg = if !args.client_go {
        Err("not run (--no-client-go)".to_owned())
    } else if only_client().is_some() {
        Err("not run (FERROKUBE_BENCH_ONLY)".to_owned())
    } else {
        clientgo::ClientGo::build(&bench_dir())
    };
    if let Err(e) = &cg {
        log(format!("client-go: {e}"));
    }
    log(format!("sizes: {sizes:?}; python: {}", if python.is_some() { "yes" } else { "no" }));

    let want = |w: &str| args.only.as_deref().is_none_or(|o| o.split(',').any(|x| x == w));
    let mut rows = Vec::new();
    let t0 = Instant::now();
    if want("list") || want("get") {
        match list_and_get(&server_rt, &client_rt, &sizes, &python, &cg, want("list"), want("get")) {
            Ok(r) => rows.extend(r),
            Err(e) => log(format!("LIST/GET workloads failed: {e}")),
        }
    }
    if want("watch") {
        match watch(&server_rt, &client_rt, &sizes, &python, &cg) {
            Ok(r) => rows.extend(r),
            Err(e) => log(format!("watch workload failed: {e}")),
        }
    }
    if want("cache") {
        match cache(&server_rt, &client_rt, &sizes, &cg) {
            Ok(r) => rows.extend(r),
            Err(e) => log(format!("cache workload failed: {e}")),
        }
    }
    if want("decode") {
        // LIST 5,000 pods in both modes (the issue's workload); the watch stream is
        // held in memory twice (JSON and protobuf), so it is smaller than the HTTP one.
        let (watch_n, rounds) = if args.quick { (10_000, 3) } else { (25_000, 5) };
        match decode_only::rows(5_000, watch_n, rounds, &|m| log(m)) {
            Ok(r) => rows.extend(r),
            Err(e) => log(format!("decode-only workload failed: {e}")),
        }
    }
    let total = t0.elapsed().as_secs_f64();

    let mode = if args.quick { "--quick" } else { "full" };
    let title = format!(
        "ferrokube-bench ({mode}, {} CPUs, {total:.0} s)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("\n{title}\n");
    print!("{}", report::table(&rows));
    let commit = Command::new("git")
        .args(["describe", "--always", "--dirty", "--abbrev=12"])
        .current_dir(bench_dir())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    let command: Vec<String> = std::env::args().skip(1).collect();
    let doc = serde_json::json!({
        "commit": commit,
        "mode": mode,
        "args": command,
        "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "load_average": std::fs::read_to_string("/proc/loadavg").ok().map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" ")),
        "seconds": total.round(),
        "finished_unix": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        "rows": report::json(&rows),
    });
    let json = serde_json::to_string_pretty(&doc).expect("json");
    let results = bench_dir().join("results");
    let _ = std::fs::create_dir_all(&results);
    let write = |p: &Path, s: &str| {
        if let Err(e) = std::fs::write(p, s) {
            eprintln!("cannot write {}: {e}", p.display());
        }
    };
    write(&results.join("latest.json"), &json);
    write(&results.join("chart.svg"), &report::svg(&rows, &title));
    write(&results.join("latest.md"), &format!("{title}\n\n{}", report::table(&rows)));
    if let Some(p) = &args.json {
        write(p, &json);
    }
    log(format!("wrote {}/latest.json, chart.svg, latest.md", results.display()));
}

// -----------------------------------------------------------------------------------

type Runs = Vec<Result<(f64, f64), String>>;

/// One client's run of a workload: its seconds, or why it failed.
type RunFn<'a> = dyn FnMut() -> Result<f64, String> + 'a;

/// Alternates two ferrokube variants (JSON and protobuf) and kube-rs for `rounds` rounds: each round
/// runs the three in turn, in reverse order every other round, then the raw client.
/// Returns (ferrokube JSON, ferrokube protobuf, kube-rs, raw).
fn rotate3(rounds: usize, f: &mut RunFn, p: &mut RunFn, k: &mut RunFn, r: &mut RunFn) -> [Runs; 4] {
    fn timed(g: &mut dyn FnMut() -> Result<f64, String>) -> Result<(f64, f64), String> {
        let c0 = alloc::client_cpu_seconds().unwrap_or(f64::NAN);
        let r = g();
        let c1 = alloc::client_cpu_seconds().unwrap_or(f64::NAN);
        r.map(|s| (s, c1 - c0))
    }
    let mut out: [Runs; 4] = Default::default();
    if let Some(only) = only_client() {
        let g: &mut dyn FnMut() -> Result<f64, String> = match only.as_str() {
            "kube-rs" => k,
            "ferrokube-protobuf" => p,
            _ => f,
        };
        let runs = (0..rounds * 10).map(|_| timed(g)).collect::<Vec<_>>();
        return [runs.clone(), runs.clone(), runs.clone(), runs];
    }
    let mut clients: [(usize, &mut RunFn); 3] = [(0, f), (1, p), (2, k)];
    for round in 0..rounds {
        for j in 0..3 {
            let i = if round % 2 == 0 { j } else { 2 - j };
            let (slot, g) = &mut clients[i];
            out[*slot].push(timed(*g));
        }
        out[3].push(timed(r));
    }
    out
}

/// Smallest and largest per-round ratio of `f` against `k` (round i of each ran side by
/// side): of CPU seconds (`cpu`, k over f) or of wall seconds (k over f: f's throughput
/// over k's). None if any round failed or used no measurable CPU.
fn spread(f: &Runs, k: &Runs, cpu: bool) -> Option<(f64, f64)> {
    let mut v = Vec::new();
    for (a, b) in f.iter().zip(k) {
        let (a, b) = (a.as_ref().ok()?, b.as_ref().ok()?);
        let r = if cpu { b.1 / a.1 } else { b.0 / a.0 };
        if !r.is_finite() {
            return None;
        }
        v.push(r);
    }
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (!v.is_empty()).then_some((lo, hi))
}

/// For profiling one client in isolation: `FERROKUBE_BENCH_ONLY=ferrokube|kube-rs` runs
/// that client only, ten times as many rounds, and nothing else (its table compares
/// nothing).
fn only_client() -> Option<String> {
    std::env::var("FERROKUBE_BENCH_ONLY").ok()
}

/// `x / seconds` per run.
fn per_s(v: &Runs, x: f64) -> Vec<Result<f64, String>> {
    v.iter().map(|r| r.clone().map(|(s, _)| x / s)).collect()
}

/// Client CPU microseconds per item, over all runs (ticks are coarse: sum, then divide).
fn cpu_us(v: &Runs, items_per_run: f64) -> Cell {
    if let Some(Err(e)) = v.iter().find(|r| r.is_err()) {
        return Cell::Na(e.clone());
    }
    let cpu: f64 = v.iter().filter_map(|r| r.as_ref().ok()).map(|(_, c)| c).sum();
    if v.is_empty() || !cpu.is_finite() {
        return Cell::Na("no /proc/self/task CPU accounting".into());
    }
    Cell::Val(cpu * 1e6 / (items_per_run * v.len() as f64))
}

/// client-go, built or why not.
type ClientGo = Result<clientgo::ClientGo, String>;

/// Whether the server answers client-go in protobuf (one short probe per server).
fn cg_probe(cg: &ClientGo, server: &Server, pod: &str) -> Result<(), String> {
    let r = match cg {
        Ok(c) => c.probe(&server.kubeconfig, data::NAMESPACE, pod),
        Err(e) => Err(e.clone()),
    };
    if let (Ok(_), Err(e)) = (cg, &r) {
        log(format!("client-go (protobuf) not measured: {e}"));
    }
    r
}

/// Runs client-go with JSON and protobuf (see `clientgo::ClientGo::run_both`).
fn cg_pair(cg: &ClientGo, server: &Server, proto: &Result<(), String>, args: &[&str]) -> clientgo::Pair {
    let mut all: Vec<String> = vec!["--namespace".into(), data::NAMESPACE.into()];
    all.extend(args.iter().map(|a| a.to_string()));
    match cg {
        Ok(c) => c.run_both(&server.kubeconfig, proto, &all),
        Err(e) => [Err(e.clone()), Err(e.clone())],
    }
}

/// Fills a row's client-go cells with `f` of each run's output.
fn set_cg(row: &mut Row, pair: &clientgo::Pair, f: impl Fn(&serde_json::Value) -> Result<f64, String>) {
    row.client_go_json = clientgo::cell(&pair[0], &f);
    row.client_go_protobuf = clientgo::cell(&pair[1], &f);
}

fn list_and_get(
    srt: &tokio::runtime::Runtime,
    crt: &tokio::runtime::Runtime,
    sizes: &Sizes,
    py: &Option<Python>,
    cg: &ClientGo,
    do_list: bool,
    do_get: bool,
) -> Result<Vec<Row>, String> {
    let n = sizes.list;
    let server = Server::start(srt, 10_000)?;
    let loader = data::Loader::new(server.registry.clone());
    srt.block_on(loader.create(0..n, data::NAMESPACE))?;
    log(format!("loaded {n} pods"));
    let fk = clients::ferrokube(&server.kubeconfig)?;
    let pb_ok = crt.block_on(workloads::check_ferrokube_protobuf(&fk));
    if let Err(e) = &pb_ok {
        log(format!("ferrokube (protobuf) not measured: {e}"));
    }
    let kc = crt.block_on(clients::kube_rs(&server.kubeconfig_yaml))?;
    let raw = crt.block_on(async { server.raw() })?;
    let proto = cg_probe(cg, &server, &data::pod_name(0));
    let mut rows = Vec::new();

    if do_list {
        use workloads::Wire;
        for (limit, strip) in [(None, false), (Some(500u32), false), (None, true)] {
            // Warm-up (connections, first-touch allocations), and the list's size in bytes.
            let (bytes, _) = crt.block_on(workloads::list_raw(&raw, limit))?;
            crt.block_on(workloads::list_ferrokube(&fk, limit, strip, Wire::Json))?;
            if pb_ok.is_ok() {
                crt.block_on(workloads::list_ferrokube(&fk, limit, strip, Wire::Protobuf))?;
            }
            crt.block_on(workloads::list_kube(&kc, limit, strip))?;
            let check = |r: Result<(usize, f64), String>| -> Result<f64, String> {
                let (got, secs) = r?;
                if got != n {
                    return Err(format!("listed {got} objects, expected {n}"));
                }
                Ok(secs)
            };
            let [fs, ps, ks, rs] = rotate3(
                sizes.rounds,
                &mut || check(crt.block_on(workloads::list_ferrokube(&fk, limit, strip, Wire::Json))),
                &mut || {
                    pb_ok.clone()?;
                    check(crt.block_on(workloads::list_ferrokube(&fk, limit, strip, Wire::Protobuf)))
                },
                &mut || check(crt.block_on(workloads::list_kube(&kc, limit, strip))),
                &mut || crt.block_on(workloads::list_raw(&raw, limit)).map(|(_, s)| s),
            );
            let label = match (limit, strip) {
                (None, false) => format!("LIST {n} pods, typed decode"),
                (None, true) => format!("LIST {n} pods, typed decode, managedFields stripped"),
                (Some(l), _) => format!("LIST {n} pods paged limit={l}, typed decode"),
            };
            let (rounds, expect) = (sizes.rounds.to_string(), n.to_string());
            let mut cgargs = vec!["--workload", "list", "--rounds", &rounds, "--expect", &expect];
            let limit_s = limit.map(|l| l.to_string());
            if let Some(l) = &limit_s {
                cgargs.extend(["--limit", l]);
            }
            if strip {
                cgargs.push("--strip");
            }
            let cgv = cg_pair(cg, &server, &proto, &cgargs);
            let mut pyargs = vec!["list".to_owned(), "--expect".into(), n.to_string()];
            if let Some(l) = limit {
                pyargs.extend(["--limit".into(), l.to_string()]);
            }
            let pyv = if strip { Err("not measured".to_owned()) } else { py_run(py, &server.kubeconfig, &pyargs) };
            // Headline: client CPU per object. Throughput beside it, labelled with what
            // ran in parallel and each client's HTTP version.
            let parallel = if limit.is_some() {
                "ferrokube h2, items on up to 2 threads, next page fetched while decoding; kube-rs h1.1; client-go h2"
            } else {
                "ferrokube h2, items on up to 2 threads; kube-rs h1.1; client-go h2"
            };
            for (fmt, runs) in [("JSON", &fs), ("protobuf", &ps)] {
                let mut r3 = Row::new(format!("{label}: client CPU, ferrokube {fmt}"), "us/object", false);
                r3.ferrokube = cpu_us(runs, n as f64);
                r3.kube_rs = cpu_us(&ks, n as f64);
                r3.server = cpu_us(&rs, n as f64);
                r3.python = py_field(&pyv, "cpu_us");
                r3.spread = spread(runs, &ks, true);
                set_cg(&mut r3, &cgv, |v| clientgo::cpu_us(v, n as f64));
                let mut r1 = Row::new(format!("{label}: objects/s, ferrokube {fmt} ({parallel})"), "objects/s", true);
                r1.ferrokube = cell(&per_s(runs, n as f64));
                r1.kube_rs = cell(&per_s(&ks, n as f64));
                r1.server = cell(&per_s(&rs, n as f64));
                r1.python = py_field(&pyv, "objects_per_s");
                r1.spread = spread(runs, &ks, false);
                set_cg(&mut r1, &cgv, |v| clientgo::per_s(v, n as f64));
                rows.push(r3);
                rows.push(r1);
            }
            log(format!("{label}: {:.1} KB/object (JSON)", bytes as f64 / n as f64 / 1e3));
        }
    }

    if do_get {
        let name = data::pod_name(n / 2);
        let fk1 = clients::ferrokube_http1(&server.kubeconfig)?;
        for conc in [1usize, 64] {
            let get_with = |fk: &ferrokube::RESTClient, pb: bool| {
                let fk = fk.clone();
                let name = name.clone();
                let pb_ok = pb_ok.clone();
                move || {
                    let (fk, name, pb_ok) = (fk.clone(), name.clone(), pb_ok.clone());
                    async move {
                        let mut req = fk.get().namespace(data::NAMESPACE).resource("pods").name(name);
                        if pb {
                            pb_ok?;
                            req = req.header("Accept", "application/vnd.kubernetes.protobuf, application/json");
                        }
                        let _: k8s_openapi::api::core::v1::Pod =
                            req.into_object().await.map_err(|e| format!("ferrokube get: {e}"))?;
                        Ok(())
                    }
                }
            };
            let (f, f1, fp) = (get_with(&fk, false), get_with(&fk1, false), get_with(&fk, true));
            let k = {
                let api: kube::Api<k8s_openapi::api::core::v1::Pod> =
                    kube::Api::namespaced(kc.clone(), data::NAMESPACE);
                let name = name.clone();
                move || {
                    let (api, name) = (api.clone(), name.clone());
                    async move {
                        api.get(&name).await.map_err(|e| format!("kube-rs get: {e}"))?;
                        Ok(())
                    }
                }
            };
            let r = {
                let raw = raw.clone();
                let path = format!("/api/v1/namespaces/{}/pods/{name}", data::NAMESPACE);
                move || {
                    let (raw, path) = (raw.clone(), path.clone());
                    async move {
                        raw.get_bytes(&path).await?;
                        Ok(())
                    }
                }
            };
            let d = sizes.get_duration;
            // 0 ferrokube, 1 kube-rs, 2 server alone, 3 ferrokube over HTTP/1.1, 4 ferrokube
            // over protobuf.
            let mut stats: [Vec<Result<workloads::GetStats, String>>; 5] = Default::default();
            for round in 0..sizes.rounds {
                let fr = || crt.block_on(workloads::get_run(conc, d, f.clone()));
                let kr = || crt.block_on(workloads::get_run(conc, d, k.clone()));
                // Profiling one client alone (see `rotate3`): that client only, ten rounds each.
                if let Some(only) = only_client() {
                    for _ in 0..10 {
                        stats[0].push(if only == "kube-rs" { kr() } else { fr() });
                    }
                    continue;
                }
                let pr = || crt.block_on(workloads::get_run(conc, d, fp.clone()));
                if round % 2 == 0 {
                    stats[0].push(fr());
                    stats[4].push(pr());
                    stats[1].push(kr());
                } else {
                    stats[1].push(kr());
                    stats[4].push(pr());
                    stats[0].push(fr());
                }
                stats[3].push(crt.block_on(workloads::get_run(conc, d, f1.clone())));
                stats[2].push(crt.block_on(workloads::get_run(conc, d, r.clone())));
            }
            let pick = |i: usize, g: fn(&workloads::GetStats) -> f64| {
                cell(&stats[i].iter().map(|s| s.as_ref().map(g).map_err(Clone::clone)).collect::<Vec<_>>())
            };
            let pyv = match py {
                None => Err("python client not run (no bench/.venv; see README)".to_owned()),
                Some(p) => p.run(
                    &server.kubeconfig,
                    &[
                        "get".into(),
                        "--name".into(),
                        name.clone(),
                        "--concurrency".into(),
                        conc.to_string(),
                        "--duration".into(),
                        sizes.py_get_duration.to_string(),
                    ],
                ),
            };
            let (conc_s, ms, rounds) =
                (conc.to_string(), sizes.get_duration.as_millis().to_string(), sizes.rounds.to_string());
            let cgv = cg_pair(
                cg,
                &server,
                &proto,
                &[
                    "--workload",
                    "get",
                    "--name",
                    &name,
                    "--concurrency",
                    &conc_s,
                    "--duration-ms",
                    &ms,
                    "--rounds",
                    &rounds,
                ],
            );
            let pyc = |field: &str| match &pyv {
                Ok(v) => {
                    v.get(field).and_then(|x| x.as_f64()).map(Cell::Val).unwrap_or(Cell::Na(format!("no {field}")))
                }
                Err(e) => Cell::Na(e.clone()),
            };
            let metrics: [GetMetric; 4] = [
                ("requests/s", "req/s", true, |s| s.rps, "rps"),
                ("client CPU", "us/request", false, |s| s.cpu_us, "cpu_us"),
                ("p50 latency", "ms", false, |s| s.p50_ms, "p50_ms"),
                ("p99 latency", "ms", false, |s| s.p99_ms, "p99_ms"),
            ];
            for (what, unit, hb, g, pyf) in metrics {
                let mut row = Row::new(format!("GET one pod, concurrency {conc}: {what}"), unit, hb);
                row.ferrokube = pick(0, g);
                row.kube_rs = pick(1, g);
                row.server = pick(2, g);
                row.python = pyc(pyf);
                set_cg(&mut row, &cgv, |v| clientgo::med(v, pyf));
                rows.push(row);
            }
            for (what, unit, hb, g, pyf) in metrics.into_iter().take(2) {
                let mut row =
                    Row::new(format!("GET one pod, concurrency {conc}: {what}, ferrokube protobuf"), unit, hb);
                row.ferrokube = pick(4, g);
                row.kube_rs = pick(1, g);
                row.server = pick(2, g);
                set_cg(&mut row, &cgv, |v| clientgo::med(v, pyf));
                row.python = Cell::Na("see the row above".into());
                rows.push(row);
            }
            let mut row = Row::new(
                format!("GET one pod, concurrency {conc}: requests/s, ferrokube over HTTP/1.1"),
                "req/s",
                true,
            );
            row.ferrokube = pick(3, |s| s.rps);
            row.kube_rs = pick(1, |s| s.rps);
            set_cg(&mut row, &cgv, |v| clientgo::med(v, "rps"));
            row.python = Cell::Na("see the row above".into());
            row.server = Cell::Na("see the row above".into());
            rows.push(row);
            log(format!("GET concurrency {conc} done"));
        }
    }
    drop((fk, kc, raw));
    server.stop(srt);
    Ok(rows)
}

fn watch(
    srt: &tokio::runtime::Runtime,
    crt: &tokio::runtime::Runtime,
    sizes: &Sizes,
    py: &Option<Python>,
    cg: &ClientGo,
) -> Result<Vec<Row>, String> {
    let hist = sizes.watch_history.min(sizes.watch_events);
    let replays = sizes.watch_events.div_ceil(hist);
    let total = hist * replays;
    let server = Server::start(srt, hist + 16)?;
    let loader = data::Loader::new(server.registry.clone());
    let pods = (hist / 10).max(1);
    let rv0 = loader.current_rv();
    let heap0 = alloc::live_bytes() + alloc::server_live_bytes();
    srt.block_on(async {
        loader.create(0..pods, data::NAMESPACE).await?;
        let mut left = hist - pods;
        let mut generation = 1;
        while left > 0 {
            for i in 0..pods.min(left) {
                loader.modify(i, generation, data::NAMESPACE).await?;
            }
            left -= pods.min(left);
            generation += 1;
        }
        Ok::<_, String>(())
    })?;
    log(format!(
        "watch server: {pods} pods, {hist} events in history from rv {rv0}; server heap {:.1} KB/event",
        (alloc::live_bytes() + alloc::server_live_bytes() - heap0) as f64 / hist as f64 / 1e3
    ));
    let fk = clients::ferrokube(&server.kubeconfig)?;
    let pb_ok = crt.block_on(workloads::check_ferrokube_protobuf(&fk));
    if let Err(e) = &pb_ok {
        log(format!("ferrokube (protobuf) not measured: {e}"));
    }
    let kc = crt.block_on(clients::kube_rs(&server.kubeconfig_yaml))?;
    let raw = crt.block_on(async { server.raw() })?;
    use workloads::Wire;
    // Warm-up.
    crt.block_on(workloads::watch_ferrokube(&fk, rv0, hist.min(1000), false, Wire::Json))?;
    if pb_ok.is_ok() {
        crt.block_on(workloads::watch_ferrokube(&fk, rv0, hist.min(1000), false, Wire::Protobuf))?;
    }
    crt.block_on(workloads::watch_kube(&kc, rv0, hist.min(1000), false))?;
    let rounds = if sizes.watch_events >= 50_000 { 3 } else { sizes.rounds };
    let proto = cg_probe(cg, &server, &data::pod_name(0));
    let mut rows = Vec::new();
    for strip in [false, true] {
        let mut bytes = 0usize;
        let [fs, ps, ks, rs] = rotate3(
            rounds,
            &mut || {
                (0..replays)
                    .map(|_| crt.block_on(workloads::watch_ferrokube(&fk, rv0, hist, strip, Wire::Json)))
                    .sum::<Result<f64, String>>()
            },
            &mut || {
                pb_ok.clone()?;
                (0..replays)
                    .map(|_| crt.block_on(workloads::watch_ferrokube(&fk, rv0, hist, strip, Wire::Protobuf)))
                    .sum::<Result<f64, String>>()
            },
            &mut || {
                (0..replays)
                    .map(|_| crt.block_on(workloads::watch_kube(&kc, rv0, hist, strip)))
                    .sum::<Result<f64, String>>()
            },
            &mut || {
                if strip {
                    return Err("same as the row above".to_owned());
                }
                (0..replays)
                    .map(|_| {
                        crt.block_on(workloads::watch_raw(&raw, rv0, hist)).map(|(b, s)| {
                            bytes = b;
                            s
                        })
                    })
                    .sum::<Result<f64, String>>()
            },
        );
        let replaying = if replays > 1 { format!(" ({replays} watches replaying {hist})") } else { String::new() };
        let stripped = if strip { ", managedFields stripped" } else { "" };
        let label = format!("Watch {total} events -> cache{stripped}{replaying}");
        if !strip {
            log(format!("{label}: {:.1} KB/event on the wire (JSON)", bytes as f64 / hist as f64 / 1e3));
        }
        let mut pairs = Vec::new();
        for (fmt, runs) in [("JSON", &fs), ("protobuf", &ps)] {
            let mut cpu_row = Row::new(format!("{label}: client CPU, ferrokube {fmt}"), "us/event", false);
            cpu_row.ferrokube = cpu_us(runs, total as f64);
            cpu_row.kube_rs = cpu_us(&ks, total as f64);
            cpu_row.server = cpu_us(&rs, total as f64);
            cpu_row.spread = spread(runs, &ks, true);
            let how = if fmt == "JSON" {
                "ferrokube h2, batches of ready events decoded on up to 2 threads"
            } else {
                "ferrokube h2, frames decoded one by one on the watch task"
            };
            let mut row = Row::new(
                format!("{label}: events/s, ferrokube {fmt} ({how}; kube-rs h1.1; client-go h2)"),
                "events/s",
                true,
            );
            row.ferrokube = cell(&per_s(runs, total as f64));
            row.kube_rs = cell(&per_s(&ks, total as f64));
            row.server = cell(&per_s(&rs, total as f64));
            row.spread = spread(runs, &ks, false);
            pairs.push((cpu_row, row));
        }
        let (rv_s, hist_s, replays_s, rounds_s, warm_s) =
            (rv0.to_string(), hist.to_string(), replays.to_string(), rounds.to_string(), hist.min(1000).to_string());
        let mut cgargs = vec![
            "--workload",
            "watch",
            "--rv",
            &rv_s,
            "--events",
            &hist_s,
            "--replays",
            &replays_s,
            "--rounds",
            &rounds_s,
            "--warmup",
            &warm_s,
        ];
        if strip {
            cgargs.push("--strip");
        }
        let cgv = cg_pair(cg, &server, &proto, &cgargs);
        for (mut cpu_row, mut row) in pairs {
            set_cg(&mut row, &cgv, |v| clientgo::per_s(v, total as f64));
            set_cg(&mut cpu_row, &cgv, |v| clientgo::cpu_us(v, total as f64));
            rows.push(cpu_row);
            rows.push(row);
        }
    }
    let [cpu_row, row, ..] = &mut rows[..] else { unreachable!("four rows per strip setting") };
    let pyv = py_run(
        py,
        &server.kubeconfig,
        &[
            "watch".into(),
            "--rv".into(),
            rv0.to_string(),
            "--events".into(),
            sizes.py_watch_events.min(hist).to_string(),
        ],
    );
    row.python = py_field(&pyv, "events_per_s");
    cpu_row.python = py_field(&pyv, "cpu_us");
    if let (Cell::Val(_), Some(_)) = (&row.python, py) {
        log(format!("python watch measured over its first {} events", sizes.py_watch_events.min(hist)));
    }
    // Where the client time goes: the same events decoded in memory (no HTTP, no server).
    let sample = hist.min(2_000);
    let split = crt.block_on(workloads::watch_capture(&raw, rv0, sample)).and_then(|b| {
        // Best of three, to keep the server's leftover work out of it.
        let mut best: Option<[(&str, f64); 5]> = None;
        for _ in 0..3 {
            let r = workloads::decode_split(&b)?;
            best = Some(match best {
                None => r,
                Some(mut x) => {
                    for i in 0..5 {
                        x[i].1 = x[i].1.min(r[i].1);
                    }
                    x
                }
            });
        }
        Ok(best.expect("three runs"))
    });
    let mut split_row = Row::new(format!("Watch decode only, in memory ({sample} events)"), "events/s", true);
    split_row.python = Cell::Na("not measured".into());
    split_row.client_go_json = Cell::Na("in-memory decode: not measured for client-go".into());
    split_row.client_go_protobuf = split_row.client_go_json.clone();
    match split {
        Ok(parts) => {
            for (what, secs) in parts {
                log(format!(
                    "decode split: {what}: {:.0} events/s ({:.1} us/event)",
                    sample as f64 / secs,
                    secs * 1e6 / sample as f64
                ));
            }
            split_row.ferrokube = Cell::Val(sample as f64 / parts[0].1);
            split_row.kube_rs = Cell::Val(sample as f64 / parts[3].1);
            split_row.server = Cell::Na("in memory: no server".into());
        }
        Err(e) => {
            split_row.ferrokube = Cell::Na(e.clone());
            split_row.kube_rs = Cell::Na(e);
        }
    }
    drop((fk, kc, raw));
    server.stop(srt);
    for row in rows.iter_mut().skip(2) {
        row.python = Cell::Na("not measured".into());
    }
    rows.push(split_row);
    Ok(rows)
}

fn cache(
    srt: &tokio::runtime::Runtime,
    crt: &tokio::runtime::Runtime,
    sizes: &Sizes,
    cg: &ClientGo,
) -> Result<Vec<Row>, String> {
    let n = sizes.cache;
    let server = Server::start(srt, 1_000)?;
    let loader = data::Loader::new(server.registry.clone());
    let heap0 = alloc::live_bytes() + alloc::server_live_bytes();
    srt.block_on(loader.create(0..n, data::NAMESPACE))?;
    let server_per_pod = (alloc::live_bytes() + alloc::server_live_bytes() - heap0) as f64 / n as f64;
    log(format!("cache server: {n} pods loaded, server heap {:.1} KB/pod", server_per_pod / 1e3));
    // Diagnostic: the decoded form alone, per client's decode call, on one page.
    let page = crt.block_on(async {
        server.raw()?.get_bytes(&format!("/api/v1/namespaces/{}/pods?limit=500", data::NAMESPACE)).await
    });
    if let Ok(b) = &page {
        workloads::decode_list_split(b);
    }
    match page.and_then(|b| workloads::decoded_size(&b)) {
        Ok((f, k)) => log(format!(
            "decoded in memory (one page of 500, no transport, no store): ferrokube path {:.0} B/object, kube-rs path {:.0} B/object",
            f, k
        )),
        Err(e) => log(format!("decoded-size diagnostic failed: {e}")),
    }
    let proto = cg_probe(cg, &server, &data::pod_name(0));
    let mut rows = Vec::new();
    let cell_of = |r: Result<workloads::CacheSize, String>| match r {
        Ok(c) => Cell::Val(c.bytes as f64 / c.objects as f64),
        Err(e) => Cell::Na(e),
    };
    for strip in [false, true] {
        // One round each, in alternating order: the figure is a heap count, not a time.
        let kube = || cell_of(crt.block_on(workloads::cache_kube(&server.kubeconfig_yaml, n, strip)));
        let plain = || cell_of(crt.block_on(workloads::cache_ferrokube::<Pod>(&server.kubeconfig, n, strip)));
        let compact =
            || cell_of(crt.block_on(workloads::cache_ferrokube::<Compact<Pod>>(&server.kubeconfig, n, strip)));
        let (f, k, c) = if strip {
            let k = kube();
            let c = compact();
            (plain(), k, c)
        } else {
            let f = plain();
            let c = compact();
            (f, kube(), c)
        };
        let expect = n.to_string();
        let mut cgargs = vec!["--workload", "cache", "--expect", &expect];
        if strip {
            cgargs.push("--strip");
        }
        let cgv = cg_pair(cg, &server, &proto, &cgargs);
        let cg_bytes = |v: &serde_json::Value| -> Result<f64, String> {
            let b = v.get("bytes").and_then(|x| x.as_f64()).ok_or("client-go printed no bytes")?;
            let o = v.get("objects").and_then(|x| x.as_f64()).ok_or("client-go printed no objects")?;
            Ok(b / o)
        };
        let suffix = if strip { ", managedFields stripped" } else { " (as decoded)" };
        let mut row = Row::new(format!("Cache {n} pods{suffix}"), "bytes/object", false);
        row.ferrokube = f;
        row.kube_rs = k.clone();
        set_cg(&mut row, &cgv, cg_bytes);
        row.python = Cell::Na("not measured for Python (LIST, watch and GET only)".into());
        if !strip {
            row.server = Cell::Val(server_per_pod);
        }
        rows.push(row);
        let mut row = Row::new(format!("Cache {n} pods{suffix}, ferrokube Compact<Pod>"), "bytes/object", false);
        row.ferrokube = c;
        row.kube_rs = k;
        set_cg(&mut row, &cgv, cg_bytes);
        row.python = Cell::Na("not measured for Python (LIST, watch and GET only)".into());
        rows.push(row);
        log(format!("cache strip={strip} done"));
    }
    server.stop(srt);
    Ok(rows)
}
