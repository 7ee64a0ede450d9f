//! Server-side apply of any configuration onto any live Deployment (managedFields and
//! their fieldsV1 sets included), forced or not: an outcome or an error, never a panic.
//! The input is a flags byte, the live object's JSON, a NUL byte, and the configuration.
#![no_main]

use ferrokube_apiserver::patch::apply::server_side_apply;
use ferrokube_apiserver::patch::schema::root_type;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    let Some(nul) = rest.iter().position(|b| *b == 0) else { return };
    let Ok(applied) = serde_json::from_slice(&rest[nul + 1..]) else { return };
    let live: Option<serde_json::Value> = serde_json::from_slice(&rest[..nul]).ok();
    let _ = server_side_apply(live.as_ref(), &applied, "fuzz", flags & 1 == 1, root_type("apps", "Deployment"));
});
