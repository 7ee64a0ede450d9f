//! Any label selector text parses or fails with Kubernetes' message, never panics; what
//! parses prints to a form that parses to the same selector.
#![no_main]

use ferrokube_apimachinery::labels::Selector;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(selector) = Selector::parse(text) {
        let again = Selector::parse(&selector.to_string()).expect("a printed selector parses");
        assert_eq!(again.to_string(), selector.to_string());
    }
});
