//! Self-monitoring: what the derived `<name>-prometheus-config` adds to the user's configuration.
//!
//! Every pod of the stack is scraped through the DNS SRV records of a headless Service (`dns_sd_configs`), so
//! Prometheus needs no API permissions; the jobs are named `promrep-<component>`, a prefix the user's jobs may
//! not use. The alert rules ([`rules`]) travel in the same ConfigMap under [`RULES_KEY`], and
//! `spec.alerting.alertmanagers` is added to the configuration's `alerting` section.

mod rules;

use serde::Serialize;
use serde_yaml_ng::{Mapping, Value as Yaml};

use super::yaml::{list, mapping};
use crate::names::{self, Component, Names};
use crate::spec::Stack;

pub use rules::rules;

/// The key of the rules file in the derived ConfigMap, named in `rule_files` relative to the configuration.
pub const RULES_KEY: &str = "promrep-self-monitoring.rules.yml";
/// The prefix of the self-monitoring job names; the user's jobs may not use it.
pub const JOB_PREFIX: &str = "promrep-";

/// One scrape job of self-monitoring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// `promrep-<what>`.
    pub name: String,
    /// What the job scrapes, for people: `the store gateway`.
    pub what: &'static str,
    /// The component whose pods it scrapes.
    pub component: Component,
    /// The DNS SRV name that lists one target per pod.
    pub srv: String,
    /// How many pods should answer.
    pub pods: i32,
}

/// The self-monitoring jobs of a stack, one per component (Prometheus and its sidecars apart).
pub fn jobs(stack: &Stack) -> Vec<Job> {
    let names = Names::new(stack);
    let ns = &stack.namespace;
    let srv = |port: &str, service: String| format!("_{port}._tcp.{service}.{ns}.svc");
    let job = |suffix: &str, what, component, srv| Job {
        name: format!("{JOB_PREFIX}{suffix}"),
        what,
        component,
        srv,
        pods: names::pods(stack, component),
    };
    let mut jobs = vec![
        job(
            "prometheus",
            "Prometheus",
            Component::Prometheus,
            srv("web", names.peers()),
        ),
        job(
            "sidecar",
            "the Thanos sidecar",
            Component::Prometheus,
            srv("http", names.peers()),
        ),
        job(
            "store",
            "the store gateway",
            Component::Store,
            srv("http", names.workload(Component::Store)),
        ),
        job(
            "query",
            "the querier",
            Component::Query,
            srv("http", names.discovery(Component::Query)),
        ),
    ];
    if stack.query_frontend.is_some() {
        jobs.push(job(
            "query-frontend",
            "the query frontend",
            Component::QueryFrontend,
            srv("http", names.discovery(Component::QueryFrontend)),
        ));
    }
    if stack.grafana.is_some() {
        jobs.push(job(
            "grafana",
            "Grafana",
            Component::Grafana,
            srv("http", names.discovery(Component::Grafana)),
        ));
    }
    if stack.compact.is_some() {
        jobs.push(job(
            "compact",
            "the compactor",
            Component::Compact,
            srv("http", names.workload(Component::Compact)),
        ));
    }
    jobs
}

#[derive(Serialize)]
struct ScrapeConfig {
    job_name: String,
    dns_sd_configs: Vec<DnsSdConfig>,
}

#[derive(Serialize)]
struct DnsSdConfig {
    names: Vec<String>,
    #[serde(rename = "type")]
    record: &'static str,
}

#[derive(Serialize)]
struct AlertmanagerConfig {
    scheme: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    path_prefix: Option<String>,
    static_configs: Vec<StaticConfig>,
}

#[derive(Serialize)]
struct StaticConfig {
    targets: Vec<String>,
}

#[derive(Serialize)]
struct RelabelConfig {
    action: &'static str,
    regex: String,
}

/// Add self-monitoring (with `monitoring.enabled`) and `spec.alerting` to a parsed configuration. An error
/// says what in the user's configuration is in the way.
pub fn apply(stack: &Stack, config: &mut Mapping) -> Result<(), String> {
    if stack.monitoring {
        let scrape = list(config, "scrape_configs")?;
        for job in scrape.iter() {
            if let Some(name) = job.get("job_name").and_then(Yaml::as_str)
                && name.starts_with(JOB_PREFIX)
            {
                return Err(format!(
                    "scrape_configs: job_name {name:?} starts with {JOB_PREFIX:?}, which self-monitoring reserves: \
                     rename the job, or set spec.monitoring.enabled to false"
                ));
            }
        }
        for job in jobs(stack) {
            scrape.push(yaml(&ScrapeConfig {
                job_name: job.name,
                dns_sd_configs: vec![DnsSdConfig {
                    names: vec![job.srv],
                    record: "SRV",
                }],
            }));
        }
        let rule_files = list(config, "rule_files")?;
        if !rule_files.iter().any(|f| f.as_str() == Some(RULES_KEY)) {
            rule_files.push(Yaml::from(RULES_KEY));
        }
    }

    let user_alerting = config.get("alerting").is_some_and(|a| !a.is_null());
    if stack.alertmanagers.is_empty() && !user_alerting {
        return Ok(());
    }
    let alerting = mapping(config, "alerting")?;
    let managers = list(alerting, "alertmanagers").map_err(|e| format!("alerting.{e}"))?;
    for manager in &stack.alertmanagers {
        managers.push(yaml(&AlertmanagerConfig {
            scheme: manager.scheme.clone(),
            path_prefix: manager.path_prefix.clone(),
            static_configs: vec![StaticConfig {
                targets: vec![manager.host.clone()],
            }],
        }));
    }
    // Every replica sends the same alerts; without its replica label they are one alert to Alertmanager.
    let relabel = list(alerting, "alert_relabel_configs").map_err(|e| format!("alerting.{e}"))?;
    relabel.push(yaml(&RelabelConfig {
        action: "labeldrop",
        regex: stack.replica_label.clone(),
    }));
    Ok(())
}

