//! The OpenAPI documents: `/openapi/v2` and `/openapi/v3[/<path>]`.
//!
//! kubectl reads them before `apply` and `create`: with validation on it looks up the
//! `fieldValidation` query parameter on the resource's PATCH operation in the OpenAPI v3
//! document of the object's group-version (server-side validation) or falls back to
//! validating against the v2 schemas itself, and `kubectl apply` computes its strategic
//! merge patch from the schemas' `x-kubernetes-patch-merge-key` /
//! `x-kubernetes-patch-strategy` extensions. The flow is
//!
//! ```text
//! handlers (GET /openapi/...)  ->  OpenApi::serve  ->  cached bytes, or
//!   catalog (served resources) + definitions (kube's published documents)
//!     -> kube's v3 document of a built-in group-version, or
//!        paths (operations of custom resources) + kube's schemas -> generated v3 document
//!     -> v2 document (kube's paths of served group-versions + custom resources')
//!     -> protobuf (v2 for kubectl, which only reads the gnostic protobuf form)
//! ```
//!
//! The documents are kube-apiserver v1.37.2's own: `gen/gen_openapi.py` stores the specs
//! published in the `k8s.io/kubernetes` module (adjusted to a default kube-apiserver: no
//! CBOR media types, `info.version` `1.37`, enums) in `kube_openapi.json.gz`, compiled
//! into the binary and decompressed and parsed once, on the first request that needs it
//! ([`definitions`]). The v3 index lists the catalog's group-versions, the group
//! documents of the built-in groups (`apis/apps`), and `api`, `apis`, `version`,
//! `openid/v1/jwks` and `.well-known/openid-configuration`, as kube-apiserver does; it is
//! written with kube's `Content-Type` (none set, so Go's sniffing says plain text).
//! Custom resources get their CRD version's `openAPIV3Schema` (with `apiVersion`, `kind`
//! and `metadata` added, as kube-apiserver publishes them; for v2 reduced to what
//! Swagger 2.0 clients understand, see [`custom_definition_v2`]); a served resource with
//! no schema at all gets a permissive object schema, so its operations still carry the
//! group-version-kind.
//!
//! Documents are built lazily per index path and cached with a hash of their inputs
//! (the data, and the catalog rows of a group-version), which is also the `hash` in the v3 index's
//! `serverRelativeURL` and the `ETag`: a catalog that changes (CRDs) gives new hashes.
//!
//! [`field_validation`] uses the same schemas for the `fieldValidation` parameter of
//! writes: kube's "unknown field" errors (`Strict`) or warnings (`Warn`, the default).

pub mod field_validation;
pub(crate) mod go_json;
pub mod paths;
pub mod protobuf;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use serde_json::{json, Map, Value};

use crate::api::{ApiError, ResourceInfo};
use crate::catalog::Catalog;
use crate::object::errors;

/// kube-apiserver's published OpenAPI documents, gzipped (see `gen/gen_openapi.py`).
static KUBE_OPENAPI_GZ: &[u8] = include_bytes!("kube_openapi.json.gz");

/// What a request for an OpenAPI document gets, before HTTP (see [`OpenApi::answer`]).
#[derive(Debug)]
pub enum Answer {
    /// A document: its bytes and media type, its ETag value (empty: none) and whether
    /// it may be cached forever.
    Document {
        /// The document.
        bytes: Bytes,
        /// Its media type.
        content_type: &'static str,
        /// The ETag value without quotes; empty for none.
        etag: String,
        /// Asked for with its current hash: immutable.
        immutable: bool,
    },
    /// Asked for with an old hash: the document's URL now (kube answers 301).
    MovedTo(String),
    /// No such document (kube's OpenAPI v3 handler answers a bare 404).
    NotFound,
}

/// The media type of the OpenAPI v2 document in gnostic's protobuf encoding, as
/// client-go asks for it in `Accept`.
pub const V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
/// The spelling of [`V2_PROTOBUF`] that is a valid media type (`@` is not a token
/// character): accepted too, and the `Content-Type` of the answer, as kube-apiserver
/// does (client-go fails on a `Content-Type` it cannot parse).
pub const V2_PROTOBUF_CONTENT_TYPE: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// The `info` of the documents kube-apiserver builds for custom resources.
const CRD_TITLE: &str = "Kubernetes CRD Swagger";
const CRD_INFO_VERSION: &str = "v0.1.0";

/// kube's descriptions of the `apiVersion`, `kind` and `metadata` of a custom resource.
pub(crate) const API_VERSION_DESCRIPTION: &str = "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
pub(crate) const KIND_DESCRIPTION: &str = "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";
const METADATA_DESCRIPTION: &str = "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

