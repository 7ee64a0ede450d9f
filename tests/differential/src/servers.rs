//! The two servers under comparison, started with the same users: the embedded
//! `ferrokube-apiserver` in this process (controllers on, as `ferrokube-apiserver` runs
//! by default) and realkube (kube-apiserver v1.37.2 with its controller manager and
//! scheduler) as a child process. Both read the same `--token-auth-file`, so every
//! request carries the same identity on both and user names in responses match.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use base64::Engine;
use ferrokube_apiserver::{EmbeddedServer, ServerOptions};

/// The admin's bearer token (user `differential-admin`, group `system:masters`).
pub const ADMIN_TOKEN: &str = "differential-admin-token-0123456789";
/// Alice's bearer token (user `alice`, no groups).
pub const ALICE_TOKEN: &str = "differential-alice-token-0123456789";

/// A server could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The embedded server failed to start.
    #[error("embedded server: {0}")]
    Embedded(String),
    /// realkube failed to start.
    #[error("realkube: {0}")]
    Realkube(String),
    /// A file could not be written or read.
    #[error("{0}")]
    Io(String),
}

/// Where a server listens and how to trust it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `embedded` or `realkube`.
    pub name: &'static str,
    /// `https://HOST:PORT`.
    pub url: String,
    /// The serving CA, PEM.
    pub ca_pem: String,
}

/// Writes the shared token file into `dir`.
pub fn write_token_file(dir: &Path) -> Result<PathBuf, ServerError> {
    let path = dir.join("tokens.csv");
    let text =
        format!("{ADMIN_TOKEN},differential-admin,uid-admin,\"system:masters\"\n{ALICE_TOKEN},alice,uid-alice\n");
    std::fs::write(&path, text).map_err(|e| ServerError::Io(format!("writing {}: {e}", path.display())))?;
    Ok(path)
}

/// Starts the embedded server.
pub async fn start_embedded(token_file: &Path) -> Result<(EmbeddedServer, Endpoint), ServerError> {
    let options = ServerOptions { token_auth_file: Some(token_file.to_owned()), ..ServerOptions::default() };
    let server = EmbeddedServer::start(options).await.map_err(|e| ServerError::Embedded(e.to_string()))?;
    let endpoint =
        Endpoint { name: "embedded", url: server.url().to_owned(), ca_pem: server.ca_certificate_pem().to_owned() };
    Ok((server, endpoint))
}

/// realkube, stopped with SIGTERM when dropped.
#[derive(Debug)]
pub struct Realkube {
    child: Child,
    /// Never written; closing it stops the watchdog's realkube.
    _stdin: Option<std::process::ChildStdin>,
    /// Kept open so realkube never writes to a closed pipe.
    _stdout: Option<std::io::BufReader<std::process::ChildStdout>>,
}

impl Realkube {
    /// Stops realkube: closes the watchdog's pipe (the watchdog sends realkube
    /// SIGTERM) and waits until realkube has stopped and removed its data.
    pub fn stop(&mut self) {
        self._stdin.take();
        let _ = self.child.wait();
    }
}

impl Drop for Realkube {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.stop();
        }
    }
}

/// `$@` is realkube's command line. SIGINT is ignored (Ctrl-C reaches the runner,
/// whose exit closes the pipe); SIGTERM or the pipe closing stop realkube.
const WATCHDOG: &str = r#"
trap '' INT
"$@" </dev/null &
pid=$!
stop() { kill -TERM "$pid" 2>/dev/null; wait "$pid"; exit 0; }
trap stop TERM HUP
while read -r _; do :; done
stop
"#;

/// Starts realkube from `binary` and waits (blocking) for its `serving on` line.
pub fn start_realkube(binary: &Path, dir: &Path, token_file: &Path) -> Result<(Realkube, Endpoint), ServerError> {
    let kubeconfig = dir.join("realkube.kubeconfig");
    // Under a small `sh` watchdog holding the read end of a pipe from this process:
    // however the runner ends (even killed), the pipe closes and the watchdog stops
    // realkube (which then stops its components and removes its data).
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(WATCHDOG)
        .arg("realkube-watchdog")
        .arg(binary)
        .args(["--secure-port", "0", "--write-kubeconfig"])
        .arg(&kubeconfig)
        .arg("--token-auth-file")
        .arg(token_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| ServerError::Realkube(format!("starting {}: {e}", binary.display())))?;
    let stdout = child.stdout.take().ok_or_else(|| ServerError::Realkube("no stdout".into()))?;
    let mut stdout = std::io::BufReader::new(stdout);
    let stdin = child.stdin.take();
    let mut realkube = Realkube { child, _stdin: stdin, _stdout: None };
    let mut line = String::new();
    let url = loop {
        line.clear();
        match stdout.read_line(&mut line) {
            Ok(0) | Err(_) => {
                return Err(ServerError::Realkube("exited before it was ready (its stderr is above)".into()))
            }
            Ok(_) => {
                if let Some(url) = line.trim().strip_prefix("serving on ") {
                    break url.to_owned();
                }
            }
        }
    };
    realkube._stdout = Some(stdout);
    let yaml = std::fs::read_to_string(&kubeconfig)
        .map_err(|e| ServerError::Io(format!("reading {}: {e}", kubeconfig.display())))?;
    let ca_pem = kubeconfig_ca(&yaml).ok_or_else(|| ServerError::Realkube("no CA in its kubeconfig".into()))?;
    Ok((realkube, Endpoint { name: "realkube", url, ca_pem }))
}

/// The first cluster's `certificate-authority-data`, decoded.
fn kubeconfig_ca(yaml: &str) -> Option<String> {
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).ok()?;
    let data = doc.get("clusters")?.get(0)?.get("cluster")?.get("certificate-authority-data")?.as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(data).ok()?;
    String::from_utf8(bytes).ok()
}
