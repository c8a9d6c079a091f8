//! The claims the StatefulSets made, as children (`src/render/claims.rs`): a larger size grows the bound
//! claims whose StorageClass allows it, anything else keeps their size and says why, and no answer ever
//! leaves a claim out (an answer without an owned claim makes Metacontroller delete it).

mod common;

use common::apply::merge_diffs;
use common::{Request, Rollout, as_stored, degraded};
use serde_json::{Value, json};

/// base64 of "type: FILESYSTEM\nconfig:\n  directory: /tmp\n".
const OBJSTORE: &str = "dHlwZTogRklMRVNZU1RFTQpjb25maWc6CiAgZGlyZWN0b3J5OiAvdG1wCg==";
const CONFIG: &str = "global:\n  scrape_interval: 30s\n";
const UID: &str = "6f1c3a52-1d0e-4c55-9a3b-2f6d5e8a9b10";

/// A claim as the API server stores it once Metacontroller adopted it.
fn claim(name: &str, size: &str, class: &str, phase: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": name, "namespace": "default", "resourceVersion": "7",
            "labels": {"controller-uid": UID, "app.kubernetes.io/name": "prometheus"},
            "annotations": {"pv.kubernetes.io/bind-completed": "yes"},
            "ownerReferences": [{"apiVersion": "prometheus.robszumski.com/v1alpha1", "kind": "PrometheusReplica",
                                 "name": "example", "uid": UID, "controller": true, "blockOwnerDeletion": true}],
            "finalizers": ["kubernetes.io/pvc-protection"],
        },
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}},
                 "storageClassName": class, "volumeMode": "Filesystem", "volumeName": format!("pv-{name}")},
        "status": {"phase": phase, "accessModes": ["ReadWriteOnce"], "capacity": {"storage": size}},
    })
}

fn storage_class(name: &str, expands: bool) -> Value {
    json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": name},
           "provisioner": "example.com/csi", "allowVolumeExpansion": expands})
}

const PROMETHEUS_CLAIMS: [&str; 2] = ["data-example-prometheus-0", "data-example-prometheus-1"];

/// The running example with `spec.storage` set, its two Prometheus claims of `size` in class `class`.
fn running(storage: Value, size: &str, class: &str, phase: &str) -> Request {
    let healthy = || {
        Request::example()
            .customize()
            .config_map("prometheus-config", &[("prometheus.yml", CONFIG)])
            .secret("s3-bucket", &[("objstore.yml", OBJSTORE)])
            .related(storage_class("fast", true))
            .related(storage_class("fixed", false))
    };
    let first = healthy().sync_json();
    healthy()
        .spec("storage", storage)
        .observe(as_stored(&first, Rollout::Done))
        .observe(PROMETHEUS_CLAIMS.map(|name| claim(name, size, class, phase)))
}

fn claims(response: &Value) -> Vec<&Value> {
    response["children"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "PersistentVolumeClaim")
        .collect()
}

fn size(claim: &Value) -> &str {
    claim["spec"]["resources"]["requests"]["storage"]
        .as_str()
        .unwrap()
}

#[test]
fn a_larger_size_grows_every_bound_claim_whose_class_allows_it() {
    let response = running(
        json!({"prometheus": {"size": "20Gi"}}),
        "10Gi",
        "fast",
        "Bound",
    )
    .sync_json();
    let claims = claims(&response);
    assert_eq!(claims.len(), 2, "{claims:#?}");
    for (claim, name) in claims.iter().zip(PROMETHEUS_CLAIMS) {
        // Its name and its size, nothing else: Metacontroller's merge keeps every other stored field.
        assert_eq!(
            **claim,
            json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                   "metadata": {"name": name, "namespace": "default",
                                // As Metacontroller adopted it: no write, and the finalize hook can release it.
                                "ownerReferences": [{"apiVersion": "prometheus.robszumski.com/v1alpha1",
                                    "kind": "PrometheusReplica", "name": "example", "uid": UID,
                                    "controller": true, "blockOwnerDeletion": true}]},
                   "spec": {"resources": {"requests": {"storage": "20Gi"}}}})
        );
    }
    assert_eq!(degraded(&response).0, "False", "{:#}", response["status"]);
    // The claims grow, so the template's size is no pending change: no warning, and the StatefulSet keeps
    // the template it was made with (a claim template cannot change in place).
    let warnings = response["status"]["warnings"].to_string();
    assert!(!warnings.contains("volumeClaimTemplates"), "{warnings}");
    let set = response["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "StatefulSet" && c["metadata"]["name"] == "example-prometheus")
        .unwrap();
    assert_eq!(
        set["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"],
        "10Gi"
    );
}

