//! Faults and the end of a stack: a hook that is down, a spec the hook refuses, the parent deleted.

use serde_json::{Value, json};

use crate::cluster::{eventually, kind};
use crate::metacontroller::{Failure, Hook};
use crate::{CHILD_KINDS, Stack, reason, running};

#[tokio::test]
async fn a_stopped_hook_changes_nothing_and_a_new_one_converges() {
    let Some(mut stack) = Stack::running_example("e2e-hook-down").await else {
        return;
    };
    stack.edit_spec(json!({"highlyAvailable": false})).await;
    let before = stack.versions().await;

    stack.mc.hook.stop();
    for _ in 0..3 {
        match stack.try_round().await {
            Err(Failure::Unreachable(_)) => {}
            other => panic!("a round without a hook must fail: {other:?}"),
        }
    }
    assert_eq!(
        stack.versions().await,
        before,
        "nothing was written while the hook was down"
    );

    stack.mc.hook = Hook::start();
    stack
        .converge("one replica each", |p| {
            running(p) && p["status"]["prometheus"]["ready"] == "1/1"
        })
        .await;
}

#[tokio::test]
async fn a_spec_the_hook_refuses_leaves_every_child_and_the_status_as_they_were() {
    let Some(mut stack) = Stack::running_example("e2e-refused").await else {
        return;
    };
    let status = stack.parent().await["status"].clone();
    // The schema takes any duration; the hook knows Thanos exits on raw retention under 40h.
    stack
        .edit_spec(json!({"compact": {"retention": {"raw": "1h"}}}))
        .await;
    let before = stack.versions().await;

    match stack.try_round().await {
        // `/customize` reads the spec first and refuses it already; Metacontroller then syncs nothing.
        Err(Failure::Refused { path, status, body }) => {
            assert_eq!((path.as_str(), status), ("/customize", 422), "{body}");
            assert!(
                body.contains("spec.compact.retention.raw"),
                "the answer names the field: {body}"
            );
        }
        other => panic!("the hook must refuse the spec: {other:?}"),
    }
    let after = stack.versions().await;
    assert_eq!(after, before, "no child and no status was written");
    assert_eq!(stack.parent().await["status"], status);

    stack
        .edit_spec(json!({"compact": {"retention": {"raw": "60d"}}}))
        .await;
    stack.converge_running().await;
}

#[tokio::test]
async fn deleting_the_parent_lets_the_garbage_collector_remove_every_child_and_keeps_the_claims() {
    let Some(stack) = Stack::running_example("e2e-delete").await else {
        return;
    };
    let uid = stack.parent().await["metadata"]["uid"]
        .as_str()
        .expect("uid")
        .to_owned();
    let claims = stack
        .cluster()
        .list(&kind("PersistentVolumeClaim"), &stack.namespace)
        .await;
    assert_eq!(
        claims.len(),
        5,
        "two Prometheus, two store gateways, a compactor"
    );

    stack.cluster().kubectl_ok(&[
        "delete",
        "promrep",
        &stack.name,
        "-n",
        &stack.namespace,
        "--wait=false",
    ]);
    // Metacontroller's finalizer holds the parent until the finalize hook has released every claim.
    let deadline = std::time::Instant::now() + crate::cluster::PATIENCE;
    loop {
        let round = stack
            .mc
            .sync(&stack.namespace, &stack.name)
            .await
            .unwrap_or_else(|f| panic!("finalize round: {f:?}"));
        assert!(round.rejected.is_empty(), "{round:#?}");
        if round.finalized {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never finalized: {round:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    eventually("the garbage collector to remove every child", || async {
        // The claims keep their controller-uid label, released: they are not children any more.
        for kind_name in CHILD_KINDS
            .into_iter()
            .filter(|k| *k != "PersistentVolumeClaim")
        {
            let left = stack
                .cluster()
                .list(&kind(kind_name), &stack.namespace)
                .await;
            if left
                .iter()
                .any(|o| o["metadata"]["labels"]["controller-uid"] == uid.as_str())
            {
                return None;
            }
        }
        Some(())
    })
    .await;
    eventually("the Pods to go", || async {
        stack
            .cluster()
            .list(&kind("Pod"), &stack.namespace)
            .await
            .is_empty()
            .then_some(())
    })
    .await;
    let kept = stack
        .cluster()
        .list(&kind("PersistentVolumeClaim"), &stack.namespace)
        .await;
    let names = |claims: &[Value]| -> Vec<Value> {
        claims
            .iter()
            .map(|c| c["metadata"]["uid"].clone())
            .collect()
    };
    assert_eq!(
        names(&kept),
        names(&claims),
        "the finalize hook released every claim, and the StatefulSets' Retain policy kept them"
    );
    for claim in &kept {
        assert_eq!(claim["status"]["phase"], "Bound");
        assert!(
            claim["metadata"]["ownerReferences"]
                .as_array()
                .is_none_or(Vec::is_empty),
            "released: {claim:#}"
        );
        assert!(
            claim["metadata"]["deletionTimestamp"].is_null(),
            "{claim:#}"
        );
    }
}

#[tokio::test]
async fn an_object_left_by_the_2018_operator_is_reported_until_the_documented_migration() {
    let Some(mut stack) = Stack::new("e2e-migration").await else {
        return;
    };
    // What the 2018 operator left: a StatefulSet of our child's name, with its own labels and no owner.
    stack
        .apply(json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "example-prometheus", "labels": {"app": "prometheus"}},
            "spec": {
                "replicas": 0, "serviceName": "example-thanos-peers",
                "selector": {"matchLabels": {"app": "prometheus-2018"}},
                "template": {
                    "metadata": {"labels": {"app": "prometheus-2018"}},
                    "spec": {"containers": [{"name": "prometheus", "image": "quay.io/prometheus/prometheus:v2.3.0"}]},
                },
            },
        }))
        .await;
    stack.apply_examples().await;

    let parent = stack
        .converge("Degraded with ConflictingObject", |p| {
            reason(p, "Degraded") == Some("ConflictingObject")
        })
        .await;
    let message = parent["status"]["conditions"].to_string();
    let named = format!("StatefulSet {}/example-prometheus", stack.namespace);
    assert!(message.contains(&named), "{message}");
    let old = stack
        .get("StatefulSet", "example-prometheus")
        .await
        .expect("kept");
    assert_eq!(
        old["metadata"]["labels"]["app"], "prometheus",
        "the old object is left alone"
    );
    assert!(old["metadata"]["labels"]["controller-uid"].is_null());

    // The migration docs/install.md gives: delete it, keeping its Pods and claims; the next syncs create ours.
    stack.delete_statefulset_keeping_pods("example-prometheus");
    let parent = stack.converge_running().await;
    assert_eq!(reason(&parent, "Degraded"), Some("AsExpected"));
}
