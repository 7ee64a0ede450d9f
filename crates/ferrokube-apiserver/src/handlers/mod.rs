//! The HTTP front end: from an authenticated TLS connection's request to a response.
//!
//! [`Handler::handle`] is the whole pipeline for one request:
//! 1. [`router`] parses the path (discovery, health, `/version`, or a resource path),
//! 2. [`crate::auth`] authenticates (client certificate from the TLS session, or bearer
//!    token); anonymous callers only get `/version` and health (401 otherwise); then
//!    impersonation headers are applied and the request is authorized
//!    ([`crate::auth::rbac`], 403 in kube's words),
//! 3. [`negotiate`] picks the representation from `Accept` (JSON, YAML, protobuf for
//!    built-in types, Table, metadata-only, aggregated discovery; 406 if none fits),
//! 4. [`body`] reads the request body (3 MiB limit, gzip, YAML and protobuf (`ferrokube_apimachinery::protobuf`) → JSON),
//! 5. an [`ApiRequest`] goes to the registry, whose [`ApiResponse`] is rendered as JSON,
//!    YAML, protobuf (`ferrokube_apimachinery::protobuf::encode`) or a [`table`],
//!    gzip-compressed when large, or streamed by [`watch_stream`]; errors become
//!    `Status` objects ([`status`]), in protobuf when a built-in resource's request
//!    negotiated it.
//!
//! Discovery documents come from the [`crate::catalog`] ([`discovery`],
//! [`aggregated_discovery`]). `pods/<name>/log` is answered by `logs` (the simulated
//! containers' logs of `crate::podlogs`).

pub mod aggregated_discovery;
pub mod body;
pub mod discovery;
pub mod health;
mod logs;
pub mod metrics;
pub mod negotiate;
pub mod openapi;
pub mod router;
pub mod status;
pub mod table;
pub mod watch_stream;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::Write;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use serde_json::Value;

use crate::api::{ApiError, ApiRequest, ApiResponse, ServedResponse, SharedList, UserInfo, Verb};
use crate::auth::Authenticator;
use crate::catalog::SharedCatalog;
use crate::registry::Registry;
use negotiate::{Format, Offers};
use router::{ResourcePath, Route};

/// The body type of every response.
pub type ResponseBody = UnsyncBoxBody<Bytes, Infallible>;

/// A complete body.
pub fn full(bytes: impl Into<Bytes>) -> ResponseBody {
    Full::new(bytes.into()).boxed_unsync()
}

/// Responses larger than this are gzip-compressed for clients that accept it.
pub const GZIP_THRESHOLD: usize = 128 * 1024;

/// What the TLS layer learned about the connection a request arrived on.
#[derive(Clone, Debug, Default)]
pub struct ConnectionInfo {
    /// The client's end-entity certificate (DER), already verified against the client CAs.
    pub client_cert: Option<Vec<u8>>,
}

/// Serves requests: routing, authentication, negotiation, rendering.
pub struct Handler {
    catalog: Arc<SharedCatalog>,
    registry: Arc<Registry>,
    auth: Arc<Authenticator>,
    authz: Arc<crate::auth::rbac::Authorizer>,
    server_address: String,
    shutdown: tokio::sync::watch::Receiver<bool>,
    openapi: crate::openapi::OpenApi,
    metrics: Arc<metrics::RequestMetrics>,
    pod_log_interval: std::time::Duration,
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handler").field("server_address", &self.server_address).finish_non_exhaustive()
    }
}

