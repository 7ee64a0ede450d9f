//! `watch::decoder`: incremental decoding of a watch response body.
//!
//! The API server writes one JSON object per event, usually followed by a newline, but
//! neither HTTP chunks nor TCP segments respect event boundaries. [`JsonFramer`] finds
//! where each top-level JSON object ends by tracking nesting depth and string/escape
//! state byte by byte, so it handles events split across chunks, several events in one
//! chunk, and any whitespace (or none) between them. Only the incomplete tail is kept:
//! memory is bounded by one event (and by [`MAX_EVENT_SIZE`]). [`WatchDecoder`] adds event
//! decoding on top and is usable on raw byte chunks from any source.

use bytes::{Bytes, BytesMut};
use serde::de::DeserializeOwned;

use super::event::{decode_event, WatchEvent};

/// Largest single event accepted (64 MiB); a larger one is a framing error.
pub const MAX_EVENT_SIZE: usize = 64 << 20;

/// Splits a byte stream into complete top-level JSON objects.
#[derive(Debug, Default)]
pub struct JsonFramer {
    buf: BytesMut,
    /// Bytes of `buf` already scanned.
    pos: usize,
    depth: usize,
    in_string: bool,
    escaped: bool,
    failed: bool,
}

/// The byte stream is not a sequence of JSON objects.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FrameError(pub String);

impl JsonFramer {
    /// An empty framer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes as they arrive.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// True when part of an object has been received but not its end.
    pub fn has_partial(&self) -> bool {
        self.buf.iter().any(|b| !b.is_ascii_whitespace())
    }

    /// The next complete object, if one has arrived. After an error the framer stays
    /// failed.
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        if self.failed {
            return Err(FrameError("the stream is already broken".to_owned()));
        }
        if self.pos == 0 {
            let ws = self.buf.iter().take_while(|b| b.is_ascii_whitespace()).count();
            let _ = self.buf.split_to(ws);
            match self.buf.first() {
                None => return Ok(None),
                Some(b'{') => {}
                Some(&b) => {
                    self.failed = true;
                    return Err(FrameError(format!(
                        "expected '{{' at the start of an event, found {:?}",
                        char::from(b)
                    )));
                }
            }
        }
        let len = self.buf.len();
        while self.pos < len {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                    self.pos += 1;
                    continue;
                }
                // Jump to the next quote or backslash.
                match memchr::memchr2(b'"', b'\\', &self.buf[self.pos..]) {
                    None => self.pos = len,
                    Some(i) => {
                        let at = self.pos + i;
                        self.pos = at + 1;
                        if self.buf[at] == b'"' {
                            self.in_string = false;
                        } else {
                            self.escaped = true;
                        }
                    }
                }
                continue;
            }
            let b = self.buf[self.pos];
            self.pos += 1;
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        let frame = self.buf.split_to(self.pos).freeze();
                        self.pos = 0;
                        return Ok(Some(frame));
                    }
                }
                _ => {}
            }
        }
        if self.buf.len() > MAX_EVENT_SIZE {
            self.failed = true;
            return Err(FrameError(format!("an event is larger than {MAX_EVENT_SIZE} bytes")));
        }
        Ok(None)
    }
}

/// Decodes watch events from raw byte chunks.
///
/// ```
/// use ferrokube::watch::{WatchDecoder, WatchEvent};
/// let mut d = WatchDecoder::new();
/// d.push(br#"{"type":"ADDED","object":{"a":1}}{"type":"DEL"#);
/// let first: WatchEvent<serde_json::Value> = d.next_event().unwrap().unwrap();
/// assert_eq!(first.event_type(), "ADDED");
/// assert!(d.next_event::<serde_json::Value>().is_none());
/// d.push(br#"ETED","object":{"a":1}}"#);
/// assert_eq!(d.next_event::<serde_json::Value>().unwrap().unwrap().event_type(), "DELETED");
/// ```
#[derive(Debug, Default)]
pub struct WatchDecoder {
    framer: JsonFramer,
    /// Bytes at the start of the framer's buffer known to hold no newline.
    no_newline: usize,
}

/// An event could not be decoded. `fatal` errors break the stream; others affect only
/// one event.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DecodeError {
    /// What is wrong.
    pub message: String,
    /// True when the byte stream itself is broken and no further event can be decoded.
    pub fatal: bool,
}

