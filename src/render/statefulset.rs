//! StatefulSets: Prometheus with its sidecar, the store gateway, the compactor.
//!
//! A StatefulSet's `selector`, `serviceName` and `volumeClaimTemplates` cannot change. When the StatefulSet is
//! observed, [`keep_immutable`] keeps those fields as observed and reports the pending change as a warning,
//! instead of sending an update the API server would reject on every retry.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec,
};
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimSpec, PersistentVolumeClaimStatus,
    VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

use super::claims::CONTROLLER_UID;
use super::meta;
use super::{Sources, pod};
use crate::names::{self, Component, Names, Shard};
use crate::spec::{self, Stack};
use crate::{Error, Result};

/// `<name>-prometheus`: Prometheus and the Thanos sidecar, one pod per replica. `observed_spec` is the running
/// StatefulSet's: its claims' size decides the default size limit of the TSDB.
pub fn prometheus(stack: &Stack, sources: &Sources, observed_spec: Option<&Value>) -> StatefulSet {
    let names = Names::new(stack);
    tracing::debug!(
        "StatefulSet: Translating HighlyAvailable to {} replica(s)",
        stack.prometheus_replicas
    );
    tracing::debug!(
        "StatefulSet: Setting overall metrics retention to {}",
        stack.retention
    );
    tracing::debug!(
        "StatefulSet: Setting duration until upload to storage bucket to {}",
        stack.block_duration
    );
    tracing::debug!(
        "StatefulSet: Using Prometheus config from ConfigMap {}",
        sources.config_map
    );
    tracing::debug!(
        "StatefulSet: Using bucket parameters from Secret {}",
        stack.bucket_secret
    );
    // The claims have the size of the template they were made with, which a running StatefulSet keeps (see
    // keep_immutable), not the size the spec asks for now.
    let claims =
        observed_size(observed_spec).unwrap_or_else(|| stack.storage.prometheus.size.clone());
    let retention_size = pod::retention_size(stack, &claims);
    let containers = vec![
        pod::prometheus(stack, sources, retention_size.as_deref()),
        pod::sidecar(stack, sources),
    ];
    let template = pod::template(
        stack,
        sources,
        Component::Prometheus,
        containers,
        pod::prometheus_volumes(sources),
    );
    statefulset(
        stack,
        Component::Prometheus,
        names.peers(),
        template,
        &volume(&stack.storage.prometheus, observed_spec),
    )
}

/// `<name>-thanos-store`: the store gateway; with a `shard`, `<name>-thanos-store-<index>`, whose pods serve
/// the shard's blocks and carry its index in [`names::SHARD_LABEL`]. Every shard is governed by the one headless
/// `<name>-thanos-store` Service, whose DNS records list the pods of every shard.
pub fn store(
    stack: &Stack,
    sources: &Sources,
    shard: Option<Shard>,
    observed_spec: Option<&Value>,
) -> StatefulSet {
    let names = Names::new(stack);
    tracing::debug!(
        "StatefulSet: Using bucket parameters from Secret {} for the store gateway",
        stack.bucket_secret
    );
    let template = pod::template(
        stack,
        sources,
        Component::Store,
        vec![pod::store(stack, sources, shard)],
        pod::objstore_volume(sources).into_iter().collect(),
    );
    let mut set = statefulset(
        stack,
        Component::Store,
        names.workload(Component::Store),
        template,
        &volume(&stack.storage.store, observed_spec),
    );
    if let Some(shard) = shard {
        label_shard(&mut set, names.store(Some(shard.index)), shard);
    }
    set
}

