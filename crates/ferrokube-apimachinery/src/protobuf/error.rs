//! The error of the serde protobuf codec ([`de`](super::de), [`ser`](super::ser),
//! [`envelope`](super::envelope)): what went wrong, in which message type and at which
//! field path, so a bad body points at the field that broke it.

use std::fmt;

/// A protobuf body could not be decoded into (or a value encoded as) a Kubernetes type.
///
/// Its message names the outermost message type, the path of JSON field names down to
/// the failing value and the innermost message type, e.g. `api/core/v1/Pod.spec.
/// containers.ports: truncated field (in api/core/v1/ContainerPort)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError(Box<Inner>);

/// The error's content, boxed so the error is one pointer wide in `Result`s.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Inner {
    message: String,
    /// Field names from the innermost outwards.
    path: Vec<&'static str>,
    /// The message type where the error happened.
    inner: Option<&'static str>,
    /// The outermost message type seen so far.
    outer: Option<&'static str>,
    kind: CodecErrorKind,
}

/// What kind of failure a [`CodecError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodecErrorKind {
    /// The envelope names a kind with no protobuf message here (e.g. a custom resource).
    UnknownKind,
    /// The bytes are not a valid message of the expected type.
    Invalid,
    /// The value to encode does not fit the message (unknown field, wrong value type).
    Unencodable,
}

impl CodecError {
    pub(crate) fn new(kind: CodecErrorKind, message: impl Into<String>) -> Self {
        CodecError(Box::new(Inner { message: message.into(), path: Vec::new(), inner: None, outer: None, kind }))
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(CodecErrorKind::Invalid, message)
    }

    pub(crate) fn unencodable(message: impl Into<String>) -> Self {
        Self::new(CodecErrorKind::Unencodable, message)
    }

    /// Adds the field `json` of message `key` to the error's location (called from the
    /// innermost level outwards).
    pub(crate) fn in_field(mut self, key: &'static str, json: &'static str) -> Self {
        self.0.path.push(json);
        self.in_message(key)
    }

    /// Adds the message type `key` to the error's location.
    pub(crate) fn in_message(mut self, key: &'static str) -> Self {
        if self.0.inner.is_none() {
            self.0.inner = Some(key);
        }
        self.0.outer = Some(key);
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> CodecErrorKind {
        self.0.kind
    }
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.0;
        if let Some(outer) = e.outer {
            f.write_str(outer)?;
            for p in e.path.iter().rev() {
                write!(f, ".{p}")?;
            }
            f.write_str(": ")?;
        }
        f.write_str(&e.message)?;
        match e.inner {
            Some(inner) if Some(inner) != e.outer => write!(f, " (in {inner})"),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for CodecError {}

impl serde::de::Error for CodecError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        CodecError::invalid(msg.to_string())
    }
}

impl serde::ser::Error for CodecError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        CodecError::unencodable(msg.to_string())
    }
}
