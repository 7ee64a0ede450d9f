//! What a label key and a label value may be (`k8s.io/apimachinery/pkg/api/validate/content`:
//! `IsLabelKey`, `IsLabelValue`, `IsDNS1123Subdomain`), with Kubernetes' messages.
//!
//! Each check returns the list of problems, empty when the input is valid, so callers
//! build their own errors: the selector parser joins them with `"; "` into one field
//! error, as `labels.Parse` does; the server's `metadata.labels` validation makes one
//! field error per problem, as kube-apiserver's `ValidateLabels` does. The messages are
//! those of Kubernetes 1.37 (lengths are counted in bytes and say so).

/// Longest label value, and longest name part of a label key (bytes).
pub const LABEL_VALUE_MAX_LENGTH: usize = 63;

/// Longest DNS-1123 subdomain, such as a label key's prefix (bytes).
pub const DNS1123_SUBDOMAIN_MAX_LENGTH: usize = 253;

const LABEL_KEY_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const LABEL_KEY_MSG: &str =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";

/// Kubernetes' "does not match" wording: the rule, examples, and the regular expression.
fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    let mut out = msg.to_owned();
    if examples.is_empty() {
        out.push_str(&format!(" (regex used for validation is '{fmt}')"));
        return out;
    }
    out.push_str(" (e.g. ");
    for (i, e) in examples.iter().enumerate() {
        if i > 0 {
            out.push_str(" or ");
        }
        out.push_str(&format!("'{e}', "));
    }
    out.push_str(&format!("regex used for validation is '{fmt}')"));
    out
}

fn max_len_error(n: usize) -> String {
    format!("must be no more than {n} bytes")
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`: alphanumerics, `-`, `_`, `.`, with an
/// alphanumeric at both ends.
fn is_name_syntax(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`.
fn is_dns1123_label_syntax(s: &str) -> bool {
    let b = s.as_bytes();
    let edge = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => edge(first) && edge(last) && b.iter().all(|c| edge(c) || *c == b'-'),
        _ => false,
    }
}

/// Problems with `value` as a DNS-1123 subdomain (lowercase labels joined by dots,
/// at most 253 bytes), as Kubernetes' `IsDNS1123Subdomain` words them.
pub fn is_dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH));
    }
    if !value.split('.').all(is_dns1123_label_syntax) {
        errs.push(regex_error(DNS1123_SUBDOMAIN_MSG, DNS1123_SUBDOMAIN_FMT, &["example.com"]));
    }
    errs
}

/// Problems with `key` as a label key (a "qualified name": an optional DNS-1123
/// subdomain prefix and `/`, then a name of at most 63 bytes), as Kubernetes'
/// `IsLabelKey` (formerly `IsQualifiedName`) words them.
pub fn is_label_key(key: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = key.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_owned());
            } else {
                errs.extend(is_dns1123_subdomain(prefix).into_iter().map(|m| format!("prefix part {m}")));
            }
            *name
        }
        _ => {
            errs.push(format!(
                "a valid label key {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(LABEL_KEY_MSG, LABEL_KEY_FMT, &["MyName", "my.name", "123-abc"])
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_owned());
    } else if name.len() > LABEL_VALUE_MAX_LENGTH {
        errs.push(format!("name part {}", max_len_error(LABEL_VALUE_MAX_LENGTH)));
    }
    if !is_name_syntax(name) {
        errs.push(format!(
            "name part {}",
            regex_error(LABEL_KEY_MSG, LABEL_KEY_FMT, &["MyName", "my.name", "123-abc"])
        ));
    }
    errs
}

/// Problems with `value` as a label value (empty, or at most 63 bytes of
/// alphanumerics, `-`, `_`, `.` with an alphanumeric at both ends), as Kubernetes'
/// `IsLabelValue` words them.
pub fn is_label_value(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > LABEL_VALUE_MAX_LENGTH {
        errs.push(max_len_error(LABEL_VALUE_MAX_LENGTH));
    }
    if !value.is_empty() && !is_name_syntax(value) {
        errs.push(regex_error(LABEL_VALUE_MSG, LABEL_VALUE_FMT, &["MyValue", "my_value", "12345"]));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_keys() {
        for ok in ["a", "app", "A-b_c.d", "example.com/app", "a.b-c/x", "1/2"] {
            assert_eq!(is_label_key(ok), Vec::<String>::new(), "{ok}");
        }
        assert_eq!(is_label_key("/a"), ["prefix part must be non-empty"]);
        assert_eq!(is_label_key("a/b/c")[0].split(" (").next(), Some("a valid label key must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"));
        // An empty name fails both checks, as in Kubernetes.
        let empty = is_label_key("");
        assert_eq!(empty.len(), 2);
        assert_eq!(empty[0], "name part must be non-empty");
        assert_eq!(
            empty[1],
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        );
        assert_eq!(is_label_key(&"a".repeat(64)), ["name part must be no more than 63 bytes"]);
        assert_eq!(
            is_label_key("Example.com/a"),
            ["prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"]
        );
        assert_eq!(is_label_key(&format!("{}/a", "a".repeat(254))), ["prefix part must be no more than 253 bytes"]);
        assert_eq!(is_label_key("-a").len(), 1);
        assert_eq!(is_label_key("a.").len(), 1);
    }

    #[test]
    fn label_values() {
        for ok in ["", "a", "web-1", "A_b.C", "12345"] {
            assert_eq!(is_label_value(ok), Vec::<String>::new(), "{ok}");
        }
        assert_eq!(
            is_label_value("b_"),
            ["a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"]
        );
        let long = is_label_value(&format!("{}_", "a".repeat(63)));
        assert_eq!(long.len(), 2);
        assert_eq!(long[0], "must be no more than 63 bytes");
        assert_eq!(is_label_value("é").len(), 1);
    }

    #[test]
    fn subdomains() {
        assert!(is_dns1123_subdomain("example.com").is_empty());
        assert!(is_dns1123_subdomain("a-1.b").is_empty());
        for bad in ["", "a..b", "-a", "a-", "A", "a_b", ".a"] {
            assert_eq!(is_dns1123_subdomain(bad).len(), 1, "{bad}");
        }
    }
}
