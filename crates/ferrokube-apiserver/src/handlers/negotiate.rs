//! Content negotiation: which representation the `Accept` header asks for.
//!
//! kube-apiserver walks the `Accept` list in order and serves the first media type it
//! can. Here that is JSON (`application/json`, `*/*`, `application/*`), YAML, a
//! `meta.k8s.io` Table (`application/json;as=Table;v=v1;g=meta.k8s.io`, what `kubectl
//! get` asks for), and aggregated discovery
//! (`application/json;as=APIGroupDiscoveryList;v=v2;g=apidiscovery.k8s.io`) where the
//! endpoint offers it, and protobuf (`application/vnd.kubernetes.protobuf`, what
//! client-go's typed clients and kubectl list first) where the endpoint offers it: the
//! built-in resources and the discovery documents, as kube-apiserver. Custom resources
//! are not offered in protobuf (kube-apiserver leaves protobuf out of a CRD's standard
//! serializers): a client that also lists JSON gets JSON, one that lists only protobuf
//! gets 406. A Table or `PartialObjectMetadata` asked for in protobuf is skipped in
//! favour of the next entry (kube allows Tables only as JSON or YAML);
//! `PartialObjectMetadata` is served in protobuf too, custom resources included, as
//! kube-apiserver does. One that lists nothing servable gets 406.

/// What an endpoint can render besides plain JSON/YAML.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Offers {
    /// A Table or metadata-only objects (resource get/list/watch).
    pub table: bool,
    /// Aggregated discovery (`/api`, `/apis`).
    pub aggregated: bool,
    /// The Kubernetes protobuf encoding (built-in types only).
    pub protobuf: bool,
}

/// The protobuf media type.
pub const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

/// The media type of a protobuf watch stream (length-prefixed `WatchEvent` frames).
pub const PROTOBUF_WATCH: &str = "application/vnd.kubernetes.protobuf;stream=watch";

/// The chosen representation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Format {
    /// `application/json`.
    Json,
    /// `application/yaml`.
    Yaml,
    /// `application/vnd.kubernetes.protobuf`.
    Protobuf,
    /// A `meta.k8s.io` Table of the given version (`v1` or `v1beta1`).
    Table {
        /// `v1` or `v1beta1`.
        version: String,
        /// `includeObject` is `Object` (full objects) rather than `Metadata`.
        include_object: IncludeObject,
    },
    /// Metadata only (`as=PartialObjectMetadata` / `PartialObjectMetadataList`, what
    /// client-go's metadata client asks for), `meta.k8s.io/<version>`.
    PartialMetadata {
        /// `v1` or `v1beta1`.
        version: String,
        /// In protobuf (`meta.k8s.io/v1` only) rather than JSON; served for custom
        /// resources too, as kube-apiserver does.
        protobuf: bool,
    },
    /// Aggregated discovery, `apidiscovery.k8s.io/<version>` (`v2` or `v2beta1`).
    Aggregated {
        /// `v2` or `v2beta1`.
        version: String,
    },
}

/// The `includeObject` query parameter of Table requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncludeObject {
    /// Rows carry no object.
    None,
    /// Rows carry a `PartialObjectMetadata` (the default).
    Metadata,
    /// Rows carry the full object.
    Object,
}

impl IncludeObject {
    /// Parse the query value (absent or unknown: `Metadata`).
    pub fn parse(value: Option<&str>) -> IncludeObject {
        match value {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

/// One `Accept` entry.
#[derive(Debug)]
struct MediaRange<'a> {
    essence: String,
    params: Vec<(String, &'a str)>,
}

impl MediaRange<'_> {
    fn param(&self, key: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }
}

fn parse_accept(accept: &str) -> Vec<MediaRange<'_>> {
    accept
        .split(',')
        .filter_map(|entry| {
            let mut parts = entry.split(';');
            let essence = parts.next()?.trim().to_ascii_lowercase();
            if essence.is_empty() {
                return None;
            }
            let params = parts
                .filter_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    Some((k.trim().to_ascii_lowercase(), v.trim().trim_matches('"')))
                })
                .collect();
            Some(MediaRange { essence, params })
        })
        .collect()
}

