//! `rest::list_decode`: decoding a large LIST response on several cores.
//!
//! Decoding JSON into typed objects is the client's main cost for a LIST (a pod of
//! ~10 KB takes tens of microseconds, most of it in memory allocation), and a
//! single-threaded decode leaves the other cores idle while a 50 MB list is turned into
//! objects. [`decode_list`] splits the work: one validating pass over the body borrows
//! every element of `items` as raw JSON, the envelope (apiVersion, kind, metadata) is
//! decoded with an empty `items`, and the elements are decoded on several
//! threads ([`parallel::map_in_order`](crate::parallel::map_in_order)), in order.
//!
//! The result is exactly what `serde_json::from_str::<L>` returns: small bodies and
//! anything unusual (no `items`, `items` not an array, a duplicate key, any decode
//! error) take the one-threaded reference path, so error messages are the reference
//! path's too. `tests/fast_paths.rs` checks the equality on the shared fixtures.
//! [`Request::into_list`](super::Request::into_list) and the typed clients' `list` use it.
//!
//! A protobuf list ([`decode_protobuf_list`]) is split the same way: its envelope
//! (without items) and each item's message are decoded separately, the items of a large
//! list on several threads, straight into the typed objects.
//!
//! `rest::Config::list_decode_threads` caps the threads (the `_limited` forms), and
//! [`Request::into_list`](super::Request::into_list) runs the decode through
//! [`parallel::off_worker`](crate::parallel::off_worker), so a multi-threaded runtime
//! keeps running its other tasks while a large list decodes.

use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

/// Bodies smaller than this are decoded on the calling thread: below it, starting
/// threads costs more than it saves.
pub const PARALLEL_MIN_BYTES: usize = 2 * crate::parallel::MIN_BYTES_PER_THREAD;

/// A list type whose `items` can be decoded separately from its envelope:
/// `k8s_openapi::List<K>` and the informers' page type.
pub trait ItemList: DeserializeOwned {
    /// The element type of `items`.
    type Item: DeserializeOwned + Send;
    /// Puts the decoded items into a list whose envelope was decoded with `items: []`.
    fn set_items(&mut self, items: Vec<Self::Item>);
    /// The continue token of the list's metadata, if any: the pager asks for the next
    /// page with it.
    fn continue_token(&self) -> Option<&str>;
}

impl<K> ItemList for k8s_openapi::List<K>
where
    K: k8s_openapi::ListableResource + DeserializeOwned + Send,
{
    type Item = K;
    fn set_items(&mut self, items: Vec<K>) {
        self.items = items;
    }
    fn continue_token(&self) -> Option<&str> {
        self.metadata.continue_.as_deref()
    }
}

/// Decodes a list body; several threads share the items of a large one.
pub fn decode_list<L: ItemList>(body: &str) -> Result<L, serde_json::Error> {
    decode_list_limited(body, 0)
}

/// [`decode_list`] on at most `limit` threads (`0`: no limit beyond the body's size and
/// the machine's cores).
pub fn decode_list_limited<L: ItemList>(body: &str, limit: usize) -> Result<L, serde_json::Error> {
    let threads = crate::parallel::threads_for_limit(body.len(), limit);
    if body.len() < PARALLEL_MIN_BYTES || threads < 2 {
        return serde_json::from_str(body);
    }
    decode_list_on(body, threads)
}

/// [`decode_list`] on a body given as bytes: one that is not UTF-8 goes through
/// `serde_json::from_slice`, so the error names the position.
pub fn decode_list_bytes<L: ItemList>(body: &[u8]) -> Result<L, serde_json::Error> {
    decode_list_bytes_limited(body, 0)
}

/// [`decode_list_bytes`] on at most `limit` threads (see [`decode_list_limited`]).
pub fn decode_list_bytes_limited<L: ItemList>(body: &[u8], limit: usize) -> Result<L, serde_json::Error> {
    match std::str::from_utf8(body) {
        Ok(text) => decode_list_limited(text, limit),
        Err(_) => serde_json::from_slice(body),
    }
}

/// [`decode_list`] with the items split over exactly `threads` threads whatever the
/// body's size (for tests).
#[doc(hidden)]
pub fn decode_list_on<L: ItemList>(body: &str, threads: usize) -> Result<L, serde_json::Error> {
    match ScannedList::<L>::scan(body).and_then(|scanned| scanned.decode(threads)) {
        Some(list) => Ok(list),
        None => serde_json::from_str(body),
    }
}

/// A list body after the first, validating pass: the envelope decoded (with empty
/// `items`) and every item borrowed as raw JSON, not yet decoded. The pager
/// ([`tools::pager`](crate::tools::pager)) reads the continue token here and asks for
/// the next page before the items are decoded.
pub struct ScannedList<'a, L> {
    envelope: L,
    items: Vec<&'a RawValue>,
}

/// The items of a body, borrowed as raw JSON.
#[derive(serde::Deserialize)]
struct Items<'a> {
    #[serde(borrow)]
    items: Option<Vec<&'a RawValue>>,
}

impl<'a, L: ItemList> ScannedList<'a, L> {
    /// Scans `body`; `None` when the body is not the usual shape (no `items`, `items`
    /// not an array or empty, a duplicate key, an envelope that does not decode): the
    /// reference path then decides, and reports any error.
    pub fn scan(body: &'a str) -> Option<Self> {
        let items = serde_json::from_str::<Items<'_>>(body).ok()?.items?;
        let (first, last) = (items.first()?, items.last()?);
        // The array's brackets: the first non-blank byte before the first item and
        // after the last one.
        let start = offset_in(body, first.get());
        let end = offset_in(body, last.get()) + last.get().len();
        let open = body[..start].trim_end().len().checked_sub(1)?;
        let close = end + (body[end..].len() - body[end..].trim_start().len());
        if body.as_bytes().get(open) != Some(&b'[') || body.as_bytes().get(close) != Some(&b']') {
            return None;
        }
        let envelope = format!("{}[]{}", &body[..open], &body[close + 1..]);
        let envelope: L = serde_json::from_str(&envelope).ok()?;
        Some(ScannedList { envelope, items })
    }

