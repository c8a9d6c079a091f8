//! What the components run with: Prometheus's local TSDB, replica counts, images, volumes and compute
//! resources.

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{BYTE_SIZE_PATTERN, DNS1123_SUBDOMAIN_PATTERN, DURATION_PATTERN};

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
