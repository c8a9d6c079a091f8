//! The parts of [`Stack::new`](super::Stack), one per group of spec fields: each checks its fields, applies
//! their defaults and adds its warnings, in the order the whole was checked before it was split.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;

use super::check::{
    HOUR_MS, check_dns_subdomain, check_duration, check_label_name, check_object_name, image_or,
    resources_or, volume,
};
use super::version::{self, Version};
use super::{
    Compact, DEFAULT_BLOCK_DURATION, DEFAULT_REPLICA_LABEL, GRAFANA_IMAGE, Grafana,
    INGRESS_SHIM_ANNOTATIONS, Ingress, Memcached, OLDEST_PROMETHEUS, OLDEST_THANOS,
    PROMETHEUS_IMAGE, Pod, QueryFrontend, Resources, Storage, THANOS_IMAGE, byte_size,
    default_version, quantity_bytes, scale,
};
use crate::api::{self, PrometheusReplicaSpec};
use crate::{Error, Result};

/// `spec.configMap`, or the deprecated `spec.config`; never the name of the configuration derived from it.
pub(super) fn config_map(
    name: &str,
    spec: &PrometheusReplicaSpec,
    warnings: &mut Vec<String>,
) -> Result<String> {
    let config_map = match (&spec.config_map, &spec.config) {
        (Some(config_map), _) => {
            if spec.config.is_some() {
                warnings.push(
                    "spec.config is deprecated and ignored because spec.configMap is set".into(),
                );
            }
            config_map.clone()
        }
        (None, Some(config)) => {
            warnings.push("spec.config is deprecated: rename it to spec.configMap".into());
            config.clone()
        }
        (None, None) => return Err(Error::invalid("spec.configMap", "is required")),
    };
    let config_map_field = if spec.config_map.is_some() {
        "spec.configMap"
    } else {
        "spec.config"
    };
    check_object_name(config_map_field, &config_map)?;
    if config_map == format!("{name}{}", api::DERIVED_CONFIG_SUFFIX) {
        return Err(Error::invalid(
            config_map_field,
            format!(
                "{config_map:?} is the name of the configuration the operator derives from it, which would \
                 overwrite it: rename the ConfigMap"
            ),
        ));
    }
    Ok(config_map)
}

/// `spec.highlyAvailable`, or the 2018 `spec.HighlyAvailable`.
pub(super) fn highly_available(spec: &PrometheusReplicaSpec, warnings: &mut Vec<String>) -> bool {
    match (spec.highly_available, spec.highly_available_2018) {
        (Some(ha), legacy) => {
            if legacy.is_some() {
                warnings.push(
                    "spec.HighlyAvailable is deprecated and ignored because spec.highlyAvailable is set"
                        .into(),
                );
            }
            ha
        }
        (None, Some(ha)) => {
            warnings.push(
                "spec.HighlyAvailable is deprecated: rename it to spec.highlyAvailable".into(),
            );
            ha
        }
        (None, None) => false,
    }
}

/// `spec.metrics.retention` and `spec.metrics.blockDuration`.
pub(super) fn metrics(
    spec: &PrometheusReplicaSpec,
    warnings: &mut Vec<String>,
) -> Result<(String, String)> {
    let metrics = spec.metrics.clone().unwrap_or_default();
    let retention = metrics.retention.unwrap_or_else(|| "24h".into());
    let retention_ms = check_duration("spec.metrics.retention", &retention)?;
    if retention_ms == 0 {
        return Err(Error::invalid(
            "spec.metrics.retention",
            "must be longer than 0",
        ));
    }
    let block_duration = metrics
        .block_duration
        .unwrap_or_else(|| DEFAULT_BLOCK_DURATION.into());
    let block_ms = check_duration("spec.metrics.blockDuration", &block_duration)?;
    if block_ms == 0 {
        return Err(Error::invalid(
            "spec.metrics.blockDuration",
            "must be longer than 0",
        ));
    }
    if block_duration != DEFAULT_BLOCK_DURATION {
        warnings.push(format!(
            "spec.metrics.blockDuration is {block_duration}: Thanos expects {DEFAULT_BLOCK_DURATION}; \
             shorter blocks flood the bucket with small blocks"
        ));
    }
    if retention_ms < 3 * block_ms {
        warnings.push(format!(
            "spec.metrics.retention {retention} is shorter than 3 times spec.metrics.blockDuration \
             {block_duration}: blocks may be deleted locally before they are uploaded"
        ));
    }
    Ok((retention, block_duration))
}

