//! Whole bodies in the protobuf wire format, on top of the serde codec ([`de`](super::de),
//! [`ser`](super::ser)): objects and lists in kube's envelope (`k8s\0` + a
//! `runtime.Unknown` naming apiVersion and kind), and watch streams (each event a
//! `metav1.WatchEvent` {type, object: RawExtension holding the enveloped object},
//! framed by a 4-byte big-endian length, as kube's length-delimited framer writes them).
//!
//! Decoding picks the message type from the envelope's apiVersion and kind and presents
//! them to `T` first, so a k8s-openapi type checks them as it does in JSON: a body of
//! another kind is an error, not a silently wrong object.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::de::{MessageDeserializer, Reader, Wire};
use super::error::{CodecError, CodecErrorKind};
use super::index::{index, Ty};
use super::ser::encode_message;
use super::wire::put_bytes as put_len;
use super::MAGIC;

/// The media type of the Kubernetes protobuf encoding.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The media type of a protobuf watch stream (what kube-apiserver answers a protobuf
/// watch with).
pub const STREAM_CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf;stream=watch";

/// Largest watch frame accepted (64 MiB, as the JSON watch decoder's limit).
pub const MAX_FRAME_SIZE: usize = 64 << 20;

/// Whether `content_type` (a `Content-Type` header value) is the protobuf encoding.
pub fn is_protobuf(content_type: &str) -> bool {
    content_type.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case(CONTENT_TYPE))
}

/// Whether objects of this apiVersion and kind have a protobuf form here (the built-in
/// types; not custom resources).
pub fn has_protobuf(api_version: &str, kind: &str) -> bool {
    index().by_kind(api_version, kind).is_some()
}

/// An enveloped body taken apart.
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a> {
    /// `apiVersion` of the object.
    pub api_version: &'a str,
    /// `kind` of the object.
    pub kind: &'a str,
    /// The object's message.
    pub raw: &'a [u8],
}

/// Takes the envelope off a protobuf body.
pub fn parse_envelope(bytes: &[u8]) -> Result<Envelope<'_>, CodecError> {
    let rest = bytes.strip_prefix(MAGIC).ok_or_else(|| CodecError::invalid("missing the k8s protobuf envelope"))?;
    let mut env = Envelope { api_version: "", kind: "", raw: &[] };
    let mut r = Reader::new(rest);
    let utf8 = |b| std::str::from_utf8(b).map_err(|_| CodecError::invalid("type meta is not UTF-8"));
    while let Some((tag, w)) = r.field()? {
        match (tag, w) {
            (1, Wire::Len(type_meta)) => {
                let mut t = Reader::new(type_meta);
                while let Some((tag, w)) = t.field()? {
                    match (tag, w) {
                        (1, Wire::Len(s)) => env.api_version = utf8(s)?,
                        (2, Wire::Len(s)) => env.kind = utf8(s)?,
                        _ => {}
                    }
                }
            }
            (2, Wire::Len(raw)) => env.raw = raw,
            (3, Wire::Len(enc)) if !enc.is_empty() => {
                return Err(CodecError::invalid(format!(
                    "unsupported contentEncoding {:?}",
                    String::from_utf8_lossy(enc)
                )))
            }
            _ => {}
        }
    }
    Ok(env)
}

fn message_of(api_version: &str, kind: &str) -> Result<u32, CodecError> {
    index().by_kind(api_version, kind).ok_or_else(|| {
        CodecError::new(
            CodecErrorKind::UnknownKind,
            format!("no protobuf serialization for {api_version}, Kind={kind}"),
        )
    })
}

/// Decodes an enveloped object (or list) into `T`, which sees the envelope's apiVersion
/// and kind first.
pub fn decode_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let env = parse_envelope(bytes)?;
    let msg = message_of(env.api_version, env.kind)?;
    T::deserialize(MessageDeserializer::with_type_meta(msg, env.raw, env.api_version, env.kind)?)
}

/// Encodes `value` (an object of this apiVersion and kind, in its JSON shape) into the
/// envelope.
pub fn encode_object<T: Serialize + ?Sized>(api_version: &str, kind: &str, value: &T) -> Result<Vec<u8>, CodecError> {
    let msg = message_of(api_version, kind)?;
    let mut raw = Vec::with_capacity(256);
    encode_message(msg, value, &mut raw, 0)?;
    let mut type_meta = Vec::with_capacity(api_version.len() + kind.len() + 4);
    put_len(&mut type_meta, 1, api_version.as_bytes());
    put_len(&mut type_meta, 2, kind.as_bytes());
    let mut out = Vec::with_capacity(raw.len() + type_meta.len() + 16);
    out.extend_from_slice(MAGIC);
    put_len(&mut out, 1, &type_meta);
    put_len(&mut out, 2, &raw);
    put_len(&mut out, 3, b"");
    put_len(&mut out, 4, b"");
    Ok(out)
}