impl Handler {
    /// A handler serving `catalog` (shared with the registry, which changes it as
    /// CRDs come and go; see [`Registry::catalog`]) from `registry`. `server_address` (`host:port`) is
    /// advertised in `/api`; `shutdown` turning `true` ends open watches.
    pub fn new(
        catalog: Arc<SharedCatalog>,
        registry: Arc<Registry>,
        auth: Arc<Authenticator>,
        server_address: String,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Handler {
        let authz = Arc::new(crate::auth::rbac::Authorizer::always_allow());
        Handler {
            catalog,
            registry,
            auth,
            authz,
            server_address,
            shutdown,
            openapi: crate::openapi::OpenApi::default(),
            metrics: Arc::default(),
            pod_log_interval: crate::controllers::ControllerOptions::default().pod_log_interval,
        }
    }

    /// The same handler with simulated containers writing a log line every `interval`
    /// ([`crate::podlogs`]).
    pub fn with_pod_log_interval(mut self, interval: std::time::Duration) -> Handler {
        self.pod_log_interval = interval;
        self
    }

    /// The same handler authorizing with `authz` (the default allows everything).
    pub fn with_authorizer(mut self, authz: Arc<crate::auth::rbac::Authorizer>) -> Handler {
        self.authz = authz;
        self
    }

    /// Answer one request. Never panics; every failure is a `Status` response.
    pub async fn handle<B>(&self, req: Request<B>, conn: &ConnectionInfo) -> Response<ResponseBody>
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let started = std::time::Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let labels = metrics::RequestLabels::of(&method, &path, req.uri().query())
            .with_apply(header_str(&req, header::CONTENT_TYPE));
        let gzip_ok = negotiate::accepts_gzip(header_str(&req, header::ACCEPT_ENCODING));
        let resp = match self.dispatch(req, conn).await {
            Ok(resp) => resp,
            Err(err) => status::error_response(&err),
        };
        self.metrics.record(labels, resp.status().as_u16(), started.elapsed());
        tracing::debug!(%method, %path, code = resp.status().as_u16(), "request");
        if gzip_ok {
            compress(resp).await
        } else {
            resp
        }
    }

