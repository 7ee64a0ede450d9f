//! `/healthz`, `/livez` and `/readyz`: the health endpoints, answered as kube-apiserver
//! answers them.
//!
//! Each endpoint runs a list of named checks. Plain, it answers `ok` (200) or `<endpoint>
//! check failed` (500); with `?verbose` it lists every check as `[+]name ok` or
//! `[-]name failed: reason withheld` and ends with `<endpoint> check passed` (or
//! `failed`); `?exclude=name` skips a check (`[+]name excluded: ok`), as in kube;
//! `/<endpoint>/<name>` runs one check and an unknown name is a 404. The checks keep
//! kube-apiserver's names, so that probes and scripts written for a cluster work here:
//! `etcd` is this server's in-memory store, and `shutdown` (readyz only) fails once the
//! server has begun to stop, as kube-apiserver stops being ready while it drains.
//!
//! The router sends every path under the three endpoints here; the handler turns the
//! [`HealthAnswer`] into a `text/plain` response.

use std::collections::BTreeMap;

use http::StatusCode;

/// What a health endpoint answers: a status code and its `text/plain` body.
#[derive(Debug, PartialEq, Eq)]
pub struct HealthAnswer {
    /// 200 when every check that ran passed, 500 when one failed, 404 for an unknown
    /// check or endpoint.
    pub code: StatusCode,
    /// The body.
    pub body: String,
}

/// The checks of `endpoint` (`healthz`, `livez` or `readyz`), in the order they are
/// listed; `None` for any other name.
fn checks(endpoint: &str) -> Option<&'static [&'static str]> {
    const LIVE: &[&str] = &["ping", "log", "etcd"];
    const READY: &[&str] = &["ping", "log", "etcd", "etcd-readiness", "informer-sync", "shutdown"];
    match endpoint {
        "healthz" | "livez" => Some(LIVE),
        "readyz" => Some(READY),
        _ => None,
    }
}

/// Answers `path` (e.g. `/readyz`, `/livez/ping`) with the query `query`. `stopping` is
/// whether the server has begun to shut down.
pub fn answer(path: &str, query: &BTreeMap<String, Vec<String>>, stopping: bool) -> HealthAnswer {
    let not_found = || HealthAnswer { code: StatusCode::NOT_FOUND, body: "404 page not found\n".to_owned() };
    let mut segments = path.trim_matches('/').split('/');
    let endpoint = segments.next().unwrap_or_default();
    let Some(all) = checks(endpoint) else { return not_found() };
    let passes = |check: &str| !(check == "shutdown" && stopping);
    match (segments.next(), segments.next()) {
        (None, _) => {}
        (Some(one), None) if all.contains(&one) => {
            return if passes(one) {
                HealthAnswer { code: StatusCode::OK, body: "ok".to_owned() }
            } else {
                HealthAnswer { code: StatusCode::INTERNAL_SERVER_ERROR, body: "internal server error\n".to_owned() }
            };
        }
        _ => return not_found(),
    }
    let excluded: Vec<&str> = query.get("exclude").into_iter().flatten().map(String::as_str).collect();
    let verbose = query.contains_key("verbose");
    let mut lines = String::new();
    let mut failed = false;
    for check in all {
        if excluded.contains(check) {
            lines.push_str(&format!("[+]{check} excluded: ok\n"));
        } else if passes(check) {
            lines.push_str(&format!("[+]{check} ok\n"));
        } else {
            failed = true;
            lines.push_str(&format!("[-]{check} failed: reason withheld\n"));
        }
    }
    for name in excluded.iter().filter(|name| !all.contains(name)) {
        lines.push_str(&format!("warn: some health checks cannot be excluded: no matches for \"{name}\"\n"));
    }
    match (failed, verbose) {
        (false, false) => HealthAnswer { code: StatusCode::OK, body: "ok".to_owned() },
        (false, true) => HealthAnswer { code: StatusCode::OK, body: format!("{lines}{endpoint} check passed\n") },
        (true, _) => {
            HealthAnswer { code: StatusCode::INTERNAL_SERVER_ERROR, body: format!("{lines}{endpoint} check failed\n") }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<String>> {
        let mut q: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in pairs {
            q.entry((*k).to_owned()).or_default().push((*v).to_owned());
        }
        q
    }

    #[test]
    fn plain_and_verbose() {
        let plain = answer("/readyz", &query(&[]), false);
        assert_eq!((plain.code, plain.body.as_str()), (StatusCode::OK, "ok"));
        let verbose = answer("/readyz", &query(&[("verbose", "")]), false);
        assert_eq!(verbose.code, StatusCode::OK);
        assert!(verbose.body.starts_with("[+]ping ok\n[+]log ok\n[+]etcd ok\n"), "{}", verbose.body);
        assert!(verbose.body.ends_with("[+]shutdown ok\nreadyz check passed\n"), "{}", verbose.body);
        let live = answer("/livez", &query(&[("verbose", "1")]), false);
        assert_eq!(live.body, "[+]ping ok\n[+]log ok\n[+]etcd ok\nlivez check passed\n");
    }

    #[test]
    fn single_checks_and_unknown_ones() {
        assert_eq!(answer("/livez/ping", &query(&[]), false).body, "ok");
        assert_eq!(answer("/readyz/nope", &query(&[]), false).code, StatusCode::NOT_FOUND);
        assert_eq!(answer("/livez/shutdown", &query(&[]), false).code, StatusCode::NOT_FOUND);
        assert_eq!(answer("/readyz/ping/more", &query(&[]), false).code, StatusCode::NOT_FOUND);
    }

    #[test]
    fn exclude_and_shutdown() {
        let stopping = answer("/readyz", &query(&[("verbose", "")]), true);
        assert_eq!(stopping.code, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            stopping.body.ends_with("[-]shutdown failed: reason withheld\nreadyz check failed\n"),
            "{}",
            stopping.body
        );
        assert_eq!(answer("/livez", &query(&[]), true).code, StatusCode::OK, "live while it drains");
        assert_eq!(answer("/readyz/shutdown", &query(&[]), true).code, StatusCode::INTERNAL_SERVER_ERROR);
        let excluded = answer("/readyz", &query(&[("verbose", ""), ("exclude", "shutdown"), ("exclude", "x")]), true);
        assert_eq!(excluded.code, StatusCode::OK);
        assert!(excluded.body.contains("[+]shutdown excluded: ok\n"), "{}", excluded.body);
        assert!(excluded.body.contains("no matches for \"x\""), "{}", excluded.body);
    }
}
