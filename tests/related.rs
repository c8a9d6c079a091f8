//! Related objects through the whole sync: the derived configuration, both bucket Secret formats,
//! credential rollouts, broken references reported without losing anything, and secrets kept secret.

mod common;

use common::{Request, Rollout, as_stored, degraded};
use serde_json::{Value, json};

/// base64 of "type: FILESYSTEM\nconfig:\n  directory: /tmp\n".
const OBJSTORE: &str = "dHlwZTogRklMRVNZU1RFTQpjb25maWc6CiAgZGlyZWN0b3J5OiAvdG1wCg==";
const CONFIG: &str = "global:\n  scrape_interval: 30s\nscrape_configs:\n- job_name: self\n  static_configs:\n  - targets: ['localhost:9090']\n";

fn child<'a>(response: &'a Value, kind: &str, name: &str) -> Option<&'a Value> {
    response["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == kind && c["metadata"]["name"] == name)
}

fn pod<'a>(response: &'a Value, kind: &str, name: &str) -> &'a Value {
    &child(response, kind, name).unwrap_or_else(|| panic!("no {kind} {name}"))["spec"]["template"]
}

fn healthy() -> Request {
    Request::example()
        .customize()
        .config_map("prometheus-config", &[("prometheus.yml", CONFIG)])
        .secret("s3-bucket", &[("objstore.yml", OBJSTORE)])
}

#[test]
fn customize_asks_for_the_config_map_the_secret_and_whatever_bears_a_childs_name() {
    let body = json!({"controller": {}, "parent": Request::example().json()["parent"]});
    let answer = prometheus_replica_operator::customize_json(body.to_string().as_bytes()).unwrap();
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    let rules = answer["relatedResources"].as_array().unwrap();
    assert_eq!(
        rules[..2],
        [
            json!({"apiVersion": "v1", "resource": "configmaps", "namespace": "default", "names": ["prometheus-config"]}),
            json!({"apiVersion": "v1", "resource": "secrets", "namespace": "default", "names": ["s3-bucket"]}),
        ]
    );
    // Metacontroller's version-2 customize hook lists a rule without a namespace in every namespace: only
    // the cluster-scoped StorageClasses (whether a claim can grow) are asked for without one.
    for rule in rules {
        if rule["resource"] == "storageclasses" {
            assert_eq!(
                *rule,
                json!({"apiVersion": "storage.k8s.io/v1", "resource": "storageclasses"})
            );
        } else {
            assert_eq!(rule["namespace"], "default", "{rule}");
        }
    }
    assert!(rules.iter().any(|r| r["resource"] == "storageclasses"));
    // Every child of the answer, and the derived configuration, is asked for by kind and name.
    let children = healthy().sync_json();
    let asked = |api_version: &str, resource: &str, name: &str| {
        rules.iter().any(|r| {
            r["apiVersion"] == api_version
                && r["resource"] == resource
                && r["names"].as_array().unwrap().iter().any(|n| n == name)
        })
    };
    for child in children["children"].as_array().unwrap() {
        let plural = format!("{}s", child["kind"].as_str().unwrap().to_lowercase());
        let plural = plural
            .replace("ingresss", "ingresses")
            .replace("policys", "policies");
        let name = child["metadata"]["name"].as_str().unwrap();
        assert!(
            asked(child["apiVersion"].as_str().unwrap(), &plural, name),
            "{plural} {name} is not asked for"
        );
    }
    assert!(asked("apps/v1", "statefulsets", "example-prometheus"));
    assert!(asked("v1", "configmaps", "example-prometheus-config"));
}

/// An object the 2018 operator made: a child's kind and name, its own labels, no owner.
fn made_in_2018() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
           "metadata": {"name": "example-prometheus", "namespace": "default",
                        "labels": {"app": "prometheus", "prometheus": "example"}},
           "spec": {"serviceName": "example-thanos-peers"}})
}

#[test]
fn an_object_of_a_childs_name_that_is_not_ours_is_reported_as_conflicting() {
    let response = healthy().related(made_in_2018()).sync_json();
    let (status, reason, message) = degraded(&response);
    assert_eq!((status, reason), ("True", "ConflictingObject"));
    assert!(
        message.contains("StatefulSet default/example-prometheus"),
        "{message}"
    );
    assert!(message.contains("--cascade=orphan"), "{message}");
    // The answer is still whole: nothing the stack needs is left out.
    assert!(
        response["children"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["kind"] == "StatefulSet" && c["metadata"]["name"] == "example-prometheus")
    );
}