    async fn dispatch<B>(&self, req: Request<B>, conn: &ConnectionInfo) -> Result<Response<ResponseBody>, ApiError>
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let catalog = self.catalog.snapshot();
        let route = router::route(&catalog, req.uri().path());
        // A request without credentials is `system:anonymous` (unless anonymous
        // authentication is off), authorized like any other; one that presents a
        // credential which fails is refused, even on public paths, as kube-apiserver does.
        let user = self
            .auth
            .authenticate(conn.client_cert.as_deref(), req.headers().get(header::AUTHORIZATION))
            .map_err(|_| status::unauthorized())?;
        let user = crate::auth::rbac::admit::admit(&self.authz, user, req.method(), req.uri(), req.headers())?;
        if crate::openapi::is_openapi_path(req.uri().path())
            && (req.method() == Method::GET || req.method() == Method::HEAD)
        {
            return openapi::serve(&self.openapi, &catalog, req.uri(), req.headers());
        }
        let route = route?;
        let accept = header_str(&req, header::ACCEPT).map(str::to_owned);
        let query = parse_query(req.uri().query());
        if let Route::Resource(path) = route {
            // Errors of a built-in resource's request are `Status` objects in protobuf
            // when the request negotiated protobuf, as kube-apiserver encodes them.
            let protobuf_errors = !self.is_custom(&path.resource)
                && negotiate::choose(accept.as_deref(), Offers { protobuf: true, ..Offers::default() }, None)
                    == Some(Format::Protobuf);
            return match self.resource(req, path, query, accept.as_deref(), user).await {
                Err(err) if protobuf_errors => Ok(status::error_response_as(&err, true)),
                other => other,
            };
        }
        if route == Route::NotFoundPage {
            return Ok(text_response(StatusCode::NOT_FOUND, "404 page not found\n"));
        }
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return Err(status::method_not_allowed());
        }
        let core = matches!(route, Route::CoreVersions);
        let offers =
            Offers { table: false, aggregated: matches!(route, Route::CoreVersions | Route::Groups), protobuf: true };
        match route {
            Route::Health => {
                let answer = health::answer(req.uri().path(), &query, *self.shutdown.borrow());
                Ok(text_response(answer.code, answer.body))
            }
            Route::Version => Ok(json_response(StatusCode::OK, &discovery::version())),
            Route::Metrics => {
                let page = self.metrics.render(self.registry.store());
                let mut resp = text_response(StatusCode::OK, page);
                resp.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
                Ok(resp)
            }
            Route::CoreVersions | Route::Groups => {
                let format = negotiate::choose(accept.as_deref(), offers, None)
                    .ok_or_else(|| status::not_acceptable(accept.as_deref().unwrap_or("")))?;
                let mut resp = match format {
                    Format::Aggregated { version } => {
                        let doc = aggregated_discovery::document(&catalog, core, &version);
                        let mut resp = json_response(StatusCode::OK, &doc);
                        if let Ok(v) = HeaderValue::from_str(&aggregated_discovery::content_type(&version)) {
                            resp.headers_mut().insert(header::CONTENT_TYPE, v);
                        }
                        resp
                    }
                    other if core => core_discovery(&discovery::core_versions(&self.server_address), &other),
                    other => render_value(StatusCode::OK, &discovery::groups(&catalog), &other),
                };
                resp.headers_mut().insert(header::VARY, HeaderValue::from_static("Accept"));
                Ok(resp)
            }
            Route::Group(group) => {
                let g = catalog.group(&group).ok_or_else(status::not_found_path)?;
                self.plain_document(accept.as_deref(), &discovery::group(g))
            }
            Route::Resources { group, version } if group.is_empty() => {
                let format = negotiate::choose(accept.as_deref(), Offers { protobuf: true, ..Offers::default() }, None)
                    .ok_or_else(|| status::not_acceptable(accept.as_deref().unwrap_or("")))?;
                Ok(core_discovery(&discovery::resources(&catalog, &group, &version), &format))
            }
            Route::Resources { group, version } => {
                self.plain_document(accept.as_deref(), &discovery::resources(&catalog, &group, &version))
            }
            Route::Resource(_) | Route::NotFoundPage => Err(status::not_found_path()),
        }
    }

    fn plain_document(&self, accept: Option<&str>, doc: &Value) -> Result<Response<ResponseBody>, ApiError> {
        let format = negotiate::choose(accept, Offers { protobuf: true, ..Offers::default() }, None)
            .ok_or_else(|| status::not_acceptable(accept.unwrap_or("")))?;
        Ok(render_value(StatusCode::OK, doc, &format))
    }

    async fn resource<B>(
        &self,
        req: Request<B>,
        path: ResourcePath,
        mut query: BTreeMap<String, Vec<String>>,
        accept: Option<&str>,
        user: UserInfo,
    ) -> Result<Response<ResponseBody>, ApiError>
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let watch_flag = query
            .get("watch")
            .and_then(|v| v.first())
            // kube's parameter codec: only `0` and `false` (any case) are false.
            .is_some_and(|v| !(v == "0" || v.eq_ignore_ascii_case("false")));
        let method = if req.method() == Method::HEAD { Method::GET } else { req.method().clone() };
        let verb = path.verb(&method, watch_flag)?;
        let tableable = matches!(verb, Verb::Get | Verb::List | Verb::Watch) && path.subresource.is_none();
        let include = query.get("includeObject").and_then(|v| v.first()).map(String::as_str);
        let built_in = !self.is_custom(&path.resource);
        let offers = Offers { table: tableable, aggregated: false, protobuf: built_in };
        // A built-in resource sits behind kube-apiserver's router (go-restful), which
        // refuses a patch type or an `Accept` its route does not declare before any
        // handler runs, in its own words.
        let routed = matches!(path.subresource.as_deref(), None | Some("status" | "scale" | "log"));
        if built_in && routed {
            if verb == Verb::Patch {
                let ct = header_str(&req, header::CONTENT_TYPE).unwrap_or("application/octet-stream");
                if !negotiate::route_matches(ct, &negotiate::BUILT_IN_PATCH_TYPES, false) {
                    return Err(status::route_unsupported_media_type());
                }
            }
            let collection_read =
                (path.name.is_none() && matches!(verb, Verb::List | Verb::Watch)) || path.legacy_watch;
            let produces = negotiate::route_produces(collection_read, path.subresource.as_deref() == Some("log"));
            if !negotiate::route_matches(accept.filter(|a| !a.is_empty()).unwrap_or("*/*"), &produces, true) {
                return Err(status::route_not_acceptable(&produces));
            }
        }
        let format = negotiate::choose(accept, offers, include).ok_or_else(|| {
            if built_in {
                status::only_accepted(&negotiate::BUILT_IN_MEDIA_TYPES)
            } else {
                status::not_acceptable(accept.unwrap_or(""))
            }
        })?;

        let mut name = path.name.clone();
        if verb == Verb::Watch {
            if let Some(n) = name.take() {
                let selector = format!("metadata.name={n}");
                let entry = query.entry("fieldSelector".into()).or_default();
                match entry.first_mut() {
                    Some(existing) if !existing.is_empty() => *existing = format!("{existing},{selector}"),
                    Some(existing) => *existing = selector,
                    None => entry.push(selector),
                }
            }
        }
        let gzip = req
            .headers()
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
        let content_type = header_str(&req, header::CONTENT_TYPE).map(str::to_owned);
        // A body announced too large for the limit and the drain budget together is
        // refused unread; a smaller oversized one is read (and dropped) by
        // `read_limited` first, so its 413 reaches the client.
        if let Some(len) = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()) {
            let unreadable = (body::MAX_BODY_BYTES + body::OVERSIZED_BODY_DRAIN_BYTES) as u64;
            if len.parse::<u64>().is_ok_and(|n| n > unreadable) {
                return Err(status::too_large(body::MAX_BODY_BYTES));
            }
        }
        let user_agent = req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let raw = body::read_limited(req.into_body(), gzip).await?;
        let target = body::BodyTarget { kind: &path.resource.kind, built_in };
        let (content_type, raw) = body::normalize(verb, content_type.as_deref(), raw, target)?;

        let is_log = path.subresource.as_deref() == Some("log");
        let is_token = path.resource.group.is_empty()
            && path.resource.plural == "serviceaccounts"
            && path.subresource.as_deref() == Some("token");
        let api_req = ApiRequest {
            verb,
            resource: path.resource.clone(),
            namespace: path.namespace.clone(),
            name,
            subresource: if is_log || is_token { None } else { path.subresource.clone() },
            query,
            body: raw,
            content_type,
            user,
            user_agent,
        };
        let mut api_req = api_req;
        let field_warnings = crate::openapi::field_validation::check(&mut api_req, &self.catalog.snapshot())?;
        if is_token {
            return self.token_request(api_req, &format).await;
        }
        if is_log {
            let ctx = logs::LogContext {
                registry: Arc::clone(&self.registry),
                shutdown: self.shutdown.clone(),
                interval: self.pod_log_interval,
            };
            return logs::serve(ctx, api_req).await;
        }
        let timeout = watch_stream::timeout(api_req.query_param("timeoutSeconds"));
        crate::auth::rbac::escalation::check(&self.registry, &self.authz, &api_req).await?;
        let result = match crate::auth::reviews::handle(&api_req, &self.auth, &self.authz) {
            Some(answer) => ServedResponse::Api(answer?),
            None => self.registry.handle_served(api_req).await?,
        };
        let object_response = |code: u16, body: &Value| {
            let code = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
            let mut resp = match &format {
                Format::Table { version, include_object } => {
                    let printer = self.printer_columns(&path.resource);
                    let t =
                        table::render_with(&path.resource, printer.as_deref(), body, *include_object, version, true);
                    json_response(code, &t)
                }
                Format::PartialMetadata { version, protobuf } => {
                    let format = if *protobuf { Format::Protobuf } else { Format::Json };
                    render_value(code, &table::render_metadata(body, version), &format)
                }
                other => render_value(code, body, other),
            };
            openapi::add_warnings(&mut resp, &field_warnings);
            resp
        };
        match result {
            ServedResponse::Api(ApiResponse::Object { code, body }) => Ok(object_response(code, &body)),
            // Shared objects as JSON: their cached bytes, no copy and no serialization.
            ServedResponse::Object { code, object } if matches!(format, Format::Json) => {
                let code = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
                let mut resp = json_bytes_response(code, crate::storage::encoded::json(&object));
                openapi::add_warnings(&mut resp, &field_warnings);
                Ok(resp)
            }
            // Shared objects in protobuf: their kept message in a fresh envelope.
            ServedResponse::Object { code, object } if matches!(format, Format::Protobuf) => {
                let field = |k: &str| object.get(k).and_then(Value::as_str);
                match (field("apiVersion"), field("kind"), crate::storage::encoded::protobuf(&object)) {
                    (Some(av), Some(kind), Some(raw)) => {
                        let code = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
                        let body = ferrokube_apimachinery::protobuf::envelope(av, kind, &raw);
                        let mut resp = bytes_response(code, Bytes::from(body), negotiate::PROTOBUF);
                        openapi::add_warnings(&mut resp, &field_warnings);
                        Ok(resp)
                    }
                    _ => Ok(object_response(code, &object)),
                }
            }
            ServedResponse::Object { code, object } => Ok(object_response(code, &object)),
            ServedResponse::List(list) if matches!(format, Format::Json) => {
                let mut resp = json_bytes_response(StatusCode::OK, list_json(&list));
                openapi::add_warnings(&mut resp, &field_warnings);
                Ok(resp)
            }
            ServedResponse::List(list) if matches!(format, Format::Protobuf) => {
                // Each item's message is encoded once per object version and kept.
                let items: Option<Vec<Bytes>> = list.items.iter().map(crate::storage::encoded::protobuf).collect();
                let encoded = match items {
                    Some(items) => ferrokube_apimachinery::protobuf::encode_list_body_of_messages(
                        &list.api_version,
                        &list.kind,
                        &list.metadata,
                        items,
                    ),
                    None => ferrokube_apimachinery::protobuf::encode_list_body(
                        &list.api_version,
                        &list.kind,
                        &list.metadata,
                        list.items.iter().map(|o| &**o),
                    ),
                };
                let mut resp = match encoded {
                    Ok(pb) => bytes_response(StatusCode::OK, Bytes::from(pb), negotiate::PROTOBUF),
                    Err(e) => {
                        tracing::debug!(error = %e, "list has no protobuf form; answering JSON");
                        json_bytes_response(StatusCode::OK, list_json(&list))
                    }
                };
                openapi::add_warnings(&mut resp, &field_warnings);
                Ok(resp)
            }
            ServedResponse::List(list) => Ok(object_response(200, &list.into_value())),
            ServedResponse::Api(ApiResponse::Watch(events)) => {
                let event_format = match format {
                    Format::Table { version, include_object } => watch_stream::EventFormat::Table {
                        printer: self.printer_columns(&path.resource),
                        resource: path.resource.clone(),
                        include: include_object,
                        version,
                    },
                    Format::PartialMetadata { version, protobuf } => {
                        watch_stream::EventFormat::PartialMetadata { version, protobuf }
                    }
                    Format::Protobuf => watch_stream::EventFormat::Protobuf {
                        api_version: path.resource.api_version(),
                        kind: path.resource.kind.clone(),
                    },
                    _ => watch_stream::EventFormat::Json,
                };
                let content_type = if matches!(
                    event_format,
                    watch_stream::EventFormat::Protobuf { .. }
                        | watch_stream::EventFormat::PartialMetadata { protobuf: true, .. }
                ) {
                    negotiate::PROTOBUF_WATCH
                } else {
                    "application/json"
                };
                let mut shutdown = self.shutdown.clone();
                let ended = async move {
                    let _ = shutdown.wait_for(|stop| *stop).await;
                };
                let body = watch_stream::WatchBody::new(events, timeout, ended, event_format);
                let mut resp = Response::new(body.boxed_unsync());
                resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
                resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, private"));
                Ok(resp)
            }
        }
    }
}

