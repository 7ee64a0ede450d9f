//! Any byte stream, cut into chunks anywhere, decodes into events or errors (a broken
//! stream stops with a fatal error), never panics; memory stays bounded by one event.
#![no_main]

use ferrokube::watch::WatchDecoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (cuts, stream) = data.split_at(data.len().min(2));
    let chunk = usize::from(cuts.first().copied().unwrap_or(7)).max(1);
    let mut decoder = WatchDecoder::new();
    for piece in stream.chunks(chunk) {
        decoder.push(piece);
        while let Some(event) = decoder.next_event::<serde_json::Value>() {
            if matches!(&event, Err(e) if e.is_fatal()) {
                return;
            }
        }
    }
});
