//! Convergence and the steady state: the stack comes up on the real API server and controllers, and
//! once it runs, syncing again stores nothing.

use serde_json::{Value, json};

use crate::common::apply::merge_diffs;
use crate::{Stack, cluster, running};

/// How many rounds the steady state is watched for.
const STEADY_ROUNDS: usize = 10;

#[tokio::test]
async fn the_2018_example_converges_and_then_makes_no_write() {
    let Some(mut stack) = Stack::new("e2e-converge-2018").await else {
        return;
    };
    // Pods can turn ready within a second on an idle machine, too fast to see `Creating`. A quota of no
    // Pods holds the controllers back until the test has seen it; the example itself stays unchanged.
    let namespace = stack.namespace.clone();
    let cluster = stack.cluster();
    cluster.kubectl_ok(&["create", "quota", "hold", "--hard=pods=0", "-n", &namespace]);
    stack.apply_examples().await;

    // The first round sees no child; then the children exist with no ready Pod.
    assert_first_sync_after_the_creates_writes_no_child(&mut stack).await;
    stack
        .converge("Creating", |p| p["status"]["phase"] == "Creating")
        .await;
    stack
        .cluster()
        .kubectl_ok(&["delete", "quota", "hold", "-n", &namespace]);
    let parent = stack.converge_running().await;
    assert_eq!(
        stack.phases,
        ["Install", "Creating", "Running"],
        "the phases the API server stored"
    );
    assert_eq!(parent["status"]["prometheus"]["ready"], "2/2");
    assert_eq!(parent["status"]["query"]["ready"], "2/2");

    // Every child exists, Pod Security admitted every Pod, every claim is bound.
    let children = stack.children().await;
    for name in [
        "StatefulSet/example-prometheus",
        "StatefulSet/example-thanos-store",
        "StatefulSet/example-thanos-compact",
        "Deployment/example-thanos-query",
        "Service/example-prometheus",
        "Service/example-thanos-peers",
        "Service/example-thanos-store",
        "Service/example-thanos-query",
        "Service/example-thanos-compact",
        "ConfigMap/example-prometheus-config",
        "PodDisruptionBudget/example-prometheus",
        "PodDisruptionBudget/example-thanos-query",
        "Ingress/example-query",
        "Deployment/example-thanos-query-frontend",
        "Service/example-thanos-query-frontend",
        "PodDisruptionBudget/example-thanos-query-frontend",
        "ConfigMap/example-grafana-datasources",
        "ConfigMap/example-grafana-dashboards",
        "ServiceAccount/example-prometheus",
        "Role/example-prometheus",
        "RoleBinding/example-prometheus",
    ] {
        assert!(
            children.contains_key(name),
            "{name} exists; children: {:?}",
            children.keys()
        );
    }
    let pods = stack
        .cluster()
        .list(&crate::kind("Pod"), &stack.namespace)
        .await;
    assert_eq!(
        pods.len(),
        2 + 2 + 1 + 2 + 2,
        "two Prometheus, two store gateways, a compactor, two queriers, two query frontends"
    );
    for pod in &pods {
        assert_eq!(
            pod["status"]["phase"], "Running",
            "{}",
            pod["metadata"]["name"]
        );
    }
    for claim in stack
        .cluster()
        .list(&crate::kind("PersistentVolumeClaim"), &stack.namespace)
        .await
    {
        assert_eq!(
            claim["status"]["phase"], "Bound",
            "{}",
            claim["metadata"]["name"]
        );
    }

    // The printer columns.
    let table = stack
        .cluster()
        .kubectl_ok(&["get", "promrep", "-n", &stack.namespace]);
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAME", "PHASE", "PROMETHEUS", "QUERY", "AGE"],
        "{table}"
    );
    let row: Vec<&str> = table
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(row[..4], ["example", "Running", "2/2", "2/2"], "{table}");

    assert_steady(&mut stack).await;
}