/// What a rule without a namespace brings from elsewhere (Metacontroller v4.17.2's version-2 customize hook
/// lists every namespace): a ConfigMap, a Secret and a workload of the same names in namespace `aaa`, keyed
/// before the parent's own. None of them is read, and none is in the way.
#[test]
fn objects_of_the_same_names_in_other_namespaces_are_neither_read_nor_in_the_way() {
    let elsewhere = |mut object: Value| {
        object["metadata"]["namespace"] = json!("aaa");
        object
    };
    let request = Request::example()
        .v2()
        .customize()
        .related(elsewhere(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "prometheus-config"},
            "data": {"prometheus.yml": "global:\n  scrape_interval: 17s\n"}})))
        .related(elsewhere(
            json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": "s3-bucket"}, "data": {"unrelated": "eA=="}}),
        ))
        .related(elsewhere(made_in_2018()))
        .config_map("prometheus-config", &[("prometheus.yml", CONFIG)])
        .secret("s3-bucket", &[("objstore.yml", OBJSTORE)]);
    let response = request.sync_json();
    let derived = child(&response, "ConfigMap", "example-prometheus-config")
        .expect("the derived configuration");
    let text = derived["data"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap();
    assert!(
        text.as_str().unwrap().contains("scrape_interval: 30s"),
        "derived from the parent's namespace: {text}"
    );
    assert_eq!(
        degraded(&response),
        (
            "False",
            "AsExpected",
            "the referenced ConfigMap and Secret are usable"
        )
    );
}

#[test]
fn our_own_children_in_related_are_no_conflict() {
    let uid = Request::example().json()["parent"]["metadata"]["uid"].clone();
    let mut by_owner = made_in_2018();
    by_owner["metadata"]["ownerReferences"] = json!([{"apiVersion": "prometheus.robszumski.com/v1alpha1",
        "kind": "PrometheusReplica", "name": "example", "uid": uid, "controller": true}]);
    let mut by_label = made_in_2018();
    by_label["metadata"]["labels"]["controller-uid"] = uid;
    for object in [by_owner, by_label] {
        let response = healthy().related(object).sync_json();
        let (status, reason, _) = degraded(&response);
        assert_eq!((status, reason), ("False", "AsExpected"));
    }
}

#[test]
fn customize_rejects_an_invalid_spec_like_sync() {
    let body = json!({"parent": Request::example().spec("bucketSecret", json!("Bad_Name")).json()["parent"]});
    let error =
        prometheus_replica_operator::customize_json(body.to_string().as_bytes()).unwrap_err();
    assert!(
        error.to_string().starts_with("spec.bucketSecret:"),
        "{error}"
    );
}

#[test]
fn prometheus_mounts_the_derived_config_with_unique_replica_labels() {
    let response = healthy().sync_json();
    let config =
        child(&response, "ConfigMap", "example-prometheus-config").expect("the derived config");
    let text = config["data"]["prometheus.yml"].as_str().unwrap();
    assert!(text.contains("replica: ${POD_NAME}"), "{text}");
    assert!(text.contains("prometheus: default/example"), "{text}");
    let template = pod(&response, "StatefulSet", "example-prometheus");
    assert_eq!(
        template["spec"]["volumes"][0]["configMap"]["name"],
        "example-prometheus-config"
    );
    assert_eq!(response["status"]["phase"], "Install");
    assert_eq!(degraded(&response).0, "False");
    assert!(
        !response["status"]["warnings"]
            .to_string()
            .contains("customize"),
        "no warning about a missing customize hook when one is configured"
    );
}

#[test]
fn the_2018_template_key_and_rule_files_are_carried_over() {
    let response = Request::example()
        .customize()
        .config_map(
            "prometheus-config",
            &[
                ("prometheus.yml.tmpl", "global:\n  external_labels:\n    replica: '$(HOSTNAME)'\nrule_files: ['*.rules']\n"),
                ("a.rules", "groups: []\n"),
            ],
        )
        .secret("s3-bucket", &[("objstore.yml", OBJSTORE)])
        .sync_json();
    let data = &child(&response, "ConfigMap", "example-prometheus-config").unwrap()["data"];
    assert_eq!(data["a.rules"], "groups: []\n");
    assert!(data.get("prometheus.yml.tmpl").is_none());
    assert!(
        data["prometheus.yml"]
            .as_str()
            .unwrap()
            .contains("rule_files:\n- '*.rules'"),
        "{data}"
    );
}

