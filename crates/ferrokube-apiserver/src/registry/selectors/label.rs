//! Label selectors in their string form (`k8s.io/apimachinery/pkg/labels`): `a=b`,
//! `a==b`, `a!=b`, `a in (x,y)`, `a notin (x,y)`, `a`, `!a`, `a>1`, `a<1`; a comma means AND.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// The operator of one requirement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `=` / `==` / `in`.
    In,
    /// `!=` / `notin`.
    NotIn,
    /// bare key.
    Exists,
    /// `!key`.
    DoesNotExist,
    /// `key > n`.
    Gt,
    /// `key < n`.
    Lt,
}

/// One requirement of a selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    /// Label key.
    pub key: String,
    /// Operator.
    pub op: Op,
    /// Values (one for `=`, `!=`, `<`, `>`).
    pub values: BTreeSet<String>,
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector {
    /// Requirements, all of which must hold.
    pub requirements: Vec<Requirement>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Eq,
    DoubleEq,
    NotEq,
    Not,
    In,
    NotInKw,
    Open,
    Close,
    Comma,
    Gt,
    Lt,
}

impl Tok {
    fn show(&self) -> String {
        match self {
            Tok::Ident(s) => s.clone(),
            Tok::Eq => "=".into(),
            Tok::DoubleEq => "==".into(),
            Tok::NotEq => "!=".into(),
            Tok::Not => "!".into(),
            Tok::In => "in".into(),
            Tok::NotInKw => "notin".into(),
            Tok::Open => "(".into(),
            Tok::Close => ")".into(),
            Tok::Comma => ",".into(),
            Tok::Gt => ">".into(),
            Tok::Lt => "<".into(),
        }
    }
}

fn lex(s: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            c if c.is_whitespace() => i += 1,
            '=' if next == Some('=') => {
                out.push(Tok::DoubleEq);
                i += 2
            }
            '=' => {
                out.push(Tok::Eq);
                i += 1
            }
            '!' if next == Some('=') => {
                out.push(Tok::NotEq);
                i += 2
            }
            '!' => {
                out.push(Tok::Not);
                i += 1
            }
            '(' => {
                out.push(Tok::Open);
                i += 1
            }
            ')' => {
                out.push(Tok::Close);
                i += 1
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1
            }
            '>' => {
                out.push(Tok::Gt);
                i += 1
            }
            '<' => {
                out.push(Tok::Lt);
                i += 1
            }
            _ => {
                let start = i;
                while i < chars.len() && !chars[i].is_whitespace() && !"=!(),<>".contains(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                out.push(match word.as_str() {
                    "in" => Tok::In,
                    "notin" => Tok::NotInKw,
                    _ => Tok::Ident(word),
                });
            }
        }
    }
    out
}

const VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const NAME_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

fn is_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
}

/// Checks a label key (a qualified name: optional DNS subdomain prefix and `/`, then a
/// name of at most 63 characters).
pub fn validate_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        if p.is_empty() {
            return Err("prefix part must be non-empty".into());
        }
        if p.len() > 253 || !crate::registry::validation::is_subdomain_syntax(p) {
            return Err("prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character".into());
        }
    }
    if name.is_empty() {
        return Err("name part must be non-empty".into());
    }
    if name.len() > 63 {
        return Err("name part must be no more than 63 characters".into());
    }
    if !is_name_part(name) {
        return Err(NAME_MSG.into());
    }
    Ok(())
}

/// Checks a label value (empty, or at most 63 name-part characters).
pub fn validate_value(value: &str) -> Result<(), String> {
    if value.len() > 63 {
        return Err("must be no more than 63 characters".into());
    }
    if !value.is_empty() && !is_name_part(value) {
        return Err(VALUE_MSG.into());
    }
    Ok(())
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
}

fn found(t: Option<&Tok>) -> String {
    t.map(Tok::show).unwrap_or_else(|| "end of string".into())
}

fn err(msg: String) -> String {
    format!("unable to parse requirement: {msg}")
}

