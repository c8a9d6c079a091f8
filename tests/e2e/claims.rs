//! Claims as children on the real API server (issue 20, item 7): the StatefulSets' claims carry the
//! parent's `controller-uid`, Metacontroller adopts them, a larger size grows the claims whose StorageClass
//! allows it (the API server's `PersistentVolumeClaimResize` admission accepts it), a class without
//! `allowVolumeExpansion` leaves them as they are with a clear `Degraded`, and no sync ever deletes one.

use serde_json::{Value, json};

use crate::cluster::{PATIENCE, kind};
use crate::{Stack, condition};

const EXPANDABLE: &str = "e2e-expandable";
const FIXED: &str = "e2e-fixed";
const PROMETHEUS_CLAIMS: [&str; 2] = ["data-example-prometheus-0", "data-example-prometheus-1"];
const STORE_CLAIMS: [&str; 2] = ["data-example-thanos-store-0", "data-example-thanos-store-1"];
const COMPACT_CLAIMS: [&str; 1] = ["data-example-thanos-compact-0"];

/// The two classes of the PersistentVolumes `hack/control-plane.sh` makes for this test; no provisioner.
async fn storage_classes(stack: &Stack) {
    for (name, expands) in [(EXPANDABLE, true), (FIXED, false)] {
        stack
            .cluster()
            .apply(
                &kind("StorageClass"),
                None,
                json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                       "metadata": {"name": name},
                       "provisioner": "kubernetes.io/no-provisioner",
                       "volumeBindingMode": "Immediate",
                       "allowVolumeExpansion": expands}),
            )
            .await;
    }
}

async fn claim(stack: &Stack, name: &str) -> Value {
    stack
        .get("PersistentVolumeClaim", name)
        .await
        .unwrap_or_else(|| panic!("claim {name} exists"))
}

fn requested(claim: &Value) -> &str {
    claim["spec"]["resources"]["requests"]["storage"]
        .as_str()
        .unwrap_or_default()
}

/// Every claim of the stack still exists, with the size asked of each group.
async fn assert_claims(stack: &Stack, sizes: &[(&[&str], &str)], what: &str) {
    for (names, size) in sizes {
        for name in *names {
            let claim = claim(stack, name).await;
            assert!(
                claim["metadata"]["deletionTimestamp"].is_null(),
                "{what}: claim {name} is being deleted"
            );
            assert_eq!(requested(&claim), *size, "{what}: claim {name}");
        }
    }
}

/// Sync until the stored parent's `Degraded` reason is `reason`; its message.
async fn degraded(stack: &mut Stack, reason: &str) -> String {
    let parent = stack
        .converge(&format!("Degraded with {reason}"), |p| {
            condition(p, "Degraded") == Some("True") && degraded_reason(p) == reason
        })
        .await;
    degraded_message(&parent)
}

fn degraded_entry<'a>(parent: &'a Value, key: &str) -> &'a str {
    parent["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Degraded")
        .and_then(|c| c[key].as_str())
        .unwrap_or_default()
}

fn degraded_reason(parent: &Value) -> &str {
    degraded_entry(parent, "reason")
}

fn degraded_message(parent: &Value) -> String {
    degraded_entry(parent, "message").to_owned()
}

/// Three rounds in a row store nothing.
async fn assert_quiet(stack: &mut Stack, what: &str) {
    let deadline = std::time::Instant::now() + PATIENCE;
    let mut quiet = 0;
    while quiet < 3 {
        let round = stack.round().await;
        quiet = if round.wrote_nothing() { quiet + 1 } else { 0 };
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: rounds keep writing: {round:#?}"
        );
    }
}

