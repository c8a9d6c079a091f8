//! A running stack whose spec or inputs change: what the API server and its controllers then do.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::cluster::{eventually, kind};
use crate::{Stack, condition, reason, running};

fn set(names: &[String]) -> BTreeSet<&str> {
    names.iter().map(String::as_str).collect()
}

#[tokio::test]
async fn highly_available_off_and_on_scales_and_removes_then_restores_the_budgets() {
    let Some(mut stack) = Stack::running_example("e2e-ha-toggle").await else {
        return;
    };
    let budgets = [
        "example-prometheus",
        "example-thanos-store",
        "example-thanos-query",
        "example-thanos-query-frontend",
    ];

    stack.edit_spec(json!({"highlyAvailable": false})).await;
    let round = stack.round().await;
    assert_eq!(
        set(&round.deleted),
        BTreeSet::from([
            "PodDisruptionBudget/example-prometheus",
            "PodDisruptionBudget/example-thanos-store",
            "PodDisruptionBudget/example-thanos-query",
            "PodDisruptionBudget/example-thanos-query-frontend"
        ]),
        "{round:#?}"
    );
    let parent = stack
        .converge("one replica each", |p| {
            running(p) && p["status"]["prometheus"]["ready"] == "1/1"
        })
        .await;
    assert_eq!(parent["status"]["query"]["ready"], "1/1");
    let prometheus = stack
        .get("StatefulSet", "example-prometheus")
        .await
        .expect("kept");
    assert_eq!(prometheus["spec"]["replicas"], 1);
    for budget in budgets {
        assert!(
            stack.get("PodDisruptionBudget", budget).await.is_none(),
            "{budget} deleted"
        );
    }

    stack.edit_spec(json!({"highlyAvailable": true})).await;
    stack
        .converge("two replicas each", |p| {
            running(p) && p["status"]["prometheus"]["ready"] == "2/2"
        })
        .await;
    for budget in budgets {
        let budget = stack
            .get("PodDisruptionBudget", budget)
            .await
            .expect("created again");
        assert_eq!(budget["spec"]["maxUnavailable"], 1, "{budget:#}");
    }
}

#[tokio::test]
async fn removing_the_base_domain_deletes_the_ingresses_and_nothing_else() {
    let Some(mut stack) = Stack::running_example("e2e-base-domain").await else {
        return;
    };
    let before: BTreeSet<String> = stack.children().await.into_keys().collect();

    stack.edit_spec(json!({"baseDomain": null})).await;
    let round = stack.round().await;
    // The 2018 example exposes the querier only: Prometheus needs spec.ingress.exposePrometheus.
    assert_eq!(
        set(&round.deleted),
        BTreeSet::from(["Ingress/example-query"])
    );
    assert!(round.created.is_empty(), "{round:#?}");
    let after: BTreeSet<String> = stack.children().await.into_keys().collect();
    let gone: Vec<&String> = before.difference(&after).collect();
    assert_eq!(gone, ["Ingress/example-query"]);
    let parent = stack.converge_running().await;
    assert!(
        parent["status"]["output"].get("queryExternal").is_none(),
        "{:#}",
        parent["status"]["output"]
    );
}