/// The v3 documents that are not a group-version's, listed in the index when the data
/// has them (the group documents `apis/<group>` are listed with their group).
const STATIC_V3: [&str; 5] = ["api", "apis", "version", "openid/v1/jwks", ".well-known/openid-configuration"];

/// kube-apiserver's schemas and documents, indexed.
#[derive(Debug)]
pub struct Definitions {
    /// Schemas by definition name, in Swagger 2.0 form (`#/definitions/...` refs): the
    /// v2 document's `definitions`.
    pub schemas: Map<String, Value>,
    /// Definition name by (group, version, kind), from `x-kubernetes-group-version-kind`.
    pub by_gvk: HashMap<(String, String, String), String>,
    /// The v3 part of the data, parsed on first use (field validation and Tables need
    /// only the v2 definitions): the raw JSON until then.
    v3_raw: Mutex<Option<RawV3>>,
    v3: OnceLock<Option<V3Data>>,
    /// The published v2 document without its `definitions`.
    v2_base: Value,
}

/// The v3 part of the data as stored: the schema union and the documents.
#[derive(Debug)]
struct RawV3 {
    schemas: Box<serde_json::value::RawValue>,
    v3: Box<serde_json::value::RawValue>,
}

/// The v3 part of the data, parsed.
#[derive(Debug)]
struct V3Data {
    /// The OpenAPI 3 schemas of every published v3 document, by name.
    schemas: Map<String, Value>,
    /// The published v3 documents by index path: `doc` (without its schemas), `schemas`
    /// (names in `schemas`) and `own` (schemas of its own).
    docs: Map<String, Value>,
}

/// The stored data, with the v3 part left unparsed.
#[derive(serde::Deserialize)]
struct Stored {
    v2: Value,
    schemas: Box<serde_json::value::RawValue>,
    v3: Box<serde_json::value::RawValue>,
}

impl Definitions {
    /// The definition name of a kind, if kube publishes a schema for it.
    pub fn name_of(&self, group: &str, version: &str, kind: &str) -> Option<&str> {
        self.by_gvk.get(&(group.to_owned(), version.to_owned(), kind.to_owned())).map(String::as_str)
    }

    /// The (Swagger 2.0) schema of a definition.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.schemas.get(name)
    }

    /// Whether kube publishes a v3 document at this index path (`apis/apps/v1`).
    fn has_v3(&self, key: &str) -> bool {
        self.v3_data().is_some_and(|d| d.docs.contains_key(key))
    }

    /// The v3 part, parsed on first use (`None` if it is not valid JSON).
    fn v3_data(&self) -> Option<&V3Data> {
        self.v3
            .get_or_init(|| {
                let raw = self.v3_raw.lock().ok()?.take()?;
                let parsed = serde_json::from_str(raw.schemas.get())
                    .and_then(|schemas| Ok(V3Data { schemas, docs: serde_json::from_str(raw.v3.get())? }));
                match parsed {
                    Ok(d) => Some(d),
                    Err(e) => {
                        tracing::error!("openapi: the compiled-in v3 documents are unreadable: {e}");
                        None
                    }
                }
            })
            .as_ref()
    }

    /// A published v3 schema by name.
    fn v3_schema(&self, name: &str) -> Option<&Value> {
        self.v3_data().and_then(|d| d.schemas.get(name))
    }

    /// The published v3 document at an index path, rebuilt from the stored parts.
    fn published_v3(&self, key: &str) -> Option<Value> {
        let entry = self.v3_data()?.docs.get(key)?;
        let mut doc = entry.get("doc")?.clone();
        let mut schemas = Map::new();
        for name in entry.get("schemas").and_then(Value::as_array).into_iter().flatten() {
            if let Some(schema) = name.as_str().and_then(|n| self.v3_schema(n)) {
                schemas.insert(name.as_str().unwrap_or_default().to_owned(), schema.clone());
            }
        }
        for (name, schema) in entry.get("own").and_then(Value::as_object).into_iter().flatten() {
            schemas.insert(name.clone(), schema.clone());
        }
        if !schemas.is_empty() {
            if let Some(obj) = doc.as_object_mut() {
                let components = obj.entry("components").or_insert_with(|| json!({}));
                if let Some(c) = components.as_object_mut() {
                    c.insert("schemas".into(), Value::Object(schemas));
                }
            }
        }
        Some(doc)
    }

    fn parse(gz: &[u8]) -> Result<Definitions, String> {
        use std::io::Read;
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(gz).read_to_end(&mut text).map_err(|e| e.to_string())?;
        let Stored { v2: mut v2_base, schemas: v3_schemas, v3 } =
            serde_json::from_slice(&text).map_err(|e| e.to_string())?;
        let schemas = match v2_base.as_object_mut().and_then(|o| o.remove("definitions")) {
            Some(Value::Object(m)) => m,
            _ => return Err("the v2 document has no definitions".into()),
        };
        let mut by_gvk = HashMap::new();
        for (name, schema) in &schemas {
            for gvk in gvks(schema) {
                by_gvk.entry(gvk).or_insert_with(|| name.clone());
            }
        }
        Ok(Definitions {
            schemas,
            by_gvk,
            v3_raw: Mutex::new(Some(RawV3 { schemas: v3_schemas, v3 })),
            v3: OnceLock::new(),
            v2_base,
        })
    }
}

