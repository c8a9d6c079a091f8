//! Whole answers of the pure sync over request fixtures: snapshots, and the requirements they must meet.
//!
//! Snapshots live in `tests/snapshots/`; they change only through `cargo insta review` (or
//! `INSTA_UPDATE=always cargo test`), never silently: CI runs with `CI=true`, where insta fails on a mismatch.

mod common;

use common::apply::{apply_update, merge_diffs};
use common::{Request, Rollout, as_stored};
use prometheus_replica_operator::Error;
use serde_json::{Value, json};

const OBJSTORE: &str = "dHlwZTogUzMKY29uZmlnOgogIGJ1Y2tldDogdGhhbm9zCg=="; // base64 of a small objstore.yml

fn config(text: &str) -> Vec<(&str, &str)> {
    vec![("prometheus.yml", text)]
}

fn child<'a>(response: &'a Value, kind: &str, name: &str) -> &'a Value {
    response["children"]
        .as_array()
        .expect("answers have children")
        .iter()
        .find(|c| c["kind"] == kind && c["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("the answer has no {kind} {name}"))
}

fn names(response: &Value) -> Vec<String> {
    response["children"]
        .as_array()
        .expect("answers have children")
        .iter()
        .map(|c| {
            format!(
                "{}/{}",
                c["kind"].as_str().unwrap(),
                c["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect()
}

fn invalid(request: Request) -> (String, String) {
    match prometheus_replica_operator::sync(&request.build()) {
        Err(Error::Invalid { field, message }) => (field, message),
        other => panic!("expected an invalid-spec error, got {other:?}"),
    }
}

#[test]
fn snapshot_2018_readme_example() {
    insta::assert_yaml_snapshot!(Request::example().sync_json());
}

#[test]
fn snapshot_2018_deploy_cr_with_deprecated_spellings() {
    let request = Request::manifest(include_str!("fixtures/example-2018-deploy-cr.yaml"));
    insta::assert_yaml_snapshot!(request.sync_json());
}

#[test]
fn snapshot_single_replica() {
    insta::assert_yaml_snapshot!(
        Request::manifest(include_str!("fixtures/single.yaml")).sync_json()
    );
}

#[test]
fn snapshot_all_extensions() {
    insta::assert_yaml_snapshot!(
        Request::manifest(include_str!("fixtures/all-extensions.yaml")).sync_json()
    );
}

#[test]
fn snapshot_store_shards() {
    insta::assert_yaml_snapshot!(
        Request::manifest(include_str!("fixtures/shards.yaml")).sync_json()
    );
}

#[test]
fn snapshot_customize_with_related_objects() {
    let request = Request::example()
        .customize()
        .config_map(
            "prometheus-config",
            &[
                (
                    "prometheus.yml",
                    "global:\n  scrape_interval: 30s\n  external_labels:\n    region: us-west-1\n    replica: '$(HOSTNAME)'\nrule_files:\n- alerts.rules.yml\nscrape_configs:\n- job_name: prometheus\n  static_configs:\n  - targets: ['localhost:9090']\n",
                ),
                ("alerts.rules.yml", "groups:\n- name: example\n  rules:\n  - alert: Up\n    expr: up == 0\n"),
            ],
        )
        .secret("s3-bucket", &[("objstore.yml", OBJSTORE)]);
    insta::assert_yaml_snapshot!(request.sync_json());
}

#[test]
fn snapshot_running_stack() {
    let first = Request::example().sync_json();
    let request = Request::example().observe(as_stored(&first, Rollout::Done));
    insta::assert_yaml_snapshot!(request.sync_json()["status"]);
}

/// The StatefulSets as stored by a release before claims were children: claim templates without the
/// parent's `controller-uid`.
fn made_before_claims_were_children(stored: Vec<Value>) -> Vec<Value> {
    stored
        .into_iter()
        .map(|mut child| {
            for template in child["spec"]["volumeClaimTemplates"]
                .as_array_mut()
                .into_iter()
                .flatten()
            {
                template["metadata"]
                    .as_object_mut()
                    .unwrap()
                    .remove("labels");
            }
            child
        })
        .collect()
}

#[test]
fn snapshot_observed_statefulset_with_other_storage() {
    let first = Request::example().sync_json();
    let request = Request::example()
        .spec("storage", json!({"prometheus": {"size": "50Gi"}}))
        .observe(made_before_claims_were_children(as_stored(
            &first,
            Rollout::Done,
        )));
    insta::assert_yaml_snapshot!(request.sync_json());
}

#[test]
fn the_2018_example_renders_every_child_of_the_stack() {
    let response = Request::example().sync_json();
    assert_eq!(
        names(&response),
        [
            "ServiceAccount/example-prometheus",
            "Role/example-prometheus",
            "RoleBinding/example-prometheus",
            "ConfigMap/example-grafana-datasources",
            "ConfigMap/example-grafana-dashboards",
            "Service/example-prometheus",
            "Service/example-thanos-peers",
            "Service/example-thanos-store",
            "Service/example-thanos-query",
            "Service/example-thanos-compact",
            "Service/example-thanos-query-frontend",
            "Service/example-thanos-query-sd",
            "Service/example-thanos-query-frontend-sd",
            "StatefulSet/example-prometheus",
            "StatefulSet/example-thanos-store",
            "StatefulSet/example-thanos-compact",
            "Deployment/example-thanos-query",
            "Deployment/example-thanos-query-frontend",
            "PodDisruptionBudget/example-prometheus",
            "PodDisruptionBudget/example-thanos-store",
            "PodDisruptionBudget/example-thanos-query",
            "PodDisruptionBudget/example-thanos-query-frontend",
            // Not Prometheus: its API has no authentication, so it is exposed only on request.
            "Ingress/example-query",
        ]
    );
}

#[test]
fn prometheus_gets_an_ingress_and_its_external_url_only_on_request() {
    let plain = Request::example().sync_json();
    assert!(plain["status"]["output"]["prometheusExternal"].is_null());
    let prometheus_args = |response: &serde_json::Value| {
        child(response, "StatefulSet", "example-prometheus")["spec"]["template"]["spec"]
            ["containers"][0]["args"]
            .to_string()
    };
    assert!(!prometheus_args(&plain).contains("--web.external-url"));

    let exposed = Request::example()
        .spec(
            "ingress",
            json!({"exposePrometheus": true, "tlsPerHost": true}),
        )
        .sync_json();
    let ingress = child(&exposed, "Ingress", "example-prometheus");
    assert_eq!(
        ingress["spec"]["rules"][0]["host"],
        "example-prometheus.ingress.example.com"
    );
    assert_eq!(
        ingress["spec"]["tls"],
        json!([{"hosts": ["example-prometheus.ingress.example.com"],
            "secretName": "example-prometheus-tls"}])
    );
    assert_eq!(
        child(&exposed, "Ingress", "example-query")["spec"]["tls"][0]["secretName"],
        "example-query-tls"
    );
    assert_eq!(
        exposed["status"]["output"]["prometheusExternal"],
        "https://example-prometheus.ingress.example.com"
    );
    let args = prometheus_args(&exposed);
    assert!(
        args.contains("\"--web.external-url=https://example-prometheus.ingress.example.com\"")
            && args.contains("\"--web.route-prefix=/\""),
        "{args}"
    );
}

#[test]
fn tls_per_host_and_a_shared_secret_are_refused_together_naming_the_field() {
    let (field, message) = invalid(Request::example().spec(
        "ingress",
        json!({"tlsPerHost": true, "tlsSecretName": "tls"}),
    ));
    assert_eq!(field, "spec.ingress.tlsPerHost");
    assert!(message.contains("tlsSecretName"), "{message}");
}

#[test]
fn ha_runs_two_prometheus_replicas_two_store_gateways_and_two_queriers() {
    let response = Request::example().sync_json();
    assert_eq!(
        child(&response, "StatefulSet", "example-prometheus")["spec"]["replicas"],
        2
    );
    assert_eq!(
        child(&response, "Deployment", "example-thanos-query")["spec"]["replicas"],
        2
    );
    // Two store gateways, spread over nodes and kept one at a time through drains: the history older
    // than the local retention stays served while one restarts.
    let store = child(&response, "StatefulSet", "example-thanos-store");
    assert_eq!(store["spec"]["replicas"], 2);
    assert!(
        !store["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"].is_null(),
        "{store}"
    );
    let budget = child(&response, "PodDisruptionBudget", "example-thanos-store");
    assert_eq!(budget["spec"]["maxUnavailable"], 1);
    assert_eq!(
        budget["spec"]["selector"], store["spec"]["selector"],
        "the budget selects the store gateway's pods"
    );
    // Set apart, or off without high availability.
    let one = Request::example()
        .spec("replicas", json!({"store": 1}))
        .sync_json();
    assert_eq!(
        child(&one, "StatefulSet", "example-thanos-store")["spec"]["replicas"],
        1
    );
    assert!(!names(&one).contains(&"PodDisruptionBudget/example-thanos-store".to_string()));
}

/// The args of a rendered container.
fn args(container: &Value) -> Vec<&str> {
    container["args"]
        .as_array()
        .expect("the container has args")
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect()
}

/// The pod templates of the workloads whose pods a Service of `response` selects.
fn selected_templates<'a>(response: &'a Value, service: &str) -> Vec<&'a Value> {
    let selector = child(response, "Service", service)["spec"]["selector"]
        .as_object()
        .expect("the Service selects pods");
    response["children"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "StatefulSet" || c["kind"] == "Deployment")
        .map(|c| &c["spec"]["template"])
        .filter(|t| {
            selector
                .iter()
                .all(|(k, v)| &t["metadata"]["labels"][k] == v)
        })
        .collect()
}

/// The child of `kind` whose name ends with `suffix`.
fn child_ending<'a>(response: &'a Value, kind: &str, suffix: &str) -> &'a Value {
    response["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == kind && c["metadata"]["name"].as_str().unwrap().ends_with(suffix))
        .unwrap_or_else(|| panic!("no {kind} named *{suffix}"))
}

/// Every container of the pods that `service` selects: its name, its `preStop` sleep and its pod's grace period
/// (Kubernetes's 30 s when the spec names none).
fn drains<'a>(response: &'a Value, service: &str) -> Vec<(&'a str, i64, i64)> {
    let templates = selected_templates(response, service);
    assert!(!templates.is_empty(), "{service} selects no workload");
    templates
        .into_iter()
        .flat_map(|template| {
            let spec = &template["spec"];
            let grace = spec["terminationGracePeriodSeconds"].as_i64().unwrap_or(30);
            spec["containers"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |container| {
                    let name = container["name"].as_str().unwrap();
                    let sleep = container["lifecycle"]["preStop"]["sleep"]["seconds"]
                        .as_i64()
                        .unwrap_or_else(|| panic!("{name} behind {service} has no preStop sleep"));
                    (name, sleep, grace)
                })
        })
        .collect()
}

#[test]
fn every_pod_the_querier_finds_by_dns_serves_until_the_querier_has_dropped_it() {
    // With shards too: every shard's pods are behind the one store gateway Service.
    for response in [
        Request::example().sync_json(),
        Request::manifest(include_str!("fixtures/shards.yaml")).sync_json(),
    ] {
        let query = child_ending(&response, "Deployment", "-thanos-query");
        let args = args(&query["spec"]["template"]["spec"]["containers"][0]);
        let interval = args
            .iter()
            .find_map(|a| a.strip_prefix("--store.sd-dns-interval="))
            .expect("the querier's DNS interval");
        // A resolution, then Thanos's next endpoint update: one every 5 s, each waiting up to 5 s.
        let interval_ms = prometheus_replica_operator::spec::parse_duration(interval)
            .expect("the interval is a duration");
        let dropped_within = i64::try_from(interval_ms / 1000).unwrap() + 10;
        let services: Vec<&str> = args
            .iter()
            .filter_map(|a| a.strip_prefix("--endpoint=dnssrv+_grpc._tcp."))
            .map(|host| host.split('.').next().unwrap())
            .collect();
        assert_eq!(services.len(), 2, "{args:?}");
        for service in services {
            for (name, sleep, grace) in drains(&response, service) {
                assert!(
                    sleep > dropped_within,
                    "{name}: {sleep}s ends before the querier drops the pod ({dropped_within}s)"
                );
                assert!(
                    grace >= sleep + 60,
                    "{service}: a grace period of {grace}s leaves the queries a {sleep}s drain lets in \
                     too little time"
                );
            }
        }
    }
}

/// The Service that a `http://<service>.<namespace>.svc:<port>` URL in `text` names.
fn service_in_url(text: &str) -> &str {
    let (_, rest) = text
        .split_once("http://")
        .unwrap_or_else(|| panic!("no URL in {text}"));
    rest.split('.').next().unwrap()
}

#[test]
fn every_pod_a_query_reaches_through_a_service_serves_until_it_is_let_go_and_ends_its_queries() {
    let response = Request::manifest(include_str!("fixtures/all-extensions.yaml")).sync_json();
    // The Services a query goes through: the frontend's downstream (the querier), Grafana's datasource (the
    // frontend), and every Ingress's backends (the frontend, Grafana, Prometheus).
    let frontend = child_ending(&response, "Deployment", "-query-frontend");
    let frontend_args = args(&frontend["spec"]["template"]["spec"]["containers"][0]);
    let downstream = frontend_args
        .iter()
        .find(|a| a.starts_with("--query-frontend.downstream-url="))
        .expect("the frontend's downstream");
    let datasources = child_ending(&response, "ConfigMap", "-grafana-datasources")["data"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .and_then(Value::as_str)
        .expect("Grafana's datasources");
    let mut services = vec![service_in_url(downstream), service_in_url(datasources)];
    for ingress in response["children"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "Ingress")
    {
        for rule in ingress["spec"]["rules"].as_array().unwrap() {
            for path in rule["http"]["paths"].as_array().unwrap() {
                services.push(path["backend"]["service"]["name"].as_str().unwrap());
            }
        }
    }
    services.sort();
    services.dedup();
    assert!(services.len() >= 4, "{services:?}");
    for service in services {
        for (name, sleep, grace) in drains(&response, service) {
            // kube-proxy and ingress controllers learn of a terminating pod a second or a few later.
            assert!(
                sleep >= 5,
                "{name}: a {sleep}s drain is shorter than the Service's update"
            );
            // What answers queries gets the querier's 120 s query timeout after its drain; the rest at least
            // the 30 s that Kubernetes gives by default.
            let queries = if name.starts_with("thanos-query") {
                120
            } else {
                30
            };
            assert!(
                grace >= sleep + queries,
                "{service}: a grace period of {grace}s leaves {name} less than {queries}s after its \
                 {sleep}s drain"
            );
        }
    }
}

#[test]
fn single_replica_has_no_disruption_budget_and_no_anti_affinity() {
    let response = Request::manifest(include_str!("fixtures/single.yaml")).sync_json();
    assert!(
        !names(&response)
            .iter()
            .any(|n| n.starts_with("PodDisruptionBudget/"))
    );
    let prometheus = child(&response, "StatefulSet", "single-prometheus");
    assert_eq!(prometheus["spec"]["replicas"], 1);
    assert!(prometheus["spec"]["template"]["spec"]["affinity"].is_null());
}

#[test]
fn replicas_override_highly_available() {
    let response = Request::example()
        .spec("replicas", json!({"prometheus": 3, "query": 1}))
        .sync_json();
    assert_eq!(
        child(&response, "StatefulSet", "example-prometheus")["spec"]["replicas"],
        3
    );
    assert_eq!(
        child(&response, "Deployment", "example-thanos-query")["spec"]["replicas"],
        1
    );
    // One querier: a budget would block every drain.
    assert!(!names(&response).contains(&"PodDisruptionBudget/example-thanos-query".to_string()));
}

#[test]
fn ingresses_only_with_base_domain() {
    let response = Request::example().remove("/spec/baseDomain").sync_json();
    assert!(!names(&response).iter().any(|n| n.starts_with("Ingress/")));
    assert!(response["status"]["output"]["queryExternal"].is_null());
}

#[test]
fn compactor_is_left_out_when_disabled_and_the_status_warns() {
    let response = Request::example()
        .spec("compact", json!({"enabled": false}))
        .sync_json();
    assert!(!names(&response).iter().any(|n| n.contains("compact")));
    let warnings = response["status"]["warnings"].to_string();
    assert!(
        warnings.contains("spec.compact.enabled is false"),
        "{warnings}"
    );
}

#[test]
fn the_query_frontend_fronts_the_querier_unless_turned_off() {
    let response = Request::example()
        .spec("replicas", json!({"query": 3, "queryFrontend": 1}))
        .sync_json();
    let frontend = child(&response, "Deployment", "example-thanos-query-frontend");
    assert_eq!(frontend["spec"]["replicas"], 1);
    // One frontend replica: a budget would block every drain.
    assert!(
        !names(&response)
            .contains(&"PodDisruptionBudget/example-thanos-query-frontend".to_string())
    );
    assert_eq!(response["status"]["queryFrontend"]["replicas"], 1);

    let off = Request::example()
        .spec("queryFrontend", json!({"enabled": false}))
        .sync_json();
    assert!(!names(&off).iter().any(|n| n.contains("query-frontend")));
    assert_eq!(
        child(&off, "Ingress", "example-query")["spec"]["rules"][0]["http"]["paths"][0]["backend"]
            ["service"]["name"],
        "example-thanos-query"
    );
    assert_eq!(
        off["status"]["output"]["query"],
        "http://example-thanos-query.default.svc:10902"
    );
    assert!(off["status"]["queryFrontend"].is_null());
}

#[test]
fn bad_query_frontend_settings_are_refused_naming_the_field() {
    let (field, message) =
        invalid(Request::example().spec("queryFrontend", json!({"splitInterval": "1d"})));
    assert_eq!(field, "spec.queryFrontend.splitInterval");
    assert!(message.contains("hours, minutes and seconds"), "{message}");
    let (field, _) =
        invalid(Request::example().spec("queryFrontend", json!({"cache": {"maxSize": "lots"}})));
    assert_eq!(field, "spec.queryFrontend.cache.maxSize");
}

#[test]
fn grafana_runs_with_its_ingress_only_when_enabled_and_needs_an_admin_secret() {
    let off = Request::example().sync_json();
    assert!(!names(&off).contains(&"Deployment/example-grafana".to_string()));
    assert!(names(&off).contains(&"ConfigMap/example-grafana-dashboards".to_string()));

    let on = Request::example()
        .spec(
            "grafana",
            json!({"enabled": true, "adminSecret": "grafana-admin"}),
        )
        .sync_json();
    for name in [
        "Deployment/example-grafana",
        "Service/example-grafana",
        "Service/example-grafana-sd",
        "Ingress/example-grafana",
    ] {
        assert!(names(&on).contains(&name.to_string()), "{name}");
    }
    assert_eq!(
        child(&on, "Ingress", "example-grafana")["spec"]["rules"][0]["host"],
        "example-grafana.ingress.example.com"
    );
    assert_eq!(
        on["status"]["output"]["grafanaExternal"],
        "http://example-grafana.ingress.example.com"
    );

    let (field, message) = invalid(Request::example().spec("grafana", json!({"enabled": true})));
    assert_eq!(field, "spec.grafana.adminSecret");
    assert!(
        message.contains("admin-user and admin-password"),
        "{message}"
    );
}

#[test]
fn grafana_takes_its_resources_from_the_spec_with_small_requests_by_default() {
    let grafana = json!({"enabled": true, "adminSecret": "grafana-admin"});
    let resources = |response: &Value| {
        child(response, "Deployment", "example-grafana")["spec"]["template"]["spec"]["containers"]
            [0]["resources"]
            .clone()
    };
    let default = Request::example()
        .spec("grafana", grafana.clone())
        .sync_json();
    assert_eq!(
        resources(&default),
        json!({"requests": {"cpu": "50m", "memory": "128Mi"}})
    );
    let set = Request::example()
        .spec("grafana", grafana.clone())
        .spec(
            "resources",
            json!({"grafana": {"requests": {"cpu": "0.25"}, "limits": {"memory": "1024Mi"}}}),
        )
        .sync_json();
    assert_eq!(
        resources(&set),
        json!({"requests": {"cpu": "250m"}, "limits": {"memory": "1Gi"}})
    );
    let (field, _) = invalid(Request::example().spec("grafana", grafana).spec(
        "resources",
        json!({"grafana": {"limits": {"memory": "1 GB"}}}),
    ));
    assert_eq!(field, "spec.resources.grafana.limits.memory");
}

#[test]
fn compactor_always_runs_exactly_one_replica() {
    let response = Request::example()
        .spec("replicas", json!({"prometheus": 5}))
        .sync_json();
    assert_eq!(
        child(&response, "StatefulSet", "example-thanos-compact")["spec"]["replicas"],
        1
    );
}

#[test]
fn block_duration_other_than_2h_is_honoured_and_warned() {
    let response = Request::example().sync_json();
    let args = child(&response, "StatefulSet", "example-prometheus")["spec"]["template"]["spec"]["containers"][0]
        ["args"]
        .to_string();
    assert!(
        args.contains("--storage.tsdb.min-block-duration=1h"),
        "{args}"
    );
    assert!(
        args.contains("--storage.tsdb.max-block-duration=1h"),
        "{args}"
    );
    assert!(
        response["status"]["warnings"][0]
            .as_str()
            .unwrap()
            .contains("blockDuration is 1h")
    );
}

#[test]
fn answers_are_byte_for_byte_the_same_every_time() {
    let request = Request::manifest(include_str!("fixtures/all-extensions.yaml"))
        .customize()
        .config_map("prometheus-config", &config("global: {}\n"))
        .secret("thanos-objstore", &[("objstore.yml", OBJSTORE)]);
    let body = serde_json::to_vec(&request.json()).unwrap();
    let first = prometheus_replica_operator::sync_json(&body).unwrap();
    for _ in 0..5 {
        assert_eq!(
            prometheus_replica_operator::sync_json(&body).unwrap(),
            first
        );
    }
}

#[test]
fn observing_the_children_back_writes_no_child() {
    for fixture in [
        include_str!("fixtures/example-2018.yaml"),
        include_str!("fixtures/all-extensions.yaml"),
        include_str!("fixtures/single.yaml"),
        include_str!("fixtures/shards.yaml"),
    ] {
        let request = Request::manifest(fixture);
        let first = request.sync_json();
        for rollout in [Rollout::Started, Rollout::Done] {
            let stored = as_stored(&first, rollout);
            let second = request.clone().observe(stored.clone()).sync_json();
            let second_children = second["children"].as_array().unwrap();
            assert_eq!(second_children.len(), stored.len());
            for (child, stored) in second_children.iter().zip(&stored) {
                let diffs = merge_diffs(stored, child);
                assert!(
                    diffs.is_empty(),
                    "{} would be written ({rollout:?}): {diffs:?}",
                    child["metadata"]["name"]
                );
                assert!(
                    apply_update(stored, child) == *stored,
                    "{} would be written ({rollout:?}), its last-applied annotation changed",
                    child["metadata"]["name"]
                );
            }
            // The same answer as before the children were observed, claim templates included: with
            // another answer, the last-applied annotation changes and Metacontroller writes (issue 19).
            assert_eq!(
                second["children"], first["children"],
                "children changed once observed ({rollout:?})"
            );
            assert!(
                !second["status"]["warnings"]
                    .to_string()
                    .contains("cannot change"),
                "an unchanged StatefulSet was reported as changed: {}",
                second["status"]["warnings"]
            );
        }
    }
}

#[test]
fn an_upgraded_querier_keeps_deduplicating_on_the_former_label_and_then_writes_nothing() {
    let request = Request::manifest(include_str!("fixtures/example-2018.yaml"));
    // The querier as an operator that deduplicated on `replica` rendered it.
    let mut former = as_stored(&request.sync_json(), Rollout::Done);
    for child in &mut former {
        if child["kind"] == "Deployment" && child["metadata"]["name"] == "example-thanos-query" {
            let args = &mut child["spec"]["template"]["spec"]["containers"][0]["args"];
            for arg in args.as_array_mut().unwrap() {
                if arg == "--query.replica-label=prometheus_replica" {
                    *arg = json!("--query.replica-label=replica");
                }
            }
        }
    }
    let upgraded = request.clone().observe(former).sync_json();
    let querier = child(&upgraded, "Deployment", "example-thanos-query");
    let labels: Vec<&str> = querier["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str()?.strip_prefix("--query.replica-label="))
        .collect();
    assert_eq!(labels, ["prometheus_replica", "replica"]);
    // Observed back, the answer is the same: Metacontroller writes nothing more.
    let stored = as_stored(&upgraded, Rollout::Done);
    let again = request.clone().observe(stored.clone()).sync_json();
    assert_eq!(again["children"], upgraded["children"]);
    for (child, stored) in again["children"].as_array().unwrap().iter().zip(&stored) {
        assert!(
            merge_diffs(stored, child).is_empty(),
            "{}",
            child["metadata"]["name"]
        );
    }
    // Setting spec.replicaLabel ends it.
    let explicit = request
        .clone()
        .spec("replicaLabel", json!("prometheus_replica"))
        .observe(stored)
        .sync_json();
    let args = child(&explicit, "Deployment", "example-thanos-query")["spec"]["template"]["spec"]
        ["containers"][0]["args"]
        .to_string();
    assert!(!args.contains("--query.replica-label=replica\""), "{args}");
}

#[test]
fn hook_versions_v1_and_v2_give_the_same_answer() {
    let first = Request::example().sync_json();
    let make = |request: Request| {
        request
            .customize()
            .config_map("prometheus-config", &config("scrape_configs: []\n"))
            .secret("s3-bucket", &[("objstore.yml", OBJSTORE)])
            .observe(as_stored(&first, Rollout::Done))
            .sync_json()
    };
    assert_eq!(make(Request::example()), make(Request::example().v2()));
}

#[test]
fn no_child_carries_status_owner_references_or_nulls() {
    fn no_nulls(value: &Value, path: &str) {
        match value {
            Value::Null => panic!("null at {path}"),
            Value::Object(o) => o
                .iter()
                .for_each(|(k, v)| no_nulls(v, &format!("{path}.{k}"))),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, v)| no_nulls(v, &format!("{path}[{i}]"))),
            _ => {}
        }
    }
    let response = Request::manifest(include_str!("fixtures/all-extensions.yaml")).sync_json();
    for child in response["children"].as_array().unwrap() {
        assert!(child.get("status").is_none());
        assert!(child["metadata"].get("ownerReferences").is_none());
        no_nulls(child, child["metadata"]["name"].as_str().unwrap());
    }
}

#[test]
fn changed_storage_keeps_the_observed_claim_templates_and_warns() {
    let first = Request::example().sync_json();
    let stored = made_before_claims_were_children(as_stored(&first, Rollout::Done));
    let response = Request::example()
        .spec("storage", json!({"prometheus": {"size": "50Gi"}}))
        .observe(stored.clone())
        .sync_json();
    let templates =
        &child(&response, "StatefulSet", "example-prometheus")["spec"]["volumeClaimTemplates"];
    assert_eq!(
        templates[0]["spec"]["resources"]["requests"]["storage"],
        "10Gi"
    );
    // Sent back as stored, with what the API server added: anything less is a write on every sync.
    let stored = stored
        .iter()
        .find(|c| c["kind"] == "StatefulSet" && c["metadata"]["name"] == "example-prometheus");
    assert_eq!(templates, &stored.unwrap()["spec"]["volumeClaimTemplates"]);
    let warnings = response["status"]["warnings"].to_string();
    assert!(
        warnings.contains("StatefulSet example-prometheus: spec.volumeClaimTemplates"),
        "{warnings}"
    );
    // Recreating the StatefulSet does not grow the claims it made: the advice says how, and how to let the
    // operator grow them from now on.
    assert!(
        warnings.contains("kubectl patch pvc data-example-prometheus-<ordinal>")
            && warnings.contains("allowVolumeExpansion"),
        "{warnings}"
    );
    assert!(
        warnings.contains(
            "kubectl label pvc -n default -l app.kubernetes.io/component=prometheus,app.kubernetes.io/instance=example,\
             app.kubernetes.io/name=prometheus controller-uid=6f1c3a52-1d0e-4c55-9a3b-2f6d5e8a9b10"
        ),
        "{warnings}"
    );
    assert_eq!(
        response["status"]["conditions"][2]["reason"],
        "ImmutableFieldChangePending"
    );
    // The other StatefulSets are untouched and unreported.
    assert!(!warnings.contains("example-thanos-store"), "{warnings}");
}

#[test]
fn phase_follows_the_observed_workloads() {
    let first = Request::example().sync_json();
    assert_eq!(first["status"]["phase"], "Install");
    let started = Request::example()
        .observe(as_stored(&first, Rollout::Started))
        .sync_json();
    assert_eq!(started["status"]["phase"], "Creating");
    assert_eq!(started["status"]["prometheus"]["ready"], "0/2");
    let done = Request::example()
        .observe(as_stored(&first, Rollout::Done))
        .sync_json();
    assert_eq!(done["status"]["phase"], "Running");
    assert_eq!(done["status"]["prometheus"]["ready"], "2/2");
    assert_eq!(done["status"]["conditions"][0]["status"], "True");
    assert_eq!(done["status"]["conditions"][1]["status"], "False");
}

#[test]
fn condition_times_come_from_the_request_and_carry_over_while_unchanged() {
    let first = Request::example().sync_json();
    // Nothing observed: the parent's creation time is the newest time in the request.
    assert_eq!(
        first["status"]["conditions"][0]["lastTransitionTime"],
        "2026-11-01T10:00:00Z"
    );
    let observed = as_stored(&first, Rollout::Done);
    let running = Request::example()
        .set("/status", first["status"].clone())
        .observe(observed.clone())
        .sync_json();
    // Available turned True: the newest time of the request (a Deployment condition at 10:01).
    assert_eq!(
        running["status"]["conditions"][0]["lastTransitionTime"],
        "2026-11-01T10:01:00Z"
    );
    // Degraded stayed False: its time is carried over.
    assert_eq!(
        running["status"]["conditions"][2]["lastTransitionTime"],
        "2026-11-01T10:00:00Z"
    );
    let again = Request::example()
        .set("/status", running["status"].clone())
        .observe(observed)
        .sync_json();
    assert_eq!(again["status"], running["status"]);
}

#[test]
fn prometheus_runs_under_its_own_account_that_may_only_discover() {
    let response = Request::example().sync_json();
    let account = child(&response, "ServiceAccount", "example-prometheus");
    assert_eq!(account["apiVersion"], "v1");
    let role = child(&response, "Role", "example-prometheus");
    assert_eq!(role["apiVersion"], "rbac.authorization.k8s.io/v1");
    let rules = role["rules"].as_array().unwrap();
    let mut granted = Vec::new();
    for rule in rules {
        assert_eq!(rule["verbs"], json!(["get", "list", "watch"]), "{rule}");
        for resource in rule["resources"].as_array().unwrap() {
            granted.push(format!(
                "{}/{}",
                rule["apiGroups"][0].as_str().unwrap(),
                resource.as_str().unwrap()
            ));
        }
    }
    granted.sort();
    assert_eq!(
        granted,
        [
            "/endpoints",
            "/pods",
            "/services",
            "discovery.k8s.io/endpointslices"
        ]
    );
    let binding = child(&response, "RoleBinding", "example-prometheus");
    assert_eq!(
        binding["roleRef"],
        json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "example-prometheus"})
    );
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": "example-prometheus", "namespace": "default"}])
    );
    let pod = &child(&response, "StatefulSet", "example-prometheus")["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "example-prometheus");
    // The Thanos pods need no token: they talk to no API server.
    for (kind, name) in [
        ("StatefulSet", "example-thanos-store"),
        ("Deployment", "example-thanos-query"),
    ] {
        let pod = &child(&response, kind, name)["spec"]["template"]["spec"];
        assert_eq!(pod["automountServiceAccountToken"], false, "{name}");
        assert!(pod["serviceAccountName"].is_null(), "{name}");
    }
}

