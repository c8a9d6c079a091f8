//! What a user's first `kubectl apply` meets: the CRD, deploy/, and admission of good and bad specs.

use serde_json::{Value, json};

use crate::cluster::{Cluster, METACONTROLLER_CRD, eventually, kind, repo};

#[tokio::test]
async fn our_crd_is_established_and_kubectl_explain_prints_its_descriptions() {
    let Some(cluster) = Cluster::connect().await else {
        return;
    };
    let crd = cluster.kubectl_ok(&[
        "get",
        "crd",
        "prometheusreplicas.prometheus.robszumski.com",
        "-o",
        "json",
    ]);
    let crd: Value = serde_json::from_str(&crd).expect("kubectl prints JSON");
    let established = crd["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Established");
    assert_eq!(
        established.map(|c| &c["status"]),
        Some(&json!("True")),
        "{:#}",
        crd["status"]
    );
    assert_eq!(crd["spec"]["names"]["shortNames"], json!(["promrep"]));

    // The descriptions kubectl prints are the ones of deploy/crd.yaml, read from the served OpenAPI.
    let explained = cluster.kubectl_ok(&["explain", "prometheusreplica.spec.metrics"]);
    let ours = std::fs::read_to_string(repo("deploy/crd.yaml")).expect("deploy/crd.yaml");
    let ours = crate::cluster::documents(&ours).remove(0);
    let metrics = &ours["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        ["metrics"];
    let words = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let explained = words(&explained);
    for text in [
        &metrics["description"],
        &metrics["properties"]["retention"]["description"],
    ] {
        let text = words(text.as_str().expect("the CRD describes spec.metrics"));
        assert!(
            explained.contains(&text),
            "kubectl explain lacks {text:?}:\n{explained}"
        );
    }
}

#[tokio::test]
async fn deploy_through_the_image_overlay_is_accepted_whole_by_server_side_apply_and_its_pods_are_admitted()
 {
    let Some(cluster) = Cluster::connect().await else {
        return;
    };
    // Metacontroller's own CRD first, as its install does; then deploy/ in one apply.
    cluster.kubectl_ok(&[
        "apply",
        "--server-side",
        "-f",
        repo(METACONTROLLER_CRD).to_str().expect("UTF-8"),
    ]);
    let applied = cluster.kubectl_ok(&[
        "apply",
        "--server-side",
        "--force-conflicts",
        "-k",
        repo("deploy").to_str().expect("UTF-8"),
    ]);
    for object in [
        "customresourcedefinition.apiextensions.k8s.io/prometheusreplicas.prometheus.robszumski.com",
        "namespace/prometheus-replica-operator",
        "serviceaccount/prometheus-replica-operator",
        "service/prometheus-replica-operator",
        "deployment.apps/prometheus-replica-operator",
        "poddisruptionbudget.policy/prometheus-replica-operator",
        "networkpolicy.networking.k8s.io/prometheus-replica-operator",
        "compositecontroller.metacontroller.k8s.io/prometheus-replica-operator",
    ] {
        assert!(
            applied.contains(&format!("{object} serverside-applied")),
            "{object} not applied:\n{applied}"
        );
    }
    // The hook's own Pods pass Pod Security `restricted` in its namespace, and kwok runs them.
    eventually(
        "the hook's Deployment to have 2 available replicas",
        || async {
            let deployment = cluster
                .get(
                    &kind("Deployment"),
                    "prometheus-replica-operator",
                    "prometheus-replica-operator",
                )
                .await?;
            (deployment["status"]["availableReplicas"] == 2).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn the_2018_manifests_are_admitted() {
    let Some(cluster) = Cluster::connect().await else {
        return;
    };
    let namespace = cluster.namespace("e2e-admission-good").await;
    for fixture in [
        "tests/fixtures/example-2018.yaml",
        "tests/fixtures/example-2018-deploy-cr.yaml",
    ] {
        let yaml = std::fs::read_to_string(repo(fixture)).expect("fixture");
        let object = crate::cluster::documents(&yaml).remove(0);
        let result = dry_run(&cluster, &namespace, object).await;
        assert!(result.is_ok(), "{fixture} refused: {result:?}");
    }
}

#[tokio::test]
async fn specs_the_schema_can_refuse_are_rejected_naming_the_field() {
    let Some(cluster) = Cluster::connect().await else {
        return;
    };
    let namespace = cluster.namespace("e2e-admission-bad").await;
    let example = || {
        let yaml =
            std::fs::read_to_string(repo("tests/fixtures/example-2018.yaml")).expect("fixture");
        crate::cluster::documents(&yaml).remove(0)
    };
    // The rows of the failure-modes table that a schema can catch, and the field each message names.
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "no configMap",
            Box::new(|p| drop(p["spec"].as_object_mut().map(|s| s.remove("configMap")))),
            "spec.configMap",
        ),
        (
            "no bucketSecret",
            Box::new(|p| drop(p["spec"].as_object_mut().map(|s| s.remove("bucketSecret")))),
            "spec.bucketSecret",
        ),
        (
            "a field of the wrong type",
            Box::new(|p| p["spec"]["highlyAvailable"] = json!("yes")),
            "spec.highlyAvailable",
        ),
        (
            "a flag smuggled into a duration",
            Box::new(|p| p["spec"]["metrics"]["retention"] = json!("24h --web.enable-admin-api")),
            "spec.metrics.retention",
        ),
        (
            "a name over 37 characters",
            Box::new(|p| p["metadata"]["name"] = json!("a".repeat(38))),
            "metadata.name",
        ),
        (
            "the derived config's name as configMap",
            Box::new(|p| p["spec"]["configMap"] = json!("example-prometheus-config")),
            "spec.configMap",
        ),
        (
            "a name with a slash",
            Box::new(|p| p["metadata"]["name"] = json!("team/example")),
            "metadata.name",
        ),
        (
            "a name starting with a digit",
            Box::new(|p| p["metadata"]["name"] = json!("1example")),
            "metadata.name",
        ),
        (
            "too many Prometheus replicas",
            Box::new(|p| p["spec"]["replicas"] = json!({"prometheus": 11})),
            "spec.replicas.prometheus",
        ),
        (
            "no Prometheus replica",
            Box::new(|p| p["spec"]["replicas"] = json!({"prometheus": 0})),
            "spec.replicas.prometheus",
        ),
        // A quantity must be a string or an integer, as in every CRD that embeds ResourceRequirements
        // (int-or-string): `cpu: 0.5` is refused at once, naming the field; `cpu: "0.5"` is accepted.
        (
            "a fractional quantity as a YAML number",
            Box::new(|p| p["spec"]["resources"] = json!({"query": {"requests": {"cpu": 0.5}}})),
            "spec.resources.query.requests.cpu",
        ),
        (
            "one TLS Secret for every host and a Secret per host at once",
            Box::new(|p| {
                p["spec"]["ingress"] = json!({"tlsSecretName": "tls", "tlsPerHost": true})
            }),
            "spec.ingress.tlsPerHost",
        ),
        (
            "a runbook URL that is a repository path",
            Box::new(|p| p["spec"]["monitoring"] = json!({"runbookUrl": "docs/runbooks.md"})),
            "spec.monitoring.runbookUrl",
        ),
        (
            "a bad anti-affinity",
            Box::new(|p| p["spec"]["pod"] = json!({"antiAffinity": "sometimes"})),
            "spec.pod.antiAffinity",
        ),
    ];
    for (case, edit, field) in cases {
        let mut parent = example();
        edit(&mut parent);
        match dry_run(&cluster, &namespace, parent).await {
            Ok(()) => panic!("{case}: the API server accepted it"),
            Err(message) => assert!(
                message.contains(field),
                "{case}: the message does not name {field}: {message}"
            ),
        }
    }
}

/// Create `object` with `dryRun=All`: every admission step, nothing stored. The API server's
/// message when it refuses.
async fn dry_run(cluster: &Cluster, namespace: &str, object: Value) -> Result<(), String> {
    let api = cluster.api(&kind("PrometheusReplica"), Some(namespace));
    let object: kube::api::DynamicObject = serde_json::from_value(object).expect("a manifest");
    let params = kube::api::PostParams {
        dry_run: true,
        ..Default::default()
    };
    match api.create(&params, &object).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) => Err(e.message),
        Err(e) => panic!("the API server did not answer: {e}"),
    }
}
