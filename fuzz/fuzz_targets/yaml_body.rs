//! A ConfigMap created from any YAML body (anchors and aliases, deep nesting, odd
//! scalars), through the embedded server's registry: an object or a 4xx, never a panic.
#![no_main]

use std::sync::{Arc, OnceLock};

use ferrokube_apiserver::api::{ApiRequest, Verb};
use ferrokube_apiserver::catalog::Catalog;
use ferrokube_apiserver::registry::Registry;
use libfuzzer_sys::fuzz_target;

fn registry() -> &'static (tokio::runtime::Runtime, Arc<Registry>) {
    static R: OnceLock<(tokio::runtime::Runtime, Arc<Registry>)> = OnceLock::new();
    R.get_or_init(|| (tokio::runtime::Builder::new_current_thread().build().unwrap(), Registry::new()))
}

fuzz_target!(|data: &[u8]| {
    let (runtime, registry) = registry();
    let configmaps = Catalog::builtin().lookup("", "v1", "configmaps").expect("configmaps").clone();
    let mut req = ApiRequest::new(Verb::Create, configmaps).with_namespace("default").with_query("dryRun", "All");
    req.body = data.to_vec().into();
    req.content_type = Some("application/yaml".into());
    let _ = runtime.block_on(registry.handle(req));
});
