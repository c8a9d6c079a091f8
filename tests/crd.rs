//! The CRD: `deploy/crd.yaml` is the `crd` command's output, and its schema holds the rules of the API.

use serde_json::Value;

fn crd() -> Value {
    serde_yaml_ng::from_str(&prometheus_replica_operator::api::crd_yaml()).expect("the CRD is YAML")
}

#[test]
fn deploy_crd_yaml_is_the_output_of_the_crd_command() {
    let committed = include_str!("../deploy/crd.yaml");
    assert!(
        committed == prometheus_replica_operator::api::crd_yaml(),
        "deploy/crd.yaml is stale: run `cargo run -- crd > deploy/crd.yaml`"
    );
}

#[test]
fn the_crd_command_prints_the_same_as_the_library() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_prometheus-replica-operator"))
        .arg("crd")
        .output()
        .expect("the binary runs");
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        prometheus_replica_operator::api::crd_yaml()
    );
}

#[test]
fn the_crd_has_the_2018_names_a_status_subresource_and_printer_columns() {
    let crd = crd();
    assert_eq!(
        crd["metadata"]["name"],
        "prometheusreplicas.prometheus.robszumski.com"
    );
    assert_eq!(crd["spec"]["scope"], "Namespaced");
    assert_eq!(crd["spec"]["names"]["kind"], "PrometheusReplica");
    assert_eq!(crd["spec"]["names"]["shortNames"][0], "promrep");
    let version = &crd["spec"]["versions"][0];
    assert_eq!(version["name"], "v1alpha1");
    assert!(version["subresources"]["status"].is_object());
    let columns: Vec<&str> = version["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(columns, ["Phase", "Prometheus", "Query", "Age"]);
}

#[test]
fn the_schema_validates_what_admission_can() {
    let crd = crd();
    let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    let spec = &schema["properties"]["spec"];
    assert_eq!(spec["required"], serde_json::json!(["bucketSecret"]));
    let duration = &spec["properties"]["metrics"]["properties"]["retention"];
    assert_eq!(
        duration["pattern"],
        prometheus_replica_operator::api::DURATION_PATTERN
    );
    assert_eq!(duration["minLength"], 1);
    for field in ["configMap", "bucketSecret"] {
        assert_eq!(
            spec["properties"][field]["pattern"],
            prometheus_replica_operator::api::DNS1123_SUBDOMAIN_PATTERN
        );
    }
    assert_eq!(
        spec["properties"]["replicas"]["properties"]["prometheus"]["minimum"].as_f64(),
        Some(1.0)
    );
    assert_eq!(
        spec["properties"]["pod"]["properties"]["antiAffinity"]["enum"],
        serde_json::json!(["soft", "hard"])
    );
    let rules = schema["x-kubernetes-validations"].to_string();
    assert!(rules.contains("size(self.metadata.name) <= 37"), "{rules}");
    assert!(
        rules.contains("has(self.spec.configMap) || has(self.spec.config)"),
        "{rules}"
    );
    let status = &schema["properties"]["status"]["properties"];
    assert!(status["observedGeneration"].is_object());
    assert_eq!(status["conditions"]["x-kubernetes-list-type"], "map");
}

#[test]
fn the_crd_refuses_a_config_map_named_like_the_derived_one() {
    let crd = crd();
    let rules = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["x-kubernetes-validations"]
        .as_array()
        .expect("the root has CEL rules")
        .clone();
    for (field, path) in [("configMap", ".spec.configMap"), ("config", ".spec.config")] {
        let rule = rules
            .iter()
            .find(|r| {
                r["fieldPath"] == path
                    && r["rule"]
                        .as_str()
                        .is_some_and(|rule| rule.contains("'-prometheus-config'"))
            })
            .unwrap_or_else(|| {
                panic!("no rule refuses spec.{field} named like the derived ConfigMap")
            });
        assert!(
            rule["message"]
                .as_str()
                .unwrap()
                .starts_with(&format!("spec.{field}")),
            "{rule}"
        );
    }
}