/// Name a store gateway StatefulSet for its shard, and add the shard's label to its labels, its selector, its
/// pods' labels and every selector of its pods (anti-affinity, zone spread), so that each shard spreads its own
/// replicas; the pods also carry the shard count ([`names::SHARDS_ANNOTATION`]).
fn label_shard(set: &mut StatefulSet, name: String, shard: Shard) {
    let label = || (names::SHARD_LABEL.to_string(), shard.index.to_string());
    let add = |labels: &mut Option<BTreeMap<String, String>>| {
        labels.get_or_insert_with(BTreeMap::new).extend([label()]);
    };
    set.metadata.name = Some(name);
    add(&mut set.metadata.labels);
    let Some(spec) = set.spec.as_mut() else {
        return;
    };
    add(&mut spec.selector.match_labels);
    let template = spec.template.metadata.get_or_insert_with(Default::default);
    add(&mut template.labels);
    template
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(names::SHARDS_ANNOTATION.into(), shard.of.to_string());
    let Some(pod) = spec.template.spec.as_mut() else {
        return;
    };
    if let Some(anti) = pod
        .affinity
        .as_mut()
        .and_then(|a| a.pod_anti_affinity.as_mut())
    {
        let required = anti
            .required_during_scheduling_ignored_during_execution
            .iter_mut()
            .flatten();
        let preferred = anti
            .preferred_during_scheduling_ignored_during_execution
            .iter_mut()
            .flatten()
            .map(|w| &mut w.pod_affinity_term);
        for term in required.chain(preferred) {
            if let Some(selector) = term.label_selector.as_mut() {
                add(&mut selector.match_labels);
            }
        }
    }
    for spread in pod.topology_spread_constraints.iter_mut().flatten() {
        if let Some(selector) = spread.label_selector.as_mut() {
            add(&mut selector.match_labels);
        }
    }
}

/// Keep a StatefulSet that is being replaced as it is observed: its replicas, selector, serviceName, pod
/// template and claim templates, so that it keeps serving unchanged (and no pending change is reported for it)
/// until its replacement is ready and it is left out.
pub fn freeze(desired: &mut StatefulSet, observed_spec: Option<&Value>) -> Result<()> {
    let (Some(observed_spec), Some(spec)) = (observed_spec, desired.spec.as_mut()) else {
        return Ok(());
    };
    let name = desired.metadata.name.clone().unwrap_or_default();
    let kind = "StatefulSet";
    keep_observed(observed_spec, "replicas", kind, &name, &mut spec.replicas)?;
    keep_observed(observed_spec, "selector", kind, &name, &mut spec.selector)?;
    keep_observed(
        observed_spec,
        "serviceName",
        kind,
        &name,
        &mut spec.service_name,
    )?;
    keep_observed(observed_spec, "template", kind, &name, &mut spec.template)?;
    if let Some(templates) = observed_spec
        .get("volumeClaimTemplates")
        .filter(|v| !v.is_null())
    {
        let mut kept = templates.clone();
        drop_nulls(&mut kept);
        spec.volume_claim_templates = serde_json::from_value(kept).map_err(|e| {
            Error::BadRequest(format!(
                "children: StatefulSet {name}: spec.volumeClaimTemplates: {e}"
            ))
        })?;
    }
    Ok(())
}

/// `<name>-thanos-compact`: always exactly one replica, because two compactors corrupt a bucket.
pub fn compact(
    stack: &Stack,
    sources: &Sources,
    compact: &spec::Compact,
    observed_spec: Option<&Value>,
) -> StatefulSet {
    let names = Names::new(stack);
    tracing::debug!(
        "StatefulSet: Using bucket parameters from Secret {} for the compactor",
        stack.bucket_secret
    );
    let template = pod::template(
        stack,
        sources,
        Component::Compact,
        vec![pod::compact(stack, sources, compact)],
        pod::objstore_volume(sources).into_iter().collect(),
    );
    statefulset(
        stack,
        Component::Compact,
        names.workload(Component::Compact),
        template,
        &volume(&stack.storage.compact, observed_spec),
    )
}

/// The storage request of the observed StatefulSet's data claim template: the size its claims were made with.
pub fn observed_size(observed_spec: Option<&Value>) -> Option<Quantity> {
    observed_spec?
        .get("volumeClaimTemplates")?
        .as_array()?
        .iter()
        .find(|t| t.pointer("/metadata/name").and_then(Value::as_str) == Some(pod::DATA_VOLUME))?
        .pointer("/spec/resources/requests/storage")?
        .as_str()
        .filter(|size| crate::spec::quantity_value(size).is_some())
        .map(|size| Quantity(size.into()))
}