impl Handler {
    /// Whether `r` is a custom resource (served from a CRD: never protobuf).
    fn is_custom(&self, r: &crate::api::ResourceInfo) -> bool {
        self.catalog.snapshot().custom(&r.group, &r.version, &r.plural).is_some()
    }

    /// The printer columns of a custom resource (`None` for built-in resources).
    fn printer_columns(
        &self,
        r: &crate::api::ResourceInfo,
    ) -> Option<Vec<crate::apiextensions::printer::PrinterColumn>> {
        self.catalog.snapshot().custom(&r.group, &r.version, &r.plural).map(|c| c.printer_columns.clone())
    }

    /// `POST serviceaccounts/<name>/token`: the service account must exist (asked of the
    /// registry); the token comes from [`crate::auth::service_account_tokens`].
    async fn token_request(&self, mut req: ApiRequest, format: &Format) -> Result<Response<ResponseBody>, ApiError> {
        let request: Value = if req.body.is_empty() {
            serde_json::json!({})
        } else {
            serde_json::from_slice(&req.body)
                .map_err(|e| status::bad_request(format!("unable to decode the request body: {e}")))?
        };
        req.body = Bytes::new();
        let name = req.name.clone().unwrap_or_default();
        if let Some((value, detail)) = crate::auth::service_account_tokens::expiration_error(&request) {
            // kube-apiserver validates before it looks the account up, and names no object.
            let field = crate::registry::errors::FieldError::invalid("spec.expirationSeconds", &value, detail);
            return Err(crate::registry::errors::invalid_kind("authentication.k8s.io", "TokenRequest", "", &[field]));
        }
        let dry_run = req.query.contains_key("dryRun");
        req.verb = Verb::Get;
        req.content_type = None;
        let namespace = req.namespace.clone().unwrap_or_default();
        let writer = req.clone();
        let sa = match self.registry.handle(req).await? {
            ApiResponse::Object { body, .. } => body,
            ApiResponse::Watch(_) => return Err(status::internal("unexpected watch")),
        };
        let uid = sa.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("");
        let mut answer = self.auth.service_accounts().issue(&namespace, &name, uid, &request);
        // The request's fields, after kube's defaulting of expirationSeconds (the
        // audiences are filled in later, by the issuer) are the writer's.
        let mut recorded = request.clone();
        if recorded.pointer("/spec/expirationSeconds").is_none() {
            if let Some(spec) = recorded.get_mut("spec").and_then(Value::as_object_mut) {
                spec.insert("expirationSeconds".into(), serde_json::json!(3600));
            }
        }
        recorded["apiVersion"] = serde_json::json!("authentication.k8s.io/v1");
        recorded["kind"] = serde_json::json!("TokenRequest");
        if let Some(managed) = crate::auth::reviews::created_managed_fields(&writer, &recorded, Some("token")) {
            answer["metadata"]["managedFields"] = managed;
        }
        if dry_run {
            answer["status"]["token"] = Value::String(String::new());
        }
        Ok(render_value(StatusCode::CREATED, &answer, format))
    }
}

