//! The self-monitoring alert rules: what breaks a Thanos stack, written from the metrics that Prometheus v3 and
//! Thanos v0.42 export. Every alert carries `severity`, a `summary`, a `description` naming the
//! PrometheusReplica, and a `runbook_url`: `spec.monitoring.runbookUrl` (by default the project's
//! `docs/runbooks.md`, one section per alert) and the alert's anchor.
//!
//! The expressions select the `promrep-*` jobs only, so they never see the user's own targets, and they use
//! nothing newer than Prometheus 2.42 knows (CI checks them with Debian's promtool).

use std::collections::BTreeMap;

use super::{JOB_PREFIX, jobs};
use crate::names::Component;
use crate::spec::{Stack, parse_duration};

/// The alert that always fires, so that a receiver notices when it stops arriving.
pub const WATCHDOG: &str = "Watchdog";

const INSTANCE: &str = "{{ $labels.instance }}";

struct Alert {
    alert: &'static str,
    expr: String,
    /// How long the expression must hold before the alert fires; at once when `None`.
    hold: Option<&'static str>,
    labels: BTreeMap<&'static str, String>,
    annotations: BTreeMap<&'static str, String>,
}

/// The rules file of a stack, as YAML.
pub fn rules(stack: &Stack) -> String {
    let alerts = Alerts {
        parent: format!("PrometheusReplica {}/{}", stack.namespace, stack.name),
        runbook_url: &stack.runbook_url,
    };
    let mut rules = Vec::new();
    watchdog(&alerts, &mut rules);
    components_down(stack, &alerts, &mut rules);
    sidecars_and_bucket(stack, &alerts, &mut rules);
    if stack.compact.is_some() {
        compactor(&alerts, &mut rules);
    }
    queries(&alerts, &mut rules);
    prometheus(stack, &alerts, &mut rules);
    write(&format!("prometheus-replica-{}", stack.name), &rules)
}

/// What every alert of a stack carries: the parent it is about, and where its runbook is.
struct Alerts<'a> {
    parent: String,
    runbook_url: &'a str,
}

impl Alerts<'_> {
    /// An alert with its `severity`, `summary`, `description` and `runbook_url`. An empty `hold` fires at once.
    fn alert(
        &self,
        name: &'static str,
        severity: &str,
        hold: &'static str,
        expr: String,
        summary: &str,
        description: String,
    ) -> Alert {
        Alert {
            alert: name,
            expr,
            hold: Some(hold).filter(|h| !h.is_empty()),
            labels: BTreeMap::from([("severity", severity.to_string())]),
            annotations: BTreeMap::from([
                ("summary", summary.to_string()),
                ("description", format!("{}: {description}", self.parent)),
                (
                    "runbook_url",
                    format!("{}#{}", self.runbook_url, name.to_ascii_lowercase()),
                ),
            ]),
        }
    }
}

/// The dead man's switch.
fn watchdog(alerts: &Alerts, rules: &mut Vec<Alert>) {
    // The dead man's switch: a receiver that stops getting it knows that Prometheus, its rule evaluation or
    // the way to Alertmanager is broken, which no other alert can say. `severity: none`, as kube-prometheus
    // has it, so that routes by severity leave it to the receiver made for it.
    rules.push(alerts.alert(
        WATCHDOG,
        "none",
        "",
        "vector(1)".into(),
        "Always firing: the alerting pipeline of the stack works",
        "this alert always fires. Route it to a dead man's switch, which pages when it stops arriving: then \
         Prometheus, its rule evaluation or its way to Alertmanager is broken."
            .into(),
    ));
}

/// One alert per scrape job: fewer pods up than the component runs.
fn components_down(stack: &Stack, alerts: &Alerts, rules: &mut Vec<Alert>) {
    for job in jobs(stack) {
        let severity = if matches!(job.component, Component::Compact | Component::Grafana) {
            "warning"
        } else {
            "critical"
        };
        let mut down = alerts.alert(
            "PrometheusReplicaComponentDown",
            severity,
            "5m",
            format!(
                "(count(up{{job=\"{}\"}} == 1) or vector(0)) < {}",
                job.name, job.pods
            ),
            "A component of the stack has fewer pods up than it should",
            format!(
                "{{{{ $value }}}} of {} pods of {} are up (job {}).",
                job.pods, job.what, job.name
            ),
        );
        down.labels.insert("job", job.name);
        rules.push(down);
    }
}

