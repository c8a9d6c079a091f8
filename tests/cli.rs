//! The `render` command: manifests and sync requests in, children or whole answers out, errors naming the field.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn render(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_prometheus-replica-operator"))
        .arg("render")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut input = child.stdin.take().expect("stdin is piped");
    input
        .write_all(stdin.unwrap_or_default().as_bytes())
        .expect("stdin takes the input");
    drop(input);
    child.wait_with_output().expect("the binary finishes")
}

fn documents(yaml: &str) -> Vec<Value> {
    yaml.split("\n---\n")
        .map(|doc| doc.trim_start_matches("---\n"))
        .filter(|doc| !doc.trim().is_empty())
        .map(|doc| serde_yaml_ng::from_str(doc).expect("every document is YAML"))
        .collect()
}

#[test]
fn render_prints_every_child_of_the_2018_example_as_a_yaml_stream() {
    let output = render(&["tests/fixtures/example-2018.yaml"], None);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let docs = documents(&String::from_utf8(output.stdout).unwrap());
    assert_eq!(
        docs.len(),
        23,
        "with Prometheus's account and RBAC, the query frontend, the discovery Services of self-monitoring and \
         the Grafana ConfigMaps; the querier's Ingress, not Prometheus's"
    );
    assert!(
        docs.iter().all(|d| d["metadata"]["namespace"] == "default"),
        "namespace defaults to default"
    );
    assert!(
        docs.iter()
            .any(|d| d["kind"] == "StatefulSet" && d["metadata"]["name"] == "example-prometheus")
    );
}

#[test]
fn render_reads_standard_input_and_json_manifests() {
    let manifest = r#"{"apiVersion": "prometheus.robszumski.com/v1alpha1", "kind": "PrometheusReplica",
        "metadata": {"name": "x", "namespace": "ns"}, "spec": {"configMap": "c", "bucketSecret": "b"}}"#;
    let output = render(&["-"], Some(manifest));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let docs = documents(&String::from_utf8(output.stdout).unwrap());
    assert!(docs.iter().all(|d| d["metadata"]["namespace"] == "ns"));
}

#[test]
fn render_of_a_sync_request_prints_the_whole_response_as_json() {
    let output = render(&["-o", "json", "hack/examples/sync-request.json"], None);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let response: Value = serde_json::from_slice(&output.stdout).unwrap();
    // Without Prometheus's Ingress, exposed only with spec.ingress.exposePrometheus.
    assert_eq!(response["children"].as_array().unwrap().len(), 23);
    assert_eq!(response["status"]["phase"], "Install");
    assert_eq!(response["resyncAfterSeconds"], 0);
}

#[test]
fn render_of_an_invalid_spec_fails_naming_the_field() {
    let manifest = "apiVersion: prometheus.robszumski.com/v1alpha1\nkind: PrometheusReplica\nmetadata: {name: x}\n\
                    spec: {configMap: c, bucketSecret: b, metrics: {retention: 24x}}\n";
    let output = render(&["-"], Some(manifest));
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "nothing is printed on error");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("spec.metrics.retention: \"24x\" is not a duration"),
        "{stderr}"
    );
}

#[test]
fn render_of_a_missing_file_names_it() {
    let output = render(&["no/such/file.yaml"], None);
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("no/such/file.yaml"), "{stderr}");
}

#[test]
fn render_of_a_bare_manifest_says_on_standard_error_what_it_cannot_know() {
    let output = render(&["deploy/examples/prometheusreplica.yaml"], None);
    assert!(output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("warning: no customize hook is configured"),
        "{stderr}"
    );
    assert!(
        stderr.contains("warning: spec.metrics.blockDuration is 1h"),
        "{stderr}"
    );
    let docs = documents(&String::from_utf8(output.stdout).unwrap());
    assert!(
        !docs
            .iter()
            .any(|d| d["metadata"]["name"] == "example-prometheus-config"),
        "no derived configuration without the ConfigMap"
    );
}

#[test]
fn render_with_the_config_map_and_secret_renders_what_the_cluster_gets() {
    let files = [
        "deploy/examples/prometheusreplica.yaml",
        "deploy/examples/prometheus-config.yaml",
        "deploy/examples/s3-bucket.yaml",
    ];
    let output = render(&files, None);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        [
            "warning: spec.metrics.blockDuration is 1h: Thanos expects 2h; shorter blocks flood the bucket with small blocks"
        ],
        "the customize hook's path: no other warning"
    );
    let docs = documents(&String::from_utf8(output.stdout).unwrap());
    let derived = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == "example-prometheus-config")
        .expect("the derived configuration");
    assert!(
        derived["data"]["prometheus.yml"]
            .as_str()
            .unwrap()
            .contains("replica: ${POD_NAME}"),
        "{derived:#}"
    );
    let store = docs
        .iter()
        .find(|d| d["kind"] == "StatefulSet" && d["metadata"]["name"] == "example-thanos-store")
        .unwrap();
    let template = &store["spec"]["template"];
    assert!(
        template["spec"]["containers"][0]["env"]
            .to_string()
            .contains("s3_access_key"),
        "the 2018 s3_* keys are read as such"
    );
    // The same as one stream on standard input, as `kubectl kustomize deploy/examples` prints it.
    let stream = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect::<Vec<_>>()
        .join("\n---\n");
    let piped = render(&["-"], Some(&stream));
    assert!(piped.status.success());
    assert_eq!(documents(&String::from_utf8(piped.stdout).unwrap()), docs);
}

#[test]
fn render_reports_a_missing_bucket_secret_as_the_hook_does() {
    let output = render(
        &[
            "deploy/examples/prometheusreplica.yaml",
            "deploy/examples/prometheus-config.yaml",
        ],
        None,
    );
    assert!(output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("degraded: BucketSecretNotFound: Secret default/s3-bucket (spec.bucketSecret) does not exist"),
        "{stderr}"
    );
}