/// kube's schemas and documents, decompressed and parsed on first use. `None` only if
/// the compiled-in data is broken (a broken generator run), in which case every OpenAPI
/// request is 500.
pub fn definitions() -> Option<&'static Definitions> {
    static DEFS: OnceLock<Option<Definitions>> = OnceLock::new();
    DEFS.get_or_init(|| match Definitions::parse(KUBE_OPENAPI_GZ) {
        Ok(d) => Some(d),
        Err(e) => {
            tracing::error!("openapi: the compiled-in OpenAPI data is unreadable: {e}");
            None
        }
    })
    .as_ref()
}

/// A hash of the compiled-in data, computed once.
fn data_hash() -> u64 {
    static HASH: OnceLock<u64> = OnceLock::new();
    *HASH.get_or_init(|| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        KUBE_OPENAPI_GZ.hash(&mut h);
        h.finish()
    })
}

/// The (group, version, kind)s listed in a schema's `x-kubernetes-group-version-kind`.
fn gvks(schema: &Value) -> Vec<(String, String, String)> {
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    schema
        .get("x-kubernetes-group-version-kind")
        .and_then(Value::as_array)
        .map(|list| list.iter().map(|g| (s(g, "group"), s(g, "version"), s(g, "kind"))).collect())
        .unwrap_or_default()
}

/// The definition name used for a kind without a generated schema: kube's convention of
/// the reversed group, the version and the kind (`com.example.v1.Widget`).
pub fn synthetic_name(group: &str, version: &str, kind: &str) -> String {
    let mut parts: Vec<&str> = group.split('.').filter(|p| !p.is_empty()).collect();
    parts.reverse();
    if parts.is_empty() {
        parts.push("io.k8s.api.core");
    }
    format!("{}.{version}.{kind}", parts.join("."))
}

/// The definition of a custom resource kind from its CRD's `openAPIV3Schema`:
/// `apiVersion`, `kind` and `metadata` (a reference to `ObjectMeta`) are added and the
/// group-version-kind extension is set, as kube-apiserver does for CRDs.
pub fn custom_definition(schema: &Value, group: &str, version: &str, kind: &str) -> Value {
    let mut def = match schema {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    def.entry("type").or_insert_with(|| json!("object"));
    let mut props = match def.remove("properties") {
        Some(Value::Object(p)) => p,
        _ => Map::new(),
    };
    props.insert("apiVersion".into(), json!({"description": API_VERSION_DESCRIPTION, "type": "string"}));
    props.insert("kind".into(), json!({"description": KIND_DESCRIPTION, "type": "string"}));
    props.insert(
        "metadata".into(),
        json!({"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "description": METADATA_DESCRIPTION}),
    );
    def.insert("properties".into(), Value::Object(props));
    def.insert("x-kubernetes-group-version-kind".into(), json!([{"group": group, "kind": kind, "version": version}]));
    Value::Object(def)
}

/// A custom resource definition reduced for Swagger 2.0 clients (kubectl's client-side
/// validation): keywords Swagger 2.0 lacks (`nullable`, `anyOf`, `oneOf`, `not`) are
/// dropped, int-or-string fields lose their `type`, and nodes that keep unknown fields
/// lose their `properties`, so that old clients do not reject fields the server keeps.
pub fn custom_definition_v2(def: &Value) -> Value {
    match def {
        Value::Object(m) => {
            let flag = |k: &str| m.get(k) == Some(&Value::Bool(true));
            let preserve = flag("x-kubernetes-preserve-unknown-fields");
            let int_or_string = flag("x-kubernetes-int-or-string");
            let mut out = Map::new();
            for (k, v) in m {
                let drop = matches!(k.as_str(), "nullable" | "anyOf" | "oneOf" | "not")
                    || (preserve && matches!(k.as_str(), "properties" | "additionalProperties"))
                    || (int_or_string && k == "type");
                if drop {
                    continue;
                }
                let value = match (k.as_str(), v) {
                    ("properties", Value::Object(props)) => {
                        Value::Object(props.iter().map(|(n, s)| (n.clone(), custom_definition_v2(s))).collect())
                    }
                    _ => custom_definition_v2(v),
                };
                out.insert(k.clone(), value);
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(custom_definition_v2).collect()),
        other => other.clone(),
    }
}

/// The CRD schema of a served custom resource, if the catalog has one for it.
pub(crate) fn custom_schema<'a>(catalog: &'a Catalog, r: &ResourceInfo) -> Option<&'a Value> {
    catalog.custom(&r.group, &r.version, &r.plural).and_then(|c| c.openapi_schema.as_ref())
}

/// The permissive schema of a kind without a generated schema.
fn synthetic_schema(group: &str, version: &str, kind: &str) -> Value {
    json!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
        "x-kubernetes-group-version-kind": [{"group": group, "kind": kind, "version": version}],
    })
}