/// A protobuf list body split into its envelope and its items, so the items can be
/// decoded separately (on several threads).
#[derive(Debug)]
pub struct ListParts<'a> {
    api_version: &'a str,
    kind: &'a str,
    list_msg: u32,
    item_msg: u32,
    /// The list message without its items.
    rest: Vec<u8>,
    /// Each item's message, in order.
    pub items: Vec<&'a [u8]>,
}

/// Splits an enveloped list (a `<Kind>List` message) into envelope and items.
pub fn split_list(bytes: &[u8]) -> Result<ListParts<'_>, CodecError> {
    let env = parse_envelope(bytes)?;
    let list_msg = message_of(env.api_version, env.kind)?;
    let ix = index();
    let msg = ix.msg(list_msg);
    let items_field = msg
        .field_by_json("items")
        .filter(|f| f.def.repeated)
        .ok_or_else(|| CodecError::invalid(format!("{} is not a list", msg.key)))?;
    let Ty::Msg(item_msg) = items_field.ty else {
        return Err(CodecError::invalid(format!("{} items are not messages", msg.key)));
    };
    let tag = items_field.def.tag;
    let mut items = Vec::new();
    let mut rest = Vec::new();
    let mut r = Reader::new(env.raw);
    loop {
        let before = r.buf;
        let Some((t, w)) = r.field().map_err(|e| e.in_message(msg.key))? else { break };
        match (t == tag, w) {
            (true, Wire::Len(item)) => items.push(item),
            (true, _) => {
                return Err(CodecError::invalid("a list item is not length-delimited").in_field(msg.key, "items"))
            }
            (false, _) => rest.extend_from_slice(&before[..before.len() - r.buf.len()]),
        }
    }
    Ok(ListParts { api_version: env.api_version, kind: env.kind, list_msg, item_msg, rest, items })
}

impl ListParts<'_> {
    /// Decodes the list without its items (apiVersion, kind, metadata).
    pub fn decode_envelope<T: DeserializeOwned>(&self) -> Result<T, CodecError> {
        T::deserialize(MessageDeserializer::with_type_meta(self.list_msg, &self.rest, self.api_version, self.kind)?)
    }

    /// Decodes one item (as a list's JSON has it: without apiVersion and kind).
    pub fn decode_item<T: DeserializeOwned>(&self, item: &[u8]) -> Result<T, CodecError> {
        T::deserialize(MessageDeserializer::new(self.item_msg, item, 1, None)?)
            .map_err(|e| e.in_field(index().msg(self.list_msg).key, "items"))
    }
}

/// One watch event of a protobuf watch stream (a frame's `metav1.WatchEvent`).
#[derive(Debug, Clone, Copy)]
pub struct WatchEventParts<'a> {
    /// `ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK` or `ERROR`.
    pub event_type: &'a str,
    /// The enveloped object (a `Status` for `ERROR`); decode it with [`decode_object`].
    pub object: &'a [u8],
}

