//! Grafana's view of the stack, for a Grafana that the user already runs with the usual sidecar
//! (kiwigrid/k8s-sidecar): `<name>-grafana-datasources` (label `grafana_datasource: "1"`), a Thanos datasource
//! on the query frontend (or the querier when the frontend is off) with deduplication on, and
//! `<name>-grafana-dashboards` (label `grafana_dashboard: "1"`), one dashboard of the stack itself over the
//! self-monitoring jobs.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::OnceLock;

use k8s_openapi::api::core::v1::ConfigMap;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::meta;
use super::monitoring::JOB_PREFIX;
use crate::names::HTTP_PORT;
use crate::names::{Component, Names};
use crate::spec::Stack;

/// The key of the datasource file in `<name>-grafana-datasources`.
pub const DATASOURCES_KEY: &str = "datasources.yaml";
/// The key of the dashboard in `<name>-grafana-dashboards`.
pub const DASHBOARD_KEY: &str = "prometheus-replica.json";

/// The datasource's uid: stable for a parent, unique across parents, within Grafana's 40 characters.
pub fn datasource_uid(stack: &Stack) -> String {
    let digest = Sha256::digest(format!("{}/{}", stack.namespace, stack.name));
    let mut uid = String::with_capacity(24);
    uid.push_str("promrep-");
    for byte in &digest[..8] {
        write!(uid, "{byte:02x}").expect("writing to a String cannot fail");
    }
    uid
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Datasources {
    api_version: u8,
    datasources: Vec<Datasource>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Datasource {
    name: String,
    uid: String,
    #[serde(rename = "type")]
    kind: &'static str,
    access: &'static str,
    url: String,
    editable: bool,
    json_data: DatasourceOptions,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DatasourceOptions {
    prometheus_type: &'static str,
    /// Thanos's query API deduplicates the replicas with `dedup=true`.
    custom_query_parameters: &'static str,
}

/// `<name>-grafana-datasources` and `<name>-grafana-dashboards`, which name the same datasource uid.
pub fn config_maps(stack: &Stack) -> [ConfigMap; 2] {
    let uid = datasource_uid(stack);
    [datasources(stack, &uid), dashboards(stack, &uid)]
}

/// `<name>-grafana-datasources`, the datasource `uid`.
fn datasources(stack: &Stack, uid: &str) -> ConfigMap {
    let names = Names::new(stack);
    let entry = if stack.query_frontend.is_some() {
        Component::QueryFrontend
    } else {
        Component::Query
    };
    let file = Datasources {
        api_version: 1,
        datasources: vec![Datasource {
            name: format!("Thanos {}/{}", stack.namespace, stack.name),
            uid: uid.to_owned(),
            kind: "prometheus",
            access: "proxy",
            url: format!(
                "http://{}.{}.svc:{HTTP_PORT}",
                names.workload(entry),
                stack.namespace
            ),
            editable: false,
            json_data: DatasourceOptions {
                prometheus_type: "Thanos",
                custom_query_parameters: "dedup=true",
            },
        }],
    };
    // JSON is YAML, and serde_json writes it in a fraction of serde_yaml_ng's time.
    let text =
        serde_json::to_string_pretty(&file).expect("plain structs always encode as JSON") + "\n";
    config_map(
        stack,
        names.grafana_datasources(),
        "grafana_datasource",
        DATASOURCES_KEY,
        text,
    )
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Dashboard {
    uid: &'static str,
    title: &'static str,
    tags: [&'static str; 2],
    schema_version: u16,
    time: TimeRange,
    refresh: &'static str,
    panels: Vec<Panel>,
}

#[derive(Serialize)]
struct TimeRange {
    from: &'static str,
    to: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Panel {
    id: u32,
    title: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    datasource: DatasourceRef,
    grid_pos: GridPos,
    field_config: FieldConfig,
    targets: Vec<Target>,
}

#[derive(Serialize, Clone)]
struct DatasourceRef {
    #[serde(rename = "type")]
    kind: &'static str,
    uid: &'static str,
}

#[derive(Serialize)]
struct GridPos {
    h: u8,
    w: u8,
    x: u8,
    y: u8,
}

#[derive(Serialize)]
struct FieldConfig {
    defaults: BTreeMap<&'static str, &'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Target {
    ref_id: &'static str,
    expr: String,
    legend_format: &'static str,
    datasource: DatasourceRef,
}

/// The title, unit, PromQL and legend of every panel of the dashboard; the compactor's with `with_compactor`.
pub fn panel_queries(
    with_compactor: bool,
) -> Vec<(&'static str, &'static str, String, &'static str)> {
    let p = JOB_PREFIX;
    let mut panels = vec![
        (
            "Targets up",
            "none",
            format!("sum by (job) (up{{job=~\"{p}.*\"}})"),
            "{{job}}",
        ),
        (
            "Samples ingested per second",
            "none",
            format!(
                "sum by (instance) (rate(prometheus_tsdb_head_samples_appended_total{{job=\"{p}prometheus\"}}[5m]))"
            ),
            "{{instance}}",
        ),
        (
            "Time since the last upload, per sidecar",
            "s",
            format!(
                "time() - max by (instance) (thanos_objstore_bucket_last_successful_upload_time{{job=\"{p}sidecar\"}})"
            ),
            "{{instance}}",
        ),
        (
            "Store gateway: p99 gRPC latency",
            "s",
            format!(
                "histogram_quantile(0.99, sum by (le) (rate(grpc_server_handling_seconds_bucket{{job=\"{p}store\"}}[5m])))"
            ),
            "p99",
        ),
        // The error panels show 0, not "No data", while nothing fails (`or on () vector(0)`): an empty
        // panel looks the same as a broken scrape (found by the stack-in-motion run).
        (
            "Store gateway: gRPC errors per second",
            "none",
            format!(
                "sum by (grpc_code) (rate(grpc_server_handled_total{{job=\"{p}store\", grpc_code!=\"OK\"}}[5m])) or on () vector(0)"
            ),
            "{{grpc_code}}",
        ),
        (
            "Queries: p99 HTTP latency",
            "s",
            format!(
                "histogram_quantile(0.99, sum by (le, job) (rate(http_request_duration_seconds_bucket{{job=~\"{p}query|{p}query-frontend\"}}[5m])))"
            ),
            "{{job}}",
        ),
        (
            "Queries: server errors per second",
            "none",
            format!(
                "sum by (job) (rate(http_requests_total{{job=~\"{p}query|{p}query-frontend\", code=~\"5..\"}}[5m])) or on () vector(0)"
            ),
            "{{job}}",
        ),
    ];
    if with_compactor {
        panels.push((
            "Compactor halted",
            "none",
            format!("max(thanos_compact_halted{{job=\"{p}compact\"}})"),
            "halted",
        ));
        panels.push((
            "Compactions per hour",
            "none",
            format!(
                "sum(increase(thanos_compact_group_compactions_total{{job=\"{p}compact\"}}[1h]))"
            ),
            "compactions",
        ));
    }
    panels
}

/// `<name>-grafana-dashboards`, on the datasource `uid` (also the dashboard's).
fn dashboards(stack: &Stack, uid: &str) -> ConfigMap {
    // Only the datasource's uid (also the dashboard's) and the title differ between parents: fill them into the
    // dashboard of this shape, encoded once per process, rather than build and encode it again on every sync (it
    // was a tenth of the sync). Both are DNS names and hex, nothing JSON escapes.
    let title = format!("PrometheusReplica {}/{}", stack.namespace, stack.name);
    let text = dashboard_template(stack.compact.is_some()).fill(uid, &title);
    config_map(
        stack,
        Names::new(stack).grafana_dashboards(),
        "grafana_dashboard",
        DASHBOARD_KEY,
        text,
    )
}

/// Stand-ins in [`dashboard_template`] for what differs between parents; no PromQL or title contains them.
const UID_SLOT: &str = "@datasource-uid@";
const TITLE_SLOT: &str = "@title@";

/// The dashboard with [`UID_SLOT`] and [`TITLE_SLOT`], with or without the compactor's panels; compact JSON
/// (Grafana reads it the same, every byte of it is escaped again into each answer, `jq` shows it indented).
fn dashboard_template(with_compactor: bool) -> &'static Template {
    static TEMPLATES: OnceLock<[Template; 2]> = OnceLock::new();
    &TEMPLATES.get_or_init(|| [false, true].map(|with| Template::new(encode_dashboard(with))))
        [usize::from(with_compactor)]
}

/// A text with where its slots are, found once: filling it in is one pass of copies, where `str::replace`
/// searched the whole text twice and copied it twice.
struct Template {
    text: String,
    /// Where each slot starts, in order, and whether it is the title's (else the uid's).
    slots: Vec<(usize, bool)>,
}

impl Template {
    /// Every [`UID_SLOT`] and the first [`TITLE_SLOT`] of `text`.
    fn new(text: String) -> Self {
        let mut slots: Vec<(usize, bool)> = text
            .match_indices(UID_SLOT)
            .map(|(at, _)| (at, false))
            .collect();
        slots.extend(text.find(TITLE_SLOT).map(|at| (at, true)));
        slots.sort_unstable();
        Self { text, slots }
    }

    /// The text with `uid` and `title` in the slots.
    fn fill(&self, uid: &str, title: &str) -> String {
        let mut filled = String::with_capacity(self.text.len() + title.len());
        let mut copied = 0;
        for &(at, is_title) in &self.slots {
            filled.push_str(&self.text[copied..at]);
            let (value, slot) = if is_title {
                (title, TITLE_SLOT)
            } else {
                (uid, UID_SLOT)
            };
            filled.push_str(value);
            copied = at + slot.len();
        }
        filled.push_str(&self.text[copied..]);
        filled
    }
}

fn encode_dashboard(with_compactor: bool) -> String {
    let datasource = DatasourceRef {
        kind: "prometheus",
        uid: UID_SLOT,
    };
    let panels = panel_queries(with_compactor)
        .into_iter()
        .enumerate()
        .map(|(index, (title, unit, expr, legend))| {
            let index = u8::try_from(index).expect("the dashboard has a handful of panels");
            Panel {
                id: u32::from(index) + 1,
                title,
                kind: "timeseries",
                datasource: datasource.clone(),
                grid_pos: GridPos {
                    h: 8,
                    w: 12,
                    x: (index % 2) * 12,
                    y: (index / 2) * 8,
                },
                field_config: FieldConfig {
                    defaults: BTreeMap::from([("unit", unit)]),
                },
                targets: vec![Target {
                    ref_id: "A",
                    expr,
                    legend_format: legend,
                    datasource: datasource.clone(),
                }],
            }
        })
        .collect();
    let dashboard = Dashboard {
        uid: UID_SLOT,
        title: TITLE_SLOT,
        tags: ["prometheus-replica", "thanos"],
        schema_version: 39,
        time: TimeRange {
            from: "now-6h",
            to: "now",
        },
        refresh: "1m",
        panels,
    };
    let mut text = serde_json::to_string(&dashboard).expect("plain structs always encode as JSON");
    text.push('\n');
    text
}

fn config_map(stack: &Stack, name: String, label: &str, key: &str, text: String) -> ConfigMap {
    let mut metadata = meta::metadata(stack, Component::Grafana, name);
    metadata
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert(label.into(), "1".into());
    ConfigMap {
        metadata,
        data: Some(BTreeMap::from([(key.to_string(), text)])),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::render::testing::stack;

    #[test]
    fn the_datasource_is_thanos_on_the_frontend_with_deduplication() {
        let [config, _] = config_maps(&stack(json!({})));
        assert_eq!(
            config.metadata.labels.as_ref().unwrap()["grafana_datasource"],
            "1"
        );
        let file: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&config.data.unwrap()[DATASOURCES_KEY]).unwrap();
        let source = &file["datasources"][0];
        assert_eq!(source["type"], "prometheus");
        assert_eq!(
            source["url"],
            "http://example-thanos-query-frontend.default.svc:10902"
        );
        assert_eq!(source["jsonData"]["prometheusType"], "Thanos");
        assert_eq!(source["jsonData"]["customQueryParameters"], "dedup=true");
        assert!(source["uid"].as_str().unwrap().len() <= 40);

        let [off, _] = config_maps(&stack(json!({"queryFrontend": {"enabled": false}})));
        assert!(
            off.data.unwrap()[DATASOURCES_KEY]
                .contains("http://example-thanos-query.default.svc:10902")
        );
    }

    #[test]
    fn every_panel_queries_only_the_datasource_we_render() {
        let stack = stack(json!({}));
        let [_, config] = config_maps(&stack);
        assert_eq!(
            config.metadata.labels.as_ref().unwrap()["grafana_dashboard"],
            "1"
        );
        let dashboard: Value = serde_json::from_str(&config.data.unwrap()[DASHBOARD_KEY]).unwrap();
        let uid = datasource_uid(&stack);
        let panels = dashboard["panels"].as_array().unwrap();
        assert_eq!(panels.len(), panel_queries(true).len());
        for panel in panels {
            assert_eq!(panel["datasource"]["uid"], uid.as_str());
            for target in panel["targets"].as_array().unwrap() {
                assert_eq!(target["datasource"]["uid"], uid.as_str());
                assert!(target["expr"].as_str().unwrap().contains(JOB_PREFIX));
            }
        }
    }

    #[test]
    fn the_dashboard_is_filled_in_for_its_parent_with_the_compactor_panels_only_with_a_compactor() {
        for (spec, with_compactor) in [
            (json!({}), true),
            (json!({"compact": {"enabled": false}}), false),
        ] {
            let stack = stack(spec);
            let [_, config] = config_maps(&stack);
            let text = &config.data.unwrap()[DASHBOARD_KEY];
            assert!(
                !text.contains(UID_SLOT) && !text.contains(TITLE_SLOT),
                "{text}"
            );
            let dashboard: Value = serde_json::from_str(text).unwrap();
            assert_eq!(dashboard["uid"], datasource_uid(&stack).as_str());
            assert_eq!(dashboard["title"], "PrometheusReplica default/example");
            let titles: Vec<&str> = dashboard["panels"]
                .as_array()
                .unwrap()
                .iter()
                .map(|panel| panel["title"].as_str().unwrap())
                .collect();
            assert_eq!(
                titles.contains(&"Compactor halted"),
                with_compactor,
                "{titles:?}"
            );
            assert_eq!(titles.len(), panel_queries(with_compactor).len());
        }
    }

    #[test]
    fn the_uid_differs_between_parents_and_stays_for_one() {
        let a = stack(json!({}));
        assert_eq!(datasource_uid(&a), datasource_uid(&a.clone()));
        let mut b = a.clone();
        b.namespace = "other".into();
        assert_ne!(datasource_uid(&a), datasource_uid(&b));
    }
}