/// The Prometheus and the Thanos image of `spec.images`, each with the version its tag names.
pub(super) fn images(
    spec: &PrometheusReplicaSpec,
    warnings: &mut Vec<String>,
) -> Result<[(String, Version); 2]> {
    let images = spec.images.clone().unwrap_or_default();
    let prometheus = image(
        images.prometheus,
        PROMETHEUS_IMAGE,
        &version::Supported {
            program: "Prometheus",
            field: "spec.images.prometheus",
            oldest: OLDEST_PROMETHEUS,
            newest_major: version::NEWEST_PROMETHEUS_MAJOR,
            default: default_version(PROMETHEUS_IMAGE),
        },
        warnings,
    )?;
    let thanos = image(
        images.thanos,
        THANOS_IMAGE,
        &version::Supported {
            program: "Thanos",
            field: "spec.images.thanos",
            oldest: OLDEST_THANOS,
            newest_major: version::NEWEST_THANOS_MAJOR,
            default: default_version(THANOS_IMAGE),
        },
        warnings,
    )?;
    Ok([prometheus, thanos])
}

/// An image of `spec.images` (`default` when unset) and the version its tag names, checked as `supported`
/// says.
fn image(
    given: Option<String>,
    default: &str,
    supported: &version::Supported,
    warnings: &mut Vec<String>,
) -> Result<(String, Version)> {
    let image = image_or(supported.field, given, default)?;
    let version = supported.check(&image, warnings)?;
    Ok((image, version))
}

/// `spec.replicaLabel` (and whether it is defaulted) and `spec.externalLabels`, without the two the operator
/// owns.
pub(super) fn labels(
    spec: &PrometheusReplicaSpec,
    warnings: &mut Vec<String>,
) -> Result<(String, bool, BTreeMap<String, String>)> {
    let replica_label_defaulted = spec.replica_label.is_none();
    let replica_label = spec
        .replica_label
        .clone()
        .unwrap_or_else(|| DEFAULT_REPLICA_LABEL.into());
    check_label_name("spec.replicaLabel", &replica_label)?;
    if replica_label == "prometheus" {
        return Err(Error::invalid(
            "spec.replicaLabel",
            "\"prometheus\" is taken by the label naming the PrometheusReplica; choose another",
        ));
    }
    let mut external_labels = BTreeMap::new();
    for (key, value) in spec.external_labels.iter().flatten() {
        check_label_name(&format!("spec.externalLabels.{key}"), key)?;
        if key == "prometheus" || *key == replica_label {
            warnings.push(format!(
                "spec.externalLabels.{key} is ignored: the operator sets this label to tell replicas apart"
            ));
            continue;
        }
        external_labels.insert(key.clone(), value.clone());
    }
    Ok((replica_label, replica_label_defaulted, external_labels))
}

/// `spec.baseDomain`: a DNS name short enough for the longest host of the parent `name`.
pub(super) fn check_base_domain(name: &str, spec: &PrometheusReplicaSpec) -> Result<()> {
    if let Some(domain) = &spec.base_domain {
        check_dns_subdomain("spec.baseDomain", domain)?;
        let host = format!("{name}-prometheus.{domain}");
        if host.len() > 253 {
            return Err(Error::invalid(
                "spec.baseDomain",
                format!("is too long: the host {host:?} exceeds 253 characters"),
            ));
        }
    }
    Ok(())
}