impl LabelSelector {
    /// Parses the string form; the error is the message of a 400 BadRequest.
    pub fn parse(s: &str) -> Result<LabelSelector, String> {
        let mut p = Parser { toks: lex(s), pos: 0 };
        let mut requirements = Vec::new();
        if p.toks.is_empty() {
            return Ok(LabelSelector { requirements });
        }
        loop {
            requirements.push(parse_requirement(&mut p)?);
            match p.next() {
                None => break,
                Some(Tok::Comma) => continue,
                Some(t) => return Err(err(format!("found '{}', expected: ',' or 'end of string'", t.show()))),
            }
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector { requirements })
    }

    /// Whether the selector has no requirement.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        self.requirements.iter().all(|r| {
            let v = labels.and_then(|l| l.get(&r.key)).and_then(Value::as_str);
            match r.op {
                Op::Exists => v.is_some(),
                Op::DoesNotExist => v.is_none(),
                Op::In => v.is_some_and(|v| r.values.contains(v)),
                Op::NotIn => v.is_none_or(|v| !r.values.contains(v)),
                Op::Gt | Op::Lt => {
                    let (Some(have), Some(want)) = (
                        v.and_then(|v| v.parse::<i64>().ok()),
                        r.values.iter().next().and_then(|w| w.parse::<i64>().ok()),
                    ) else {
                        return false;
                    };
                    if r.op == Op::Gt {
                        have > want
                    } else {
                        have < want
                    }
                }
            }
        })
    }

    /// Whether the `metadata.labels` of `obj` satisfy the selector.
    pub fn matches_object(&self, obj: &Value) -> bool {
        if self.requirements.is_empty() {
            return true;
        }
        self.matches(obj.pointer("/metadata/labels").and_then(Value::as_object))
    }

    /// The string form of a `metav1.LabelSelector` (`matchLabels`, `matchExpressions`),
    /// as used in `Scale.status.selector`; `None` when it is malformed.
    pub fn string_from_label_selector(sel: &Value) -> Option<String> {
        let mut parts: Vec<(String, String)> = Vec::new();
        if let Some(ml) = sel.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in ml {
                parts.push((k.clone(), format!("{k}={}", v.as_str()?)));
            }
        }
        if let Some(me) = sel.get("matchExpressions").and_then(Value::as_array) {
            for e in me {
                let key = e.get("key")?.as_str()?;
                let vals: Vec<&str> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let mut vals = vals;
                vals.sort_unstable();
                let s = match e.get("operator")?.as_str()? {
                    "In" => format!("{key} in ({})", vals.join(",")),
                    "NotIn" => format!("{key} notin ({})", vals.join(",")),
                    "Exists" => key.to_owned(),
                    "DoesNotExist" => format!("!{key}"),
                    _ => return None,
                };
                parts.push((key.to_owned(), s));
            }
        }
        parts.sort();
        Some(parts.into_iter().map(|(_, s)| s).collect::<Vec<_>>().join(","))
    }
}