/// One serialized document with its hash.
#[derive(Clone, Debug)]
struct Cached {
    hash: String,
    bytes: Bytes,
}

/// Serves and caches the OpenAPI documents of one server.
#[derive(Debug, Default)]
pub struct OpenApi {
    /// v3 documents by group-version path (`api/v1`, `apis/apps/v1`).
    v3: Mutex<HashMap<String, Cached>>,
    /// The v2 document as JSON and as protobuf.
    v2: Mutex<Option<(Cached, Bytes)>>,
}

/// Whether a request path is one [`OpenApi::serve`] answers.
pub fn is_openapi_path(path: &str) -> bool {
    path == "/openapi/v2" || path == "/openapi/v3" || path.starts_with("/openapi/v3/")
}

/// A group-version of the catalog: its v3 path key and its resources.
struct GroupVersion<'a> {
    group: String,
    key: String,
    resources: Vec<&'a Arc<ResourceInfo>>,
    /// Whether every resource is a built-in one (no CRD): then kube's published document
    /// is the answer, when there is one.
    builtin: bool,
}

fn group_versions(catalog: &Catalog) -> Vec<GroupVersion<'_>> {
    let mut out = Vec::new();
    for g in catalog.groups() {
        for v in &g.versions {
            let key = if g.group.is_empty() { format!("api/{v}") } else { format!("apis/{}/{v}", g.group) };
            let resources: Vec<_> = catalog.resources_in(&g.group, v).collect();
            let builtin = resources.iter().all(|r| catalog.custom(&r.group, &r.version, &r.plural).is_none());
            out.push(GroupVersion { group: g.group.clone(), key, resources, builtin });
        }
    }
    out
}

/// The index paths besides the group-versions': the group documents of groups with a
/// built-in group-version, and the documents of `/api`, `/apis`, `/version` and the
/// service-account issuer's OIDC discovery, as kube-apiserver lists them.
fn other_documents(defs: &Definitions, gvs: &[GroupVersion<'_>]) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = STATIC_V3.iter().filter(|k| defs.has_v3(k)).map(|k| (*k).to_owned()).collect();
    for gv in gvs.iter().filter(|gv| gv.builtin && !gv.group.is_empty()) {
        let key = format!("apis/{}", gv.group);
        if defs.has_v3(&key) {
            out.insert(key);
        }
    }
    out
}

/// The hash of a published document that is not a group-version's.
fn static_hash(key: &str) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    data_hash().hash(&mut h);
    key.hash(&mut h);
    format!("{:016X}", h.finish())
}

/// The hash of a document's inputs: the compiled-in data, the catalog rows it covers and
/// their CRD schemas.
fn inputs_hash<'a>(catalog: &Catalog, resources: impl IntoIterator<Item = &'a Arc<ResourceInfo>>) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    data_hash().hash(&mut h);
    env!("CARGO_PKG_VERSION").hash(&mut h);
    for r in resources {
        (&r.group, &r.version, &r.plural, &r.kind, r.namespaced).hash(&mut h);
        (&r.verbs, r.has_status, r.has_scale).hash(&mut h);
        if let Some(s) = custom_schema(catalog, r) {
            s.to_string().hash(&mut h);
        }
    }
    format!("{:016X}", h.finish())
}