/// Choose a representation for `accept` (the raw header; `None`: JSON).
/// `include_object` is the `includeObject` query parameter. `None` result: 406.
pub fn choose(accept: Option<&str>, offers: Offers, include_object: Option<&str>) -> Option<Format> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Some(Format::Json);
    };
    for range in parse_accept(accept) {
        if range.param("q") == Some("0") {
            continue;
        }
        let is_json = matches!(range.essence.as_str(), "application/json" | "application/*" | "*/*");
        match range.param("as") {
            None if is_json => return Some(Format::Json),
            None if matches!(range.essence.as_str(), "application/yaml" | "text/yaml") => return Some(Format::Yaml),
            None if offers.protobuf && range.essence == PROTOBUF => return Some(Format::Protobuf),
            Some("Table") if offers.table && range.essence == "application/json" => {
                let version = range.param("v").unwrap_or("v1");
                if range.param("g") == Some("meta.k8s.io") && matches!(version, "v1" | "v1beta1") {
                    return Some(Format::Table {
                        version: version.to_owned(),
                        include_object: IncludeObject::parse(include_object),
                    });
                }
            }
            Some("PartialObjectMetadata" | "PartialObjectMetadataList")
                if offers.table && range.essence == "application/json" =>
            {
                let version = range.param("v").unwrap_or("v1");
                if range.param("g") == Some("meta.k8s.io") && matches!(version, "v1" | "v1beta1") {
                    return Some(Format::PartialMetadata { version: version.to_owned(), protobuf: false });
                }
            }
            Some("PartialObjectMetadata" | "PartialObjectMetadataList")
                if offers.table
                    && range.essence == PROTOBUF
                    && range.param("g") == Some("meta.k8s.io")
                    && range.param("v").unwrap_or("v1") == "v1" =>
            {
                return Some(Format::PartialMetadata { version: "v1".to_owned(), protobuf: true });
            }
            Some("APIGroupDiscoveryList") if offers.aggregated && range.essence == "application/json" => {
                let version = range.param("v").unwrap_or("");
                if range.param("g") == Some("apidiscovery.k8s.io") && matches!(version, "v2" | "v2beta1") {
                    return Some(Format::Aggregated { version: version.to_owned() });
                }
            }
            _ => {}
        }
    }
    None
}

/// The media types a built-in resource's serializer writes, as kube-apiserver lists them
/// in its 406 and 415 errors.
pub const BUILT_IN_MEDIA_TYPES: [&str; 3] = ["application/json", "application/yaml", PROTOBUF];

/// The watch-stream media types a built-in resource's list route also produces.
pub const BUILT_IN_STREAM_TYPES: [&str; 2] = ["application/json;stream=watch", PROTOBUF_WATCH];

/// The patch media types a built-in resource's PATCH route consumes.
pub const BUILT_IN_PATCH_TYPES: [&str; 5] = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
    "application/apply-patch+cbor",
];

/// The media types kube-apiserver's route for a built-in resource declares it produces
/// (go-restful's `Produces`): a list (or watch) of a collection adds the watch-stream
/// types, `pods/log` puts `text/plain` first.
pub fn route_produces(collection_read: bool, log: bool) -> Vec<&'static str> {
    let mut out = Vec::with_capacity(6);
    if log {
        out.push("text/plain");
    }
    out.extend(BUILT_IN_MEDIA_TYPES);
    if collection_read {
        out.extend(BUILT_IN_STREAM_TYPES);
    }
    out
}

/// Whether a media-type header value (`Accept`, or `Content-Type`) names one of
/// `offered`, as the router in front of kube-apiserver's built-in resources (go-restful)
/// decides before any handler runs: each comma-separated entry, parameters dropped,
/// must equal an offered type exactly; `*/*` in the header matches anything only when
/// `star_matches` (go-restful honours it for `Accept`, not for `Content-Type`). It
/// knows no `application/*`, and compares case-sensitively.
pub fn route_matches(header: &str, offered: &[&str], star_matches: bool) -> bool {
    header.split(',').any(|entry| {
        let essence = entry.split(';').next().unwrap_or("").trim();
        (star_matches && essence == "*/*") || offered.contains(&essence)
    })
}

