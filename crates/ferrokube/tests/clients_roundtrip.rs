//! Round trip of the upstream API test fixtures (`k8s-api-testdata/HEAD/*.json`,
//! kubernetes/api's `testdata`): every fixture whose type k8s-openapi has is decoded
//! through the typed path (k8s-openapi type) and through the unstructured path
//! (`dynamic::Unstructured`), re-encoded, and compared as `serde_json::Value` with the
//! original.
//!
//! The unstructured path must be lossless for every fixture. The typed path is lossy
//! where a fixture carries fields the k8s-openapi version lacks; those fixtures are
//! listed in [`KNOWN_TYPED_DIFFERENCES`] with the reason, so a new difference (a
//! regression) fails the test, and so does a listed one that went away (the list must
//! be kept exact).

#[path = "support/testdata.rs"]
mod testdata;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use ferrokube::dynamic::Unstructured;

/// Fixtures whose typed round trip is known to differ, and why.
const KNOWN_TYPED_DIFFERENCES: &[(&str, &str)] = &[
    (
        "apps.v1.StatefulSet",
        "k8s-openapi serializes the embedded PersistentVolumeClaims of spec.volumeClaimTemplates \
         as full resources, adding apiVersion: v1 and kind: PersistentVolumeClaim that the fixture omits",
    ),
    (
        "policy.v1.PodDisruptionBudget",
        "status.disruptedPods maps a pod name to a Time; the fixture has a null value, which Go \
         decodes as the zero time but k8s-openapi's BTreeMap<String, Time> rejects",
    ),
];

type RoundTrip = fn(&Value) -> Result<Value, String>;

fn typed<T: serde::de::DeserializeOwned + serde::Serialize>(v: &Value) -> Result<Value, String> {
    let t: T = serde_json::from_value(v.clone()).map_err(|e| format!("decode: {e}"))?;
    serde_json::to_value(&t).map_err(|e| format!("encode: {e}"))
}

fn fixture_key(group: &str, version: &str, kind: &str) -> String {
    let group = if group.is_empty() { "core" } else { group };
    format!("{group}.{version}.{kind}")
}

macro_rules! builtin_table {
    ($(($g:expr, $v:expr, $k:expr, $t:ty)),* $(,)?) => {
        fn builtin_types() -> BTreeMap<String, RoundTrip> {
            let mut m: BTreeMap<String, RoundTrip> = BTreeMap::new();
            $( m.insert(fixture_key($g, $v, $k), typed::<$t> as RoundTrip); )*
            m
        }
    };
}
ferrokube::__ferrokube_for_each_builtin_type!(builtin_table);

fn all_types() -> BTreeMap<String, RoundTrip> {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
    let mut m = builtin_types();
    // Fixtures of apimachinery types that k8s-openapi models (not `Resource`s).
    m.insert("core.v1.APIGroup".into(), typed::<meta::APIGroup>);
    m.insert("core.v1.APIVersions".into(), typed::<meta::APIVersions>);
    m.insert("core.v1.Status".into(), typed::<meta::Status>);
    m.insert("core.v1.DeleteOptions".into(), typed::<meta::DeleteOptions>);
    m
}

/// Paths (JSON pointers) where `a` and `b` differ, at most `limit`.
fn diff(a: &Value, b: &Value, path: &str, out: &mut Vec<String>, limit: usize) {
    if out.len() >= limit {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, va) in x {
                match y.get(k) {
                    Some(vb) => diff(va, vb, &format!("{path}/{k}"), out, limit),
                    None => out.push(format!("{path}/{k} dropped")),
                }
            }
            for k in y.keys().filter(|k| !x.contains_key(*k)) {
                out.push(format!("{path}/{k} added"));
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                diff(va, vb, &format!("{path}/{i}"), out, limit);
            }
        }
        _ if a == b => {}
        _ => out.push(format!("{path}: {a} -> {b}")),
    }
}

#[test]
fn fixtures_round_trip_typed_and_unstructured() {
    let dir = testdata::fixtures_dir();
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "cannot read the k8s-api-testdata fixtures at {} ({e}); they are vendored under \
             tests/fixtures/k8s-api-testdata (K8S_API_TESTDATA names another copy)",
            dir.display()
        )
    });
    let types = all_types();
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty());

    let mut matched = Vec::new();
    let mut no_type = Vec::new();
    let mut typed_failures: BTreeMap<String, String> = BTreeMap::new();
    for path in &files {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let text = std::fs::read(path).unwrap();
        let original: Value = serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{name}: not JSON: {e}"));

        // Unstructured: always lossless.
        let u = Unstructured::from_value(original.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let back = serde_json::to_value(&u).unwrap();
        assert_eq!(back, original, "{name}: unstructured round trip changed the object");

        let Some(rt) = types.get(&name) else {
            no_type.push(name);
            continue;
        };
        match rt(&original) {
            Ok(v) if v == original => matched.push(name),
            Ok(v) => {
                let mut d = Vec::new();
                diff(&original, &v, "", &mut d, 6);
                typed_failures.insert(name, d.join("; "));
            }
            Err(e) => {
                typed_failures.insert(name, e);
            }
        }
    }
    eprintln!(
        "round trip: {} fixtures; unstructured: all {} lossless; typed: {} matched, {} differ, {} have no k8s-openapi type",
        files.len(),
        files.len(),
        matched.len(),
        typed_failures.len(),
        no_type.len()
    );
    for (n, why) in &typed_failures {
        eprintln!("  typed difference {n}: {why}");
    }
    eprintln!("  no k8s-openapi type: {}", no_type.join(" "));

    let known: BTreeMap<&str, &str> = KNOWN_TYPED_DIFFERENCES.iter().copied().collect();
    let unexpected: Vec<_> = typed_failures.keys().filter(|k| !known.contains_key(k.as_str())).collect();
    let fixed: Vec<_> = known.keys().filter(|k| !typed_failures.contains_key(**k)).collect();
    assert!(unexpected.is_empty(), "typed round trip regressed for {unexpected:?}");
    assert!(fixed.is_empty(), "these fixtures round-trip now; remove them from KNOWN_TYPED_DIFFERENCES: {fixed:?}");
    assert!(matched.len() >= 100, "only {} fixtures matched", matched.len());
}
