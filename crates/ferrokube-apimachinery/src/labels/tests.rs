//! Unit tests of label selectors: parsing (grammar, validation, Kubernetes' messages),
//! matching, the string form, and `metav1.LabelSelector` conversion. The cases come
//! from the three implementations this one replaced (client lister, server list/watch,
//! server controllers) plus the corners of `labels.Parse`.

use serde_json::json;

use super::*;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn kube_error(s: &str) -> String {
    Selector::parse(s).unwrap_err().kube_message()
}

#[test]
fn operators() {
    let l = labels(&[("app", "web"), ("tier", "front"), ("example.com/team", "a"), ("n", "5"), ("empty", "")]);
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
        " app = web , ! gone ",
        "n>4,n<6",
        "empty=",
        "empty in ()",
        "empty in (x,)",
        "app in (web,,x)",
    ];
    for s in yes {
        assert!(Selector::parse(s).unwrap().matches(Some(&l)), "{s}");
    }
    let no = [
        "app=db",
        "app!=web",
        "tier in (back)",
        "tier notin (front)",
        "missing",
        "!app",
        "app=web,tier=x",
        "n>5",
        "n<5",
        "app>1",
        "missing<10",
        "missing in ()",
    ];
    for s in no {
        assert!(!Selector::parse(s).unwrap().matches(Some(&l)), "{s}");
    }
    assert!(Selector::everything().matches(None));
    assert!(Selector::parse("app!=web").unwrap().matches(None));
    assert!(!Selector::parse("app").unwrap().matches(None));
}

#[test]
fn keywords_are_words_outside_the_operator() {
    let l = labels(&[("in", "notin"), ("x", "in")]);
    for s in ["in=notin", "in", "x in (in,notin)", "x==in", "notin!=x"] {
        assert!(Selector::parse(s).unwrap().matches(Some(&l)), "{s}");
    }
}

#[test]
fn json_labels_and_objects() {
    let s = Selector::parse("app=web,!gone").unwrap();
    let obj = json!({"metadata": {"labels": {"app": "web", "n": 5}}});
    assert!(s.matches_object(&obj));
    assert!(!s.matches_object(&json!({"metadata": {}})));
    assert!(Selector::everything().matches_object(&json!("not an object")));
    // A label that is not a string counts as absent.
    assert!(!Selector::parse("n").unwrap().matches_object(&obj));
    assert!(s.matches_with(|k| (k == "app").then_some("web")));
}

#[test]
fn string_form_round_trips() {
    let cases = [
        ("b=1,a=2", "a=2,b=1"),
        ("x in (c,a,b,a)", "x in (a,b,c)"),
        ("x notin (a), !y, z, w==1, v!=2, n>1, m<2", "m<2,n>1,v!=2,w==1,x notin (a),!y,z"),
        ("a in ()", "a in ()"),
        ("a=", "a="),
    ];
    for (input, want) in cases {
        let s = Selector::parse(input).unwrap();
        assert_eq!(s.to_string(), want, "{input}");
        assert_eq!(Selector::parse(want).unwrap(), s, "{want}");
    }
    assert_eq!(Selector::everything().to_string(), "");
    assert_eq!(Selector::from_set(&labels(&[("b", "2"), ("a", "1")])).to_string(), "a=1,b=2");
}

#[test]
fn requirements_are_sorted_by_key() {
    let s = Selector::parse("z, a=1, m in (x)").unwrap();
    let keys: Vec<&str> = s.requirements().iter().map(Requirement::key).collect();
    assert_eq!(keys, ["a", "m", "z"]);
    assert_eq!(s.requirements()[1].operator(), Operator::In);
    assert_eq!(s.requirements()[1].values(), ["x"]);
}