/// Whether `accept_encoding` allows gzip.
pub fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    accept_encoding.is_some_and(|h| {
        h.split(',').any(|e| {
            let mut parts = e.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            coding.eq_ignore_ascii_case("gzip") && !refused
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: Offers = Offers { table: true, aggregated: true, protobuf: false };
    const BUILT_IN: Offers = Offers { table: true, aggregated: false, protobuf: true };

    #[test]
    fn kubectl_get_asks_for_table() {
        let a = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(
            choose(Some(a), ALL, None),
            Some(Format::Table { version: "v1".into(), include_object: IncludeObject::Metadata })
        );
        assert_eq!(choose(Some(a), Offers::default(), None), Some(Format::Json));
        assert_eq!(
            choose(Some(a), ALL, Some("Object")),
            Some(Format::Table { version: "v1".into(), include_object: IncludeObject::Object })
        );
    }

    #[test]
    fn aggregated_discovery() {
        let a = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(choose(Some(a), ALL, None), Some(Format::Aggregated { version: "v2".into() }));
        assert_eq!(choose(Some(a), Offers::default(), None), Some(Format::Json));
        let old = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";
        assert_eq!(choose(Some(old), ALL, None), Some(Format::Aggregated { version: "v2beta1".into() }));
    }

    #[test]
    fn protobuf_and_fallbacks() {
        assert_eq!(choose(None, ALL, None), Some(Format::Json));
        assert_eq!(choose(Some("*/*"), ALL, None), Some(Format::Json));
        assert_eq!(
            choose(Some("application/vnd.kubernetes.protobuf, application/json"), ALL, None),
            Some(Format::Json)
        );
        assert_eq!(choose(Some("application/vnd.kubernetes.protobuf"), ALL, None), None);
        assert_eq!(choose(Some("text/html"), ALL, None), None);
        assert_eq!(choose(Some("application/yaml"), ALL, None), Some(Format::Yaml));
        assert_eq!(choose(Some(";;,,;=;"), ALL, None), None);
        assert_eq!(choose(Some("application/json;as=Table;v=v9;g=meta.k8s.io"), ALL, None), None);
    }

    #[test]
    fn protobuf_where_offered() {
        let typed = "application/vnd.kubernetes.protobuf, application/json";
        assert_eq!(choose(Some(typed), BUILT_IN, None), Some(Format::Protobuf));
        assert_eq!(choose(Some(PROTOBUF), BUILT_IN, None), Some(Format::Protobuf));
        assert_eq!(choose(Some(PROTOBUF_WATCH), BUILT_IN, None), Some(Format::Protobuf));
        // A custom resource: JSON when listed, else 406.
        assert_eq!(choose(Some(typed), ALL, None), Some(Format::Json));
        assert_eq!(choose(Some(PROTOBUF), ALL, None), None);
        // JSON listed first wins; a protobuf Table is skipped.
        assert_eq!(
            choose(Some("application/json, application/vnd.kubernetes.protobuf"), BUILT_IN, None),
            Some(Format::Json)
        );
        let pb_table = "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io";
        assert_eq!(choose(Some(pb_table), BUILT_IN, None), None);
        assert_eq!(choose(Some(&format!("{pb_table}, application/json")), BUILT_IN, None), Some(Format::Json));
    }

    #[test]
    fn metadata_client() {
        let a = "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
        assert_eq!(choose(Some(a), ALL, None), Some(Format::PartialMetadata { version: "v1".into(), protobuf: true }));
        let json_only = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1beta1";
        assert_eq!(
            choose(Some(json_only), ALL, None),
            Some(Format::PartialMetadata { version: "v1beta1".into(), protobuf: false })
        );
        assert_eq!(choose(Some(a), Offers::default(), None), Some(Format::Json));
    }

    #[test]
    fn route_matching_is_go_restful_s() {
        let list = route_produces(true, false);
        assert!(route_matches("*/*", &list, true));
        assert!(route_matches("text/html, application/json;as=Table;v=v9;g=meta.k8s.io", &list, true));
        assert!(route_matches("application/json;stream=watch", &list, true));
        assert!(!route_matches("text/html", &list, true));
        assert!(!route_matches("application/*", &list, true));
        assert!(!route_matches("*/*", &BUILT_IN_PATCH_TYPES, false));
        assert!(route_matches("application/merge-patch+json; charset=utf-8", &BUILT_IN_PATCH_TYPES, false));
        assert_eq!(route_produces(false, true)[0], "text/plain");
        assert_eq!(route_produces(false, false).len(), 3);
    }

    #[test]
    fn gzip() {
        assert!(accepts_gzip(Some("gzip")));
        assert!(accepts_gzip(Some("deflate, GZIP;q=0.5")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(None));
    }
}
