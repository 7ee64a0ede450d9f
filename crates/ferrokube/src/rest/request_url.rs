//! `rest::request_url`: the request URL, built once per request on the hot path.
//!
//! A [`Request`](super::Request) keeps its URL as parts (the versioned prefix such as
//! `/api/v1`, namespace, resource, name, subresource, suffix, query parameters);
//! sending it joins the parts with Go's `path.Join` rules ([`clean_join`]) and puts
//! scheme, host and port in front ([`assemble`]). Both run for every request, so they
//! work in one pre-sized string: the common case (plain path segments, no user info or
//! query in the base URL) never goes through a URL parser. Anything unusual — a path
//! character that needs percent-encoding, a base URL with a query — takes the `url`
//! crate's path, which gives the same result for the common case (checked by tests).
//! [`redact`] turns a URL into the form error messages show (no query, no user info).

use std::borrow::Cow;

/// Joins path parts and cleans the result like Go's `path.Join`: empty parts are
/// skipped, `.` removed, `..` applied, duplicate slashes collapsed. A result that is
/// not rooted and cleans to nothing is `.`; no parts at all give an empty string.
pub(crate) fn clean_join(parts: &[&str]) -> String {
    let Some(first) = parts.iter().find(|p| !p.is_empty()) else {
        return String::new();
    };
    let rooted = first.starts_with('/');
    // `out[..base]` is the root (`/` or nothing); segments follow, joined by `/`.
    let base = usize::from(rooted);
    let mut out = String::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
    if rooted {
        out.push('/');
    }
    for seg in parts.iter().flat_map(|p| p.split('/')) {
        match seg {
            "" | "." => {}
            ".." => {
                let body = &out[base..];
                let last_is_dotdot = body == ".." || body.ends_with("/..");
                if !body.is_empty() && !last_is_dotdot {
                    // Drop the last segment.
                    out.truncate(base + body.rfind('/').unwrap_or(0));
                } else if !rooted {
                    // `..` above the start of a relative path stays.
                    if !body.is_empty() {
                        out.push('/');
                    }
                    out.push_str("..");
                }
            }
            s => {
                if out.len() > base {
                    out.push('/');
                }
                out.push_str(s);
            }
        }
    }
    if out.is_empty() {
        out.push('.');
    }
    out
}

/// `s` lower-cased, without a copy when it already is (resource names usually are).
pub(crate) fn lowercase(s: &str) -> Cow<'_, str> {
    // ASCII without capitals is its own lower case; anything else goes through
    // `to_lowercase` (which also maps non-ASCII title-case letters).
    if s.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.to_lowercase())
    }
}

/// Path characters the `url` crate copies unchanged: letters, digits and the
/// unreserved and sub-delimiter punctuation Kubernetes names and paths use.
fn is_plain_path(path: &str) -> bool {
    path.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-._~:@!$&'()*+,;=".contains(&b))
}

/// The full URL: `base`'s scheme, host and port, `path` (`/` when empty) and the
/// query `params` form-encoded in the order given. The same string as setting the
/// path and appending the pairs on a copy of `base` with the `url` crate.
pub(crate) fn assemble(base: &url::Url, path: &str, params: &[(&str, &str)]) -> String {
    let path = if path.is_empty() { "/" } else { path };
    let plain_base = base.query().is_none() && base.fragment().is_none();
    if !(plain_base && is_plain_path(path) && path.starts_with('/')) {
        return assemble_with_url_crate(base, path, params);
    }
    let origin = &base[..url::Position::BeforePath];
    let query_len: usize = params.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
    let mut out = String::with_capacity(origin.len() + path.len() + query_len + 1);
    out.push_str(origin);
    out.push_str(path);
    if !params.is_empty() {
        out.push('?');
        let start = out.len();
        let mut query = url::form_urlencoded::Serializer::for_suffix(out, start);
        for (k, v) in params {
            query.append_pair(k, v);
        }
        out = query.finish();
    }
    out
}

/// [`assemble`] through `url::Url` (percent-encodes the path as needed, keeps a query
/// already in `base`).
fn assemble_with_url_crate(base: &url::Url, path: &str, params: &[(&str, &str)]) -> String {
    let mut url = base.clone();
    url.set_path(path);
    if !params.is_empty() {
        let mut query = url.query_pairs_mut();
        for (k, v) in params {
            query.append_pair(k, v);
        }
    }
    url.to_string()
}