fn yaml<T: Serialize>(value: &T) -> Yaml {
    serde_yaml_ng::to_value(value).expect("plain structs of strings always encode as YAML")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::render::testing::stack;

    fn applied(spec: serde_json::Value, config: &str) -> Result<Yaml, String> {
        let mut config: Yaml = serde_yaml_ng::from_str(config).unwrap();
        apply(&stack(spec), config.as_mapping_mut().unwrap())?;
        Ok(config)
    }

    #[test]
    fn every_component_is_scraped_through_dns_srv_of_a_headless_service() {
        let config = applied(json!({}), "scrape_configs:\n- job_name: mine\n").unwrap();
        let jobs: Vec<(&str, &str)> = config["scrape_configs"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|j| {
                (
                    j["job_name"].as_str().unwrap(),
                    j["dns_sd_configs"][0]["names"][0].as_str().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(
            jobs,
            [
                ("mine", ""),
                (
                    "promrep-prometheus",
                    "_web._tcp.example-thanos-peers.default.svc"
                ),
                (
                    "promrep-sidecar",
                    "_http._tcp.example-thanos-peers.default.svc"
                ),
                (
                    "promrep-store",
                    "_http._tcp.example-thanos-store.default.svc"
                ),
                (
                    "promrep-query",
                    "_http._tcp.example-thanos-query-sd.default.svc"
                ),
                (
                    "promrep-query-frontend",
                    "_http._tcp.example-thanos-query-frontend-sd.default.svc"
                ),
                (
                    "promrep-compact",
                    "_http._tcp.example-thanos-compact.default.svc"
                ),
            ]
        );
        assert_eq!(
            config["scrape_configs"][1]["dns_sd_configs"][0]["type"],
            "SRV"
        );
        assert_eq!(config["rule_files"][0], RULES_KEY);
    }

    #[test]
    fn a_user_job_with_the_reserved_prefix_is_refused() {
        let error = applied(json!({}), "scrape_configs:\n- job_name: promrep-store\n").unwrap_err();
        assert!(error.contains("\"promrep-store\""), "{error}");
        assert!(
            applied(
                json!({"monitoring": {"enabled": false}}),
                "scrape_configs:\n- job_name: promrep-store\n"
            )
            .is_ok()
        );
    }

    #[test]
    fn alertmanagers_join_the_users_and_alerts_lose_the_replica_label() {
        let config = applied(
            json!({"alerting": {"alertmanagers": ["https://am.example.org/am"]}}),
            "alerting:\n  alertmanagers:\n  - static_configs:\n    - targets: [theirs:9093]\n",
        )
        .unwrap();
        let managers = config["alerting"]["alertmanagers"].as_sequence().unwrap();
        assert_eq!(managers.len(), 2);
        assert_eq!(managers[1]["scheme"], "https");
        assert_eq!(managers[1]["path_prefix"], "/am");
        assert_eq!(
            managers[1]["static_configs"][0]["targets"][0],
            "am.example.org"
        );
        assert_eq!(
            config["alerting"]["alert_relabel_configs"][0]["regex"],
            "prometheus_replica"
        );
    }

    #[test]
    fn without_alertmanagers_or_monitoring_the_config_is_left_alone() {
        let config = applied(json!({"monitoring": {"enabled": false}}), "global: {}\n").unwrap();
        assert_eq!(serde_yaml_ng::to_string(&config).unwrap(), "global: {}\n");
    }

    #[test]
    fn jobs_follow_the_enabled_components() {
        let stack =
            stack(json!({"compact": {"enabled": false}, "queryFrontend": {"enabled": false}}));
        let names: Vec<String> = jobs(&stack).into_iter().map(|j| j.name).collect();
        assert_eq!(
            names,
            [
                "promrep-prometheus",
                "promrep-sidecar",
                "promrep-store",
                "promrep-query"
            ]
        );
    }
}
