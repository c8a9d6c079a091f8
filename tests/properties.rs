//! Properties over generated valid specs: rendering never fails or panics, is deterministic, every name fits,
//! every selector matches its pods, every Service and budget selects exactly one workload, and observing the
//! answer back changes no child.
//!
//! `PROPTEST_CASES` sets the number of cases (default 64 here, so `cargo test` stays quick).

mod common;

use std::collections::BTreeMap;

use common::apply::merge_diffs;
use common::{Request, Rollout, as_stored};
use proptest::prelude::*;
use serde_json::{Value, json};

fn duration() -> impl Strategy<Value = String> {
    (1u32..400, prop::sample::select(vec!["d", "h", "m", "w"]))
        .prop_map(|(n, unit)| format!("{n}{unit}"))
}

fn name() -> impl Strategy<Value = String> {
    "[a-z]([a-z0-9-]{0,35}[a-z0-9])?"
}

fn spec() -> impl Strategy<Value = Value> {
    (
        (
            any::<Option<bool>>(),
            proptest::option::of(1i32..=10),
            proptest::option::of(1i32..=100),
        ),
        (
            proptest::option::of(duration()),
            proptest::option::of(duration()),
        ),
        proptest::option::of("[a-z]{1,10}(\\.[a-z]{2,6}){1,2}"),
        (
            any::<Option<bool>>(),
            prop::collection::btree_map("[a-z][a-z_]{0,8}", "[ -~]{0,12}", 0..3),
        ),
        proptest::option::of("[a-z][a-z_]{0,10}"),
        (
            proptest::option::of(prop::sample::select(vec!["soft", "hard"])),
            any::<Option<bool>>(),
            proptest::option::of(1i32..=100),
            any::<Option<bool>>(),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (ha, prom, query),
                (retention, block),
                domain,
                (compact, labels),
                replica_label,
                (anti, frontend, frontend_replicas, monitoring, grafana),
            )| {
                let mut spec = json!({"configMap": "prometheus-config", "bucketSecret": "bucket"});
                let mut set = |key: &str, value: Value| {
                    spec[key] = value;
                };
                if let Some(ha) = ha {
                    set("highlyAvailable", json!(ha));
                }
                set(
                    "replicas",
                    json!({"prometheus": prom, "query": query, "queryFrontend": frontend_replicas}),
                );
                if let Some(frontend) = frontend {
                    set("queryFrontend", json!({"enabled": frontend}));
                }
                if grafana {
                    set(
                        "grafana",
                        json!({"enabled": true, "adminSecret": "grafana-admin"}),
                    );
                }
                if let Some(monitoring) = monitoring {
                    set("monitoring", json!({"enabled": monitoring}));
                    set(
                        "alerting",
                        json!({"alertmanagers": ["http://alertmanager.monitoring.svc:9093"]}),
                    );
                }
                set(
                    "metrics",
                    json!({"retention": retention, "blockDuration": block}),
                );
                if let Some(domain) = domain {
                    set("baseDomain", json!(domain));
                }
                if let Some(compact) = compact {
                    set("compact", json!({"enabled": compact}));
                }
                set("externalLabels", json!(labels));
                if let Some(label) = replica_label.filter(|l| l != "prometheus") {
                    set("replicaLabel", json!(label));
                }
                if let Some(anti) = anti {
                    set("pod", json!({"antiAffinity": anti}));
                }
                // Nulls stand for absent fields, as the API server may send them.
                spec
            },
        )
}

fn request(name: &str, namespace: &str, spec: &Value, customize: bool) -> Request {
    let request = Request::example()
        .set("/metadata/name", json!(name))
        .set("/metadata/namespace", json!(namespace))
        .set("/spec", spec.clone());
    if customize {
        request
            .customize()
            .config_map(
                "prometheus-config",
                &[("prometheus.yml", "global:\n  scrape_interval: 15s\n")],
            )
            .secret("bucket", &[("objstore.yml", "dHlwZTogRklMRVNZU1RFTQ==")])
    } else {
        request
    }
}

fn labels(value: &Value) -> BTreeMap<String, String> {
    serde_json::from_value(value.clone()).unwrap_or_default()
}

fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn check(response: &Value) -> Result<(), TestCaseError> {
    let children = response["children"].as_array().unwrap();
    let workloads: Vec<(&str, BTreeMap<String, String>)> = children
        .iter()
        .filter(|c| c["kind"] == "StatefulSet" || c["kind"] == "Deployment")
        .map(|c| {
            (
                c["metadata"]["name"].as_str().unwrap(),
                labels(&c["spec"]["template"]["metadata"]["labels"]),
            )
        })
        .collect();
    for child in children {
        let kind = child["kind"].as_str().unwrap();
        let name = child["metadata"]["name"].as_str().unwrap();
        let limit = match kind {
            "StatefulSet" => 52,
            "Service" => 63,
            _ => 253,
        };
        prop_assert!(name.len() <= limit, "{kind} {name} is longer than {limit}");
        let selector = match kind {
            "StatefulSet" | "Deployment" => {
                let selector = labels(&child["spec"]["selector"]["matchLabels"]);
                let pods = labels(&child["spec"]["template"]["metadata"]["labels"]);
                prop_assert!(
                    selects(&selector, &pods),
                    "{kind} {name}: selector does not match its pods"
                );
                None
            }
            "Service" => Some(labels(&child["spec"]["selector"])),
            "PodDisruptionBudget" => Some(labels(&child["spec"]["selector"]["matchLabels"])),
            _ => None,
        };
        if let Some(selector) = selector {
            let matched: Vec<&str> = workloads
                .iter()
                .filter(|(_, pods)| selects(&selector, pods))
                .map(|(n, _)| *n)
                .collect();
            prop_assert_eq!(matched.len(), 1, "{} {} selects {:?}", kind, name, matched);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(64),
        ..ProptestConfig::default()
    })]

    #[test]
    fn valid_specs_render_completely_and_deterministically(
        name in name(), namespace in "[a-z]([a-z0-9-]{0,20}[a-z0-9])?", spec in spec(), customize in any::<bool>()
    ) {
        let request = request(&name, &namespace, &spec, customize);
        let body = serde_json::to_vec(&request.json()).unwrap();
        let answer = prometheus_replica_operator::sync_json(&body);
        prop_assert!(answer.is_ok(), "{:?}", answer);
        let answer = answer.unwrap();
        prop_assert_eq!(&prometheus_replica_operator::sync_json(&body).unwrap(), &answer);
        let response: Value = serde_json::from_slice(&answer).unwrap();
        check(&response)?;

        // Observed back as stored, the answer names the same children, and Metacontroller's default
        // apply would write none of them.
        let stored = as_stored(&response, Rollout::Done);
        let again = request.clone().observe(stored.clone()).sync_json();
        let names = |children: &Value| -> Vec<String> {
            children.as_array().unwrap().iter().map(|c| format!("{}/{}", c["kind"], c["metadata"]["name"])).collect()
        };
        prop_assert_eq!(names(&again["children"]), names(&response["children"]));
        for (child, stored) in again["children"].as_array().unwrap().iter().zip(&stored) {
            let diffs = merge_diffs(stored, child);
            prop_assert!(diffs.is_empty(), "{} {} would be written: {:?}", child["kind"], child["metadata"]["name"], diffs);
        }
    }
}