fn header_str<B>(req: &Request<B>, name: header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Parse a query string into keys and their values, percent-decoded (never fails).
pub fn parse_query(query: Option<&str>) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if let Some(q) = query {
        for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
            out.entry(k.into_owned()).or_default().push(v.into_owned());
        }
    }
    out
}

fn text_response(code: StatusCode, text: impl Into<Bytes>) -> Response<ResponseBody> {
    let mut resp = Response::new(full(text.into()));
    *resp.status_mut() = code;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    resp
}

fn json_response(code: StatusCode, value: &Value) -> Response<ResponseBody> {
    render_value(code, value, &Format::Json)
}

fn render_value(code: StatusCode, value: &Value, format: &Format) -> Response<ResponseBody> {
    let (bytes, ct) = match format {
        Format::Protobuf => match encode_protobuf(value) {
            Ok(pb) => (pb, negotiate::PROTOBUF),
            Err(e) => {
                // A kind with no protobuf message here: JSON rather than a failure.
                tracing::debug!(error = %e, "object has no protobuf form; answering JSON");
                (serde_json::to_vec(value).unwrap_or_default(), "application/json")
            }
        },
        Format::Yaml => match serde_yaml_ng::to_string(value) {
            Ok(s) => (s.into_bytes(), "application/yaml"),
            Err(e) => return status::error_response(&status::internal(e.to_string())),
        },
        _ => (serde_json::to_vec(value).unwrap_or_default(), "application/json"),
    };
    bytes_response(code, Bytes::from(bytes), ct)
}

