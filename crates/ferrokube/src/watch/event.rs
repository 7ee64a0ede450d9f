//! `watch::event`: the typed [`WatchEvent`] a watch stream yields, and how one JSON
//! event (`{"type": "...", "object": {...}}`) is decoded into it.
//!
//! ADDED, MODIFIED and DELETED carry the object decoded as `T`. BOOKMARK carries only
//! the resource version (and annotations, such as `k8s.io/initial-events-end`) in a
//! [`Bookmark`], so a bookmark decodes whatever `T` is. ERROR carries the server's
//! `metav1.Status` (for example 410 Gone when the resource version is too old).
//!
//! [`decode_protobuf_event`] decodes the same events from Kubernetes protobuf (one
//! `metav1.WatchEvent` frame of a protobuf watch stream).

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// One event of a watch (client-go `watch.Event`).
#[derive(Clone, Debug, PartialEq)]
pub enum WatchEvent<T> {
    /// An object was created (or, at the start of a watch-list, already existed).
    Added(T),
    /// An object changed.
    Modified(T),
    /// An object was deleted; its last state.
    Deleted(T),
    /// A progress marker: the watch has seen everything up to this resource version.
    Bookmark(Bookmark),
    /// The server ended the watch with an error `Status` (e.g. 410 Gone).
    Error(Box<Status>),
}

/// An untyped watch event.
pub type DynamicWatchEvent = WatchEvent<serde_json::Value>;

/// The content of a BOOKMARK event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bookmark {
    /// `metadata.resourceVersion` of the bookmark object.
    pub resource_version: String,
    /// `metadata.annotations`, e.g. `k8s.io/initial-events-end: "true"`.
    pub annotations: BTreeMap<String, String>,
}

impl Bookmark {
    /// True for the bookmark that ends the initial events of a watch-list.
    pub fn is_initial_events_end(&self) -> bool {
        self.annotations.get("k8s.io/initial-events-end").is_some_and(|v| v == "true")
    }
}

impl<T> WatchEvent<T> {
    /// The wire name of the event type: `ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK`, `ERROR`.
    pub fn event_type(&self) -> &'static str {
        match self {
            WatchEvent::Added(_) => "ADDED",
            WatchEvent::Modified(_) => "MODIFIED",
            WatchEvent::Deleted(_) => "DELETED",
            WatchEvent::Bookmark(_) => "BOOKMARK",
            WatchEvent::Error(_) => "ERROR",
        }
    }

    /// The object of ADDED, MODIFIED and DELETED events.
    pub fn object(&self) -> Option<&T> {
        match self {
            WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => Some(o),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct RawEvent<'a> {
    #[serde(rename = "type")]
    kind: String,
    #[serde(borrow)]
    object: Option<&'a serde_json::value::RawValue>,
}

#[derive(Deserialize, Default)]
struct BookmarkObject {
    #[serde(default)]
    metadata: Option<BookmarkMeta>,
}

#[derive(Deserialize, Default)]
struct BookmarkMeta {
    #[serde(rename = "resourceVersion", default)]
    resource_version: Option<String>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
}

/// Why one watch event could not be decoded. The stream itself is fine: the next
/// event may decode.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventDecodeError {
    /// The frame is not a `{"type": ..., "object": ...}` envelope.
    #[error("not a watch event: {0}")]
    NotAnEvent(#[source] Arc<serde_json::Error>),
    /// The object of an ADDED, MODIFIED or DELETED event is not a `target`.
    #[error("{event_type} event object could not be decoded as {target}: {source}")]
    Object {
        /// `ADDED`, `MODIFIED` or `DELETED`.
        event_type: &'static str,
        /// The Rust type expected.
        target: &'static str,
        /// The JSON error.
        #[source]
        source: Arc<serde_json::Error>,
    },
    /// A BOOKMARK event's object has no usable metadata.
    #[error("BOOKMARK event object: {0}")]
    Bookmark(#[source] Arc<serde_json::Error>),
    /// A protobuf event (or its object) could not be decoded as `target`.
    #[error("{event_type} protobuf watch event could not be decoded as {target}: {source}")]
    Protobuf {
        /// The event type, `""` when the event itself is bad.
        event_type: String,
        /// The Rust type expected.
        target: &'static str,
        /// What was wrong, naming the message type and field.
        #[source]
        source: Arc<ferrokube_apimachinery::protobuf::CodecError>,
    },
    /// A `type` other than ADDED, MODIFIED, DELETED, BOOKMARK and ERROR.
    #[error("unknown watch event type {0:?}")]
    UnknownType(String),
}

/// Equal when of the same kind with the same message (JSON errors have no other
/// equality); lets tests compare decoding paths result for result.
impl PartialEq for EventDecodeError {
    fn eq(&self, other: &Self) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other) && self.to_string() == other.to_string()
    }
}

