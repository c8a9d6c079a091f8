//! Every pod the product renders passes the Pod Security Standard `restricted` profile
//! (<https://kubernetes.io/docs/concepts/security/pod-security-standards/>), checked rule by rule.

mod common;

use common::Request;
use serde_json::{Value, json};

/// The volume types `restricted` allows.
const ALLOWED_VOLUMES: [&str; 8] = [
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

/// The violations of `restricted` in one pod spec; empty when it passes.
pub fn restricted_violations(pod: &Value) -> Vec<String> {
    let mut bad = Vec::new();
    for field in ["hostNetwork", "hostPID", "hostIPC"] {
        if pod[field] == true {
            bad.push(format!("{field} is set"));
        }
    }
    let pod_sc = &pod["securityContext"];
    let seccomp_ok = |sc: &Value| {
        matches!(
            sc["seccompProfile"]["type"].as_str(),
            Some("RuntimeDefault" | "Localhost")
        )
    };
    for volume in pod["volumes"].as_array().into_iter().flatten() {
        let kind = volume
            .as_object()
            .unwrap()
            .keys()
            .find(|k| *k != "name")
            .cloned()
            .unwrap_or_default();
        if !ALLOWED_VOLUMES.contains(&kind.as_str()) {
            bad.push(format!("volume {} is of type {kind}", volume["name"]));
        }
    }
    if pod_sc["runAsUser"] == 0 {
        bad.push("pod runAsUser is 0".into());
    }
    let containers = ["initContainers", "containers", "ephemeralContainers"]
        .iter()
        .flat_map(|field| pod[*field].as_array().into_iter().flatten());
    for container in containers {
        let name = container["name"].as_str().unwrap_or("?");
        let sc = &container["securityContext"];
        if sc["privileged"] == true {
            bad.push(format!("{name}: privileged"));
        }
        if sc["allowPrivilegeEscalation"] != false {
            bad.push(format!("{name}: allowPrivilegeEscalation is not false"));
        }
        if !(sc["runAsNonRoot"] == true
            || (sc["runAsNonRoot"].is_null() && pod_sc["runAsNonRoot"] == true))
        {
            bad.push(format!("{name}: runAsNonRoot is not true"));
        }
        if sc["runAsUser"] == 0 {
            bad.push(format!("{name}: runAsUser is 0"));
        }
        if !(seccomp_ok(sc) || (sc["seccompProfile"].is_null() && seccomp_ok(pod_sc))) {
            bad.push(format!(
                "{name}: seccompProfile is not RuntimeDefault or Localhost"
            ));
        }
        let drops = sc["capabilities"]["drop"].as_array().into_iter().flatten();
        if !drops.into_iter().any(|c| c == "ALL") {
            bad.push(format!("{name}: capabilities do not drop ALL"));
        }
        for cap in sc["capabilities"]["add"].as_array().into_iter().flatten() {
            if cap != "NET_BIND_SERVICE" {
                bad.push(format!("{name}: adds capability {cap}"));
            }
        }
        for port in container["ports"].as_array().into_iter().flatten() {
            if port.get("hostPort").is_some_and(|p| p != 0) {
                bad.push(format!("{name}: hostPort"));
            }
        }
    }
    bad
}

#[test]
fn every_rendered_pod_passes_the_restricted_profile() {
    let s3 = [
        ("s3_bucket", "Yg=="),
        ("s3_endpoint", "ZQ=="),
        ("s3_access_key", "YQ=="),
        ("s3_secret_key", "cw=="),
    ];
    let answers = [
        Request::example().sync_json(),
        Request::manifest(include_str!("fixtures/all-extensions.yaml")).sync_json(),
        Request::manifest(include_str!("fixtures/single.yaml")).sync_json(),
        Request::example()
            .customize()
            .config_map("prometheus-config", &[("prometheus.yml", "{}")])
            .secret("s3-bucket", &s3)
            .sync_json(),
    ];
    let mut pods = 0;
    for response in answers {
        for child in response["children"].as_array().unwrap() {
            if let Some(pod) = child.pointer("/spec/template/spec") {
                let violations = restricted_violations(pod);
                assert!(
                    violations.is_empty(),
                    "{}: {violations:?}",
                    child["metadata"]["name"]
                );
                pods += 1;
            }
        }
    }
    assert_eq!(
        pods, 22,
        "five workloads in each of four answers, and Grafana and memcached in the one with every extension"
    );
}

#[test]
fn the_checker_catches_what_restricted_forbids() {
    let pod = json!({
        "hostNetwork": true,
        "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
        "containers": [{"name": "bad", "securityContext": {"privileged": true, "capabilities": {"add": ["SYS_ADMIN"]}}}],
    });
    let violations = restricted_violations(&pod);
    for words in [
        "hostNetwork",
        "hostPath",
        "privileged",
        "allowPrivilegeEscalation",
        "runAsNonRoot",
        "seccomp",
        "drop ALL",
        "SYS_ADMIN",
    ] {
        assert!(
            violations.iter().any(|v| v.contains(words)),
            "{words} not caught: {violations:?}"
        );
    }
}

fn shipped(yaml: &str) -> Value {
    serde_yaml_ng::from_str(yaml).expect("deploy/ manifests are YAML")
}

#[test]
fn the_hooks_own_pod_passes_the_restricted_profile_with_a_read_only_root() {
    let deployment = shipped(include_str!("../deploy/deployment.yaml"));
    assert_eq!(deployment["kind"], "Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let violations = restricted_violations(pod);
    assert!(violations.is_empty(), "{violations:?}");
    assert_eq!(
        pod["automountServiceAccountToken"], false,
        "the hook calls no API server"
    );
    for container in pod["containers"].as_array().unwrap() {
        assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    }
}

#[test]
fn the_namespace_enforces_the_restricted_profile() {
    let namespace = shipped(include_str!("../deploy/namespace.yaml"));
    assert_eq!(
        namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
}

#[test]
fn only_metacontrollers_namespace_reaches_the_hook_port() {
    let policy = shipped(include_str!("../deploy/networkpolicy.yaml"));
    assert_eq!(policy["spec"]["policyTypes"], json!(["Ingress"]));
    let deployment = shipped(include_str!("../deploy/deployment.yaml"));
    let pod_labels = &deployment["spec"]["template"]["metadata"]["labels"];
    for (key, value) in policy["spec"]["podSelector"]["matchLabels"]
        .as_object()
        .unwrap()
    {
        assert_eq!(
            &pod_labels[key], value,
            "the policy selects the hook's pods"
        );
    }
    // Every rule that opens the HTTPS port admits only the metacontroller namespace.
    let rules = policy["spec"]["ingress"].as_array().unwrap();
    let https_rules: Vec<&Value> = rules
        .iter()
        .filter(|rule| match rule["ports"].as_array() {
            None => true, // a rule without ports opens every port
            Some(ports) => ports
                .iter()
                .any(|p| p["port"] == "https" || p["port"] == 8443),
        })
        .collect();
    assert_eq!(https_rules.len(), 1, "{https_rules:?}");
    assert_eq!(
        https_rules[0]["from"],
        json!([{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "metacontroller"}}}])
    );
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert!(
        container["ports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "https" && p["containerPort"] == 8443),
        "the port named https is the hook's 8443"
    );
}