impl OpenApi {
    /// What `GET /openapi/v2`, `/openapi/v3` or `/openapi/v3/<path>` answers (`query`
    /// is the request's, for `hash`): the v2 document in protobuf when
    /// `wants_v2_protobuf`, else JSON. A v3 document asked for with its current `hash`
    /// is immutable (cacheable forever); with another hash the answer is where it is now,
    /// as kube-apiserver redirects. `handlers::openapi` turns the answer into HTTP.
    pub fn answer(
        &self,
        catalog: &Catalog,
        path: &str,
        query: Option<&str>,
        wants_v2_protobuf: bool,
    ) -> Result<Answer, ApiError> {
        let defs = definitions().ok_or_else(|| errors::internal("OpenAPI schemas unavailable"))?;
        if path == "/openapi/v2" {
            let (doc, pb) = self.v2(catalog, defs)?;
            return Ok(if wants_v2_protobuf {
                // A representation of its own, so an ETag of its own.
                Answer::Document {
                    bytes: pb,
                    content_type: V2_PROTOBUF_CONTENT_TYPE,
                    etag: format!("{}-pb", doc.hash),
                    immutable: false,
                }
            } else {
                Answer::Document {
                    bytes: doc.bytes,
                    content_type: "application/json",
                    etag: doc.hash,
                    immutable: false,
                }
            });
        }
        let rest = path.strip_prefix("/openapi/v3").unwrap_or("").trim_matches('/');
        let gvs = group_versions(catalog);
        let others = other_documents(defs, &gvs);
        if rest.is_empty() {
            // Forget documents no longer served (deleted CRDs).
            if let Ok(mut cache) = self.v3.lock() {
                cache.retain(|key, _| gvs.iter().any(|gv| &gv.key == key) || others.contains(key));
            }
            let mut paths = Map::new();
            for gv in &gvs {
                let hash = inputs_hash(catalog, gv.resources.iter().copied());
                paths.insert(
                    gv.key.clone(),
                    json!({"serverRelativeURL": format!("/openapi/v3/{}?hash={hash}", gv.key)}),
                );
            }
            for key in &others {
                let hash = static_hash(key);
                paths.insert(key.clone(), json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={hash}")}));
            }
            let bytes = serde_json::to_vec(&json!({ "paths": paths })).map_err(|e| errors::internal(&e.to_string()))?;
            // kube writes the index without a Content-Type, so Go's content sniffing
            // names it plain text; it has no ETag.
            return Ok(Answer::Document {
                bytes: Bytes::from(bytes),
                content_type: "text/plain; charset=utf-8",
                etag: String::new(),
                immutable: false,
            });
        }
        let doc = if let Some(gv) = gvs.iter().find(|gv| gv.key == rest) {
            self.v3(catalog, gv, defs)?
        } else if others.contains(rest) {
            self.v3_static(rest, defs)?
        } else {
            return Ok(Answer::NotFound);
        };
        let asked = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .find(|(k, _)| k == "hash")
            .map(|(_, v)| v.into_owned());
        Ok(match asked {
            Some(h) if h != doc.hash => Answer::MovedTo(format!("/openapi/v3/{rest}?hash={}", doc.hash)),
            asked => Answer::Document {
                bytes: doc.bytes,
                content_type: "application/json",
                etag: doc.hash,
                immutable: asked.is_some(),
            },
        })
    }

    fn cache_or(&self, key: &str, hash: String, build: impl FnOnce() -> Value) -> Result<Cached, ApiError> {
        if let Ok(cache) = self.v3.lock() {
            if let Some(c) = cache.get(key).filter(|c| c.hash == hash) {
                return Ok(c.clone());
            }
        }
        let bytes = Bytes::from(serde_json::to_vec(&build()).map_err(|e| errors::internal(&e.to_string()))?);
        let cached = Cached { hash, bytes };
        if let Ok(mut cache) = self.v3.lock() {
            cache.insert(key.to_owned(), cached.clone());
        }
        Ok(cached)
    }

    fn v3(&self, catalog: &Catalog, gv: &GroupVersion<'_>, defs: &Definitions) -> Result<Cached, ApiError> {
        let hash = inputs_hash(catalog, gv.resources.iter().copied());
        self.cache_or(&gv.key, hash, || {
            let published = if gv.builtin { defs.published_v3(&gv.key) } else { None };
            published.unwrap_or_else(|| v3_document(catalog, &gv.resources, defs))
        })
    }

    fn v3_static(&self, key: &str, defs: &Definitions) -> Result<Cached, ApiError> {
        self.cache_or(key, static_hash(key), || defs.published_v3(key).unwrap_or(Value::Null))
    }

    fn v2(&self, catalog: &Catalog, defs: &Definitions) -> Result<(Cached, Bytes), ApiError> {
        let hash = inputs_hash(catalog, catalog.resources());
        if let Ok(cache) = self.v2.lock() {
            if let Some(c) = cache.as_ref().filter(|c| c.0.hash == hash) {
                return Ok(c.clone());
            }
        }
        let doc = v2_document(catalog, defs);
        let json = Bytes::from(serde_json::to_vec(&doc).map_err(|e| errors::internal(&e.to_string()))?);
        let pb = Bytes::from(protobuf::encode_document(&doc));
        let entry = (Cached { hash, bytes: json }, pb);
        if let Ok(mut cache) = self.v2.lock() {
            *cache = Some(entry.clone());
        }
        Ok(entry)
    }
}

/// The definition name of a resource's kind, and its schema when it is not a generated
/// one: from the CRD's `custom` schema, or permissive.
fn kind_schema(
    defs: &Definitions,
    group: &str,
    version: &str,
    kind: &str,
    custom: Option<&Value>,
) -> (String, Option<Value>) {
    if let Some(schema) = custom {
        return (synthetic_name(group, version, kind), Some(custom_definition(schema, group, version, kind)));
    }
    match defs.name_of(group, version, kind) {
        Some(name) => (name.to_owned(), None),
        None => (synthetic_name(group, version, kind), Some(synthetic_schema(group, version, kind))),
    }
}

/// The OpenAPI 3 schemas reachable from `roots` through `$ref`s: kube's published ones,
/// and the (Swagger 2.0 form) schemas of `extra` (custom and synthetic kinds) rewritten.
fn closure(
    defs: &Definitions,
    roots: impl IntoIterator<Item = String>,
    extra: &BTreeMap<String, Value>,
) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let mut stack: Vec<String> = roots.into_iter().collect();
    let mut seen = BTreeSet::new();
    while let Some(name) = stack.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let schema = match extra.get(&name) {
            Some(v2) => to_v3_schema(v2),
            None => match defs.v3_schema(&name) {
                Some(v3) => {
                    // As kube's CRD documents: the group-version-kinds of the shared
                    // kinds (`DeleteOptions`, `WatchEvent`) are the full list of the v2
                    // definitions, not one document's.
                    let mut v3 = v3.clone();
                    let gvk = defs.get(&name).and_then(|d| d.get("x-kubernetes-group-version-kind"));
                    if let (Some(gvk), Some(obj)) = (gvk, v3.as_object_mut()) {
                        obj.insert("x-kubernetes-group-version-kind".into(), gvk.clone());
                    }
                    v3
                }
                None => continue,
            },
        };
        collect_refs(&schema, &mut stack);
        out.insert(name, schema);
    }
    out
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                if k == "$ref" {
                    let s = v.as_str().unwrap_or_default();
                    if let Some(name) =
                        s.strip_prefix("#/definitions/").or_else(|| s.strip_prefix("#/components/schemas/"))
                    {
                        out.push(name.to_owned());
                    }
                } else {
                    collect_refs(v, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// The names a Swagger 2.0 value refers to with `$ref`s starting with `prefix`
/// (`#/definitions/`, `#/parameters/`).
fn collect_v2_refs(v: &Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v.as_str().and_then(|s| s.strip_prefix(prefix))) {
                    ("$ref", Some(name)) => out.push(name.to_owned()),
                    _ => collect_v2_refs(v, prefix, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_v2_refs(v, prefix, out)),
        _ => {}
    }
}

/// Rewrite a Swagger 2.0 schema for OpenAPI 3: `#/definitions/` refs become
/// `#/components/schemas/` refs, wrapped in `allOf` when the ref has siblings (as kube
/// publishes them: a `$ref` may not carry a description in OpenAPI 3.0).
pub fn to_v3_schema(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            let mut reference = None;
            for (k, v) in m {
                if k == "$ref" {
                    if let Some(s) = v.as_str() {
                        let name = s.strip_prefix("#/definitions/").unwrap_or(s);
                        reference = Some(format!("#/components/schemas/{name}"));
                    }
                } else {
                    out.insert(k.clone(), to_v3_schema(v));
                }
            }
            match reference {
                Some(r) if out.is_empty() => json!({ "$ref": r }),
                Some(r) => {
                    out.insert("allOf".into(), json!([{ "$ref": r }]));
                    Value::Object(out)
                }
                None => Value::Object(out),
            }
        }
        Value::Array(a) => Value::Array(a.iter().map(to_v3_schema).collect()),
        other => other.clone(),
    }
}

