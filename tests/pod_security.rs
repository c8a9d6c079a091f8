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
    assert_eq!(pods, 16, "four workloads in each of four answers");
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