#[test]
fn a_user_service_account_replaces_the_rendered_one_and_its_rbac() {
    let response = Request::example()
        .spec("pod", json!({"serviceAccountName": "monitoring"}))
        .sync_json();
    for kind in ["ServiceAccount", "Role", "RoleBinding"] {
        assert!(
            !names(&response)
                .iter()
                .any(|n| n.starts_with(&format!("{kind}/"))),
            "{kind}: {:?}",
            names(&response)
        );
    }
    for (kind, name) in [
        ("StatefulSet", "example-prometheus"),
        ("StatefulSet", "example-thanos-store"),
        ("StatefulSet", "example-thanos-compact"),
        ("Deployment", "example-thanos-query"),
    ] {
        let pod = &child(&response, kind, name)["spec"]["template"]["spec"];
        assert_eq!(pod["serviceAccountName"], "monitoring", "{name}");
    }
    let (field, _) =
        invalid(Request::example().spec("pod", json!({"serviceAccountName": "Bad_Name"})));
    assert_eq!(field, "spec.pod.serviceAccountName");
}

#[test]
fn a_config_map_named_like_the_derived_one_is_refused() {
    // The derived `<name>-prometheus-config` would overwrite the user's own configuration.
    let (field, message) =
        invalid(Request::example().spec("configMap", json!("example-prometheus-config")));
    assert_eq!(field, "spec.configMap");
    assert!(message.contains("example-prometheus-config"), "{message}");
    let (field, _) = invalid(
        Request::example()
            .remove("/spec/configMap")
            .spec("config", json!("example-prometheus-config")),
    );
    assert_eq!(field, "spec.config");
    // Another parent's derived name is an ordinary ConfigMap.
    Request::example()
        .spec("configMap", json!("other-prometheus-config"))
        .sync();
}

