//! The `PrometheusReplica` API (`prometheus.robszumski.com/v1alpha1`).
//!
//! The six fields of the 2018 Prometheus Replica Operator keep their names and meaning, so its example
//! manifests apply unchanged; everything else is an optional extension. Doc comments here become the CRD's
//! descriptions. The schema rejects at admission what it can; [`crate::spec`] checks the same rules again,
//! because a cluster can run an older CRD than the hook.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ResourceRequirements, Toleration};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

mod status;

pub use status::{ComponentStatus, LocalStatus, OutputStatus, Phase, PrometheusReplicaStatus};

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

/// Local TSDB settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricsSpec {
    /// Local TSDB retention (`--storage.tsdb.retention.time`), a Prometheus duration. Default `24h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), regex(pattern = DURATION_PATTERN))]
    pub retention: Option<String>,

    /// TSDB block length, after which a block is shipped to the bucket; both the minimum and the maximum block
    /// duration are set to it. Default `2h`; another value is honoured and reported as a warning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), regex(pattern = DURATION_PATTERN))]
    pub block_duration: Option<String>,

    /// Largest size of the local TSDB (`--storage.tsdb.retention.size`): the oldest blocks are deleted beyond it,
    /// so that a full volume does not stop Prometheus. A number and a unit among `B`, `KB`, `MB`, `GB`, `TB`,
    /// `PB`, `EB` (powers of 2), such as `40GB`; `0B` turns it off. Default: 80% of the Prometheus volume
    /// (`storage.prometheus.size`), the rest being headroom for the write-ahead log and compaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 18), regex(pattern = BYTE_SIZE_PATTERN))]
    pub retention_size: Option<String>,
}

/// Replica counts.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicasSpec {
    /// Prometheus replicas. Default 2 when highly available, else 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10))]
    pub prometheus: Option<i32>,
    /// Thanos querier replicas. Default 2 when highly available, else 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub query: Option<i32>,
    /// Thanos query frontend replicas. Default: as many as queriers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub query_frontend: Option<i32>,
    /// Thanos store gateway replicas (of each shard, with `store.shards`), each serving every block of the
    /// stack (of its shard): with two or more, a roll, a Secret rotation or a node drain leaves the history
    /// older than the local retention served. Default 2 when highly available, else 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10))]
    pub store: Option<i32>,
}

/// Container images.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImagesSpec {
    /// Prometheus image. Default `quay.io/prometheus/prometheus:v3.14.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512), regex(pattern = r"^\S+$"))]
    pub prometheus: Option<String>,
    /// Thanos image. Default `quay.io/thanos/thanos:v0.42.4`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512), regex(pattern = r"^\S+$"))]
    pub thanos: Option<String>,
    /// Grafana image. Default `docker.io/grafana/grafana:12.4.2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512), regex(pattern = r"^\S+$"))]
    pub grafana: Option<String>,
    /// memcached image, with `memcached.enabled`. Default `docker.io/library/memcached:1.6.45-alpine`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512), regex(pattern = r"^\S+$"))]
    pub memcached: Option<String>,
}

/// Persistent volumes.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageSpec {
    /// Prometheus TSDB volume of each replica. Default 10Gi.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<VolumeSpec>,
    /// Store gateway cache volume. Default 10Gi.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<VolumeSpec>,
    /// Compactor scratch volume. Default 100Gi per `compact.concurrency` for a new compactor (the Thanos docs'
    /// figure for a medium bucket); a running compactor keeps the size its volumes were made with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compact: Option<VolumeSpec>,
}

/// One persistent volume claim template.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VolumeSpec {
    /// Requested size, a Kubernetes quantity such as `50Gi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<Quantity>,
    /// StorageClass of the claim; the cluster default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS1123_SUBDOMAIN_PATTERN))]
    pub storage_class_name: Option<String>,
}

/// Compute resources per container; each has sane requests by default.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourcesSpec {
    /// The Prometheus container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<ResourceRequirements>,
    /// The Thanos sidecar container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sidecar: Option<ResourceRequirements>,
    /// The Thanos store gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<ResourceRequirements>,
    /// The Thanos querier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<ResourceRequirements>,
    /// The Thanos compactor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compact: Option<ResourceRequirements>,
    /// The Thanos query frontend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_frontend: Option<ResourceRequirements>,
    /// Grafana, when `grafana.enabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grafana: Option<ResourceRequirements>,
    /// memcached, when `memcached.enabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memcached: Option<ResourceRequirements>,
}

