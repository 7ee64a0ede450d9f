//! Any object and any strategic merge patches on a Deployment (directives included): the patch applies or fails with an error, never panics.
//! The input is the object's JSON, a NUL byte, and the patch's JSON.
#![no_main]

use ferrokube_apiserver::patch::schema::root_type;
use ferrokube_apiserver::patch::{apply_patch, PatchType};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(nul) = data.iter().position(|b| *b == 0) else { return };
    let (Ok(object), Ok(patch)) =
        (serde_json::from_slice(&data[..nul]), serde_json::from_slice(&data[nul + 1..]))
    else {
        return;
    };
    let _ = apply_patch(PatchType::StrategicMergePatch, &object, &patch, root_type("apps", "Deployment"));
});