#[test]
fn invalid_specs_are_rejected_naming_the_field() {
    let cases: Vec<(Request, &str, &str)> = vec![
        (
            Request::example().spec("metrics", json!({"retention": "24x"})),
            "spec.metrics.retention",
            "not a duration",
        ),
        (
            Request::example().spec(
                "metrics",
                json!({"retention": "24h --web.enable-admin-api"}),
            ),
            "spec.metrics.retention",
            "not a duration",
        ),
        (
            Request::example().spec("metrics", json!({"blockDuration": ""})),
            "spec.metrics.blockDuration",
            "not a duration",
        ),
        (
            Request::example().spec("metrics", json!({"blockDuration": "0s"})),
            "spec.metrics.blockDuration",
            "longer than 0",
        ),
        (
            Request::example().spec("replicas", json!({"prometheus": 0})),
            "spec.replicas.prometheus",
            "out of range",
        ),
        (
            Request::example().spec("replicas", json!({"query": -3})),
            "spec.replicas.query",
            "out of range",
        ),
        (
            Request::example().spec("replicas", json!({"prometheus": "two"})),
            "spec.replicas.prometheus",
            "invalid type",
        ),
        (
            Request::example().spec("configMap", json!("../etc")),
            "spec.configMap",
            "not an object name",
        ),
        (
            Request::example().spec("bucketSecret", json!("a/b")),
            "spec.bucketSecret",
            "not an object name",
        ),
        (
            Request::example().remove("/spec/bucketSecret"),
            "spec",
            "missing field `bucketSecret`",
        ),
        (
            Request::example().remove("/spec/configMap"),
            "spec.configMap",
            "is required",
        ),
        (
            Request::example().spec("baseDomain", json!("Example.COM")),
            "spec.baseDomain",
            "not a DNS name",
        ),
        (
            Request::example().spec("pod", json!({"antiAffinity": "medium"})),
            "spec.pod.antiAffinity",
            "unknown variant",
        ),
        (
            Request::example().spec("replicaLabel", json!("0abc")),
            "spec.replicaLabel",
            "label name",
        ),
        (
            Request::example().spec("replicaLabel", json!("prometheus")),
            "spec.replicaLabel",
            "taken",
        ),
        (
            Request::example().spec("externalLabels", json!({"__x": "y"})),
            "spec.externalLabels.__x",
            "label name",
        ),
        (
            Request::example().spec("storage", json!({"store": {"size": "lots"}})),
            "spec.storage.store.size",
            "not a quantity",
        ),
        (
            Request::example().spec("storage", json!({"store": {"size": "0Gi"}})),
            "spec.storage.store.size",
            "larger than 0",
        ),
        (
            Request::example().spec(
                "resources",
                json!({"query": {"limits": {"memory": "1 GB"}}}),
            ),
            "spec.resources.query.limits.memory",
            "not a quantity",
        ),
        (
            Request::example().spec("compact", json!({"retention": {"raw": "1d"}})),
            "spec.compact.retention.raw",
            "40h",
        ),
        (
            Request::example().spec("images", json!({"thanos": "thanos latest"})),
            "spec.images.thanos",
            "image",
        ),
        (
            Request::example().set("/metadata/name", json!("a".repeat(38))),
            "metadata.name",
            "at most 37",
        ),
        (
            Request::example().set("/metadata/name", json!("1abc")),
            "metadata.name",
            "start with a lowercase letter",
        ),
        (
            Request::example().set("/metadata/name", json!("a/b")),
            "metadata.name",
            "lowercase letters",
        ),
        (
            Request::example().set("/spec", Value::Null),
            "spec",
            "required",
        ),
    ];
    for (request, field, words) in cases {
        let (got_field, message) = invalid(request);
        assert_eq!(got_field, field, "{message}");
        assert!(
            message.contains(words),
            "{field}: {message:?} does not say {words:?}"
        );
    }
}

