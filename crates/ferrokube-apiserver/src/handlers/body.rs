//! Request bodies: size limit (3 MiB, as kube-apiserver), `Content-Encoding: gzip`,
//! and media types (YAML and protobuf bodies of create/update/delete are converted to
//! JSON; patch bodies
//! pass through with their patch media type for the registry to interpret).

use std::io::Read;

use bytes::Bytes;
use http_body_util::BodyExt;

use super::status;
use crate::api::{ApiError, Verb};

/// Largest accepted request body, after decompression: 3 MiB.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// How much of an oversized body is still read (and dropped) before the 413 is sent.
///
/// A server that answers early and closes with unread bytes in the socket makes the
/// kernel reset the connection, and the reset can destroy the answer before the client
/// reads it: the client then sees "connection reset" instead of the 413 (seen over
/// HTTP/1.1 now and then, and over HTTP/2 always). Go's net/http, and so
/// kube-apiserver, avoids that by reading on after the handler's answer; here the rest
/// of the body is read first, up to this budget, so the client has finished sending and
/// gets its 413 on a clean connection. A body larger still is cut off there.
pub const OVERSIZED_BODY_DRAIN_BYTES: usize = 16 * 1024 * 1024;

/// Read a request body, refusing more than [`MAX_BODY_BYTES`] (413).
pub async fn read_limited<B>(body: B, gzip: bool) -> Result<Bytes, ApiError>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let mut body = std::pin::pin!(body);
    let mut collected = bytes::BytesMut::new();
    let mut oversized_by = 0usize;
    while let Some(frame) = body.as_mut().frame().await {
        let frame = frame.map_err(|e| status::bad_request(format!("reading request body: {e}")))?;
        let Ok(data) = frame.into_data() else { continue };
        if oversized_by == 0 && collected.len() + data.len() <= MAX_BODY_BYTES {
            collected.extend_from_slice(&data);
            continue;
        }
        oversized_by += data.len();
        if oversized_by > OVERSIZED_BODY_DRAIN_BYTES {
            break;
        }
    }
    if oversized_by > 0 {
        return Err(status::too_large(MAX_BODY_BYTES));
    }
    let collected = collected.freeze();
    if !gzip {
        return Ok(collected);
    }
    let mut out = Vec::new();
    let decoder = flate2::read::GzDecoder::new(&collected[..]);
    match decoder.take(MAX_BODY_BYTES as u64 + 1).read_to_end(&mut out) {
        Ok(_) if out.len() > MAX_BODY_BYTES => Err(status::too_large(MAX_BODY_BYTES)),
        Ok(_) => Ok(Bytes::from(out)),
        Err(e) => Err(status::bad_request(format!("invalid gzip request body: {e}"))),
    }
}

/// The resource a body is for: its kind, and whether it is built in (custom resources
/// take no protobuf).
#[derive(Clone, Copy, Debug)]
pub struct BodyTarget<'a> {
    /// The resource's kind, named in decode errors.
    pub kind: &'a str,
    /// A built-in resource (not a custom one).
    pub built_in: bool,
}

