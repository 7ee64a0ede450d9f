//! `watch::decoder`: incremental decoding of a watch response body.
//!
//! The API server writes one JSON object per event, usually followed by a newline, but
//! neither HTTP chunks nor TCP segments respect event boundaries. [`JsonFramer`] finds
//! where each top-level JSON object ends by tracking nesting depth and string/escape
//! state byte by byte, so it handles events split across chunks, several events in one
//! chunk, and any whitespace (or none) between them. Only the incomplete tail is kept:
//! memory is bounded by one event (and by [`MAX_EVENT_SIZE`]). [`WatchDecoder`] adds event
//! decoding on top and is usable on raw byte chunks from any source.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use serde::de::DeserializeOwned;

use super::event::{decode_event, EventDecodeError, WatchEvent};

/// Largest single event accepted (64 MiB); a larger one is a framing error.
pub const MAX_EVENT_SIZE: usize = 64 << 20;

/// Splits a Kubernetes protobuf watch stream into frames: each is a 4-byte big-endian
/// length, then that many bytes (one `metav1.WatchEvent` message), as kube's
/// length-delimited framer writes them. Only the incomplete tail is kept; a frame
/// longer than [`MAX_EVENT_SIZE`] is an error.
#[derive(Debug, Default)]
pub struct LengthDelimitedFramer {
    buf: BytesMut,
    failed: bool,
}

impl LengthDelimitedFramer {
    /// An empty framer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes as they arrive.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// True when part of a frame has been received but not its end.
    pub fn has_partial(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Bytes buffered.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete frame (without its length), if one has arrived.
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        if self.failed {
            return Err(FrameError::Broken);
        }
        let Some(head) = self.buf.get(..4) else { return Ok(None) };
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        if len > MAX_EVENT_SIZE {
            self.failed = true;
            return Err(FrameError::TooLarge { limit: MAX_EVENT_SIZE });
        }
        if self.buf.len() < 4 + len {
            return Ok(None);
        }
        let mut frame = self.buf.split_to(4 + len);
        Ok(Some(frame.split_off(4).freeze()))
    }
}

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