/// `spec.storage`, and whether `spec.metrics.retentionSize` fits the Prometheus volume.
pub(super) fn storage(
    spec: &PrometheusReplicaSpec,
    compact_concurrency: i32,
    retention_size: Option<&str>,
    warnings: &mut Vec<String>,
) -> Result<Storage> {
    let storage = spec.storage.clone().unwrap_or_default();
    let storage = Storage {
        prometheus: volume("spec.storage.prometheus", storage.prometheus, "10Gi")?,
        store: volume("spec.storage.store", storage.store, "10Gi")?,
        compact: volume(
            "spec.storage.compact",
            storage.compact,
            &scale::compact_volume_size(compact_concurrency),
        )?,
    };
    if let Some(size) = retention_size.and_then(byte_size)
        && !storage.prometheus.size_defaulted
        && quantity_bytes(&storage.prometheus.size).is_some_and(|volume| size >= volume)
    {
        warnings.push(format!(
            "spec.metrics.retentionSize is not below spec.storage.prometheus.size ({}): the volume fills \
             before the oldest blocks are deleted, and a full volume stops Prometheus",
            storage.prometheus.size.0
        ));
    }
    Ok(storage)
}

/// `spec.resources`, each container's defaulted; the query frontend's above its in-memory cache.
pub(super) fn resources(
    spec: &PrometheusReplicaSpec,
    compact_concurrency: i32,
    query_frontend: Option<&QueryFrontend>,
    memcached: Option<&Memcached>,
    warnings: &mut Vec<String>,
) -> Result<Resources> {
    let frontend_cache_bytes = query_frontend
        .filter(|_| memcached.is_none())
        .map(|f| f.cache_bytes);
    let resources = spec.resources.clone().unwrap_or_default();
    Ok(Resources {
        prometheus: resources_or(
            "spec.resources.prometheus",
            resources.prometheus,
            "200m",
            "1Gi",
        )?,
        sidecar: resources_or("spec.resources.sidecar", resources.sidecar, "50m", "128Mi")?,
        store: resources_or("spec.resources.store", resources.store, "100m", "512Mi")?,
        query: resources_or("spec.resources.query", resources.query, "100m", "256Mi")?,
        compact: scale::compact_resources(resources.compact, compact_concurrency)?,
        query_frontend: scale::frontend_resources(
            resources.query_frontend,
            frontend_cache_bytes,
            warnings,
        )?,
        grafana: resources_or("spec.resources.grafana", resources.grafana, "50m", "128Mi")?,
        memcached: match memcached {
            Some(memcached) => scale::memcached_resources(resources.memcached, memcached)?,
            None => ResourceRequirements::default(),
        },
    })
}

/// `spec.grafana`, when enabled, with `spec.images.grafana`.
pub(super) fn grafana(spec: &PrometheusReplicaSpec) -> Result<Option<Grafana>> {
    let grafana_spec = spec.grafana.clone().unwrap_or_default();
    if !grafana_spec.enabled.unwrap_or(false) {
        return Ok(None);
    }
    let admin_secret = grafana_spec.admin_secret.ok_or_else(|| {
        Error::invalid(
            "spec.grafana.adminSecret",
            "is required when spec.grafana.enabled is true: name a Secret with the keys admin-user and \
             admin-password",
        )
    })?;
    check_object_name("spec.grafana.adminSecret", &admin_secret)?;
    let given = spec.images.as_ref().and_then(|i| i.grafana.clone());
    let image = image_or("spec.images.grafana", given, GRAFANA_IMAGE)?;
    Ok(Some(Grafana {
        image,
        admin_secret,
    }))
}