#[test]
fn the_2018_secret_keys_become_secret_references_and_never_values() {
    let response = Request::example()
        .customize()
        .config_map("prometheus-config", &[("prometheus.yml", CONFIG)])
        .secret(
            "s3-bucket",
            &[
                ("s3_bucket", "YnVja2V0"),
                ("s3_endpoint", "bWluaW86OTAwMA=="),
                ("s3_access_key", "QUtJQQ=="),
                ("s3_secret_key", "c2VjcmV0"),
            ],
        )
        .sync_json();
    for (kind, name, container) in [
        ("StatefulSet", "example-prometheus", 1),
        ("StatefulSet", "example-thanos-store", 0),
        ("StatefulSet", "example-thanos-compact", 0),
    ] {
        let spec = &pod(&response, kind, name)["spec"]["containers"][container];
        let env = spec["env"].as_array().unwrap();
        assert_eq!(env.len(), 4, "{name}");
        assert!(
            env.iter()
                .all(|e| e["valueFrom"]["secretKeyRef"]["name"] == "s3-bucket"),
            "{name}"
        );
        let config = spec["args"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|a| a.as_str()?.strip_prefix("--objstore.config="));
        let config = config.expect("inline objstore config");
        assert!(config.contains("$$(OBJSTORE_S3_BUCKET)"), "{config}");
        // The credentials stay out of the YAML: Thanos's S3 provider reads them from the environment.
        assert!(!config.contains("secret_key"), "{config}");
        let names: Vec<&str> = env.iter().map(|e| e["name"].as_str().unwrap()).collect();
        assert!(
            names.contains(&"AWS_ACCESS_KEY_ID") && names.contains(&"AWS_SECRET_ACCESS_KEY"),
            "{names:?}"
        );
        assert!(
            spec["volumeMounts"].to_string().find("objstore").is_none(),
            "{name}"
        );
    }
}