/// The byte stream is not a sequence of JSON objects; no further event can be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// An earlier call already failed.
    #[error("the stream is already broken")]
    Broken,
    /// Something other than `{` where an event should start.
    #[error("expected '{{' at the start of an event, found {found:?}")]
    UnexpectedByte {
        /// The byte found, as a character.
        found: char,
    },
    /// An event longer than [`MAX_EVENT_SIZE`].
    #[error("an event is larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// The body ended part-way through an event.
    #[error("the stream ended in the middle of an event")]
    Truncated,
}

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
            return Err(FrameError::Broken);
        }
        if self.pos == 0 {
            let ws = self.buf.iter().take_while(|b| b.is_ascii_whitespace()).count();
            let _ = self.buf.split_to(ws);
            match self.buf.first() {
                None => return Ok(None),
                Some(b'{') => {}
                Some(&b) => {
                    self.failed = true;
                    return Err(FrameError::UnexpectedByte { found: char::from(b) });
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
            return Err(FrameError::TooLarge { limit: MAX_EVENT_SIZE });
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
    /// Set once an event has been decoded as a whole line: the server ends events with
    /// newlines, so an event without its newline yet is incomplete and is left for
    /// the newline rather than scanned byte by byte by the framer.
    line_delimited: bool,
    /// Set by [`finish`](Self::finish): no newline will come.
    finished: bool,
}

/// What the line fast path found.
enum Line<T> {
    /// A whole line that is exactly one event, decoded and consumed.
    Event(WatchEvent<T>),
    /// The buffer starts an event whose line has not ended yet.
    Incomplete,
    /// The fast path does not apply: the framer decides.
    NotApplicable,
}

/// An event could not be decoded: either the byte stream is broken ([`Frame`](Self::Frame),
/// fatal) or one event is bad ([`Event`](Self::Event); the next may decode).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The byte stream is broken; no further event can be decoded.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// One event could not be decoded.
    #[error(transparent)]
    Event(#[from] EventDecodeError),
}

impl DecodeError {
    /// True when the byte stream itself is broken and no further event can be decoded.
    pub fn is_fatal(&self) -> bool {
        matches!(self, DecodeError::Frame(_))
    }
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

    /// Marks the end of the input: an event still waiting for its newline is framed
    /// and returned by the following [`next_event`](Self::next_event) calls.
    pub fn finish(&mut self) {
        self.finished = true;
    }

    /// The next complete event, if one has arrived.
    ///
    /// Fast path: when the buffered bytes hold a newline and the line before it is
    /// exactly one event (what the API server writes), the line is decoded in one pass
    /// and consumed, without the byte-by-byte framer. Otherwise (no newline yet, several
    /// objects on a line, an object spanning lines, any error) the [`JsonFramer`] finds
    /// the frame, so results are the same as framing every event. Once the stream has
    /// shown itself newline-delimited, an event whose newline has not arrived is left
    /// waiting instead (until [`finish`](Self::finish), or [`MAX_EVENT_SIZE`]).
    pub fn next_event<T: DeserializeOwned>(&mut self) -> Option<Result<WatchEvent<T>, DecodeError>> {
        match self.next_line_event() {
            Line::Event(event) => {
                self.line_delimited = true;
                return Some(Ok(event));
            }
            Line::Incomplete if self.line_delimited && !self.finished && self.framer.buf.len() <= MAX_EVENT_SIZE => {
                return None
            }
            Line::Incomplete | Line::NotApplicable => {}
        }
        match self.framer.next_frame() {
            Ok(None) => None,
            Ok(Some(frame)) => {
                self.no_newline = 0;
                Some(decode_event(&frame).map_err(DecodeError::Event))
            }
            Err(e) => Some(Err(DecodeError::Frame(e))),
        }
    }

    /// Bytes buffered and not yet decoded.
    pub fn buffered(&self) -> usize {
        self.framer.buf.len()
    }

    /// Decodes every complete line buffered, on several threads when they add up to
    /// enough bytes ([`parallel::threads_for`](crate::parallel::threads_for)), and appends
    /// the events to `out` in order. Only for a stream already seen to be
    /// newline-delimited; a line that is not exactly one event (or fails to decode) and
    /// everything after it stay buffered for [`next_event`](Self::next_event), so results
    /// are the same as decoding one event at a time. Returns the number of events added.
    pub fn decode_buffered_lines<T: DeserializeOwned + Send>(&mut self, out: &mut VecDeque<WatchEvent<T>>) -> usize {
        let complete = memchr::memrchr(b'\n', &self.framer.buf).unwrap_or(0);
        match crate::parallel::threads_for(complete) {
            0 | 1 => 0,
            threads => self.decode_buffered_lines_on(threads, out),
        }
    }

    /// [`decode_buffered_lines`](Self::decode_buffered_lines) on exactly `threads`
    /// threads, whatever the batch size (for tests).
    #[doc(hidden)]
    pub fn decode_buffered_lines_on<T: DeserializeOwned + Send>(
        &mut self,
        threads: usize,
        out: &mut VecDeque<WatchEvent<T>>,
    ) -> usize {
        let f = &mut self.framer;
        if !self.line_delimited || f.pos != 0 || f.failed {
            return 0;
        }
        let Some(last_nl) = memchr::memrchr(b'\n', &f.buf) else { return 0 };
        // (start, end) of each non-blank line, newline excluded.
        let mut lines = Vec::new();
        let mut from = 0;
        for nl in memchr::memchr_iter(b'\n', &f.buf[..=last_nl]) {
            if f.buf[from..nl].iter().any(|b| !b.is_ascii_whitespace()) {
                lines.push((from, nl));
            }
            from = nl + 1;
        }
        let buf = &f.buf[..];
        let decoded = crate::parallel::map_in_order(
            &lines,
            |(a, b)| b - a,
            threads,
            |&(a, b)| {
                let line = &buf[a..b];
                let start = line.iter().position(|c| !c.is_ascii_whitespace())?;
                if line[start] != b'{' {
                    return None;
                }
                super::event::decode_event_fast::<T>(&line[start..])
            },
        );
        let mut consumed = 0;
        let mut added = 0;
        for (event, &(_, end)) in decoded.into_iter().zip(&lines) {
            let Some(event) = event else { break };
            out.push_back(event);
            consumed = end + 1;
            added += 1;
        }
        if added == lines.len() {
            consumed = last_nl + 1;
        }
        bytes::Buf::advance(&mut f.buf, consumed);
        self.no_newline = 0;
        added
    }

    /// The fast path of [`next_event`](Self::next_event).
    fn next_line_event<T: DeserializeOwned>(&mut self) -> Line<T> {
        let f = &mut self.framer;
        // Not when the framer is part-way through an object or broken.
        if f.pos != 0 || f.failed {
            return Line::NotApplicable;
        }
        let Some(start) = f.buf.iter().position(|b| !b.is_ascii_whitespace()) else {
            return Line::NotApplicable;
        };
        if f.buf[start] != b'{' {
            return Line::NotApplicable;
        }
        let from = self.no_newline.max(start);
        let Some(nl) = memchr::memchr(b'\n', &f.buf[from..]) else {
            self.no_newline = f.buf.len();
            return Line::Incomplete;
        };
        let end = from + nl;
        let Some(event) = super::event::decode_event_fast(&f.buf[start..end]) else {
            return Line::NotApplicable;
        };
        bytes::Buf::advance(&mut f.buf, end + 1);
        self.no_newline = 0;
        Line::Event(event)
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
        assert_eq!(summarize(&events), ["ADDED 1", "MODIFIED 2", "BOOKMARK 3", "DELETED 4", "ERROR Some(410)"]);
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
    fn a_last_event_without_its_newline_comes_out_at_finish() {
        let mut d = WatchDecoder::new();
        d.push(b"{\"type\":\"ADDED\",\"object\":{\"a\":1}}\n{\"type\":\"DELETED\",\"object\":{\"a\":1}}");
        assert_eq!(d.next_event::<serde_json::Value>().unwrap().unwrap().event_type(), "ADDED");
        // Newline-delimited so far: the second event waits for its newline.
        assert!(d.next_event::<serde_json::Value>().is_none());
        d.finish();
        assert_eq!(d.next_event::<serde_json::Value>().unwrap().unwrap().event_type(), "DELETED");
        assert!(!d.has_partial());
    }

    #[test]
    fn a_stream_without_newlines_is_framed_as_it_arrives() {
        let mut d = WatchDecoder::new();
        d.push(b"{\"type\":\"ADDED\",\"object\":{\"a\":1}}{\"type\":\"DELETED\",\"object\":{\"a\":1}}");
        assert_eq!(d.next_event::<serde_json::Value>().unwrap().unwrap().event_type(), "ADDED");
        assert_eq!(d.next_event::<serde_json::Value>().unwrap().unwrap().event_type(), "DELETED");
    }

    #[test]
    fn garbage_is_fatal() {
        let mut d = WatchDecoder::new();
        d.push(b"<html>oops</html>");
        let err = d.next_event::<Pod>().unwrap().unwrap_err();
        assert!(err.is_fatal());
        assert!(matches!(err, DecodeError::Frame(FrameError::UnexpectedByte { .. })), "{err}");
        assert!(d.next_event::<Pod>().unwrap().is_err());
    }

    #[test]
    fn bad_object_is_not_fatal() {
        let mut d = WatchDecoder::new();
        d.push(br#"{"type":"ADDED","object":{"kind":"Service","apiVersion":"v1"}}{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1"}}"#);
        let first = d.next_event::<Pod>().unwrap().unwrap_err();
        assert!(!first.is_fatal());
        assert!(d.next_event::<Pod>().unwrap().is_ok());
    }
}
