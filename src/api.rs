//! The `PrometheusReplica` API (`prometheus.robszumski.com/v1alpha1`).
//!
//! The six fields of the 2018 Prometheus Replica Operator keep their names and meaning, so its example
//! manifests apply unchanged; everything else is an optional extension. Doc comments here become the CRD's
//! descriptions. The schema rejects at admission what it can; [`crate::spec`] checks the same rules again,
//! because a cluster can run an older CRD than the hook.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

mod ingress;
mod monitoring;
mod pod;
mod resources;
mod status;
mod thanos;

pub use ingress::IngressSpec;
pub use monitoring::{AlertingSpec, GrafanaSpec, MonitoringSpec};
pub use pod::{AntiAffinity, PodSpec, TopologySpread};
pub use resources::{
    ImagesSpec, MetricsSpec, ReplicasSpec, ResourcesSpec, StorageSpec, VolumeSpec,
};
pub use status::{ComponentStatus, LocalStatus, OutputStatus, Phase, PrometheusReplicaStatus};
pub use thanos::{
    CompactRetentionSpec, CompactSpec, MemcachedSpec, QueryFrontendCacheSpec, QueryFrontendSpec,
    StoreSpec,
};

/// Pattern of a Prometheus duration (`1d`, `2h30m`, `90s`): the units `y w d h m s ms` in that order.
pub const DURATION_PATTERN: &str =
    r"^((\d+)y)?((\d+)w)?((\d+)d)?((\d+)h)?((\d+)m)?((\d+)s)?((\d+)ms)?$";
/// Pattern of a duration that both Go's `time.ParseDuration` and Prometheus accept (`24h`, `1h30m`): Thanos
/// reads some flags with the former, which knows no days.
pub const GO_DURATION_PATTERN: &str = r"^((\d+)h)?((\d+)m)?((\d+)s)?$";
/// Pattern of a Prometheus byte size (`--storage.tsdb.retention.size`): a number and a unit among `B`, `KB`, `MB`,
/// `GB`, `TB`, `PB`, `EB`, powers of 2 (`1KB` is 1024 bytes), in every supported Prometheus release.
pub const BYTE_SIZE_PATTERN: &str = r"^[0-9]{1,16}(B|KB|MB|GB|TB|PB|EB)$";
/// Pattern of a Thanos cache size: a number with the unit `KB`, `MB` or `GB`.
pub const CACHE_SIZE_PATTERN: &str = r"^[1-9][0-9]{0,5}(KB|MB|GB)$";
/// Pattern of an Alertmanager URL: `http` or `https`, a host with an optional port, an optional path.
pub const ALERTMANAGER_URL_PATTERN: &str =
    r"^https?://[a-zA-Z0-9]([-a-zA-Z0-9.]*[a-zA-Z0-9])?(:[0-9]{1,5})?(/[-a-zA-Z0-9._~/]*)?$";
/// Pattern of the runbooks' base URL: `http` or `https`, no space, no fragment (the alert's anchor is added),
/// and no braces (Prometheus expands templates in annotations).
pub const RUNBOOK_URL_PATTERN: &str = r"^https?://[^\s#{}]+$";
/// Pattern of a DNS-1123 subdomain, the name of a ConfigMap or Secret.
pub const DNS1123_SUBDOMAIN_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// Pattern of a Prometheus label name.
pub const LABEL_NAME_PATTERN: &str = r"^[a-zA-Z_][a-zA-Z0-9_]*$";
/// The longest parent name: `<name>-thanos-compact` must stay a valid StatefulSet name (52 characters, so that
/// the pod's `controller-revision-hash` label fits in 63).
pub const MAX_NAME_LEN: usize = 37;
/// `<name>` and this are the derived Prometheus configuration, so no `configMap` may have that name (the CEL
/// rules above spell it out: an attribute takes no constant).
pub const DERIVED_CONFIG_SUFFIX: &str = "-prometheus-config";

