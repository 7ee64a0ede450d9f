//! `rest::warnings`: what happens to `Warning` response headers (client-go
//! `rest/warnings.go`).
//!
//! The API server reports deprecations and other advice in `Warning: 299 - "text"`
//! headers. After each response the [`RESTClient`](super::RESTClient) parses them and
//! hands each 299 warning to the [`WarningHandler`] of its
//! [`Config`](super::Config) — by default a [`LogOnceWarningHandler`] that logs every
//! distinct warning once.

use std::collections::HashSet;
use std::sync::Mutex;

/// Receives the warnings servers send (client-go `WarningHandler`).
pub trait WarningHandler: Send + Sync {
    /// Called once per warning of a response. `code` is always 299 (other warning codes
    /// are dropped, as in client-go), `agent` the warn-agent (usually `-`).
    fn handle_warning(&self, code: u16, agent: &str, text: &str);
}

/// Logs each distinct warning text once, at `warn` level (the default handler).
/// Remembers at most [`LogOnceWarningHandler::MAX_REMEMBERED`] texts.
#[derive(Debug, Default)]
pub struct LogOnceWarningHandler {
    seen: Mutex<HashSet<String>>,
}

impl LogOnceWarningHandler {
    /// How many distinct texts are remembered for de-duplication.
    pub const MAX_REMEMBERED: usize = 4096;

    /// A handler that has seen nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `text`; true when it had not been seen before.
    fn first_time(&self, text: &str) -> bool {
        let mut seen = match self.seen.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if seen.contains(text) {
            return false;
        }
        if seen.len() < Self::MAX_REMEMBERED {
            seen.insert(text.to_owned());
        }
        true
    }
}

impl WarningHandler for LogOnceWarningHandler {
    fn handle_warning(&self, _code: u16, _agent: &str, text: &str) {
        if self.first_time(text) {
            tracing::warn!("Warning: {text}");
        }
    }
}

/// Logs every warning, duplicates included.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogWarningHandler;

impl WarningHandler for LogWarningHandler {
    fn handle_warning(&self, _code: u16, _agent: &str, text: &str) {
        tracing::warn!("Warning: {text}");
    }
}

/// Drops all warnings.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoWarnings;

impl WarningHandler for NoWarnings {
    fn handle_warning(&self, _code: u16, _agent: &str, _text: &str) {}
}

/// One parsed warning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// warn-code, e.g. 299.
    pub code: u16,
    /// warn-agent, e.g. `-`.
    pub agent: String,
    /// The unquoted warn-text.
    pub text: String,
}

/// Parses one `Warning` header value (RFC 7234 section 5.5: comma-separated
/// `code SP agent SP "quoted text" [SP "date"]`). Malformed entries end parsing; the
/// ones before them are kept.
pub fn parse_warning_header(value: &str) -> Vec<Warning> {
    let mut out = Vec::new();
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            break;
        }
        let Some((code, after)) = rest.split_once(' ') else { break };
        let Ok(code) = code.parse::<u16>() else { break };
        if !(100..=999).contains(&code) {
            break;
        }
        let after = after.trim_start();
        let Some((agent, after)) = after.split_once(' ') else { break };
        let Some((text, after)) = parse_quoted(after.trim_start()) else { break };
        rest = after.trim_start();
        // Optional warn-date.
        if rest.starts_with('"') {
            match parse_quoted(rest) {
                Some((_, after)) => rest = after,
                None => break,
            }
        }
        out.push(Warning { code, agent: agent.to_owned(), text });
        rest = rest.trim_start();
        if !rest.is_empty() && !rest.starts_with(',') {
            break;
        }
    }
    out
}

/// Parses a quoted-string at the start of `s`; returns the unescaped text and the rest.
fn parse_quoted(s: &str) -> Option<(String, &str)> {
    let mut chars = s.char_indices();
    if chars.next()?.1 != '"' {
        return None;
    }
    let mut text = String::new();
    let mut escaped = false;
    for (i, c) in chars {
        if escaped {
            text.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            return Some((text, &s[i + 1..]));
        } else {
            text.push(c);
        }
    }
    None
}

/// Hands every 299 warning of `headers` to `handler`.
pub(crate) fn handle_warning_headers(headers: &http::HeaderMap, handler: &dyn WarningHandler) {
    for value in headers.get_all(http::header::WARNING) {
        let Ok(value) = value.to_str() else { continue };
        for w in parse_warning_header(value) {
            if w.code == 299 && !w.text.is_empty() {
                handler.handle_warning(w.code, &w.agent, &w.text);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_single_and_multiple_warnings() {
        let w = parse_warning_header(r#"299 - "v1beta1 is deprecated""#);
        assert_eq!(w, vec![Warning { code: 299, agent: "-".into(), text: "v1beta1 is deprecated".into() }]);

        let w = parse_warning_header(
            r#"299 - "first, with comma" "Wed, 21 Oct 2015 07:28:00 GMT", 299 kube "a \"quoted\" word""#,
        );
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].text, "first, with comma");
        assert_eq!(w[1].agent, "kube");
        assert_eq!(w[1].text, r#"a "quoted" word"#);
    }

    #[test]
    fn malformed_input_yields_what_parsed() {
        assert!(parse_warning_header("").is_empty());
        assert!(parse_warning_header("nonsense").is_empty());
        assert!(parse_warning_header(r#"299 - "unterminated"#).is_empty());
        let w = parse_warning_header(r#"299 - "ok", garbage"#);
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn log_once_dedups() {
        let h = LogOnceWarningHandler::new();
        assert!(h.first_time("a"));
        assert!(!h.first_time("a"));
        assert!(h.first_time("b"));
    }

    #[test]
    fn only_299_reaches_the_handler() {
        struct Collect(Mutex<Vec<String>>);
        impl WarningHandler for Collect {
            fn handle_warning(&self, _: u16, _: &str, text: &str) {
                self.0.lock().unwrap().push(text.to_owned());
            }
        }
        let mut headers = http::HeaderMap::new();
        headers.append(http::header::WARNING, http::HeaderValue::from_static(r#"299 - "one""#));
        headers.append(http::header::WARNING, http::HeaderValue::from_static(r#"110 - "stale""#));
        headers.append(http::header::WARNING, http::HeaderValue::from_static(r#"299 - "two""#));
        let c = Collect(Mutex::new(Vec::new()));
        handle_warning_headers(&headers, &c);
        assert_eq!(*c.0.lock().unwrap(), vec!["one".to_owned(), "two".to_owned()]);
    }
}