impl WatchDecoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes as they arrive.
    pub fn push(&mut self, data: &[u8]) {
        self.framer.push(data);
    }

    /// True when an incomplete event is buffered.
    pub fn has_partial(&self) -> bool {
        self.framer.has_partial()
    }

    /// The next complete event, if one has arrived.
    ///
    /// Fast path: when the buffered bytes hold a newline and the line before it is
    /// exactly one event (what the API server writes), the line is decoded in one pass
    /// and consumed, without the byte-by-byte framer. Otherwise (no newline yet, several
    /// objects on a line, an object spanning lines, any error) the [`JsonFramer`] finds
    /// the frame, so results are the same as framing every event.
    pub fn next_event<T: DeserializeOwned>(&mut self) -> Option<Result<WatchEvent<T>, DecodeError>> {
        if let Some(event) = self.next_line_event() {
            return Some(Ok(event));
        }
        match self.framer.next_frame() {
            Ok(None) => None,
            Ok(Some(frame)) => {
                self.no_newline = 0;
                Some(decode_event(&frame).map_err(|message| DecodeError { message, fatal: false }))
            }
            Err(e) => Some(Err(DecodeError { message: e.0, fatal: true })),
        }
    }

    /// The fast path of [`next_event`](Self::next_event).
    fn next_line_event<T: DeserializeOwned>(&mut self) -> Option<WatchEvent<T>> {
        let f = &mut self.framer;
        // Not when the framer is part-way through an object or broken.
        if f.pos != 0 || f.failed {
            return None;
        }
        let start = f.buf.iter().position(|b| !b.is_ascii_whitespace())?;
        if f.buf[start] != b'{' {
            return None;
        }
        let from = self.no_newline.max(start);
        let Some(nl) = memchr::memchr(b'\n', &f.buf[from..]) else {
            self.no_newline = f.buf.len();
            return None;
        };
        let end = from + nl;
        let event = super::event::decode_event_fast(&f.buf[start..end])?;
        bytes::Buf::advance(&mut f.buf, end + 1);
        self.no_newline = 0;
        Some(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;

    const STREAM: &str = concat!(
        r#"{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"a{b}","resourceVersion":"1","annotations":{"x":"say \"}\" and \\"}}}}"#,
        "\n",
        r#"{"type":"MODIFIED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"a","resourceVersion":"2"},"spec":{"containers":[{"name":"c","image":"i"}]}}}"#,
        "\n",
        r#"{"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"3"}}}"#,
        r#"{"type":"DELETED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"ünïcødé","resourceVersion":"4"}}}"#,
        "\r\n  ",
        r#"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Expired","code":410}}"#,
        "\n"
    );

    fn summarize(events: &[WatchEvent<Pod>]) -> Vec<String> {
        events
            .iter()
            .map(|e| match e {
                WatchEvent::Bookmark(b) => format!("BOOKMARK {}", b.resource_version),
                WatchEvent::Error(s) => format!("ERROR {:?}", s.code),
                other => format!(
                    "{} {}",
                    other.event_type(),
                    other.object().and_then(|p| p.metadata.resource_version.clone()).unwrap_or_default()
                ),
            })
            .collect()
    }

    fn decode_in_chunks(chunks: &[&[u8]]) -> Vec<WatchEvent<Pod>> {
        let mut d = WatchDecoder::new();
        let mut out = Vec::new();
        for c in chunks {
            d.push(c);
            while let Some(e) = d.next_event::<Pod>() {
                out.push(e.unwrap());
            }
        }
        assert!(!d.has_partial());
        out
    }

    #[test]
    fn all_events_in_one_chunk() {
        let events = decode_in_chunks(&[STREAM.as_bytes()]);
        assert_eq!(
            summarize(&events),
            ["ADDED 1", "MODIFIED 2", "BOOKMARK 3", "DELETED 4", "ERROR Some(410)"]
        );
        match &events[0] {
            WatchEvent::Added(p) => {
                assert_eq!(p.metadata.name.as_deref(), Some("a{b}"));
                assert_eq!(p.metadata.annotations.as_ref().unwrap()["x"], r#"say "}" and \"#);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn split_at_every_byte_position() {
        let bytes = STREAM.as_bytes();
        let want = summarize(&decode_in_chunks(&[bytes]));
        for i in 0..=bytes.len() {
            let got = summarize(&decode_in_chunks(&[&bytes[..i], &bytes[i..]]));
            assert_eq!(got, want, "split at {i}");
        }
    }

    #[test]
    fn one_byte_at_a_time() {
        let chunks: Vec<&[u8]> = STREAM.as_bytes().chunks(1).collect();
        assert_eq!(decode_in_chunks(&chunks).len(), 5);
    }

    #[test]
    fn memory_holds_only_the_partial_event() {
        let mut d = WatchDecoder::new();
        let one = br#"{"type":"ADDED","object":{}}"#;
        for _ in 0..1000 {
            d.push(one);
            d.push(b"\n");
            let _ = d.next_event::<serde_json::Value>();
        }
        assert!(d.framer.buf.len() <= one.len() + 1);
    }

    #[test]
    fn garbage_is_fatal() {
        let mut d = WatchDecoder::new();
        d.push(b"<html>oops</html>");
        let err = d.next_event::<Pod>().unwrap().unwrap_err();
        assert!(err.fatal);
        assert!(d.next_event::<Pod>().unwrap().is_err());
    }

    #[test]
    fn bad_object_is_not_fatal() {
        let mut d = WatchDecoder::new();
        d.push(br#"{"type":"ADDED","object":{"kind":"Service","apiVersion":"v1"}}{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1"}}"#);
        let first = d.next_event::<Pod>().unwrap().unwrap_err();
        assert!(!first.fatal);
        assert!(d.next_event::<Pod>().unwrap().is_ok());
    }
}