    /// The continue token, read from the envelope.
    pub fn continue_token(&self) -> Option<&str> {
        self.envelope.continue_token()
    }

    /// Decodes the items on up to `threads` threads; `None` if any item fails (the
    /// reference path then gives the error).
    pub fn decode(self, threads: usize) -> Option<L> {
        let mut list = self.envelope;
        list.set_items(decode_items::<L::Item>(&self.items, threads)?);
        Some(list)
    }
}

/// Decodes a Kubernetes protobuf list body (`k8s\0` envelope around a `<Kind>List`
/// message) into `L`, the items of a large one on several threads. The result is what
/// the JSON of the same list decodes to.
pub fn decode_protobuf_list<L: ItemList>(body: &[u8]) -> Result<L, ferrokube_apimachinery::protobuf::CodecError> {
    decode_protobuf_list_limited(body, 0)
}

/// [`decode_protobuf_list`] on at most `limit` threads (see [`decode_list_limited`]).
pub fn decode_protobuf_list_limited<L: ItemList>(
    body: &[u8],
    limit: usize,
) -> Result<L, ferrokube_apimachinery::protobuf::CodecError> {
    let parts = ferrokube_apimachinery::protobuf::envelope::split_list(body)?;
    let mut list: L = parts.decode_envelope()?;
    let threads = crate::parallel::threads_for_limit(body.len(), limit);
    let items: Vec<L::Item> = if body.len() < PARALLEL_MIN_BYTES || threads < 2 {
        let mut items = Vec::with_capacity(parts.items.len());
        for item in &parts.items {
            items.push(parts.decode_item(item)?);
        }
        items
    } else {
        crate::parallel::map_in_order(&parts.items, |item| item.len(), threads, |item| parts.decode_item(item))
            .into_iter()
            .collect::<Result<_, _>>()?
    };
    list.set_items(items);
    Ok(list)
}

/// Byte offset of `part`, a slice of `whole`, within `whole`.
fn offset_in(whole: &str, part: &str) -> usize {
    part.as_ptr() as usize - whole.as_ptr() as usize
}

/// Decodes `items` in order on up to `threads` threads; `None` if any item fails.
fn decode_items<T: DeserializeOwned + Send>(items: &[&RawValue], threads: usize) -> Option<Vec<T>> {
    crate::parallel::map_in_order(
        items,
        |raw| raw.get().len(),
        threads,
        |raw| serde_json::from_str::<T>(raw.get()).ok(),
    )
    .into_iter()
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    fn big_list(n: usize) -> String {
        let items: Vec<String> = (0..n)
            .map(|i| {
                format!(
                    r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"cm-{i}","namespace":"ns"}},"data":{{"k":"{}"}}}}"#,
                    "x".repeat(2000)
                )
            })
            .collect();
        format!(
            "{{\"kind\":\"ConfigMapList\",\"apiVersion\":\"v1\",\"metadata\":{{\"resourceVersion\":\"42\"}},\"items\": [ {} ]\n}}",
            items.join(",\n")
        )
    }

    #[test]
    fn split_decode_equals_the_reference() {
        let body = big_list(1000);
        assert!(body.len() > PARALLEL_MIN_BYTES);
        let fast: k8s_openapi::List<ConfigMap> =
            ScannedList::scan(&body).expect("scanned").decode(4).expect("split path taken");
        let reference: k8s_openapi::List<ConfigMap> = serde_json::from_str(&body).unwrap();
        assert_eq!(fast, reference);
        assert_eq!(fast.items.len(), 1000);
        assert_eq!(fast.items[999].metadata.name.as_deref(), Some("cm-999"));
    }

    #[test]
    fn a_bad_item_gives_the_reference_error() {
        let body = big_list(400).replacen(r#""name":"cm-300""#, r#""name":300"#, 1);
        assert!(ScannedList::<k8s_openapi::List<ConfigMap>>::scan(&body).expect("scanned").decode(4).is_none());
        let err = decode_list::<k8s_openapi::List<ConfigMap>>(&body).unwrap_err().to_string();
        let reference = serde_json::from_str::<k8s_openapi::List<ConfigMap>>(&body).unwrap_err().to_string();
        assert_eq!(err, reference);
    }

    #[test]
    fn a_thread_limit_gives_the_same_list() {
        let body = big_list(1000);
        let reference: k8s_openapi::List<ConfigMap> = serde_json::from_str(&body).unwrap();
        for limit in [0, 1, 3] {
            assert_eq!(decode_list_limited::<k8s_openapi::List<ConfigMap>>(&body, limit).unwrap(), reference);
        }
        let pb = ferrokube_apimachinery::protobuf::encode_object("v1", "ConfigMapList", &reference).unwrap();
        assert!(pb.len() > PARALLEL_MIN_BYTES);
        for limit in [0, 1, 3] {
            assert_eq!(decode_protobuf_list_limited::<k8s_openapi::List<ConfigMap>>(&pb, limit).unwrap(), reference);
        }
    }

    #[test]
    fn a_wrong_kind_is_rejected_as_by_the_reference() {
        let body = big_list(400).replacen("ConfigMapList", "SecretList", 1);
        assert!(decode_list::<k8s_openapi::List<ConfigMap>>(&body).is_err());
    }
}