#[test]
fn grammar_errors_carry_kubernetes_messages() {
    let cases = [
        ("app=web,", "found '', expected: identifier after ','"),
        (",a", "found ',', expected: !, identifier, or 'end of string'"),
        ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
        ("a=b c", "found 'c', expected: ',' or 'end of string'"),
        ("!a=b", "found '=', expected: ',' or 'end of string'"),
        ("=x", "found '=', expected: !, identifier, or 'end of string'"),
        ("!=x", "found '!=', expected: !, identifier, or 'end of string'"),
        ("!", "unable to parse requirement: found '', expected: identifier"),
        ("a (", "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt"),
        ("tier in front", "unable to parse requirement: found 'front' expected: '('"),
        ("tier in (a", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("tier in (a b)", "unable to parse requirement: found 'b', expected: ',' or ')'"),
        ("tier in (,=)", "unable to parse requirement: found '=', expected: ',', or identifier"),
        ("tier in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"),
        ("a=(", "unable to parse requirement: found '(', expected: identifier"),
        ("a=in val", "found 'val', expected: ',' or 'end of string'"),
    ];
    for (input, want) in cases {
        assert_eq!(kube_error(input), want, "{input}");
    }
    let e = Selector::parse("tier in front").unwrap_err();
    assert_eq!(e.reason, SelectorErrorReason::Unexpected { found: "front".into(), expected: Expected::OpenParen });
    assert_eq!(e.selector, "tier in front");
    assert_eq!(
        e.to_string(),
        "invalid label selector \"tier in front\": found 'front' expected: '('",
        "Display names the selector"
    );
}

#[test]
fn validation_errors_carry_kubernetes_messages() {
    let e = Selector::parse("-a=1").unwrap_err();
    assert!(
        matches!(&e.reason, SelectorErrorReason::InvalidKey { key, problems } if key == "-a" && problems.len() == 1)
    );
    assert_eq!(
        e.kube_message(),
        "unable to parse requirement: <nil>: Invalid value: \"-a\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
    );
    assert_eq!(
        kube_error("a=b_"),
        "unable to parse requirement: values[0][a]: Invalid value: \"b_\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
    );
    assert_eq!(
        kube_error("a>x"),
        "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value must be an integer"
    );
    // `-1` is an integer but not a label value.
    assert!(kube_error("a<-1")
        .starts_with("unable to parse requirement: values[0][a]: Invalid value: \"-1\": a valid label"));
    // Two problems with one requirement are aggregated in brackets.
    let both = kube_error("a>x_");
    assert!(both.starts_with("unable to parse requirement: [values[0]: Invalid value: \"x_\": for 'Gt'"), "{both}");
    assert!(both.contains(", values[0][a]: Invalid value: \"x_\": a valid label"), "{both}");
    // The index is that of the sorted values.
    assert!(kube_error("a in (z, b_)").contains("values[0][a]: Invalid value: \"b_\""));
    assert!(kube_error(&format!("a={}", "v".repeat(64))).contains("must be no more than 63 bytes"));
}

#[test]
fn new_requirement_checks_value_counts() {
    let err = |op, values: &[&str]| {
        Requirement::new("k", op, values.iter().map(|v| v.to_string()).collect()).unwrap_err().to_string()
    };
    assert_eq!(
        err(Operator::In, &[]),
        "values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty"
    );
    assert_eq!(
        err(Operator::Equals, &["a", "b"]),
        "values: Invalid value: [\"a\",\"b\"]: exact-match compatibility requires one single value"
    );
    assert_eq!(
        err(Operator::Exists, &["a"]),
        "values: Invalid value: [\"a\"]: values set must be empty for exists and does not exist"
    );
    assert!(err(Operator::GreaterThan, &[]).contains("exactly one value is required"));
    assert!(Requirement::new("bad key", Operator::Exists, vec![])
        .unwrap_err()
        .to_string()
        .starts_with("key: Invalid value: \"bad key\": name part"));
}

#[test]
fn from_label_selector_converts_like_kubernetes() {
    let s = json!({"matchLabels": {"b": "2", "a": "1"}, "matchExpressions": [
        {"key": "c", "operator": "In", "values": ["y", "x"]},
        {"key": "d", "operator": "DoesNotExist"},
        {"key": "e", "operator": "NotIn", "values": ["1"]},
        {"key": "f", "operator": "Exists", "values": null}
    ]});
    let sel = Selector::from_label_selector(&s).unwrap().unwrap();
    assert_eq!(sel.to_string(), "a=1,b=2,c in (x,y),!d,e notin (1),f");
    assert!(sel.matches(Some(&labels(&[("a", "1"), ("b", "2"), ("c", "x"), ("f", "")]))));
    assert!(!sel.matches(Some(&labels(&[("a", "1"), ("b", "2"), ("c", "x")]))));

    assert_eq!(Selector::from_label_selector(&json!(null)), Ok(None), "null selects nothing");
    assert_eq!(Selector::from_label_selector(&json!({})), Ok(Some(Selector::everything())), "{{}} selects everything");
    assert_eq!(
        Selector::from_label_selector(&json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}))
            .unwrap_err()
            .to_string(),
        "\"Gt\" is not a valid label selector operator"
    );
    assert!(matches!(
        Selector::from_label_selector(&json!({"matchExpressions": [{"key": "a", "operator": "In"}]})),
        Err(SelectorErrorReason::InvalidRequirement(_))
    ));
    assert!(matches!(Selector::from_label_selector(&json!("garbage")), Err(SelectorErrorReason::Malformed(_))));
    assert!(matches!(
        Selector::from_label_selector(&json!({"matchLabels": {"a": 1}})),
        Err(SelectorErrorReason::Malformed(_))
    ));
}

#[test]
fn from_str() {
    let s: Selector = "a=b".parse().unwrap();
    assert_eq!(s.to_string(), "a=b");
    assert!("a b c".parse::<Selector>().is_err());
}