#[test]
fn an_unchanged_claim_is_answered_as_stored_so_no_write_follows() {
    let request = running(
        json!({"prometheus": {"size": "10Gi"}}),
        "10Gi",
        "fast",
        "Bound",
    );
    let response = request.sync_json();
    for (answered, name) in claims(&response).into_iter().zip(PROMETHEUS_CLAIMS) {
        let stored = claim(name, "10Gi", "fast", "Bound");
        let mut applied = stored.clone();
        // As after Metacontroller's first update of an adopted claim: the last-applied annotation holds
        // the answer; from then on the merge changes nothing.
        applied["metadata"]["annotations"]["metacontroller.k8s.io/last-applied-configuration"] =
            json!(answered.to_string());
        assert_eq!(merge_diffs(&applied, answered), Vec::<String>::new());
    }
    assert_eq!(degraded(&response).0, "False");
}

#[test]
fn a_class_without_expansion_keeps_the_size_and_says_why() {
    let response = running(
        json!({"prometheus": {"size": "20Gi"}}),
        "10Gi",
        "fixed",
        "Bound",
    )
    .sync_json();
    assert!(claims(&response).iter().all(|c| size(c) == "10Gi"));
    let (status, reason, message) = degraded(&response);
    assert_eq!((status, reason), ("True", "VolumeExpansionNotAllowed"));
    for part in [
        "spec.storage.prometheus.size is 20Gi",
        "PersistentVolumeClaim default/data-example-prometheus-0 (10Gi) cannot grow",
        "StorageClass fixed does not have allowVolumeExpansion: true",
    ] {
        assert!(message.contains(part), "{part}: {message}");
    }
}

#[test]
fn a_missing_class_or_none_keeps_the_size_and_says_why() {
    for (class, why) in [
        ("gone", "its StorageClass gone does not exist"),
        ("", "it has no StorageClass"),
    ] {
        let response = running(
            json!({"prometheus": {"size": "20Gi"}}),
            "10Gi",
            class,
            "Bound",
        )
        .sync_json();
        assert!(claims(&response).iter().all(|c| size(c) == "10Gi"));
        let (_, reason, message) = degraded(&response);
        assert_eq!(reason, "VolumeExpansionNotAllowed");
        assert!(message.contains(why), "{message}");
    }
}

#[test]
fn a_smaller_size_is_refused_and_the_claims_keep_theirs() {
    let response = running(
        json!({"prometheus": {"size": "5Gi"}}),
        "10Gi",
        "fast",
        "Bound",
    )
    .sync_json();
    assert_eq!(claims(&response).len(), 2);
    assert!(claims(&response).iter().all(|c| size(c) == "10Gi"));
    let (status, reason, message) = degraded(&response);
    assert_eq!((status, reason), ("True", "VolumeShrinkRefused"));
    assert!(
        message.contains("spec.storage.prometheus.size is 5Gi, smaller than PersistentVolumeClaim")
            && message.contains("Set spec.storage.prometheus.size to 10Gi or more"),
        "{message}"
    );
}

#[test]
fn the_same_size_in_another_spelling_is_no_change() {
    let response = running(
        json!({"prometheus": {"size": "10240Mi"}}),
        "10Gi",
        "fixed",
        "Bound",
    )
    .sync_json();
    assert!(claims(&response).iter().all(|c| size(c) == "10Gi"));
    assert_eq!(degraded(&response).0, "False");
}