/// Decodes one complete JSON watch event.
///
/// One pass over the bytes when `type` precedes `object` (as the API server writes
/// them): the object is decoded as `T` straight from the event, with no intermediate
/// `RawValue` pass. Anything else (`object` first, a missing or unknown type, any
/// error) is decoded by [`decode_event_reference`], so results, including error
/// messages, are exactly the reference path's.
pub fn decode_event<T: DeserializeOwned>(frame: &[u8]) -> Result<WatchEvent<T>, EventDecodeError> {
    match decode_event_fast(frame) {
        Some(event) => Ok(event),
        None => decode_event_reference(frame),
    }
}

/// The single-pass decoder; `None` means "use the reference path".
///
/// The frame's UTF-8 is checked once up front (a vectorised scan), so serde_json reads
/// it as `str` and does not re-check every string it decodes; frames that are not
/// UTF-8 go to the reference path, which reports the error.
pub(crate) fn decode_event_fast<T: DeserializeOwned>(frame: &[u8]) -> Option<WatchEvent<T>> {
    let text = std::str::from_utf8(frame).ok()?;
    serde_json::from_str::<FastEvent<T>>(text).ok().and_then(|e| e.0)
}

/// The event decoded in one pass, or `None` when the reference path must decide.
struct FastEvent<T>(Option<WatchEvent<T>>);

impl<'de, T: DeserializeOwned> Deserialize<'de> for FastEvent<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(FastEventVisitor(std::marker::PhantomData))
    }
}

struct FastEventVisitor<T>(std::marker::PhantomData<fn() -> T>);

/// A key or the `type` value, borrowed from the input when it has no escapes.
struct Text<'a>(std::borrow::Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(std::borrow::Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de, T: DeserializeOwned> serde::de::Visitor<'de> for FastEventVisitor<T> {
    type Value = FastEvent<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a watch event")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<FastEvent<T>, A::Error> {
        use serde::de::{Error as _, IgnoredAny};
        // Set once `type` has been read; `object` is then decoded according to it.
        let mut kind: Option<u8> = None;
        let mut event: Option<WatchEvent<T>> = None;
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            match &*key {
                "type" if kind.is_none() => {
                    let Text(v) = map.next_value::<Text<'de>>()?;
                    kind = Some(match &*v {
                        "ADDED" => 0,
                        "MODIFIED" => 1,
                        "DELETED" => 2,
                        "BOOKMARK" => 3,
                        // ERROR objects may be non-Status; unknown types are errors:
                        // both are left to the reference path.
                        _ => return Err(A::Error::custom("reference")),
                    });
                }
                "object" if event.is_none() => {
                    let Some(k) = kind else { return Err(A::Error::custom("reference")) };
                    event = Some(match k {
                        0 => WatchEvent::Added(map.next_value::<T>()?),
                        1 => WatchEvent::Modified(map.next_value::<T>()?),
                        2 => WatchEvent::Deleted(map.next_value::<T>()?),
                        _ => {
                            let b: BookmarkObject = map.next_value()?;
                            let meta = b.metadata.unwrap_or_default();
                            WatchEvent::Bookmark(Bookmark {
                                resource_version: meta.resource_version.unwrap_or_default(),
                                annotations: meta.annotations.unwrap_or_default(),
                            })
                        }
                    });
                }
                "type" | "object" => return Err(A::Error::custom("reference")),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(FastEvent(event))
    }
}

/// Decodes one complete JSON watch event the reference way: the envelope with the
/// object as a `RawValue`, then the object. [`decode_event`] gives the same results in
/// one pass.
pub fn decode_event_reference<T: DeserializeOwned>(frame: &[u8]) -> Result<WatchEvent<T>, EventDecodeError> {
    let raw: RawEvent<'_> = serde_json::from_slice(frame).map_err(|e| EventDecodeError::NotAnEvent(Arc::new(e)))?;
    let object = raw.object.map(|o| o.get()).unwrap_or("null");
    let typed = |event_type: &'static str| -> Result<T, EventDecodeError> {
        serde_json::from_str(object).map_err(|e| EventDecodeError::Object {
            event_type,
            target: std::any::type_name::<T>(),
            source: Arc::new(e),
        })
    };
    match raw.kind.as_str() {
        "ADDED" => Ok(WatchEvent::Added(typed("ADDED")?)),
        "MODIFIED" => Ok(WatchEvent::Modified(typed("MODIFIED")?)),
        "DELETED" => Ok(WatchEvent::Deleted(typed("DELETED")?)),
        "BOOKMARK" => {
            let b: BookmarkObject =
                serde_json::from_str(object).map_err(|e| EventDecodeError::Bookmark(Arc::new(e)))?;
            let meta = b.metadata.unwrap_or_default();
            Ok(WatchEvent::Bookmark(Bookmark {
                resource_version: meta.resource_version.unwrap_or_default(),
                annotations: meta.annotations.unwrap_or_default(),
            }))
        }
        "ERROR" => {
            let status = serde_json::from_str::<Status>(object).unwrap_or_else(|_| Status {
                message: Some(format!(
                    "watch ERROR event with a non-Status object: {}",
                    crate::rest::errors::excerpt(object.as_bytes())
                )),
                status: Some("Failure".to_owned()),
                ..Default::default()
            });
            Ok(WatchEvent::Error(Box::new(status)))
        }
        other => Err(EventDecodeError::UnknownType(other.to_owned())),
    }
}