/// The sidecars' way to Prometheus and to the bucket, and every component's bucket operations.
fn sidecars_and_bucket(stack: &Stack, alerts: &Alerts, rules: &mut Vec<Alert>) {
    rules.push(alerts.alert(
        "ThanosSidecarPrometheusDown",
        "critical",
        "5m",
        format!("thanos_sidecar_prometheus_up{{job=\"{JOB_PREFIX}sidecar\"}} == 0"),
        "A Thanos sidecar cannot reach its Prometheus",
        format!(
            "the sidecar {INSTANCE} cannot reach Prometheus: it uploads no blocks and queries miss recent data."
        ),
    ));

    rules.push(alerts.alert(
        "ThanosBucketOperationsFailing",
        "warning",
        "15m",
        format!(
            "sum by (job, instance) (rate(thanos_objstore_bucket_operation_failures_total{{job=~\"{JOB_PREFIX}.*\"}}[5m])) \
             / sum by (job, instance) (rate(thanos_objstore_bucket_operations_total{{job=~\"{JOB_PREFIX}.*\"}}[5m])) > 0.05"
        ),
        "Object storage operations are failing",
        format!(
            "more than 5% of the bucket operations of {INSTANCE} (job {{{{ $labels.job }}}}) fail: check the bucket \
             Secret and the object store."
        ),
    ));

    // Three block durations without an upload, from a sidecar that has run that long.
    let block_s = parse_duration(&stack.block_duration).unwrap_or(7_200_000) / 1000;
    let window = 3 * block_s;
    rules.push(alerts.alert(
        "ThanosSidecarNoUpload",
        "critical",
        "15m",
        format!(
            "sum by (job, instance) (increase(thanos_shipper_uploads_total{{job=\"{JOB_PREFIX}sidecar\"}}[{window}s])) == 0 \
             and on (job, instance) (time() - process_start_time_seconds{{job=\"{JOB_PREFIX}sidecar\"}}) > {window}"
        ),
        "A Thanos sidecar has uploaded no block for three block durations",
        format!(
            "the sidecar {INSTANCE} uploaded no block in {window}s (3 x spec.metrics.blockDuration {}): data older than \
             the local retention will be lost.",
            stack.block_duration
        ),
    ));
}

/// The compactor's alerts, when it runs.
fn compactor(alerts: &Alerts, rules: &mut Vec<Alert>) {
    rules.push(alerts.alert(
        "ThanosCompactHalted",
        "critical",
        "5m",
        format!("thanos_compact_halted{{job=\"{JOB_PREFIX}compact\"}} == 1"),
        "The Thanos compactor has halted",
        format!(
            "the compactor {INSTANCE} halted on an error: nothing is compacted, downsampled or deleted until it \
             is fixed."
        ),
    ));
    rules.push(alerts.alert(
        "ThanosCompactMultipleRunning",
        "critical",
        "5m",
        format!("count(up{{job=\"{JOB_PREFIX}compact\"}} == 1) > 1"),
        "More than one Thanos compactor is running",
        "{{ $value }} compactors run on one bucket: two compactors corrupt it.".to_string(),
    ));
    // From the Thanos mixin (mixin/alerts/compact.libsonnet), on this stack's compactor. The upload time
    // appears only after a first upload in the process's life, so a compactor that has run for a day
    // without one fires too.
    rules.push(alerts.alert(
        "ThanosCompactHasNotRun",
        "warning",
        "",
        format!(
            "(time() - max by (job) (max_over_time(thanos_objstore_bucket_last_successful_upload_time{{job=\"{JOB_PREFIX}compact\"}}[24h]))) / 3600 > 24 \
             or max by (job) (time() - process_start_time_seconds{{job=\"{JOB_PREFIX}compact\"}}) / 3600 > 24 \
             unless on (job) max by (job) (thanos_objstore_bucket_last_successful_upload_time{{job=\"{JOB_PREFIX}compact\"}})"
        ),
        "The Thanos compactor has uploaded nothing for 24 hours",
        "the compactor has uploaded no compacted or downsampled block for {{ $value | humanize }} hours: the \
         bucket grows and old queries slow down."
            .to_string(),
    ));
    rules.push(alerts.alert(
        "ThanosCompactHighCompactionFailures",
        "warning",
        "15m",
        format!(
            "sum by (job) (rate(thanos_compact_group_compactions_failures_total{{job=\"{JOB_PREFIX}compact\"}}[5m])) \
             / sum by (job) (rate(thanos_compact_group_compactions_total{{job=\"{JOB_PREFIX}compact\"}}[5m])) * 100 > 5"
        ),
        "The Thanos compactor fails more than 5% of its compactions",
        "the compactor fails {{ $value | humanize }}% of its compactions.".to_string(),
    ));
}