/// Takes a `metav1.WatchEvent` message (one frame, without its length) apart.
pub fn parse_watch_event(frame: &[u8]) -> Result<WatchEventParts<'_>, CodecError> {
    let mut parts = WatchEventParts { event_type: "", object: &[] };
    let mut r = Reader::new(frame);
    let located = |e: CodecError| e.in_message("apimachinery/pkg/apis/meta/v1/WatchEvent");
    while let Some((tag, w)) = r.field().map_err(located)? {
        match (tag, w) {
            (1, Wire::Len(t)) => {
                parts.event_type =
                    std::str::from_utf8(t).map_err(|_| located(CodecError::invalid("event type is not UTF-8")))?;
            }
            (2, Wire::Len(ext)) => {
                let mut e = Reader::new(ext);
                while let Some((tag, w)) = e.field().map_err(located)? {
                    if let (1, Wire::Len(raw)) = (tag, w) {
                        parts.object = raw;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(parts)
}

/// Encodes a watch event around an enveloped object, as one frame: the 4-byte
/// big-endian length, then the `metav1.WatchEvent` message.
pub fn encode_watch_frame(event_type: &str, object: &[u8]) -> Vec<u8> {
    let mut ext = Vec::with_capacity(object.len() + 6);
    put_len(&mut ext, 1, object);
    let mut event = Vec::with_capacity(ext.len() + event_type.len() + 12);
    put_len(&mut event, 1, event_type.as_bytes());
    put_len(&mut event, 2, &ext);
    let mut out = Vec::with_capacity(event.len() + 4);
    out.extend_from_slice(&(event.len() as u32).to_be_bytes());
    out.extend_from_slice(&event);
    out
}

/// The length of the first frame of a length-delimited stream, if its 4-byte header
/// has arrived: `Ok(Some(n))` means `buf[4..4 + n]` is the frame once that much has
/// arrived. A length above [`MAX_FRAME_SIZE`] is an error.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, CodecError> {
    let Some(head) = buf.get(..4) else { return Ok(None) };
    let n = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    if n > MAX_FRAME_SIZE {
        return Err(CodecError::invalid(format!("a watch frame of {n} bytes is larger than {MAX_FRAME_SIZE}")));
    }
    Ok(Some(n))
}

#[cfg(test)]
mod tests {
    //! The codec end to end on JSON values (the crate has no k8s-openapi; the client's
    //! `tests/protobuf_fixtures.rs` checks k8s-openapi types on Kubernetes' fixtures):
    //! encoding a value's JSON shape and decoding it back gives the same JSON, the
    //! serde decoder agrees with the JSON value decoder of `super::super`, and bad
    //! input is an error naming the type and field, never a panic.
    use super::*;
    use crate::protobuf::de::from_message;
    use crate::protobuf::ser::to_message;
    use serde_json::{json, Value};

    fn pod() -> Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": "web-0", "namespace": "default", "uid": "u-1", "resourceVersion": "42",
                "creationTimestamp": "2023-11-14T22:13:20Z",
                "labels": {"app": "web", "tier": ""},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "u-2", "controller": true}],
                "managedFields": [{"manager": "kubectl", "operation": "Apply", "apiVersion": "v1",
                                   "time": "2023-11-14T22:13:20Z", "fieldsType": "FieldsV1",
                                   "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}}}}]
            },
            "spec": {
                "containers": [{
                    "name": "nginx", "image": "nginx:1", "args": ["-g", "daemon off;"],
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "a"}}}],
                    "resources": {"limits": {"cpu": "1", "memory": "512Mi"}, "requests": {"cpu": "100m"}},
                    "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10},
                    "readinessProbe": {"tcpSocket": {"port": "http"}}
                }],
                "volumes": [{"name": "cfg", "configMap": {"name": "cm", "defaultMode": 420}}],
                "terminationGracePeriodSeconds": 0,
                "tolerations": [{"key": "k", "operator": "Exists", "tolerationSeconds": 30}]
            },
            "status": {
                "phase": "Running", "startTime": "2023-11-14T22:13:21Z",
                "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2023-11-14T22:13:22Z"}]
            }
        })
    }

    #[test]
    fn type_meta_reads_into_optional_strings() {
        #[derive(serde::Deserialize)]
        struct Head {
            #[serde(rename = "apiVersion")]
            api_version: Option<String>,
            kind: Option<String>,
        }
        let bytes = encode_object("v1", "Pod", &pod()).unwrap();
        let head: Head = decode_object(&bytes).unwrap();
        assert_eq!((head.api_version.as_deref(), head.kind.as_deref()), (Some("v1"), Some("Pod")));
    }

    #[test]
    fn a_pod_round_trips_through_protobuf() {
        let v = pod();
        let bytes = encode_object("v1", "Pod", &v).unwrap();
        assert!(bytes.starts_with(MAGIC));
        let back: Value = decode_object(&bytes).unwrap();
        assert_eq!(back, v);
        // The same bytes as the JSON encoder of the parent module (kube's bytes), which
        // writes Go's value-type zeros too (here the condition's zero lastProbeTime).
        assert_eq!(bytes, crate::protobuf::encode_body("v1", "Pod", &v).unwrap());
        // The JSON value decoder reads them as Go's JSON has them: the zero Time a
        // `null` (k8s-openapi reads it as `None`, as this codec does).
        let mut go_json = v.clone();
        go_json["status"]["conditions"][0]["lastProbeTime"] = Value::Null;
        assert_eq!(crate::protobuf::decode_body(&bytes).unwrap(), go_json);
    }

    #[test]
    fn inline_embedded_fields_are_flattened_both_ways() {
        let v = pod();
        let raw = to_message("api/core/v1/Volume", &v["spec"]["volumes"][0]).unwrap();
        // Volume{name=1, volumeSource=2{configMap=6{localObjectReference=1{name=1}, defaultMode=3}}}
        let mut r = Reader::new(&raw);
        let mut tags = Vec::new();
        while let Some((tag, _)) = r.field().unwrap() {
            tags.push(tag);
        }
        assert_eq!(tags, [1, 2], "configMap went into the inline volumeSource message");
        let back: Value = from_message("api/core/v1/Volume", &raw).unwrap();
        assert_eq!(back, v["spec"]["volumes"][0]);
    }

    #[test]
    fn repeated_fields_apart_packed_and_unknown_fields() {
        // ObjectMeta: finalizers (14) split by a name (1) and an unknown field 99.
        let mut m = Vec::new();
        crate::protobuf::wire::put_bytes(&mut m, 14, b"a");
        crate::protobuf::wire::put_bytes(&mut m, 1, b"n");
        crate::protobuf::wire::put_bytes(&mut m, 99, b"ignored");
        crate::protobuf::wire::put_bytes(&mut m, 14, b"b");
        let v: Value = from_message("apimachinery/pkg/apis/meta/v1/ObjectMeta", &m).unwrap();
        assert_eq!(v, json!({"name": "n", "finalizers": ["a", "b"]}));
        // PodSpec... a packed repeated int: Capabilities? Use NodeSwapStatus-free
        // ContainerStatus? The simplest repeated varint: SupplementalGroups (int64, 12)
        // of PodSecurityContext, packed and unpacked together.
        let mut sc = Vec::new();
        crate::protobuf::wire::put_bytes(&mut sc, 4, &[1, 2, 3]);
        sc.extend_from_slice(&[4 << 3, 9]);
        let v: Value = from_message("api/core/v1/PodSecurityContext", &sc).unwrap();
        assert_eq!(v, json!({"supplementalGroups": [1, 2, 3, 9]}));
    }

    #[test]
    fn lists_split_and_watch_frames() {
        let item = pod();
        let list = json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "7", "continue": "c"},
                          "items": [item.clone(), item.clone()]});
        let bytes = encode_object("v1", "PodList", &list).unwrap();
        let parts = split_list(&bytes).unwrap();
        assert_eq!(parts.items.len(), 2);
        let envelope: Value = parts.decode_envelope().unwrap();
        assert_eq!(envelope["metadata"], json!({"resourceVersion": "7", "continue": "c"}));
        let first: Value = parts.decode_item(parts.items[0]).unwrap();
        let mut expected = item.clone();
        expected.as_object_mut().unwrap().retain(|k, _| k != "apiVersion" && k != "kind");
        assert_eq!(first, expected);

        let obj = encode_object("v1", "Pod", &item).unwrap();
        let frame = encode_watch_frame("MODIFIED", &obj);
        let n = frame_len(&frame).unwrap().unwrap();
        assert_eq!(n + 4, frame.len());
        assert_eq!(frame_len(&frame[..3]).unwrap(), None);
        let ev = parse_watch_event(&frame[4..]).unwrap();
        assert_eq!(ev.event_type, "MODIFIED");
        assert_eq!(decode_object::<Value>(ev.object).unwrap(), item);
        assert!(frame_len(&[0xff, 0xff, 0xff, 0xff]).is_err());
    }

    #[test]
    fn the_kind_is_checked_and_errors_name_type_and_field() {
        let err = encode_object("example.com/v1", "Widget", &json!({})).unwrap_err();
        assert_eq!(err.kind(), crate::protobuf::CodecErrorKind::UnknownKind);
        let err = encode_object("v1", "Pod", &json!({"spec": {"containers": [{"name": 5}]}})).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("api/core/v1/Pod.spec.containers.name"), "{text}");
        let err = encode_object("v1", "Pod", &json!({"spec": {"nope": 1}})).unwrap_err();
        assert!(err.to_string().contains("no field \"nope\""), "{err}");
        // A string field holding bytes that are not UTF-8, deep inside.
        let mut name = Vec::new();
        crate::protobuf::wire::put_bytes(&mut name, 1, &[0xff, 0xfe]);
        let mut meta = Vec::new();
        crate::protobuf::wire::put_bytes(&mut meta, 1, &name);
        let err = from_message::<Value>("api/core/v1/Pod", &meta).unwrap_err().to_string();
        assert!(err.contains("api/core/v1/Pod.metadata.name") && err.contains("UTF-8"), "{err}");
    }

    #[test]
    fn bad_input_is_an_error_never_a_panic() {
        assert!(decode_object::<Value>(b"").is_err());
        assert!(decode_object::<Value>(b"k8s\0\xff\xff\xff").is_err());
        // Deep nesting: JSONSchemaProps-free, through ObjectMeta.ownerReferences? Use
        // a chain of Status.details... simplest: messages nested 200 deep in field 1.
        let mut deep = Vec::new();
        for _ in 0..200 {
            let mut outer = Vec::new();
            crate::protobuf::wire::put_bytes(&mut outer, 1, &deep);
            deep = outer;
        }
        let _ = from_message::<Value>("api/core/v1/Pod", &deep);
        let good = encode_object("v1", "Pod", &pod()).unwrap();
        let mut x: u32 = 7;
        for cut in 0..good.len() {
            let _ = decode_object::<Value>(&good[..cut]);
            let mut bad = good.clone();
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let i = 4 + (x as usize >> 8) % (good.len() - 4);
            bad[i] ^= (x >> 3) as u8 | 1;
            let _ = decode_object::<Value>(&bad);
        }
    }
}