#[tokio::test]
async fn claims_grow_where_their_class_allows_it_and_no_sync_deletes_one() {
    let Some(mut stack) = Stack::new("e2e-claims").await else {
        return;
    };
    storage_classes(&stack).await;
    stack.apply_examples().await;
    stack
        .edit_spec(json!({"storage": {
            "prometheus": {"size": "1Gi", "storageClassName": EXPANDABLE},
            "store": {"size": "1Gi", "storageClassName": FIXED},
        }}))
        .await;
    stack.converge_running().await;

    // The claims carry the parent's controller-uid from their templates, and Metacontroller adopts them.
    let uid = stack.parent().await["metadata"]["uid"].clone();
    let children = stack.children().await;
    for name in PROMETHEUS_CLAIMS
        .iter()
        .chain(&STORE_CLAIMS)
        .chain(&COMPACT_CLAIMS)
    {
        let claim = children
            .get(&format!("PersistentVolumeClaim/{name}"))
            .unwrap_or_else(|| panic!("claim {name} is a child: {:?}", children.keys()));
        assert_eq!(claim["status"]["phase"], "Bound", "{name}");
        assert_eq!(
            claim["metadata"]["ownerReferences"][0]["uid"], uid,
            "{name} is adopted"
        );
    }
    crate::converge::assert_steady(&mut stack).await;

    // Larger sizes: the expandable class's claims grow, the fixed class's stay and the status says why.
    stack
        .edit_spec(json!({"storage": {
            "prometheus": {"size": "2Gi", "storageClassName": EXPANDABLE},
            "store": {"size": "2Gi", "storageClassName": FIXED},
        }}))
        .await;
    let message = degraded(&mut stack, "VolumeExpansionNotAllowed").await;
    assert!(
        message.contains(&format!(
            "StorageClass {FIXED} does not have allowVolumeExpansion: true"
        )) && message.contains("spec.storage.store.size is 2Gi"),
        "{message}"
    );
    assert_claims(
        &stack,
        &[(&PROMETHEUS_CLAIMS, "2Gi"), (&STORE_CLAIMS, "1Gi")],
        "after growing",
    )
    .await;
    // The hook's rule is the API server's: it refuses to grow a claim of the fixed class.
    let refused = stack.cluster().kubectl(&[
        "patch",
        "pvc",
        STORE_CLAIMS[0],
        "-n",
        &stack.namespace,
        "-p",
        r#"{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}"#,
    ]);
    assert!(
        !refused.status.success()
            && String::from_utf8_lossy(&refused.stderr).contains("storageclass"),
        "the API server refuses to grow a claim of {FIXED}: {refused:?}"
    );
    // The StatefulSets keep the templates they were made with: no pending change, no write.
    let set = stack
        .get("StatefulSet", "example-prometheus")
        .await
        .unwrap();
    assert_eq!(
        set["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"],
        "1Gi"
    );
    assert_quiet(&mut stack, "after growing").await;

    // A smaller size is refused; the claims keep theirs.
    stack
        .edit_spec(json!({"storage": {
            "prometheus": {"size": "1Gi", "storageClassName": EXPANDABLE},
            "store": {"size": "1Gi", "storageClassName": FIXED},
        }}))
        .await;
    let message = degraded(&mut stack, "VolumeShrinkRefused").await;
    assert!(message.contains("a claim cannot shrink"), "{message}");
    assert_quiet(&mut stack, "after a shrink").await;
    assert_claims(
        &stack,
        &[(&PROMETHEUS_CLAIMS, "2Gi"), (&STORE_CLAIMS, "1Gi")],
        "after a shrink",
    )
    .await;

    // Inputs vanish, the compactor goes: every claim stays.
    stack
        .cluster()
        .kubectl_ok(&["delete", "secret", "s3-bucket", "-n", &stack.namespace]);
    stack.cluster().kubectl_ok(&[
        "delete",
        "configmap",
        "prometheus-config",
        "-n",
        &stack.namespace,
    ]);
    stack
        .edit_spec(json!({"storage": {
            "prometheus": {"size": "2Gi", "storageClassName": EXPANDABLE},
            "store": {"size": "1Gi", "storageClassName": FIXED},
        }, "compact": {"enabled": false}}))
        .await;
    for _ in 0..3 {
        stack.round().await;
    }
    assert!(
        stack
            .get("StatefulSet", "example-thanos-compact")
            .await
            .is_none(),
        "the compactor is gone"
    );
    assert_claims(
        &stack,
        &[
            (&PROMETHEUS_CLAIMS, "2Gi"),
            (&STORE_CLAIMS, "1Gi"),
            (&COMPACT_CLAIMS, "100Gi"),
        ],
        "with the Secret and ConfigMap gone and the compactor disabled",
    )
    .await;
}