#[test]
fn a_parent_of_another_kind_is_a_bad_request() {
    let request = Request::example()
        .set("/kind", json!("Deployment"))
        .set("/apiVersion", json!("apps/v1"));
    let error = prometheus_replica_operator::sync(&request.build()).unwrap_err();
    assert!(
        matches!(error, Error::BadRequest(ref m) if m.contains("expected prometheus.robszumski.com/v1alpha1")),
        "{error}"
    );
}

#[test]
fn every_name_fits_at_the_longest_parent_name() {
    let name = format!("a{}", "b".repeat(36));
    let response = Request::example()
        .set("/metadata/name", json!(name))
        .sync_json();
    for child in response["children"].as_array().unwrap() {
        let child_name = child["metadata"]["name"].as_str().unwrap();
        let limit = match child["kind"].as_str().unwrap() {
            // A StatefulSet's pods get `controller-revision-hash: <name>-<hash>`, a 63-character label value.
            "StatefulSet" => 52,
            "Service" => 63,
            _ => 253,
        };
        assert!(
            child_name.len() <= limit,
            "{child_name} is longer than {limit}"
        );
    }
}

#[test]
fn children_of_the_wrong_shape_are_a_bad_request() {
    let valid = Request::example().json();
    let cases = [
        ("/children", json!([])),
        ("/children", json!({"Service.v1": []})),
        ("/children", json!({"Service.v1": {"x": 5}})),
        ("/children", json!({"Service.v1": {"x": {"metadata": {}}}})),
        ("/children", json!({"Service": {}})),
        ("/related", json!({".v1": {}})),
        ("/related", json!({"Secret.v1": {"s": "not an object"}})),
    ];
    for (pointer, value) in cases {
        let mut request = valid.clone();
        *request.pointer_mut(pointer).unwrap() = value.clone();
        let body = serde_json::to_vec(&request).unwrap();
        match prometheus_replica_operator::sync_json(&body) {
            Err(Error::BadRequest(_)) => {}
            Err(other) => panic!("{pointer} = {value}: {other}"),
            Ok(_) => panic!("{pointer} = {value}: answered 200"),
        }
    }
    // Null and absent mean empty, as Metacontroller may send them.
    let mut request = valid.clone();
    request["related"] = Value::Null;
    request.as_object_mut().unwrap().remove("children");
    assert!(prometheus_replica_operator::sync_json(&serde_json::to_vec(&request).unwrap()).is_ok());
}

