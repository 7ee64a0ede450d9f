//! Runs the README's Rust code blocks as a downstream application would: ferrokube as a
//! dependency, the Kubernetes version chosen here by a feature. The snippets load the
//! kubeconfig the way kubectl does, so `main` starts an embedded API server first and
//! points `KUBECONFIG` at it.

include!(concat!(env!("OUT_DIR"), "/readme_snippets.rs"));

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let version = if cfg!(feature = "v1_33") { "1.33" } else { "1.37" };
    let server = ferrokube_apiserver::EmbeddedServer::start(ferrokube_apiserver::ServerOptions::default()).await?;
    let dir = std::env::temp_dir().join(format!("ferrokube-downstream-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let kubeconfig = dir.join("kubeconfig");
    server.write_kubeconfig(&kubeconfig)?;
    // Set before the snippets run; nothing else in this program reads the environment.
    std::env::set_var("KUBECONFIG", &kubeconfig);
    let result = readme_snippets().await;
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    println!("README snippets ran with k8s-openapi v{version} against the embedded server");
    Ok(())
}
