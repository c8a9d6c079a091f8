//! Arbitrary mutations of real requests: the sync never panics, and answers either a complete response or
//! an error. A complete response holds every workload that its own status names (but a StatefulSet never
//! observed that waits for a usable bucket Secret), and all the Services in front of them.
//!
//! `cargo test` runs a short run; `PROPTEST_CASES=100000 cargo test --release --test fuzz` runs the long one.

mod common;

use common::{Request, Rollout, as_stored};
use proptest::prelude::*;
use serde_json::{Value, json};

/// A realistic request: customize hook, both related objects, every child observed with server-set fields.
fn seed() -> Value {
    // Both Ingresses, each with its own TLS Secret, so that mutations reach every Ingress path.
    let ingress = json!({"exposePrometheus": true, "tlsPerHost": true});
    let first = Request::example()
        .spec("ingress", ingress.clone())
        .sync_json();
    Request::example()
        .spec("ingress", ingress)
        .customize()
        .config_map(
            "prometheus-config",
            &[(
                "prometheus.yml",
                "global:\n  external_labels:\n    a: b\nscrape_configs: []\n",
            )],
        )
        .secret("s3-bucket", &[("objstore.yml", "dHlwZTogUzMK")])
        .set("/status", first["status"].clone())
        .observe(as_stored(&first, Rollout::Done))
        .json()
}

/// Every JSON pointer in a value.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(o) => o.iter().for_each(|(k, v)| {
            let path = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
            out.push(path.clone());
            pointers(v, path, out);
        }),
        Value::Array(a) => a.iter().enumerate().for_each(|(i, v)| {
            let path = format!("{at}/{i}");
            out.push(path.clone());
            pointers(v, path, out);
        }),
        _ => {}
    }
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,20}".prop_map(Value::String),
        prop::sample::select(vec![
            "24h",
            "2h",
            "",
            "0s",
            "-1",
            "example",
            "a/b",
            "${POD_NAME}",
            "$(X)"
        ])
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    Remove(prop::sample::Index),
    Replace(prop::sample::Index, Value),
    Insert(prop::sample::Index, String, Value),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<prop::sample::Index>().prop_map(Mutation::Remove),
        (any::<prop::sample::Index>(), arbitrary_json()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        (
            any::<prop::sample::Index>(),
            "[a-zA-Z]{1,12}",
            arbitrary_json()
        )
            .prop_map(|(i, k, v)| Mutation::Insert(i, k, v)),
    ]
}

fn apply(request: &mut Value, mutation: &Mutation) {
    let mut paths = Vec::new();
    pointers(request, String::new(), &mut paths);
    match mutation {
        Mutation::Remove(index) => {
            let path: &String = index.get(&paths);
            let (parent, key) = path.rsplit_once('/').expect("pointers have a slash");
            match request.pointer_mut(parent) {
                Some(Value::Object(o)) => {
                    o.remove(&key.replace("~1", "/").replace("~0", "~"));
                }
                Some(Value::Array(a)) => {
                    if let Ok(i) = key.parse::<usize>()
                        && i < a.len()
                    {
                        a.remove(i);
                    }
                }
                _ => {}
            }
        }
        Mutation::Replace(index, value) => {
            if let Some(target) = request.pointer_mut(index.get(&paths).as_str()) {
                *target = value.clone();
            }
        }
        Mutation::Insert(index, key, value) => {
            if let Some(Value::Object(o)) = request.pointer_mut(index.get(&paths).as_str()) {
                o.insert(key.clone(), value.clone());
            }
        }
    }
}

/// The answer is either an error or complete.
fn check(
    answer: prometheus_replica_operator::Result<Vec<u8>>,
    request: Option<&Value>,
) -> Result<(), TestCaseError> {
    let Ok(body) = answer else {
        return Ok(());
    };
    let response: Value = serde_json::from_slice(&body).expect("answers are JSON");
    let children = response["children"]
        .as_array()
        .expect("answers have children");
    let has = |kind: &str, name: &str| {
        children
            .iter()
            .any(|c| c["kind"] == kind && c["metadata"]["name"] == name)
    };
    let local = &response["status"]["local"];
    for (field, kind) in [
        ("prometheuses", "StatefulSet"),
        ("stores", "StatefulSet"),
        ("queries", "Deployment"),
        ("compactors", "StatefulSet"),
    ] {
        for name in local[field].as_array().into_iter().flatten() {
            let name = name.as_str().expect("names are strings");
            // A StatefulSet that was never observed waits for a usable bucket Secret, and says so.
            let waits = kind == "StatefulSet"
                && response["status"]["warnings"]
                    .to_string()
                    .contains(&format!("StatefulSet {name} is created once"));
            if waits {
                // Observed as the hook reads it: by the `Kind.group/version` key and `metadata.name`.
                let observed = request.is_some_and(|r| {
                    r["children"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .filter(|(key, _)| key.starts_with(&format!("{kind}.")))
                        .filter_map(|(_, by_name)| by_name.as_object())
                        .flat_map(|m| m.values())
                        .any(|c| c["metadata"]["name"] == name)
                });
                prop_assert!(
                    !observed,
                    "the observed {kind} {name} is missing from a 200 answer"
                );
            } else {
                prop_assert!(
                    has(kind, name),
                    "{kind} {name} is missing from a 200 answer"
                );
            }
            prop_assert!(
                has("Service", name),
                "Service {name} is missing from a 200 answer"
            );
        }
    }
    prop_assert!(
        !local["prometheuses"].as_array().is_none_or(Vec::is_empty),
        "status.local names no workload"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_requests_answer_complete_or_not_at_all(mutations in prop::collection::vec(mutation(), 1..4)) {
        let mut request = seed();
        for mutation in &mutations {
            apply(&mut request, mutation);
        }
        let body = serde_json::to_vec(&request).unwrap();
        check(prometheus_replica_operator::sync_json(&body), Some(&request))?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        check(prometheus_replica_operator::sync_json(&body), None)?;
        let _ = prometheus_replica_operator::customize_json(&body);
    }
}

#[test]
fn the_seed_itself_answers_completely() {
    let body = serde_json::to_vec(&seed()).unwrap();
    let answer = prometheus_replica_operator::sync_json(&body).expect("the seed is valid");
    let response: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(response["children"].as_array().unwrap().len(), 25);
}
