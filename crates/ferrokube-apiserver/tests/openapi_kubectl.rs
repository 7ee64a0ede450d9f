//! Real kubectl, with validation on, against the embedded server: `apply` twice
//! ("created", then "unchanged"), a changed manifest ("configured", computed as a
//! strategic merge patch from the OpenAPI v3 schemas), and `create` of a manifest with
//! an unknown field refused by server-side strict field validation (and warned about
//! with `--validate=warn`).
//!
//! kubectl is the newest `kubectl.1.NN` in the folder `command -v kubectl` resolves into
//! (the Google Cloud CLI dispatcher layout), or `FERROKUBE_KUBECTL`. Not finding one is
//! a test failure, not a skip.

use std::path::{Path, PathBuf};
use std::process::Command;

use ferrokube_apiserver::{EmbeddedServer, ServerOptions};

/// The kubectl binary to run, or a message saying why none was found.
fn find_kubectl() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("FERROKUBE_KUBECTL") {
        return Ok(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").ok_or("PATH is not set")?;
    let dispatcher = std::env::split_paths(&path)
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file())
        .ok_or("no kubectl on PATH (set FERROKUBE_KUBECTL)")?;
    let real = std::fs::canonicalize(&dispatcher).map_err(|e| e.to_string())?;
    let dir = real.parent().ok_or("kubectl has no parent folder")?;
    let newest = std::fs::read_dir(dir)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let minor: u32 = name.strip_prefix("kubectl.1.")?.parse().ok()?;
            Some((minor, e.path()))
        })
        .max_by_key(|(minor, _)| *minor)
        .map(|(_, p)| p);
    Ok(newest.unwrap_or(real))
}

struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
    cache: PathBuf,
}

impl Kubectl {
    /// Run kubectl with `args`; (success, stdout + stderr).
    fn run(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new(&self.bin)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .arg("--request-timeout=20s")
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.bin.display()));
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }

    fn ok(&self, args: &[&str]) -> String {
        let (ok, text) = self.run(args);
        assert!(ok, "kubectl {args:?} failed:\n{text}");
        text
    }
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

fn deployment(image: &str, extra: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 2
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: nginx
        image: {image}
{extra}        ports:
        - containerPort: 80
"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_apply_and_strict_create_with_validation() {
    let bin = find_kubectl().unwrap_or_else(|e| panic!("kubectl not found: {e}"));
    let server = EmbeddedServer::start(ServerOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig).unwrap();
    let k = Kubectl { bin, kubeconfig, cache: dir.path().join("cache") };
    let d = dir.path().to_owned();
    tokio::task::spawn_blocking(move || {
        let v1 = write(&d, "v1.yaml", &deployment("nginx:1.25", ""));
        let out = k.ok(&["apply", "-f", &v1]);
        assert!(out.contains("deployment.apps/web created"), "{out}");
        let out = k.ok(&["apply", "-f", &v1]);
        assert!(out.contains("deployment.apps/web unchanged"), "{out}");

        let v2 = write(&d, "v2.yaml", &deployment("nginx:1.26", ""));
        let out = k.ok(&["apply", "-f", &v2]);
        assert!(out.contains("deployment.apps/web configured"), "{out}");
        assert!(!out.contains("warning"), "{out}");
        let image = k.ok(&["get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[*].image}"]);
        assert_eq!(image.trim(), "nginx:1.26");
        let annotation = k.ok(&[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.metadata.annotations.kubectl\\.kubernetes\\.io/last-applied-configuration}",
        ]);
        assert!(annotation.contains("nginx:1.26"), "{annotation}");

        let bad = deployment("nginx:1.25", "        colour: red\n").replace("name: web\n", "name: bad\n");
        let bad = write(&d, "bad.yaml", &bad);
        let (ok, out) = k.run(&["create", "-f", &bad]);
        assert!(!ok, "create with an unknown field succeeded:\n{out}");
        assert!(out.contains("unknown field \"spec.template.spec.containers[0].colour\""), "{out}");
        let (ok, out) = k.run(&["get", "deployment", "bad"]);
        assert!(!ok && out.contains("NotFound"), "{out}");
        // With --validate=warn it is created, and the server's warning is printed.
        let out = k.ok(&["create", "--validate=warn", "-f", &bad]);
        assert!(out.contains("deployment.apps/bad created"), "{out}");
        assert!(out.contains("Warning: unknown field \"spec.template.spec.containers[0].colour\""), "{out}");
        // And without complaint when validation is off.
        k.ok(&["delete", "deployment", "bad"]);
        let out = k.ok(&["create", "--validate=false", "-f", &bad]);
        assert!(out.contains("deployment.apps/bad created"), "{out}");
        assert!(!out.contains("Warning"), "{out}");
    })
    .await
    .unwrap();
    server.shutdown().await;
}