#[tokio::test]
async fn every_extension_with_rewritten_quantities_converges_and_then_makes_no_write() {
    let Some(mut stack) = Stack::new("e2e-converge-full").await else {
        return;
    };
    let cluster = stack.cluster();
    // What the fixture's pods need of the cluster: its priority class and Nodes it selects.
    cluster
        .apply(
            &crate::kind("PriorityClass"),
            None,
            json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                   "metadata": {"name": "monitoring-critical"}, "value": 1000000}),
        )
        .await;
    cluster.kubectl_ok(&[
        "label",
        "nodes",
        "--all",
        "--overwrite",
        "node-role.example.org/monitoring=true",
    ]);
    for file in ["prometheus-config.yaml", "thanos-objstore.yaml"] {
        stack.apply_file(&format!("deploy/examples/{file}")).await;
    }
    let yaml = std::fs::read_to_string(crate::cluster::repo("tests/fixtures/all-extensions.yaml"))
        .expect("the fixture is readable");
    let mut parent = crate::cluster::documents(&yaml).remove(0);
    // Spellings that the API server stores in another form: `500m`, `1Gi`.
    parent["spec"]["resources"]["query"]["requests"] = json!({"cpu": "0.5", "memory": "1024Mi"});
    parent["spec"]["resources"]["store"]["limits"]["memory"] = json!(4294967296_u64);
    stack.apply(parent).await;

    assert_first_sync_after_the_creates_writes_no_child(&mut stack).await;
    let parent = stack.converge_running().await;
    assert_eq!(parent["status"]["prometheus"]["ready"], "3/3");
    assert_steady(&mut stack).await;
}

/// Two stacks of the same name in two namespaces, each with its own ConfigMap and Secret of the same names.
/// Metacontroller's version-2 customize hook lists a related rule without a namespace in every namespace
/// (the test double does the same): each stack must read its own ConfigMap, and see the other's children as
/// nothing in its way.
#[tokio::test]
async fn stacks_of_the_same_name_in_two_namespaces_keep_to_their_own_objects() {
    let Some(mut first) = Stack::new("e2e-same-name-a").await else {
        return;
    };
    let Some(mut second) = Stack::new("e2e-same-name-b").await else {
        return;
    };
    first.apply_examples().await;
    second.apply_examples().await;
    let mut config = cluster::documents(
        &std::fs::read_to_string(cluster::repo("deploy/examples/prometheus-config.yaml"))
            .expect("the example ConfigMap"),
    )
    .remove(0);
    let own = config["data"]["prometheus.yml"]
        .as_str()
        .expect("the example's configuration")
        .replace("scrape_interval: 30s", "scrape_interval: 17s");
    config["data"]["prometheus.yml"] = json!(own);
    second.apply(config).await;

    for (stack, interval) in [(&mut first, "30s"), (&mut second, "17s")] {
        let parent = stack.converge_running().await;
        let derived = stack
            .get("ConfigMap", "example-prometheus-config")
            .await
            .expect("the derived configuration exists");
        let text = derived["data"]
            .as_object()
            .and_then(|data| data.values().next())
            .and_then(Value::as_str)
            .unwrap_or_default();
        assert!(
            text.contains(&format!("scrape_interval: {interval}")),
            "{}: the derived configuration comes from the namespace's own ConfigMap: {text}",
            stack.namespace
        );
        assert!(
            !parent["status"].to_string().contains("ConflictingObject"),
            "{}: the other namespace's children are not in the way: {:#}",
            stack.namespace,
            parent["status"]
        );
    }
    assert_steady(&mut first).await;
    assert_steady(&mut second).await;
}

