//! A list of pods with any `fieldSelector`, through the embedded server's registry: a
//! list or a 400, never a panic.
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
    let Ok(selector) = std::str::from_utf8(data) else { return };
    let (runtime, registry) = registry();
    let pods = Catalog::builtin().lookup("", "v1", "pods").expect("pods").clone();
    let req = ApiRequest::new(Verb::List, pods).with_namespace("default").with_query("fieldSelector", selector);
    let _ = runtime.block_on(registry.handle(req));
});