/// The OpenAPI 3.0 document of a group-version kube does not publish (custom
/// resources): operations generated from the catalog, kube's schemas for what they
/// reference, and the `info` kube-apiserver gives CRD documents.
fn v3_document(catalog: &Catalog, resources: &[&Arc<ResourceInfo>], defs: &Definitions) -> Value {
    let mut extra = BTreeMap::new();
    let mut ops = Vec::new();
    for r in resources {
        ops.extend(paths::operations(r, defs, custom_schema(catalog, r), &mut extra));
    }
    let roots = paths::referenced_definitions(&ops);
    let schemas: Map<String, Value> = closure(defs, roots, &extra).into_iter().collect();
    json!({
        "openapi": "3.0.0",
        "info": {"title": CRD_TITLE, "version": CRD_INFO_VERSION},
        "paths": paths::render_v3(&ops),
        "components": {"schemas": schemas},
    })
}

/// Whether a path of kube's v2 document belongs to what the catalog serves: the paths
/// of served built-in group-versions and of their groups, and the paths outside
/// `/api` and `/apis` (`/version/`, the OIDC discovery) except `/logs/`, which a default
/// kube-apiserver does not serve.
fn v2_path_served(path: &str, gvs: &[GroupVersion<'_>]) -> bool {
    let served = |group: &str, version: Option<&str>| {
        gvs.iter()
            .any(|gv| gv.builtin && gv.group == group && version.is_none_or(|v| gv.key.ends_with(&format!("/{v}"))))
    };
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["api"] | ["apis"] => true,
        ["api", version, ..] => served("", Some(version)),
        ["apis", group] => served(group, None),
        ["apis", group, version, ..] => served(group, Some(version)),
        ["logs", ..] => false,
        _ => true,
    }
}