/// The Thanos compactor.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompactSpec {
    /// Run the compactor. Default `true`. Turn it off only when another compactor already serves the bucket:
    /// two compactors on one bucket corrupt it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// How long the bucket keeps each resolution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<CompactRetentionSpec>,
    /// Groups of blocks compacted at once (`--compact.concurrency`). Each needs about one CPU core, its own
    /// share of memory and 100Gi of disk in a medium bucket (the Thanos docs): the defaults of the compactor's
    /// resources and volume grow with it. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 32))]
    pub concurrency: Option<i32>,
    /// `true` merges the blocks of the Prometheus replicas into one (offline deduplication:
    /// `--deduplication.replica-label=<replicaLabel>` and `--deduplication.func=penalty`), so that a highly
    /// available pair stops doubling the bucket. Irreversible, and experimental in Thanos: read the risks in
    /// the operator's docs/usage.md first. Default `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deduplication: Option<bool>,
}

/// The Thanos store gateway.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoreSpec {
    /// Store gateway shards, 1 to 10: with N above 1, the stack's blocks are split by a hash of their block id
    /// (`hashmod` over `__block_id` in `--selector.relabel-config`) among N StatefulSets
    /// `<name>-thanos-store-<0..N-1>`, each with `replicas.store` pods serving its share, so that each store
    /// gateway's memory and disk hold a share of the bucket. A change of the count starts the new
    /// StatefulSets beside the running ones, which are deleted once every new one is ready. Default 1: one
    /// StatefulSet `<name>-thanos-store` serving every block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10))]
    pub shards: Option<i32>,
}

/// Bucket retention per resolution; `0d` keeps that resolution forever.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompactRetentionSpec {
    /// Raw samples. Default `30d`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), regex(pattern = DURATION_PATTERN))]
    pub raw: Option<String>,
    /// 5-minute downsampled data. Default `90d`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), regex(pattern = DURATION_PATTERN))]
    pub five_minutes: Option<String>,
    /// 1-hour downsampled data. Default `1y`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), regex(pattern = DURATION_PATTERN))]
    pub one_hour: Option<String>,
}

/// The Thanos query frontend.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueryFrontendSpec {
    /// Run the query frontend; the `<name>-query` Ingress and `status.output.query` then point at it.
    /// Default `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Range queries are split into queries of this length, run in parallel and cached apart
    /// (`--query-range.split-interval`): hours, minutes and seconds, such as `24h`. Default `24h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 32), regex(pattern = GO_DURATION_PATTERN))]
    pub split_interval: Option<String>,
    /// The in-memory response cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<QueryFrontendCacheSpec>,
}

/// The query frontend's in-memory response cache.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueryFrontendCacheSpec {
    /// Largest size of the cache per replica, such as `256MB` (units `KB`, `MB`, `GB`). Default `256MB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = CACHE_SIZE_PATTERN))]
    pub max_size: Option<String>,
    /// How long a cached response is served (the in-memory cache's `validity`, memcached's `expiration`):
    /// hours, minutes and seconds, such as `6h`. It bounds how long an answer computed while part of the data
    /// was unreachable is served again. Default `6h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 32), regex(pattern = GO_DURATION_PATTERN))]
    pub validity: Option<String>,
}

/// memcached for the query frontend and the store gateway.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemcachedSpec {
    /// Run `<name>-memcached` and point the query frontend's response caches and the store gateway's index and
    /// bucket caches at it. Default `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// memcached replicas; the clients spread the keys over them. Default 2 when highly available, else 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 20))]
    pub replicas: Option<i32>,
    /// Memory of each replica for items (memcached `-m`), a quantity from `64Mi` to `64Gi`. The container's
    /// memory request is this plus a quarter for connections and the hash table. Default `1Gi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Quantity>,
}

/// Self-monitoring.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MonitoringSpec {
    /// Scrape every pod of the stack (jobs named `promrep-<component>`, found through DNS SRV records of
    /// headless Services) and load alert rules for what breaks a Thanos stack. Default `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Base URL of the runbooks: each alert's `runbook_url` annotation is this URL followed by `#` and the
    /// alert's name in lower case (the anchors of the project's `docs/runbooks.md`). Default: that file in
    /// the project's repository. Set it to a copy your notifications can open (an internal wiki or mirror).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 8, max = 512), regex(pattern = RUNBOOK_URL_PATTERN))]
    pub runbook_url: Option<String>,
}