#[test]
fn a_claim_grows_only_once_bound_and_with_the_classes_at_hand() {
    let response = running(
        json!({"prometheus": {"size": "20Gi"}}),
        "10Gi",
        "fast",
        "Pending",
    )
    .sync_json();
    assert!(claims(&response).iter().all(|c| size(c) == "10Gi"));
    let warnings = response["status"]["warnings"].to_string();
    assert!(
        warnings.contains("data-example-prometheus-0 grows from 10Gi to 20Gi (spec.storage.prometheus.size) once it is bound"),
        "{warnings}"
    );
    // Without a customize hook there are no StorageClasses to ask.
    let first = Request::example().sync_json();
    let response = Request::example()
        .spec("storage", json!({"prometheus": {"size": "20Gi"}}))
        .observe(as_stored(&first, Rollout::Done))
        .observe(PROMETHEUS_CLAIMS.map(|name| claim(name, "10Gi", "fast", "Bound")))
        .sync_json();
    assert!(claims(&response).iter().all(|c| size(c) == "10Gi"));
    let warnings = response["status"]["warnings"].to_string();
    assert!(
        warnings.contains("only the customize hook brings"),
        "{warnings}"
    );
}

#[test]
fn a_default_size_never_grows_a_claim() {
    // The compactor's default grew from 20Gi to 100Gi: claims made with 20Gi keep it, and nothing is wrong.
    let response = running(json!({}), "10Gi", "fast", "Bound")
        .observe([claim(
            "data-example-thanos-compact-0",
            "20Gi",
            "fast",
            "Bound",
        )])
        .sync_json();
    let compact = claims(&response)
        .into_iter()
        .find(|c| c["metadata"]["name"] == "data-example-thanos-compact-0")
        .unwrap();
    assert_eq!(size(compact), "20Gi");
    assert_eq!(degraded(&response).0, "False");
}

/// Every claim Metacontroller owns is in every answer, whatever else is wrong, and whatever claim it is.
#[test]
fn every_observed_claim_is_answered_whatever_else_is_wrong() {
    let others = [
        "data-example-thanos-store-0",
        "data-example-thanos-compact-0",
        // Scaled down, or of a StatefulSet the hook no longer renders, or named like nothing it makes.
        "data-example-prometheus-7",
        "data-example-gone-0",
        "scratch",
    ];
    let with_others =
        |request: Request| request.observe(others.map(|name| claim(name, "10Gi", "fast", "Bound")));
    let base = || {
        running(
            json!({"prometheus": {"size": "10Gi"}}),
            "10Gi",
            "fast",
            "Bound",
        )
    };
    let first = Request::example().sync_json();
    let cases: Vec<(&str, Request)> = vec![
        ("healthy", with_others(base())),
        (
            "the bucket Secret missing",
            with_others(
                Request::example()
                    .customize()
                    .config_map("prometheus-config", &[("prometheus.yml", CONFIG)])
                    .observe(as_stored(&first, Rollout::Done))
                    .observe(PROMETHEUS_CLAIMS.map(|name| claim(name, "10Gi", "fast", "Bound"))),
            ),
        ),
        (
            "a ConfigMap Prometheus would refuse",
            with_others(
                Request::example()
                    .customize()
                    .config_map("prometheus-config", &[("prometheus.yml", "global: [")])
                    .secret("s3-bucket", &[("objstore.yml", OBJSTORE)])
                    .observe(as_stored(&first, Rollout::Done))
                    .observe(PROMETHEUS_CLAIMS.map(|name| claim(name, "10Gi", "fast", "Bound"))),
            ),
        ),
        (
            "a shrink",
            with_others(running(
                json!({"prometheus": {"size": "1Gi"}}),
                "10Gi",
                "fast",
                "Bound",
            )),
        ),
        (
            "the compactor disabled",
            with_others(base().spec("compact", json!({"enabled": false}))),
        ),
        (
            "no customize hook",
            with_others(
                Request::example()
                    .observe(as_stored(&first, Rollout::Done))
                    .observe(PROMETHEUS_CLAIMS.map(|name| claim(name, "10Gi", "fast", "Bound"))),
            ),
        ),
    ];
    for (case, request) in cases {
        let response = request.sync_json();
        let answered: Vec<&str> = claims(&response)
            .iter()
            .map(|c| c["metadata"]["name"].as_str().unwrap())
            .collect();
        let mut expected: Vec<&str> = PROMETHEUS_CLAIMS.iter().chain(&others).copied().collect();
        expected.sort_unstable();
        assert_eq!(answered, expected, "{case}");
        assert!(
            claims(&response).iter().all(|c| size(c) == "10Gi"),
            "{case}: {:#?}",
            claims(&response)
        );
    }
}

