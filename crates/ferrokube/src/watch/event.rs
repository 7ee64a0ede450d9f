//! `watch::event`: the typed [`WatchEvent`] a watch stream yields, and how one JSON
//! event (`{"type": "...", "object": {...}}`) is decoded into it.
//!
//! ADDED, MODIFIED and DELETED carry the object decoded as `T`. BOOKMARK carries only
//! the resource version (and annotations, such as `k8s.io/initial-events-end`) in a
//! [`Bookmark`], so a bookmark decodes whatever `T` is. ERROR carries the server's
//! `metav1.Status` (for example 410 Gone when the resource version is too old).

use std::collections::BTreeMap;

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

/// Decodes one complete JSON watch event.
pub fn decode_event<T: DeserializeOwned>(frame: &[u8]) -> Result<WatchEvent<T>, String> {
    let raw: RawEvent<'_> =
        serde_json::from_slice(frame).map_err(|e| format!("not a watch event: {e}"))?;
    let object = raw.object.map(|o| o.get()).unwrap_or("null");
    let typed = |what: &str| -> Result<T, String> {
        serde_json::from_str(object).map_err(|e| {
            format!("{what} event object could not be decoded as {}: {e}", std::any::type_name::<T>())
        })
    };
    match raw.kind.as_str() {
        "ADDED" => Ok(WatchEvent::Added(typed("ADDED")?)),
        "MODIFIED" => Ok(WatchEvent::Modified(typed("MODIFIED")?)),
        "DELETED" => Ok(WatchEvent::Deleted(typed("DELETED")?)),
        "BOOKMARK" => {
            let b: BookmarkObject =
                serde_json::from_str(object).map_err(|e| format!("BOOKMARK event object: {e}"))?;
            let meta = b.metadata.unwrap_or_default();
            Ok(WatchEvent::Bookmark(Bookmark {
                resource_version: meta.resource_version.unwrap_or_default(),
                annotations: meta.annotations.unwrap_or_default(),
            }))
        }
        "ERROR" => {
            let status = serde_json::from_str::<Status>(object).unwrap_or_else(|_| Status {
                message: Some(format!("watch ERROR event with a non-Status object: {}", crate::rest::errors::excerpt(object.as_bytes()))),
                status: Some("Failure".to_owned()),
                ..Default::default()
            });
            Ok(WatchEvent::Error(Box::new(status)))
        }
        other => Err(format!("unknown watch event type {other:?}")),
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
        let p: Pod = serde_json::from_str(r#"{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"12"}}"#).unwrap();
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
        assert!(decode_event::<Pod>(br#"{"type":"EXPLODED","object":{}}"#).unwrap_err().contains("EXPLODED"));
        assert!(decode_event::<Pod>(br#"{"type":"ADDED","object":{"kind":"Service","apiVersion":"v1"}}"#).is_err());
        assert!(decode_event::<Pod>(br#"[1,2]"#).is_err());
    }
}