#[test]
fn new_credentials_roll_every_pod_that_reads_the_bucket() {
    let hash = |data: &str| {
        let response = Request::example()
            .customize()
            .config_map("prometheus-config", &[("prometheus.yml", CONFIG)])
            .secret("s3-bucket", &[("objstore.yml", data)])
            .sync_json();
        ["example-prometheus", "example-thanos-store", "example-thanos-compact"]
            .map(|name| {
                pod(&response, "StatefulSet", name)["metadata"]["annotations"]["prometheus.robszumski.com/bucket-secret-hash"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .to_vec()
    };
    let before = hash(OBJSTORE);
    let after = hash("dHlwZTogUzMK");
    assert!(before.iter().all(|h| h == &before[0] && h.len() == 64));
    assert_ne!(before, after);
    // The querier does not read the bucket: it is not rolled.
    let response = healthy().sync_json();
    assert!(
        pod(&response, "Deployment", "example-thanos-query")["metadata"]["annotations"].is_null()
    );
}

#[test]
fn a_missing_config_map_keeps_the_last_good_config_and_reports_it() {
    let first = healthy().sync_json();
    let observed = as_stored(&first, Rollout::Done);
    let response = Request::example()
        .customize()
        .secret("s3-bucket", &[("objstore.yml", OBJSTORE)])
        .observe(observed)
        .sync_json();
    assert_eq!(
        child(&response, "ConfigMap", "example-prometheus-config").unwrap()["data"],
        child(&first, "ConfigMap", "example-prometheus-config").unwrap()["data"],
        "the observed config is kept as it is"
    );
    assert_eq!(
        response["children"].as_array().unwrap().len(),
        first["children"].as_array().unwrap().len()
    );
    let (status, reason, message) = degraded(&response);
    assert_eq!((status, reason), ("True", "ConfigMapNotFound"));
    assert!(
        message.contains("ConfigMap default/prometheus-config (spec.configMap) does not exist"),
        "{message}"
    );
    // The stack still runs on the kept config, and no workload changes.
    assert_eq!(response["status"]["phase"], "Running");
    for name in BUCKET_READERS {
        assert_eq!(
            pod(&response, "StatefulSet", name),
            pod(&first, "StatefulSet", name),
            "{name}"
        );
    }
}

#[test]
fn s3_insecure_true_lets_every_bucket_reader_speak_plain_http_to_the_endpoint() {
    let objstore_config = |response: &Value, name: &str| -> Value {
        let containers = &pod(response, "StatefulSet", name)["spec"]["containers"];
        let config = containers
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["args"].as_array().into_iter().flatten())
            .find_map(|a| a.as_str()?.strip_prefix("--objstore.config="))
            .unwrap_or_else(|| panic!("{name} reads the bucket"));
        serde_yaml_ng::from_str(config).expect("the objstore config is YAML")
    };
    let request = |extra: &[(&str, &str)]| {
        Request::example()
            .customize()
            .config_map("prometheus-config", &[("prometheus.yml", CONFIG)])
            .secret("s3-bucket", &[S3_KEYS.as_slice(), extra].concat())
            .sync_json()
    };
    // base64 of "true" and "false".
    let plain = request(&[("s3_insecure", "dHJ1ZQ==")]);
    let tls = request(&[("s3_insecure", "ZmFsc2U=")]);
    let unset = request(&[]);
    for name in BUCKET_READERS {
        assert_eq!(objstore_config(&plain, name)["config"]["insecure"], true);
        assert!(objstore_config(&tls, name)["config"]["insecure"].is_null());
        assert_eq!(
            objstore_config(&tls, name),
            objstore_config(&unset, name),
            "\"false\" is the default"
        );
    }
    assert_eq!(degraded(&plain).0, "False");
}

#[test]
fn a_config_prometheus_would_refuse_keeps_the_observed_config_byte_for_byte() {
    let first = healthy().sync_json();
    let observed = as_stored(&first, Rollout::Done);
    let kept = observed
        .iter()
        .find(|c| c["kind"] == "ConfigMap" && c["metadata"]["name"] == "example-prometheus-config")
        .expect("the derived config is observed")
        .clone();
    let rules = "rule_files: [alerts.yml]\n";
    for (data, words) in [
        (
            vec![("prometheus.yml", "global:\n  scrape_interval: 1x\n")],
            "ConfigMap default/prometheus-config key prometheus.yml: global.scrape_interval: \"1x\" is not a duration",
        ),
        (
            vec![(
                "prometheus.yml",
                "scrape_configs:\n- job_name: a\n  kubernetes_sd_config: [{role: pod}]\n",
            )],
            "key prometheus.yml: scrape_configs[0].kubernetes_sd_config: Prometheus v3.14.0 has no such key here",
        ),
        (
            vec![(
                "prometheus.yml",
                "scrape_configs:\n- job_name: a\n  relabel_configs: [{action: keep, regex: 'a(b'}]\n",
            )],
            "key prometheus.yml: scrape_configs[0].relabel_configs[0].regex: \"a(b\" is not an RE2 regular expression",
        ),
        (
            vec![
                ("prometheus.yml", rules),
                (
                    "alerts.yml",
                    "groups:\n- name: a\n  rules:\n  - {alert: A, expr: 'sum(up'}\n",
                ),
            ],
            "ConfigMap default/prometheus-config key alerts.yml: groups[0].rules[0].expr: is not a PromQL expression",
        ),
    ] {
        let response = Request::example()
            .customize()
            .config_map("prometheus-config", &data)
            .secret("s3-bucket", &[("objstore.yml", OBJSTORE)])
            .observe(observed.clone())
            .sync_json();
        let (status, reason, message) = degraded(&response);
        assert_eq!((status, reason), ("True", "ConfigInvalid"), "{message}");
        assert!(message.contains(words), "{message}\n  want: {words}");
        // The answered child is the observed one: its data byte for byte, and nothing Metacontroller would write.
        let answered = child(&response, "ConfigMap", "example-prometheus-config").expect("kept");
        assert_eq!(
            serde_json::to_vec(&answered["data"]).unwrap(),
            serde_json::to_vec(&kept["data"]).unwrap(),
            "{words}"
        );
        assert_eq!(answered["metadata"]["labels"], kept["metadata"]["labels"]);
        assert!(
            common::apply::merge_diffs(&kept, answered).is_empty(),
            "{words}"
        );
        assert_eq!(
            response["children"].as_array().unwrap().len(),
            first["children"].as_array().unwrap().len()
        );
        for name in BUCKET_READERS {
            assert_eq!(
                pod(&response, "StatefulSet", name),
                pod(&first, "StatefulSet", name),
                "{name}"
            );
        }
    }
    // A rule file that the configuration does not load is not Prometheus's to refuse.
    let unloaded = Request::example()
        .customize()
        .config_map(
            "prometheus-config",
            &[("prometheus.yml", CONFIG), ("notes.yml", "not: [rules")],
        )
        .secret("s3-bucket", &[("objstore.yml", OBJSTORE)])
        .sync_json();
    assert_eq!(degraded(&unloaded).0, "False");
}

/// The 2018 `s3_*` form of the bucket Secret (base64 values).
const S3_KEYS: [(&str, &str); 4] = [
    ("s3_bucket", "YnVja2V0"),
    ("s3_endpoint", "bWluaW86OTAwMA=="),
    ("s3_access_key", "QUtJQQ=="),
    ("s3_secret_key", "c2VjcmV0"),
];

const BUCKET_READERS: [&str; 3] = [
    "example-prometheus",
    "example-thanos-store",
    "example-thanos-compact",
];

#[test]
fn a_missing_or_unusable_bucket_secret_changes_no_observed_workload() {
    let with_secret = |data: &[(&str, &str)]| {
        Request::example()
            .customize()
            .config_map("prometheus-config", &[("prometheus.yml", CONFIG)])
            .secret("s3-bucket", data)
    };
    let first = with_secret(&S3_KEYS).sync_json();
    let observed = as_stored(&first, Rollout::Done);
    let cases = [
        (
            Request::example()
                .customize()
                .config_map("prometheus-config", &[("prometheus.yml", CONFIG)]),
            "BucketSecretNotFound",
        ),
        (with_secret(&[("password", "eA==")]), "BucketSecretInvalid"),
        (with_secret(&S3_KEYS[..2]), "BucketSecretInvalid"),
        // `s3_insecure: yes`: only "true" or "false".
        (
            with_secret(&[S3_KEYS.as_slice(), &[("s3_insecure", "eWVz")]].concat()),
            "BucketSecretInvalid",
        ),
    ];
    for (request, reason) in cases {
        let response = request.observe(observed.clone()).sync_json();
        assert_eq!(
            response["children"].as_array().unwrap().len(),
            first["children"].as_array().unwrap().len(),
            "{reason}: every observed child is in the answer"
        );
        for name in BUCKET_READERS {
            assert_eq!(
                pod(&response, "StatefulSet", name),
                pod(&first, "StatefulSet", name),
                "{reason}: {name} keeps its observed pod template"
            );
        }
        let (status, got, message) = degraded(&response);
        assert_eq!((status, got), ("True", reason));
        assert!(message.contains("Secret default/s3-bucket"), "{message}");
        assert!(
            response["status"]["warnings"]
                .to_string()
                .contains("the pod template is kept as observed until Secret default/s3-bucket"),
            "{}",
            response["status"]["warnings"]
        );
    }
    // The Secret back as it was: nothing rolls.
    let again = with_secret(&S3_KEYS).observe(observed).sync_json();
    for name in BUCKET_READERS {
        assert_eq!(
            pod(&again, "StatefulSet", name),
            pod(&first, "StatefulSet", name)
        );
    }
    assert_eq!(degraded(&again).0, "False");
}

#[test]
fn a_workload_that_reads_the_bucket_is_not_created_before_the_secret_is_usable() {
    let response = Request::example()
        .customize()
        .config_map("prometheus-config", &[("prometheus.yml", CONFIG)])
        .sync_json();
    for name in BUCKET_READERS {
        assert!(
            child(&response, "StatefulSet", name).is_none(),
            "{name} would start with a guessed bucket wiring"
        );
    }
    // The rest of the stack is created: it does not read the bucket.
    assert!(child(&response, "Deployment", "example-thanos-query").is_some());
    assert!(child(&response, "ConfigMap", "example-prometheus-config").is_some());
    assert_eq!(response["status"]["phase"], "Error");
    assert_eq!(degraded(&response).1, "BucketSecretNotFound");
    assert!(
        response["status"]["warnings"]
            .to_string()
            .contains("StatefulSet example-prometheus is created once Secret default/s3-bucket"),
        "{}",
        response["status"]["warnings"]
    );
    // One observed, one not: the observed one stays, the other waits.
    let first = healthy().sync_json();
    let store: Vec<Value> = as_stored(&first, Rollout::Done)
        .into_iter()
        .filter(|c| c["metadata"]["name"] == "example-thanos-store")
        .collect();
    let response = Request::example()
        .customize()
        .config_map("prometheus-config", &[("prometheus.yml", CONFIG)])
        .observe(store)
        .sync_json();
    assert!(child(&response, "StatefulSet", "example-thanos-store").is_some());
    assert!(child(&response, "StatefulSet", "example-prometheus").is_none());
}

#[test]
fn broken_references_before_anything_runs_are_an_error_phase() {
    let cases = [
        (Request::example().customize(), "ConfigMapNotFound"),
        (
            Request::example()
                .customize()
                .config_map("prometheus-config", &[("prometheus.yml", CONFIG)]),
            "BucketSecretNotFound",
        ),
        (
            Request::example()
                .customize()
                .config_map("prometheus-config", &[("other.yml", CONFIG)])
                .secret("s3-bucket", &[("objstore.yml", OBJSTORE)]),
            "ConfigKeyMissing",
        ),
        (
            Request::example()
                .customize()
                .config_map("prometheus-config", &[("prometheus.yml", "global: [")])
                .secret("s3-bucket", &[("objstore.yml", OBJSTORE)]),
            "ConfigInvalid",
        ),
        (
            Request::example()
                .customize()
                .config_map("prometheus-config", &[("prometheus.yml", CONFIG)])
                .secret("s3-bucket", &[("password", "eA==")]),
            "BucketSecretInvalid",
        ),
    ];
    for (request, expected) in cases {
        let response = request.sync_json();
        assert_eq!(degraded(&response).1, expected);
        assert_eq!(response["status"]["phase"], "Error", "{expected}");
        // A broken ConfigMap leaves the mounted name unchanged: the workloads are created and start once it
        // is fixed. A broken Secret leaves the bucket wiring unknown: nothing that reads the bucket is created.
        let created = !degraded(&response).2.contains("Secret default/s3-bucket");
        for name in BUCKET_READERS {
            assert_eq!(
                child(&response, "StatefulSet", name).is_some(),
                created,
                "{expected}: {name}"
            );
        }
    }
}

#[test]
fn fixing_the_object_clears_the_condition() {
    let broken = Request::example().customize().sync_json();
    let fixed = healthy()
        .set("/status", broken["status"].clone())
        .sync_json();
    assert_eq!(degraded(&fixed).0, "False");
    assert_eq!(fixed["status"]["phase"], "Install");
}

#[test]
fn related_objects_keyed_by_namespace_and_name_work_too() {
    let v1 = healthy().sync_json();
    let v2 = Request::example()
        .v2()
        .customize()
        .config_map("prometheus-config", &[("prometheus.yml", CONFIG)])
        .secret("s3-bucket", &[("objstore.yml", OBJSTORE)])
        .sync_json();
    assert_eq!(v1, v2);
}

#[test]
fn secret_values_never_appear_in_an_answer_or_an_error() {
    // "SUPERSECRET-3f9a" in base64, and in clear text as a `stringData` value.
    let secret = "U1VQRVJTRUNSRVQtM2Y5YQ==";
    let clear = "SUPERSECRET-3f9a";
    let mut outputs = Vec::new();
    for data in [
        vec![("objstore.yml", secret)],
        vec![
            ("s3_bucket", secret),
            ("s3_endpoint", secret),
            ("s3_access_key", secret),
            ("s3_secret_key", secret),
        ],
        vec![("s3_secret_key", secret)],
        vec![("unrelated", secret)],
    ] {
        let request = Request::example()
            .customize()
            .config_map("prometheus-config", &[("prometheus.yml", CONFIG)])
            .secret("s3-bucket", &data);
        outputs.push(serde_json::to_string(&request.sync_json()).unwrap());
        // A broken spec beside the secret: the error must not carry it either.
        let broken = request.spec("metrics", json!({"retention": "bad"}));
        let body = serde_json::to_vec(&broken.json()).unwrap();
        outputs.push(
            prometheus_replica_operator::sync_json(&body)
                .unwrap_err()
                .to_string(),
        );
    }
    for output in outputs {
        assert!(
            !output.contains(secret) && !output.contains(clear),
            "a secret leaked: {output}"
        );
    }
}
