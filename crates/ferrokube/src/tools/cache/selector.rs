//! `tools::cache::selector`: label selectors evaluated client-side, for
//! [`Lister::list`](super::Lister::list) (apimachinery `labels.Selector`).
//!
//! The string syntax is the API's `labelSelector`: comma-separated requirements, all of
//! which must hold — `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k` (exists)
//! and `!k` (does not exist). `k!=v` and `notin` also match objects without the label,
//! as in Kubernetes. An empty selector matches everything.

use std::collections::BTreeMap;

/// A selector string could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid label selector {selector:?}: {reason}")]
#[non_exhaustive]
pub struct SelectorError {
    /// The selector.
    pub selector: String,
    /// What is wrong.
    pub reason: SelectorErrorReason,
}

/// What is wrong with a label selector.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectorErrorReason {
    /// A `)` without its `(`.
    #[error("unbalanced ')'")]
    UnbalancedClose,
    /// A `(` without its `)`.
    #[error("unbalanced '('")]
    UnbalancedOpen,
    /// Nothing between two commas (or after the last one).
    #[error("empty requirement")]
    EmptyRequirement,
    /// A key with characters a label key cannot have.
    #[error("invalid label key {0:?}")]
    InvalidKey(String),
    /// A value with characters a label value cannot have.
    #[error("invalid label value {0:?}")]
    InvalidValue(String),
    /// `in`/`notin` not followed by `(v1,v2,...)`.
    #[error("expected a parenthesized set of values, found {0:?}")]
    ExpectedSet(String),
    /// A requirement with no operator ferrokube knows.
    #[error("unknown operator in {0:?}")]
    UnknownOperator(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Op {
    Eq(String),
    NotEq(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Requirement {
    key: String,
    op: Op,
}

/// A parsed label selector; matches a label map.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

impl Selector {
    /// The selector that matches everything.
    pub fn everything() -> Self {
        Selector::default()
    }

    /// Whether this selector has no requirement (matches everything).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Parses the API's `labelSelector` syntax.
    ///
    /// ```
    /// use ferrokube::tools::cache::Selector;
    /// let s = Selector::parse("app=web, tier in (front,edge), !legacy").unwrap();
    /// let labels = [("app".to_owned(), "web".to_owned()), ("tier".to_owned(), "edge".to_owned())].into();
    /// assert!(s.matches(Some(&labels)));
    /// assert!(!s.matches(None));
    /// ```
    pub fn parse(selector: &str) -> Result<Self, SelectorError> {
        let err = |reason: SelectorErrorReason| SelectorError { selector: selector.to_owned(), reason };
        let mut requirements = Vec::new();
        for part in split_top_level(selector).map_err(err)? {
            let part = part.trim();
            if part.is_empty() {
                if selector.trim().is_empty() {
                    continue;
                }
                return Err(err(SelectorErrorReason::EmptyRequirement));
            }
            requirements.push(parse_requirement(part).map_err(err)?);
        }
        Ok(Selector { requirements })
    }

    /// Whether `labels` (an object's `metadata.labels`) satisfy every requirement.
    pub fn matches(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        self.matches_with(|key| labels.and_then(|l| l.get(key)).map(String::as_str))
    }

    /// Whether the labels read through `label` (key -> value) satisfy every
    /// requirement; for objects whose labels are not a `BTreeMap`, such as
    /// [`Unstructured`](crate::dynamic::Unstructured) ones.
    pub fn matches_with<'a>(&self, label: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.requirements.iter().all(|r| {
            let value = label(&r.key);
            match &r.op {
                Op::Eq(v) => value == Some(v.as_str()),
                Op::NotEq(v) => value != Some(v.as_str()),
                Op::In(vs) => value.is_some_and(|x| vs.iter().any(|v| v == x)),
                Op::NotIn(vs) => !value.is_some_and(|x| vs.iter().any(|v| v == x)),
                Op::Exists => value.is_some(),
                Op::DoesNotExist => value.is_none(),
            }
        })
    }
}

impl std::str::FromStr for Selector {
    type Err = SelectorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Selector::parse(s)
    }
}