/// Failing queries, at the store gateway and at the querier or its frontend.
fn queries(alerts: &Alerts, rules: &mut Vec<Alert>) {
    rules.push(alerts.alert(
        "ThanosStoreErrorRateHigh",
        "warning",
        "5m",
        format!(
            "sum by (job) (rate(grpc_server_handled_total{{job=\"{JOB_PREFIX}store\", \
             grpc_code=~\"Unknown|ResourceExhausted|Internal|Unavailable|DataLoss|DeadlineExceeded\"}}[5m])) \
             / sum by (job) (rate(grpc_server_started_total{{job=\"{JOB_PREFIX}store\"}}[5m])) > 0.05"
        ),
        "The store gateway fails more than 5% of its requests",
        "more than 5% of the store gateway's gRPC requests fail: queries over old data are incomplete."
            .to_string(),
    ));

    rules.push(alerts.alert(
        "ThanosQueryErrorRateHigh",
        "warning",
        "5m",
        format!(
            "sum by (job) (rate(http_requests_total{{job=~\"{JOB_PREFIX}query|{JOB_PREFIX}query-frontend\", code=~\"5..\"}}[5m])) \
             / sum by (job) (rate(http_requests_total{{job=~\"{JOB_PREFIX}query|{JOB_PREFIX}query-frontend\"}}[5m])) > 0.05"
        ),
        "Queries fail more than 5% of the time",
        "more than 5% of the HTTP requests to {{ $labels.job }} fail with a server error.".to_string(),
    ));
}

/// Prometheus's own configuration and rule evaluation.
fn prometheus(stack: &Stack, alerts: &Alerts, rules: &mut Vec<Alert>) {
    rules.push(alerts.alert(
        "PrometheusConfigReloadFailed",
        "warning",
        "10m",
        format!(
            "max_over_time(prometheus_config_last_reload_successful{{job=\"{JOB_PREFIX}prometheus\"}}[5m]) == 0"
        ),
        "Prometheus could not load its configuration",
        format!(
            "{INSTANCE} failed to reload its configuration and runs the previous one: check ConfigMap {}.",
            stack.config_map
        ),
    ));

    rules.push(alerts.alert(
        "PrometheusRuleEvaluationFailing",
        "warning",
        "15m",
        format!(
            "sum by (job, instance) (increase(prometheus_rule_evaluation_failures_total{{job=\"{JOB_PREFIX}prometheus\"}}[5m])) > 0"
        ),
        "Prometheus fails to evaluate rules",
        format!("{INSTANCE} fails to evaluate some rules: their alerts and recordings are missing."),
    ));
}

/// The rules file in block style with every value a JSON string (valid YAML): written directly, because
/// serde_yaml_ng took longer over this file than the rest of a sync together.
fn write(group: &str, rules: &[Alert]) -> String {
    let mut out = String::with_capacity(512 * (rules.len() + 1));
    out.push_str("groups:\n- name: ");
    quote(&mut out, group);
    out.push_str("\n  rules:\n");
    for rule in rules {
        out.push_str("  - alert: ");
        quote(&mut out, rule.alert);
        out.push_str("\n    expr: ");
        quote(&mut out, &rule.expr);
        if let Some(hold) = rule.hold {
            out.push_str("\n    for: ");
            quote(&mut out, hold);
        }
        for (section, map) in [("labels", &rule.labels), ("annotations", &rule.annotations)] {
            out.push_str("\n    ");
            out.push_str(section);
            out.push(':');
            for (key, value) in map {
                out.push_str("\n      ");
                out.push_str(key);
                out.push_str(": ");
                quote(&mut out, value);
            }
        }
        out.push('\n');
    }
    out
}

