//! Where Kubernetes' API test data is: vendored at `tests/fixtures/k8s-api-testdata`
//! (see its README); `K8S_API_TESTDATA` names another copy of the folder that holds
//! `HEAD`. Included by the test binaries that read it (`#[path]`), which need nothing
//! else of `support`.

use std::path::{Path, PathBuf};

/// The `HEAD` fixtures: `<group>.<version>.<Kind>.<json|yaml|pb>`.
pub fn fixtures_dir() -> PathBuf {
    std::env::var_os("K8S_API_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/k8s-api-testdata"))
        .join("HEAD")
}