/// Splits at commas outside parentheses.
fn split_top_level(s: &str) -> Result<Vec<&str>, SelectorErrorReason> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.checked_sub(1).ok_or(SelectorErrorReason::UnbalancedClose)?,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(SelectorErrorReason::UnbalancedOpen);
    }
    parts.push(&s[start..]);
    Ok(parts)
}

fn valid_key(k: &str) -> Result<String, SelectorErrorReason> {
    let ok = !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if ok {
        Ok(k.to_owned())
    } else {
        Err(SelectorErrorReason::InvalidKey(k.to_owned()))
    }
}

fn valid_value(v: &str) -> Result<String, SelectorErrorReason> {
    let v = v.trim();
    if v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        Ok(v.to_owned())
    } else {
        Err(SelectorErrorReason::InvalidValue(v.to_owned()))
    }
}

fn parse_set(rest: &str) -> Result<Vec<String>, SelectorErrorReason> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| SelectorErrorReason::ExpectedSet(rest.to_owned()))?;
    inner.split(',').map(valid_value).collect()
}

fn parse_requirement(part: &str) -> Result<Requirement, SelectorErrorReason> {
    if let Some(k) = part.strip_prefix('!') {
        return Ok(Requirement { key: valid_key(k.trim())?, op: Op::DoesNotExist });
    }
    if let Some((k, v)) = part.split_once("!=") {
        return Ok(Requirement { key: valid_key(k.trim())?, op: Op::NotEq(valid_value(v)?) });
    }
    if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
        return Ok(Requirement { key: valid_key(k.trim())?, op: Op::Eq(valid_value(v)?) });
    }
    let mut words = part.splitn(2, char::is_whitespace);
    let key = words.next().unwrap_or_default();
    let rest = words.next().unwrap_or_default().trim_start();
    if rest.is_empty() {
        return Ok(Requirement { key: valid_key(key)?, op: Op::Exists });
    }
    if let Some(set) = rest.strip_prefix("notin") {
        return Ok(Requirement { key: valid_key(key)?, op: Op::NotIn(parse_set(set)?) });
    }
    if let Some(set) = rest.strip_prefix("in") {
        return Ok(Requirement { key: valid_key(key)?, op: Op::In(parse_set(set)?) });
    }
    Err(SelectorErrorReason::UnknownOperator(part.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn operators() {
        let l = labels(&[("app", "web"), ("tier", "front"), ("example.com/team", "a")]);
        let yes = [
            "",
            "app=web",
            "app==web",
            "app!=db",
            "missing!=x",
            "tier in (front, back)",
            "tier notin (back)",
            "missing notin (x)",
            "app",
            "!missing",
            "example.com/team=a,app=web",
            "app=web, tier in (front,edge), !legacy",
        ];
        for s in yes {
            assert!(Selector::parse(s).unwrap().matches(Some(&l)), "{s}");
        }
        for s in ["app=db", "app!=web", "tier in (back)", "tier notin (front)", "missing", "!app", "app=web,tier=x"] {
            assert!(!Selector::parse(s).unwrap().matches(Some(&l)), "{s}");
        }
        assert!(Selector::everything().matches(None));
        assert!(Selector::parse("app!=web").unwrap().matches(None));
    }

    #[test]
    fn errors() {
        use SelectorErrorReason as R;
        let cases = [
            ("app=web,", R::EmptyRequirement),
            ("tier in front", R::ExpectedSet("front".into())),
            ("tier in (a", R::UnbalancedOpen),
            ("a)", R::UnbalancedClose),
            ("a b c", R::UnknownOperator("a b c".into())),
            ("=x", R::InvalidKey(String::new())),
            ("a=b c", R::InvalidValue("b c".into())),
        ];
        for (s, reason) in cases {
            let err = Selector::parse(s).unwrap_err();
            assert_eq!((err.selector.as_str(), &err.reason), (s, &reason));
        }
        let err = Selector::parse("tier in front").unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid label selector \"tier in front\": expected a parenthesized set of values, found \"front\""
        );
    }
}
