//! Label selectors (`k8s.io/apimachinery/pkg/labels`): the one implementation the
//! client (its informers' listers, `tools::cache::Selector`) and the server (the
//! `labelSelector` of list, watch and deletecollection; the workload controllers;
//! PodDisruptionBudgets; `Scale.status.selector`) both use, so they select exactly the
//! same objects.
//!
//! - [`Selector::parse`] reads the string form (`app=web,tier in (a,b),!legacy`) with
//!   `labels.Parse`'s grammar, validation and error messages (the grammar is in its
//!   docs); [`Selector`]'s `Display` writes it back as `labels.Selector.String()` does.
//! - [`Selector::from_label_selector`] converts a `metav1.LabelSelector` (`matchLabels`,
//!   `matchExpressions`) as `metav1.LabelSelectorAsSelector` does.
//! - [`Selector::matches`] and friends evaluate it against a label map:
//!   `=`/`==`/`in` need the label with one of the values; `!=`/`notin` also match
//!   objects without the label; `>`/`<` compare integers (a label that is not an
//!   integer does not match); an empty selector matches everything.
//! - [`validation`] holds the label key and value rules, with Kubernetes' messages.

mod error;
mod parse;
pub mod validation;

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

pub use error::{Expected, FieldError, SelectorError, SelectorErrorReason};

/// The operator of a [`Requirement`] (`selection.Operator`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `key in (v1,v2)`.
    In,
    /// `key notin (v1,v2)`: the label is absent or has none of the values.
    NotIn,
    /// `key=v`.
    Equals,
    /// `key==v`.
    DoubleEquals,
    /// `key!=v`: the label is absent or has another value.
    NotEquals,
    /// `key`: the label is present.
    Exists,
    /// `!key`: the label is absent.
    DoesNotExist,
    /// `key>n`: the label is an integer greater than `n`.
    GreaterThan,
    /// `key<n`: the label is an integer less than `n`.
    LessThan,
}

/// One requirement of a [`Selector`]: a key, an operator and its values.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Requirement {
    key: String,
    operator: Operator,
    values: Vec<String>,
}

impl Requirement {
    /// A requirement checked as `labels.NewRequirement` checks it: a valid label key;
    /// valid label values; one value for `=`, `==`, `!=`; none for `Exists` and
    /// `DoesNotExist`; at least one for `in`/`notin`; one integer for `>`/`<`.
    pub fn new(key: impl Into<String>, operator: Operator, values: Vec<String>) -> Result<Self, SelectorErrorReason> {
        let key = key.into();
        let mut errs = Vec::new();
        let problems = validation::is_label_key(&key);
        if !problems.is_empty() {
            errs.push(FieldError::invalid("key", &key, problems.join("; ")));
        }
        match operator {
            Operator::In | Operator::NotIn if values.is_empty() => errs.push(FieldError::invalid_list(
                "values",
                &values,
                "for 'in', 'notin' operators, values set can't be empty",
            )),
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals if values.len() != 1 => errs.push(
                FieldError::invalid_list("values", &values, "exact-match compatibility requires one single value"),
            ),
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => errs.push(FieldError::invalid_list(
                "values",
                &values,
                "values set must be empty for exists and does not exist",
            )),
            Operator::GreaterThan | Operator::LessThan => {
                if values.len() != 1 {
                    errs.push(FieldError::invalid_list(
                        "values",
                        &values,
                        "for 'Gt', 'Lt' operators, exactly one value is required",
                    ));
                }
                for (i, v) in values.iter().enumerate() {
                    if v.parse::<i64>().is_err() {
                        errs.push(FieldError::invalid(
                            format!("values[{i}]"),
                            v,
                            "for 'Gt', 'Lt' operators, the value must be an integer",
                        ));
                    }
                }
            }
            _ => {}
        }
        for (i, v) in values.iter().enumerate() {
            let problems = validation::is_label_value(v);
            if !problems.is_empty() {
                errs.push(FieldError::invalid(format!("values[{i}][{key}]"), v, problems.join("; ")));
            }
        }
        if errs.is_empty() {
            Ok(Requirement { key, operator, values })
        } else {
            Err(SelectorErrorReason::InvalidRequirement(errs))
        }
    }

