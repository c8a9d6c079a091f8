//! Self-monitoring: the rendered jobs, rules and alerting of `tests/data/monitoring/sync-request.json`, the
//! promtool tests and the runbooks agree. `.ci/monitoring.sh` runs the real promtool over the same files.

use std::collections::BTreeSet;

use serde_json::Value;
use serde_yaml_ng::Value as Yaml;

const REQUEST: &[u8] = include_bytes!("data/monitoring/sync-request.json");
const RULES_TEST: &str = include_str!("data/monitoring/rules.test.yml");
const RUNBOOKS: &str = include_str!("../docs/runbooks.md");
const RULES_KEY: &str = "promrep-self-monitoring.rules.yml";

fn answer() -> Value {
    let answer = prometheus_replica_operator::sync_json(REQUEST).expect("the fixture is valid");
    serde_json::from_slice(&answer).unwrap()
}

fn derived(answer: &Value) -> &Value {
    answer["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "ConfigMap" && c["metadata"]["name"] == "example-prometheus-config")
        .expect("the derived configuration is rendered")
}

/// Every rule of the rendered self-monitoring rules file.
fn rules(answer: &Value) -> Vec<Yaml> {
    let file: Yaml =
        serde_yaml_ng::from_str(derived(answer)["data"][RULES_KEY].as_str().unwrap()).unwrap();
    file["groups"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_sequence().unwrap().clone())
        .collect()
}

fn alert_names(answer: &Value) -> BTreeSet<String> {
    rules(answer)
        .iter()
        .map(|r| r["alert"].as_str().unwrap().to_string())
        .collect()
}

/// The alert that fires always, so that its absence tells a receiver that alerting is broken.
const WATCHDOG: &str = "Watchdog";

#[test]
fn every_alert_fires_in_one_promtool_test_and_stays_silent_in_another() {
    let alerts = alert_names(&answer());
    assert!(alerts.contains(WATCHDOG), "{alerts:?}");
    let tests: Yaml = serde_yaml_ng::from_str(RULES_TEST).unwrap();
    let (mut fired, mut silent) = (BTreeSet::new(), BTreeSet::new());
    let mut watchdog_fires_on_a_healthy_stack = false;
    for test in tests["tests"].as_sequence().unwrap() {
        let (mut fired_here, mut silent_here) = (BTreeSet::new(), BTreeSet::new());
        for check in test["alert_rule_test"].as_sequence().unwrap() {
            let name = check["alertname"].as_str().unwrap().to_string();
            if check["exp_alerts"].as_sequence().unwrap().is_empty() {
                silent_here.insert(name);
            } else {
                fired_here.insert(name);
            }
        }
        // The healthy stack: every other alert silent, the Watchdog firing.
        let others: BTreeSet<String> = alerts.iter().filter(|a| *a != WATCHDOG).cloned().collect();
        watchdog_fires_on_a_healthy_stack |=
            silent_here.is_superset(&others) && fired_here.contains(WATCHDOG);
        fired.extend(fired_here);
        silent.extend(silent_here);
    }
    assert_eq!(fired, alerts, "alerts tested firing");
    let mut expected_silent = alerts.clone();
    expected_silent.remove(WATCHDOG);
    assert_eq!(
        silent, expected_silent,
        "alerts tested silent (all but the Watchdog, which always fires)"
    );
    assert!(
        watchdog_fires_on_a_healthy_stack,
        "no test shows the Watchdog firing while every other alert is silent"
    );
}

/// `(job, threshold)` of every `PrometheusReplicaComponentDown` rule: `... < N` with `job="promrep-..."`.
fn down_thresholds(answer: &Value) -> Vec<(String, usize)> {
    rules(answer)
        .iter()
        .filter(|r| r["alert"] == "PrometheusReplicaComponentDown")
        .map(|r| {
            let job = r["labels"]["job"].as_str().unwrap().to_string();
            let expr = r["expr"].as_str().unwrap();
            let want = expr.rsplit('<').next().unwrap().trim().parse().unwrap();
            (job, want)
        })
        .collect()
}

#[test]
fn the_healthy_promtool_case_has_every_pod_the_rendered_stack_runs() {
    // The healthy case is the test in which every alert but the Watchdog is silent; each component must have
    // as many `up` series as the rendered ComponentDown rule expects, or the case tests another stack.
    let tests: Yaml = serde_yaml_ng::from_str(RULES_TEST).unwrap();
    let healthy = tests["tests"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|t| {
            t["alert_rule_test"].as_sequence().unwrap().iter().any(|c| {
                c["alertname"] == "PrometheusReplicaComponentDown"
                    && c["exp_alerts"].as_sequence().unwrap().is_empty()
            })
        })
        .expect("a healthy case");
    let series: Vec<&str> = healthy["input_series"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|s| s["series"].as_str())
        .collect();
    let thresholds = down_thresholds(&answer());
    assert!(!thresholds.is_empty());
    for (job, want) in thresholds {
        let up = series
            .iter()
            .filter(|s| s.starts_with(&format!("up{{job=\"{job}\"")))
            .count();
        assert_eq!(
            up, want,
            "the healthy case has {up} up series of {job}, the stack runs {want}"
        );
    }
}

#[test]
fn runbook_links_use_the_runbook_url_setting() {
    let rules: Yaml =
        serde_yaml_ng::from_str(derived(&answer())["data"][RULES_KEY].as_str().unwrap()).unwrap();
    for rule in rules["groups"][0]["rules"].as_sequence().unwrap() {
        let name = rule["alert"].as_str().unwrap();
        assert_eq!(
            rule["annotations"]["runbook_url"].as_str().unwrap(),
            format!(
                "https://runbooks.example.org/promrep.md#{}",
                name.to_ascii_lowercase()
            ),
            "{name}"
        );
    }
}

#[test]
fn every_alert_has_a_runbook_section() {
    for alert in alert_names(&answer()) {
        assert!(
            RUNBOOKS.contains(&format!("\n## {alert}\n")),
            "docs/runbooks.md has no section {alert}"
        );
    }
}

#[test]
fn every_scrape_job_finds_its_pods_through_a_headless_service_with_that_port() {
    let answer = answer();
    let config: Yaml =
        serde_yaml_ng::from_str(derived(&answer)["data"]["prometheus.yml"].as_str().unwrap())
            .unwrap();
    let services: Vec<&Value> = answer["children"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "Service")
        .collect();
    let mut jobs = BTreeSet::new();
    for job in config["scrape_configs"].as_sequence().unwrap() {
        let name = job["job_name"].as_str().unwrap();
        assert!(jobs.insert(name.to_string()), "job {name} twice");
        if !name.starts_with("promrep-") {
            continue;
        }
        let srv = job["dns_sd_configs"][0]["names"][0].as_str().unwrap();
        let parts: Vec<&str> = srv.split('.').collect();
        let (port, service) = (parts[0].trim_start_matches('_'), parts[2]);
        assert_eq!(&parts[3..], ["monitoring", "svc"], "{name}: {srv}");
        let service = services
            .iter()
            .find(|s| s["metadata"]["name"] == service)
            .unwrap_or_else(|| panic!("{name}: no Service {service}"));
        assert_eq!(service["spec"]["clusterIP"], "None", "{name}: {service}");
        assert!(
            service["spec"]["ports"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == port),
            "{name}: Service has no port {port}"
        );
    }
    assert_eq!(jobs.iter().filter(|j| j.starts_with("promrep-")).count(), 6);
    assert!(jobs.contains("prometheus"), "the user's job stays");
}

#[test]
fn the_alertmanagers_become_the_alerting_section() {
    let answer = answer();
    let config: Yaml =
        serde_yaml_ng::from_str(derived(&answer)["data"]["prometheus.yml"].as_str().unwrap())
            .unwrap();
    let managers = config["alerting"]["alertmanagers"].as_sequence().unwrap();
    assert_eq!(
        managers[0]["static_configs"][0]["targets"][0],
        "alertmanager.monitoring.svc:9093"
    );
    assert_eq!(managers[1]["scheme"], "https");
    assert_eq!(
        config["alerting"]["alert_relabel_configs"][0]["action"],
        "labeldrop"
    );
    let rule_files: Vec<&str> = config["rule_files"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(rule_files, ["team.rules.yml", RULES_KEY]);
}

#[test]
fn without_a_customize_hook_the_status_says_self_monitoring_is_off() {
    let mut request: Value = serde_json::from_slice(REQUEST).unwrap();
    request["controller"]["spec"]["hooks"]
        .as_object_mut()
        .unwrap()
        .remove("customize");
    let answer =
        prometheus_replica_operator::sync_json(&serde_json::to_vec(&request).unwrap()).unwrap();
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    let warnings = answer["status"]["warnings"].to_string();
    assert!(warnings.contains("self-monitoring is off"), "{warnings}");
    assert!(
        warnings.contains("spec.alerting.alertmanagers is ignored"),
        "{warnings}"
    );
}

#[test]
fn turning_monitoring_off_removes_jobs_rules_and_discovery_services() {
    let mut request: Value = serde_json::from_slice(REQUEST).unwrap();
    request["parent"]["spec"]["monitoring"] = serde_json::json!({"enabled": false});
    let answer =
        prometheus_replica_operator::sync_json(&serde_json::to_vec(&request).unwrap()).unwrap();
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    let data = &derived(&answer)["data"];
    assert!(data.get(RULES_KEY).is_none());
    assert!(
        !data["prometheus.yml"]
            .as_str()
            .unwrap()
            .contains("promrep-")
    );
    assert!(
        !answer["children"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["metadata"]["name"].as_str().unwrap().ends_with("-sd"))
    );
}