/// Decodes one protobuf watch event: a frame's `metav1.WatchEvent` message (the frame
/// without its 4-byte length), whose object is an enveloped protobuf object, decoded
/// straight into `T`. Results are those of [`decode_event`] on the JSON of the same
/// event.
pub fn decode_protobuf_event<T: DeserializeOwned>(frame: &[u8]) -> Result<WatchEvent<T>, EventDecodeError> {
    use ferrokube_apimachinery::protobuf::{decode_object, envelope, CodecError};
    let bad = |event_type: &str, target: &'static str| {
        let event_type = event_type.to_owned();
        move |e: CodecError| EventDecodeError::Protobuf { event_type, target, source: Arc::new(e) }
    };
    let parts = envelope::parse_watch_event(frame).map_err(bad("", "WatchEvent"))?;
    let typed =
        |event_type: &str| decode_object::<T>(parts.object).map_err(bad(event_type, std::any::type_name::<T>()));
    match parts.event_type {
        "ADDED" => Ok(WatchEvent::Added(typed("ADDED")?)),
        "MODIFIED" => Ok(WatchEvent::Modified(typed("MODIFIED")?)),
        "DELETED" => Ok(WatchEvent::Deleted(typed("DELETED")?)),
        "BOOKMARK" => {
            let b: BookmarkObject = decode_object(parts.object).map_err(bad("BOOKMARK", "bookmark object"))?;
            let meta = b.metadata.unwrap_or_default();
            Ok(WatchEvent::Bookmark(Bookmark {
                resource_version: meta.resource_version.unwrap_or_default(),
                annotations: meta.annotations.unwrap_or_default(),
            }))
        }
        "ERROR" => {
            let status = decode_object::<Status>(parts.object).unwrap_or_else(|e| Status {
                message: Some(format!("watch ERROR event with an undecodable object: {e}")),
                status: Some("Failure".to_owned()),
                ..Default::default()
            });
            Ok(WatchEvent::Error(Box::new(status)))
        }
        other => Err(EventDecodeError::UnknownType(other.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;

    #[test]
    fn typed_events() {
        let e: WatchEvent<Pod> = decode_event(
            br#"{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"a","resourceVersion":"5"}}}"#,
        )
        .unwrap();
        assert_eq!(e.event_type(), "ADDED");
        assert_eq!(e.object().and_then(|p| p.metadata.name.as_deref()), Some("a"));
    }

    #[test]
    fn bookmark_decodes_for_any_type() {
        let e: WatchEvent<Pod> = decode_event(
            br#"{"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"12","annotations":{"k8s.io/initial-events-end":"true"}}}}"#,
        )
        .unwrap();
        match e {
            WatchEvent::Bookmark(b) => {
                assert_eq!(b.resource_version, "12");
                assert!(b.is_initial_events_end());
            }
            other => panic!("{other:?}"),
        }
        // k8s-openapi's Pod also tolerates a bookmark object (everything is optional).
        let p: Pod =
            serde_json::from_str(r#"{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"12"}}"#).unwrap();
        assert_eq!(p.metadata.resource_version.as_deref(), Some("12"));
    }

    #[test]
    fn error_event_carries_status() {
        let e: WatchEvent<Pod> = decode_event(
            br#"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old resource version: 1 (5)","reason":"Expired","code":410}}"#,
        )
        .unwrap();
        match e {
            WatchEvent::Error(s) => {
                assert_eq!(s.code, Some(410));
                assert_eq!(s.reason.as_deref(), Some("Expired"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_events_are_errors() {
        let err = decode_event::<Pod>(br#"{"type":"EXPLODED","object":{}}"#).unwrap_err();
        assert!(matches!(&err, EventDecodeError::UnknownType(t) if t == "EXPLODED"), "{err}");
        assert_eq!(err.to_string(), "unknown watch event type \"EXPLODED\"");
        assert!(decode_event::<Pod>(br#"{"type":"ADDED","object":{"kind":"Service","apiVersion":"v1"}}"#).is_err());
        assert!(decode_event::<Pod>(br#"[1,2]"#).is_err());
    }
}
