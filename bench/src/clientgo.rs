//! client-go as the benchmark's Go peer: builds `bench/clientgo` (a Go program over
//! client-go v0.37.2, with its own go.mod/go.sum) through `tests/go/build.sh`, runs it
//! against the same server as the Rust clients and reads the one JSON line it prints.
//!
//! The protocol is plain: the bench passes the kubeconfig path, the content type, the
//! workload and its sizes as flags; the program does an untimed warm-up and then the
//! requested rounds itself (so its process start and Go runtime warm-up stay outside
//! every figure) and prints per-round arrays (`secs`, `cpu_secs`; for GET `rps`,
//! `p50_ms`, `p99_ms`, `cpu_us`; for the cache `objects`, `bytes`), plus the Content-Types
//! the server answered with. A protobuf run that was answered in JSON is reported as n/a:
//! it would measure JSON decoding under a protobuf label.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::report::{median, Cell};

/// The two content types client-go runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// `application/json` both ways.
    Json,
    /// `rest.Config.ContentType = application/vnd.kubernetes.protobuf` (accepting JSON as
    /// a fallback, as client-go does).
    Protobuf,
}

impl Codec {
    fn flag(self) -> &'static str {
        match self {
            Codec::Json => "json",
            Codec::Protobuf => "protobuf",
        }
    }
}

/// The built client-go program.
pub struct ClientGo {
    exe: PathBuf,
}

/// The outcome of one client-go run per codec (JSON, protobuf).
pub type Pair = [Result<serde_json::Value, String>; 2];

impl ClientGo {
    /// Builds (or reuses) `target/go/bin/clientgo-bench` from `bench/clientgo`.
    pub fn build(bench_dir: &Path) -> Result<ClientGo, String> {
        let root = bench_dir.parent().ok_or("bench dir has no parent")?;
        let out = Command::new(root.join("tests/go/build.sh"))
            .arg(bench_dir.join("clientgo"))
            .arg("clientgo-bench")
            .current_dir(root)
            .output()
            .map_err(|e| format!("tests/go/build.sh: {e}"))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(format!("building bench/clientgo failed: {}", err.lines().last().unwrap_or("")));
        }
        let exe = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if !exe.exists() {
            return Err(format!("tests/go/build.sh printed {exe:?}, which does not exist"));
        }
        Ok(ClientGo { exe })
    }

    /// Runs one workload with one codec; the parsed JSON line, or why there is none.
    pub fn run(&self, kubeconfig: &Path, codec: Codec, args: &[String]) -> Result<serde_json::Value, String> {
        let out = Command::new(&self.exe)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--content-type")
            .arg(codec.flag())
            .args(args)
            .output()
            .map_err(|e| format!("client-go: {e}"))?;
        let err = String::from_utf8_lossy(&out.stderr);
        for line in err.lines().filter(|l| !l.trim().is_empty()) {
            eprintln!("    {line}");
        }
        if !out.status.success() {
            return Err(format!("client-go {}: {}", args.join(" "), err.lines().last().unwrap_or("failed")));
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| format!("client-go output: {e}"))?;
        if codec == Codec::Protobuf {
            let types = v.get("response_content_types").and_then(|t| t.as_array()).cloned().unwrap_or_default();
            if !types.iter().any(|t| t.as_str() == Some("application/vnd.kubernetes.protobuf")) {
                return Err(format!(
                    "the server answered {} to client-go's protobuf requests, not protobuf (the embedded server reads protobuf request bodies but encodes responses only as JSON)",
                    types.iter().filter_map(|t| t.as_str()).collect::<Vec<_>>().join(", ")
                ));
            }
        }
        Ok(v)
    }

    /// Runs both codecs, JSON first; protobuf only if `probe` (see [`ClientGo::probe`])
    /// found the server answering protobuf.
    pub fn run_both(&self, kubeconfig: &Path, proto: &Result<(), String>, args: &[String]) -> Pair {
        let json = self.run(kubeconfig, Codec::Json, args);
        let protobuf = match proto {
            Ok(()) => self.run(kubeconfig, Codec::Protobuf, args),
            Err(e) => Err(e.clone()),
        };
        [json, protobuf]
    }

    /// One short protobuf GET run: whether the server answers client-go in protobuf at all
    /// (if not, every protobuf cell is n/a with the reason, and the runs are skipped).
    pub fn probe(&self, kubeconfig: &Path, namespace: &str, pod: &str) -> Result<(), String> {
        let args: Vec<String> =
            ["--workload", "get", "--namespace", namespace, "--name", pod, "--duration-ms", "50", "--rounds", "1"]
                .map(String::from)
                .to_vec();
        self.run(kubeconfig, Codec::Protobuf, &args).map(|_| ())
    }
}

/// The array field `name` of a run's output.
pub fn array(v: &serde_json::Value, name: &str) -> Result<Vec<f64>, String> {
    let a = v.get(name).and_then(|a| a.as_array()).ok_or_else(|| format!("client-go printed no {name}"))?;
    let xs: Vec<f64> = a.iter().filter_map(|x| x.as_f64()).collect();
    if xs.is_empty() {
        return Err(format!("client-go printed an empty {name}"));
    }
    Ok(xs)
}

/// A cell from one run's output: `f` of its JSON, or n/a with the reason.
pub fn cell(r: &Result<serde_json::Value, String>, f: impl Fn(&serde_json::Value) -> Result<f64, String>) -> Cell {
    match r.as_ref().map_err(Clone::clone).and_then(&f) {
        Ok(x) if x.is_finite() => Cell::Val(x),
        Ok(_) => Cell::Na("not a finite figure".into()),
        Err(e) => Cell::Na(e),
    }
}

/// Median over rounds of `items / secs`.
pub fn per_s(v: &serde_json::Value, items: f64) -> Result<f64, String> {
    Ok(median(&array(v, "secs")?.iter().map(|s| items / s).collect::<Vec<_>>()))
}

/// CPU microseconds per item over all rounds (summed, then divided, as for the Rust
/// clients).
pub fn cpu_us(v: &serde_json::Value, items_per_round: f64) -> Result<f64, String> {
    let cpu = array(v, "cpu_secs")?;
    Ok(cpu.iter().sum::<f64>() * 1e6 / (items_per_round * cpu.len() as f64))
}

/// Median of an array field.
pub fn med(v: &serde_json::Value, name: &str) -> Result<f64, String> {
    Ok(median(&array(v, name)?))
}