/// The Swagger 2.0 document: kube's paths of the served built-in group-versions, the
/// generated operations of custom resources, and the parameters and definitions they
/// use (kube's, and the custom resources').
fn v2_document(catalog: &Catalog, defs: &Definitions) -> Value {
    let gvs = group_versions(catalog);
    let mut extra = BTreeMap::new();
    let mut ops = Vec::new();
    for gv in gvs.iter().filter(|gv| !gv.builtin) {
        for r in &gv.resources {
            ops.extend(paths::operations(r, defs, custom_schema(catalog, r), &mut extra));
        }
    }
    let mut doc = defs.v2_base.clone();
    let mut paths: Map<String, Value> = doc
        .get("paths")
        .and_then(Value::as_object)
        .map(|m| m.iter().filter(|(p, _)| v2_path_served(p, &gvs)).map(|(p, v)| (p.clone(), v.clone())).collect())
        .unwrap_or_default();
    if let Value::Object(generated) = paths::render_v2(&ops) {
        paths.extend(generated);
    }
    // As kube-apiserver: only the parameters the paths use, and the definitions the
    // paths and those parameters use (the PATCH body's `Patch` is only in a parameter).
    let paths = Value::Object(paths);
    let mut used = Vec::new();
    collect_v2_refs(&paths, "#/parameters/", &mut used);
    let parameters: Map<String, Value> = doc
        .get("parameters")
        .and_then(Value::as_object)
        .map(|m| m.iter().filter(|(k, _)| used.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let extra: BTreeMap<String, Value> = extra.into_iter().map(|(k, v)| (k, custom_definition_v2(&v))).collect();
    let mut stack = Vec::new();
    collect_v2_refs(&paths, "#/definitions/", &mut stack);
    collect_v2_refs(&Value::Object(parameters.clone()), "#/definitions/", &mut stack);
    let mut definitions = Map::new();
    while let Some(name) = stack.pop() {
        if definitions.contains_key(&name) {
            continue;
        }
        let Some(schema) = defs.schemas.get(&name).or_else(|| extra.get(&name)) else {
            continue;
        };
        collect_v2_refs(schema, "#/definitions/", &mut stack);
        definitions.insert(name, schema.clone());
    }
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("paths".into(), paths);
        obj.insert("parameters".into(), Value::Object(parameters));
        obj.insert("definitions".into(), Value::Object(definitions));
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_parse_and_index_kinds() {
        let defs = definitions().expect("generated definitions parse");
        assert_eq!(defs.name_of("apps", "v1", "Deployment"), Some("io.k8s.api.apps.v1.Deployment"));
        assert_eq!(defs.name_of("", "v1", "Pod"), Some("io.k8s.api.core.v1.Pod"));
        assert!(defs.name_of("apps", "v1", "DeploymentList").is_some());
        let containers = &defs.get("io.k8s.api.core.v1.PodSpec").unwrap()["properties"]["containers"];
        assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
        assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
        let volumes = &defs.get("io.k8s.api.core.v1.PodSpec").unwrap()["properties"]["volumes"];
        assert_eq!(volumes["x-kubernetes-patch-strategy"], "merge,retainKeys");
    }

    #[test]
    fn v3_refs_are_rewritten() {
        let v = to_v3_schema(&json!({
            "properties": {
                "a": {"$ref": "#/definitions/X", "description": "d"},
                "b": {"items": {"$ref": "#/definitions/Y"}, "type": "array"},
            }
        }));
        assert_eq!(v["properties"]["a"]["allOf"][0]["$ref"], "#/components/schemas/X");
        assert_eq!(v["properties"]["a"]["description"], "d");
        assert_eq!(v["properties"]["b"]["items"]["$ref"], "#/components/schemas/Y");
    }

    #[test]
    fn custom_definitions_get_meta_fields_and_a_v2_form() {
        let schema = json!({
            "type": "object",
            "properties": {
                "spec": {"type": "object", "nullable": true, "properties": {
                    "size": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                             "properties": {"a": {"type": "string"}}},
                }},
            },
        });
        let def = custom_definition(&schema, "example.com", "v1", "Widget");
        assert_eq!(def["x-kubernetes-group-version-kind"][0]["kind"], "Widget");
        assert_eq!(
            def["properties"]["metadata"]["$ref"],
            "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
        );
        assert_eq!(def["properties"]["kind"]["type"], "string");
        let v2 = custom_definition_v2(&def);
        let spec = &v2["properties"]["spec"];
        assert!(spec.get("nullable").is_none());
        assert!(spec["properties"]["size"].get("anyOf").is_none());
        assert!(spec["properties"]["free"].get("properties").is_none());
        assert_eq!(spec["properties"]["free"]["type"], "object");
    }

    #[test]
    fn synthetic_names_reverse_the_group() {
        assert_eq!(synthetic_name("example.com", "v1", "Widget"), "com.example.v1.Widget");
    }

    #[test]
    fn documents_have_operations_and_schemas() {
        let catalog = Catalog::builtin();
        let api = OpenApi::default();
        let answer = api.answer(&catalog, "/openapi/v3/apis/apps/v1", None, false).unwrap();
        assert!(matches!(answer, Answer::Document { content_type: "application/json", immutable: false, .. }));
        let defs = definitions().unwrap();
        let apps: Vec<_> = catalog.resources_in("apps", "v1").collect();
        let doc = v3_document(&catalog, &apps, defs);
        let patch = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Deployment");
        let names: Vec<&str> =
            patch["parameters"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
        for n in ["dryRun", "fieldManager", "fieldValidation", "force"] {
            assert!(names.contains(&n), "{n} missing from {names:?}");
        }
        assert!(doc["components"]["schemas"]["io.k8s.api.core.v1.Container"].is_object());
        let v2 = v2_document(&catalog, defs);
        assert!(v2["definitions"]["io.k8s.api.core.v1.Pod"].is_object());
        assert!(v2["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"].is_object());
    }

    #[test]
    fn published_documents_are_served_for_builtin_group_versions() {
        let catalog = Catalog::builtin();
        let defs = definitions().unwrap();
        let doc = defs.published_v3("apis/apps/v1").expect("kube publishes apps/v1");
        assert_eq!(doc["info"]["version"], "1.37");
        let patch = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        let types: Vec<&String> = patch["requestBody"]["content"].as_object().unwrap().keys().collect();
        assert!(!types.iter().any(|t| t.contains("cbor")), "no CBOR in {types:?}");
        let strategy = &doc["components"]["schemas"]["io.k8s.api.apps.v1.DeploymentStrategy"]["properties"]["type"];
        assert_eq!(strategy["enum"], json!(["Recreate", "RollingUpdate"]));
        let v2 = v2_document(&catalog, defs);
        assert!(v2["paths"].get("/logs/").is_none());
        assert!(v2["paths"]["/apis/apps/"].is_object());
        assert!(v2["paths"].get("/apis/coordination.k8s.io/v1beta1/leases").is_none(), "beta not served");
        assert!(v2["definitions"].get("io.k8s.api.coordination.v1beta1.Lease").is_none());
        // Referenced through the shared PATCH body parameter only.
        assert!(v2["definitions"]["io.k8s.apimachinery.pkg.apis.meta.v1.Patch"].is_object());
        let used: Vec<&String> = v2["parameters"].as_object().unwrap().keys().collect();
        assert!(!used.is_empty() && !used.iter().any(|k| k.starts_with("logpath")), "{used:?}");
    }
}
