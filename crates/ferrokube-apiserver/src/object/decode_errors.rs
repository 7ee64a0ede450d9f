//! Request bodies that do not decode, worded as kube-apiserver words them.
//!
//! kube-apiserver decodes a create/update body with Go's decoders (`encoding/json`,
//! go-yaml, gogo protobuf) and wraps what they say as `the object provided is
//! unrecognized (must be of type <Kind>): <decoder error> (<start of the body>)`. The
//! embedded server decodes with serde, so this module re-derives the Go decoders'
//! messages: a small syntax scanner that follows the states (and so the wording) of
//! Go's JSON scanner, the type error Go's `json.Unmarshal` gives when the body is no
//! object, go-yaml's `yaml: line N: <problem>` from libyaml's problem and context
//! marks, and gogo's `proto: ...` errors. The registry (JSON), and the HTTP layer (YAML
//! and protobuf, converted to JSON before the registry) call these.

use serde_json::Value;

use super::errors;
use crate::api::ApiError;

/// 400 `the object provided is unrecognized (must be of type <kind>): <err> (<summary>)`.
pub fn unrecognized(kind: &str, err: &str, body: &[u8]) -> ApiError {
    errors::bad_request(format!(
        "the object provided is unrecognized (must be of type {kind}): {err} ({})",
        summarize(body)
    ))
}

/// kube's summary of a body in decode errors: `<empty>`, the first 30 bytes as text
/// when it starts with `{`, else as hex; ` ...` when cut.
pub fn summarize(body: &[u8]) -> String {
    const MAX: usize = 30;
    let cut = body.len() > MAX;
    let head = &body[..body.len().min(MAX)];
    let text = match body.first() {
        None => return "<empty>".to_owned(),
        Some(b'{') => String::from_utf8_lossy(head).into_owned(),
        Some(_) => head.iter().map(|b| format!("{b:02x}")).collect(),
    };
    if cut {
        format!("{text} ...")
    } else {
        text
    }
}

/// The error kube's JSON decoder reports when it looks for `apiVersion` and `kind` in
/// a body (`None`: the body is a JSON object, or `null`, as far as that step cares).
pub fn find_kind_error(body: &[u8]) -> Option<String> {
    if let Err(syntax) = check_json_syntax(body) {
        return Some(format!("couldn't get version/kind; json parse error: {syntax}"));
    }
    let value: Value = serde_json::from_slice(body).ok()?;
    let go_type = |v: &Value| match v {
        Value::Null | Value::Object(_) => None,
        Value::Bool(_) => Some("bool"),
        Value::Number(_) => Some("number"),
        Value::String(_) => Some("string"),
        Value::Array(_) => Some("array"),
    };
    let error = match &value {
        Value::Object(map) => ["apiVersion", "kind"].iter().find_map(|field| {
            let got = map.get(*field).and_then(|v| if v.is_string() { None } else { go_type(v) })?;
            Some(format!("json: cannot unmarshal {got} into Go struct field .{field} of type string"))
        })?,
        other => format!(
            "json: cannot unmarshal {} into Go value of type struct {{ APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }}",
            go_type(other)?
        ),
    };
    Some(format!("couldn't get version/kind; json parse error: {error}"))
}