fn parse_requirement(p: &mut Parser) -> Result<Requirement, String> {
    let negate = if p.peek() == Some(&Tok::Not) {
        p.next();
        true
    } else {
        false
    };
    let key = match p.next() {
        Some(Tok::Ident(k)) => k,
        t => return Err(err(format!("found '{}', expected: identifier", found(t.as_ref())))),
    };
    validate_key(&key).map_err(|e| err(format!("key: Invalid value: {key:?}: {e}")))?;
    let mut values = BTreeSet::new();
    if negate {
        return Ok(Requirement { key, op: Op::DoesNotExist, values });
    }
    let op = match p.peek() {
        None | Some(Tok::Comma) => return Ok(Requirement { key, op: Op::Exists, values }),
        Some(Tok::Eq) | Some(Tok::DoubleEq) => Op::In,
        Some(Tok::NotEq) => Op::NotIn,
        Some(Tok::Gt) => Op::Gt,
        Some(Tok::Lt) => Op::Lt,
        Some(Tok::In) => Op::In,
        Some(Tok::NotInKw) => Op::NotIn,
        Some(t) => return Err(err(format!("found '{}', expected: in, notin, =, ==, !=, gt, lt", t.show()))),
    };
    let set_op = matches!(p.next(), Some(Tok::In) | Some(Tok::NotInKw));
    if set_op {
        match p.next() {
            Some(Tok::Open) => {}
            t => return Err(err(format!("found '{}', expected: '('", found(t.as_ref())))),
        }
        loop {
            match p.next() {
                Some(Tok::Ident(v)) => {
                    values.insert(v);
                    match p.next() {
                        Some(Tok::Comma) => continue,
                        Some(Tok::Close) => break,
                        t => return Err(err(format!("found '{}', expected: ',', ')'", found(t.as_ref())))),
                    }
                }
                Some(Tok::Comma) => {
                    values.insert(String::new());
                }
                Some(Tok::Close) => break,
                t => return Err(err(format!("found '{}', expected: ',', ')' or identifier", found(t.as_ref())))),
            }
        }
        if values.is_empty() {
            return Err(err("for 'in', 'notin' operators, values set can't be empty".into()));
        }
    } else {
        match p.peek() {
            Some(Tok::Ident(_)) => {
                if let Some(Tok::Ident(v)) = p.next() {
                    values.insert(v);
                }
            }
            None | Some(Tok::Comma) => {
                values.insert(String::new());
            }
            Some(t) => return Err(err(format!("found '{}', expected: identifier", t.show()))),
        }
        if matches!(op, Op::Gt | Op::Lt) {
            let v = values.iter().next().cloned().unwrap_or_default();
            if v.parse::<i64>().is_err() {
                return Err(err(format!(
                    "values[0]: Invalid value: {v:?}: for 'Gt', 'Lt' operators, the value must be an integer"
                )));
            }
            return Ok(Requirement { key, op, values });
        }
    }
    for v in &values {
        validate_value(v).map_err(|e| err(format!("values[0][{key}]: Invalid value: {v:?}: {e}")))?;
    }
    Ok(Requirement { key, op, values })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(sel: &str, labels: Value) -> bool {
        LabelSelector::parse(sel).unwrap().matches(labels.as_object())
    }

    #[test]
    fn operators() {
        let l = json!({"app": "web", "tier": "front", "n": "5"});
        assert!(m("", l.clone()));
        assert!(m("app=web", l.clone()));
        assert!(m("app==web", l.clone()));
        assert!(!m("app=db", l.clone()));
        assert!(m("app!=db", l.clone()));
        assert!(m("missing!=db", l.clone()));
        assert!(m("app in (db, web)", l.clone()));
        assert!(!m("app notin (db,web)", l.clone()));
        assert!(m("missing notin (db)", l.clone()));
        assert!(m("app", l.clone()));
        assert!(!m("missing", l.clone()));
        assert!(m("!missing", l.clone()));
        assert!(!m("!app", l.clone()));
        assert!(m("app=web,tier=front", l.clone()));
        assert!(!m("app=web,tier=back", l.clone()));
        assert!(m("n>4,n<6", l.clone()));
        assert!(!m("n>5", l.clone()));
        assert!(m("example.com/x!=y", l.clone()));
        assert!(m(" app = web , ! gone ", l));
    }

    #[test]
    fn errors() {
        for bad in ["app in db", "app in ()", "=x", "app=web,", "a b", "app in (x", "Bad Key=1", "a=b=c", "a>x", "a="] {
            if bad == "a=" {
                assert!(LabelSelector::parse(bad).is_ok(), "empty value is allowed");
                continue;
            }
            let e = LabelSelector::parse(bad).unwrap_err();
            assert!(e.starts_with("unable to parse requirement: "), "{bad}: {e}");
        }
        let e = LabelSelector::parse("app=in val").unwrap_err();
        assert!(e.contains("found"), "{e}");
        let e = LabelSelector::parse("a=b_").unwrap_err();
        assert!(e.contains("a valid label must be"), "{e}");
    }

    #[test]
    fn from_label_selector() {
        let s = json!({"matchLabels": {"b": "2", "a": "1"}, "matchExpressions": [{"key": "c", "operator": "In", "values": ["y", "x"]}, {"key": "d", "operator": "DoesNotExist"}]});
        assert_eq!(LabelSelector::string_from_label_selector(&s).unwrap(), "a=1,b=2,c in (x,y),!d");
    }
}
