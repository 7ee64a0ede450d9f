//! Any object and any JSON patches (RFC 6902): the patch applies or fails with an error, never panics.
//! The input is the object's JSON, a NUL byte, and the patch's JSON.
#![no_main]

#[path = "json_pair.rs"]
mod json_pair;

use ferrokube_apiserver::patch::{apply_patch, PatchType};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((object, patch)) = json_pair::split(data) {
        let _ = apply_patch(PatchType::JsonPatch, &object, &patch, None);
    }
});