/// Go's `strconv.Quote` of one byte taken as a rune, in single quotes (the scanner's
/// `quoteChar`).
fn quote_char(c: u8) -> String {
    match c {
        b'\'' => "'\\''".to_owned(),
        b'"' => "'\"'".to_owned(),
        b'\\' => "'\\\\'".to_owned(),
        0x07 => "'\\a'".to_owned(),
        0x08 => "'\\b'".to_owned(),
        0x0c => "'\\f'".to_owned(),
        b'\n' => "'\\n'".to_owned(),
        b'\r' => "'\\r'".to_owned(),
        b'\t' => "'\\t'".to_owned(),
        0x0b => "'\\v'".to_owned(),
        c if c < b' ' || c == 0x7f => format!("'\\x{c:02x}'"),
        // C1 controls, the no-break space and the soft hyphen are not printable for Go.
        c if (0x80..=0xa0).contains(&c) || c == 0xad => format!("'\\u{:04x}'", c),
        c => format!("'{}'", char::from(c)),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Scope {
    ObjectKey,
    ObjectValue,
    Array,
}

#[derive(Clone, Copy, PartialEq)]
enum State {
    BeginValue,
    BeginValueOrEmpty,
    BeginStringOrEmpty,
    BeginString,
    EndValue,
    EndTop,
    InString,
    InStringEsc,
    InStringEscU(u8),
    Neg,
    Digits1,
    Zero,
    Dot,
    Dot0,
    Exp,
    ExpSign,
    Exp0,
    Literal(&'static [u8], usize),
}

const MAX_DEPTH: usize = 10_000;

struct Scanner {
    state: State,
    stack: Vec<Scope>,
}

impl Scanner {
    fn fail(c: u8, context: &str) -> String {
        format!("invalid character {} {context}", quote_char(c))
    }

    fn push(&mut self, c: u8, scope: Scope) -> Result<(), String> {
        self.stack.push(scope);
        if self.stack.len() > MAX_DEPTH {
            return Err(Self::fail(c, "exceeded max depth"));
        }
        Ok(())
    }

    fn end_value(&mut self) {
        self.state = if self.stack.is_empty() { State::EndTop } else { State::EndValue };
    }

    fn begin_value(&mut self, c: u8) -> Result<(), String> {
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => {}
            b'{' => {
                self.push(c, Scope::ObjectKey)?;
                self.state = State::BeginStringOrEmpty;
            }
            b'[' => {
                self.push(c, Scope::Array)?;
                self.state = State::BeginValueOrEmpty;
            }
            b'"' => self.state = State::InString,
            b'-' => self.state = State::Neg,
            b'0' => self.state = State::Zero,
            b'1'..=b'9' => self.state = State::Digits1,
            b't' => self.state = State::Literal(b"true", 1),
            b'f' => self.state = State::Literal(b"false", 1),
            b'n' => self.state = State::Literal(b"null", 1),
            _ => return Err(Self::fail(c, "looking for beginning of value")),
        }
        Ok(())
    }

    fn step(&mut self, c: u8) -> Result<(), String> {
        let space = matches!(c, b' ' | b'\t' | b'\r' | b'\n');
        match self.state {
            State::BeginValue => self.begin_value(c),
            State::BeginValueOrEmpty => {
                if space {
                    return Ok(());
                }
                if c == b']' {
                    return self.close(c);
                }
                self.begin_value(c)
            }
            State::BeginStringOrEmpty => {
                if space {
                    return Ok(());
                }
                if c == b'}' {
                    if let Some(top) = self.stack.last_mut() {
                        *top = Scope::ObjectValue;
                    }
                    return self.close(c);
                }
                self.begin_string(c)
            }
            State::BeginString => self.begin_string(c),
            State::EndValue => self.after_value(c),
            State::EndTop => {
                if space {
                    Ok(())
                } else {
                    Err(Self::fail(c, "after top-level value"))
                }
            }
            State::InString => {
                match c {
                    b'"' => self.end_value(),
                    b'\\' => self.state = State::InStringEsc,
                    c if c < 0x20 => return Err(Self::fail(c, "in string literal")),
                    _ => {}
                }
                Ok(())
            }
            State::InStringEsc => match c {
                b'b' | b'f' | b'n' | b'r' | b't' | b'\\' | b'/' | b'"' => {
                    self.state = State::InString;
                    Ok(())
                }
                b'u' => {
                    self.state = State::InStringEscU(0);
                    Ok(())
                }
                _ => Err(Self::fail(c, "in string escape code")),
            },
            State::InStringEscU(n) => {
                if !c.is_ascii_hexdigit() {
                    return Err(Self::fail(c, "in \\u hexadecimal character escape"));
                }
                self.state = if n == 3 { State::InString } else { State::InStringEscU(n + 1) };
                Ok(())
            }
            State::Neg => match c {
                b'0' => {
                    self.state = State::Zero;
                    Ok(())
                }
                b'1'..=b'9' => {
                    self.state = State::Digits1;
                    Ok(())
                }
                _ => Err(Self::fail(c, "in numeric literal")),
            },
            State::Digits1 if c.is_ascii_digit() => Ok(()),
            State::Digits1 | State::Zero => match c {
                b'.' => {
                    self.state = State::Dot;
                    Ok(())
                }
                b'e' | b'E' => {
                    self.state = State::Exp;
                    Ok(())
                }
                _ => self.value_ended(c),
            },
            State::Dot => {
                if c.is_ascii_digit() {
                    self.state = State::Dot0;
                    Ok(())
                } else {
                    Err(Self::fail(c, "after decimal point in numeric literal"))
                }
            }
            State::Dot0 => match c {
                b'0'..=b'9' => Ok(()),
                b'e' | b'E' => {
                    self.state = State::Exp;
                    Ok(())
                }
                _ => self.value_ended(c),
            },
            State::Exp if c == b'+' || c == b'-' => {
                self.state = State::ExpSign;
                Ok(())
            }
            State::Exp | State::ExpSign => {
                if c.is_ascii_digit() {
                    self.state = State::Exp0;
                    Ok(())
                } else {
                    Err(Self::fail(c, "in exponent of numeric literal"))
                }
            }
            State::Exp0 => {
                if c.is_ascii_digit() {
                    Ok(())
                } else {
                    self.value_ended(c)
                }
            }
            State::Literal(word, at) => {
                if c != word[at] {
                    let name = std::str::from_utf8(word).unwrap_or("");
                    return Err(Self::fail(c, &format!("in literal {name} (expecting {})", quote_char(word[at]))));
                }
                if at + 1 == word.len() {
                    self.end_value();
                } else {
                    self.state = State::Literal(word, at + 1);
                }
                Ok(())
            }
        }
    }

    /// A number ended at `c`, which is then read as what follows the value.
    fn value_ended(&mut self, c: u8) -> Result<(), String> {
        self.end_value();
        self.step(c)
    }

    fn begin_string(&mut self, c: u8) -> Result<(), String> {
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => Ok(()),
            b'"' => {
                self.state = State::InString;
                Ok(())
            }
            _ => Err(Self::fail(c, "looking for beginning of object key string")),
        }
    }

    fn close(&mut self, _c: u8) -> Result<(), String> {
        self.stack.pop();
        self.end_value();
        Ok(())
    }

    fn after_value(&mut self, c: u8) -> Result<(), String> {
        if matches!(c, b' ' | b'\t' | b'\r' | b'\n') {
            return Ok(());
        }
        match self.stack.last().copied() {
            None => {
                self.state = State::EndTop;
                self.step(c)
            }
            Some(Scope::ObjectKey) => {
                if c == b':' {
                    if let Some(top) = self.stack.last_mut() {
                        *top = Scope::ObjectValue;
                    }
                    self.state = State::BeginValue;
                    Ok(())
                } else {
                    Err(Self::fail(c, "after object key"))
                }
            }
            Some(Scope::ObjectValue) => match c {
                b',' => {
                    if let Some(top) = self.stack.last_mut() {
                        *top = Scope::ObjectKey;
                    }
                    self.state = State::BeginString;
                    Ok(())
                }
                b'}' => self.close(c),
                _ => Err(Self::fail(c, "after object key:value pair")),
            },
            Some(Scope::Array) => match c {
                b',' => {
                    self.state = State::BeginValue;
                    Ok(())
                }
                b']' => self.close(c),
                _ => Err(Self::fail(c, "after array element")),
            },
        }
    }
}

/// Go's `json.Valid` with its error: the `SyntaxError` message `encoding/json` reports
/// for `body` (`unexpected end of JSON input`, `invalid character 'x' after array
/// element`, ...).
pub fn check_json_syntax(body: &[u8]) -> Result<(), String> {
    let mut scanner = Scanner { state: State::BeginValue, stack: Vec::new() };
    for &c in body {
        scanner.step(c)?;
    }
    if scanner.state == State::EndTop {
        return Ok(());
    }
    // At the end Go's scanner is fed one space: it ends a number, or names the literal
    // cut short.
    scanner.step(b' ')?;
    if scanner.state == State::EndTop {
        Ok(())
    } else {
        Err("unexpected end of JSON input".to_owned())
    }
}

/// go-yaml's message for a YAML body that does not parse, from serde_yaml's (libyaml's)
/// error: `yaml: line N: <problem>`, N being the problem's line counted from 0 for a
/// parser error and from 1 for a scanner error, as go-yaml counts them.
pub fn yaml_error(err: &serde_yaml_ng::Error) -> String {
    let text = err.to_string();
    let (problem_part, context) = match text.split_once(", while ") {
        Some((p, c)) => (p, Some(c)),
        None => (text.as_str(), None),
    };
    let (problem, problem_line) = split_mark(problem_part);
    let scanner = context.is_some_and(|c| c.starts_with("scanning"))
        || matches!(
            problem,
            "mapping values are not allowed in this context"
                | "block sequence entries are not allowed in this context"
                | "found character that cannot start any token"
        );
    let context_line = context.and_then(|c| split_mark(c).1);
    let line = match problem_line {
        Some(l) if l > 1 => Some(if scanner { l } else { l - 1 }),
        _ => context_line.filter(|l| *l > 1).map(|l| l - 1),
    };
    match line {
        Some(l) => format!("yaml: line {l}: {problem}"),
        None => format!("yaml: {problem}"),
    }
}

/// Splits `problem at line L column C` into the problem and L (1-based).
fn split_mark(s: &str) -> (&str, Option<usize>) {
    match s.rsplit_once(" at line ") {
        Some((problem, mark)) => {
            let line = mark.split_whitespace().next().and_then(|l| l.parse().ok());
            (problem, line)
        }
        None => (s, None),
    }
}

/// gogo protobuf's wording of what the protobuf decoder reports.
pub fn protobuf_error(message: &str) -> String {
    if let Some(wire) =
        message.rsplit("unsupported wire type ").next().filter(|_| message.contains("unsupported wire type "))
    {
        return format!("proto: illegal wireType {}", wire.trim());
    }
    if message.contains("truncated") {
        return "unexpected EOF".to_owned();
    }
    if message.contains("varint too long") {
        return "proto: integer overflow".to_owned();
    }
    message.to_owned()
}

/// kube's message for a protobuf body without the `k8s\0` prefix.
pub const PROTOBUF_NO_PREFIX: &str =
    "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_syntax_errors_are_go_s() {
        let e = |s: &str| check_json_syntax(s.as_bytes()).unwrap_err();
        assert!(check_json_syntax(br#"{"a":[1,2.5e-3,true,null,"x\u00e9"]} "#).is_ok());
        assert!(check_json_syntax(b"123").is_ok());
        assert_eq!(e(""), "unexpected end of JSON input");
        assert_eq!(e(r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"#), "unexpected end of JSON input");
        assert_eq!(e(r#"{"a":[[1]]}}"#), "invalid character '}' after top-level value");
        assert_eq!(e(r#"{"a":[[1]}"#), "invalid character '}' after array element");
        assert_eq!(e(r#"{"a" 1}"#), "invalid character '1' after object key");
        assert_eq!(e(r#"{"a":1 "b"}"#), "invalid character '\"' after object key:value pair");
        assert_eq!(e(r#"{1}"#), "invalid character '1' looking for beginning of object key string");
        assert_eq!(e("tru"), "invalid character ' ' in literal true (expecting 'e')");
        assert_eq!(e("nul!"), "invalid character '!' in literal null (expecting 'l')");
        assert_eq!(e("01"), "invalid character '1' after top-level value");
        assert_eq!(e("1."), "invalid character ' ' after decimal point in numeric literal");
        assert_eq!(e("\u{1}"), "invalid character '\\x01' looking for beginning of value");
        assert_eq!(
            check_json_syntax(&[0x9e]).unwrap_err(),
            "invalid character '\\u009e' looking for beginning of value"
        );
        let deep = "[".repeat(MAX_DEPTH + 1);
        assert_eq!(e(&deep), "invalid character '[' exceeded max depth");
    }

    #[test]
    fn find_kind_and_summary() {
        assert_eq!(
            find_kind_error(b"[1, 2, 3]").unwrap(),
            "couldn't get version/kind; json parse error: json: cannot unmarshal array into Go value of type struct { APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }"
        );
        assert!(find_kind_error(br#"{"kind":"X"}"#).is_none());
        assert!(find_kind_error(br#"{"kind":1}"#)
            .unwrap()
            .ends_with("cannot unmarshal number into Go struct field .kind of type string"));
        assert_eq!(summarize(b""), "<empty>");
        assert_eq!(summarize(b"[1, 2, 3]"), "5b312c20322c20335d");
        assert_eq!(
            summarize(br#"{"apiVersion": "v1", "kind": "ConfigMap"}"#),
            "{\"apiVersion\": \"v1\", \"kind\": \" ..."
        );
    }

    #[test]
    fn yaml_lines_are_go_yaml_s() {
        let err =
            serde_yaml_ng::from_slice::<serde_json::Value>(b"apiVersion: v1\nkind: ConfigMap\nmetadata: [unclosed\n")
                .unwrap_err();
        assert_eq!(yaml_error(&err), "yaml: line 3: did not find expected ',' or ']'");
    }

    #[test]
    fn protobuf_wording() {
        assert_eq!(protobuf_error("invalid protobuf body: unsupported wire type 7"), "proto: illegal wireType 7");
    }
}