fn quote(out: &mut String, value: &str) {
    out.push_str(&serde_json::to_string(value).expect("a string always encodes as JSON"));
}

#[cfg(test)]
mod tests {
    use serde_yaml_ng::Value;

    use super::*;
    use crate::render::testing::stack;

    fn alerts(stack: &Stack) -> Vec<Value> {
        let file: Value = serde_yaml_ng::from_str(&rules(stack)).unwrap();
        file["groups"][0]["rules"].as_sequence().unwrap().clone()
    }

    #[test]
    fn every_alert_has_a_severity_summary_description_and_runbook() {
        for alert in alerts(&stack(serde_json::json!({}))) {
            let name = alert["alert"].as_str().unwrap();
            let severity = alert["labels"]["severity"].as_str().unwrap();
            if name == WATCHDOG {
                assert_eq!(severity, "none");
            } else {
                assert!(["critical", "warning"].contains(&severity), "{name}");
            }
            assert!(!alert["annotations"]["summary"].as_str().unwrap().is_empty());
            assert!(
                alert["annotations"]["description"]
                    .as_str()
                    .unwrap()
                    .starts_with("PrometheusReplica default/example: "),
                "{name}"
            );
            assert_eq!(
                alert["annotations"]["runbook_url"].as_str().unwrap(),
                format!("{}#{}", crate::spec::RUNBOOK_URL, name.to_ascii_lowercase())
            );
        }
    }

    #[test]
    fn runbook_links_follow_the_runbook_url_setting() {
        let alerts = alerts(&stack(serde_json::json!({
            "monitoring": {"runbookUrl": "https://wiki.example.org/runbooks"}})));
        for alert in alerts {
            let url = alert["annotations"]["runbook_url"].as_str().unwrap();
            assert_eq!(
                url,
                format!(
                    "https://wiki.example.org/runbooks#{}",
                    alert["alert"].as_str().unwrap().to_ascii_lowercase()
                )
            );
        }
    }

    #[test]
    fn the_watchdog_always_fires_at_once() {
        let alerts = alerts(&stack(serde_json::json!({"compact": {"enabled": false}})));
        let watchdog = alerts.iter().find(|a| a["alert"] == WATCHDOG).unwrap();
        assert_eq!(watchdog["expr"], "vector(1)");
        assert!(watchdog.get("for").is_none(), "{watchdog:?}");
    }

    #[test]
    fn the_down_alert_expects_each_components_replica_count() {
        let alerts = alerts(&stack(serde_json::json!({"replicas": {"prometheus": 3}})));
        let down = alerts
            .iter()
            .find(|a| a["labels"]["job"] == "promrep-sidecar")
            .unwrap();
        assert_eq!(
            down["expr"],
            "(count(up{job=\"promrep-sidecar\"} == 1) or vector(0)) < 3"
        );
    }

    #[test]
    fn the_store_gateway_down_alert_expects_every_shards_replicas() {
        let alerts = alerts(&stack(
            serde_json::json!({"replicas": {"store": 2}, "store": {"shards": 3}}),
        ));
        let down = alerts
            .iter()
            .find(|a| a["labels"]["job"] == "promrep-store")
            .unwrap();
        assert_eq!(
            down["expr"],
            "(count(up{job=\"promrep-store\"} == 1) or vector(0)) < 6"
        );
    }

    #[test]
    fn the_upload_window_is_three_block_durations() {
        let alerts = alerts(&stack(
            serde_json::json!({"metrics": {"blockDuration": "1h"}}),
        ));
        let upload = alerts
            .iter()
            .find(|a| a["alert"] == "ThanosSidecarNoUpload")
            .unwrap();
        assert!(upload["expr"].as_str().unwrap().contains("[10800s]"));
    }

    #[test]
    fn compactor_alerts_only_with_a_compactor() {
        let alerts = alerts(&stack(serde_json::json!({"compact": {"enabled": false}})));
        assert!(
            !alerts
                .iter()
                .any(|a| a["alert"].as_str().unwrap().starts_with("ThanosCompact"))
        );
        let with = self::alerts(&stack(serde_json::json!({})));
        for name in [
            "ThanosCompactHasNotRun",
            "ThanosCompactHighCompactionFailures",
        ] {
            assert!(with.iter().any(|a| a["alert"] == name), "{name}");
        }
    }
}