/// The StatefulSets of an answer whose name starts with `prefix`, by name.
fn statefulsets<'a>(response: &'a Value, prefix: &str) -> Vec<&'a Value> {
    response["children"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            c["kind"] == "StatefulSet"
                && c["metadata"]["name"].as_str().unwrap().starts_with(prefix)
        })
        .collect()
}

#[test]
fn store_shards_split_the_blocks_among_statefulsets_that_one_service_and_one_budget_cover() {
    let request = Request::manifest(include_str!("fixtures/shards.yaml"))
        .customize()
        .config_map(
            "prometheus-config",
            &config("scrape_configs:\n- job_name: a\n  static_configs:\n  - targets: [\"a:1\"]\n"),
        )
        .secret("thanos-objstore", &[("objstore.yml", OBJSTORE)]);
    let response = request.sync_json();
    let stores = statefulsets(&response, "sharded-thanos-store");
    let names: Vec<&str> = stores
        .iter()
        .map(|s| s["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "sharded-thanos-store-0",
            "sharded-thanos-store-1",
            "sharded-thanos-store-2"
        ]
    );
    let label = "prometheus.robszumski.com/store-shard";
    let mut replicas = 0;
    for (index, set) in stores.iter().enumerate() {
        let spec = &set["spec"];
        replicas += spec["replicas"].as_i64().unwrap();
        assert_eq!(spec["replicas"], 2, "replicas.store in each shard");
        assert_eq!(spec["serviceName"], "sharded-thanos-store");
        assert_eq!(spec["selector"]["matchLabels"][label], index.to_string());
        let pod = &spec["template"];
        assert_eq!(pod["metadata"]["labels"][label], index.to_string());
        assert_eq!(
            pod["metadata"]["annotations"]["prometheus.robszumski.com/store-shards"],
            "3"
        );
        // Each shard's replicas spread over nodes among themselves.
        let term = &pod["spec"]["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
            [0]["podAffinityTerm"];
        assert_eq!(
            term["labelSelector"]["matchLabels"][label],
            index.to_string()
        );
        let args = args(&pod["spec"]["containers"][0]);
        let selector = args
            .iter()
            .find_map(|a| a.strip_prefix("--selector.relabel-config="))
            .unwrap();
        assert_eq!(
            selector,
            format!(
                r#"[{{"action":"keep","regex":"monitoring/sharded","separator":";","source_labels":["prometheus"]}},{{"action":"hashmod","modulus":3,"source_labels":["__block_id"],"target_label":"__tmp_shard"}},{{"action":"keep","regex":"{index}","source_labels":["__tmp_shard"]}}]"#
            )
        );
    }
    // The one headless Service and the one budget select every shard's pods: the querier finds all of them
    // through the Service's SRV records.
    let service = child(&response, "Service", "sharded-thanos-store");
    assert_eq!(service["spec"]["clusterIP"], "None");
    assert!(service["spec"]["selector"].get(label).is_none());
    let budget = child(&response, "PodDisruptionBudget", "sharded-thanos-store");
    assert!(
        budget["spec"]["selector"]["matchLabels"]
            .get(label)
            .is_none()
    );
    assert_eq!(budget["spec"]["maxUnavailable"], 1);
    let query = child(&response, "Deployment", "sharded-thanos-query");
    assert!(
        query["spec"]["template"]["spec"]["containers"][0]["args"]
            .as_array()
            .unwrap()
            .contains(&json!(
                "--endpoint=dnssrv+_grpc._tcp.sharded-thanos-store.monitoring.svc"
            ))
    );
    // The status and the alert expect every shard's replicas.
    assert_eq!(response["status"]["store"]["replicas"], replicas);
    assert_eq!(response["status"]["store"]["ready"], "0/6");
    assert_eq!(
        response["status"]["local"]["stores"],
        json!([
            "sharded-thanos-store-0",
            "sharded-thanos-store-1",
            "sharded-thanos-store-2"
        ])
    );
    let rules = child(&response, "ConfigMap", "sharded-prometheus-config")["data"]
        ["promrep-self-monitoring.rules.yml"]
        .as_str()
        .unwrap();
    assert!(
        rules.contains(&format!(
            r#"(count(up{{job=\"promrep-store\"}} == 1) or vector(0)) < {replicas}"#
        )),
        "{rules}"
    );
    // Once every shard is ready, the status counts them all.
    let running = request
        .clone()
        .observe(as_stored(&response, Rollout::Done))
        .sync_json();
    assert_eq!(running["status"]["store"]["ready"], "6/6");
    assert_eq!(running["status"]["phase"], "Running");
}

#[test]
fn a_change_of_the_shard_count_deletes_no_store_gateway_before_its_replacements_are_ready() {
    let one = Request::example();
    let stored_one = as_stored(&one.sync_json(), Rollout::Done);
    let two = one.clone().spec("store", json!({"shards": 2}));

    // The new shards start beside the running store gateway, which is sent back as stored: no write.
    let starting = two.clone().observe(stored_one.clone()).sync_json();
    let names: Vec<&str> = statefulsets(&starting, "example-thanos-store")
        .iter()
        .map(|s| s["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "example-thanos-store",
            "example-thanos-store-0",
            "example-thanos-store-1"
        ]
    );
    let old = stored_one
        .iter()
        .find(|c| c["kind"] == "StatefulSet" && c["metadata"]["name"] == "example-thanos-store")
        .unwrap();
    let kept = child(&starting, "StatefulSet", "example-thanos-store");
    assert!(
        merge_diffs(old, kept).is_empty(),
        "{:?}",
        merge_diffs(old, kept)
    );
    assert!(
        apply_update(old, kept) == *old,
        "the kept one is not written"
    );
    assert!(
        starting["status"]["warnings"]
            .to_string()
            .contains("StatefulSet example-thanos-store is kept as it runs"),
        "{}",
        starting["status"]["warnings"]
    );
    assert_eq!(starting["status"]["phase"], "Creating");

    // The shards exist but are not ready: the running store gateway stays.
    let mut observed = stored_one.clone();
    observed.extend(
        as_stored(&starting, Rollout::Started)
            .into_iter()
            .filter(|c| {
                c["metadata"]["name"]
                    .as_str()
                    .unwrap()
                    .starts_with("example-thanos-store-")
            }),
    );
    let waiting = two.clone().observe(observed).sync_json();
    assert_eq!(statefulsets(&waiting, "example-thanos-store").len(), 3);

    // Every shard ready: the running store gateway is left out, and Metacontroller deletes it.
    let mut observed = stored_one;
    observed.extend(as_stored(&starting, Rollout::Done).into_iter().filter(|c| {
        c["metadata"]["name"]
            .as_str()
            .unwrap()
            .starts_with("example-thanos-store-")
    }));
    let done = two.clone().observe(observed.clone()).sync_json();
    assert_eq!(statefulsets(&done, "example-thanos-store").len(), 2);
    assert!(
        !done["status"]["warnings"]
            .to_string()
            .contains("spec.store.shards"),
        "{}",
        done["status"]["warnings"]
    );

    // And back to one: the unsharded one starts while the shards run on, rendered for the two shards
    // they run, so not written.
    let shards: Vec<Value> = observed
        .into_iter()
        .filter(|c| c["metadata"]["name"] != "example-thanos-store")
        .collect();
    let back = one.observe(shards.clone()).sync_json();
    for stored in shards.iter().filter(|c| c["kind"] == "StatefulSet") {
        let name = stored["metadata"]["name"].as_str().unwrap();
        if name.starts_with("example-thanos-store-") {
            let kept = child(&back, "StatefulSet", name);
            assert!(merge_diffs(stored, kept).is_empty(), "{name}");
            assert!(
                apply_update(stored, kept) == *stored,
                "{name} is not written"
            );
        }
    }
    let names: Vec<String> = statefulsets(&back, "example-thanos-store")
        .iter()
        .map(|s| s["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "example-thanos-store",
            "example-thanos-store-0",
            "example-thanos-store-1"
        ]
    );
}

#[test]
fn every_shard_name_and_label_fits_at_the_longest_parent_name() {
    let name = format!("a{}", "b".repeat(36));
    let response = Request::example()
        .set("/metadata/name", json!(name))
        .spec("store", json!({"shards": 10}))
        .sync_json();
    let stores = statefulsets(&response, &format!("{name}-thanos-store"));
    assert_eq!(stores.len(), 10);
    for set in stores {
        let set_name = set["metadata"]["name"].as_str().unwrap();
        // A StatefulSet's pods get `controller-revision-hash: <name>-<hash>`, a 63-character label value.
        assert!(set_name.len() <= 52, "{set_name}");
        for (key, value) in set["spec"]["selector"]["matchLabels"].as_object().unwrap() {
            assert!(value.as_str().unwrap().len() <= 63, "{key}: {value}");
        }
    }
}