/// A core-group discovery document (`/api`, `/api/v1`): kube-apiserver's legacy
/// discovery writes these with an empty apiVersion in the protobuf envelope.
fn core_discovery(doc: &Value, format: &Format) -> Response<ResponseBody> {
    use ferrokube_apimachinery::protobuf::{encode_message, envelope, message_key};
    if matches!(format, Format::Protobuf) {
        let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
        if let Some(raw) = message_key("v1", kind).and_then(|key| encode_message(key, doc).ok()) {
            return bytes_response(StatusCode::OK, Bytes::from(envelope("", kind, &raw)), negotiate::PROTOBUF);
        }
    }
    render_value(StatusCode::OK, doc, format)
}

/// The enveloped protobuf of an object that names its `kind` (and `apiVersion`; absent,
/// as in `APIVersions`, it is `v1`, the version kube's discovery objects are encoded at).
fn encode_protobuf(value: &Value) -> Result<Vec<u8>, ferrokube_apimachinery::protobuf::EncodeError> {
    let field = |k: &str| value.get(k).and_then(Value::as_str);
    let api_version = field("apiVersion").unwrap_or("v1");
    ferrokube_apimachinery::protobuf::encode_body(api_version, field("kind").unwrap_or(""), value)
}

fn bytes_response(code: StatusCode, bytes: Bytes, ct: &'static str) -> Response<ResponseBody> {
    let mut resp = Response::new(full(bytes));
    *resp.status_mut() = code;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, private"));
    resp
}

