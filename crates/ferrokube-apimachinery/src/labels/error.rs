//! Why a label selector was refused: typed reasons whose messages are Kubernetes'
//! own, word for word, so the server can answer with kube-apiserver's text and the
//! client can match on the variant.
//!
//! [`SelectorError`] (from [`Selector::parse`](super::Selector::parse)) carries the
//! selector and its [`SelectorErrorReason`]; its `Display` names the selector for a
//! reader, and [`SelectorError::kube_message`] gives the exact text of
//! `labels.Parse`'s error (what kube-apiserver puts in its 400 BadRequest).

/// One invalid-value field error, as `field.Invalid` renders it:
/// `{field}: Invalid value: {value}: {detail}`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FieldError {
    /// The field path (`values[0][app]`, `key`, `values`; `<nil>` for the key of a
    /// parsed selector, as Kubernetes prints a missing path).
    pub field: String,
    /// The bad value as Kubernetes prints it (a Go-quoted string, or JSON).
    pub value: String,
    /// What is wrong (Kubernetes' problems, joined with `"; "`).
    pub detail: String,
}

impl FieldError {
    /// A field error for the string value `value`.
    pub fn invalid(field: impl Into<String>, value: &str, detail: impl Into<String>) -> Self {
        FieldError { field: field.into(), value: go_quote(value), detail: detail.into() }
    }

    /// A field error for a list of values (printed as JSON).
    pub(crate) fn invalid_list(field: impl Into<String>, values: &[String], detail: impl Into<String>) -> Self {
        let value = serde_json::to_string(values).unwrap_or_default();
        FieldError { field: field.into(), value, detail: detail.into() }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: Invalid value: {}", self.field, self.value)?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

/// Go's `%q` of a string: double quotes, with `"`, `\` and non-printable characters
/// escaped.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() && (c as u32) <= 0xffff => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\U{:08x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// What the parser expected where it found something else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Expected {
    /// After a requirement: `,` or the end.
    CommaOrEnd,
    /// After a `,`: another requirement.
    IdentifierAfterComma,
    /// At the start of a requirement: `!`, a key, or the end.
    Requirement,
    /// A key (or the value of `=`, `!=`, `<`, `>`).
    Identifier,
    /// The operator after a key.
    Operator,
    /// `(` after `in` / `notin`.
    OpenParen,
    /// `)` closing a value set.
    CloseParen,
    /// `,` or `)` after a value in a set.
    CommaOrCloseParen,
    /// A value or `,` inside a set.
    CommaOrIdentifier,
    /// A value, `,` or `)` right after `(`.
    CommaCloseParenOrIdentifier,
}

impl Expected {
    /// Whether Kubernetes reports this inside a requirement (its message then starts
    /// with `unable to parse requirement: `).
    pub fn in_requirement(self) -> bool {
        !matches!(self, Expected::CommaOrEnd | Expected::IdentifierAfterComma | Expected::Requirement)
    }
}

/// What is wrong with a label selector. The `Display` text is Kubernetes' message
/// for it (without the `unable to parse requirement: ` prefix that
/// [`SelectorError::kube_message`] adds where Kubernetes does).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectorErrorReason {
    /// A token the grammar does not allow where it stands (`found 'x', expected: …`);
    /// `found` is `""` at the end of the selector.
    #[error("{}", unexpected(found, *expected))]
    Unexpected {
        /// What was found.
        found: String,
        /// What was expected.
        expected: Expected,
    },
    /// A key that is not a valid label key (`<nil>: Invalid value: "k": …`).
    #[error("<nil>: Invalid value: {}: {}", go_quote(key), problems.join("; "))]
    InvalidKey {
        /// The key.
        key: String,
        /// Kubernetes' problems with it.
        problems: Vec<String>,
    },
    /// A requirement that `NewRequirement` refuses: invalid values, a `<`/`>` value
    /// that is not an integer, a wrong number of values (Kubernetes aggregates several
    /// as `[a, b]`).
    #[error("{}", aggregate(.0))]
    InvalidRequirement(Vec<FieldError>),
    /// A `matchExpressions` operator that is not `In`, `NotIn`, `Exists` or
    /// `DoesNotExist`.
    #[error("{} is not a valid label selector operator", go_quote(.0))]
    InvalidOperator(String),
    /// A `metav1.LabelSelector` whose JSON does not have the type's shape.
    #[error("malformed label selector: {0}")]
    Malformed(String),
}

fn unexpected(found: &str, expected: Expected) -> String {
    let what = match expected {
        Expected::CommaOrEnd => "',' or 'end of string'",
        Expected::IdentifierAfterComma => "identifier after ','",
        Expected::Requirement => "!, identifier, or 'end of string'",
        Expected::Identifier => "identifier",
        Expected::Operator => "in, notin, =, ==, !=, gt, lt",
        // Kubernetes' wording has no comma here.
        Expected::OpenParen => return format!("found '{found}' expected: '('"),
        Expected::CloseParen => "')'",
        Expected::CommaOrCloseParen => "',' or ')'",
        Expected::CommaOrIdentifier => "',', or identifier",
        Expected::CommaCloseParenOrIdentifier => "',', ')' or identifier",
    };
    format!("found '{found}', expected: {what}")
}

/// `utilerrors.NewAggregate(...).Error()`: one message as is, several (deduplicated)
/// in brackets.
fn aggregate(errors: &[FieldError]) -> String {
    let mut seen: Vec<String> = Vec::new();
    for e in errors {
        let msg = e.to_string();
        if !seen.contains(&msg) {
            seen.push(msg);
        }
    }
    match seen.len() {
        1 => seen.remove(0),
        _ => format!("[{}]", seen.join(", ")),
    }
}

/// A label selector string could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid label selector {selector:?}: {reason}")]
#[non_exhaustive]
pub struct SelectorError {
    /// The selector.
    pub selector: String,
    /// What is wrong.
    pub reason: SelectorErrorReason,
}

impl SelectorError {
    /// The text of Kubernetes' `labels.Parse` error for this selector, as
    /// kube-apiserver returns it in a 400 BadRequest.
    pub fn kube_message(&self) -> String {
        let wrapped = match &self.reason {
            SelectorErrorReason::Unexpected { expected, .. } => expected.in_requirement(),
            _ => true,
        };
        if wrapped {
            format!("unable to parse requirement: {}", self.reason)
        } else {
            self.reason.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_quoting() {
        assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(go_quote("\n\u{0}\u{7f}é"), r#""\n\x00\x7fé""#);
    }

    #[test]
    fn aggregates() {
        let a = FieldError::invalid("values[0]", "x", "one");
        let b = FieldError::invalid("values[0][k]", "x", "two");
        assert_eq!(aggregate(std::slice::from_ref(&a)), r#"values[0]: Invalid value: "x": one"#);
        assert_eq!(
            aggregate(&[a.clone(), b, a]),
            r#"[values[0]: Invalid value: "x": one, values[0][k]: Invalid value: "x": two]"#
        );
        let list = FieldError::invalid_list("values", &[], "empty");
        assert_eq!(list.to_string(), "values: Invalid value: []: empty");
    }
}
