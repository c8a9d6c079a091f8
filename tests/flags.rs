//! Every argument the hook renders is a flag of the pinned Prometheus and Thanos releases, written the way
//! their parser (kingpin) accepts it. The flag lists in `tests/data/flags/` were read from their sources.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::Request;
use serde_json::{Value, json};

const PROMETHEUS_FLAGS: &str = include_str!("data/flags/prometheus-v3.14.0.tsv");
const THANOS_FLAGS: &str = include_str!("data/flags/thanos-v0.42.4.tsv");
/// Thanos flags that may be given more than once (the list has no such column).
const THANOS_REPEATABLE: [&str; 1] = ["--endpoint"];
/// Flags that were removed and make the binaries refuse to start.
const REMOVED: [&str; 4] = [
    "--cluster.",
    "--store=",
    "--storage.tsdb.retention=",
    "--s3.",
];

struct Flag {
    bool: bool,
    repeatable: bool,
}

/// Flags by program (`prometheus`, or the Thanos subcommand).
fn known_flags() -> BTreeMap<String, BTreeMap<String, Flag>> {
    let mut known: BTreeMap<String, BTreeMap<String, Flag>> = BTreeMap::new();
    for line in PROMETHEUS_FLAGS.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        known.entry("prometheus".into()).or_default().insert(
            cols[0].into(),
            Flag {
                bool: cols[1] == "bool",
                repeatable: cols[5] == "yes",
            },
        );
    }
    for line in THANOS_FLAGS.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        known.entry(cols[0].into()).or_default().insert(
            cols[1].into(),
            Flag {
                bool: cols[2] == "bool",
                repeatable: THANOS_REPEATABLE.contains(&cols[1]),
            },
        );
    }
    known
}

/// Every container of every pod template of an answer: (workload/container, program, args).
fn containers(response: &Value) -> Vec<(String, String, Vec<String>)> {
    let mut out = Vec::new();
    for child in response["children"].as_array().unwrap() {
        let Some(list) = child
            .pointer("/spec/template/spec/containers")
            .and_then(Value::as_array)
        else {
            continue;
        };
        for container in list {
            // Grafana takes its settings from the environment, not flags; memcached's flags are not Prometheus's
            // or Thanos's (its unit test checks them).
            let image = container["image"].as_str().unwrap();
            if image.contains("grafana/grafana") || image.contains("/memcached:") {
                continue;
            }
            let mut args: Vec<String> = container["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
                .collect();
            let program = if container["image"]
                .as_str()
                .unwrap()
                .contains("prometheus/prometheus")
            {
                "prometheus".to_string()
            } else {
                args.remove(0)
            };
            let place = format!(
                "{}/{}",
                child["metadata"]["name"].as_str().unwrap(),
                container["name"].as_str().unwrap()
            );
            out.push((place, program, args));
        }
    }
    out
}

fn answers() -> Vec<Value> {
    let objstore = [("objstore.yml", "dHlwZTogRklMRVNZU1RFTQ==")];
    let s3 = [
        ("s3_bucket", "Yg=="),
        ("s3_endpoint", "ZQ=="),
        ("s3_access_key", "YQ=="),
        ("s3_secret_key", "cw=="),
    ];
    let config = [("prometheus.yml", "global: {}\n")];
    vec![
        Request::example().sync_json(),
        Request::manifest(include_str!("fixtures/all-extensions.yaml")).sync_json(),
        Request::manifest(include_str!("fixtures/single.yaml")).sync_json(),
        Request::example()
            .customize()
            .config_map("prometheus-config", &config)
            .secret("s3-bucket", &objstore)
            .sync_json(),
        Request::example()
            .customize()
            .config_map("prometheus-config", &config)
            .secret("s3-bucket", &s3)
            .sync_json(),
        Request::example()
            .spec("compact", json!({"enabled": false}))
            .sync_json(),
    ]
}

#[test]
fn every_rendered_flag_exists_in_the_pinned_binaries() {
    let known = known_flags();
    let mut programs_seen = BTreeSet::new();
    for response in answers() {
        for (place, program, args) in containers(&response) {
            let flags = known.get(&program).unwrap_or_else(|| {
                panic!("{place}: {program:?} is not a Prometheus or Thanos command")
            });
            programs_seen.insert(program.clone());
            let mut seen = BTreeSet::new();
            for arg in &args {
                assert!(arg.starts_with("--"), "{place}: {arg:?} is not a flag");
                let (name, value) = match arg.split_once('=') {
                    Some((name, value)) => (name, Some(value)),
                    None => (arg.as_str(), None),
                };
                let flag = flags
                    .get(name)
                    .unwrap_or_else(|| panic!("{place}: {program} has no flag {name}"));
                if flag.bool {
                    assert!(value.is_none(), "{place}: bool flag {name} takes no value");
                } else {
                    assert!(
                        value.is_some_and(|v| !v.is_empty()),
                        "{place}: {name} needs =value"
                    );
                }
                assert!(
                    flag.repeatable || seen.insert(name),
                    "{place}: {name} given twice"
                );
                for removed in REMOVED {
                    assert!(!arg.starts_with(removed), "{place}: removed flag {arg}");
                }
            }
        }
    }
    assert_eq!(
        programs_seen.into_iter().collect::<Vec<_>>(),
        [
            "compact",
            "prometheus",
            "query",
            "query-frontend",
            "sidecar",
            "store"
        ],
        "every component was checked"
    );
}

#[test]
fn prometheus_block_durations_are_equal_as_thanos_requires() {
    for response in answers() {
        for (place, program, args) in containers(&response) {
            if program != "prometheus" {
                continue;
            }
            let value = |flag: &str| {
                args.iter()
                    .find_map(|a| a.strip_prefix(&format!("{flag}=")))
                    .unwrap_or_else(|| panic!("{place}: no {flag}"))
                    .to_string()
            };
            assert_eq!(
                value("--storage.tsdb.min-block-duration"),
                value("--storage.tsdb.max-block-duration"),
                "{place}"
            );
            value("--storage.tsdb.retention.time");
            assert!(
                !args.contains(&"--web.enable-lifecycle".to_string()),
                "{place}: the lifecycle API would let anyone behind the Ingress stop Prometheus"
            );
        }
    }
}

#[test]
fn the_querier_finds_sidecars_and_store_through_headless_services() {
    let response = Request::example().sync_json();
    let (_, _, args) = containers(&response)
        .into_iter()
        .find(|(_, program, _)| program == "query")
        .unwrap();
    let endpoints: Vec<&str> = args
        .iter()
        .filter_map(|a| a.strip_prefix("--endpoint="))
        .collect();
    assert_eq!(
        endpoints,
        [
            "dnssrv+_grpc._tcp.example-thanos-peers.default.svc",
            "dnssrv+_grpc._tcp.example-thanos-store.default.svc"
        ]
    );
    assert!(args.contains(&"--query.replica-label=prometheus_replica".to_string()));
    for service in ["example-thanos-peers", "example-thanos-store"] {
        let svc = response["children"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["kind"] == "Service" && c["metadata"]["name"] == service)
            .unwrap();
        assert_eq!(
            svc["spec"]["clusterIP"], "None",
            "{service} must be headless for SRV records"
        );
        assert!(
            svc["spec"]["ports"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "grpc"),
            "{service} needs a port named grpc"
        );
    }
}