/// Exposing Prometheus adds its Ingress (its own TLS Secret with `tlsPerHost`) and its external URL; taking it
/// back, as an upgrade does for a stack that does not ask for it, deletes that Ingress and nothing else.
#[tokio::test]
async fn exposing_prometheus_adds_its_ingress_and_url_and_withdrawing_it_deletes_only_that_ingress()
{
    let Some(mut stack) = Stack::running_example("e2e-expose-prometheus").await else {
        return;
    };
    let before: BTreeSet<String> = stack.children().await.into_keys().collect();
    assert!(!before.contains("Ingress/example-prometheus"), "{before:?}");

    stack
        .edit_spec(json!({"ingress": {"exposePrometheus": true, "tlsPerHost": true}}))
        .await;
    let round = stack.round().await;
    assert_eq!(
        set(&round.created),
        BTreeSet::from(["Ingress/example-prometheus"]),
        "{round:#?}"
    );
    assert!(round.deleted.is_empty(), "{round:#?}");
    let parent = stack.converge_running().await;
    assert_eq!(
        parent["status"]["output"]["prometheusExternal"],
        "https://example-prometheus.ingress.example.com"
    );
    let ingress = stack
        .get("Ingress", "example-prometheus")
        .await
        .expect("created");
    assert_eq!(
        ingress["spec"]["tls"][0]["secretName"],
        "example-prometheus-tls"
    );
    let query = stack.get("Ingress", "example-query").await.expect("kept");
    assert_eq!(query["spec"]["tls"][0]["secretName"], "example-query-tls");
    let prometheus = stack
        .get("StatefulSet", "example-prometheus")
        .await
        .expect("kept");
    let args = prometheus["spec"]["template"]["spec"]["containers"][0]["args"].to_string();
    assert!(
        args.contains("--web.external-url=https://example-prometheus.ingress.example.com"),
        "{args}"
    );

    stack.edit_spec(json!({"ingress": null})).await;
    let round = stack.round().await;
    assert_eq!(
        set(&round.deleted),
        BTreeSet::from(["Ingress/example-prometheus"]),
        "{round:#?}"
    );
    assert!(round.created.is_empty(), "{round:#?}");
    let after: BTreeSet<String> = stack.children().await.into_keys().collect();
    assert_eq!(after, before);
    let parent = stack.converge_running().await;
    assert!(
        parent["status"]["output"]
            .get("prometheusExternal")
            .is_none(),
        "{:#}",
        parent["status"]["output"]
    );
}