    /// The label key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The values (sorted and deduplicated when parsed from a string).
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether a label with this key and `value` (`None`: the object does not have
    /// the label) satisfies this requirement.
    pub fn matches_value(&self, value: Option<&str>) -> bool {
        let has = |v: &str| self.values.iter().any(|x| x == v);
        match self.operator {
            Operator::In | Operator::Equals | Operator::DoubleEquals => value.is_some_and(has),
            Operator::NotIn | Operator::NotEquals => !value.is_some_and(has),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let (Some(have), [want]) = (value.and_then(|v| v.parse::<i64>().ok()), self.values.as_slice()) else {
                    return false;
                };
                let Ok(want) = want.parse::<i64>() else { return false };
                if self.operator == Operator::GreaterThan {
                    have > want
                } else {
                    have < want
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    /// `labels.Requirement.String()`: `key=v`, `key in (a,b)` (values sorted), `!key`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.operator == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let op = match self.operator {
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => " in ",
            Operator::NotIn => " notin ",
            Operator::GreaterThan => ">",
            Operator::LessThan => "<",
            Operator::Exists | Operator::DoesNotExist => return Ok(()),
        };
        f.write_str(op)?;
        let set = matches!(self.operator, Operator::In | Operator::NotIn);
        if set {
            f.write_str("(")?;
        }
        let mut values: Vec<&str> = self.values.iter().map(String::as_str).collect();
        values.sort_unstable();
        f.write_str(&values.join(","))?;
        if set {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// A label selector: requirements sorted by key, all of which must hold. The empty
/// selector matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

impl Selector {
    /// The selector that matches everything (`labels.Everything()`).
    pub fn everything() -> Self {
        Selector::default()
    }

    /// A selector of the given requirements (sorted by key, as `Selector.Add` does).
    pub fn from_requirements(requirements: impl IntoIterator<Item = Requirement>) -> Self {
        let mut requirements: Vec<Requirement> = requirements.into_iter().collect();
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Selector { requirements }
    }

    /// The selector `k1=v1,k2=v2` of a label map, unvalidated
    /// (`labels.SelectorFromSet`).
    pub fn from_set(labels: &BTreeMap<String, String>) -> Self {
        let requirements = labels
            .iter()
            .map(|(k, v)| Requirement { key: k.clone(), operator: Operator::Equals, values: vec![v.clone()] })
            .collect();
        Selector { requirements }
    }

    /// Whether this selector has no requirement (matches everything).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Parses the API's `labelSelector` syntax (Kubernetes' `labels.Parse`).
    ///
    /// ```text
    /// selector    := requirement ("," requirement)* | ""
    /// requirement := "!" KEY | KEY [ op VALUE | ("in" | "notin") "(" values ")" ]
    /// op          := "=" | "==" | "!=" | ">" | "<"
    /// values      := VALUE ("," VALUE)*       (empty values allowed: "(a,,b)", "()")
    /// ```
    ///
    /// As in Kubernetes: whitespace is space, tab, CR and LF; `in` and `notin` are
    /// keywords only where an operator stands (`in=notin` is key `in`, value `notin`);
    /// a NUL byte ends the selector; the values of a set are sorted and deduplicated;
    /// the requirements are sorted by key; keys and values are validated with
    /// [`validation`], and `>`/`<` take an integer. Errors carry Kubernetes' message
    /// ([`SelectorError::kube_message`]).
    ///
    /// ```
    /// use ferrokube_apimachinery::labels::Selector;
    /// let s = Selector::parse("app=web, tier in (front,edge), !legacy").unwrap();
    /// let labels = [("app".to_owned(), "web".to_owned()), ("tier".to_owned(), "edge".to_owned())].into();
    /// assert!(s.matches(Some(&labels)));
    /// assert!(!s.matches(None));
    /// assert_eq!(s.to_string(), "app=web,!legacy,tier in (edge,front)");
    /// ```
    pub fn parse(selector: &str) -> Result<Self, SelectorError> {
        match parse::parse(selector) {
            Ok(requirements) => Ok(Selector { requirements }),
            Err(reason) => Err(SelectorError { selector: selector.to_owned(), reason }),
        }
    }

    /// The selector of a `metav1.LabelSelector` in its JSON form, as
    /// `metav1.LabelSelectorAsSelector` converts it: `None` for `null` (a selector
    /// that matches nothing), the empty selector (everything) for `{}`, otherwise one
    /// requirement per `matchLabels` entry (`k=v`) and per `matchExpressions` item.
    pub fn from_label_selector(selector: &Value) -> Result<Option<Self>, SelectorErrorReason> {
        let malformed = |what: &str| SelectorErrorReason::Malformed(what.to_owned());
        let sel = match selector {
            Value::Null => return Ok(None),
            Value::Object(sel) => sel,
            _ => return Err(malformed("not an object")),
        };
        let mut requirements = Vec::new();
        match sel.get("matchLabels") {
            None | Some(Value::Null) => {}
            Some(Value::Object(labels)) => {
                for (k, v) in labels {
                    let v = v.as_str().ok_or_else(|| malformed("matchLabels values must be strings"))?;
                    requirements.push(Requirement::new(k.clone(), Operator::Equals, vec![v.to_owned()])?);
                }
            }
            Some(_) => return Err(malformed("matchLabels must be an object")),
        }
        match sel.get("matchExpressions") {
            None | Some(Value::Null) => {}
            Some(Value::Array(exprs)) => {
                for e in exprs {
                    let field = |name: &str| e.get(name).filter(|v| !v.is_null());
                    let key = match field("key") {
                        None => "",
                        Some(k) => k.as_str().ok_or_else(|| malformed("matchExpressions key must be a string"))?,
                    };
                    let operator = match field("operator") {
                        None => "",
                        Some(o) => o.as_str().ok_or_else(|| malformed("matchExpressions operator must be a string"))?,
                    };
                    let operator = match operator {
                        "In" => Operator::In,
                        "NotIn" => Operator::NotIn,
                        "Exists" => Operator::Exists,
                        "DoesNotExist" => Operator::DoesNotExist,
                        other => return Err(SelectorErrorReason::InvalidOperator(other.to_owned())),
                    };
                    let values = match field("values") {
                        None => Vec::new(),
                        Some(Value::Array(vs)) => vs
                            .iter()
                            .map(|v| v.as_str().map(str::to_owned))
                            .collect::<Option<Vec<_>>>()
                            .ok_or_else(|| malformed("matchExpressions values must be strings"))?,
                        Some(_) => return Err(malformed("matchExpressions values must be a list")),
                    };
                    requirements.push(Requirement::new(key, operator, values)?);
                }
            }
            Some(_) => return Err(malformed("matchExpressions must be a list")),
        }
        Ok(Some(Selector::from_requirements(requirements)))
    }

    /// Whether `labels` (an object's `metadata.labels`) satisfy every requirement.
    pub fn matches(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        self.matches_with(|key| labels.and_then(|l| l.get(key)).map(String::as_str))
    }

    /// Whether the labels read through `label` (key to value) satisfy every
    /// requirement; for objects whose labels are not a `BTreeMap`, such as dynamic ones.
    pub fn matches_with<'a>(&self, label: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.requirements.iter().all(|r| r.matches_value(label(&r.key)))
    }

    /// Whether a JSON label map satisfies every requirement (a value that is not a
    /// string counts as absent).
    pub fn matches_json(&self, labels: Option<&Map<String, Value>>) -> bool {
        self.matches_with(|key| labels.and_then(|l| l.get(key)).and_then(Value::as_str))
    }

    /// Whether the `metadata.labels` of the JSON object `obj` satisfy every requirement.
    pub fn matches_object(&self, obj: &Value) -> bool {
        self.is_empty() || self.matches_json(obj.pointer("/metadata/labels").and_then(Value::as_object))
    }
}

impl fmt::Display for Selector {
    /// `labels.Selector.String()`: the requirements joined with `,`; parsing it gives
    /// the same selector back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Selector {
    type Err = SelectorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Selector::parse(s)
    }
}

#[cfg(test)]
mod tests;
