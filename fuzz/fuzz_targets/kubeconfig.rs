//! Any kubeconfig text loads or fails with an error naming the file, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(config) = ferrokube::clientcmd::load_from_str(text, std::path::Path::new("/fuzz/kubeconfig")) {
            let _ = format!("{config:?}");
        }
    }
});