/// While the parent is deleted (Metacontroller's finalize hook, the same route with `finalizing: true`):
/// every claim is answered with no owner, so that the garbage collector keeps it once the parent is gone,
/// and the parent may go once no claim is a child any more. Nothing of the spec is read.
#[test]
fn the_finalize_hook_releases_every_claim_then_lets_the_parent_go() {
    let deleting = |request: Request| {
        let mut body = request.json();
        body["finalizing"] = json!(true);
        body["parent"]["metadata"]["deletionTimestamp"] = json!("2026-12-03T10:00:00Z");
        body["parent"]["status"] = json!({"phase": "Running"});
        let answer = prometheus_replica_operator::sync_json(body.to_string().as_bytes())
            .expect("the finalize hook answers");
        serde_json::from_slice::<Value>(&answer).unwrap()
    };
    let with_claims = running(
        json!({"prometheus": {"size": "20Gi"}}),
        "10Gi",
        "fast",
        "Bound",
    )
    // Even a spec the sync would refuse cannot hold the deletion up.
    .spec("replicas", json!({"prometheus": 99}));
    let answer = deleting(with_claims);
    assert_eq!(answer["finalized"], false);
    assert_eq!(
        answer["children"],
        json!(PROMETHEUS_CLAIMS.map(|name| json!({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": "default", "ownerReferences": []},
            // The size stays: Metacontroller's merge would drop a spec the answer leaves out.
            "spec": {"resources": {"requests": {"storage": "10Gi"}}},
        })))
    );
    // The stored status, unchanged: no write while deleting.
    assert_eq!(answer["status"], json!({"phase": "Running"}));

    let answer = deleting(Request::example());
    assert_eq!(answer["finalized"], true);
    assert_eq!(answer["children"], json!([]));
    // The sync hook never says `finalized`.
    let answer = Request::example().sync_json();
    assert!(answer.get("finalized").is_none());
}

/// Metacontroller's merge removes a list item only if its last answer had it: the sync answers the owner
/// reference as adopted, so the finalize hook's empty list really removes it from the stored claim.
#[test]
fn the_release_merged_over_an_adopted_claim_removes_its_owner_and_nothing_else() {
    let request = running(
        json!({"prometheus": {"size": "10Gi"}}),
        "10Gi",
        "fast",
        "Bound",
    );
    let synced = request.sync_json();
    let answered = claims(&synced)[0].clone();
    let stored = common::apply::apply_update(
        &claim(PROMETHEUS_CLAIMS[0], "10Gi", "fast", "Bound"),
        &answered,
    );
    assert_eq!(
        stored["metadata"]["ownerReferences"][0]["uid"], UID,
        "adopted, and the sync keeps it so"
    );
    let mut body = request.json();
    body["finalizing"] = json!(true);
    let released: Value = serde_json::from_slice(
        &prometheus_replica_operator::sync_json(body.to_string().as_bytes()).unwrap(),
    )
    .unwrap();
    let after = common::apply::apply_update(&stored, &released["children"][0]);
    assert_eq!(after["metadata"]["ownerReferences"], json!([]));
    assert_eq!(after["spec"], stored["spec"], "the spec stays as stored");
    assert_eq!(after["metadata"]["labels"], stored["metadata"]["labels"]);
}
