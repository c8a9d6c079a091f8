//! The kustomize base in `deploy/`: what a user sets in one place reaches every object that needs it.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

const KUSTOMIZATION: &str = include_str!("../deploy/kustomization.yaml");
const NETWORK_POLICY: &str = include_str!("../deploy/networkpolicy.yaml");
/// Where the NetworkPolicy names the namespace whose pods may call the hook.
const NAMESPACE_LABEL: &str =
    "/spec/ingress/0/from/0/namespaceSelector/matchLabels/kubernetes.io~1metadata.name";

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).expect("deploy/ holds YAML")
}

/// The operations of the kustomization's JSON patch of the hook's NetworkPolicy.
fn network_policy_patch() -> Vec<Value> {
    let kustomization = yaml(KUSTOMIZATION);
    let patch = kustomization["patches"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["target"]["kind"] == "NetworkPolicy")
        .expect(
            "deploy/kustomization.yaml patches the NetworkPolicy with Metacontroller's namespace",
        );
    serde_yaml_ng::from_str(patch["patch"].as_str().expect("an inline patch"))
        .expect("the patch is a JSON patch")
}

#[test]
fn metacontrollers_namespace_is_one_kustomize_setting() {
    let ops = network_policy_patch();
    assert_eq!(ops.len(), 1, "{ops:?}");
    assert_eq!(
        ops[0]["op"], "replace",
        "a replace fails when the path is stale"
    );
    assert_eq!(ops[0]["path"], NAMESPACE_LABEL);
    assert_eq!(
        ops[0]["value"], "metacontroller",
        "the default of Metacontroller's manifests"
    );
    // The path is the namespace rule of the hook's port, not the admin port's rule.
    let policy = yaml(NETWORK_POLICY);
    assert!(policy.pointer(NAMESPACE_LABEL).is_some());
    assert_eq!(policy["spec"]["ingress"][0]["ports"][0]["port"], "https");
}

#[test]
fn the_admin_port_is_on_the_service_for_scraping_and_metacontroller_calls_only_https() {
    let service = yaml(include_str!("../deploy/service.yaml"));
    let deployment = yaml(include_str!("../deploy/deployment.yaml"));
    let port = |name: &str| {
        service["spec"]["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("the Service has a port {name}"))
            .clone()
    };
    let container_ports = &deployment["spec"]["template"]["spec"]["containers"][0]["ports"];
    let container_port = |name: &str| {
        container_ports
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("the hook's container has a port {name}"))["containerPort"]
            .clone()
    };
    assert_eq!(port("admin")["port"], 8080);
    assert_eq!(port("admin")["targetPort"], "admin");
    assert_eq!(container_port("admin"), 8080, "the default of --admin-addr");
    assert_eq!(port("https")["targetPort"], "https");
    let controller = yaml(include_str!("../deploy/compositecontroller.yaml"));
    for hook in ["sync", "customize"] {
        assert_eq!(
            controller["spec"]["hooks"][hook]["webhook"]["service"]["port"],
            port("https")["port"],
            "Metacontroller calls the {hook} hook on the https port"
        );
    }
    let operations = include_str!("../docs/operations.md");
    assert!(
        operations.contains("Service's port `admin` (8080)"),
        "docs/operations.md says where the admin port is"
    );
}

/// With kubectl on the PATH (`.ci/run` puts it there), build a copy of `deploy/` with the setting changed.
#[test]
fn the_changed_setting_is_what_kubectl_kustomize_builds() {
    if Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_err()
    {
        eprintln!("skipped: no kubectl on the PATH");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    for entry in std::fs::read_dir(&deploy).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
        }
    }
    let edited = KUSTOMIZATION.replace("value: metacontroller", "value: mc-system");
    assert_ne!(edited, KUSTOMIZATION);
    std::fs::write(dir.path().join("kustomization.yaml"), edited).unwrap();
    let output = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let built = String::from_utf8(output.stdout).unwrap();
    let policies: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&built)
        .map(|doc| serde::Deserialize::deserialize(doc).unwrap())
        .filter(|doc: &Value| doc["kind"] == "NetworkPolicy")
        .collect();
    assert_eq!(policies.len(), 1);
    assert_eq!(policies[0].pointer(NAMESPACE_LABEL).unwrap(), "mc-system");
}
