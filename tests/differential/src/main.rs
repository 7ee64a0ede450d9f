//! `ferrokube-differential`: the differential suite's runner. It replays one corpus of
//! requests (`tests/differential/corpus/*.yaml`) against a real kube-apiserver
//! (realkube, v1.37.2) and the embedded `ferrokube-apiserver`, normalises the responses
//! and compares them field by field; it prints `differential: N/M identical`, writes a
//! report of every difference and exits non-zero only for differences that neither
//! `tests/differential/deliberate.yaml` (kept on purpose, each with its reason) nor
//! `tests/differential/pending.txt` (known, not yet fixed in the embedded server) lists:
//! a new difference fails the run, and the pending list can only shrink.
//!
//! Why a workspace member of its own, outside the default members (like `bench/`): it
//! starts the embedded server in-process (so it builds against the workspace's
//! `ferrokube-apiserver` without a separate binary), it is a program rather than a
//! test (one report over the whole corpus, not one pass/fail per request; a run takes
//! realkube's start-up plus the corpus), and a plain `cargo test` at the root must not
//! need realkube. It talks raw HTTPS (`client`) rather than through the ferrokube
//! client, so that malformed bodies and exact headers reach the servers unchanged and
//! the responses are seen as sent.
//!
//! Flow: `servers` starts both servers with the same static tokens -> `corpus` reads the
//! files -> `run` replays each file step by step on both -> `normalize` -> `compare`
//! (against `deliberate.yaml`) -> `report`.
//!
//! ```text
//! ferrokube-differential --realkube PATH [--corpus DIR] [--deliberate FILE]
//!                        [--pending FILE] [--report FILE] [--only SUBSTRING]
//! ```

mod client;
mod compare;
mod corpus;
mod normalize;
mod report;
mod run;
mod servers;

use std::path::PathBuf;
use std::process::ExitCode;

/// Command-line options.
struct Args {
    realkube: PathBuf,
    corpus: PathBuf,
    deliberate: PathBuf,
    pending: PathBuf,
    report: PathBuf,
    only: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut args = Args {
        realkube: here.join("../../target/go/bin/realkube"),
        corpus: here.join("corpus"),
        deliberate: here.join("deliberate.yaml"),
        pending: here.join("pending.txt"),
        report: here.join("../../target/differential/report.md"),
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--realkube" => args.realkube = PathBuf::from(value()?),
            "--corpus" => args.corpus = PathBuf::from(value()?),
            "--deliberate" => args.deliberate = PathBuf::from(value()?),
            "--pending" => args.pending = PathBuf::from(value()?),
            "--report" => args.report = PathBuf::from(value()?),
            "--only" => args.only = Some(value()?),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("ferrokube-differential: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ferrokube-differential: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(differential(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("ferrokube-differential: {e}");
            ExitCode::from(2)
        }
    }
}

/// Runs the suite; `Ok(true)` when every difference is deliberate.
async fn differential(args: Args) -> Result<bool, String> {
    let started = std::time::Instant::now();
    let mut files = corpus::load_dir(&args.corpus).map_err(|e| e.to_string())?;
    if let Some(only) = &args.only {
        files.retain(|f| f.name.contains(only.as_str()));
    }
    let deliberate = compare::load_deliberate(&args.deliberate).map_err(|e| e.to_string())?;
    let pending = load_pending(&args.pending)?;

    let dir = tempfile::Builder::new().prefix("ferrokube-differential-").tempdir().map_err(|e| e.to_string())?;
    let tokens = servers::write_token_file(dir.path()).map_err(|e| e.to_string())?;
    let (binary, dir_path, token_path) = (args.realkube.clone(), dir.path().to_owned(), tokens.clone());
    let realkube = tokio::task::spawn_blocking(move || servers::start_realkube(&binary, &dir_path, &token_path));
    let (embedded, embedded_endpoint) = servers::start_embedded(&tokens).await.map_err(|e| e.to_string())?;
    let (mut realkube, real_endpoint) =
        realkube.await.map_err(|e| format!("realkube start-up task: {e}"))?.map_err(|e| e.to_string())?;
    let ready = started.elapsed();

    let ctx = normalize::Context {
        urls: vec![real_endpoint.url.clone(), embedded_endpoint.url.clone()],
        drop_bookmarks: false,
    };
    let client = |e: &servers::Endpoint| client::ServerClient::new(&e.url, &e.ca_pem).map_err(|e| e.to_string());
    let mut real = run::Side::new(real_endpoint.name, client(&real_endpoint)?);
    let mut emb = run::Side::new(embedded_endpoint.name, client(&embedded_endpoint)?);

    let mut results = Vec::new();
    for file in &files {
        let at = std::time::Instant::now();
        results.extend(run::run_file(file, &mut real, &mut emb, &ctx).await);
        eprintln!("differential: {} ({} steps) in {:.1} s", file.name, file.steps.len(), at.elapsed().as_secs_f64());
    }
    let _ = (real.name, emb.name);
    embedded.shutdown().await;
    realkube.stop();

    let summary = report::summarize(&results, &deliberate, &pending);
    let text = report::render(&results, &deliberate, &summary, started.elapsed(), ready);
    if let Some(parent) = args.report.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    std::fs::write(&args.report, text).map_err(|e| format!("{}: {e}", args.report.display()))?;
    println!("differential: {}/{} identical", summary.identical, summary.compared);
    println!(
        "differential: {} with only deliberate differences, {} known and pending, {} with unexpected differences; \
         report: {} ({:.0} s)",
        summary.deliberate,
        summary.pending.len(),
        summary.unexpected.len(),
        args.report.display(),
        started.elapsed().as_secs_f64()
    );
    for key in &summary.unexpected {
        println!("  unexpected: {key}");
    }
    for key in &summary.no_longer_pending {
        println!("  no longer differs, remove it from {}: {key}", args.pending.display());
    }
    Ok(summary.unexpected.is_empty())
}

/// The step keys (`FILE/ID`) of `pending.txt`: one per line, `#` starts a comment.
fn load_pending(path: &std::path::Path) -> Result<std::collections::BTreeSet<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default().trim())
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect())
}