/// Alert delivery.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertingSpec {
    /// Alertmanager URLs, such as `http://alertmanager.monitoring.svc:9093`; they become the configuration's
    /// `alerting.alertmanagers`, added to the user's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 10), inner(length(max = 253), regex(pattern = ALERTMANAGER_URL_PATTERN)))]
    pub alertmanagers: Option<Vec<String>>,
}

/// Grafana.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GrafanaSpec {
    /// Run `<name>-grafana`, with an Ingress at `<name>-grafana.<baseDomain>` when `baseDomain` is set.
    /// Default `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Secret in the same namespace with the admin credentials, keys `admin-user` and `admin-password`.
    /// Required when Grafana is enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS1123_SUBDOMAIN_PATTERN))]
    pub admin_secret: Option<String>,
}

/// Settings of the Ingresses.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngressSpec {
    /// IngressClass; the cluster default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS1123_SUBDOMAIN_PATTERN))]
    pub class_name: Option<String>,
    /// One TLS Secret for every host: a certificate you provide that covers them all (a wildcard, say). Not
    /// for cert-manager's ingress-shim, which fills a Secret for one Ingress only: use `tlsPerHost`. Plain
    /// HTTP when neither is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS1123_SUBDOMAIN_PATTERN))]
    pub tls_secret_name: Option<String>,
    /// `true` gives each host a TLS Secret of its own, named after its Ingress: `<name>-query-tls`,
    /// `<name>-prometheus-tls`, `<name>-grafana-tls`, as cert-manager's ingress-shim needs (annotate
    /// `cert-manager.io/cluster-issuer`). Not together with `tlsSecretName`. Default `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_per_host: Option<bool>,
    /// `true` also exposes Prometheus at `<name>-prometheus.<baseDomain>`, and gives it that URL as
    /// `--web.external-url` (the links in its alerts). Its HTTP API has no authentication: whoever reaches the
    /// host can query every series and read its configuration and targets, so add authentication through
    /// `annotations` first. The querier at `<name>-query.<baseDomain>` serves the same data, deduplicated.
    /// Default `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expose_prometheus: Option<bool>,
    /// Annotations of every Ingress (for example for cert-manager or authentication).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// Scheduling of every pod.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    /// Node selector of every pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,
    /// Tolerations of every pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerations: Option<Vec<Toleration>>,
    /// PriorityClass of every pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS1123_SUBDOMAIN_PATTERN))]
    pub priority_class_name: Option<String>,
    /// Anti-affinity of the replicas of one component when there are several: `soft` (default) prefers
    /// distinct nodes, `hard` requires them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anti_affinity: Option<AntiAffinity>,
    /// Spread of the replicas of one component over zones (`topology.kubernetes.io/zone`) when there are
    /// several: `soft` (default) prefers distinct zones, `hard` requires a balanced spread (a node without the
    /// zone label then takes none of them), `none` leaves it to the scheduler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology_spread: Option<TopologySpread>,
    /// An existing ServiceAccount of the namespace for every pod, with the permissions the user grants it
    /// (for example for cloud workload identity). When absent, Prometheus runs as the rendered
    /// `<name>-prometheus`, which may get, list and watch pods, services, endpoints and endpointslices of the
    /// namespace, and the Thanos pods mount no token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS1123_SUBDOMAIN_PATTERN))]
    pub service_account_name: Option<String>,
}

/// How strictly replicas are kept on distinct nodes.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AntiAffinity {
    /// Preferred: replicas share a node only when they must.
    #[default]
    Soft,
    /// Required: a replica stays pending rather than share a node.
    Hard,
}

/// How strictly replicas are spread over zones.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TopologySpread {
    /// Preferred: `whenUnsatisfiable: ScheduleAnyway`.
    #[default]
    Soft,
    /// Required: `whenUnsatisfiable: DoNotSchedule`.
    Hard,
    /// No spread constraint.
    None,
}

/// The PrometheusReplica CustomResourceDefinition as YAML; `deploy/crd.yaml` is this output.
pub fn crd_yaml() -> String {
    let crd = <PrometheusReplica as kube::CustomResourceExt>::crd();
    let yaml = serde_yaml_ng::to_string(&crd).expect("a CRD always encodes as YAML");
    format!("# Generated by `prometheus-replica-operator crd`; do not edit.\n{yaml}")
}