/// `spec.compact`, unless disabled: its retention per resolution, checked as Thanos checks it.
pub(super) fn compact(
    spec: &PrometheusReplicaSpec,
    prometheus_replicas: i32,
    concurrency: i32,
    warnings: &mut Vec<String>,
) -> Result<Option<Compact>> {
    let compact_spec = spec.compact.clone().unwrap_or_default();
    if !compact_spec.enabled.unwrap_or(true) {
        warnings.push(
            "spec.compact.enabled is false: nothing downsamples the bucket or applies its retention"
                .into(),
        );
        return Ok(None);
    }
    let retention = compact_spec.retention.unwrap_or_default();
    let raw = retention.raw.unwrap_or_else(|| "30d".into());
    let five = retention.five_minutes.unwrap_or_else(|| "90d".into());
    let hour = retention.one_hour.unwrap_or_else(|| "1y".into());
    // Thanos refuses to start when a resolution is deleted before the next one is made from it
    // (cmd/thanos/compact.go: 40h for raw data, 10d for 5m data); 0 keeps the resolution forever.
    let raw_ms = check_duration("spec.compact.retention.raw", &raw)?;
    if raw_ms != 0 && raw_ms < 40 * HOUR_MS {
        return Err(Error::invalid(
            "spec.compact.retention.raw",
            format!(
                "{raw:?} must be 0d (forever) or at least 40h: Thanos downsamples raw data at 40h"
            ),
        ));
    }
    let five_ms = check_duration("spec.compact.retention.fiveMinutes", &five)?;
    if five_ms != 0 && five_ms < 10 * 24 * HOUR_MS {
        return Err(Error::invalid(
            "spec.compact.retention.fiveMinutes",
            format!(
                "{five:?} must be 0d (forever) or at least 10d: Thanos downsamples 5m data at 10d"
            ),
        ));
    }
    check_duration("spec.compact.retention.oneHour", &hour)?;
    let deduplication = compact_spec.deduplication.unwrap_or(false);
    if deduplication && prometheus_replicas == 1 {
        warnings.push(
            "spec.compact.deduplication is true with one Prometheus replica: there are no replica \
             blocks to merge"
                .into(),
        );
    }
    Ok(Some(Compact {
        retention_raw: raw,
        retention_5m: five,
        retention_1h: hour,
        concurrency,
        deduplication,
    }))
}

/// `spec.ingress`; `grafana` says whether Grafana has a host too.
pub(super) fn ingress(
    spec: &PrometheusReplicaSpec,
    grafana: bool,
    warnings: &mut Vec<String>,
) -> Result<Ingress> {
    let ingress = spec.ingress.clone().unwrap_or_default();
    if let Some(class) = &ingress.class_name {
        check_object_name("spec.ingress.className", class)?;
    }
    if let Some(secret) = &ingress.tls_secret_name {
        check_object_name("spec.ingress.tlsSecretName", secret)?;
    }
    let tls_per_host = ingress.tls_per_host.unwrap_or(false);
    if tls_per_host && ingress.tls_secret_name.is_some() {
        return Err(Error::invalid(
            "spec.ingress.tlsPerHost",
            "true gives each host its own Secret; remove spec.ingress.tlsSecretName, or set tlsPerHost to false",
        ));
    }
    let ingress = Ingress {
        class_name: ingress.class_name,
        tls_secret_name: ingress.tls_secret_name,
        tls_per_host,
        expose_prometheus: ingress.expose_prometheus.unwrap_or(false),
        annotations: ingress.annotations.unwrap_or_default(),
    };
    // cert-manager issue 2585: ingress-shim makes one Certificate per Secret, owned by one Ingress, and
    // refuses the others, so every host but one would serve a certificate for another name.
    let hosts = 1 + usize::from(ingress.expose_prometheus) + usize::from(grafana);
    if let Some(secret) = &ingress.tls_secret_name
        && spec.base_domain.is_some()
        && hosts > 1
        && let Some(shim) = INGRESS_SHIM_ANNOTATIONS
            .iter()
            .find(|a| ingress.annotations.contains_key(**a))
    {
        warnings.push(format!(
            "spec.ingress.tlsSecretName {secret:?} is shared by {hosts} Ingresses, and cert-manager's \
             ingress-shim ({shim}) fills it for one of them only: set spec.ingress.tlsPerHost to true instead"
        ));
    }
    Ok(ingress)
}

/// `spec.pod`: the scheduling of every pod.
pub(super) fn pod(spec: &PrometheusReplicaSpec) -> Result<Pod> {
    let pod = spec.pod.clone().unwrap_or_default();
    if let Some(class) = &pod.priority_class_name {
        check_object_name("spec.pod.priorityClassName", class)?;
    }
    if let Some(account) = &pod.service_account_name {
        check_object_name("spec.pod.serviceAccountName", account)?;
    }
    Ok(Pod {
        node_selector: pod.node_selector.unwrap_or_default(),
        tolerations: pod.tolerations.unwrap_or_default(),
        priority_class_name: pod.priority_class_name,
        anti_affinity: pod.anti_affinity.unwrap_or_default(),
        topology_spread: pod.topology_spread.unwrap_or_default(),
        service_account_name: pod.service_account_name,
    })
}