/// A JSON response of already serialized bytes.
fn json_bytes_response(code: StatusCode, bytes: Bytes) -> Response<ResponseBody> {
    bytes_response(code, bytes, "application/json")
}

/// The JSON of a list, byte for byte what serializing [`SharedList::into_value`] gives,
/// written from the items' cached JSON ([`crate::storage::encoded`]).
fn list_json(list: &SharedList) -> Bytes {
    let items: Vec<Bytes> = list.items.iter().map(crate::storage::encoded::json).collect();
    let size: usize = items.iter().map(|b| b.len() + 1).sum();
    let mut out = Vec::with_capacity(size + 256);
    // The envelope's keys in the order a `serde_json::Map` keeps them.
    let mut envelope = serde_json::Map::new();
    envelope.insert("kind".into(), Value::String(list.kind.clone()));
    envelope.insert("apiVersion".into(), Value::String(list.api_version.clone()));
    envelope.insert("metadata".into(), list.metadata.clone());
    envelope.insert("items".into(), Value::Null);
    out.push(b'{');
    for (i, (key, value)) in envelope.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let _ = serde_json::to_writer(&mut out, key);
        out.push(b':');
        if key == "items" {
            out.push(b'[');
            for (j, item) in items.iter().enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(item);
            }
            out.push(b']');
        } else {
            let _ = serde_json::to_writer(&mut out, value);
        }
    }
    out.push(b'}');
    Bytes::from(out)
}

/// Gzip a complete response body over [`GZIP_THRESHOLD`]; streams pass through.
async fn compress(resp: Response<ResponseBody>) -> Response<ResponseBody> {
    use http_body::Body as _;
    let small = resp.body().size_hint().exact().is_none_or(|n| n < GZIP_THRESHOLD as u64);
    if small || resp.headers().contains_key(header::CONTENT_ENCODING) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = match body.collect().await {
        Ok(c) => c.to_bytes(),
        Err(never) => match never {},
    };
    let mut enc = flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 4), flate2::Compression::fast());
    if enc.write_all(&bytes).is_err() {
        return Response::from_parts(parts, full(bytes));
    }
    match enc.finish() {
        Ok(gz) => {
            parts.headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            parts.headers.append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, full(gz))
        }
        Err(_) => Response::from_parts(parts, full(bytes)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_json_matches_serializing_the_list() {
        let shared = Arc::new(serde_json::json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "a\"b"}}));
        for items in
            [vec![], vec![shared.clone()], vec![shared.clone(), Arc::new(serde_json::json!({"x": [1, 2.5, null]}))]]
        {
            let list = SharedList {
                kind: "PodList".into(),
                api_version: "v1".into(),
                metadata: serde_json::json!({"resourceVersion": "7", "continue": "x\u{0}"}),
                items,
            };
            let fast = list_json(&list);
            let slow = serde_json::to_vec(&list.into_value()).unwrap();
            assert_eq!(std::str::from_utf8(&fast).unwrap(), std::str::from_utf8(&slow).unwrap());
        }
    }

    #[test]
    fn query_parsing() {
        let q = parse_query(Some("labelSelector=app%3Dweb&watch=1&x=a&x=b&bad=%zz&=&&"));
        assert_eq!(q["labelSelector"], ["app=web"]);
        assert_eq!(q["x"], ["a", "b"]);
        assert!(q.contains_key("bad"));
        assert!(parse_query(None).is_empty());
    }
}