/// The volume of a claim template: the spec's, except that a default size gives way to the observed one. A
/// release that changes a default size (the compactor's, 20Gi before, now 100Gi per `compact.concurrency`)
/// then changes only new StatefulSets: a claim template cannot change in place, and a pending change would
/// leave every running stack `Degraded` for a size it never asked for. An explicit `size` is compared as usual
/// (see [`keep_immutable`]).
fn volume(volume: &spec::Volume, observed_spec: Option<&Value>) -> spec::Volume {
    match observed_size(observed_spec) {
        Some(size) if volume.size_defaulted => spec::Volume {
            size,
            ..volume.clone()
        },
        _ => volume.clone(),
    }
}

fn statefulset(
    stack: &Stack,
    component: Component,
    service_name: String,
    template: k8s_openapi::api::core::v1::PodTemplateSpec,
    volume: &spec::Volume,
) -> StatefulSet {
    let name = Names::new(stack).workload(component);
    StatefulSet {
        metadata: meta::metadata(stack, component, name),
        spec: Some(StatefulSetSpec {
            replicas: Some(names::replicas(stack, component)),
            selector: meta::selector(stack, component),
            service_name: Some(service_name),
            // Replicas are independent: start and replace them together.
            pod_management_policy: Some("Parallel".into()),
            persistent_volume_claim_retention_policy: Some(
                StatefulSetPersistentVolumeClaimRetentionPolicy {
                    when_deleted: Some("Retain".into()),
                    when_scaled: Some("Retain".into()),
                },
            ),
            template,
            volume_claim_templates: Some(vec![claim_template(stack, volume)]),
            ..Default::default()
        }),
        status: None,
    }
}

/// A claim template exactly as the API server stores it, `volumeMode: Filesystem` and `status.phase: Pending`
/// included: the answer is then the same before and after the StatefulSet is observed (where
/// [`keep_immutable`] sends the stored templates back), so creating it is the only write (issue 19).
///
/// It carries the parent's `controller-uid`, so that the claims made from it are children that can grow
/// (see [`super::claims`]).
fn claim_template(stack: &Stack, volume: &spec::Volume) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(pod::DATA_VOLUME.into()),
            labels: stack
                .uid
                .as_ref()
                .map(|uid| BTreeMap::from([(CONTROLLER_UID.into(), uid.clone())])),
            ..Default::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: volume.storage_class_name.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([("storage".into(), volume.size.clone())])),
                ..Default::default()
            }),
            volume_mode: Some(FILESYSTEM.into()),
            ..Default::default()
        }),
        status: Some(PersistentVolumeClaimStatus {
            phase: Some(PENDING.into()),
            ..Default::default()
        }),
    }
}

/// What the API server defaults a claim template's `spec.volumeMode` and `status.phase` to.
const FILESYSTEM: &str = "Filesystem";
const PENDING: &str = "Pending";

mod immutable;