/// Normalize a body's media type for `verb`: returns the `(content_type, body)` to pass
/// to the registry. YAML becomes JSON for create/update; patches keep their patch type.
/// A body that does not decode is refused with kube-apiserver's words
/// (the crate-internal `object::decode_errors`).
pub fn normalize(
    verb: Verb,
    content_type: Option<&str>,
    body: Bytes,
    target: BodyTarget<'_>,
) -> Result<(Option<String>, Bytes), ApiError> {
    use crate::object::decode_errors;
    let essence =
        content_type.map(|c| c.split(';').next().unwrap_or("").trim().to_ascii_lowercase()).filter(|c| !c.is_empty());
    match verb {
        Verb::Create | Verb::Update | Verb::Delete | Verb::DeleteCollection => match essence.as_deref() {
            None if body.is_empty() => Ok((None, body)),
            None | Some("application/json") => Ok((Some("application/json".into()), body)),
            Some("application/yaml" | "application/x-yaml" | "text/yaml") => {
                let value: serde_json::Value = serde_yaml_ng::from_slice(&body)
                    .map_err(|e| decode_errors::unrecognized(target.kind, &decode_errors::yaml_error(&e), &body))?;
                let json = serde_json::to_vec(&value).map_err(|e| status::internal(e.to_string()))?;
                Ok((Some("application/json".into()), Bytes::from(json)))
            }
            Some("application/vnd.kubernetes.protobuf") => {
                if target.built_in && !body.starts_with(b"k8s\0") {
                    return Err(decode_errors::unrecognized(target.kind, decode_errors::PROTOBUF_NO_PREFIX, &body));
                }
                let value = ferrokube_apimachinery::protobuf::decode_body(&body).map_err(|e| match e {
                    ferrokube_apimachinery::protobuf::DecodeError::UnknownKind(_) => {
                        status::unsupported_media_type("application/vnd.kubernetes.protobuf")
                    }
                    e if target.built_in => {
                        decode_errors::unrecognized(target.kind, &decode_errors::protobuf_error(&e.to_string()), &body)
                    }
                    e => status::bad_request(e.to_string()),
                })?;
                let json = serde_json::to_vec(&value).map_err(|e| status::internal(e.to_string()))?;
                Ok((Some("application/json".into()), Bytes::from(json)))
            }
            Some(_) if target.built_in => Err(status::unknown_body_format(&super::negotiate::BUILT_IN_MEDIA_TYPES)),
            Some(other) => Err(status::unsupported_media_type(other)),
        },
        Verb::Patch => match essence.as_deref() {
            Some(
                t @ ("application/json-patch+json"
                | "application/merge-patch+json"
                | "application/strategic-merge-patch+json"
                | "application/apply-patch+yaml"
                | "application/apply-patch+cbor"),
            ) => Ok((Some(t.to_owned()), body)),
            other => Err(status::unsupported_media_type(other.unwrap_or(""))),
        },
        Verb::Get | Verb::List | Verb::Watch => Ok((essence, body)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    #[tokio::test]
    async fn limits_and_gzip() {
        let ok = read_limited(Full::new(Bytes::from_static(b"{}")), false).await.unwrap();
        assert_eq!(&ok[..], b"{}");
        let big = Bytes::from(vec![b' '; MAX_BODY_BYTES + 1]);
        assert_eq!(read_limited(Full::new(big), false).await.unwrap_err().code, 413);
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut enc, &vec![b' '; MAX_BODY_BYTES + 10]).unwrap();
        let bomb = Bytes::from(enc.finish().unwrap());
        assert_eq!(read_limited(Full::new(bomb), true).await.unwrap_err().code, 413);
        let bad = read_limited(Full::new(Bytes::from_static(b"nope")), true).await;
        assert_eq!(bad.unwrap_err().code, 400);
    }

    const CM: BodyTarget<'static> = BodyTarget { kind: "ConfigMap", built_in: true };

    #[test]
    fn media_types() {
        let (ct, b) = normalize(Verb::Create, Some("application/yaml"), Bytes::from_static(b"a: 1\n"), CM).unwrap();
        assert_eq!(ct.as_deref(), Some("application/json"));
        assert_eq!(&b[..], br#"{"a":1}"#);
        assert_eq!(
            normalize(Verb::Create, Some("application/yaml"), Bytes::from_static(b"a: ["), CM).unwrap_err().code,
            400
        );
        let text = normalize(Verb::Create, Some("text/plain"), Bytes::from_static(b"x"), CM).unwrap_err();
        assert_eq!(text.code, 415);
        assert_eq!(
            text.message,
            "the body of the request was in an unknown format - accepted media types include: \
             application/json, application/yaml, application/vnd.kubernetes.protobuf"
        );
        let pb = normalize(
            Verb::Create,
            Some("application/vnd.kubernetes.protobuf"),
            Bytes::from_static(b"k8s\0garbage-bytes"),
            CM,
        )
        .unwrap_err();
        assert_eq!(
            pb.message,
            "the object provided is unrecognized (must be of type ConfigMap): proto: illegal wireType 7 (6b387300676172626167652d6279746573)"
        );
        assert_eq!(normalize(Verb::Patch, Some("application/json"), Bytes::new(), CM).unwrap_err().code, 415);
        let (ct, _) =
            normalize(Verb::Patch, Some("application/merge-patch+json; charset=utf-8"), Bytes::new(), CM).unwrap();
        assert_eq!(ct.as_deref(), Some("application/merge-patch+json"));
    }
}