/// Drops the query string, fragment and user info from a URL, for error messages.
pub(crate) fn redact(url: &str) -> String {
    let without_query = url.split(['?', '#']).next().unwrap_or_default();
    // Only the authority can hold user info; when it has none, cutting the query is all.
    let authority = without_query.split_once("://").map(|(_, rest)| rest.split('/').next().unwrap_or_default());
    if authority.is_some_and(|a| !a.contains('@')) {
        return without_query.to_owned();
    }
    match url::Url::parse(url) {
        Ok(mut u) => {
            u.set_query(None);
            u.set_fragment(None);
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => without_query.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The straightforward version of [`clean_join`]: split into segments, apply
    /// them to a stack, join.
    fn clean_join_reference(parts: &[&str]) -> String {
        let joined: Vec<&str> = parts.iter().copied().filter(|p| !p.is_empty()).collect();
        if joined.is_empty() {
            return String::new();
        }
        let rooted = joined[0].starts_with('/');
        let mut out: Vec<&str> = Vec::new();
        for seg in joined.iter().flat_map(|p| p.split('/')) {
            match seg {
                "" | "." => {}
                ".." => {
                    if out.last().is_some_and(|l| *l != "..") {
                        out.pop();
                    } else if !rooted {
                        out.push("..");
                    }
                }
                s => out.push(s),
            }
        }
        let body = out.join("/");
        match (rooted, body.is_empty()) {
            (true, _) => format!("/{body}"),
            (false, true) => ".".to_owned(),
            (false, false) => body,
        }
    }

    #[test]
    fn clean_join_matches_go_path_join() {
        assert_eq!(clean_join(&["/api/v1", "pods"]), "/api/v1/pods");
        assert_eq!(clean_join(&["/a/", "/b//c/"]), "/a/b/c");
        assert_eq!(clean_join(&["/a", "..", "..", "b"]), "/b");
        assert_eq!(clean_join(&["a", "../..", "b"]), "../b");
        assert_eq!(clean_join(&["a", ".."]), ".");
        assert_eq!(clean_join(&["..", "a", "..", ".."]), "../..");
        assert_eq!(clean_join(&["", ""]), "");
        assert_eq!(clean_join(&["/"]), "/");
        assert_eq!(clean_join(&["/", "", "/api", "", "v1"]), "/api/v1");
    }

    #[test]
    fn clean_join_agrees_with_the_reference_on_every_small_combination() {
        let pieces = ["", "/", "a", "bc", ".", "..", "/a", "a/", "../x", "a/../..", "//", "./b/."];
        let mut checked = 0;
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let parts = [a, b, c];
                    assert_eq!(clean_join(&parts), clean_join_reference(&parts), "{parts:?}");
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, pieces.len().pow(3));
    }

    #[test]
    fn assemble_matches_the_url_crate() {
        let bases = ["https://127.0.0.1:6443", "https://k8s.example.com", "http://[::1]:8080/ignored"];
        let paths = [
            "",
            "/",
            "/api/v1/namespaces/default/pods/web-0",
            "/apis/a.b/v1/x:y@z",
            "/a/-._~!$&'()*+,;=",
            "/with space/ü",
            "/q?x",
            "/%41",
        ];
        let params: [&[(&str, &str)]; 3] = [
            &[],
            &[("limit", "500")],
            &[("continue", "a+b/c=="), ("labelSelector", "app in (a,b),tier!=x"), ("watch", "1")],
        ];
        for base in bases {
            let base = url::Url::parse(base).unwrap();
            for path in paths {
                for p in params {
                    assert_eq!(
                        assemble(&base, path, p),
                        assemble_with_url_crate(&base, if path.is_empty() { "/" } else { path }, p),
                        "{base} {path:?} {p:?}"
                    );
                }
            }
        }
        // A base with a query of its own keeps it (the url crate's path).
        let base = url::Url::parse("https://h:1/?x=1").unwrap();
        assert_eq!(assemble(&base, "/api", &[("a", "b")]), "https://h:1/api?x=1&a=b");
    }

    #[test]
    fn redact_drops_query_and_user_info() {
        assert_eq!(redact("https://h:6443/api/v1/pods?labelSelector=a"), "https://h:6443/api/v1/pods");
        assert_eq!(redact("https://u:p@h:6443/api/v1/pods?x#y"), "https://h:6443/api/v1/pods");
        assert_eq!(redact("https://h/a#frag"), "https://h/a");
        assert_eq!(redact("not a url?token=x"), "not a url");
        assert!(!redact("https://user:secret@h/x").contains("secret"));
    }

    #[test]
    fn lowercase_borrows_when_it_can() {
        assert!(matches!(lowercase("pods"), Cow::Borrowed("pods")));
        assert_eq!(lowercase("Pods"), "pods");
        for s in ["Deployments", "crontabs.stable.example.com", "ǅx", "ÜBER", "ok-1"] {
            assert_eq!(lowercase(s), s.to_lowercase(), "{s}");
        }
    }
}