use immutable::drop_nulls;
pub(super) use immutable::keep_observed;
pub use immutable::{keep_immutable, keep_template};

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::render::testing::{sources, stack};

    fn observed_spec(desired: &StatefulSet) -> Value {
        let mut spec = serde_json::to_value(desired.spec.as_ref().unwrap()).unwrap();
        // What the API server adds to a stored claim template (the defaults, where none is set).
        let template = &mut spec["volumeClaimTemplates"][0];
        template["metadata"]["creationTimestamp"] = Value::Null;
        template["spec"]
            .as_object_mut()
            .unwrap()
            .entry("volumeMode")
            .or_insert(json!("Filesystem"));
        template
            .as_object_mut()
            .unwrap()
            .entry("status")
            .or_insert(json!({"phase": "Pending"}));
        spec
    }

    /// The claim templates an update would send, as JSON.
    fn sent_templates(set: &StatefulSet) -> Value {
        serde_json::to_value(&set.spec.as_ref().unwrap().volume_claim_templates).unwrap()
    }

    /// The observed claim templates without their nulls: exactly what must go back.
    fn stored_templates(observed: &Value) -> Value {
        let mut stored = observed["volumeClaimTemplates"].clone();
        drop_nulls(&mut stored);
        stored
    }

    #[test]
    fn what_the_api_server_adds_is_no_difference_and_goes_back_as_stored() {
        let desired = prometheus(&stack(json!({})), &sources(), None);
        let observed = observed_spec(&desired);
        let mut again = desired.clone();
        let mut warnings = Vec::new();
        keep_immutable(&mut again, Some(&observed), &mut warnings).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(sent_templates(&again), stored_templates(&observed));
        assert_eq!(
            again.spec.as_ref().unwrap().template,
            desired.spec.unwrap().template
        );
    }

    #[test]
    fn claim_templates_render_as_the_api_server_stores_them_so_observing_changes_no_answer() {
        let stack = stack(json!({"storage": {"store": {"storageClassName": "fast"}}}));
        for first in [
            prometheus(&stack, &sources(), None),
            store(&stack, &sources(), None, None),
            compact(&stack, &sources(), stack.compact.as_ref().unwrap(), None),
        ] {
            let template = &sent_templates(&first)[0];
            assert_eq!(template["spec"]["volumeMode"], "Filesystem");
            assert_eq!(template["status"], json!({"phase": "Pending"}));
            let mut again = first.clone();
            let mut warnings = Vec::new();
            keep_immutable(&mut again, Some(&observed_spec(&first)), &mut warnings).unwrap();
            assert!(warnings.is_empty(), "{warnings:?}");
            assert_eq!(
                serde_json::to_value(&again).unwrap(),
                serde_json::to_value(&first).unwrap(),
                "{:?}: the answer once observed is the answer that created it",
                first.metadata.name
            );
        }
    }

    #[test]
    fn a_size_the_api_server_stored_in_another_spelling_is_no_change() {
        let desired = prometheus(
            &stack(json!({"storage": {"prometheus": {"size": "1024Mi"}}})),
            &sources(),
            None,
        );
        let mut observed = observed_spec(&desired);
        observed["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] =
            json!("1Gi");
        let mut again = desired.clone();
        let mut warnings = Vec::new();
        let pending = keep_immutable(&mut again, Some(&observed), &mut warnings).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(!pending, "nothing waits");
        assert_eq!(sent_templates(&again), stored_templates(&observed));
    }

    #[test]
    fn changed_immutable_fields_are_kept_as_observed_and_reported() {
        let before = prometheus(&stack(json!({})), &sources(), None);
        let mut observed = observed_spec(&before);
        observed["serviceName"] = json!("old-peers");
        observed["selector"] = json!({"matchLabels": {"app": "prometheus"}});
        let mut desired = prometheus(
            &stack(json!({"storage": {"prometheus": {"size": "50Gi"}}})),
            &sources(),
            None,
        );
        let mut warnings = Vec::new();
        let pending = keep_immutable(&mut desired, Some(&observed), &mut warnings).unwrap();
        assert!(
            pending,
            "the changes wait for the StatefulSet to be recreated"
        );
        let spec = desired.spec.unwrap();
        assert_eq!(spec.service_name.as_deref(), Some("old-peers"));
        assert_eq!(spec.selector.match_labels.unwrap()["app"], "prometheus");
        let template = &spec.volume_claim_templates.unwrap()[0];
        let size = &template
            .spec
            .as_ref()
            .unwrap()
            .resources
            .as_ref()
            .unwrap()
            .requests
            .as_ref()
            .unwrap()["storage"];
        assert_eq!(size.0, "10Gi");
        assert_eq!(
            template.status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Pending"),
            "the observed templates go back as stored, status included"
        );
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(
            warnings[2].contains("spec.volumeClaimTemplates cannot change"),
            "{}",
            warnings[2]
        );
    }

    #[test]
    fn the_compactor_has_one_replica_and_every_statefulset_retains_its_volumes() {
        let stack = stack(json!({"highlyAvailable": true}));
        let compact = compact(&stack, &sources(), stack.compact.as_ref().unwrap(), None);
        assert_eq!(compact.spec.as_ref().unwrap().replicas, Some(1));
        for set in [
            prometheus(&stack, &sources(), None),
            store(&stack, &sources(), None, None),
            compact,
        ] {
            let policy = set
                .spec
                .unwrap()
                .persistent_volume_claim_retention_policy
                .unwrap();
            assert_eq!(policy.when_deleted.as_deref(), Some("Retain"));
            assert_eq!(policy.when_scaled.as_deref(), Some("Retain"));
        }
    }

    fn claim_size(set: &StatefulSet) -> String {
        set.spec
            .as_ref()
            .unwrap()
            .volume_claim_templates
            .as_ref()
            .unwrap()[0]
            .spec
            .as_ref()
            .unwrap()
            .resources
            .as_ref()
            .unwrap()
            .requests
            .as_ref()
            .unwrap()["storage"]
            .0
            .clone()
    }

    fn args(set: &StatefulSet) -> Vec<String> {
        set.spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .containers[0]
            .args
            .clone()
            .unwrap()
    }

    #[test]
    fn a_new_compactor_gets_100gi_per_concurrency_and_a_running_one_keeps_its_claims_without_warning()
     {
        let stack = stack(json!({}));
        let compact_spec = stack.compact.as_ref().unwrap();
        let new = compact(&stack, &sources(), compact_spec, None);
        assert_eq!(claim_size(&new), "100Gi");
        let wide = self::stack(json!({"compact": {"concurrency": 2}}));
        assert_eq!(
            claim_size(&compact(
                &wide,
                &sources(),
                wide.compact.as_ref().unwrap(),
                None
            )),
            "200Gi"
        );

        // A compactor made by an earlier release, with the former default of 20Gi.
        let mut observed = observed_spec(&new);
        observed["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] =
            json!("20Gi");
        let mut desired = compact(&stack, &sources(), compact_spec, Some(&observed));
        assert_eq!(claim_size(&desired), "20Gi");
        let mut warnings = Vec::new();
        keep_immutable(&mut desired, Some(&observed), &mut warnings).unwrap();
        assert!(
            warnings.is_empty(),
            "a moved default is no pending change: {warnings:?}"
        );
        assert_eq!(claim_size(&desired), "20Gi");

        // A size the spec names is compared as before: pending, and said.
        let explicit = self::stack(json!({"storage": {"compact": {"size": "100Gi"}}}));
        let mut desired = compact(
            &explicit,
            &sources(),
            explicit.compact.as_ref().unwrap(),
            Some(&observed),
        );
        assert_eq!(claim_size(&desired), "100Gi");
        keep_immutable(&mut desired, Some(&observed), &mut warnings).unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("volumeClaimTemplates"), "{warnings:?}");
    }

    #[test]
    fn the_tsdb_size_limit_follows_the_claims_prometheus_has() {
        let flag = |set: &StatefulSet| {
            args(set).into_iter().find_map(|a| {
                a.strip_prefix("--storage.tsdb.retention.size=")
                    .map(String::from)
            })
        };
        // 80% of the default 10Gi.
        let new = prometheus(&stack(json!({})), &sources(), None);
        assert_eq!(flag(&new).as_deref(), Some("8192MB"));
        // A larger size in the spec while the running claims keep theirs: the claims decide.
        let grown = stack(json!({"storage": {"prometheus": {"size": "100Gi"}}}));
        let observed = observed_spec(&new);
        assert_eq!(
            flag(&prometheus(&grown, &sources(), Some(&observed))).as_deref(),
            Some("8192MB")
        );
        assert_eq!(
            flag(&prometheus(&grown, &sources(), None)).as_deref(),
            Some("81920MB")
        );
        // The spec's own limit wins; a zero turns it off.
        let explicit = stack(json!({"metrics": {"retentionSize": "5GB"}}));
        assert_eq!(
            flag(&prometheus(&explicit, &sources(), Some(&observed))).as_deref(),
            Some("5GB")
        );
        let off = stack(json!({"metrics": {"retentionSize": "0GB"}}));
        assert_eq!(flag(&prometheus(&off, &sources(), None)), None);
    }
}