/// A highly available Prometheus with Thanos: sidecars shipping blocks to object storage, a store gateway,
/// a deduplicating querier, a compactor, and optional Ingresses.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "prometheus.robszumski.com",
    version = "v1alpha1",
    kind = "PrometheusReplica",
    doc = "A Prometheus + Thanos monitoring stack, rendered by the prometheus-replica-operator sync hook for Metacontroller.",
    plural = "prometheusreplicas",
    shortname = "promrep",
    namespaced,
    status = "PrometheusReplicaStatus",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Prometheus","type":"string","description":"Ready Prometheus replicas","jsonPath":".status.prometheus.ready"}"#,
    printcolumn = r#"{"name":"Query","type":"string","description":"Ready Thanos queriers","jsonPath":".status.query.ready"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = kube::core::Rule::new("size(self.metadata.name) <= 37 && self.metadata.name.matches('^[a-z]')")
        .message("metadata.name must start with a letter and be at most 37 characters, so that every child name fits"),
    validation = kube::core::Rule::new("has(self.spec.configMap) || has(self.spec.config)")
        .message("spec.configMap is required")
        .field_path(".spec.configMap"),
    // `<name>-prometheus-config` is the operator's derived configuration: it would overwrite the user's.
    validation = kube::core::Rule::new("!has(self.spec.configMap) || self.spec.configMap != self.metadata.name + '-prometheus-config'")
        .message("spec.configMap must not be <name>-prometheus-config: the operator writes its derived configuration there")
        .field_path(".spec.configMap"),
    validation = kube::core::Rule::new("has(self.spec.configMap) || !has(self.spec.config) || self.spec.config != self.metadata.name + '-prometheus-config'")
        .message("spec.config must not be <name>-prometheus-config: the operator writes its derived configuration there")
        .field_path(".spec.config"),
    validation = kube::core::Rule::new("!has(self.spec.grafana) || !has(self.spec.grafana.enabled) || !self.spec.grafana.enabled || has(self.spec.grafana.adminSecret)")
        .message("spec.grafana.adminSecret is required when spec.grafana.enabled is true")
        .field_path(".spec.grafana.adminSecret"),
    validation = kube::core::Rule::new("!has(self.spec.ingress) || !has(self.spec.ingress.tlsPerHost) || !self.spec.ingress.tlsPerHost || !has(self.spec.ingress.tlsSecretName)")
        .message("spec.ingress.tlsPerHost: true gives each host its own Secret; remove spec.ingress.tlsSecretName, or set tlsPerHost to false")
        .field_path(".spec.ingress.tlsPerHost"),
)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusReplicaSpec {
    /// Name of the ConfigMap in the same namespace holding the Prometheus configuration under the key
    /// `prometheus.yml` (the 2018 key `prometheus.yml.tmpl` is also accepted). Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS1123_SUBDOMAIN_PATTERN))]
    pub config_map: Option<String>,

    /// Deprecated: the 2018 `deploy/cr.yaml` spelling of `configMap`. Use `configMap`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS1123_SUBDOMAIN_PATTERN))]
    pub config: Option<String>,

    /// `true` runs 2 Prometheus replicas, 2 store gateways and 2 queriers with pod anti-affinity and PodDisruptionBudgets.
    /// Default `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub highly_available: Option<bool>,

    /// Deprecated: the 2018 `deploy/cr.yaml` spelling of `highlyAvailable`. Use `highlyAvailable`.
    #[serde(
        default,
        rename = "HighlyAvailable",
        skip_serializing_if = "Option::is_none"
    )]
    pub highly_available_2018: Option<bool>,

    /// When set, an Ingress exposes the querier (the query frontend when it runs) at `<name>-query.<baseDomain>`;
    /// with `ingress.exposePrometheus`, another one exposes Prometheus at `<name>-prometheus.<baseDomain>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200), regex(pattern = DNS1123_SUBDOMAIN_PATTERN))]
    pub base_domain: Option<String>,

    /// Local TSDB retention and block length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsSpec>,

    /// Name of the Secret in the same namespace with the Thanos object-storage configuration: key
    /// `objstore.yml` (any provider), or the 2018 keys `s3_bucket`, `s3_endpoint`, `s3_access_key`,
    /// `s3_secret_key`.
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS1123_SUBDOMAIN_PATTERN))]
    pub bucket_secret: String,

    /// Replica counts; they override `highlyAvailable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<ReplicasSpec>,

    /// Container images; the defaults are pinned releases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<ImagesSpec>,

    /// Extra external labels on every series shipped from Prometheus. The labels `prometheus` and the
    /// replica label are set by the operator and win on a clash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_labels: Option<BTreeMap<String, String>>,

    /// External label that tells Prometheus replicas apart; the querier deduplicates on it. Default
    /// `prometheus_replica`. While unset, the querier also keeps deduplicating on the replica labels it already
    /// does, such as `replica`, the former default, which older blocks in the bucket carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = LABEL_NAME_PATTERN))]
    pub replica_label: Option<String>,

    /// Persistent volumes of Prometheus, the store gateway and the compactor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageSpec>,

    /// Compute resources of each container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourcesSpec>,

    /// The Thanos compactor: downsampling and bucket retention.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compact: Option<CompactSpec>,

    /// The Thanos store gateway: how the bucket's blocks are split among store gateways.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<StoreSpec>,

    /// Settings of the Ingresses made when `baseDomain` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<IngressSpec>,

    /// Scheduling of every pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<PodSpec>,

    /// The Thanos query frontend in front of the querier: range splitting and a response cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_frontend: Option<QueryFrontendSpec>,

    /// The stack watching itself: scrape jobs for every component and alert rules, in the derived
    /// Prometheus configuration (needs the customize hook).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitoring: Option<MonitoringSpec>,

    /// Where Prometheus sends its alerts (needs the customize hook).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerting: Option<AlertingSpec>,

    /// A Grafana of the stack, with the datasource and dashboard of `<name>-grafana-datasources` and
    /// `<name>-grafana-dashboards` (which are rendered in any case, for a Grafana the user runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grafana: Option<GrafanaSpec>,

    /// A memcached of the stack, shared by the query frontend's response caches and the store gateway's index
    /// and bucket caches, in place of the frontend's in-memory cache: for big buckets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memcached: Option<MemcachedSpec>,
}

/// The PrometheusReplica CustomResourceDefinition as YAML; `deploy/crd.yaml` is this output.
pub fn crd_yaml() -> String {
    let crd = <PrometheusReplica as kube::CustomResourceExt>::crd();
    let yaml = serde_yaml_ng::to_string(&crd).expect("a CRD always encodes as YAML");
    format!("# Generated by `prometheus-replica-operator crd`; do not edit.\n{yaml}")
}