/// The first round creates every child; the next one, seeing them as the API server stored them, sends no
/// request for any of them: the answer is the one that created them, claim templates included (issue 19:
/// they once lacked `volumeMode` and `status` until observed, a `PUT` of every StatefulSet on every install).
async fn assert_first_sync_after_the_creates_writes_no_child(stack: &mut Stack) {
    let first = stack.round().await;
    assert_eq!(
        first.created.len(),
        first.children.len(),
        "the first round creates every child: {first:#?}"
    );
    let second = stack.round().await;
    // The claims are no answer's creation: the StatefulSet controller makes them, Metacontroller adopts them,
    // and its first apply of each writes the last-applied annotation once (tests/e2e/claims.rs).
    let updated: Vec<&String> = second
        .updated
        .iter()
        .filter(|c| !c.starts_with("PersistentVolumeClaim/"))
        .collect();
    assert!(
        second.created.is_empty() && updated.is_empty() && second.deleted.is_empty(),
        "the first sync after the creates wrote children: created {:?}, updated {:?}, deleted {:?}",
        second.created,
        updated,
        second.deleted
    );
    let answered = |round: &crate::metacontroller::Round| -> Vec<Value> {
        round
            .children
            .iter()
            .filter(|c| c["kind"] != "PersistentVolumeClaim")
            .cloned()
            .collect()
    };
    assert_eq!(answered(&second), answered(&first), "the same answer");
}

/// Ten more rounds store nothing: no `resourceVersion` moves (parent or child), nothing is created or
/// deleted, the answered status equals what the API server stored after pruning, and Metacontroller's
/// default apply would send no request for any child.
pub async fn assert_steady(stack: &mut Stack) {
    // The controllers may still finish a status update (a Deployment's conditions, a budget's counts)
    // after the stack turned Running: wait until a second passes with no child moving and a round
    // writing nothing. From then on nothing may move.
    let deadline = std::time::Instant::now() + crate::cluster::PATIENCE;
    let before = loop {
        let before = stack.versions().await;
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let quiet = stack.round().await.wrote_nothing();
        if quiet && stack.versions().await == before {
            break before;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the controllers never settled"
        );
    };
    for i in 0..STEADY_ROUNDS {
        let round = stack.round().await;
        assert!(round.wrote_nothing(), "steady round {i} wrote: {round:#?}");
        let parent = stack.parent().await;
        assert_eq!(
            parent["status"], round.status,
            "the status answered equals the status stored (pruning dropped or changed nothing)"
        );
        let stored = stack.children().await;
        for child in &round.children {
            let key = format!(
                "{}/{}",
                child["kind"].as_str().unwrap_or_default(),
                child["metadata"]["name"].as_str().unwrap_or_default()
            );
            let observed = stored
                .get(&key)
                .unwrap_or_else(|| panic!("{key} is stored"));
            let diffs = merge_diffs(observed, child);
            assert!(
                diffs.is_empty(),
                "Metacontroller's dynamic apply would update {key}:\n{}",
                diffs.join("\n")
            );
        }
    }
    assert_eq!(
        stack.versions().await,
        before,
        "neither the parent nor any child was written, created or deleted"
    );
    assert!(running(&stack.parent().await));
}

#[tokio::test]
async fn store_shards_converge_and_then_make_no_write() {
    let Some(mut stack) = Stack::new("e2e-converge-shards").await else {
        return;
    };
    stack.apply_shards().await;

    assert_first_sync_after_the_creates_writes_no_child(&mut stack).await;
    let parent = stack.converge_running().await;
    // Three shards of two replicas: every one counted in the status.
    assert_eq!(parent["status"]["store"]["ready"], "6/6");
    let pods = stack
        .cluster()
        .list(&crate::kind("Pod"), &stack.namespace)
        .await;
    let mut per_shard = std::collections::BTreeMap::new();
    for pod in &pods {
        let labels = &pod["metadata"]["labels"];
        if labels["app.kubernetes.io/component"] == "store" {
            let shard = labels["prometheus.robszumski.com/store-shard"]
                .as_str()
                .unwrap_or("none")
                .to_owned();
            *per_shard.entry(shard).or_insert(0) += 1;
        }
    }
    assert_eq!(
        per_shard,
        std::collections::BTreeMap::from([("0".into(), 2), ("1".into(), 2), ("2".into(), 2)]),
        "two store gateway pods per shard"
    );
    assert!(
        stack
            .get("StatefulSet", "sharded-thanos-store")
            .await
            .is_none(),
        "no unsharded store gateway"
    );
    assert_steady(&mut stack).await;
}