#[tokio::test]
async fn a_new_volume_size_the_claims_cannot_take_is_reported_and_an_orphaning_delete_keeps_pods_and_claims()
 {
    let Some(mut stack) = Stack::running_example("e2e-storage").await else {
        return;
    };
    let uids = |objects: Vec<Value>| -> BTreeSet<String> {
        objects
            .iter()
            .filter(|o| {
                o["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.contains("example-prometheus-"))
            })
            .map(|o| o["metadata"]["uid"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let pods_before = uids(stack.cluster().list(&kind("Pod"), &stack.namespace).await);
    let claims_before = uids(
        stack
            .cluster()
            .list(&kind("PersistentVolumeClaim"), &stack.namespace)
            .await,
    );
    assert_eq!((pods_before.len(), claims_before.len()), (2, 2));

    // The claims are children, but these PersistentVolumes have no StorageClass: they cannot grow, the hook
    // keeps them and the stored claim template (which the API server would refuse to change) and says why,
    // with no pending change. The TSDB size limit is pinned at what the 10Gi claims had (80%): by default it
    // follows the claim template, and the recreated StatefulSet's new one would roll the pods, which this test
    // is not about.
    stack
        .edit_spec(json!({"storage": {"prometheus": {"size": "20Gi"}},
            "metrics": {"retentionSize": "8192MB"}}))
        .await;
    let parent = stack
        .converge("Degraded with VolumeExpansionNotAllowed", |p| {
            reason(p, "Degraded") == Some("VolumeExpansionNotAllowed")
        })
        .await;
    assert_eq!(condition(&parent, "Degraded"), Some("True"));
    let warnings = parent["status"]["warnings"].to_string();
    assert!(!warnings.contains("cannot change in place"), "{warnings}");
    let size = |set: &Value| {
        set["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"].clone()
    };
    let stored = stack
        .get("StatefulSet", "example-prometheus")
        .await
        .expect("kept");
    assert_eq!(size(&stored), "10Gi");

    // The documented step for a change that cannot be applied: the next syncs recreate the StatefulSet with
    // the new template, adopting its Pods and claims.
    stack.delete_statefulset_keeping_pods("example-prometheus");
    let recreated = stack.converge("recreated and running", running).await;
    assert!(
        recreated["status"]["warnings"]
            .as_array()
            .is_none_or(|w| w.iter().all(|w| !w.to_string().contains("cannot change")))
    );
    let recreated = stack
        .get("StatefulSet", "example-prometheus")
        .await
        .expect("recreated");
    assert_eq!(size(&recreated), "20Gi");
    assert_ne!(recreated["metadata"]["uid"], stored["metadata"]["uid"]);
    // The old Pods were adopted, not replaced, and the claims are the same.
    assert_eq!(
        uids(stack.cluster().list(&kind("Pod"), &stack.namespace).await),
        pods_before
    );
    assert_eq!(
        uids(
            stack
                .cluster()
                .list(&kind("PersistentVolumeClaim"), &stack.namespace)
                .await
        ),
        claims_before
    );
}

/// A release that moves a default claim size (the compactor's, 20Gi before, 100Gi now) must not leave every
/// running stack `Degraded` with a pending template change: the running StatefulSet keeps its claims' size,
/// with no warning and no write, while a size the spec names is still compared (the test above).
#[tokio::test]
async fn a_compactor_made_with_the_former_default_size_keeps_it_with_no_warning_and_no_write() {
    let Some(mut stack) = Stack::new("e2e-compact-default").await else {
        return;
    };
    stack.apply_examples().await;
    // As an earlier release made it: a 20Gi claim template.
    stack
        .edit_spec(json!({"storage": {"compact": {"size": "20Gi"}}}))
        .await;
    stack.converge_running().await;
    let size = |set: &Value| {
        set["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"].clone()
    };
    let before = stack
        .get("StatefulSet", "example-thanos-compact")
        .await
        .expect("created");
    assert_eq!(size(&before), "20Gi");

    // The spec leaves the size to the default, now 100Gi.
    stack.edit_spec(json!({"storage": null})).await;
    let round = stack.round().await;
    assert!(
        !round
            .updated
            .contains(&"StatefulSet/example-thanos-compact".to_owned()),
        "{round:#?}"
    );
    assert_eq!(
        round.status["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Degraded")
            .map(|c| c["status"].clone()),
        Some(json!("False")),
        "{:#?}",
        round.status
    );
    assert!(
        !round.status["warnings"]
            .to_string()
            .contains("volumeClaimTemplates"),
        "{:#?}",
        round.status
    );
    crate::converge::assert_steady(&mut stack).await;
    let after = stack
        .get("StatefulSet", "example-thanos-compact")
        .await
        .expect("kept");
    assert_eq!(after["metadata"]["uid"], before["metadata"]["uid"]);
    assert_eq!(size(&after), "20Gi");
}

#[tokio::test]
async fn new_bucket_credentials_roll_every_statefulset_that_reads_the_bucket() {
    let Some(mut stack) = Stack::running_example("e2e-secret-rotation").await else {
        return;
    };
    let sets = [
        "example-prometheus",
        "example-thanos-store",
        "example-thanos-compact",
    ];
    let mut before = Vec::new();
    for set in sets {
        before.push(stack.get("StatefulSet", set).await.expect("exists"));
    }
    let pod = stack
        .get("Pod", "example-prometheus-0")
        .await
        .expect("running");

    // A user rotates the key, as `kubectl edit secret` would.
    let secrets = stack.cluster().api(&kind("Secret"), Some(&stack.namespace));
    let rotate = json!({"stringData": {"s3_secret_key": "a-new-secret-key"}});
    secrets
        .patch(
            "s3-bucket",
            &Default::default(),
            &kube::api::Patch::Merge(rotate),
        )
        .await
        .expect("the Secret is patched");
    let round = stack.round().await;
    let expected: BTreeSet<String> = sets.iter().map(|s| format!("StatefulSet/{s}")).collect();
    assert_eq!(
        round.updated.iter().cloned().collect::<BTreeSet<_>>(),
        expected,
        "the StatefulSets that read the bucket change, nothing else: {round:#?}"
    );
    for (name, before) in sets.iter().zip(&before) {
        let annotations = |set: &Value| set["spec"]["template"]["metadata"]["annotations"].clone();
        let rolled = eventually(&format!("{name} to roll to a new revision"), || async {
            let set = stack.get("StatefulSet", name).await?;
            let status = &set["status"];
            let done = status["updateRevision"] != before["status"]["updateRevision"]
                && status["currentRevision"] == status["updateRevision"]
                && status["readyReplicas"] == set["spec"]["replicas"];
            done.then_some(set)
        })
        .await;
        assert_ne!(
            annotations(&rolled),
            annotations(before),
            "{name}: the pod template's Secret hash"
        );
    }
    let now = stack
        .get("Pod", "example-prometheus-0")
        .await
        .expect("recreated");
    assert_ne!(
        now["metadata"]["uid"], pod["metadata"]["uid"],
        "the Pod was replaced"
    );
    stack.converge_running().await;
}

#[tokio::test]
async fn a_deleted_config_map_degrades_the_stack_and_deletes_no_child() {
    let Some(mut stack) = Stack::running_example("e2e-config-map-deleted").await else {
        return;
    };
    let before = stack.children().await;
    let derived = before["ConfigMap/example-prometheus-config"]["data"].clone();

    stack.cluster().kubectl_ok(&[
        "delete",
        "configmap",
        "prometheus-config",
        "-n",
        &stack.namespace,
    ]);
    let parent = stack
        .converge("Degraded", |p| condition(p, "Degraded") == Some("True"))
        .await;
    assert!(
        parent["status"]["conditions"]
            .to_string()
            .contains("prometheus-config"),
        "{:#}",
        parent["status"]
    );
    for _ in 0..3 {
        let round = stack.round().await;
        assert!(
            round.deleted.is_empty() && round.created.is_empty(),
            "{round:#?}"
        );
    }
    let after = stack.children().await;
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "no child deleted"
    );
    assert_eq!(
        after["ConfigMap/example-prometheus-config"]["data"], derived,
        "the derived config is kept"
    );
}

#[tokio::test]
async fn a_deleted_bucket_secret_rolls_nothing_and_restoring_it_unchanged_rolls_nothing() {
    let Some(mut stack) = Stack::running_example("e2e-secret-deleted").await else {
        return;
    };
    let sets = [
        "example-prometheus",
        "example-thanos-store",
        "example-thanos-compact",
    ];
    let templates = async |stack: &Stack| -> Vec<Value> {
        let mut templates = Vec::new();
        for set in sets {
            let set = stack.get("StatefulSet", set).await.expect("kept");
            templates.push(json!([
                set["spec"]["template"],
                set["status"]["updateRevision"]
            ]));
        }
        templates
    };
    let before = templates(&stack).await;
    let secret = stack.get("Secret", "s3-bucket").await.expect("applied");

    // Deleted for a moment, as a GitOps tool that prunes and recreates it would.
    stack
        .cluster()
        .kubectl_ok(&["delete", "secret", "s3-bucket", "-n", &stack.namespace]);
    let parent = stack
        .converge("Degraded", |p| condition(p, "Degraded") == Some("True"))
        .await;
    assert_eq!(
        reason(&parent, "Degraded"),
        Some("BucketSecretNotFound"),
        "{:#}",
        parent["status"]
    );
    for _ in 0..3 {
        let round = stack.round().await;
        assert!(
            round.deleted.is_empty() && round.created.is_empty(),
            "{round:#?}"
        );
        assert!(
            round.updated.iter().all(|u| !u.starts_with("StatefulSet/")),
            "no workload changes while the Secret is missing: {round:#?}"
        );
    }
    assert_eq!(
        templates(&stack).await,
        before,
        "no pod template changed, nothing rolled"
    );

    // Back with the same data: the condition clears and still nothing rolls.
    stack
        .apply(
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s3-bucket"},
                      "type": secret["type"], "data": secret["data"]}),
        )
        .await;
    stack
        .converge("healthy again", |p| {
            running(p) && condition(p, "Degraded") == Some("False")
        })
        .await;
    assert_eq!(
        templates(&stack).await,
        before,
        "the restored Secret rolled nothing"
    );
}

#[tokio::test]
async fn a_change_of_the_shard_count_keeps_the_store_gateways_until_their_replacements_are_ready() {
    let Some(mut stack) = Stack::running_example("e2e-changes-shards").await else {
        return;
    };
    let shards = [
        "StatefulSet/example-thanos-store-0",
        "StatefulSet/example-thanos-store-1",
    ];

    // The first sync after the change creates the shards and keeps the running store gateway: the
    // shards are not observed yet, let alone ready.
    stack.edit_spec(json!({"store": {"shards": 2}})).await;
    let round = stack.round().await;
    assert_eq!(set(&round.created), BTreeSet::from(shards), "{round:#?}");
    assert!(round.deleted.is_empty(), "{round:#?}");
    assert!(
        !round
            .updated
            .contains(&"StatefulSet/example-thanos-store".to_string()),
        "the running store gateway is kept as it runs: {round:#?}"
    );
    assert!(
        round.status["warnings"]
            .to_string()
            .contains("example-thanos-store is kept as it runs"),
        "{}",
        round.status["warnings"]
    );

    // Once both shards are ready, the next sync deletes it; every store gateway pod is a shard's.
    let parent = stack
        .converge("two shards ready, the unsharded one gone", |p| {
            running(p) && p["status"]["store"]["ready"] == "4/4"
        })
        .await;
    assert_eq!(
        parent["status"]["local"]["stores"],
        json!(["example-thanos-store-0", "example-thanos-store-1"])
    );
    assert!(
        rounds_until_gone(&mut stack, &["example-thanos-store"]).await,
        "the unsharded store gateway is deleted once the shards are ready"
    );

    // And back: the unsharded one starts while the shards run on, then they go.
    stack.edit_spec(json!({"store": null})).await;
    let round = stack.round().await;
    assert_eq!(
        set(&round.created),
        BTreeSet::from(["StatefulSet/example-thanos-store"]),
        "{round:#?}"
    );
    assert!(round.deleted.is_empty(), "{round:#?}");
    stack
        .converge("one store gateway StatefulSet", |p| {
            running(p) && p["status"]["store"]["ready"] == "2/2"
        })
        .await;
    assert!(
        rounds_until_gone(
            &mut stack,
            &["example-thanos-store-0", "example-thanos-store-1"]
        )
        .await,
        "the shards are deleted once the unsharded store gateway is ready"
    );
}

#[tokio::test]
async fn a_change_between_shard_counts_bridges_through_an_unsharded_store_gateway() {
    let Some(mut stack) = Stack::new("e2e-changes-bridge").await else {
        return;
    };
    stack.apply_shards().await;
    stack.converge_running().await;
    let shards_of = |set: &Value| {
        set["spec"]["template"]["metadata"]["annotations"]["prometheus.robszumski.com/store-shards"]
            .as_str()
            .map(str::to_owned)
    };

    // From three shards to two: shards 0 and 1 would change their blocks in place, so they are kept as they
    // run, shard 2 runs on, and the unsharded store gateway starts as a bridge that serves every block. None
    // of the three is written.
    stack.edit_spec(json!({"store": {"shards": 2}})).await;
    let round = stack.round().await;
    assert_eq!(
        set(&round.created),
        BTreeSet::from(["StatefulSet/sharded-thanos-store"]),
        "{round:#?}"
    );
    assert!(round.deleted.is_empty(), "{round:#?}");
    let warnings = round.status["warnings"].to_string();
    for part in [
        "sharded-thanos-store-0, sharded-thanos-store-1, sharded-thanos-store-2 are kept as they run",
        "sharded-thanos-store serves every block meanwhile",
    ] {
        assert!(warnings.contains(part), "{warnings}");
    }
    for shard in [
        "sharded-thanos-store-0",
        "sharded-thanos-store-1",
        "sharded-thanos-store-2",
    ] {
        assert!(
            !round.updated.contains(&format!("StatefulSet/{shard}")),
            "{shard} is kept as it runs while the bridge is not ready: {round:#?}"
        );
        let set = stack.get("StatefulSet", shard).await.unwrap();
        assert_eq!(shards_of(&set).as_deref(), Some("3"), "{shard}");
    }

    // Once the bridge is ready the shards change to two, and once they are ready the bridge and shard 2 go.
    // Waiting for the targets is a warning until they are ready, running two shards.
    stack
        .converge("two shards of two ready, as two", |p| {
            running(p)
                && p["status"]["store"]["ready"] == "4/4"
                && !p["status"]["warnings"]
                    .to_string()
                    .contains("spec.store.shards")
        })
        .await;
    assert!(
        rounds_until_gone(
            &mut stack,
            &["sharded-thanos-store", "sharded-thanos-store-2"]
        )
        .await,
        "the bridge and the third shard are deleted once the two shards are ready"
    );
    for shard in ["sharded-thanos-store-0", "sharded-thanos-store-1"] {
        let set = stack.get("StatefulSet", shard).await.unwrap();
        assert_eq!(shards_of(&set).as_deref(), Some("2"), "{shard}");
    }
    let parent = stack.parent().await;
    assert_eq!(
        parent["status"]["local"]["stores"],
        json!(["sharded-thanos-store-0", "sharded-thanos-store-1"])
    );
}

/// Sync until none of the StatefulSets `names` exists (true), or ten rounds passed (false).
async fn rounds_until_gone(stack: &mut Stack, names: &[&str]) -> bool {
    for _ in 0..10 {
        stack.round().await;
        let mut gone = true;
        for name in names {
            gone &= stack.get("StatefulSet", name).await.is_none();
        }
        if gone {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    false
}
